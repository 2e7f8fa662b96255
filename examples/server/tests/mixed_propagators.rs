//! A B3 hop between two W3C services (`OTEL_PROPAGATORS`): the caller sends a W3C
//! `traceparent` to service A (`tracecontext,b3`: reads W3C, writes both), which calls
//! service B (`b3`: a Zipkin-era service that reads and writes only B3), which calls
//! service C (`tracecontext,b3`: finds no `traceparent`, reads B3). All three export to
//! one real collector, which must hold one trace with every parent link intact.

use std::process::{Command, Stdio};
use std::time::Duration;

use picotrace_tests::collector::{CollectedSpan, Collector};
use picotrace_tests::{http_get, Server};

/// Starts example `bin` as service `name` on a port it picks, with `propagators`.
fn start(
    bin: &str,
    name: &str,
    propagators: &str,
    collector: &Collector,
    args: &[String],
) -> Server {
    Server::start(
        Command::new(bin)
            .args(["--port", "0", "--requests", "1"])
            .args(args)
            .env("OTEL_SERVICE_NAME", name)
            .env("OTEL_PROPAGATORS", propagators)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.endpoint)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .stdin(Stdio::null()),
    )
}

fn span<'a>(spans: &'a [CollectedSpan], service: &str, kind: &str) -> &'a CollectedSpan {
    spans
        .iter()
        .find(|s| s.service_name == service && s.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} span of {service} in {spans:#?}"))
}

#[test]
fn a_b3_hop_between_two_w3c_services_keeps_one_trace() {
    let collector = Collector::start();
    // Started from the end of the chain: each gateway is given the port of the next.
    let c = start(
        env!("CARGO_BIN_EXE_downstream"),
        "c-w3c",
        "tracecontext,b3",
        &collector,
        &[],
    );
    let b = start(
        env!("CARGO_BIN_EXE_gateway"),
        "b-b3-only",
        "b3",
        &collector,
        &[
            "--downstream".into(),
            format!("http://127.0.0.1:{}", c.port),
        ],
    );
    let a = start(
        env!("CARGO_BIN_EXE_gateway"),
        "a-w3c",
        "tracecontext,b3",
        &collector,
        &[
            "--downstream".into(),
            format!("http://127.0.0.1:{}", b.port),
        ],
    );
    let mut services = [a, b, c];
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = http_get(
        services[0].port,
        "/search",
        &[("traceparent", &format!("00-{trace_id}-00f067aa0ba902b7-01"))],
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    for service in &mut services {
        let status = service.wait_exit(Duration::from_secs(30), "a service");
        assert!(status.success(), "{}", service.stderr());
    }

    let spans = collector.wait_for(Duration::from_secs(10), |s| s.len() >= 6);
    assert_eq!(spans.len(), 6, "{spans:#?}");
    assert!(
        spans.iter().all(|s| s.trace_id == trace_id),
        "one trace through the B3 hop: {spans:#?}"
    );
    let a_server = span(&spans, "a-w3c", "SPAN_KIND_SERVER");
    let a_client = span(&spans, "a-w3c", "SPAN_KIND_CLIENT");
    let b_server = span(&spans, "b-b3-only", "SPAN_KIND_SERVER");
    let b_client = span(&spans, "b-b3-only", "SPAN_KIND_CLIENT");
    let c_server = span(&spans, "c-w3c", "SPAN_KIND_SERVER");
    assert_eq!(a_server.parent_id, "00f067aa0ba902b7");
    assert_eq!(a_client.parent_id, a_server.span_id);
    assert_eq!(
        b_server.parent_id, a_client.span_id,
        "A's b3 header reached B"
    );
    assert_eq!(b_client.parent_id, b_server.span_id);
    assert_eq!(
        c_server.parent_id, b_client.span_id,
        "B's b3 header reached C"
    );
}
