//! OTLP trace export requests, encoded straight from finished spans: [`proto`]
//! (`application/x-protobuf`) and [`json`] (`application/json`).
//!
//! Both write one `ExportTraceServiceRequest` (opentelemetry-proto,
//! `opentelemetry/proto/collector/trace/v1/trace_service.proto`) holding one
//! `ResourceSpans` with one `ScopeSpans`; the messages inside come from
//! `opentelemetry/proto/trace/v1/trace.proto`, `opentelemetry/proto/common/v1/common.proto`
//! and `opentelemetry/proto/resource/v1/resource.proto`. Spans are read from
//! [`SpanData`] views of the arena and never copied into a model.
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

use crate::export::{InstrumentationScope, Resource};
use crate::semconv;
use crate::span::attributes::{ArrayIter, ArrayValue, AttributeValue, KeyValue, Value};
use crate::span::record::SpanData;

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
#[non_exhaustive]
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

/// An OTLP request encoding, for [`encode_in_requests`]: [`Protobuf`] or [`Json`].
pub trait Encoding {
    /// Encodes one request holding as many of `spans` (from the start) as fit in `out`
    /// (see [`proto::encode_request`]). A span too large for `out` is reported as
    /// [`EncodeError::SpanTooLarge`] only once the spans before it have been returned in
    /// requests of their own, so its `index` is 0 ([`encode_in_requests`] counts any
    /// spans before a larger `index` as lost).
    ///
    /// # Errors
    /// As [`proto::encode_request`].
    fn encode_request<'a>(
        &self,
        resource: &Resource,
        scope: &InstrumentationScope,
        spans: impl Iterator<Item = SpanData<'a>> + Clone,
        out: &mut [u8],
    ) -> Result<Encoded, EncodeError>;
}

/// OTLP protobuf (`application/x-protobuf`): [`proto::encode_request`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Protobuf;

/// OTLP JSON (`application/json`): [`json::encode_request`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Json;

impl Encoding for Protobuf {
    #[inline]
    fn encode_request<'a>(
        &self,
        resource: &Resource,
        scope: &InstrumentationScope,
        spans: impl Iterator<Item = SpanData<'a>> + Clone,
        out: &mut [u8],
    ) -> Result<Encoded, EncodeError> {
        proto::encode_request(resource, scope, spans, out)
    }
}

impl Encoding for Json {
    #[inline]
    fn encode_request<'a>(
        &self,
        resource: &Resource,
        scope: &InstrumentationScope,
        spans: impl Iterator<Item = SpanData<'a>> + Clone,
        out: &mut [u8],
    ) -> Result<Encoded, EncodeError> {
        json::encode_request(resource, scope, spans, out)
    }
}

/// Spans [`encode_in_requests`] could not deliver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Undelivered {
    /// Too large for one request even alone (or, when the buffer cannot hold a request
    /// at all, every span).
    pub unencodable: usize,
    /// In requests that `send` could not deliver.
    pub failed: usize,
}

impl Undelivered {
    /// Every span lost.
    pub fn total(&self) -> usize {
        self.unencodable + self.failed
    }
}

/// Splits `spans` into as many complete requests as it takes, each encoded in `buf`
/// with `encoding` and handed to `send(request, spans_in_it)`, which returns `false`
/// when it could not deliver it (its spans are then counted as failed). A span too
/// large for `buf` even alone is skipped and counted, never cut; a buffer too small
/// for any request counts every span. The one splitting loop behind OTLP/HTTP export
/// (either encoding) and firmware frames.
///
/// ```
/// use picotrace::wire::otlp::{encode_in_requests, Protobuf};
/// # use picotrace::{IdGenerator, NoClock, SpanArena, Tracer, TracerConfig};
/// # struct Check;
/// # impl picotrace::SpanExporter for Check {
/// #     fn export(&mut self, batch: &picotrace::SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
/// let mut buf = [0u8; 400]; // room for a few small spans per request
/// let mut requests = 0;
/// let lost = encode_in_requests(&Protobuf, batch.resource, batch.scope, batch.iter(), &mut buf,
///     |request, spans| { requests += 1; true /* sent */ });
/// assert_eq!(lost.total(), 0);
/// assert!(requests > 1);
/// #         Ok(())
/// #     }
/// # }
/// # let tracer = Tracer::new(TracerConfig::new("svc"), SpanArena::<16>::new(), NoClock,
/// #     IdGenerator::from_seed([1; 32]), Check);
/// # for _ in 0..16 { tracer.start_span("a span with a name").end(); }
/// # tracer.flush();
/// ```
pub fn encode_in_requests<'a, I>(
    encoding: &impl Encoding,
    resource: &Resource,
    scope: &InstrumentationScope,
    spans: I,
    buf: &mut [u8],
    mut send: impl FnMut(&[u8], usize) -> bool,
) -> Undelivered
where
    I: Iterator<Item = SpanData<'a>> + Clone,
{
    let mut lost = Undelivered::default();
    let mut rest = spans;
    loop {
        match encoding.encode_request(resource, scope, rest.clone(), buf) {
            // Nothing left (or the iterator ran dry early: a slot was freed under us).
            Ok(Encoded { spans: 0, .. }) => return lost,
            Ok(done) => {
                if !send(buf.get(..done.bytes).unwrap_or_default(), done.spans) {
                    lost.failed += done.spans;
                }
                rest.nth(done.spans - 1);
            }
            Err(EncodeError::SpanTooLarge { index }) => {
                // The spans before it come first in a request of their own (see
                // `Encoding`), so `index` is 0; spans an encoder skipped are counted.
                lost.unencodable += index + 1;
                rest.nth(index);
            }
            Err(EncodeError::BufferTooSmall) => {
                lost.unencodable += rest.count();
                return lost;
            }
        }
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
    // The flags W3C's version 00 defines, as `traceparent` carries them: not B3's debug
    // flag (it rides in an unused bit), nor a bit a context built by hand set (found by
    // review: a parent made with flags 0x05 exported its spans with 0x105).
    let w3c = trace_flags & crate::TraceFlags::KNOWN_V00;
    w3c as u32 | FLAGS_CONTEXT_HAS_IS_REMOTE | remote_bit
}

/// The SDK name written as `telemetry.sdk.name`.
pub const SDK_NAME: &str = "picotrace";
/// The SDK language written as `telemetry.sdk.language`.
pub const SDK_LANGUAGE: &str = "rust";
/// The SDK version written as `telemetry.sdk.version`: this crate's version
/// (`CARGO_PKG_VERSION`, e.g. `0.1.0`).
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
/// on the wire: its key is not empty (an attribute key "MUST be a non-null and
/// non-empty string"), the SDK does not write it itself and no later attribute has it.
pub(crate) fn resource_attribute_kept(kv: &KeyValue<'_>, later: &[KeyValue<'_>]) -> bool {
    !kv.key.is_empty() && !reserved_resource_key(kv.key) && !later.iter().any(|l| l.key == kv.key)
}

/// Returns the resource's attributes as they go on the wire (see the module docs).
pub(crate) fn resource_attributes(
    resource: &Resource,
) -> impl Iterator<Item = (&'static str, Any<'static>)> + Clone {
    let own = resource.attributes;
    let service = core::iter::once((
        semconv::SERVICE_NAME,
        Any::Str(resource.service_name_or_default()),
    ));
    let user = own
        .iter()
        .enumerate()
        .filter(move |&(i, kv)| resource_attribute_kept(kv, &own[i + 1..]))
        .map(|(_, kv)| (kv.key, Any::from(kv.value)));
    let sdk = SDK_ATTRIBUTES.map(|(key, value)| (key, Any::Str(value)));
    service.chain(user).chain(sdk)
}

/// How many of `attributes` never go on the wire for want of a key (an attribute key
/// "MUST be a non-null and non-empty string"): the resource's and the scope's
/// `dropped_attributes_count` ("the number of dropped attributes"). A key given again
/// replaces the earlier value, as `set_attribute` does, and is not counted.
pub(crate) fn dropped_for_empty_keys(attributes: &[KeyValue<'_>]) -> u32 {
    let n = attributes.iter().filter(|kv| kv.key.is_empty()).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Returns the scope's attributes as they go on the wire: OTLP keys are unique and
/// non-empty, so an empty key is left out and a key given again keeps its last value
/// (as the resource's do).
pub(crate) fn scope_attributes(
    scope: &InstrumentationScope,
) -> impl Iterator<Item = (&'static str, Any<'static>)> + Clone {
    let own = scope.attributes;
    own.iter()
        .enumerate()
        .filter(move |&(i, kv)| !kv.key.is_empty() && !own[i + 1..].iter().any(|l| l.key == kv.key))
        .map(|(_, kv)| (kv.key, Any::from(kv.value)))
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::SpanBatch;
    use crate::KeyValue;
    use std::vec::Vec;

    /// Splits the sample batch with `buf_len` bytes; checks each request against the
    /// same spans encoded alone, and returns what was lost and the spans per request.
    fn split(
        encoding: &impl Encoding,
        batch: &SpanBatch<'_>,
        buf_len: usize,
        refuse_request: Option<usize>,
    ) -> (Undelivered, Vec<usize>) {
        let mut buf = std::vec![0u8; buf_len];
        let mut sent = Vec::new();
        let mut requests: Vec<(Vec<u8>, usize)> = Vec::new();
        let lost = encode_in_requests(
            encoding,
            batch.resource,
            batch.scope,
            batch.iter(),
            &mut buf,
            |request, spans| {
                requests.push((request.to_vec(), spans));
                Some(requests.len() - 1) != refuse_request
            },
        );
        // Requests hold consecutive spans in batch order (the too-large skipped).
        let mut next = 0;
        for (request, spans) in &requests {
            let same = |skip: &usize| {
                let mut alone = std::vec![0u8; 1 << 16];
                let spans_alone = batch.iter().skip(*skip).take(*spans);
                let done = encoding
                    .encode_request(batch.resource, batch.scope, spans_alone, &mut alone)
                    .unwrap();
                done.spans == *spans && alone[..done.bytes] == request[..]
            };
            let skip = (next..batch.len()).find(same);
            next = skip.expect("a request is not the next spans of the batch") + spans;
            sent.push(*spans);
        }
        (lost, sent)
    }

    fn every_buffer_size_delivers_or_counts_every_span(encoding: &(impl Encoding + Sync)) {
        test_support::with_sample_batch(|batch| {
            let mut whole = std::vec![0u8; 1 << 16];
            let full = encoding
                .encode_request(batch.resource, batch.scope, batch.iter(), &mut whole)
                .unwrap()
                .bytes;
            let mut saw_splits = false;
            for size in 0..=full {
                let (lost, sent) = split(encoding, batch, size, None);
                let delivered: usize = sent.iter().sum();
                assert_eq!(lost.failed, 0);
                assert_eq!(delivered + lost.unencodable, batch.len(), "size {size}");
                assert_eq!(sent.len() == 1 && lost.unencodable == 0, size == full);
                saw_splits |= sent.len() > 1 && lost.unencodable == 0;
            }
            assert!(saw_splits, "some size splits the batch with nothing lost");
            // Refused requests are counted as failed, the others still delivered.
            let mut size = full;
            while split(encoding, batch, size, None).1.len() < 2 {
                size -= 1;
            }
            let (lost, sent) = split(encoding, batch, size, Some(1));
            assert_eq!(lost.failed, sent[1]);
            assert_eq!(
                lost.total() + sent[0],
                batch.len() - sent[2..].iter().sum::<usize>()
            );
        });
    }

    #[test]
    fn one_splitting_loop_serves_both_encodings() {
        every_buffer_size_delivers_or_counts_every_span(&Protobuf);
        every_buffer_size_delivers_or_counts_every_span(&Json);
    }

    #[test]
    fn flags_carry_trace_flags_and_remote_bits() {
        assert_eq!(otlp_flags(0x01, false), 0x101);
        assert_eq!(otlp_flags(0x03, true), 0x303);
        assert_eq!(otlp_flags(0x00, false), 0x100);
        // Regression (found by review): bits version 00 does not define went out.
        assert_eq!(otlp_flags(0x85, false), 0x101);
        assert_eq!(otlp_flags(0xfe, true), 0x302);
    }

    #[test]
    fn resource_attributes_put_sdk_keys_last_and_let_later_duplicates_win() {
        // Regression: an empty key went on the wire (both encoders).
        static ATTRS: [KeyValue<'static>; 5] = [
            KeyValue {
                key: "",
                value: Value::Str("no key"),
            },
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

    /// The resource spec: with no service name the SDK "MUST" send `unknown_service`
    /// (an empty one used to go out as `service.name=""`).
    #[test]
    fn an_empty_service_name_goes_out_as_unknown_service() {
        let built = Resource {
            service_name: "",
            attributes: &[],
            schema_url: "",
        };
        for resource in [built, Resource::new("")] {
            let first = resource_attributes(&resource).next();
            assert_eq!(first, Some(("service.name", Any::Str("unknown_service"))));
        }
    }

    /// Found by review: a `service.name` among the attributes of a resource with no
    /// service name was replaced by `unknown_service` (the spec falls back to it only
    /// when the name was "not specified"). The field, when set, still wins; a name that
    /// is not a non-empty string is no name.
    #[test]
    fn a_service_name_among_the_attributes_is_used_when_the_field_is_empty() {
        static ATTRS: [KeyValue<'static>; 4] = [
            KeyValue {
                key: "service.name",
                value: Value::Str("first"),
            },
            KeyValue {
                key: "host.name",
                value: Value::Str("h"),
            },
            KeyValue {
                key: "service.name",
                value: Value::Str("checkout"),
            },
            KeyValue {
                key: "service.name",
                value: Value::I64(7),
            },
        ];
        let resource = |service_name, attributes| Resource {
            service_name,
            attributes,
            schema_url: "",
        };
        let first = |r: Resource| resource_attributes(&r).next();
        let name = |s| Some(("service.name", Any::Str(s)));
        // The last string value, as a later duplicate wins for other keys.
        assert_eq!(first(resource("", &ATTRS[..3])), name("checkout"));
        assert_eq!(
            resource("", &ATTRS[..3]).service_name_or_default(),
            "checkout"
        );
        // A later non-string `service.name` is no name: the earlier string one stays.
        assert_eq!(first(resource("", &ATTRS)), name("checkout"));
        assert_eq!(first(resource("svc", &ATTRS)), name("svc"));
        assert_eq!(first(resource("", &ATTRS[1..2])), name("unknown_service"));
        // A blank last one is blank (not the one before it): the std adapter's
        // `OTEL_RESOURCE_ATTRIBUTES` reads `service.name=a,service.name=` the same.
        static BLANKED: [KeyValue<'static>; 2] = [
            KeyValue {
                key: "service.name",
                value: Value::Str("checkout"),
            },
            KeyValue {
                key: "service.name",
                value: Value::Str(" "),
            },
        ];
        assert_eq!(first(resource("", &BLANKED)), name("unknown_service"));
        // Sent once, in both encodings.
        let r = resource("", &ATTRS[..3]);
        let names = resource_attributes(&r)
            .filter(|(k, _)| *k == "service.name")
            .count();
        assert_eq!(names, 1);
        let (mut pb, mut js) = ([0u8; 512], [0u8; 1024]);
        let scope = crate::InstrumentationScope::PICOTRACE;
        let n =
            proto::encode_request_from_encoded(&r, &scope, [&[][..]].into_iter(), &mut pb).unwrap();
        let pb = &pb[..n];
        assert!(pb.windows(8).any(|w| w == b"checkout"), "{pb:?}");
        assert!(!pb.windows(7).any(|w| w == b"unknown"), "{pb:?}");
        let n = json::encode_request_from_encoded(&r, &scope, [&b"{}"[..]].into_iter(), &mut js)
            .unwrap();
        let js = core::str::from_utf8(&js[..n]).unwrap();
        assert!(js.contains("\"stringValue\":\"checkout\""), "{js}");
        assert_eq!(js.matches("service.name").count(), 1, "{js}");
    }
}
