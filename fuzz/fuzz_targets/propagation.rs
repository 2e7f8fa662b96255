//! Propagation from arbitrary header sets: `TraceContext::from_headers` and
//! `Baggage::from_headers` follow the spec (exactly one valid `traceparent`, names in any
//! case, every `tracestate` and `baggage` field combined in order); what is injected again
//! (from the context, and by the tracer for a server span under it) is within the W3C
//! limits, holds no CR, LF, NUL or other control character, and extracts to the same
//! context and baggage.
//!
//! Input: one header a line, `name:value` (the corpus stays readable; `\n` and `\0`
//! inside a value stand for those bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use picotrace::wire::traceparent::Repr;
use picotrace::{
    Baggage, BaggageBuf, ExtractError, IdGenerator, ManualClock, NoopExporter, SpanArena,
    Timestamp, TraceContext, TraceFlags, TraceState, Tracer, TracerConfig,
};
use picotrace_fuzz::{
    assert_baggage, assert_traceparent, assert_tracestate, HeaderLines, Headers,
    TRACE_FLAGS_KNOWN_V00,
};

fn values<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    let named = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    named.map(|(_, v)| v.as_str()).collect()
}

/// Checks the outgoing headers and returns what they extract to.
fn reextract(out: &Headers) -> (Result<TraceContext, ExtractError>, Baggage) {
    for (name, value) in &out.0 {
        match name.as_str() {
            "traceparent" => assert_traceparent(value),
            "tracestate" => {
                assert!(!value.is_empty(), "an empty tracestate is not sent");
                assert_tracestate(value);
            }
            "baggage" => assert_baggage(value, picotrace_fuzz::BAGGAGE_BYTES),
            other => panic!("unexpected header {other:?}"),
        }
    }
    (
        TraceContext::from_headers(&out.0[..]),
        Baggage::from_headers(&out.0[..]),
    )
}

fuzz_target!(|input: HeaderLines| {
    let headers = &input.0[..];
    let incoming = TraceContext::from_headers(headers);
    let bag: Baggage = Baggage::from_headers(headers);

    // The spec's rules, applied here to the same headers.
    let tp = values(headers, "traceparent");
    let expected = match tp[..] {
        [] => Err(ExtractError::Missing),
        [one] => Repr::parse(one.as_bytes())
            .map_err(ExtractError::from)
            .map(|repr| {
                let mut cx = TraceContext::default();
                cx.span_context.trace_id = repr.trace_id;
                cx.span_context.span_id = repr.parent_id;
                // Version 00's known flags; of a higher version the sampled bit alone.
                let known = if repr.version == 0 {
                    TRACE_FLAGS_KNOWN_V00
                } else {
                    TraceFlags::SAMPLED.bits()
                };
                cx.span_context.flags = TraceFlags::from_bits(repr.flags.bits() & known);
                cx.span_context.is_remote = true;
                cx.trace_state =
                    TraceState::parse_values(values(headers, "tracestate")).unwrap_or_default();
                cx
            }),
        _ => Err(ExtractError::Duplicated),
    };
    assert_eq!(incoming, expected);
    assert_eq!(
        bag,
        BaggageBuf::<8192>::parse_values(values(headers, "baggage"))
    );

    // Inject what was extracted, extract it again.
    let mut out = Headers::default();
    if let Ok(cx) = &incoming {
        cx.to_headers(&mut out);
    }
    bag.to_headers(&mut out);
    let (cx, bag2) = reextract(&out);
    assert_eq!(cx.ok(), incoming.clone().ok());
    assert_eq!(bag2, bag);

    // A server span under the incoming context, injected by the tracer.
    let clock = ManualClock::new(Timestamp::from_unix_nanos(1_700_000_000_000_000_000));
    let tracer = Tracer::new(
        TracerConfig::new("fuzz"),
        SpanArena::<2>::new(),
        &clock,
        IdGenerator::from_seed([1; 32]),
        NoopExporter,
    );
    let span = tracer.start_server_span("server", &incoming);
    let mut out = Headers::default();
    tracer.inject_context(&span, &mut out);
    let (child, _) = reextract(&out);
    let child = child.expect("the tracer always injects a valid traceparent");
    assert_eq!(child.span_context.span_id, span.context().span_id);
    if let Ok(parent) = &incoming {
        assert_eq!(child.span_context.trace_id, parent.span_context.trace_id);
        assert_ne!(child.span_context.span_id, parent.span_context.span_id);
        assert_eq!(child.trace_state, parent.trace_state);
    }
    span.end();
});
