//! Jaeger propagation: `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}`
//! and baggage in `uberctx-{key}` headers, parsed and formatted without allocation.
//!
//! Ids are hex of any length up to 32 (trace) or 16 (span) digits, leading zeros
//! optional, never all zero. The parent span id is deprecated: ignored, whatever it
//! holds (as OpenTelemetry's Go, Java and JavaScript propagators do), written as `0`. Flags are one hex byte: bit 0 sampled, bit 1 debug (read only with bit 0 set,
//! as OpenTelemetry's Jaeger propagators do: debug alone is neither).
//! Jaeger clients may URL-encode the header value (`%3A` for `:`): that is decoded.
//! Spec: <https://www.jaegertracing.io/docs/1.x/client-libraries/#propagation-format>.

use core::fmt;

use crate::id::{SpanId, TraceId};
use crate::text::InlineStr;
use crate::wire::b3::parse_hex_into;

/// The context header.
pub const UBER_TRACE_ID: &str = "uber-trace-id";
/// Prefix of the baggage headers (`uberctx-{key}: {value}`).
pub const BAGGAGE_PREFIX: &str = "uberctx-";
/// The longest baggage key read from or written as a `uberctx-` header, in bytes (one
/// limit both ways, found by review: keys of 121 to 128 bytes were read, then not
/// passed on).
pub const MAX_BAGGAGE_KEY_LEN: usize = 128;
/// The longest baggage value with a `+` written as a `uberctx-` header, in bytes once
/// each `+` is written as `%2B` (values without one are written whole).
pub const MAX_ESCAPED_BAGGAGE_VALUE_LEN: usize = 1024;

/// The most `uberctx-` fields one extraction reads: twice the members a bag holds
/// ([`crate::wire::baggage::MAX_MEMBERS`]), room for each given twice. Later ones are
/// counted as dropped unread: a carrier with thousands of them (a message queue's
/// headers have no count limit) costs a walk past them, and this many reads at most.
pub const MAX_BAGGAGE_FIELDS: usize = 2 * crate::wire::baggage::MAX_MEMBERS;

/// Longest header written: 32 + 1 + 16 + 1 + 1 + 1 + 2.
pub const LEN: usize = 54;

/// Why an `uber-trace-id` header was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ParseError {
    /// Not four `:`-separated fields.
    Format,
    /// The trace id is not 1 to 32 hex digits, or is zero.
    TraceId,
    /// The span id is not 1 to 16 hex digits, or is zero.
    SpanId,
    /// The flags are not one or two hex digits.
    Flags,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Format => "uber-trace-id is not trace:span:parent:flags",
            Self::TraceId => "uber-trace-id trace id is not 1 to 32 hex digits (or is zero)",
            Self::SpanId => "uber-trace-id span id is not 1 to 16 hex digits (or is zero)",
            Self::Flags => "uber-trace-id flags are not a hex byte",
        })
    }
}

impl core::error::Error for ParseError {}

/// A parsed `uber-trace-id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    /// The trace id (shorter ids widened with zeros).
    pub trace_id: TraceId,
    /// The sender's span id: our parent.
    pub span_id: SpanId,
    /// The sampled flag (bit 0) was set.
    pub sampled: bool,
    /// The debug flag (bit 1) was set, with the sampled flag.
    pub debug: bool,
}

/// Parses an `uber-trace-id` value.
///
/// # Errors
/// [`ParseError`] names the field that is wrong.
pub fn parse(value: &str) -> Result<Repr, ParseError> {
    // URL-encoded colons are decoded into a small buffer (the value is short).
    let mut buf = [0u8; 128];
    let value = super::trim_ows(value);
    let text: &[u8] = if value.contains('%') {
        let mut n = 0;
        let bytes = value.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = if bytes[i] == b'%'
                && bytes
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.eq_ignore_ascii_case(b"3a"))
            {
                i += 3;
                b':'
            } else {
                i += 1;
                bytes[i - 1]
            };
            *buf.get_mut(n).ok_or(ParseError::Format)? = c;
            n += 1;
        }
        &buf[..n]
    } else {
        value.as_bytes()
    };
    let mut fields = text.split(|&c| c == b':');
    // The parent span id is deprecated and ignored (found by review: an empty or
    // malformed one discarded the context, which the OpenTelemetry SDKs keep).
    let (Some(trace), Some(span), Some(_parent), Some(flags), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(ParseError::Format);
    };
    let mut t = [0u8; 16];
    if !parse_hex_into(trace, 32, &mut t) || !TraceId::from_bytes(t).is_valid() {
        return Err(ParseError::TraceId);
    }
    let mut s = [0u8; 8];
    if !parse_hex_into(span, 16, &mut s) || !SpanId::from_bytes(s).is_valid() {
        return Err(ParseError::SpanId);
    }
    let mut f = [0u8; 1];
    if !parse_hex_into(flags, 2, &mut f) {
        return Err(ParseError::Flags);
    }
    Ok(Repr {
        trace_id: TraceId::from_bytes(t),
        span_id: SpanId::from_bytes(s),
        // Bit 0 is the sampling decision; debug (bit 1) counts only with it, as in
        // OpenTelemetry's Jaeger propagators (Jaeger: debug "should only be set when
        // sampled is also set").
        sampled: f[0] & 0b01 != 0,
        debug: f[0] & 0b11 == 0b11,
    })
}

/// Formats `{32 hex trace id}:{16 hex span id}:0:{01|00|03}` (`03`: debug, which
/// implies sampled, passed on whatever this hop sampled).
pub fn format(trace_id: &TraceId, span_id: &SpanId, sampled: bool, debug: bool) -> InlineStr<LEN> {
    let mut out = heapless::String::new();
    // 53 bytes at most: cannot overflow.
    let _ = out.push_str(&trace_id.to_hex());
    let _ = out.push(':');
    let _ = out.push_str(&span_id.to_hex());
    let _ = out.push_str(match (debug, sampled) {
        // Debug is passed on whatever this hop sampled, with the sampled bit (debug
        // implies sampled), as OpenTelemetry's Jaeger propagators do.
        (true, _) => ":0:03",
        (false, true) => ":0:01",
        (false, false) => ":0:00",
    });
    InlineStr::from_heapless(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (found by review): the value was trimmed of any Unicode whitespace.
    #[test]
    fn only_spaces_and_tabs_are_trimmed() {
        let value = "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1";
        assert!(parse(&std::format!("\t {value} \t")).is_ok());
        for bad in ["\u{a0}", "\u{3000}"] {
            assert!(parse(&std::format!("{value}{bad}")).is_err(), "{bad:?}");
            assert!(parse(&std::format!("{bad}{value}")).is_err(), "{bad:?}");
        }
    }

    fn repr(trace: &str, span: &str, sampled: bool) -> Repr {
        Repr {
            trace_id: TraceId::from_hex(trace).unwrap(),
            span_id: SpanId::from_hex(span).unwrap(),
            sampled,
            debug: false,
        }
    }

    #[test]
    fn vectors_from_the_jaeger_format() {
        // Full-length ids, sampled.
        assert_eq!(
            parse("4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1"),
            Ok(repr(
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "00f067aa0ba902b7",
                true
            ))
        );
        // Leading zeros omitted, 64-bit trace id, not sampled.
        assert_eq!(
            parse("a3ce929d0e0e4736:f067aa0ba902b7:0:0"),
            Ok(repr(
                "0000000000000000a3ce929d0e0e4736",
                "00f067aa0ba902b7",
                false
            ))
        );
        // Only bit 0 samples: debug (2) alone is neither sampled nor debug (it used to
        // be both, and went on as `03`); a parent id is read past.
        assert_eq!(
            parse("1:2:3:2").map(|r| (r.sampled, r.debug)),
            Ok((false, false))
        );
        assert_eq!(
            parse("1:2:3:03").map(|r| (r.sampled, r.debug)),
            Ok((true, true))
        );
        assert_eq!(parse("1:2:3:1").map(|r| r.debug), Ok(false));
        // The deprecated parent id is ignored, whatever it holds.
        for parent in ["", "zz", "4bf92f3577b34da6a3ce929d0e0e4736"] {
            let value = std::format!("1:2:{parent}:1");
            assert_eq!(parse(&value).map(|r| r.sampled), Ok(true), "{value}");
        }
        // URL-encoded colons, as some clients send them.
        assert_eq!(
            parse("4bf92f3577b34da6a3ce929d0e0e4736%3A00f067aa0ba902b7%3A0%3A1"),
            Ok(repr(
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "00f067aa0ba902b7",
                true
            ))
        );
    }

    #[test]
    fn rejects_malformed_values() {
        for (bad, error) in [
            ("", ParseError::Format),
            ("1:2:0", ParseError::Format),
            ("1:2:0:1:5", ParseError::Format),
            ("0:2:0:1", ParseError::TraceId),
            (
                "4bf92f3577b34da6a3ce929d0e0e47360:2:0:1",
                ParseError::TraceId,
            ),
            ("1:0:0:1", ParseError::SpanId),
            ("1:x:0:1", ParseError::SpanId),
            ("1:2:0:100", ParseError::Flags),
            ("1:2:0:", ParseError::Flags),
        ] {
            assert_eq!(parse(bad), Err(error), "{bad:?}");
        }
    }

    #[test]
    fn round_trips() {
        let r = repr("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", true);
        let text = format(&r.trace_id, &r.span_id, r.sampled, r.debug);
        assert_eq!(
            text.as_str(),
            "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:01"
        );
        assert_eq!(parse(&text), Ok(r));
        let unsampled = format(&r.trace_id, &r.span_id, false, false);
        assert_eq!(parse(&unsampled).map(|r| r.sampled), Ok(false));
        let debug = format(&r.trace_id, &r.span_id, true, true);
        assert!(debug.ends_with(":0:03"), "{debug}");
        assert_eq!(
            parse(&debug).map(|r| (r.sampled, r.debug)),
            Ok((true, true))
        );
        // A span the sampler dropped under a debug parent passes the debug flag on.
        let dropped = format(&r.trace_id, &r.span_id, false, true);
        assert!(dropped.ends_with(":0:03"), "{dropped}");
    }

    /// An independent reading of the header's rules (Jaeger's client format, and this
    /// module's documented choices: `%3A` read as `:`, whitespace around the value
    /// trimmed, the parent ignored): `(trace, span, sampled, debug)`.
    fn reference(value: &str) -> Option<(u128, u64, bool, bool)> {
        let mut text = std::string::String::new();
        let mut rest = value.trim_matches([' ', '\t']);
        while let Some(c) = rest.chars().next() {
            if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case("%3a") {
                text.push(':');
                rest = &rest[3..];
            } else {
                text.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        let hex = |s: &str, max: usize| {
            (1..=max).contains(&s.len()) && s.bytes().all(|c| c.is_ascii_hexdigit())
        };
        let fields: std::vec::Vec<&str> = text.split(':').collect();
        let [trace, span, _parent, flags] = fields[..] else {
            return None;
        };
        if !(hex(trace, 32) && hex(span, 16) && hex(flags, 2)) {
            return None;
        }
        let (trace, span) = (
            u128::from_str_radix(trace, 16).ok()?,
            u64::from_str_radix(span, 16).ok()?,
        );
        let flags = u8::from_str_radix(flags, 16).ok()?;
        (trace != 0 && span != 0).then_some((trace, span, flags & 1 != 0, flags & 3 == 3))
    }

    fn seen(repr: &Repr) -> (u128, u64, bool, bool) {
        (
            u128::from_be_bytes(repr.trace_id.to_bytes()),
            u64::from_be_bytes(repr.span_id.to_bytes()),
            repr.sampled,
            repr.debug,
        )
    }

    /// A field as senders get it right and wrong: hex of every length near the
    /// limits, either case, zeros, and noise.
    fn field() -> impl proptest::strategy::Strategy<Value = std::string::String> {
        use proptest::prelude::*;
        prop_oneof![
            "[0-9a-fA-F]{1,3}",
            "[0-9a-fA-F]{15,17}",
            "[0-9a-f]{31,33}",
            "0{1,16}",
            "[0-9a-gA-G %+_]{0,8}",
        ]
    }

    proptest::proptest! {
        /// Whatever a header holds, the parser agrees with the reference: accepted
        /// exactly when the rules allow, with the same ids and flags.
        #[test]
        fn header_agrees_with_the_reference(
            fields in proptest::collection::vec(field(), 1..6),
            separators in proptest::collection::vec(proptest::prop_oneof![":", "%3A", "%3a", "%3"], 5),
            pad in "[ \t]{0,2}",
        ) {
            use proptest::prelude::*;
            let mut value = pad.clone();
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    value.push_str(&separators[i - 1]);
                }
                value.push_str(field);
            }
            value.push_str(&pad);
            prop_assert_eq!(parse(&value).ok().as_ref().map(seen), reference(&value), "{:?}", value);
        }

        /// Four fields, the shape a sender means to write, most often well formed:
        /// every flag value, ids at and past their limits.
        #[test]
        fn four_field_headers_agree_with_the_reference(
            (trace, span, parent) in (field(), field(), field()),
            flags in "[0-9a-fA-F]{1,2}|[0-9a-fA-F ]{0,3}",
            separator in proptest::prop_oneof![6 => proptest::strategy::Just(":"), 1 => proptest::strategy::Just("%3A")],
        ) {
            let value = [trace, span, parent, flags].join(separator);
            proptest::prop_assert_eq!(parse(&value).ok().as_ref().map(seen), reference(&value), "{:?}", value);
        }

        /// What is written reads back: ids, the decision, and a debug flag (which
        /// means sampled).
        #[test]
        fn written_headers_read_back(trace in 1..=u128::MAX, span in 1..=u64::MAX, sampled: bool, debug: bool) {
            let (trace_id, span_id) = (TraceId::from_bytes(trace.to_be_bytes()), SpanId::from_bytes(span.to_be_bytes()));
            let header = format(&trace_id, &span_id, sampled, debug);
            proptest::prop_assert_eq!(
                parse(&header).map(|r| seen(&r)),
                Ok((trace, span, sampled || debug, debug))
            );
        }
    }
}
