//! B3 (single and multiple headers), Jaeger (`uber-trace-id`, `uberctx-*`) and the
//! composite `Propagators` from arbitrary header sets: extraction never panics, and
//! what each propagator injects is valid header text that extracts to the same trace
//! id, span id and sampled flag (B3 and Jaeger carry no tracestate), and baggage
//! within the W3C limits.
//!
//! Input: one header a line, `name:value`, as the `propagation` target reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picotrace::{Baggage, Propagator, Propagators};
use picotrace_fuzz::{assert_baggage, assert_header_value, HeaderLines, Headers, BAGGAGE_BYTES};

/// The longest header value B3 or Jaeger writes: a `b3` of 128-bit trace id, span id,
/// sampled flag and parent span id is 68 characters; `uber-trace-id` at most 55.
const CONTEXT_VALUE_BYTES: usize = 68;

fuzz_target!(|input: HeaderLines| {
    let headers = &input.0[..];
    for list in [
        &[Propagator::B3][..],
        &[Propagator::B3Multi],
        &[Propagator::Jaeger],
        &[
            Propagator::TraceContext,
            Propagator::B3,
            Propagator::Jaeger,
            Propagator::Baggage,
        ],
        &[
            Propagator::Jaeger,
            Propagator::B3Multi,
            Propagator::TraceContext,
        ],
    ] {
        let p = Propagators::new(list);
        let incoming = p.extract_context(headers);
        if let Ok(cx) = &incoming {
            let mut out = Headers::default();
            p.inject_context(cx, &mut out);
            for (name, value) in &out.0 {
                let max = if name == "tracestate" {
                    512
                } else {
                    CONTEXT_VALUE_BYTES
                };
                assert_header_value(name, value, max);
            }
            let again = p
                .extract_context(&out.0[..])
                .expect("what was injected extracts");
            assert_eq!(
                again.span_context.trace_id, cx.span_context.trace_id,
                "{list:?}"
            );
            assert_eq!(
                again.span_context.span_id, cx.span_context.span_id,
                "{list:?}"
            );
            assert_eq!(again.is_sampled(), cx.is_sampled(), "{list:?} {out:?}");
        }
        let bag: Baggage = p.extract_baggage(headers);
        let mut out = Headers::default();
        p.inject_baggage(&bag, &mut out);
        for (name, value) in &out.0 {
            if name == "baggage" {
                assert_baggage(value, BAGGAGE_BYTES);
            } else {
                assert_header_value(name, value, BAGGAGE_BYTES);
            }
        }
    }
});
