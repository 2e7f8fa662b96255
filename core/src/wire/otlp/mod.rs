//! OTLP trace export requests, encoded straight from finished spans: [`proto`]
//! (`application/x-protobuf`) and [`json`] (`application/json`).
//!
//! Both write one `ExportTraceServiceRequest` (opentelemetry-proto,
//! `opentelemetry/proto/collector/trace/v1/trace_service.proto`) holding one
//! `ResourceSpans` with one `ScopeSpans`; the messages inside come from
//! `opentelemetry/proto/trace/v1/trace.proto`, `opentelemetry/proto/common/v1/common.proto`
//! and `opentelemetry/proto/resource/v1/resource.proto`. Spans are read from
//! [`SpanData`](crate::SpanData) views of the arena and never copied into a model.
//!
//! # Splitting
//! `encode_request` fills the caller's buffer with as many spans (from the start of the
//! iterator) as fit in one complete request and says how many it took; the caller sends
//! it and calls again with the rest. A span that does not fit even alone is reported as
//! [`EncodeError::SpanTooLarge`], never cut: the caller skips and counts it. A request
//! is never truncated.
//!
//! # What the encoders add
//! The resource carries `service.name`, the resource's own attributes (a later duplicate
//! key wins; `service.name` and `telemetry.sdk.*` cannot be overridden), and
//! `telemetry.sdk.name = "picotrace"`, `telemetry.sdk.language = "rust"`,
//! `telemetry.sdk.version` = this crate's version.
//!
//! `Span.flags` and `Link.flags` carry the W3C trace flags in bits 0-7, bit 8
//! (`SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`) always, and bit 9
//! (`SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`) when the parent (for a span) or the linked
//! context (for a link) came from another process.
//!
//! ```
//! use picotrace::wire::otlp::proto;
//! use picotrace::{InstrumentationScope, Resource};
//! let resource = Resource::new("checkout");
//! let scope = InstrumentationScope::PICOTRACE;
//! let mut buf = [0u8; 512];
//! // No spans: nothing to send.
//! let done = proto::encode_request(&resource, &scope, core::iter::empty(), &mut buf)?;
//! assert_eq!((done.bytes, done.spans), (0, 0));
//! # Ok::<(), picotrace::wire::otlp::EncodeError>(())
//! ```

use core::fmt;

use crate::export::Resource;
use crate::semconv;
use crate::span::attributes::{ArrayIter, ArrayValue, AttributeValue, KeyValue, Value};

pub mod json;
pub mod proto;

/// What one `encode_request` call wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Encoded {
    /// Bytes of the request at the start of the buffer.
    pub bytes: usize,
    /// How many spans (from the start of the iterator) the request holds.
    pub spans: usize,
}

/// Why a request could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// The buffer cannot hold even a request without spans (or, for the `emit_span` and
    /// `*_from_encoded` functions, everything asked for).
    BufferTooSmall,
    /// The span at `index` of the iterator does not fit in the buffer even alone, in an
    /// otherwise empty request; skip it (and count it as lost).
    SpanTooLarge {
        /// Position of the span in the iterator passed in.
        index: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall => f.write_str("buffer too small for an OTLP request"),
            EncodeError::SpanTooLarge { index } => {
                write!(f, "span {index} does not fit in one OTLP request")
            }
        }
    }
}

impl core::error::Error for EncodeError {}

impl From<crate::wire::traceparent::BufferTooSmall> for EncodeError {
    fn from(_: crate::wire::traceparent::BufferTooSmall) -> Self {
        EncodeError::BufferTooSmall
    }
}

/// `Span.flags` bit 8: the `is_remote` bit (bit 9) is meaningful.
pub const FLAGS_CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
/// `Span.flags` bit 9: the parent (or the linked span) is remote.
pub const FLAGS_CONTEXT_IS_REMOTE: u32 = 0x200;

/// Returns the OTLP `flags` value of a span or link: trace flags plus the remote bits.
#[inline]
pub const fn otlp_flags(trace_flags: u8, remote: bool) -> u32 {
    let remote_bit = if remote { FLAGS_CONTEXT_IS_REMOTE } else { 0 };
    trace_flags as u32 | FLAGS_CONTEXT_HAS_IS_REMOTE | remote_bit
}

/// The SDK name written as `telemetry.sdk.name`.
pub const SDK_NAME: &str = "picotrace";
/// The SDK language written as `telemetry.sdk.language`.
pub const SDK_LANGUAGE: &str = "rust";
/// The SDK version written as `telemetry.sdk.version`.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// An attribute value from either side: recorded ([`AttributeValue`]) or configured
/// ([`Value`], as resources hold them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Any<'a> {
    Str(&'a str),
    Bool(bool),
    I64(i64),
    /// Above `i64::MAX` (configured values only): written as decimal text.
    U64(u64),
    F64(f64),
    Array(AnyArray<'a>),
}

/// An array of scalars, packed in a span or borrowed from a configured slice.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum AnyArray<'a> {
    Packed(ArrayValue<'a>),
    Str(&'a [&'a str]),
    Bool(&'a [bool]),
    I64(&'a [i64]),
    F64(&'a [f64]),
}

impl<'a> AnyArray<'a> {
    pub(crate) fn iter(&self) -> AnyArrayIter<'a> {
        match *self {
            AnyArray::Packed(a) => AnyArrayIter::Packed(a.iter()),
            AnyArray::Str(s) => AnyArrayIter::Str(s.iter()),
            AnyArray::Bool(s) => AnyArrayIter::Bool(s.iter()),
            AnyArray::I64(s) => AnyArrayIter::I64(s.iter()),
            AnyArray::F64(s) => AnyArrayIter::F64(s.iter()),
        }
    }
}

/// Iterator over the elements of an [`AnyArray`].
#[derive(Clone, Debug)]
pub(crate) enum AnyArrayIter<'a> {
    Packed(ArrayIter<'a>),
    Str(core::slice::Iter<'a, &'a str>),
    Bool(core::slice::Iter<'a, bool>),
    I64(core::slice::Iter<'a, i64>),
    F64(core::slice::Iter<'a, f64>),
}

impl<'a> Iterator for AnyArrayIter<'a> {
    type Item = Any<'a>;
    fn next(&mut self) -> Option<Any<'a>> {
        match self {
            AnyArrayIter::Packed(i) => i.next().map(Any::from),
            AnyArrayIter::Str(i) => i.next().map(|s| Any::Str(s)),
            AnyArrayIter::Bool(i) => i.next().map(|&b| Any::Bool(b)),
            AnyArrayIter::I64(i) => i.next().map(|&v| Any::I64(v)),
            AnyArrayIter::F64(i) => i.next().map(|&v| Any::F64(v)),
        }
    }
}

impl<'a> From<AttributeValue<'a>> for Any<'a> {
    #[inline]
    fn from(v: AttributeValue<'a>) -> Self {
        match v {
            AttributeValue::Str(s) => Any::Str(s),
            AttributeValue::Bool(b) => Any::Bool(b),
            AttributeValue::I64(i) => Any::I64(i),
            AttributeValue::F64(f) => Any::F64(f),
            AttributeValue::Array(a) => Any::Array(AnyArray::Packed(a)),
        }
    }
}

impl<'a> From<Value<'a>> for Any<'a> {
    #[inline]
    fn from(v: Value<'a>) -> Self {
        match v {
            Value::Str(s) => Any::Str(s),
            Value::Bool(b) => Any::Bool(b),
            Value::I64(i) => Any::I64(i),
            Value::U64(u) => i64::try_from(u).map_or(Any::U64(u), Any::I64),
            Value::F64(f) => Any::F64(f),
            Value::StrArray(a) => Any::Array(AnyArray::Str(a)),
            Value::BoolArray(a) => Any::Array(AnyArray::Bool(a)),
            Value::I64Array(a) => Any::Array(AnyArray::I64(a)),
            Value::F64Array(a) => Any::Array(AnyArray::F64(a)),
        }
    }
}

/// Returns `true` for keys the SDK writes itself.
fn reserved_resource_key(key: &str) -> bool {
    matches!(
        key,
        semconv::SERVICE_NAME
            | semconv::TELEMETRY_SDK_NAME
            | semconv::TELEMETRY_SDK_LANGUAGE
            | semconv::TELEMETRY_SDK_VERSION
    )
}

/// The attributes the SDK adds last to every resource.
pub(crate) const SDK_ATTRIBUTES: [(&str, &str); 3] = [
    (semconv::TELEMETRY_SDK_NAME, SDK_NAME),
    (semconv::TELEMETRY_SDK_LANGUAGE, SDK_LANGUAGE),
    (semconv::TELEMETRY_SDK_VERSION, SDK_VERSION),
];

/// Returns `true` when the resource's own attribute `kv`, followed by `later` ones, goes
/// on the wire: the SDK does not write its key itself and no later attribute has it.
pub(crate) fn resource_attribute_kept(kv: &KeyValue<'_>, later: &[KeyValue<'_>]) -> bool {
    !reserved_resource_key(kv.key) && !later.iter().any(|l| l.key == kv.key)
}

/// Returns the resource's attributes as they go on the wire (see the module docs).
pub(crate) fn resource_attributes(
    resource: &Resource,
) -> impl Iterator<Item = (&'static str, Any<'static>)> + Clone {
    let own = resource.attributes;
    let service = core::iter::once((semconv::SERVICE_NAME, Any::Str(resource.service_name)));
    let user = own
        .iter()
        .enumerate()
        .filter(move |&(i, kv)| resource_attribute_kept(kv, &own[i + 1..]))
        .map(|(_, kv)| (kv.key, Any::from(kv.value)));
    let sdk = SDK_ATTRIBUTES.map(|(key, value)| (key, Any::Str(value)));
    service.chain(user).chain(sdk)
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyValue;

    #[test]
    fn flags_carry_trace_flags_and_remote_bits() {
        assert_eq!(otlp_flags(0x01, false), 0x101);
        assert_eq!(otlp_flags(0x03, true), 0x303);
        assert_eq!(otlp_flags(0x00, false), 0x100);
    }

    #[test]
    fn resource_attributes_put_sdk_keys_last_and_let_later_duplicates_win() {
        static ATTRS: [KeyValue<'static>; 4] = [
            KeyValue {
                key: "host.name",
                value: Value::Str("a"),
            },
            KeyValue {
                key: "service.name",
                value: Value::Str("ignored"),
            },
            KeyValue {
                key: "host.name",
                value: Value::Str("b"),
            },
            KeyValue {
                key: "telemetry.sdk.name",
                value: Value::Str("ignored"),
            },
        ];
        let resource = Resource {
            service_name: "svc",
            attributes: &ATTRS,
            schema_url: "",
        };
        let got: std::vec::Vec<_> = resource_attributes(&resource).collect();
        assert_eq!(
            got,
            [
                ("service.name", Any::Str("svc")),
                ("host.name", Any::Str("b")),
                ("telemetry.sdk.name", Any::Str("picotrace")),
                ("telemetry.sdk.language", Any::Str("rust")),
                ("telemetry.sdk.version", Any::Str(SDK_VERSION)),
            ]
        );
    }
}
