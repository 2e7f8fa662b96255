//! The axum example end to end: a request with a `traceparent` reaches `GET /checkout`
//! on a multi-thread tokio runtime, whose server span is held across `.await`s and an
//! outgoing HTTP call; all spans reach a real collector with the right parents, and the
//! server span covers the client span in time.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use picotrace_tests::collector::{free_port, CollectedSpan, Collector};
use picotrace_tests::{http_get, wait_listening};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

fn find<'a>(spans: &'a [CollectedSpan], name: &str, kind: &str) -> &'a CollectedSpan {
    spans
        .iter()
        .find(|s| s.name == name && s.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} span {name:?} in {spans:#?}"))
}

#[test]
fn server_span_held_across_await_and_an_outgoing_call_reaches_the_collector() {
    let collector = Collector::start();
    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_axum_server"))
        .args(["--port", &port.to_string(), "--requests", "1"])
        .env("OTEL_SERVICE_NAME", "shop")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdin(Stdio::null())
        .spawn()
        .expect("start axum_server");
    wait_listening(port);
    let traceparent = format!("00-{TRACE_ID}-{CALLER}-01");
    let response = http_get(port, "/checkout", &[("traceparent", &traceparent)]);
    assert!(response.contains("checkout ok: 3 in stock"), "{response}");

    // The server stops after one checkout; `provider.shutdown()` must report success.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            panic!("axum_server did not shut down");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "shutdown lost spans: {status}");

    let spans = collector.wait_for(Duration::from_secs(10), |s| {
        s.iter().filter(|s| s.trace_id == TRACE_ID).count() >= 4
    });
    let spans: Vec<_> = spans
        .into_iter()
        .filter(|s| s.trace_id == TRACE_ID)
        .collect();
    assert_eq!(spans.len(), 4, "{spans:#?}");
    assert!(spans.iter().all(|s| s.service_name == "shop"));
    let checkout = find(&spans, "GET /checkout", "SPAN_KIND_SERVER");
    let call = find(&spans, "GET /inventory", "SPAN_KIND_CLIENT");
    let inventory = find(&spans, "GET /inventory", "SPAN_KIND_SERVER");
    let query = find(&spans, "SELECT stock", "SPAN_KIND_CLIENT");
    assert_eq!(checkout.parent_id, CALLER);
    assert_eq!(call.parent_id, checkout.span_id);
    assert_eq!(
        inventory.parent_id, call.span_id,
        "context crossed the HTTP call"
    );
    assert_eq!(query.parent_id, inventory.span_id);
    // The server span lasted across the awaits: it covers the client call, which covers
    // the downstream server span.
    assert!(
        checkout.start <= call.start && call.end <= checkout.end,
        "{spans:#?}"
    );
    assert!(
        call.start <= inventory.start && inventory.end <= call.end,
        "{spans:#?}"
    );
    assert!(
        checkout.end - checkout.start >= 6_000_000,
        "3 sleeps of >= 6 ms in all"
    );
    assert_eq!(checkout.status_code, "STATUS_CODE_OK");
}
