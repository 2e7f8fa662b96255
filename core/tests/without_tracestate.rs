//! Core built without the `tracestate` feature (`cargo test -p picotrace
//! --no-default-features --test without_tracestate`): incoming tracestate is ignored,
//! the trace continues, and a sampler's OTEP 235 threshold changes nothing.
#![cfg(not(feature = "tracestate"))]

use picotrace::{
    IdGenerator, ManualClock, NoopExporter, Sampler, SpanArena, Timestamp, TraceContext, Tracer,
    TracerConfig,
};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn incoming_tracestate_is_ignored_and_the_trace_continues() {
    let headers = [
        ("traceparent", TRACEPARENT),
        ("tracestate", "vendor=abc,ot=th:8"),
    ];
    let cx = TraceContext::from_headers(&headers[..]).unwrap();
    assert_eq!(
        cx.trace_id().to_hex().as_str(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert!(cx.trace_state.is_empty());
    // Nothing kept, so nothing copied: a context is its ids and flags.
    assert!(core::mem::size_of::<TraceContext>() <= 48);
    #[cfg(target_pointer_width = "64")]
    assert_eq!(
        core::mem::size_of::<TraceContext>(),
        48,
        "the size the docs give"
    );

    let clock = ManualClock::new(Timestamp::from_unix_nanos(1));
    let tracer = Tracer::new(
        TracerConfig::new("svc").with_sampler(Sampler::parent_based(Sampler::probability(1.0))),
        SpanArena::<4>::new(),
        &clock,
        IdGenerator::from_seed([1; 32]),
        NoopExporter,
    );
    let span = tracer.start_server_span("handle", &cx);
    assert!(span.is_recording());
    assert_eq!(span.context().trace_id, cx.trace_id());
    assert_eq!(span.trace_state(), "");
    // A root under a probability sampler would write `ot=th:0`; without the feature it
    // writes nothing.
    let root = tracer.start_span("root");
    assert!(root.is_recording());
    assert_eq!(root.trace_state(), "");

    let mut out = Vec::new();
    tracer.inject_context(
        &span,
        &mut picotrace::FnInjector(|name: &str, value: &str| {
            out.push((name.to_string(), value.to_string()))
        }),
    );
    assert_eq!(out.len(), 1, "traceparent only: {out:?}");
    assert_eq!(out[0].0, "traceparent");
}
