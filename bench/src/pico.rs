//! picotrace's side of the workloads: the core [`Tracer`] with a [`SpanArena`], the
//! [`NoopExporter`], picotrace-std's `SystemClock` (the clock a server uses); for W6 and
//! W8 picotrace-std's shared tracer (`TracerProvider`), for W7 its `BatchExporter` in
//! front of its `OtlpHttpExporter`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use picotrace::{
    Clock, IdGenerator, NoopExporter, Sampler, SpanArena, SpanExporter, SpanStorage,
    TraceparentRepr, Tracer, TracerConfig,
};
pub use picotrace_std::SystemClock;
use picotrace_std::{
    BatchConfig, BatchExporter, Compression, OtlpHttpExporter, Protocol, SharedExporter,
    TracerProvider,
};

use crate::shape::*;

/// The arena every timing workload uses: picotrace's server default, 512 spans of up to
/// 16 attributes, 8 events, 4 links and 512 bytes of text (`DefaultArena`).
pub type Arena = SpanArena<512>;

/// A tracer as the benchmarks use it.
pub type BenchTracer<C = SystemClock, X = NoopExporter> = Tracer<Arena, C, X>;

/// Creates a boxed tracer (the arena is ~800 KiB: never on a thread's stack for long).
pub fn tracer_with<C: Clock, X: SpanExporter>(
    config: TracerConfig,
    clock: C,
    exporter: X,
) -> Box<BenchTracer<C, X>> {
    Box::new(Tracer::new(
        config,
        Arena::new(),
        clock,
        IdGenerator::from_seed(seed()),
        exporter,
    ))
}

fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    seed[..8].copy_from_slice(&t.to_le_bytes());
    seed[8] = 1;
    seed
}

/// The default config: `ParentBased(AlwaysOn)`, as OpenTelemetry's default.
pub fn config() -> TracerConfig {
    TracerConfig::new(SERVICE)
}

/// A sampled tracer with the system clock and the no-op exporter.
pub fn sampled() -> Box<BenchTracer> {
    tracer_with(config(), SystemClock::new(), NoopExporter)
}

/// A sampled tracer on the TSC clock fastrace uses.
pub fn sampled_tsc() -> Box<BenchTracer<crate::tsc::TscClock>> {
    tracer_with(config(), crate::tsc::TscClock::new(), NoopExporter)
}

/// A sampled tracer on a clock that is never read from hardware (`ManualClock`): the
/// tracer's own cost, without clock reads.
pub fn sampled_manual() -> Box<BenchTracer<picotrace::ManualClock>> {
    tracer_with(
        config(),
        picotrace::ManualClock::new(picotrace::Timestamp::from_unix_nanos(
            1_700_000_000_000_000_000,
        )),
        NoopExporter,
    )
}

/// A tracer whose sampler is always-off (W3).
pub fn unsampled() -> Box<BenchTracer> {
    tracer_with(
        config().with_sampler(Sampler::ALWAYS_OFF),
        SystemClock::new(),
        NoopExporter,
    )
}

/// A tracer with tracing disabled (W3b, `OTEL_SDK_DISABLED=true`).
pub fn disabled() -> Box<BenchTracer> {
    tracer_with(
        config().with_enabled(false),
        SystemClock::new(),
        NoopExporter,
    )
}

/// W1: a root span, 3 attributes (string, i64, bool), end.
#[inline(never)]
pub fn w1<A: SpanStorage, C: Clock + Sync, X: SpanExporter + Send>(tracer: &Tracer<A, C, X>) {
    let mut span = tracer.start_span(black_box(W1_NAME));
    span.set_attribute(W1_STR.0, black_box(W1_STR.1));
    span.set_attribute(W1_I64.0, black_box(W1_I64.1));
    span.set_attribute(W1_BOOL.0, black_box(W1_BOOL.1));
    span.end();
}

/// W2: a root with 10 children, each with 2 attributes and 1 event.
#[inline(never)]
pub fn w2<A: SpanStorage, C: Clock + Sync, X: SpanExporter + Send>(tracer: &Tracer<A, C, X>) {
    let root = tracer.start_span(black_box(W2_ROOT));
    for i in 0..W2_CHILDREN {
        let mut child = root.child(black_box(W2_CHILD));
        child.set_attribute(W2_STR.0, black_box(W2_STR.1));
        child.set_attribute(W2_I64_KEY, black_box(i as i64));
        child.add_event(black_box(W2_EVENT));
        child.end();
    }
    root.end();
}

/// W4: parse the spec's example, then write it back out.
#[inline(never)]
pub fn w4(input: &str, out: &mut [u8; 55]) -> usize {
    match TraceparentRepr::parse(input.as_bytes()) {
        Ok(repr) => repr.emit(out).unwrap_or(0),
        Err(_) => 0,
    }
}

/// W4 through the user-facing API: extract from a header carrier, then inject into
/// an outgoing one (a closure carrier, which takes each header's name and value) that
/// keeps each value in a reused `String`, as a client's outgoing headers would. (Found
/// by review: the closure only added up the lengths, where the peers must keep the
/// value; opentelemetry gets the same carriers, see `otel::W4Slice`.)
#[inline(never)]
pub fn w4_api(headers: &[(&str, &str)], out: &mut crate::shape::W4Out) -> usize {
    if let Ok(cx) = picotrace::TraceContext::from_headers(headers) {
        cx.to_headers(&mut picotrace::FnInjector(|name: &str, value: &str| {
            out.keep(name, value);
        }));
    }
    out.len()
}

/// W4 through `HashMap<String, String>` carriers (opentelemetry's own carrier type):
/// extract from the incoming map, inject into the outgoing one (picotrace-std's
/// carriers).
#[inline(never)]
pub fn w4_hash_map(input: &HashMap<String, String>, output: &mut HashMap<String, String>) {
    output.clear();
    if let Ok(cx) = picotrace::TraceContext::from_headers(&picotrace_std::HashMapCarrier(input)) {
        cx.to_headers(&mut picotrace_std::HashMapInjector(output));
    }
}

/// Runs `n` W4 round trips through `HashMap` carriers.
pub fn run_w4_hash_map(n: u64) {
    crate::shape::run_w4_hash_map(n, w4_hash_map);
}

/// Runs `n` W4 round trips through the user-facing API.
pub fn run_w4_api(n: u64) {
    let headers = [("traceparent", TRACEPARENT)];
    let mut out = crate::shape::W4Out::default();
    for _ in 0..n {
        black_box(w4_api(black_box(&headers[..]), &mut out));
    }
}

/// W4 through `http::HeaderMap`, as servers carry headers: extract from the request's
/// headers, inject into the outgoing request's (picotrace-std's carriers).
#[inline(never)]
pub fn w4_header_map(input: &http::HeaderMap, output: &mut http::HeaderMap) {
    output.clear();
    if let Ok(cx) = picotrace::TraceContext::from_headers(&picotrace_std::HeaderMapCarrier(input)) {
        cx.to_headers(&mut picotrace_std::HeaderMapInjector(output));
    }
}

/// Runs `n` W4 round trips through `http::HeaderMap`.
pub fn run_w4_header_map(n: u64) {
    crate::shape::run_w4_header_map(n, w4_header_map);
}

/// W4 with a 3-member `tracestate`: extract both headers through the user-facing API,
/// then write both back out through an injector.
#[inline(never)]
pub fn w4_state(headers: &[(&str, &str)], out: &mut crate::shape::W4Out) -> usize {
    w4_api(headers, out)
}

/// Runs `n` W4 tracestate round trips.
pub fn run_w4_state(n: u64) {
    let headers = [("traceparent", TRACEPARENT), ("tracestate", TRACESTATE)];
    let mut out = crate::shape::W4Out::default();
    for _ in 0..n {
        black_box(w4_state(black_box(&headers[..]), &mut out));
    }
}

/// Runs `n` W1 spans.
pub fn run_w1<A: SpanStorage, C: Clock + Sync, X: SpanExporter + Send>(
    tracer: &Tracer<A, C, X>,
    n: u64,
) {
    for _ in 0..n {
        w1(tracer);
    }
}

/// Runs `n` W2 traces.
pub fn run_w2<A: SpanStorage, C: Clock + Sync, X: SpanExporter + Send>(
    tracer: &Tracer<A, C, X>,
    n: u64,
) {
    for _ in 0..n {
        w2(tracer);
    }
}

/// Runs `n` W4 round trips.
pub fn run_w4(n: u64) {
    let mut out = [0u8; 55];
    for _ in 0..n {
        black_box(w4(black_box(TRACEPARENT), &mut out));
    }
    black_box(&out);
}

/// An exporter that counts what it was handed (to check that nothing was lost).
#[derive(Debug, Default)]
pub struct CountingExporter {
    /// Spans seen.
    pub spans: u64,
}

impl SpanExporter for CountingExporter {
    fn export(&mut self, batch: &picotrace::SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
        self.spans += batch.len() as u64;
        Ok(())
    }
}

/// W6 and W8: a provider whose one tracer (`StdArena`, 2048 spans) every thread
/// shares, drained by its export thread into the discarding exporter.
pub fn provider() -> TracerProvider {
    provider_with(config())
}

/// As [`provider`], with `config` (W3: always-off, W3b: disabled).
pub fn provider_with(config: TracerConfig) -> TracerProvider {
    TracerProvider::builder()
        .config(config)
        .exporter(SharedExporter::discard())
        .build()
}

/// W7: picotrace-std's batch exporter in front of its OTLP/HTTP exporter, with
/// `in_flight` requests at most (`max_concurrent_exports`), fed by the
/// `TracerProvider`'s shared tracer; returns spans per second over repetitions and a
/// note with what the exporter counted.
pub fn w7(
    endpoint: &str,
    (protocol, compression, in_flight): (Protocol, Compression, usize),
    spans: u64,
    reps: usize,
    batch: usize,
) -> Result<(crate::harness::Summary, String), String> {
    let otlp = OtlpHttpExporter::builder()
        .endpoint(endpoint)
        .protocol(protocol)
        .compression(compression)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("OtlpHttpExporter: {e}"))?;
    let exporter = BatchExporter::builder(otlp)
        .config(
            BatchConfig::default()
                .with_max_queue_size(spans as usize + batch)
                .with_max_export_batch_size(batch)
                .with_max_concurrent_exports(in_flight),
        )
        .build()
        .map_err(|e| format!("BatchExporter: {e}"))?;
    let provider = TracerProvider::builder()
        .config(config())
        .exporter(exporter.clone())
        .build();
    let tracer = provider.tracer();
    // Warm-up: connect, first batch.
    run_w1(tracer, batch as u64);
    match provider.flush() {
        Ok(()) | Err(picotrace_std::ExportError::SpansLost { .. }) => {}
        Err(e) => return Err(format!("flush: {e}")),
    }
    let mut failed = None;
    // The rate counts spans the collector accepted, not spans started: one thread
    // starts spans faster than one export thread encodes and sends them, and what the
    // full arena refuses is dropped (and counted), not delivered.
    let s = crate::harness::rate(reps, || {
        let before = exporter.stats().exported;
        let t = Instant::now();
        run_w1(tracer, spans);
        // Spans the full arena refused are reported by `flush` as lost: counted in the
        // note, not a failure of the run. Anything else is.
        match provider.flush() {
            Ok(()) | Err(picotrace_std::ExportError::SpansLost { .. }) => {}
            Err(e) => failed = Some(e.to_string()),
        }
        (exporter.stats().exported - before, t.elapsed())
    });
    let stats = exporter.stats();
    let tracer_stats = provider.stats();
    let _ = provider.shutdown();
    if let Some(e) = failed {
        return Err(format!("export failed: {e}"));
    }
    let lost = stats.dropped() + stats.failed + stats.rejected;
    Ok((
        s,
        format!(
            "{spans} spans started per repetition; rate = spans the collector accepted; \
             {} of {} started were exported (the warm-up's included), {} dropped at the full \
             arena, {} lost in the exporter, {} requests",
            stats.exported,
            tracer_stats.spans_started,
            tracer_stats.spans_dropped_arena_full,
            lost,
            stats.batches
        ),
    ))
}
