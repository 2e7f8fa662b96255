//! The gateway never dies on input (issue 11, defect 1): an incoming `baggage` that
//! leaves no room for the member it adds (64 members, or 8192 bytes) gets a normal
//! answer, the skipped insert is logged and counted, and the next request is served.

use std::io::Read;
use std::process::{Child, Command, Stdio};

use picotrace_tests::collector::free_port;
use picotrace_tests::{http_get, wait_listening};

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(bin: &str, args: &[String]) -> Service {
    Service(
        Command::new(bin)
            .args(args)
            // No collector here: spans are not exported.
            .env("OTEL_TRACES_EXPORTER", "none")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start service"),
    )
}

#[test]
fn a_full_incoming_baggage_gets_a_normal_answer_and_the_gateway_stays_up() {
    let (gw_port, ds_port) = (free_port(), free_port());
    let requests = "3".to_owned();
    let _downstream = start(
        env!("CARGO_BIN_EXE_downstream"),
        &[
            "--port".into(),
            ds_port.to_string(),
            "--requests".into(),
            requests.clone(),
        ],
    );
    let mut gateway = start(
        env!("CARGO_BIN_EXE_gateway"),
        &[
            "--port".into(),
            gw_port.to_string(),
            "--downstream".into(),
            format!("http://127.0.0.1:{ds_port}"),
            "--requests".into(),
            requests,
        ],
    );
    wait_listening(ds_port);
    wait_listening(gw_port);

    let members: Vec<String> = (0..64).map(|i| format!("k{i}=v")).collect();
    let full_by_count = members.join(",");
    let full_by_size = format!("k={}", "x".repeat(8190));
    assert_eq!(full_by_size.len(), 8192);
    for baggage in [&full_by_count, &full_by_size] {
        let response = http_get(gw_port, "/search", &[("baggage", baggage)]);
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "{}: {response}",
            &baggage[..20]
        );
    }
    // Still alive: an ordinary request is served too.
    let response = http_get(gw_port, "/search", &[]);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    let status = gateway.0.wait().expect("gateway exits after 3 requests");
    let mut stderr = String::new();
    gateway
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains("tenant.name not added to baggage (2 so far)"),
        "{stderr}"
    );
}
