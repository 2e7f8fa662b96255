//! The `tracing` example end to end: handlers instrumented with `#[instrument]` only, on
//! a multi-thread tokio runtime, exported through picotrace-std's `TracingLayer` to a
//! real collector: one trace, the caller's span as the root's parent, the client span's
//! context carried across the HTTP call, events and fields on the right spans.

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

fn attribute<'a>(span: &'a CollectedSpan, key: &str) -> &'a str {
    span.attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no attribute {key} in {span:#?}"))
}

#[test]
fn instrumented_handlers_export_one_whole_trace_through_the_layer() {
    let collector = Collector::start();
    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_tracing_server"))
        .args(["--port", &port.to_string(), "--requests", "1"])
        .env("OTEL_SERVICE_NAME", "shop")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdin(Stdio::null())
        .spawn()
        .expect("start tracing_server");
    wait_listening(port);
    let traceparent = format!("00-{TRACE_ID}-{CALLER}-01");
    let response = http_get(port, "/checkout", &[("traceparent", &traceparent)]);
    assert!(response.contains("checkout ok: 3 in stock"), "{response}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            panic!("tracing_server did not shut down");
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
        "sleeps of >= 6 ms in all"
    );
    // Fields, a later `record`, and events with their fields.
    assert_eq!(attribute(checkout, "http.route"), "Str(/checkout)");
    assert_eq!(attribute(checkout, "http.response.status_code"), "Int(200)");
    assert_eq!(attribute(query, "item"), "Str(widgets)");
    assert_eq!(attribute(query, "db.system"), "Str(postgresql)");
    assert!(query.events.iter().any(|e| e == "stock read"), "{query:#?}");
    assert!(
        inventory.events.iter().any(|e| e == "inventory answered"),
        "{inventory:#?}"
    );
}
