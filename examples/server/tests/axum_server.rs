//! The axum example end to end: a request with a `traceparent` reaches `GET /checkout`
//! on a multi-thread tokio runtime, whose server span is held across `.await`s and an
//! outgoing HTTP call; all spans reach a real collector with the right parents, and the
//! server span covers the client span in time.

use picotrace_tests::collector::Collector;
use picotrace_tests::{find_span, serve_one_request};

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
