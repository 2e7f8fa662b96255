//! The axum example end to end: a request with a `traceparent` and a `baggage` reaches
//! `GET /checkout` on a multi-thread tokio runtime, whose server span is held across
//! `.await`s and an outgoing HTTP call made by code that reads the current context and
//! baggage; all spans reach a real collector with the right parents, the server span
//! covers the client span in time, and the baggage crossed both hops.

use picotrace_tests::collector::Collector;
use picotrace_tests::{checkout_trace, serve_one_request_with};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

#[test]
fn server_span_held_across_await_and_an_outgoing_call_reaches_the_collector() {
    let collector = Collector::start();
    let traceparent = format!("00-{TRACE_ID}-{CALLER}-01");
    let (response, spans) = serve_one_request_with(
        env!("CARGO_BIN_EXE_axum_server"),
        &collector,
        "/checkout",
        &[
            ("traceparent", &traceparent),
            ("baggage", "tenant=acme%20corp"),
        ],
        TRACE_ID,
        4,
    );
    assert!(response.contains("checkout ok: 3 in stock"), "{response}");
    let trace = checkout_trace(&spans, CALLER);
    assert_eq!(trace.checkout.status_code, "STATUS_CODE_OK");
    let status = (
        "http.response.status_code".to_string(),
        "Int(200)".to_string(),
    );
    assert!(
        trace.checkout.attributes.contains(&status),
        "{:?}",
        trace.checkout
    );
    // The caller's baggage was current in the handler, and went out with the call.
    // Decoded (found by review: the percent-encoded wire form was recorded).
    let tenant = ("shop.tenant".to_string(), "Str(acme corp)".to_string());
    assert!(trace.call.attributes.contains(&tenant), "{:?}", trace.call);
    assert!(
        trace.inventory.attributes.contains(&tenant),
        "{:?}",
        trace.inventory
    );
}
