//! opentelemetry-rust's side: `opentelemetry` + `opentelemetry_sdk` 0.33, an
//! `SdkTracerProvider` with a simple or a batch span processor in front of an exporter
//! that discards (and counts, so that a batch processor that dropped spans is caught).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    noop::NoopTracer, Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, SpanData, SpanExporter,
};
use opentelemetry_sdk::Resource;

use crate::shape::*;

/// An exporter that drops every batch, counting its spans.
#[derive(Debug, Clone, Default)]
pub struct DiscardExporter {
    /// Spans received so far.
    pub spans: Arc<AtomicU64>,
}

impl SpanExporter for DiscardExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.spans.fetch_add(batch.len() as u64, Ordering::Relaxed);
        drop(batch);
        std::future::ready(Ok(()))
    }
}

/// Which span processor sits between the SDK and the exporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Processor {
    /// `SimpleSpanProcessor`: exports each span as it ends, on the caller's thread.
    Simple,
    /// `BatchSpanProcessor` (its own thread; queue 2048, batches of 512: the defaults).
    Batch,
}

impl Processor {
    /// Short label for the table.
    pub fn label(self) -> &'static str {
        match self {
            Processor::Simple => "simple",
            Processor::Batch => "batch",
        }
    }
}

/// An SDK provider, its tracer and the exporter's counter.
pub struct Otel {
    /// The provider (shut down on drop).
    pub provider: SdkTracerProvider,
    /// A tracer of it.
    pub tracer: SdkTracer,
    /// Spans the exporter received.
    pub exported: Arc<AtomicU64>,
}

impl Otel {
    /// Flushes the processor (a batch processor's queue) and returns the spans exported
    /// so far.
    pub fn flush(&self) -> u64 {
        let _ = self.provider.force_flush();
        self.exported.load(Ordering::Relaxed)
    }
}

impl Drop for Otel {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Builds a provider with `processor` and `sampler`, at the SDK's documented defaults
/// (the batch processor's queue of 2048 spans and batches of 512: a producer faster
/// than its exporter thread drops spans, which the table's notes count).
pub fn provider(processor: Processor, sampler: Sampler) -> Otel {
    let exporter = DiscardExporter::default();
    let exported = exporter.spans.clone();
    let builder = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_resource(Resource::builder().with_service_name(SERVICE).build());
    let builder = match processor {
        Processor::Simple => builder.with_simple_exporter(exporter),
        Processor::Batch => {
            builder.with_span_processor(BatchSpanProcessor::builder(exporter).build())
        }
    };
    let provider = builder.build();
    let tracer = provider.tracer("bench");
    Otel {
        provider,
        tracer,
        exported,
    }
}

/// The default sampler, `ParentBased(AlwaysOn)`.
pub fn sampled(processor: Processor) -> Otel {
    provider(processor, Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
}

/// W1 on the SDK.
#[inline(never)]
pub fn w1<T: opentelemetry::trace::Tracer>(tracer: &T) {
    let mut span = tracer.start(black_box(W1_NAME));
    span.set_attribute(KeyValue::new(W1_STR.0, black_box(W1_STR.1)));
    span.set_attribute(KeyValue::new(W1_I64.0, black_box(W1_I64.1)));
    span.set_attribute(KeyValue::new(W1_BOOL.0, black_box(W1_BOOL.1)));
    span.end();
}

/// W2 on the SDK: children started under a `Context` holding the root.
#[inline(never)]
pub fn w2(tracer: &SdkTracer) {
    let root = tracer.start(black_box(W2_ROOT));
    let cx = Context::current_with_span(root);
    for i in 0..W2_CHILDREN {
        let mut child = tracer.start_with_context(black_box(W2_CHILD), &cx);
        child.set_attribute(KeyValue::new(W2_STR.0, black_box(W2_STR.1)));
        child.set_attribute(KeyValue::new(W2_I64_KEY, black_box(i as i64)));
        child.add_event(black_box(W2_EVENT), Vec::new());
        child.end();
    }
    cx.span().end();
}

/// Runs `n` W1 spans on any tracer (SDK or no-op).
pub fn run_w1<T: opentelemetry::trace::Tracer>(tracer: &T, n: u64) {
    for _ in 0..n {
        w1(tracer);
    }
}

/// Runs `n` W2 traces.
pub fn run_w2(tracer: &SdkTracer, n: u64) {
    for _ in 0..n {
        w2(tracer);
    }
}

/// The tracer of "tracing disabled": the API's no-op tracer (what `global::tracer`
/// returns when no SDK is installed, without the global's dynamic dispatch).
pub fn disabled() -> NoopTracer {
    NoopTracer::new()
}

/// W4 state: the propagator and carriers, reused across round trips.
pub struct W4 {
    propagator: TraceContextPropagator,
    input: HashMap<String, String>,
    output: HashMap<String, String>,
}

impl W4 {
    /// Carriers holding the spec's example.
    pub fn new() -> Self {
        let mut input = HashMap::new();
        input.insert("traceparent".to_string(), TRACEPARENT.to_string());
        W4 {
            propagator: TraceContextPropagator::new(),
            input,
            output: HashMap::with_capacity(4),
        }
    }

    /// Carriers holding the spec's example with a 3-member `tracestate`.
    pub fn with_trace_state() -> Self {
        let mut w4 = Self::new();
        w4.input
            .insert("tracestate".to_string(), TRACESTATE.to_string());
        w4
    }

    /// One round trip: extract a `Context` from the input carrier, inject it into the
    /// output carrier (the propagator API is the SDK's only public traceparent parser).
    #[inline(never)]
    pub fn round_trip(&mut self) {
        let cx = self.propagator.extract(black_box(&self.input));
        self.output.clear();
        self.propagator.inject_context(&cx, &mut self.output);
        black_box(&self.output);
    }
}

/// W4 through `http::HeaderMap` carriers (`opentelemetry_http`'s extractor and
/// injector), reused across round trips.
pub struct W4HeaderMap {
    propagator: TraceContextPropagator,
    input: http::HeaderMap,
    output: http::HeaderMap,
}

impl W4HeaderMap {
    /// Carriers holding the spec's example.
    pub fn new() -> Self {
        let mut input = http::HeaderMap::new();
        input.insert("traceparent", http::HeaderValue::from_static(TRACEPARENT));
        W4HeaderMap {
            propagator: TraceContextPropagator::new(),
            input,
            output: http::HeaderMap::with_capacity(4),
        }
    }

    /// One round trip: extract from the request's headers, inject into the outgoing
    /// request's.
    #[inline(never)]
    pub fn round_trip(&mut self) {
        let cx = self
            .propagator
            .extract(&opentelemetry_http::HeaderExtractor(black_box(&self.input)));
        self.output.clear();
        self.propagator.inject_context(
            &cx,
            &mut opentelemetry_http::HeaderInjector(&mut self.output),
        );
        black_box(&self.output);
    }
}

impl Default for W4HeaderMap {
    fn default() -> Self {
        Self::new()
    }
}

impl Default for W4 {
    fn default() -> Self {
        Self::new()
    }
}

/// The incoming headers as a slice of pairs: opentelemetry's `Extractor` is a trait,
/// so a carrier like picotrace's slice carrier is a few lines.
struct SliceExtractor<'a>(&'a [(&'a str, &'a str)]);

impl opentelemetry::propagation::Extractor for SliceExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| *value)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| *name).collect()
    }
}

/// The outgoing headers kept in reused `String`s, as picotrace's W4 row keeps them.
struct KeepInjector<'a>(&'a mut crate::shape::W4Out);

impl opentelemetry::propagation::Injector for KeepInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.keep(key, &value);
    }
}

/// W4 with the carriers of picotrace's headline row: extract from a slice of header
/// pairs, inject into reused `String`s (opentelemetry's `Injector::set` takes the value
/// as an owned `String`, so the propagator allocates it whatever the carrier).
pub struct W4Slice {
    propagator: TraceContextPropagator,
    out: crate::shape::W4Out,
}

impl W4Slice {
    /// A propagator and an empty output.
    pub fn new() -> Self {
        W4Slice {
            propagator: TraceContextPropagator::new(),
            out: crate::shape::W4Out::default(),
        }
    }

    /// One round trip over `headers`.
    #[inline(never)]
    pub fn round_trip(&mut self, headers: &[(&str, &str)]) -> usize {
        let cx = self.propagator.extract(&SliceExtractor(black_box(headers)));
        self.propagator
            .inject_context(&cx, &mut KeepInjector(&mut self.out));
        self.out.len()
    }
}

impl Default for W4Slice {
    fn default() -> Self {
        Self::new()
    }
}
