//! OTLP/protobuf: `ExportTraceServiceRequest` as `application/x-protobuf`.
//!
//! Message and field numbers are those of opentelemetry-proto
//! (`opentelemetry/proto/collector/trace/v1/trace_service.proto`,
//! `opentelemetry/proto/trace/v1/trace.proto`, `opentelemetry/proto/common/v1/common.proto`,
//! `opentelemetry/proto/resource/v1/resource.proto`). Length prefixes are minimal (see
//! [`protobuf`](crate::wire::protobuf)) and the output is what a protobuf library would
//! produce: fields in number order, proto3 default values omitted (oneof members of
//! `AnyValue` are always written, as proto3 requires).
//!
//! Each span is encoded twice per request: measured (to decide how many spans fit),
//! then written; one code path does both.
//!
//! ```
//! use picotrace::wire::otlp::proto;
//! use picotrace::{InstrumentationScope, Resource};
//! let (resource, scope) = (Resource::new("checkout"), InstrumentationScope::PICOTRACE);
//! // A request of spans whose `span_len`s are 120 and 80 bytes fits in:
//! let room = proto::request_overhead_len(&resource, &scope)
//!     + proto::span_record_len(120)
//!     + proto::span_record_len(80);
//! assert!(room < 512);
//! ```

use crate::export::{InstrumentationScope, Resource};
use crate::span::record::{Attributes, EventData, LinkData, RawValue, SpanData};
use crate::span::Status;
use crate::wire::protobuf::{
    copy_short, len_field_len, len_varint_len, put_varint, tag_len, varint_len, Message, Writer,
};

use super::{
    dropped_for_empty_keys, otlp_flags, resource_attribute_kept, scope_attributes, Any, AnyArray,
    SDK_ATTRIBUTES,
};
pub use super::{EncodeError, Encoded};
use crate::semconv;

/// Field numbers, by message.
mod field {
    pub const REQUEST_RESOURCE_SPANS: u32 = 1;

    pub const RESOURCE_SPANS_RESOURCE: u32 = 1;
    pub const RESOURCE_SPANS_SCOPE_SPANS: u32 = 2;
    pub const RESOURCE_SPANS_SCHEMA_URL: u32 = 3;
    pub const RESOURCE_ATTRIBUTES: u32 = 1;
    pub const RESOURCE_DROPPED_ATTRIBUTES: u32 = 2;

    pub const SCOPE_SPANS_SCOPE: u32 = 1;
    pub const SCOPE_SPANS_SPANS: u32 = 2;
    pub const SCOPE_SPANS_SCHEMA_URL: u32 = 3;
    pub const SCOPE_NAME: u32 = 1;
    pub const SCOPE_VERSION: u32 = 2;
    pub const SCOPE_ATTRIBUTES: u32 = 3;
    pub const SCOPE_DROPPED_ATTRIBUTES: u32 = 4;

    pub const SPAN_TRACE_ID: u32 = 1;
    pub const SPAN_SPAN_ID: u32 = 2;
    pub const SPAN_TRACE_STATE: u32 = 3;
    pub const SPAN_PARENT_SPAN_ID: u32 = 4;
    pub const SPAN_NAME: u32 = 5;
    pub const SPAN_KIND: u32 = 6;
    pub const SPAN_START_TIME: u32 = 7;
    pub const SPAN_END_TIME: u32 = 8;
    pub const SPAN_ATTRIBUTES: u32 = 9;
    pub const SPAN_DROPPED_ATTRIBUTES: u32 = 10;
    pub const SPAN_EVENTS: u32 = 11;
    pub const SPAN_DROPPED_EVENTS: u32 = 12;
    pub const SPAN_LINKS: u32 = 13;
    pub const SPAN_DROPPED_LINKS: u32 = 14;
    pub const SPAN_STATUS: u32 = 15;
    pub const SPAN_FLAGS: u32 = 16;

    pub const EVENT_TIME: u32 = 1;
    pub const EVENT_NAME: u32 = 2;
    pub const EVENT_ATTRIBUTES: u32 = 3;
    pub const EVENT_DROPPED_ATTRIBUTES: u32 = 4;

    pub const LINK_TRACE_ID: u32 = 1;
    pub const LINK_SPAN_ID: u32 = 2;
    pub const LINK_TRACE_STATE: u32 = 3;
    pub const LINK_ATTRIBUTES: u32 = 4;
    pub const LINK_DROPPED_ATTRIBUTES: u32 = 5;
    pub const LINK_FLAGS: u32 = 6;

    pub const STATUS_MESSAGE: u32 = 2;
    pub const STATUS_CODE: u32 = 3;

    pub const KEY_VALUE_KEY: u32 = 1;
    pub const KEY_VALUE_VALUE: u32 = 2;

    pub const ANY_STRING: u32 = 1;
    pub const ANY_BOOL: u32 = 2;
    pub const ANY_INT: u32 = 3;
    pub const ANY_DOUBLE: u32 = 4;
    pub const ANY_ARRAY: u32 = 5;
    pub const ARRAY_VALUES: u32 = 1;
}

/// Returns the encoded length of one span as a `Span` message body (without tag/length).
pub fn span_len(span: &SpanData<'_>) -> usize {
    SpanMsg(*span).encoded_len()
}

/// Returns the bytes one span takes inside a request: tag, length prefix and body.
#[inline]
pub const fn span_record_len(span_body_len: usize) -> usize {
    len_field_len(field::SCOPE_SPANS_SPANS, span_body_len)
}

/// Writes one span as a `Span` message body; used to pre-encode spans on application
/// threads (see [`encode_request_from_encoded`]). Encodes once: size `out` by
/// experience, and by [`span_len`] after a [`EncodeError::BufferTooSmall`].
///
/// # Errors
/// [`EncodeError::BufferTooSmall`] when `out` is shorter than [`span_len`]; what was
/// written to `out` then is unspecified.
pub fn emit_span(span: &SpanData<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    let mut w = Writer::new(out);
    SpanMsg(*span).encode(&mut w);
    Ok(w.written()?.len())
}

/// Returns the bytes a request needs besides its spans' records ([`span_record_len`]):
/// an upper bound, exact but for up to 8 bytes of length prefixes, valid for requests
/// up to 4 GiB. Callers size batches with it.
pub fn request_overhead_len(resource: &Resource, scope: &InstrumentationScope) -> usize {
    /// A varint holding any length below 2^35 takes at most 5 bytes.
    const MAX_PREFIX: usize = 5;
    let skeleton = Skeleton::new(resource, scope);
    let scope_spans_rest = skeleton.scope_spans_len(0);
    let resource_spans_body = skeleton.resource_spans_rest + 1 + MAX_PREFIX + scope_spans_rest;
    1 + MAX_PREFIX + resource_spans_body
}

/// Encodes one complete `ExportTraceServiceRequest` holding as many spans of `spans`
/// (from the start) as fit in `out`; the caller loops with the rest.
///
/// With no spans at all, writes nothing and returns zero bytes (an empty message is a
/// valid, empty request; there is nothing to send). Bytes of `out` after
/// [`Encoded::bytes`] are unspecified: a span that did not fit may have been partly
/// written there.
///
/// # Errors
/// - [`EncodeError::BufferTooSmall`]: `out` cannot hold a request without spans.
/// - [`EncodeError::SpanTooLarge`] `{ index: 0 }`: the first span does not fit even
///   alone; the caller skips it, counts it, and goes on with the next.
pub fn encode_request<'a>(
    resource: &Resource,
    scope: &InstrumentationScope,
    spans: impl Iterator<Item = SpanData<'a>> + Clone,
    out: &mut [u8],
) -> Result<Encoded, EncodeError> {
    let skeleton = Skeleton::new(resource, scope);
    if spans.clone().next().is_none() {
        return Ok(Encoded { bytes: 0, spans: 0 });
    }
    if skeleton.request_len(0) > out.len() {
        return Err(EncodeError::BufferTooSmall);
    }
    // Each span is encoded once, straight into place after room for the head (request,
    // resource and scope fields); the head is written in front of the spans once their
    // length is known. Measuring every span first would encode each twice. The room
    // kept is the head of a batch of up to 2 MiB (three-byte lengths), not of the
    // longest batch `out` could hold: requests of 16 KiB to 2 MiB, the usual ones, then
    // start at `out[0]` with nothing moved (with the longest head, a 140 KB request in a
    // 4 MiB buffer was moved down by two bytes, all of it). A shorter request is moved
    // down (at most 16 KiB); a longer one up, by the few bytes kept free at the end.
    let tail = skeleton.tail_len();
    let room = out.len() - tail;
    let longest = skeleton.head_len(room);
    let (head_room, slack) = if room < 1 << 21 {
        // Lengths of three bytes at most (every firmware buffer): the longest head.
        (longest, 0)
    } else {
        // The most span bytes whose request still has three-byte lengths throughout.
        let usual = ((1 << 21) - 1usize).saturating_sub(skeleton.request_len(0) + 8);
        let head = skeleton.head_len(usual);
        (head, longest - head)
    };
    let capacity = out.len();
    let mut count = 0;
    let mut spans_len = 0;
    let mut measure = false;
    if let Some(region) = out.get_mut(head_room..room - slack) {
        let mut w = Writer::new(region);
        for span in spans.clone() {
            let before = w.position();
            w.large_message(field::SCOPE_SPANS_SPANS, &SpanMsg(span));
            if !w.fits() {
                // It may fit with the exact head, but not after the room kept for the
                // longest one (a batch just under a varint length boundary).
                measure = skeleton.request_len(w.position()) <= capacity;
                w.rewind(before);
                break;
            }
            count += 1;
        }
        spans_len = w.position();
    }
    if measure {
        return encode_request_measured(&skeleton, spans, out);
    }
    if count == 0 {
        return Err(EncodeError::SpanTooLarge { index: 0 });
    }
    let head = skeleton.head_len(spans_len);
    if head > head_room {
        // Over 2 MiB of spans: up by a few bytes, into the slack kept at the end.
        out.copy_within(head_room..head_room + spans_len, head);
    }
    let start = head_room.saturating_sub(head);
    let end = start + head + spans_len + tail;
    let request = out.get_mut(start..end).ok_or(EncodeError::BufferTooSmall)?;
    let (head_bytes, rest) = request.split_at_mut(head);
    let mut w = Writer::new(head_bytes);
    skeleton.write_head(spans_len, &mut w);
    w.written()?;
    let mut w = Writer::new(rest.get_mut(spans_len..).unwrap_or_default());
    skeleton.write_tail(&mut w);
    w.written()?;
    if start > 0 {
        out.copy_within(start..end, 0);
    }
    Ok(Encoded {
        bytes: end - start,
        spans: count,
    })
}

/// [`encode_request`] measuring every span before writing it: exact to the byte where
/// the one-pass path keeps a few bytes of room for the head.
fn encode_request_measured<'a>(
    skeleton: &Skeleton<'_>,
    spans: impl Iterator<Item = SpanData<'a>> + Clone,
    out: &mut [u8],
) -> Result<Encoded, EncodeError> {
    let mut count = 0;
    let mut spans_len = 0usize;
    for span in spans.clone() {
        let total = spans_len.saturating_add(span_record_len(span_len(&span)));
        if skeleton.request_len(total) > out.len() {
            break;
        }
        spans_len = total;
        count += 1;
    }
    if count == 0 {
        return Err(EncodeError::SpanTooLarge { index: 0 });
    }
    let mut w = skeleton.begin(spans_len, out)?;
    for span in spans.take(count) {
        w.large_message(field::SCOPE_SPANS_SPANS, &SpanMsg(span));
    }
    let bytes = skeleton.end(w)?;
    Ok(Encoded {
        bytes,
        spans: count,
    })
}

/// Builds a request around spans pre-encoded by [`emit_span`]; returns its length.
///
/// With no spans, writes nothing and returns 0, as [`encode_request`] does.
///
/// # Errors
/// [`EncodeError::BufferTooSmall`] when the request with all of `spans` does not fit;
/// nothing is written then.
pub fn encode_request_from_encoded<'b>(
    resource: &Resource,
    scope: &InstrumentationScope,
    spans: impl Iterator<Item = &'b [u8]> + Clone,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let (any, spans_len) = spans.clone().fold((false, 0usize), |(_, sum), s| {
        (true, sum.saturating_add(span_record_len(s.len())))
    });
    if !any {
        return Ok(0);
    }
    let skeleton = Skeleton::new(resource, scope);
    let mut w = skeleton.begin(spans_len, out)?;
    for span in spans {
        w.bytes_field(field::SCOPE_SPANS_SPANS, span);
    }
    skeleton.end(w)
}

/// The request around the spans, measured once.
struct Skeleton<'r> {
    resource: ResourceMsg<'r>,
    scope: ScopeMsg<'r>,
    resource_len: usize,
    scope_len: usize,
    /// The fields of `ResourceSpans` besides its `ScopeSpans`: resource and schema URL.
    resource_spans_rest: usize,
    /// `ScopeSpans.schema_url`'s field (after the spans), if any.
    scope_schema_len: usize,
    /// `ResourceSpans.schema_url`'s field (after the `ScopeSpans`), if any.
    resource_schema_len: usize,
}

/// The bytes of a schema URL field: none for "".
fn schema_url_len(field: u32, url: &str) -> usize {
    if url.is_empty() {
        0
    } else {
        len_field_len(field, url.len())
    }
}

impl<'r> Skeleton<'r> {
    fn new(resource: &'r Resource, scope: &'r InstrumentationScope) -> Self {
        let (resource, scope) = (ResourceMsg(resource), ScopeMsg(scope));
        let resource_len = resource.encoded_len();
        let resource_schema_len =
            schema_url_len(field::RESOURCE_SPANS_SCHEMA_URL, resource.0.schema_url);
        Self {
            resource_len,
            scope_len: scope.encoded_len(),
            resource_spans_rest: len_field_len(field::RESOURCE_SPANS_RESOURCE, resource_len)
                .saturating_add(resource_schema_len),
            scope_schema_len: schema_url_len(field::SCOPE_SPANS_SCHEMA_URL, scope.0.schema_url),
            resource_schema_len,
            resource,
            scope,
        }
    }

    fn scope_spans_len(&self, spans_len: usize) -> usize {
        len_field_len(field::SCOPE_SPANS_SCOPE, self.scope_len)
            .saturating_add(spans_len)
            .saturating_add(self.scope_schema_len)
    }

    fn resource_spans_len(&self, spans_len: usize) -> usize {
        let scope_spans = field_len(
            field::RESOURCE_SPANS_SCOPE_SPANS,
            self.scope_spans_len(spans_len),
        );
        self.resource_spans_rest.saturating_add(scope_spans)
    }

    /// Returns the exact length of a request whose span records take `spans_len` bytes.
    fn request_len(&self, spans_len: usize) -> usize {
        field_len(
            field::REQUEST_RESOURCE_SPANS,
            self.resource_spans_len(spans_len),
        )
    }

    /// The bytes after the span records: the schema URL fields, if any.
    fn tail_len(&self) -> usize {
        self.scope_schema_len + self.resource_schema_len
    }

    /// The bytes before the span records of a request whose records take `spans_len`
    /// bytes; grows with `spans_len`.
    fn head_len(&self, spans_len: usize) -> usize {
        self.request_len(spans_len) - spans_len - self.tail_len()
    }

    /// Checks that a request whose span records take `spans_len` bytes fits in `out`,
    /// and writes it up to its first span record. The writer covers exactly the
    /// request, so nothing past it is ever touched.
    fn begin<'o>(&self, spans_len: usize, out: &'o mut [u8]) -> Result<Writer<'o>, EncodeError> {
        let out = out
            .get_mut(..self.request_len(spans_len))
            .ok_or(EncodeError::BufferTooSmall)?;
        let mut w = Writer::new(out);
        self.write_head(spans_len, &mut w);
        Ok(w)
    }

    /// Writes a request up to its first span record, for records of `spans_len` bytes.
    fn write_head(&self, spans_len: usize, w: &mut Writer<'_>) {
        let scope_spans = self.scope_spans_len(spans_len);
        w.len_prefix(
            field::REQUEST_RESOURCE_SPANS,
            self.resource_spans_len(spans_len),
        );
        w.len_prefix(field::RESOURCE_SPANS_RESOURCE, self.resource_len);
        self.resource.encode(w);
        w.len_prefix(field::RESOURCE_SPANS_SCOPE_SPANS, scope_spans);
        w.len_prefix(field::SCOPE_SPANS_SCOPE, self.scope_len);
        self.scope.encode(w);
    }

    /// Writes the fields after the span records: the end of `ScopeSpans`, then of
    /// `ResourceSpans`.
    fn write_tail(&self, w: &mut Writer<'_>) {
        string_unless_empty(w, field::SCOPE_SPANS_SCHEMA_URL, self.scope.0.schema_url);
        string_unless_empty(
            w,
            field::RESOURCE_SPANS_SCHEMA_URL,
            self.resource.0.schema_url,
        );
    }

    /// Writes the rest of the request after the span records; returns its length.
    fn end(&self, mut w: Writer<'_>) -> Result<usize, EncodeError> {
        self.write_tail(&mut w);
        // The writer covers exactly the request as measured. It comes out shorter or
        // longer only if the spans changed between measuring and writing (an iterator
        // whose clones disagree); refuse to send that.
        match w.written() {
            Ok(bytes) if w.remaining() == 0 => Ok(bytes.len()),
            _ => Err(EncodeError::BufferTooSmall),
        }
    }
}

/// [`len_field_len`] that saturates instead of overflowing.
fn field_len(field: u32, len: usize) -> usize {
    len.saturating_add(tag_len(field) + len_varint_len(len))
}

/// `Resource`: its attributes.
struct ResourceMsg<'r>(&'r Resource);

impl Message for ResourceMsg<'_> {
    fn encode(&self, w: &mut Writer<'_>) {
        // `resource_attributes`, unrolled: smaller than its chained iterators.
        let resource = self.0;
        let attribute = |w: &mut Writer<'_>, key: &str, value| {
            key_value(w, field::RESOURCE_ATTRIBUTES, key.as_bytes(), value)
        };
        attribute(
            w,
            semconv::SERVICE_NAME,
            Any::Str(resource.service_name_or_default()),
        );
        let mut own = resource.attributes;
        while let Some((kv, later)) = own.split_first() {
            if resource_attribute_kept(kv, later) {
                attribute(w, kv.key, kv.value.into());
            }
            own = later;
        }
        for (key, value) in SDK_ATTRIBUTES {
            attribute(w, key, Any::Str(value));
        }
        let dropped = dropped_for_empty_keys(resource.attributes);
        uint_unless_zero(w, field::RESOURCE_DROPPED_ATTRIBUTES, u64::from(dropped));
    }
}

/// `InstrumentationScope`: name, version and attributes.
struct ScopeMsg<'r>(&'r InstrumentationScope);

impl Message for ScopeMsg<'_> {
    fn encode(&self, w: &mut Writer<'_>) {
        string_unless_empty(w, field::SCOPE_NAME, self.0.name);
        string_unless_empty(w, field::SCOPE_VERSION, self.0.version);
        for (key, value) in scope_attributes(self.0) {
            key_value(w, field::SCOPE_ATTRIBUTES, key.as_bytes(), value);
        }
        let dropped = dropped_for_empty_keys(self.0.attributes);
        uint_unless_zero(w, field::SCOPE_DROPPED_ATTRIBUTES, u64::from(dropped));
    }
}

/// `Span`.
struct SpanMsg<'a>(SpanData<'a>);

impl Message for SpanMsg<'_> {
    fn encode(&self, w: &mut Writer<'_>) {
        let span = &self.0;
        let cx = span.span_context();
        // Fixed-size runs of fields are stored with one bounds check each.
        w.fill(ID_FIELDS_LEN, |d| {
            let d = put_len_field(d, field::SPAN_TRACE_ID, cx.trace_id.as_bytes());
            put_len_field(d, field::SPAN_SPAN_ID, cx.span_id.as_bytes());
        });
        string_unless_empty(w, field::SPAN_TRACE_STATE, span.trace_state());
        if let Some(parent) = span.parent_span_id() {
            w.fill(PARENT_FIELD_LEN, |d| {
                put_len_field(d, field::SPAN_PARENT_SPAN_ID, parent.as_bytes());
            });
        }
        bytes_unless_empty(w, field::SPAN_NAME, span.name_bytes());
        let kind = span.kind().otlp_value();
        let (start, end) = (
            span.start_time().as_unix_nanos(),
            span.end_time().as_unix_nanos(),
        );
        if start != 0 && end != 0 {
            // The usual span: kind (1 to 5, never the default 0), start and end together.
            w.fill(KIND_AND_TIMES_LEN, |d| {
                if let Some(([tag, value], d)) = d.split_first_chunk_mut() {
                    (*tag, *value) = (varint_tag(field::SPAN_KIND), kind);
                    let d = put_fixed64(d, field::SPAN_START_TIME, start);
                    put_fixed64(d, field::SPAN_END_TIME, end);
                }
            });
        } else {
            uint_unless_zero(w, field::SPAN_KIND, u64::from(kind));
            fixed64_unless_zero(w, field::SPAN_START_TIME, start);
            fixed64_unless_zero(w, field::SPAN_END_TIME, end);
        }
        key_values(w, field::SPAN_ATTRIBUTES, span.attributes());
        uint_unless_zero(
            w,
            field::SPAN_DROPPED_ATTRIBUTES,
            u64::from(span.dropped_attributes_count()),
        );
        for event in span.events() {
            w.message(field::SPAN_EVENTS, &EventMsg(event));
        }
        uint_unless_zero(
            w,
            field::SPAN_DROPPED_EVENTS,
            u64::from(span.dropped_events_count()),
        );
        for link in span.links() {
            w.message(field::SPAN_LINKS, &LinkMsg(link));
        }
        uint_unless_zero(
            w,
            field::SPAN_DROPPED_LINKS,
            u64::from(span.dropped_links_count()),
        );
        let status = span.status();
        if status != Status::Unset {
            w.message(field::SPAN_STATUS, &StatusMsg(status));
        }
        w.fixed32_field(
            field::SPAN_FLAGS,
            otlp_flags(cx.flags.bits(), span.parent_is_remote()),
        )
    }
}

/// Trace id and span id fields: tag, length and bytes each.
const ID_FIELDS_LEN: usize = 2 + 16 + 2 + 8;
/// The parent span id field.
const PARENT_FIELD_LEN: usize = 2 + 8;
/// Kind (a one-byte enum), start and end time fields.
const KIND_AND_TIMES_LEN: usize = 2 + 9 + 9;

/// The one-byte tag of length-delimited field `field` (1 to 15).
const fn len_tag(field: u32) -> u8 {
    (field << 3) as u8 | 2
}

/// The one-byte tag of varint field `field` (1 to 15).
const fn varint_tag(field: u32) -> u8 {
    (field << 3) as u8
}

/// Writes `bytes` (shorter than 128) as length-delimited field `field` (1 to 15) at the
/// start of `dst`, and returns what follows. Writes nothing when `dst` is too short.
#[inline]
fn put_len_field<'d>(dst: &'d mut [u8], field: u32, bytes: &[u8]) -> &'d mut [u8] {
    match dst.split_at_mut_checked(2 + bytes.len()) {
        Some((here, rest)) => {
            if let Some(([tag, len], body)) = here.split_first_chunk_mut() {
                (*tag, *len) = (len_tag(field), bytes.len() as u8);
                copy_short(body, bytes);
            }
            rest
        }
        None => &mut [],
    }
}

/// Writes `v` as `fixed64` field `field` (1 to 15) at the start of `dst`, and returns
/// what follows. Writes nothing when `dst` is too short.
#[inline]
fn put_fixed64(dst: &mut [u8], field: u32, v: u64) -> &mut [u8] {
    match dst.split_first_chunk_mut::<9>() {
        Some((here, rest)) => {
            here[0] = (field << 3) as u8 | 1;
            here[1..].copy_from_slice(&v.to_le_bytes());
            rest
        }
        None => &mut [],
    }
}

/// `Span.Event`.
struct EventMsg<'a>(EventData<'a>);

impl Message for EventMsg<'_> {
    fn encode(&self, w: &mut Writer<'_>) {
        let event = &self.0;
        fixed64_unless_zero(w, field::EVENT_TIME, event.time().as_unix_nanos());
        bytes_unless_empty(w, field::EVENT_NAME, event.name_bytes());
        key_values(w, field::EVENT_ATTRIBUTES, event.attributes());
        uint_unless_zero(
            w,
            field::EVENT_DROPPED_ATTRIBUTES,
            u64::from(event.dropped_attributes_count()),
        )
    }
}

/// `Span.Link`.
struct LinkMsg<'a>(LinkData<'a>);

impl Message for LinkMsg<'_> {
    fn encode(&self, w: &mut Writer<'_>) {
        let link = &self.0;
        let cx = link.span_context();
        w.bytes_field(field::LINK_TRACE_ID, cx.trace_id.as_bytes());
        w.bytes_field(field::LINK_SPAN_ID, cx.span_id.as_bytes());
        string_unless_empty(w, field::LINK_TRACE_STATE, link.trace_state());
        key_values(w, field::LINK_ATTRIBUTES, link.attributes());
        uint_unless_zero(
            w,
            field::LINK_DROPPED_ATTRIBUTES,
            u64::from(link.dropped_attributes_count()),
        );
        w.fixed32_field(field::LINK_FLAGS, otlp_flags(cx.flags.bits(), cx.is_remote))
    }
}

/// `Status`: message (Error only), then code.
struct StatusMsg<'a>(Status<'a>);

impl Message for StatusMsg<'_> {
    fn encode(&self, w: &mut Writer<'_>) {
        if let Status::Error { description } = self.0 {
            string_unless_empty(w, field::STATUS_MESSAGE, description);
        }
        uint_unless_zero(w, field::STATUS_CODE, u64::from(self.0.otlp_code()))
    }
}

/// `KeyValue`.
struct KeyValueMsg<'a>(&'a [u8], Any<'a>);

impl Message for KeyValueMsg<'_> {
    fn encode(&self, w: &mut Writer<'_>) {
        bytes_unless_empty(w, field::KEY_VALUE_KEY, self.0);
        w.message(field::KEY_VALUE_VALUE, &AnyMsg(self.1))
    }
}

/// `AnyValue`: a oneof, so its member is written even when it holds a default value.
struct AnyMsg<'a>(Any<'a>);

impl Message for AnyMsg<'_> {
    fn encode(&self, w: &mut Writer<'_>) {
        match self.0 {
            Any::Str(s) => w.string_field(field::ANY_STRING, s),
            Any::Bool(b) => w.bool_field(field::ANY_BOOL, b),
            Any::I64(i) => w.int64_field(field::ANY_INT, i),
            Any::U64(u) => {
                let mut digits = [0u8; 20];
                w.string_field(
                    field::ANY_STRING,
                    crate::span::record::decimal(u, &mut digits),
                );
            }
            Any::F64(f) => w.double_field(field::ANY_DOUBLE, f),
            Any::Array(a) => w.message(field::ANY_ARRAY, &ArrayMsg(a)),
        }
    }
}

/// `ArrayValue`.
struct ArrayMsg<'a>(AnyArray<'a>);

impl Message for ArrayMsg<'_> {
    fn encode(&self, w: &mut Writer<'_>) {
        for value in self.0.iter() {
            w.message(field::ARRAY_VALUES, &AnyMsg(value));
        }
    }
}

/// Writes recorded attributes as repeated `KeyValue` field `field`.
#[cfg_attr(not(target_os = "none"), inline)]
/// A span's, event's or link's attributes. Keys and strings are copied as stored: they
/// were `&str` when recorded, so they are not checked for UTF-8 again.
fn key_values(w: &mut Writer<'_>, field: u32, mut attributes: Attributes<'_>) {
    while let Some((key, value)) = attributes.next_raw() {
        match value {
            RawValue::Text(text) => text_key_value(w, field, key, text),
            RawValue::Other(value) => key_value(w, field, key, value.into()),
        }
    }
}

/// Writes a `KeyValue` field whose lengths all take one byte (the usual attribute: the
/// whole field under 130 bytes), with one bounds check: its `AnyValue` is `head` then
/// `tail` (a string's tag and length, then its text; or a whole scalar). Returns
/// `false`, having written nothing, when a length would take more than a byte or the
/// key is empty (an empty key is left out, not written empty).
#[inline]
fn short_key_value(w: &mut Writer<'_>, field: u32, key: &[u8], head: &[u8], tail: &[u8]) -> bool {
    let value_len = head.len() + tail.len();
    let body_len = 2 + key.len() + 2 + value_len;
    if field > 15 || key.is_empty() || body_len >= 0x80 {
        return false;
    }
    w.fill(2 + body_len, |d| {
        if let Some(([tag, len], d)) = d.split_first_chunk_mut() {
            (*tag, *len) = (len_tag(field), body_len as u8);
            let d = put_len_field(d, field::KEY_VALUE_KEY, key);
            if let Some(([tag, len], d)) = d.split_first_chunk_mut() {
                (*tag, *len) = (len_tag(field::KEY_VALUE_VALUE), value_len as u8);
                if let Some((h, t)) = d.split_at_mut_checked(head.len()) {
                    copy_short(h, head);
                    copy_short(t, tail);
                }
            }
        }
    });
    true
}

/// A boolean, integer or double `AnyValue` body, encoded (at most a tag and ten bytes).
fn scalar_any(value: &Any<'_>) -> Option<([u8; 11], usize)> {
    let mut out = [0; 11];
    let len = match *value {
        Any::Bool(b) => {
            out[..2].copy_from_slice(&[varint_tag(field::ANY_BOOL), u8::from(b)]);
            2
        }
        Any::I64(i) => {
            out[0] = varint_tag(field::ANY_INT);
            let len = varint_len(i as u64);
            put_varint(out.get_mut(1..1 + len)?, i as u64);
            1 + len
        }
        Any::F64(f) => {
            out[0] = (field::ANY_DOUBLE << 3) as u8 | 1;
            out[1..9].copy_from_slice(&f.to_bits().to_le_bytes());
            9
        }
        _ => return None,
    };
    Some((out, len))
}

/// A `KeyValue` field. Its lengths are worked out before writing (no length to patch,
/// no body to move) unless the value is an array or a `u64` written as decimal text.
fn key_value(w: &mut Writer<'_>, field: u32, key: &[u8], value: Any<'_>) {
    match value {
        Any::Str(s) => text_key_value(w, field, key, s.as_bytes()),
        Any::U64(_) | Any::Array(_) => w.message(field, &KeyValueMsg(key, value)),
        Any::Bool(_) | Any::I64(_) | Any::F64(_) => {
            if let Some((any, len)) = scalar_any(&value) {
                let any = any.get(..len).unwrap_or_default();
                if !short_key_value(w, field, key, any, &[]) {
                    key_value_head(w, field, key, any.len());
                    w.raw(any);
                }
            }
        }
    }
}

/// A `KeyValue` with a string value.
fn text_key_value(w: &mut Writer<'_>, field: u32, key: &[u8], text: &[u8]) {
    let head = [len_tag(field::ANY_STRING), text.len() as u8];
    if !short_key_value(w, field, key, &head, text) {
        key_value_head(w, field, key, len_field_len(field::ANY_STRING, text.len()));
        w.bytes_field(field::ANY_STRING, text);
    }
}

/// A `KeyValue` field up to its `AnyValue` body of `value_len` bytes.
fn key_value_head(w: &mut Writer<'_>, field: u32, key: &[u8], value_len: usize) {
    let key_len = if key.is_empty() {
        0
    } else {
        len_field_len(field::KEY_VALUE_KEY, key.len())
    };
    w.len_prefix(
        field,
        key_len + len_field_len(field::KEY_VALUE_VALUE, value_len),
    );
    bytes_unless_empty(w, field::KEY_VALUE_KEY, key);
    w.len_prefix(field::KEY_VALUE_VALUE, value_len);
}

fn string_unless_empty(w: &mut Writer<'_>, field: u32, s: &str) {
    bytes_unless_empty(w, field, s.as_bytes())
}

fn bytes_unless_empty(w: &mut Writer<'_>, field: u32, bytes: &[u8]) {
    if !bytes.is_empty() {
        w.bytes_field(field, bytes)
    }
}

fn uint_unless_zero(w: &mut Writer<'_>, field: u32, v: u64) {
    if v != 0 {
        w.uint64_field(field, v)
    }
}

fn fixed64_unless_zero(w: &mut Writer<'_>, field: u32, v: u64) {
    if v != 0 {
        w.fixed64_field(field, v)
    }
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::*;
    use crate::export::SpanBatch;
    use crate::wire::otlp::test_support::{
        fields, len_field, span_bodies, with_sample_batch, Field, T0,
    };

    fn emitted(span: &SpanData<'_>) -> Vec<u8> {
        let mut buf = std::vec![0xa5; span_len(span) + 8];
        let n = emit_span(span, &mut buf).unwrap();
        assert_eq!(n, span_len(span), "span_len is exact");
        assert!(buf[n..].iter().all(|&b| b == 0xa5), "nothing past the span");
        buf.truncate(n);
        buf
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn span_body_matches_hand_encoding() {
        with_sample_batch(|batch| {
            let span = batch.iter().find(|s| s.name() == "render").unwrap();
            let cx = span.span_context();
            let parent = span.parent_span_id().unwrap();
            let mut want: Vec<u8> = Vec::new();
            want.extend([0x0a, 16]);
            want.extend(cx.trace_id.as_bytes());
            want.extend([0x12, 8]);
            want.extend(cx.span_id.as_bytes());
            want.extend([0x22, 8]);
            want.extend(parent.as_bytes());
            want.extend([0x2a, 6]);
            want.extend(b"render");
            want.extend([0x30, 1]); // kind internal
            want.push(0x39);
            want.extend((T0 + 11_000_000).to_le_bytes());
            want.push(0x41);
            want.extend((T0 + 14_000_000).to_le_bytes());
            // attribute tags = ["a", "b"]
            #[rustfmt::skip]
            want.extend([
                0x4a, 0x14,
                0x0a, 0x04, b't', b'a', b'g', b's',
                0x12, 0x0c, 0x2a, 0x0a,
                0x0a, 0x03, 0x0a, 0x01, b'a',
                0x0a, 0x03, 0x0a, 0x01, b'b',
            ]);
            // link to 1111…/2222… (sampled, remote) with tracestate and one attribute
            want.extend([0x6a, 0x43]);
            want.extend([0x0a, 16]);
            want.extend([0x11; 16]);
            want.extend([0x12, 8]);
            want.extend([0x22; 8]);
            want.extend([0x1a, 10]);
            want.extend(b"vendor=abc");
            want.extend([0x22, 0x14, 0x0a, 0x09]);
            want.extend(b"link.kind");
            want.extend([0x12, 0x07, 0x0a, 0x05]);
            want.extend(b"cause");
            want.extend([0x35, 0x01, 0x03, 0x00, 0x00]); // flags: sampled, has is_remote, remote
                                                         // flags: sampled | random, parent local
            want.extend([0x85, 0x01, 0x03, 0x01, 0x00, 0x00]);
            assert_eq!(emitted(&span), want);
        });
    }

    #[rustfmt::skip]
    #[test]
    fn any_values_are_written_even_when_default() {
        let cases: &[(Any<'_>, &[u8], &str)] = &[
            (Any::Str(""), &[0x0a, 0x00], "empty string is still a string"),
            (Any::Bool(false), &[0x10, 0x00], "false is still a bool"),
            (Any::I64(0), &[0x18, 0x00], "zero is still an int"),
            (Any::I64(-1), &[0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], "negative int64 takes ten bytes"),
            (Any::F64(1.5), &[0x21, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f], "double is fixed64"),
            (Any::F64(f64::NAN), &[0x21, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f], "NaN passes through"),
            (Any::Array(AnyArray::I64(&[1, 2])), &[0x2a, 0x08, 0x0a, 0x02, 0x18, 0x01, 0x0a, 0x02, 0x18, 0x02], "array of AnyValue"),
            (Any::Array(AnyArray::Bool(&[])), &[0x2a, 0x00], "empty array is present"),
            (Any::U64(u64::MAX), b"\x0a\x1418446744073709551615", "u64 above i64::MAX is its decimal text"),
        ];
        for &(value, bytes, why) in cases {
            let msg = AnyMsg(value);
            let mut buf = [0xa5; 32];
            let mut w = Writer::new(&mut buf);
            msg.encode(&mut w);
            assert_eq!(w.written(), Ok(bytes), "{why}");
            assert_eq!(msg.encoded_len(), bytes.len(), "{why}");
        }
    }

    #[test]
    fn status_is_code_and_error_message() {
        let enc = |s: Status<'_>| {
            let mut buf = [0u8; 16];
            let mut w = Writer::new(&mut buf);
            StatusMsg(s).encode(&mut w);
            w.written().unwrap().to_vec()
        };
        assert_eq!(enc(Status::Ok), [0x18, 0x01]);
        assert_eq!(
            enc(Status::Error { description: "x" }),
            [0x12, 0x01, b'x', 0x18, 0x02]
        );
        assert_eq!(enc(Status::Error { description: "" }), [0x18, 0x02]);
    }

    fn whole_request(batch: &SpanBatch<'_>) -> Vec<u8> {
        let mut buf = std::vec![0xa5; 4096];
        let done = encode_request(batch.resource, batch.scope, batch.iter(), &mut buf).unwrap();
        assert_eq!(done.spans, batch.len());
        assert!(
            buf[done.bytes..].iter().all(|&b| b == 0xa5),
            "nothing past the request"
        );
        buf.truncate(done.bytes);
        buf
    }

    #[test]
    fn request_envelope_holds_resource_scope_and_every_span() {
        with_sample_batch(|batch| {
            let request = whole_request(batch);
            let bodies = span_bodies(&request);
            let want: Vec<_> = batch.iter().map(|s| emitted(&s)).collect();
            assert_eq!(bodies, want);

            let top = fields(&request);
            let rs = fields(len_field(&top[0], 1).unwrap());
            let resource = fields(len_field(&rs[0], 1).unwrap());
            let kv: Vec<_> = resource
                .iter()
                .map(|f| fields(len_field(f, 1).unwrap()))
                .collect();
            assert_eq!(kv.len(), 4, "service.name + 3 sdk attributes");
            assert_eq!(kv[0][0], Field::Len(1, b"service.name"));
            assert_eq!(
                fields(len_field(&kv[0][1], 2).unwrap()),
                [Field::Len(1, b"checkout")]
            );
            assert_eq!(kv[1][0], Field::Len(1, b"telemetry.sdk.name"));
            let ss = fields(len_field(&rs[1], 2).unwrap());
            assert_eq!(
                fields(len_field(&ss[0], 1).unwrap()),
                [Field::Len(1, b"shop.http"), Field::Len(2, b"1.4.0")]
            );

            // The request built from pre-encoded spans is byte-identical.
            let mut again = std::vec![0xa5; request.len()];
            let n = encode_request_from_encoded(
                batch.resource,
                batch.scope,
                want.iter().map(|v| v.as_slice()),
                &mut again,
            )
            .unwrap();
            assert_eq!(&again[..n], &request[..]);
            assert_eq!(
                encode_request_from_encoded(
                    batch.resource,
                    batch.scope,
                    want.iter().map(|v| v.as_slice()),
                    &mut again[..n - 1],
                ),
                Err(EncodeError::BufferTooSmall)
            );
        });
    }

    #[test]
    fn span_fields_and_flags_decode_as_recorded() {
        with_sample_batch(|batch| {
            let db = batch.iter().find(|s| s.name() == "query_database").unwrap();
            let body = emitted(&db);
            let f = fields(&body);
            assert!(f.contains(&Field::Varint(6, 3)), "kind client");
            assert!(f.contains(&Field::Fixed64(7, T0 + 1_000_000)));
            assert!(f.contains(&Field::Fixed64(8, T0 + 10_800_000)));
            assert_eq!(f.last(), Some(&Field::Fixed32(16, 0x103)));
            let status = f.iter().find_map(|x| len_field(x, 15)).unwrap();
            assert_eq!(
                status,
                [0x12, 7, b't', b'i', b'm', b'e', b'o', b'u', b't', 0x18, 2]
            );
            let event = fields(f.iter().find_map(|x| len_field(x, 11)).unwrap());
            assert_eq!(event[0], Field::Fixed64(1, T0 + 3_500_000));
            assert_eq!(event[1], Field::Len(2, b"exception"));
            let numbers: Vec<u32> = f
                .iter()
                .map(|x| match *x {
                    Field::Varint(n, _)
                    | Field::Fixed64(n, _)
                    | Field::Fixed32(n, _)
                    | Field::Len(n, _) => n,
                })
                .collect();
            assert!(
                numbers.windows(2).all(|w| w[0] <= w[1]),
                "fields in number order"
            );
            assert!(!numbers.contains(&3), "no empty trace_state");
            assert!(!numbers.contains(&10), "no zero dropped count");

            let root = batch.iter().find(|s| s.parent_span_id().is_none()).unwrap();
            let body = emitted(&root);
            let f = fields(&body);
            assert!(
                !f.iter().any(|x| len_field(x, 4).is_some()),
                "root has no parent id"
            );
            assert!(f.contains(&Field::Len(15, &[0x18, 1])), "status Ok");
        });
    }

    #[test]
    fn splitting_puts_every_span_in_exactly_one_complete_request() {
        with_sample_batch(|batch| {
            let full = whole_request(batch).len();
            let all: Vec<_> = batch.iter().map(|s| emitted(&s)).collect();
            let skeleton = Skeleton::new(batch.resource, batch.scope);
            let largest = all.iter().map(|b| span_record_len(b.len())).max().unwrap();
            for size in skeleton.request_len(largest)..=full + 2 {
                let mut buf = std::vec![0xa5; size];
                let mut seen = Vec::new();
                let mut requests = 0;
                let mut rest = batch.iter();
                while rest.clone().next().is_some() {
                    let done = encode_request(batch.resource, batch.scope, rest.clone(), &mut buf)
                        .unwrap_or_else(|e| panic!("size {size}: {e}"));
                    assert!(done.spans > 0 && done.bytes <= size);
                    seen.extend(span_bodies(&buf[..done.bytes]));
                    requests += 1;
                    for _ in 0..done.spans {
                        rest.next();
                    }
                }
                assert_eq!(seen, all, "size {size}");
                assert_eq!(requests == 1, size >= full, "size {size}");
            }
        });
    }

    #[test]
    fn one_pass_encoding_packs_as_measuring_does_across_length_prefix_boundaries() {
        use crate::wire::otlp::test_support::hand_span;
        // Tiny spans, so that the scope's length prefix grows from one byte to two
        // within the batch: the one-pass path keeps room for the longer head and must
        // fall back to measuring where only the exact head lets a span in.
        let slots: Vec<_> = (1..=8u8)
            .map(|i| hand_span(i, i, None, "s", (0, 1), |_| {}))
            .collect();
        let spans = slots.iter().map(|s| s.data());
        let resource = Resource::new("r");
        let scope = InstrumentationScope::new("", "");
        let skeleton = Skeleton::new(&resource, &scope);
        let full = skeleton.request_len(spans.clone().map(|s| span_record_len(span_len(&s))).sum());
        for size in skeleton.request_len(0)..=full + 2 {
            let (mut a, mut b) = (std::vec![0xa5; size], std::vec![0x5a; size]);
            let one_pass = encode_request(&resource, &scope, spans.clone(), &mut a);
            let measured = encode_request_measured(&skeleton, spans.clone(), &mut b);
            assert_eq!(one_pass, measured, "size {size}");
            if let Ok(done) = one_pass {
                assert_eq!(a[..done.bytes], b[..done.bytes], "size {size}");
            }
        }
    }

    #[test]
    fn requests_in_a_large_buffer_start_at_the_front_as_measured_ones_do() {
        use crate::wire::otlp::test_support::hand_span;
        // Buffers over 2 MiB: the head is first sized for three-byte lengths. Requests
        // under 16 KiB move down, those of 16 KiB to 2 MiB stay where they were
        // written, longer ones move up into the slack; each must be the measured one.
        let name = "n".repeat(150);
        let slots: Vec<_> = (0..12_000u32)
            .map(|i| {
                hand_span(
                    1 + (i % 200) as u8,
                    1 + (i / 200) as u8,
                    Some(9),
                    &name,
                    (0, 1),
                    |_| {},
                )
            })
            .collect();
        let resource = Resource::new("r");
        let scope = InstrumentationScope::PICOTRACE;
        let skeleton = Skeleton::new(&resource, &scope);
        let (mut a, mut b) = (std::vec![0xa5; 5 << 20], std::vec![0x5a; 5 << 20]);
        for n in [1, 60, 100, 1_000, 11_500, 12_000] {
            let spans = slots[..n].iter().map(|s| s.data());
            let records: usize = spans.clone().map(|s| span_record_len(span_len(&s))).sum();
            let full = skeleton.request_len(records);
            // One to three bytes short: the last span does not fit with the longer head.
            for size in [a.len(), full, full + 1, full - 1, full - 2, full - 3] {
                let one_pass = encode_request(&resource, &scope, spans.clone(), &mut a[..size]);
                let measured = encode_request_measured(&skeleton, spans.clone(), &mut b[..size]);
                assert_eq!(
                    one_pass, measured,
                    "{n} spans ({records} bytes), size {size}"
                );
                // (One span one byte short: neither fits it.)
                let Ok(done) = one_pass else { continue };
                assert_eq!(done.spans == n, size >= full, "{n} spans, size {size}");
                assert!(a[..done.bytes] == b[..done.bytes], "{n} spans, size {size}");
            }
        }
    }

    #[test]
    fn a_span_that_never_fits_is_reported_not_truncated() {
        with_sample_batch(|batch| {
            let skeleton = Skeleton::new(batch.resource, batch.scope);
            let first = batch.iter().next().unwrap();
            let needed = skeleton.request_len(span_record_len(span_len(&first)));
            let empty = skeleton.request_len(0);
            for size in 0..needed {
                let mut buf = std::vec![0xa5; size];
                let got = encode_request(batch.resource, batch.scope, batch.iter(), &mut buf);
                let want = if size < empty {
                    EncodeError::BufferTooSmall
                } else {
                    EncodeError::SpanTooLarge { index: 0 }
                };
                assert_eq!(got, Err(want), "size {size}");
                // A span that does not fit may leave some of its bytes behind; a
                // buffer too small for any request is not written at all.
                if size < empty {
                    assert!(buf.iter().all(|&b| b == 0xa5), "size {size}: untouched");
                }
            }
        });
    }

    #[test]
    fn overhead_bounds_the_request_size() {
        with_sample_batch(|batch| {
            let request = whole_request(batch);
            let records: usize = batch.iter().map(|s| span_record_len(span_len(&s))).sum();
            let bound = request_overhead_len(batch.resource, batch.scope) + records;
            assert!(bound >= request.len() && bound <= request.len() + 8);
        });
    }

    #[test]
    fn emit_span_into_short_buffers_fails_and_says_so() {
        with_sample_batch(|batch| {
            for span in batch.iter() {
                for size in 0..span_len(&span) {
                    let mut buf = std::vec![0xa5; size];
                    assert_eq!(emit_span(&span, &mut buf), Err(EncodeError::BufferTooSmall));
                }
            }
        });
    }

    #[test]
    fn resource_writes_what_resource_attributes_lists() {
        use crate::span::attributes::Value;
        use crate::KeyValue;
        static ATTRS: [KeyValue<'static>; 6] = [
            KeyValue {
                key: "host.name",
                value: Value::Str("a"),
            },
            KeyValue {
                key: "service.name",
                value: Value::Str("ignored"),
            },
            KeyValue {
                key: "cpu.ids",
                value: Value::I64Array(&[1, -2]),
            },
            KeyValue {
                key: "host.name",
                value: Value::Str("b"),
            },
            KeyValue {
                key: "telemetry.sdk.version",
                value: Value::Str("ignored"),
            },
            KeyValue {
                key: "tags",
                value: Value::StrArray(&["x", ""]),
            },
        ];
        let resource = Resource {
            service_name: "svc",
            attributes: &ATTRS,
            schema_url: "",
        };
        let mut want = std::vec![0u8; 512];
        let mut w = Writer::new(&mut want);
        for (key, value) in super::super::resource_attributes(&resource) {
            w.message(
                field::RESOURCE_ATTRIBUTES,
                &KeyValueMsg(key.as_bytes(), value),
            );
        }
        let n = w.written().unwrap().len();
        want.truncate(n);
        let mut got = std::vec![0u8; n];
        let mut w = Writer::new(&mut got);
        ResourceMsg(&resource).encode(&mut w);
        assert_eq!(w.written(), Ok(&want[..]));
        assert_eq!(ResourceMsg(&resource).encoded_len(), n);
        let keys: Vec<_> = fields(&got)
            .iter()
            .map(|f| fields(len_field(f, 1).unwrap())[0].clone())
            .collect();
        assert_eq!(
            keys,
            [
                Field::Len(1, b"service.name"),
                Field::Len(1, b"cpu.ids"),
                Field::Len(1, b"host.name"),
                Field::Len(1, b"tags"),
                Field::Len(1, b"telemetry.sdk.name"),
                Field::Len(1, b"telemetry.sdk.language"),
                Field::Len(1, b"telemetry.sdk.version"),
            ]
        );
    }

    #[test]
    fn no_spans_means_nothing_to_send() {
        let resource = Resource::new("svc");
        let scope = InstrumentationScope::PICOTRACE;
        let mut buf = [0xa5; 4];
        let done = encode_request(&resource, &scope, core::iter::empty(), &mut buf).unwrap();
        assert_eq!(done, Encoded { bytes: 0, spans: 0 });
        let n = encode_request_from_encoded(&resource, &scope, core::iter::empty(), &mut buf);
        assert_eq!(n, Ok(0));
    }
}
