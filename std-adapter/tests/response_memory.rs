//! A collector's answer is read in memory of its own size: a hostile or broken
//! endpoint's 2xx body cannot make the exporter allocate many times over.

mod support;

use std::time::Duration;

use picotrace_std::OtlpHttpExporter;
use support::{Reply, Server};

/// Regression (found by review): a JSON `rejectedSpans` that was not a count (an array
/// filling the body) was built as a tree, 16-40 times the body's size in memory, on
/// the worker. It is skipped now, and counts as no rejected span.
#[test]
fn a_huge_json_partial_success_is_skipped_in_bounded_memory() {
    let server = Server::start();
    let mut body = String::from(r#"{"partialSuccess":{"rejectedSpans":["#);
    while body.len() < 3 << 20 {
        body.push_str("0,");
    }
    body.push_str(r#"0],"errorMessage":"x"}}"#);
    server.script([Reply::ok()
        .header("Content-Type", "application/json")
        .body(body.clone().into_bytes())]);
    let exporter = OtlpHttpExporter::builder()
        .endpoint(server.url())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut outcome = None;
    let info = allocation_counter::measure(|| {
        outcome = Some(exporter.send_spans(b"{}", 1, None));
    });
    let outcome = outcome.unwrap().expect("a 2xx answer");
    assert_eq!(outcome.rejected_spans, 0);
    assert_eq!(outcome.error_message.as_deref(), Some("x"));
    assert!(
        info.bytes_max < 4 * body.len() as u64,
        "{} bytes held at once for a body of {}",
        info.bytes_max,
        body.len()
    );
}
