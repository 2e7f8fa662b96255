//! The quick start against a collector port that refuses connections: the loss is
//! printed on stderr with its cause, and the program fails instead of claiming success
//! (issue 11, defect 11).

use std::net::TcpListener;
use std::process::{Command, Stdio};

#[test]
fn a_refused_collector_is_reported_not_silent() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "2000")
        .stdin(Stdio::null())
        .output()
        .expect("run quickstart");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    // The batch worker's warning: how many, and why.
    assert!(stderr.contains("picotrace: 4 spans lost"), "{stderr}");
    assert!(stderr.contains("could not connect"), "{stderr}");
    // And the error shutdown returned (main prints it with `Debug`).
    assert!(
        stderr.contains("SpansLost { lost: 4, running: 0 }"),
        "{stderr}"
    );
}
