//! End to end: spans recorded by the core tracer leave through `OtlpHttpExporter` and
//! `BatchExporter`, in protobuf and in JSON, and arrive in a real collector (rotel) with
//! their ids, parent, name, kind, times, attributes, events, links and status.

use std::time::Duration;

use picotrace::{
    semconv, IdGenerator, KeyValue, ManualClock, SpanArena, SpanContext, SpanExporter, SpanId,
    Timestamp, TraceContext, TraceFlags, TraceId, Tracer, TracerConfig,
};
use picotrace_std::{
    BatchConfig, BatchExporter, ExportError, OtlpHttpExporter, Protocol, RetryPolicy,
};
use picotrace_tests::collector::{CollectedSpan, Collector};

const T0: u64 = 1_700_000_000_000_000_000;
static RESOURCE: [KeyValue<'static>; 1] = [KeyValue {
    key: semconv::SERVICE_VERSION,
    value: picotrace::Value::Str("1.2.3"),
}];

/// What we recorded, to compare with what the collector decoded.
#[derive(Debug)]
struct Expected {
    trace_id: String,
    span_id: String,
    parent_id: String,
    name: &'static str,
    kind: &'static str,
    start: u64,
    end: u64,
    status: &'static str,
}

/// Records one small trace (a server span continuing a remote parent, a client child
/// with an exception event and an error, an internal grandchild with a link) and returns
/// what each span must look like.
fn record_trace<X: SpanExporter + Send>(
    tracer: &Tracer<SpanArena<16>, &ManualClock, X>,
    clock: &ManualClock,
    tag: &str,
) -> Vec<Expected> {
    let remote = TraceContext::from(SpanContext {
        trace_id: TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        span_id: SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        flags: TraceFlags::SAMPLED,
        is_remote: true,
    });
    let start = clock.now_nanos();
    let mut server = tracer.start_server_span("GET /users", &remote);
    server.set_attribute(semconv::HTTP_REQUEST_METHOD, "GET");
    server.set_attribute(semconv::HTTP_RESPONSE_STATUS_CODE, 200);
    server.set_attribute("cache.hit", true);
    server.set_attribute("load", 0.25);
    server.set_attribute_dyn("test.tag", tag);
    clock.advance(Duration::from_millis(1));
    let mut client = tracer.start_client_span("SELECT users", &server);
    client.set_attribute(semconv::DB_SYSTEM_NAME, "postgresql");
    clock.advance(Duration::from_millis(2));
    client.record_exception_with_type("TimeoutError", "no answer in 2 ms");
    client.set_error("db timeout");
    let mut inner = client.child("retry");
    // A span of another trace: the link's trace id is checked too (found by review:
    // linked to this trace's own parent, a wrong trace id would have passed).
    let earlier = TraceContext::from(SpanContext {
        trace_id: TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
        span_id: SpanId::from_hex("b7ad6b7169203331").unwrap(),
        flags: TraceFlags::SAMPLED,
        is_remote: true,
    });
    inner.add_link(&earlier, &[KeyValue::new("link.reason", "retry-of")]);
    clock.advance(Duration::from_millis(1));
    let (s, c, i) = (server.context(), client.context(), inner.context());
    inner.end();
    client.end();
    server.set_ok();
    clock.advance(Duration::from_millis(1));
    server.end();
    let hex = |id: SpanId| id.to_hex().to_string();
    // The remote parent's trace, written out (found by review: taken from the spans'
    // own contexts, a server span that started a trace of its own passed).
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    assert_eq!(
        [s.trace_id, c.trace_id, i.trace_id].map(|t| t.to_hex().to_string()),
        [trace; 3]
    );
    vec![
        Expected {
            trace_id: trace.into(),
            span_id: hex(s.span_id),
            parent_id: "00f067aa0ba902b7".into(),
            name: "GET /users",
            kind: "SPAN_KIND_SERVER",
            start,
            end: start + 5_000_000,
            status: "STATUS_CODE_OK",
        },
        Expected {
            trace_id: trace.into(),
            span_id: hex(c.span_id),
            parent_id: hex(s.span_id),
            name: "SELECT users",
            kind: "SPAN_KIND_CLIENT",
            start: start + 1_000_000,
            end: start + 4_000_000,
            status: "STATUS_CODE_ERROR",
        },
        Expected {
            trace_id: trace.into(),
            span_id: hex(i.span_id),
            parent_id: hex(c.span_id),
            name: "retry",
            kind: "SPAN_KIND_INTERNAL",
            start: start + 3_000_000,
            end: start + 4_000_000,
            status: "STATUS_CODE_UNSET",
        },
    ]
}

trait NowNanos {
    fn now_nanos(&self) -> u64;
}
impl NowNanos for ManualClock {
    fn now_nanos(&self) -> u64 {
        picotrace::Clock::now(self).as_unix_nanos()
    }
}

fn check(expected: &[Expected], got: &[CollectedSpan], tag: &str) {
    let ours: Vec<&CollectedSpan> = got
        .iter()
        .filter(|s| expected.iter().any(|e| e.span_id == s.span_id))
        .collect();
    assert_eq!(
        ours.len(),
        expected.len(),
        "every span arrives exactly once ({tag}); collector saw {got:#?}"
    );
    for e in expected {
        let s = ours.iter().find(|s| s.span_id == e.span_id).unwrap();
        assert_eq!(s.service_name, "e2e-service");
        assert!(
            s.resource
                .contains(&("service.version".into(), "Str(1.2.3)".into())),
            "{:?}",
            s.resource
        );
        assert_eq!(s.scope, "e2e-scope 0.9");
        assert_eq!(s.trace_id, e.trace_id);
        assert_eq!(s.parent_id, e.parent_id, "{}", e.name);
        assert_eq!(s.name, e.name);
        assert_eq!(s.kind, e.kind);
        assert_eq!((s.start, s.end), (e.start, e.end), "{}", e.name);
        // Unset: the collector's log may name it or leave the line out. (Found by
        // review: an empty expectation skipped the check, so a child that took its
        // parent's status would have passed.)
        let status = match s.status_code.as_str() {
            "" => "STATUS_CODE_UNSET",
            code => code,
        };
        assert_eq!(status, e.status, "{}", e.name);
        match e.name {
            "GET /users" => {
                for (k, v) in [
                    ("http.request.method", "Str(GET)"),
                    ("http.response.status_code", "Int(200)"),
                    ("cache.hit", "Bool(true)"),
                    ("load", "Double(0.25)"),
                    ("test.tag", &format!("Str({tag})")),
                ] {
                    assert!(
                        s.attributes.contains(&(k.into(), v.into())),
                        "{k}={v} in {:?}",
                        s.attributes
                    );
                }
            }
            "SELECT users" => {
                assert_eq!(s.status_message, "db timeout");
                assert_eq!(s.events, ["exception"]);
                assert!(s.event_attributes[0]
                    .contains(&("exception.type".into(), "Str(TimeoutError)".into())));
                assert!(s.event_attributes[0]
                    .contains(&("exception.message".into(), "Str(no answer in 2 ms)".into())));
            }
            _ => {
                assert_eq!(s.links, ["b7ad6b7169203331"]);
                assert_eq!(s.link_trace_ids, ["0af7651916cd43dd8448eb211c80319c"]);
            }
        }
    }
}

fn config() -> TracerConfig {
    TracerConfig::new("e2e-service")
        .with_resource_attributes(&RESOURCE)
        .with_scope("e2e-scope", "0.9")
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(80),
        ..RetryPolicy::default()
    }
}

fn otlp(collector: &Collector, protocol: Protocol) -> OtlpHttpExporter {
    OtlpHttpExporter::builder()
        .endpoint(collector.endpoint.clone())
        .protocol(protocol)
        .timeout(Duration::from_secs(5))
        .retry_policy(quick_retries())
        .build()
        .expect("exporter")
}

fn direct_export(protocol: Protocol) {
    let collector = Collector::start();
    let clock = ManualClock::new(Timestamp::from_unix_nanos(T0));
    let tracer = Tracer::new(
        config(),
        SpanArena::<16>::new(),
        &clock,
        IdGenerator::from_seed([1; 32]),
        otlp(&collector, protocol),
    );
    let tag = format!("direct-{protocol:?}");
    let expected = record_trace(&tracer, &clock, &tag);
    tracer.flush();
    let stats = tracer.stats();
    assert_eq!((stats.spans_exported, stats.spans_export_failed), (3, 0));
    let got = collector.wait_for(Duration::from_secs(10), |s| s.len() >= 3);
    check(&expected, &got, &tag);
}

fn batch_export(protocol: Protocol, batching: BatchConfig) {
    let collector = Collector::start();
    let clock = ManualClock::new(Timestamp::from_unix_nanos(T0));
    let batch = BatchExporter::builder(otlp(&collector, protocol))
        .config(batching.with_scheduled_delay(Duration::from_millis(100)))
        .build()
        .expect("batch exporter");
    let tracer = Tracer::new(
        config(),
        SpanArena::<16>::new(),
        &clock,
        IdGenerator::from_seed([2; 32]),
        batch.clone(),
    );
    let tag = format!(
        "batch-{protocol:?}-{}-{}",
        batching.max_export_batch_size, batching.max_concurrent_exports
    );
    let mut expected = Vec::new();
    for round in 0..3 {
        expected.extend(record_trace(&tracer, &clock, &format!("{tag}-{round}")));
    }
    tracer.flush();
    batch.flush().expect("flush");
    let stats = batch.stats();
    assert_eq!(stats.produced, 9);
    assert_eq!(stats.exported, 9, "{stats:?}");
    // At most a batch's worth of spans per request.
    let fewest = 9usize.div_ceil(batching.max_export_batch_size) as u64;
    assert!(stats.batches >= fewest, "{stats:?}");
    let got = collector.wait_for(Duration::from_secs(10), |s| s.len() >= 9);
    for round in 0..3 {
        check(
            &expected[round * 3..round * 3 + 3],
            &got,
            &format!("{tag}-{round}"),
        );
    }
    batch.shutdown().expect("shutdown");
}

#[test]
fn otlp_http_exporter_protobuf_reaches_the_collector() {
    direct_export(Protocol::HttpProtobuf);
}

#[test]
fn otlp_http_exporter_json_reaches_the_collector() {
    direct_export(Protocol::HttpJson);
}

#[test]
fn batch_exporter_protobuf_reaches_the_collector() {
    batch_export(Protocol::HttpProtobuf, BatchConfig::default());
}

#[test]
fn batch_exporter_json_reaches_the_collector() {
    batch_export(Protocol::HttpJson, BatchConfig::default());
}

/// Three requests of three spans, sent by three workers at once over their own
/// connections (`max_concurrent_exports`).
#[test]
fn batch_exporter_with_requests_in_flight_together_reaches_the_collector() {
    let config = BatchConfig::default()
        .with_max_export_batch_size(3)
        .with_max_concurrent_exports(3);
    batch_export(Protocol::HttpProtobuf, config);
}

/// The collector dies and comes back mid-run: what was sent before and after arrives,
/// what fell in between is retried or counted, and nothing is unaccounted for.
#[test]
fn collector_killed_and_restarted_mid_run_loses_nothing_silently() {
    let mut collector = Collector::start();
    let clock = ManualClock::new(Timestamp::from_unix_nanos(T0));
    let batch = BatchExporter::builder(otlp(&collector, Protocol::HttpProtobuf))
        .config(BatchConfig::default().with_scheduled_delay(Duration::from_millis(50)))
        .build()
        .expect("batch exporter");
    let tracer = Tracer::new(
        config(),
        SpanArena::<16>::new(),
        &clock,
        IdGenerator::from_seed([3; 32]),
        batch.clone(),
    );

    let before = record_trace(&tracer, &clock, "before");
    tracer.flush();
    batch.flush().expect("flush");
    let seen_before = collector.wait_for(Duration::from_secs(10), |s| s.len() >= 3);
    check(&before, &seen_before, "before");
    assert_eq!(seen_before.len(), 3, "{seen_before:#?}");

    collector.kill();
    let _during = record_trace(&tracer, &clock, "during");
    tracer.flush();
    // Returns once the retries have run out against the dead collector, saying that the
    // three spans were lost: failed, counted, before the collector is back.
    match batch.flush() {
        Err(ExportError::SpansLost {
            lost: 3,
            running: 0,
        }) => {}
        other => panic!("{other:?}"),
    }
    let mid = batch.stats();
    assert_eq!((mid.exported, mid.failed), (3, 3), "{mid:?}");
    collector.restart();

    let after = record_trace(&tracer, &clock, "after");
    tracer.flush();
    batch.flush().expect("flush");

    let stats = batch.stats();
    assert_eq!(stats.produced, 9);
    assert_eq!((stats.exported, stats.failed), (6, 3), "{stats:?}");
    assert_eq!(
        stats.exported + stats.failed + stats.dropped() + stats.rejected,
        9,
        "{stats:?}"
    );
    // The restarted collector holds exactly the spans sent after it came back.
    let got = collector.wait_for(Duration::from_secs(10), |s| s.len() >= 3);
    check(&after, &got, "after");
    assert_eq!(got.len(), 3, "only the spans after the restart: {got:#?}");
    // Shutdown reports every span lost over the exporter's life.
    match batch.shutdown() {
        Err(ExportError::SpansLost {
            lost: 3,
            running: 0,
        }) => {}
        other => panic!("{other:?}"),
    }
}

/// A request larger than the size past which the exporter waits for `100 Continue`
/// (256 KiB) reaches the collector whole: the collector takes `Expect`, in both
/// protocols.
#[test]
fn a_large_request_sent_after_100_continue_reaches_the_collector() {
    // The arena is built on the stack before it is boxed (unoptimised: 3 MB).
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(large_requests)
        .unwrap()
        .join()
        .unwrap();
}

fn large_requests() {
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        let collector = Collector::start();
        let clock = ManualClock::new(Timestamp::from_unix_nanos(T0));
        let exporter = OtlpHttpExporter::builder()
            .endpoint(collector.endpoint.clone())
            .protocol(protocol)
            .timeout(Duration::from_secs(20))
            .retry_policy(quick_retries())
            .build()
            .expect("exporter");
        let arena = Box::new(SpanArena::<2048>::new());
        let tracer = Tracer::new(
            config().with_export_batch_size(2048),
            &*arena,
            &clock,
            IdGenerator::from_seed([3; 32]),
            exporter,
        );
        let padding = "p".repeat(300);
        for i in 0..2000 {
            let mut span = tracer.start_span("large-request");
            span.set_attribute("i", i);
            span.set_attribute_dyn("padding", padding.as_str());
            span.end();
        }
        tracer.flush();
        let stats = tracer.stats();
        assert_eq!(
            (stats.spans_exported, stats.spans_export_failed),
            (2000, 0),
            "{protocol:?}: {stats:?}"
        );
        let got = collector.wait_for(Duration::from_secs(20), |s| s.len() >= 2000);
        assert_eq!(got.len(), 2000, "{protocol:?}");
    }
}
