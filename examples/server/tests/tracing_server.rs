//! The `tracing` example end to end: handlers instrumented with `#[instrument]` only, on
//! a multi-thread tokio runtime, exported through picotrace-std's `TracingLayer` to a
//! real collector: one trace, the caller's span as the root's parent, the client span's
//! context carried across the HTTP call, events and fields on the right spans.

use picotrace_tests::collector::{CollectedSpan, Collector};
use picotrace_tests::{find_span, serve_one_request};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

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
    let traceparent = format!("00-{TRACE_ID}-{CALLER}-01");
    let (response, spans) = serve_one_request(
        env!("CARGO_BIN_EXE_tracing_server"),
        &collector,
        "/checkout",
        &traceparent,
        TRACE_ID,
        4,
    );
    assert!(response.contains("checkout ok: 3 in stock"), "{response}");
    assert_eq!(spans.len(), 4, "{spans:#?}");
    assert!(spans.iter().all(|s| s.service_name == "shop"));
    let checkout = find_span(&spans, "GET /checkout", "SPAN_KIND_SERVER");
    let call = find_span(&spans, "GET /inventory", "SPAN_KIND_CLIENT");
    let inventory = find_span(&spans, "GET /inventory", "SPAN_KIND_SERVER");
    let query = find_span(&spans, "SELECT stock", "SPAN_KIND_CLIENT");
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
