//! W5: OTLP encoding of 1000 finished spans (5 attributes and 1 event each, in traces
//! of a root and 9 children), protobuf and JSON.
//!
//! - picotrace: `wire::otlp::proto::encode_request` / `wire::otlp::json::encode_request`
//!   straight from the arena's `SpanBatch`, into a reused buffer. The timing runs inside
//!   the exporter's `export` call, where the batch is borrowed.
//! - opentelemetry: what `opentelemetry-otlp` does with a batch: opentelemetry-proto's
//!   `group_spans_by_resource_and_scope` (the `SpanData` → proto conversion, consuming
//!   the `Vec<SpanData>`), then `prost::Message::encode` into a reused `Vec` (the
//!   exporter itself uses `encode_to_vec`), or `serde_json::to_writer` of the proto types
//!   (`with-serde`; the exporter uses `to_string_pretty`). Each repetition converts fresh
//!   clones of the batch, cloned before the clock starts.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter as OtelExporter};
use picotrace::wire::otlp::{json, proto};
use picotrace::{
    ExportError, IdGenerator, SpanArena, SpanBatch, SpanExporter, Tracer, TracerConfig,
};
use picotrace_std::SystemClock;
use prost::Message as _;

use crate::harness::{Plan, Summary};
use crate::report::{Better, Report, Row};
use crate::shape::*;

/// Which OTLP encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl Encoding {
    fn label(self) -> &'static str {
        match self {
            Encoding::Protobuf => "protobuf",
            Encoding::Json => "JSON",
        }
    }
}

/// The encoder output buffer: room for the whole batch in one request.
const BUF: usize = 8 << 20;

/// Timing results of one encoding: ns per span (over repetitions) and request size.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// Nanoseconds per span.
    pub ns_per_span: Summary,
    /// Bytes of one request with all spans.
    pub bytes: usize,
}

/// An exporter that hands the batch to a closure.
struct Hook<F: FnMut(&SpanBatch<'_>)>(F);

impl<F: FnMut(&SpanBatch<'_>)> SpanExporter for Hook<F> {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        (self.0)(batch);
        Ok(())
    }
}

/// Records the W5 spans into `tracer`: 100 traces of a root and 9 children.
fn record_pico<X: SpanExporter + Send>(tracer: &Tracer<SpanArena<1024>, SystemClock, X>) {
    for _ in 0..W5_SPANS / 10 {
        let mut root = tracer.start_span(W5_NAME);
        fill_pico(&mut root);
        for _ in 0..9 {
            let mut child = root.child(W5_NAME);
            fill_pico(&mut child);
            child.end();
        }
        root.end();
    }
}

fn fill_pico(span: &mut picotrace::Span<'_>) {
    for (k, v) in W5_STR {
        span.set_attribute(k, v);
    }
    span.set_attribute(W5_I64.0, W5_I64.1);
    span.set_attribute(W5_BOOL.0, W5_BOOL.1);
    span.add_event(W5_EVENT);
}

/// Encodes the whole batch into `out` (one request; the batch always fits).
fn encode_pico(batch: &SpanBatch<'_>, encoding: Encoding, out: &mut [u8]) -> usize {
    let done = match encoding {
        Encoding::Protobuf => proto::encode_request(batch.resource, batch.scope, batch.iter(), out),
        Encoding::Json => json::encode_request(batch.resource, batch.scope, batch.iter(), out),
    }
    .expect("W5 batch fits the buffer");
    assert_eq!(done.spans, batch.len(), "one request holds the batch");
    done.bytes
}

/// Measures picotrace's encoders; also returns one request of each encoding (for
/// checking them with opentelemetry-proto's decoders).
pub fn pico(plan: &Plan) -> (Measured, Measured, Vec<u8>, Vec<u8>) {
    let result = std::sync::Mutex::new(None);
    let hook = Hook(|batch: &SpanBatch<'_>| {
        assert_eq!(batch.len(), W5_SPANS);
        let mut out = vec![0u8; BUF];
        let mut measure = |encoding| {
            let bytes = encode_pico(batch, encoding, &mut out);
            let copy = out[..bytes].to_vec();
            let s = crate::harness::ns_per_op(
                plan,
                |n| {
                    for _ in 0..n {
                        black_box(encode_pico(batch, encoding, black_box(&mut out)));
                    }
                },
                || {},
            )
            .map(|ns| ns / W5_SPANS as f64);
            (
                Measured {
                    ns_per_span: s,
                    bytes,
                },
                copy,
            )
        };
        let (p, pb) = measure(Encoding::Protobuf);
        let (j, jb) = measure(Encoding::Json);
        *result.lock().unwrap() = Some((p, j, pb, jb));
    });
    // One export of all W5 spans: the batch size is the whole set.
    let tracer = Box::new(Tracer::new(
        TracerConfig::new(SERVICE).with_export_batch_size(W5_SPANS),
        SpanArena::<1024>::new(),
        SystemClock::new(),
        IdGenerator::from_seed([5; 32]),
        hook,
    ));
    record_pico(&tracer);
    tracer.flush();
    drop(tracer);
    result.into_inner().unwrap().expect("the exporter ran")
}

/// Encodes the W5 batch `n` times with picotrace (for profilers).
pub fn profile(encoding: Encoding, n: u64) {
    let hook = Hook(|batch: &SpanBatch<'_>| {
        let mut out = vec![0u8; BUF];
        for _ in 0..n {
            black_box(encode_pico(batch, encoding, black_box(&mut out)));
        }
    });
    let tracer = Box::new(Tracer::new(
        TracerConfig::new(SERVICE).with_export_batch_size(W5_SPANS),
        SpanArena::<1024>::new(),
        SystemClock::new(),
        IdGenerator::from_seed([5; 32]),
        hook,
    ));
    record_pico(&tracer);
    tracer.flush();
}

/// Collects finished `SpanData` for opentelemetry.
#[derive(Debug, Clone, Default)]
struct Capture(Arc<Mutex<Vec<SpanData>>>);

impl OtelExporter for Capture {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.0.lock().expect("capture").extend(batch);
        std::future::ready(Ok(()))
    }
}

/// Records the W5 spans with the SDK and returns them with the provider's resource.
pub fn otel_spans() -> (Vec<SpanData>, ResourceAttributesWithSchema) {
    let capture = Capture::default();
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(SERVICE)
        .build();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(capture.clone())
        .with_resource(resource.clone())
        .build();
    let tracer = provider.tracer("bench");
    let fill = |span: &mut dyn FnMut(KeyValue)| {
        for (k, v) in W5_STR {
            span(KeyValue::new(k, v));
        }
        span(KeyValue::new(W5_I64.0, W5_I64.1));
        span(KeyValue::new(W5_BOOL.0, W5_BOOL.1));
    };
    for _ in 0..W5_SPANS / 10 {
        let mut root = tracer.start(W5_NAME);
        fill(&mut |kv| root.set_attribute(kv));
        root.add_event(W5_EVENT, Vec::new());
        let cx = Context::current_with_span(root);
        for _ in 0..9 {
            let mut child = tracer.start_with_context(W5_NAME, &cx);
            fill(&mut |kv| child.set_attribute(kv));
            child.add_event(W5_EVENT, Vec::new());
            child.end();
        }
        cx.span().end();
    }
    let _ = provider.shutdown();
    let spans = std::mem::take(&mut *capture.0.lock().expect("capture"));
    assert_eq!(spans.len(), W5_SPANS);
    (spans, ResourceAttributesWithSchema::from(&resource))
}

fn encode_otel(
    spans: Vec<SpanData>,
    resource: &ResourceAttributesWithSchema,
    encoding: Encoding,
    out: &mut Vec<u8>,
) -> usize {
    let request = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(spans, resource),
    };
    out.clear();
    match encoding {
        Encoding::Protobuf => request.encode(out).expect("Vec grows"),
        Encoding::Json => serde_json::to_writer(&mut *out, &request).expect("serializable"),
    }
    out.len()
}

/// Measures opentelemetry's conversion + encoding.
pub fn otel(plan: &Plan, encoding: Encoding) -> Measured {
    let (spans, resource) = otel_spans();
    let mut out = Vec::with_capacity(BUF);
    let bytes = encode_otel(spans.clone(), &resource, encoding, &mut out);
    // Calibrate: how many batches make one repetition.
    let t = Instant::now();
    encode_otel(spans.clone(), &resource, encoding, &mut out);
    let one = t.elapsed().as_secs_f64();
    let per_rep = ((plan.target.as_secs_f64() / one) as usize).clamp(1, 40);
    // Warm-up.
    for _ in 0..per_rep.min(4) {
        encode_otel(spans.clone(), &resource, encoding, &mut out);
    }
    let mut samples = Vec::with_capacity(plan.reps);
    for _ in 0..plan.reps {
        // Each batch cloned just before its own timed encode, so that it is as warm in
        // the caches as picotrace's arena, which is encoded again and again. (Found by
        // review: up to 40 batches, 40 MB, were cloned before the clock started and
        // then read cold.)
        let mut dt = std::time::Duration::ZERO;
        for _ in 0..per_rep {
            let batch = spans.clone();
            let t = Instant::now();
            black_box(encode_otel(batch, &resource, encoding, &mut out));
            dt += t.elapsed();
        }
        samples.push(dt.as_nanos() as f64 / (per_rep * W5_SPANS) as f64);
    }
    Measured {
        ns_per_span: Summary::of(&mut samples),
        bytes,
    }
}

/// Checks picotrace's requests with opentelemetry-proto's decoders: the protobuf and the
/// JSON request decode to the same request, which holds every W5 span with its name,
/// its five attributes (keys and values) and its event.
fn check(pb: &[u8], json: &[u8]) -> Result<(), String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    let from_pb = ExportTraceServiceRequest::decode(pb).map_err(|e| format!("protobuf: {e}"))?;
    let from_json: ExportTraceServiceRequest =
        serde_json::from_slice(json).map_err(|e| format!("JSON: {e}"))?;
    if from_pb != from_json {
        return Err("the protobuf and JSON requests decode to different requests".into());
    }
    let spans: Vec<_> = from_pb
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    if spans.len() != W5_SPANS {
        return Err(format!("decoded {} spans", spans.len()));
    }
    let mut want: Vec<(&str, V)> = W5_STR
        .iter()
        .map(|(k, v)| (*k, V::StringValue((*v).to_string())))
        .collect();
    want.push((W5_I64.0, V::IntValue(W5_I64.1)));
    want.push((W5_BOOL.0, V::BoolValue(W5_BOOL.1)));
    for span in spans {
        let attrs: Vec<(&str, Option<&V>)> = span
            .attributes
            .iter()
            .map(|kv| {
                (
                    kv.key.as_str(),
                    kv.value.as_ref().and_then(|v| v.value.as_ref()),
                )
            })
            .collect();
        let expected: Vec<(&str, Option<&V>)> = want.iter().map(|(k, v)| (*k, Some(v))).collect();
        let event = span.events.first().map(|e| e.name.as_str());
        if span.name != W5_NAME
            || attrs != expected
            || span.events.len() != 1
            || event != Some(W5_EVENT)
        {
            return Err(format!(
                "span {:?} does not hold the W5 shape: {attrs:?}, {event:?}",
                span.name
            ));
        }
    }
    Ok(())
}

fn rows(report: &mut Report, encoding: Encoding, library: &str, m: Measured, note: String) {
    let w = format!("W5 {}", encoding.label());
    let mbs = m
        .ns_per_span
        .map(|ns| m.bytes as f64 / (ns * W5_SPANS as f64) * 1e9 / 1e6);
    report.push(Row {
        workload: w.clone(),
        library: library.to_string(),
        summary: m.ns_per_span,
        unit: "ns/span",
        better: Better::Lower,
        allocs: None,
        cpu: None,
        reached: None,
        note: format!("{} bytes/request{note}", m.bytes),
    });
    report.push(Row {
        workload: format!("{w} MB/s"),
        library: library.to_string(),
        summary: mbs,
        unit: "MB/s",
        better: Better::Higher,
        allocs: None,
        cpu: None,
        reached: None,
        note: String::new(),
    });
}

/// Runs W5 and adds its rows.
pub fn run(plan: &Plan, report: &mut Report) {
    eprintln!("W5 OTLP encoding of {W5_SPANS} spans (5 attributes, 1 event each)");
    let (p, j, pb, jb) = pico(plan);
    // A request the official decoders do not read back whole is a defect, not a note:
    // its timing would mean nothing.
    if let Err(e) = check(&pb, &jb) {
        panic!("W5: picotrace's OTLP request fails the opentelemetry-proto check: {e}");
    }
    let verdict = "; decoded by opentelemetry-proto, protobuf and JSON alike".to_string();
    let o_pb = otel(plan, Encoding::Protobuf);
    let o_json = otel(plan, Encoding::Json);
    for (encoding, mine, theirs) in [(Encoding::Protobuf, p, o_pb), (Encoding::Json, j, o_json)] {
        rows(
            report,
            encoding,
            "picotrace (wire::otlp encode_request from the arena)",
            mine,
            verdict.clone(),
        );
        let library = match encoding {
            Encoding::Protobuf => {
                "opentelemetry-proto (group_spans_by_resource_and_scope + prost encode)"
            }
            Encoding::Json => {
                "opentelemetry-proto (group_spans_by_resource_and_scope + serde_json, with-serde)"
            }
        };
        rows(report, encoding, library, theirs, String::new());
    }
}
