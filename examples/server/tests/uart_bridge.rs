//! `uart_bridge`'s command line: a bad `--max-frame` is a usage error (exit 2 with a
//! message), never an allocation abort or an overflow (issue 11, defect 8).

use std::process::{Command, Output, Stdio};

fn bridge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_uart_bridge"))
        .args(args)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdin(Stdio::null())
        .output()
        .expect("run uart_bridge")
}

#[test]
fn max_frame_outside_1_to_16_mib_is_a_usage_error() {
    for bad in [
        "1099511627776",
        "18446744073709551615",
        "18446744073709551616",
        "16777217",
        "0",
        "-1",
        "64k",
        "",
    ] {
        let out = bridge(&["--max-frame", bad, "-"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {stderr}");
        assert!(
            stderr.contains("--max-frame") && stderr.contains("16777216"),
            "{bad:?}: {stderr}"
        );
    }
    let out = bridge(&["--max-frame"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn max_frame_at_the_documented_maximum_runs() {
    // Empty input: the bridge reads to the end and prints its counters.
    let out = bridge(&["--max-frame", "16777216", "-"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("frames valid 0"), "{stdout}");
}
