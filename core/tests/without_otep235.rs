//! Core with `tracestate` but without `otep235` (`cargo test -p picotrace
//! --no-default-features --features tracestate --test without_otep235`): the `ot`
//! entry goes on untouched, as any vendor's, and probability samplers decide on the
//! trace id alone and write no threshold.
#![cfg(all(feature = "tracestate", not(feature = "otep235")))]

use picotrace::{
    IdGenerator, ManualClock, NoopExporter, Sampler, SpanArena, Timestamp, TraceContext, Tracer,
    TracerConfig,
};

/// A trace id whose last 56 bits (its randomness) are all zero: below every threshold
/// but 0, so a ratio sampler drops it whatever `rv` says.
const LOW_RANDOMNESS: &str = "00-4bf92f3577b34da6a300000000000000-00f067aa0ba902b7-01";

fn tracer(
    sampler: Sampler,
    clock: &ManualClock,
) -> Tracer<SpanArena<4>, &ManualClock, NoopExporter> {
    Tracer::new(
        TracerConfig::new("svc").with_sampler(sampler),
        SpanArena::<4>::new(),
        clock,
        IdGenerator::from_seed([1; 32]),
        NoopExporter,
    )
}

#[test]
fn the_ot_entry_goes_on_untouched() {
    let clock = ManualClock::new(Timestamp::from_unix_nanos(1));
    // An always-on delegate under a sampled parent whose `th` it cannot vouch for: with
    // OTEP 235 the `th` would be rewritten (`th:0`) or erased.
    let t = tracer(Sampler::ALWAYS_ON, &clock);
    let headers = [
        ("traceparent", LOW_RANDOMNESS),
        ("tracestate", "ot=th:8;rv:ffffffffffffff,vendor=x"),
    ];
    let cx = TraceContext::from_headers(&headers[..]).unwrap();
    let span = t.start_server_span("handle", &cx);
    assert!(span.is_recording());
    assert_eq!(span.trace_state(), "ot=th:8;rv:ffffffffffffff,vendor=x");
}

#[test]
fn probability_samplers_read_the_trace_id_and_write_no_threshold() {
    let clock = ManualClock::new(Timestamp::from_unix_nanos(1));
    let t = tracer(Sampler::probability(0.5).into(), &clock);
    // `rv` says keep (all ones), the trace id says drop (all zeros): the trace id counts.
    let headers = [
        ("traceparent", LOW_RANDOMNESS),
        ("tracestate", "ot=rv:ffffffffffffff"),
    ];
    let cx = TraceContext::from_headers(&headers[..]).unwrap();
    let span = t.start_server_span("handle", &cx);
    assert!(!span.is_recording(), "decided on the trace id's randomness");
    // A root that is sampled carries no `ot=th:` of its own.
    let t = tracer(Sampler::probability(1.0).into(), &clock);
    let root = t.start_span("root");
    assert!(root.is_recording());
    assert_eq!(root.trace_state(), "");
}
