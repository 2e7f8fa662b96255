//! The `tracing` example end to end: handlers instrumented with `#[instrument]` only, on
//! a multi-thread tokio runtime, exported through picotrace-std's `TracingLayer` to a
//! real collector: one trace, the caller's span as the root's parent, the client span's
//! context carried across the HTTP call, events and fields on the right spans.

use picotrace_tests::collector::{CollectedSpan, Collector};
use picotrace_tests::{checkout_trace, serve_one_request, CheckoutTrace};

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
    let CheckoutTrace {
        checkout,
        inventory,
        query,
        ..
    } = checkout_trace(&spans, CALLER);
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
