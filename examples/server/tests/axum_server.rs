//! The axum example end to end: a request with a `traceparent` reaches `GET /checkout`
//! on a multi-thread tokio runtime, whose server span is held across `.await`s and an
//! outgoing HTTP call; all spans reach a real collector with the right parents, and the
//! server span covers the client span in time.

use picotrace_tests::collector::Collector;
use picotrace_tests::{checkout_trace, serve_one_request};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

#[test]
fn server_span_held_across_await_and_an_outgoing_call_reaches_the_collector() {
    let collector = Collector::start();
    let traceparent = format!("00-{TRACE_ID}-{CALLER}-01");
    let (response, spans) = serve_one_request(
        env!("CARGO_BIN_EXE_axum_server"),
        &collector,
        "/checkout",
        &traceparent,
        TRACE_ID,
        4,
    );
    assert!(response.contains("checkout ok: 3 in stock"), "{response}");
    let checkout = checkout_trace(&spans, CALLER).checkout;
    assert_eq!(checkout.status_code, "STATUS_CODE_OK");
}
