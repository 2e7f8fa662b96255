//! OTLP/JSON: `ExportTraceServiceRequest` as `application/json`, written into a
//! caller's buffer: spans by a writer of their own (stored text copied as it is, escaped
//! a run at a time), the rest through a serde serializer that writes what serde-json-core
//! writes.
//!
//! Follows the OTLP JSON mapping (opentelemetry-proto `docs/specification.md`, "JSON
//! Protobuf Encoding") of the messages in `opentelemetry/proto/trace/v1/trace.proto`:
//! lowerCamelCase field names, trace and span ids as lowercase hex strings (not base64),
//! enums (`kind`, `code`) as integers, 64-bit integers (`startTimeUnixNano`,
//! `intValue`, ...) as decimal strings, default and empty fields left out. Doubles that
//! are not finite are written as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`,
//! as the protobuf JSON mapping does. `arrayValue.values` is always written, even when
//! empty, because some decoders require it.
//!
//! [`SpanJson`] implements `serde::Serialize`, so a std program may also write spans
//! with any serde serializer.
//!
//! ```
//! use picotrace::wire::otlp::json;
//! use picotrace::{InstrumentationScope, Resource};
//! let (resource, scope) = (Resource::new("checkout"), InstrumentationScope::PICOTRACE);
//! // Everything but the spans: `{"resourceSpans":[{"resource":{"attributes":[...]}, ...`
//! assert!(json::request_overhead_len(&resource, &scope) > 200);
//! ```

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::export::{InstrumentationScope, Resource};
use crate::span::record::{decimal, EventData, LinkData, SpanData};
use crate::span::Status;
use crate::wire::traceparent::BufferTooSmall;

use super::{
    dropped_for_empty_keys, otlp_flags, resource_attributes, scope_attributes, Any, AnyArray,
};
pub use super::{EncodeError, Encoded};

/// Returns the length of one span's JSON object, as [`emit_span`] writes it.
pub fn span_len(span: &SpanData<'_>) -> usize {
    let mut c = JsonCounter(0);
    // A counter never runs out of room.
    let _ = c.span(span);
    c.0
}

/// Returns the bytes one span takes inside a request: its object and a comma.
#[inline]
pub const fn span_record_len(span_json_len: usize) -> usize {
    span_json_len + 1
}

/// Writes one span as an OTLP/JSON `Span` object; used to pre-encode spans on
/// application threads (see [`encode_request_from_encoded`]).
///
/// # Errors
/// [`EncodeError::BufferTooSmall`] when the object does not fit; `out` may then hold
/// part of it.
pub fn emit_span(span: &SpanData<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    let end = out.len();
    let mut w = JsonWriter {
        buf: out,
        pos: 0,
        end,
    };
    w.span(span).map_err(|_| EncodeError::BufferTooSmall)?;
    Ok(w.pos)
}

/// Returns the bytes a request needs besides its spans' records ([`span_record_len`]):
/// a request of `n >= 1` spans takes exactly this plus the sum of their records.
pub fn request_overhead_len(resource: &Resource, scope: &InstrumentationScope) -> usize {
    let mut c = JsonCounter(0);
    // A counter never runs out of room.
    let _ = write_prefix(&mut c, resource, scope);
    let _ = write_suffix(&mut c, resource, scope);
    // `n` records bring `n` commas, the request has `n - 1`.
    c.0 - 1
}

/// Encodes one complete OTLP/JSON `ExportTraceServiceRequest` holding as many spans of
/// `spans` (from the start) as fit in `out`; the caller loops with the rest.
///
/// With no spans at all, writes nothing and returns zero bytes (nothing to send).
/// Bytes of `out` after [`Encoded::bytes`] are unspecified: a span that did not fit may
/// have been written there in part.
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
    if spans.clone().next().is_none() {
        return Ok(Encoded { bytes: 0, spans: 0 });
    }
    let suffix = {
        let mut c = JsonCounter(0);
        let _ = write_suffix(&mut c, resource, scope);
        c.0
    };
    let full = out.len();
    let mut w = JsonWriter {
        buf: out,
        pos: 0,
        end: full,
    };
    write_prefix(&mut w, resource, scope)?;
    // Spans may use everything but the room the suffix needs.
    w.end = full
        .checked_sub(suffix)
        .filter(|&end| end >= w.pos)
        .ok_or(EncodeError::BufferTooSmall)?;
    let mut count = 0;
    for span in spans {
        let mark = w.pos;
        let fits = if count > 0 { w.raw(b",") } else { Ok(()) }.and_then(|()| w.span(&span));
        if fits.is_err() {
            w.pos = mark;
            break;
        }
        count += 1;
    }
    if count == 0 {
        return Err(EncodeError::SpanTooLarge { index: 0 });
    }
    w.end = full;
    write_suffix(&mut w, resource, scope)?;
    Ok(Encoded {
        bytes: w.pos,
        spans: count,
    })
}

/// Builds a request around span objects pre-encoded by [`emit_span`], joined with
/// commas; returns its length.
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
    if spans.clone().next().is_none() {
        return Ok(0);
    }
    let total = spans
        .clone()
        .fold(request_overhead_len(resource, scope), |sum, s| {
            sum.saturating_add(span_record_len(s.len()))
        });
    if total > out.len() {
        return Err(EncodeError::BufferTooSmall);
    }
    let end = out.len();
    let mut w = JsonWriter {
        buf: out,
        pos: 0,
        end,
    };
    write_prefix(&mut w, resource, scope)?;
    for (i, span) in spans.enumerate() {
        if i > 0 {
            w.raw(b",")?;
        }
        w.raw(span)?;
    }
    write_suffix(&mut w, resource, scope)?;
    Ok(w.pos)
}

/// Writes `{"resourceSpans":[{"resource":{..},"scopeSpans":[{"scope":{..},"spans":[`.
fn write_prefix<S: JsonSink>(
    s: &mut S,
    resource: &Resource,
    scope: &InstrumentationScope,
) -> Result<(), BufferTooSmall> {
    s.raw(br#"{"resourceSpans":[{"resource":"#)?;
    s.value(&ResourceJson(resource))?;
    s.raw(br#","scopeSpans":[{"scope":"#)?;
    s.value(&ScopeJson(scope))?;
    s.raw(br#","spans":["#)
}

/// Writes `]` (ends spans), the scope's schema URL, `}]` (ends ScopeSpans,
/// scopeSpans), the resource's schema URL, `}]}`.
fn write_suffix<S: JsonSink>(
    s: &mut S,
    resource: &Resource,
    scope: &InstrumentationScope,
) -> Result<(), BufferTooSmall> {
    s.raw(b"]")?;
    if !scope.schema_url.is_empty() {
        s.raw(br#","schemaUrl":"#)?;
        s.value(scope.schema_url)?;
    }
    s.raw(b"}]")?;
    if !resource.schema_url.is_empty() {
        s.raw(br#","schemaUrl":"#)?;
        s.value(resource.schema_url)?;
    }
    s.raw(b"}]}")
}

/// Where JSON goes: a buffer, or a counter.
trait JsonSink {
    fn raw(&mut self, bytes: &[u8]) -> Result<(), BufferTooSmall>;
    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), BufferTooSmall>;
    /// One span's object, as [`SpanJson`] serializes it.
    fn span(&mut self, span: &SpanData<'_>) -> Result<(), BufferTooSmall>;
}

struct JsonWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
    /// Writes stay below this index.
    end: usize,
}

impl JsonSink for JsonWriter<'_> {
    fn raw(&mut self, bytes: &[u8]) -> Result<(), BufferTooSmall> {
        let stop = self.pos.checked_add(bytes.len()).ok_or(BufferTooSmall)?;
        if stop > self.end {
            return Err(BufferTooSmall);
        }
        let dst = self.buf.get_mut(self.pos..stop).ok_or(BufferTooSmall)?;
        dst.copy_from_slice(bytes);
        self.pos = stop;
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), BufferTooSmall> {
        let room = self.buf.get_mut(self.pos..self.end).ok_or(BufferTooSmall)?;
        let n = write_json(value, room)?;
        self.pos += n;
        Ok(())
    }

    fn span(&mut self, span: &SpanData<'_>) -> Result<(), BufferTooSmall> {
        let room = self.buf.get_mut(self.pos..self.end).ok_or(BufferTooSmall)?;
        let mut out = out::Slice { buf: room, pos: 0 };
        direct::span(&mut out, span).map_err(|_| BufferTooSmall)?;
        self.pos += out.pos;
        Ok(())
    }
}

struct JsonCounter(usize);

impl JsonSink for JsonCounter {
    fn raw(&mut self, bytes: &[u8]) -> Result<(), BufferTooSmall> {
        self.0 = self.0.saturating_add(bytes.len());
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), BufferTooSmall> {
        self.0 = self.0.saturating_add(json_len(value));
        Ok(())
    }

    fn span(&mut self, span: &SpanData<'_>) -> Result<(), BufferTooSmall> {
        let mut count = out::Count(0);
        // Counting never fails.
        let _ = direct::span(&mut count, span);
        self.0 = self.0.saturating_add(count.0);
        Ok(())
    }
}

/// A span as its OTLP/JSON `Span` object.
#[derive(Clone, Copy, Debug)]
pub struct SpanJson<'a>(pub SpanData<'a>);

impl Serialize for SpanJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let span = &self.0;
        let cx = span.span_context();
        let trace_state = span.trace_state();
        let parent = span.parent_span_id();
        let name = span.name();
        let start = span.start_time().as_unix_nanos();
        let end = span.end_time().as_unix_nanos();
        let has_attributes = !span.attributes().is_done();
        let has_events = span.events().next().is_some();
        let has_links = span.links().next().is_some();
        let status = span.status();
        let fields = [
            true,
            true,
            !trace_state.is_empty(),
            parent.is_some(),
            !name.is_empty(),
            true,
            start != 0,
            end != 0,
            has_attributes,
            span.dropped_attributes_count() != 0,
            has_events,
            span.dropped_events_count() != 0,
            has_links,
            span.dropped_links_count() != 0,
            status != Status::Unset,
            true,
        ];
        let mut st = s.serialize_struct("Span", fields.iter().filter(|&&f| f).count())?;
        st.serialize_field("traceId", &Hex(cx.trace_id.as_bytes()))?;
        st.serialize_field("spanId", &Hex(cx.span_id.as_bytes()))?;
        if !trace_state.is_empty() {
            st.serialize_field("traceState", trace_state)?;
        }
        if let Some(parent) = parent {
            st.serialize_field("parentSpanId", &Hex(parent.as_bytes()))?;
        }
        if !name.is_empty() {
            st.serialize_field("name", name)?;
        }
        st.serialize_field("kind", &span.kind().otlp_value())?;
        if start != 0 {
            st.serialize_field("startTimeUnixNano", &U64Str(start))?;
        }
        if end != 0 {
            st.serialize_field("endTimeUnixNano", &U64Str(end))?;
        }
        if has_attributes {
            st.serialize_field("attributes", &KeyValues(span.attributes()))?;
        }
        if span.dropped_attributes_count() != 0 {
            st.serialize_field("droppedAttributesCount", &span.dropped_attributes_count())?;
        }
        if has_events {
            st.serialize_field("events", &Seq(span.events().map(EventJson)))?;
        }
        if span.dropped_events_count() != 0 {
            st.serialize_field("droppedEventsCount", &span.dropped_events_count())?;
        }
        if has_links {
            st.serialize_field("links", &Seq(span.links().map(LinkJson)))?;
        }
        if span.dropped_links_count() != 0 {
            st.serialize_field("droppedLinksCount", &span.dropped_links_count())?;
        }
        if status != Status::Unset {
            st.serialize_field("status", &StatusJson(status))?;
        }
        st.serialize_field(
            "flags",
            &otlp_flags(cx.flags.bits(), span.parent_is_remote()),
        )?;
        st.end()
    }
}

/// `Span.Event`.
struct EventJson<'a>(EventData<'a>);

impl Serialize for EventJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let event = &self.0;
        let time = event.time().as_unix_nanos();
        let name = event.name();
        let has_attributes = !event.attributes().is_done();
        let dropped = event.dropped_attributes_count();
        let n = [time != 0, !name.is_empty(), has_attributes, dropped != 0];
        let mut st = s.serialize_struct("Event", n.iter().filter(|&&f| f).count())?;
        if time != 0 {
            st.serialize_field("timeUnixNano", &U64Str(time))?;
        }
        if !name.is_empty() {
            st.serialize_field("name", name)?;
        }
        if has_attributes {
            st.serialize_field("attributes", &KeyValues(event.attributes()))?;
        }
        if dropped != 0 {
            st.serialize_field("droppedAttributesCount", &dropped)?;
        }
        st.end()
    }
}

/// `Span.Link`.
struct LinkJson<'a>(LinkData<'a>);

impl Serialize for LinkJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let link = &self.0;
        let cx = link.span_context();
        let trace_state = link.trace_state();
        let has_attributes = !link.attributes().is_done();
        let dropped = link.dropped_attributes_count();
        let n = 3 + [!trace_state.is_empty(), has_attributes, dropped != 0]
            .iter()
            .filter(|&&f| f)
            .count();
        let mut st = s.serialize_struct("Link", n)?;
        st.serialize_field("traceId", &Hex(cx.trace_id.as_bytes()))?;
        st.serialize_field("spanId", &Hex(cx.span_id.as_bytes()))?;
        if !trace_state.is_empty() {
            st.serialize_field("traceState", trace_state)?;
        }
        if has_attributes {
            st.serialize_field("attributes", &KeyValues(link.attributes()))?;
        }
        if dropped != 0 {
            st.serialize_field("droppedAttributesCount", &dropped)?;
        }
        st.serialize_field("flags", &otlp_flags(cx.flags.bits(), cx.is_remote))?;
        st.end()
    }
}

/// `Status`: message (Error only), then code.
struct StatusJson<'a>(Status<'a>);

impl Serialize for StatusJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let message = match self.0 {
            Status::Error { description } => description,
            _ => "",
        };
        let code = self.0.otlp_code();
        let n = usize::from(!message.is_empty()) + usize::from(code != 0);
        let mut st = s.serialize_struct("Status", n)?;
        if !message.is_empty() {
            st.serialize_field("message", message)?;
        }
        if code != 0 {
            st.serialize_field("code", &code)?;
        }
        st.end()
    }
}

/// `Resource`: `{"attributes":[...]}`.
struct ResourceJson<'r>(&'r Resource);

impl Serialize for ResourceJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let dropped = dropped_for_empty_keys(self.0.attributes);
        let mut st = s.serialize_struct("Resource", 1 + usize::from(dropped > 0))?;
        st.serialize_field("attributes", &KeyValues(resource_attributes(self.0)))?;
        if dropped > 0 {
            st.serialize_field("droppedAttributesCount", &dropped)?;
        }
        st.end()
    }
}

/// `InstrumentationScope`: name, version and attributes.
struct ScopeJson<'r>(&'r InstrumentationScope);

impl Serialize for ScopeJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (name, version) = (self.0.name, self.0.version);
        let attributes = scope_attributes(self.0);
        let any = attributes.clone().next().is_some();
        let dropped = dropped_for_empty_keys(self.0.attributes);
        let n = usize::from(!name.is_empty())
            + usize::from(!version.is_empty())
            + usize::from(any)
            + usize::from(dropped > 0);
        let mut st = s.serialize_struct("InstrumentationScope", n)?;
        if !name.is_empty() {
            st.serialize_field("name", name)?;
        }
        if !version.is_empty() {
            st.serialize_field("version", version)?;
        }
        if any {
            st.serialize_field("attributes", &KeyValues(attributes))?;
        }
        if dropped > 0 {
            st.serialize_field("droppedAttributesCount", &dropped)?;
        }
        st.end()
    }
}

/// A list of `KeyValue`s from `(key, value)` pairs.
struct KeyValues<I>(I);

impl<'a, I, V> Serialize for KeyValues<I>
where
    I: Iterator<Item = (&'a str, V)> + Clone,
    V: Into<Any<'a>>,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for (key, value) in self.0.clone() {
            seq.serialize_element(&KeyValueJson(key, value.into()))?;
        }
        seq.end()
    }
}

/// A JSON array of the items of a cloneable iterator.
struct Seq<I>(I);

impl<I> Serialize for Seq<I>
where
    I: Iterator + Clone,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for item in self.0.clone() {
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}

/// `KeyValue`: the key is always written (decoders require it).
struct KeyValueJson<'a>(&'a str, Any<'a>);

impl Serialize for KeyValueJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("KeyValue", 2)?;
        st.serialize_field("key", self.0)?;
        st.serialize_field("value", &AnyJson(self.1))?;
        st.end()
    }
}

/// `AnyValue`: one member of the oneof, written even when it holds a default value.
#[derive(Clone, Copy)]
struct AnyJson<'a>(Any<'a>);

impl Serialize for AnyJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("AnyValue", 1)?;
        match self.0 {
            Any::Str(v) => st.serialize_field("stringValue", v)?,
            Any::Bool(v) => st.serialize_field("boolValue", &v)?,
            Any::I64(v) => st.serialize_field("intValue", &I64Str(v))?,
            Any::U64(v) => {
                let mut digits = [0u8; 20];
                st.serialize_field("stringValue", decimal(v, &mut digits))?;
            }
            Any::F64(v) => st.serialize_field("doubleValue", &Double(v))?,
            Any::Array(v) => st.serialize_field("arrayValue", &ArrayJson(v))?,
        }
        st.end()
    }
}

/// `ArrayValue`: `{"values":[...]}`.
struct ArrayJson<'a>(AnyArray<'a>);

impl Serialize for ArrayJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("ArrayValue", 1)?;
        st.serialize_field("values", &Seq(self.0.iter().map(AnyJson)))?;
        st.end()
    }
}

/// Bytes (an id) as a lowercase hex string.
struct Hex<'a>(&'a [u8]);

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 32];
        let bytes = &self.0[..self.0.len().min(16)];
        let text = &mut buf[..bytes.len() * 2];
        // Lengths match by construction.
        let _ = crate::wire::hex::encode(bytes, text);
        s.serialize_str(core::str::from_utf8(text).unwrap_or(""))
    }
}

/// A `u64` as a decimal string (OTLP/JSON's form of 64-bit integers).
struct U64Str(u64);

impl Serialize for U64Str {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 20];
        s.serialize_str(decimal(self.0, &mut buf))
    }
}

/// An `i64` as a decimal string.
struct I64Str(i64);

impl Serialize for I64Str {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut digits = [0u8; 20];
        let digits = decimal(self.0.unsigned_abs(), &mut digits).as_bytes();
        let mut buf = [0u8; 21];
        let sign = usize::from(self.0 < 0);
        buf[0] = b'-';
        let text = &mut buf[..sign + digits.len()];
        text[sign..].copy_from_slice(digits);
        s.serialize_str(core::str::from_utf8(text).unwrap_or(""))
    }
}

/// A double; non-finite values as the strings the protobuf JSON mapping uses.
struct Double(f64);

impl Serialize for Double {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match non_finite_name(self.0) {
            Some(name) => s.serialize_str(name),
            None => s.serialize_f64(self.0),
        }
    }
}

/// The string the protobuf JSON mapping writes for a double that is not finite.
fn non_finite_name(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("Infinity")
    } else if v == f64::NEG_INFINITY {
        Some("-Infinity")
    } else {
        None
    }
}

/// Spans written straight into an [`out::Out`]: byte for byte what [`SpanJson`]'s
/// `Serialize` writes through [`out::JsonSerializer`] (a test compares them), without
/// serde's calls per field and without a second UTF-8 check of stored text (names,
/// keys and string values are copied as the span stored them, valid when stored).
mod direct {
    use super::out::{Out, Unsupported};
    use super::{otlp_flags, Any, AnyArray};
    use crate::context::SpanContext;
    use crate::span::record::{decimal_bytes, Attributes, EventData, LinkData, RawValue, SpanData};
    use crate::span::Status;

    type Written = Result<(), Unsupported>;

    /// An object being written: `{`, then `"key":value` pairs with commas, then `}`.
    struct Object<'o, O> {
        out: &'o mut O,
        first: bool,
    }

    impl<'o, O: Out> Object<'o, O> {
        fn open(out: &'o mut O) -> Result<Self, Unsupported> {
            out.raw(b"{")?;
            Ok(Self { out, first: true })
        }

        /// Starts a member: `key` is a comma, its quoted name and colon (`,"name":`),
        /// written whole after another member and without the comma as the first: one
        /// write, where a separate comma was two.
        fn key(&mut self, key: &[u8]) -> Result<&mut O, Unsupported> {
            let key = match (self.first, key) {
                (true, [b',', name @ ..]) => name,
                _ => key,
            };
            self.first = false;
            self.out.raw(key)?;
            Ok(self.out)
        }

        /// A string member: `key` is as [`Object::key`]'s with the opening quote
        /// (`,"name":"`), so that the constant text is one write.
        fn text(&mut self, key: &[u8], utf8: &[u8]) -> Written {
            let out = self.key(key)?;
            out.escaped(utf8)?;
            out.raw(b"\"")
        }

        fn close(self) -> Written {
            self.out.raw(b"}")
        }
    }

    fn text<O: Out>(out: &mut O, utf8: &[u8]) -> Written {
        out.raw(b"\"")?;
        out.escaped(utf8)?;
        out.raw(b"\"")
    }

    /// An id as a quoted lowercase hex string.
    fn hex<O: Out>(out: &mut O, id: &[u8]) -> Written {
        let id = &id[..id.len().min(16)];
        let mut buf = [b'"'; 34];
        // Lengths match by construction.
        let _ = crate::wire::hex::encode(id, &mut buf[1..=id.len() * 2]);
        out.raw(&buf[..id.len() * 2 + 2])
    }

    /// An unsigned number as JSON digits.
    fn number<O: Out>(out: &mut O, v: u64) -> Written {
        let mut buf = [0; 20];
        out.raw(decimal_bytes(v, &mut buf))
    }

    /// A 64-bit integer as OTLP/JSON writes it: a quoted decimal, written at once.
    fn quoted<O: Out>(out: &mut O, negative: bool, magnitude: u64) -> Written {
        // `"`, a sign, 20 digits at most, `"`.
        let mut buf = [b'"'; 23];
        let Some(digits) = buf[2..].first_chunk_mut::<20>() else {
            return Err(Unsupported);
        };
        let len = decimal_bytes(magnitude, digits).len();
        let mut start = 22 - len;
        if negative {
            start -= 1;
            buf[start] = b'-';
        }
        buf[start - 1] = b'"';
        out.raw(&buf[start - 1..])
    }

    fn double<O: Out>(out: &mut O, v: f64) -> Written {
        if let Some(name) = super::non_finite_name(v) {
            return text(out, name.as_bytes());
        }
        // serde-json-core's digits (ryu), as the serializer writes them.
        let mut buf = [0u8; 40];
        let n = serde_json_core::to_slice(&v, &mut buf).map_err(|_| Unsupported)?;
        out.raw(&buf[..n])
    }

    /// `AnyValue`.
    fn any<O: Out>(out: &mut O, value: Any<'_>) -> Written {
        let mut o = Object::open(out)?;
        match value {
            Any::Str(v) => o.text(b",\"stringValue\":\"", v.as_bytes())?,
            Any::Bool(v) => o
                .key(b",\"boolValue\":")?
                .raw(if v { b"true" } else { b"false" })?,
            Any::I64(v) => quoted(o.key(b",\"intValue\":")?, v < 0, v.unsigned_abs())?,
            // Above `i64::MAX`: its decimal text, as a string value.
            Any::U64(v) => quoted(o.key(b",\"stringValue\":")?, false, v)?,
            Any::F64(v) => double(o.key(b",\"doubleValue\":")?, v)?,
            Any::Array(v) => array(o.key(b",\"arrayValue\":")?, v)?,
        }
        o.close()
    }

    /// `ArrayValue`: `{"values":[...]}`, written even when empty.
    fn array<O: Out>(out: &mut O, values: AnyArray<'_>) -> Written {
        out.raw(b"{\"values\":[")?;
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.raw(b",")?;
            }
            any(out, v)?;
        }
        out.raw(b"]}")
    }

    /// A list of `KeyValue`s.
    fn attributes<O: Out>(out: &mut O, mut attrs: Attributes<'_>) -> Written {
        // The constant text between a key and its value is one piece, not a copy per
        // quote and bracket (callgrind, W5 JSON: ten writes per text attribute to five).
        out.raw(b"[")?;
        let mut first = true;
        while let Some((key, value)) = attrs.next_raw() {
            out.raw(if first {
                b"{\"key\":\""
            } else {
                b",{\"key\":\""
            })?;
            first = false;
            out.escaped(key)?;
            match value {
                RawValue::Text(v) => {
                    out.raw(b"\",\"value\":{\"stringValue\":\"")?;
                    out.escaped(v)?;
                    out.raw(b"\"}}")?;
                }
                RawValue::Other(v) => {
                    out.raw(b"\",\"value\":")?;
                    any(out, v.into())?;
                    out.raw(b"}")?;
                }
            }
        }
        out.raw(b"]")
    }

    /// `traceId`, `spanId` and, when there is one, `traceState` (spans and links).
    fn ids_and_state<O: Out>(o: &mut Object<'_, O>, cx: &SpanContext, state: &str) -> Written {
        hex(o.key(b",\"traceId\":")?, cx.trace_id.as_bytes())?;
        hex(o.key(b",\"spanId\":")?, cx.span_id.as_bytes())?;
        if !state.is_empty() {
            o.text(b",\"traceState\":\"", state.as_bytes())?;
        }
        Ok(())
    }

    /// `attributes` when there are any, `droppedAttributesCount` when not 0.
    fn attributes_and_dropped<O: Out>(
        o: &mut Object<'_, O>,
        attrs: Attributes<'_>,
        dropped: u32,
    ) -> Written {
        if !attrs.is_done() {
            attributes(o.key(b",\"attributes\":")?, attrs)?;
        }
        if dropped != 0 {
            number(o.key(b",\"droppedAttributesCount\":")?, dropped.into())?;
        }
        Ok(())
    }

    fn event<O: Out>(out: &mut O, event: &EventData<'_>) -> Written {
        let mut o = Object::open(out)?;
        let time = event.time().as_unix_nanos();
        if time != 0 {
            quoted(o.key(b",\"timeUnixNano\":")?, false, time)?;
        }
        let name = event.name_bytes();
        if !name.is_empty() {
            o.text(b",\"name\":\"", name)?;
        }
        attributes_and_dropped(&mut o, event.attributes(), event.dropped_attributes_count())?;
        o.close()
    }

    fn link<O: Out>(out: &mut O, link: &LinkData<'_>) -> Written {
        let mut o = Object::open(out)?;
        let cx = link.span_context();
        ids_and_state(&mut o, &cx, link.trace_state())?;
        attributes_and_dropped(&mut o, link.attributes(), link.dropped_attributes_count())?;
        let flags = otlp_flags(cx.flags.bits(), cx.is_remote);
        number(o.key(b",\"flags\":")?, flags.into())?;
        o.close()
    }

    fn status<O: Out>(out: &mut O, status: Status<'_>) -> Written {
        let mut o = Object::open(out)?;
        if let Status::Error { description } = status {
            if !description.is_empty() {
                o.text(b",\"message\":\"", description.as_bytes())?;
            }
        }
        let code = status.otlp_code();
        if code != 0 {
            number(o.key(b",\"code\":")?, code.into())?;
        }
        o.close()
    }

    /// `key` (a quoted name, colon and `[`), the items, `]`: only when there are items.
    fn list<O: Out, T>(
        o: &mut Object<'_, O>,
        key: &[u8],
        items: impl Iterator<Item = T>,
        write: fn(&mut O, &T) -> Written,
    ) -> Written {
        let mut items = items.peekable();
        if items.peek().is_none() {
            return Ok(());
        }
        let out = o.key(key)?;
        for (i, item) in items.enumerate() {
            if i > 0 {
                out.raw(b",")?;
            }
            write(out, &item)?;
        }
        out.raw(b"]")
    }

    /// One span's `Span` object.
    pub(super) fn span<O: Out>(out: &mut O, span: &SpanData<'_>) -> Written {
        let mut o = Object::open(out)?;
        let cx = span.span_context();
        ids_and_state(&mut o, &cx, span.trace_state())?;
        if let Some(parent) = span.parent_span_id() {
            hex(o.key(b",\"parentSpanId\":")?, parent.as_bytes())?;
        }
        let name = span.name_bytes();
        if !name.is_empty() {
            o.text(b",\"name\":\"", name)?;
        }
        number(o.key(b",\"kind\":")?, span.kind().otlp_value().into())?;
        let start = span.start_time().as_unix_nanos();
        if start != 0 {
            quoted(o.key(b",\"startTimeUnixNano\":")?, false, start)?;
        }
        let end = span.end_time().as_unix_nanos();
        if end != 0 {
            quoted(o.key(b",\"endTimeUnixNano\":")?, false, end)?;
        }
        attributes_and_dropped(&mut o, span.attributes(), span.dropped_attributes_count())?;
        list(&mut o, b",\"events\":[", span.events(), event)?;
        let dropped = span.dropped_events_count();
        if dropped != 0 {
            number(o.key(b",\"droppedEventsCount\":")?, dropped.into())?;
        }
        list(&mut o, b",\"links\":[", span.links(), link)?;
        let dropped = span.dropped_links_count();
        if dropped != 0 {
            number(o.key(b",\"droppedLinksCount\":")?, dropped.into())?;
        }
        let st = span.status();
        if st != Status::Unset {
            status(o.key(b",\"status\":")?, st)?;
        }
        let flags = otlp_flags(cx.flags.bits(), span.parent_is_remote());
        number(o.key(b",\"flags\":")?, flags.into())?;
        o.close()
    }
}

/// Returns the number of bytes `value` takes as JSON (what [`write_json`] writes).
fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    let mut counter = out::JsonSerializer(out::Count(0));
    // Our types never fail; a foreign one that does is counted up to the failure.
    let _ = value.serialize(&mut counter);
    (counter.0).0
}

/// Writes `value` as JSON into `buf`, as serde-json-core would (same escapes, same
/// number formatting), and returns the bytes written.
fn write_json<T: Serialize + ?Sized>(value: &T, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
    let mut writer = out::JsonSerializer(out::Slice { buf, pos: 0 });
    value.serialize(&mut writer).map_err(|_| BufferTooSmall)?;
    Ok(writer.0.pos)
}

/// One serde `Serializer` for measuring and for writing JSON: the output (`Out`) either
/// counts bytes or writes them. It writes what serde-json-core writes, except that a
/// string's unescaped runs are copied whole (serde-json-core pushes one `char` at a
/// time: 56 % of the JSON encoder's instructions were in that loop).
mod out {
    use core::fmt;

    use serde::ser::{self, Serialize};

    /// Where the JSON goes.
    pub(super) trait Out {
        /// Appends `bytes` as they are.
        fn raw(&mut self, bytes: &[u8]) -> Result<(), Unsupported>;
        /// Appends the inside of a JSON string for the UTF-8 text `s` (no quotes).
        fn escaped(&mut self, s: &[u8]) -> Result<(), Unsupported>;
    }

    /// Counts the bytes.
    pub(super) struct Count(pub(super) usize);

    impl Out for Count {
        fn raw(&mut self, bytes: &[u8]) -> Result<(), Unsupported> {
            self.0 = self.0.saturating_add(bytes.len());
            Ok(())
        }
        fn escaped(&mut self, s: &[u8]) -> Result<(), Unsupported> {
            self.0 = self.0.saturating_add(str_len(s) - 2);
            Ok(())
        }
    }

    /// Writes into a slice.
    pub(super) struct Slice<'b> {
        pub(super) buf: &'b mut [u8],
        pub(super) pos: usize,
    }

    impl Out for Slice<'_> {
        #[inline]
        fn raw(&mut self, bytes: &[u8]) -> Result<(), Unsupported> {
            let end = self.pos + bytes.len();
            let dst = self.buf.get_mut(self.pos..end).ok_or(Unsupported)?;
            crate::wire::protobuf::copy_short(dst, bytes);
            self.pos = end;
            Ok(())
        }

        #[inline]
        fn escaped(&mut self, bytes: &[u8]) -> Result<(), Unsupported> {
            // Names, keys and values seldom hold a character to escape: one word-wise
            // check over the whole text, then one copy (callgrind, W5 JSON: 4,012 to
            // 3,717 instructions per span), inlined where it is called; the escaping
            // loop is out of line.
            if !any_escape(bytes) {
                return self.raw(bytes);
            }
            self.escape_each(bytes)
        }
    }

    impl Slice<'_> {
        #[inline(never)]
        fn escape_each(&mut self, bytes: &[u8]) -> Result<(), Unsupported> {
            let mut run = 0;
            loop {
                let i = next_escape(bytes, run);
                self.raw(bytes.get(run..i).unwrap_or_default())?;
                let Some(&b) = bytes.get(i) else {
                    return Ok(());
                };
                run = i + 1;
                match ESCAPE[usize::from(b)] {
                    b'u' => {
                        const HEX: &[u8; 16] = b"0123456789ABCDEF";
                        let (hi, lo) = (HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]);
                        self.raw(&[b'\\', b'u', b'0', b'0', hi, lo])?;
                    }
                    short => self.raw(&[b'\\', short])?,
                }
            }
        }
    }

    /// Whether any byte of `bytes` must be escaped: eight bytes per test, the last test
    /// overlapping the one before it, and shorter texts tested in one padded word.
    #[inline]
    pub(super) fn any_escape(bytes: &[u8]) -> bool {
        let n = bytes.len();
        let word = |at: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(w)
        };
        match n {
            0 => false,
            // Three bytes cover 1 to 3; the rest of the word is spaces, which need none.
            1..=3 => needs_escape(u64::from_le_bytes([
                bytes[0],
                bytes[n / 2],
                bytes[n - 1],
                b' ',
                b' ',
                b' ',
                b' ',
                b' ',
            ])),
            4..=7 => {
                let half = |at: usize| {
                    let mut w = [0; 4];
                    w.copy_from_slice(&bytes[at..at + 4]);
                    u64::from(u32::from_le_bytes(w))
                };
                needs_escape(half(0) | half(n - 4) << 32)
            }
            8..=16 => needs_escape(word(0)) | needs_escape(word(n - 8)),
            _ if cfg!(target_pointer_width = "64") => {
                // Sixteen bytes per test, which LLVM makes SIMD compares (SSE2, NEON):
                // half the instructions of two word tests (callgrind, W5 JSON).
                let block = |at: usize| bytes[at..].first_chunk::<16>().is_some_and(escapes16);
                let mut found = block(n - 16);
                let mut at = 0;
                while at + 16 < n {
                    found |= block(at);
                    at += 16;
                }
                found
            }
            _ => {
                let mut found = needs_escape(word(n - 8));
                let mut at = 0;
                while at + 8 < n {
                    found |= needs_escape(word(at));
                    at += 8;
                }
                found
            }
        }
    }

    /// Whether any of sixteen bytes is a control character, `"` or `\\`, written as
    /// byte compares folded together so that LLVM vectorizes it.
    #[inline(always)]
    fn escapes16(bytes: &[u8; 16]) -> bool {
        let mut any = 0u8;
        for &b in bytes {
            any |= u8::from(b < 0x20) | u8::from(b == b'"') | u8::from(b == b'\\');
        }
        any != 0
    }

    /// The index of the first byte of `bytes` at or after `from` that must be escaped,
    /// or the length when none must. Text seldom needs an escape: eight bytes are
    /// checked at once, and only a group that holds one is looked at byte by byte.
    #[inline]
    fn next_escape(bytes: &[u8], from: usize) -> usize {
        let escape = |b: &u8| ESCAPE[usize::from(*b)] != 0;
        let mut i = from;
        loop {
            let Some(rest) = bytes.get(i..) else {
                return bytes.len();
            };
            let Some(group) = rest.first_chunk::<8>() else {
                return rest
                    .iter()
                    .position(escape)
                    .map_or(bytes.len(), |at| i + at);
            };
            if needs_escape(u64::from_le_bytes(*group)) {
                if let Some(at) = group.iter().position(escape) {
                    return i + at;
                }
            }
            i += 8;
        }
    }

    /// Whether any of the eight bytes in `x` is a control character, `"` or `\\`: the
    /// exact "has a byte below n" and "has a zero byte" tests of the bit-twiddling
    /// folklore (`"` and `\\` are below 0x80, so XOR with them keeps each top bit).
    #[inline]
    pub(super) const fn needs_escape(x: u64) -> bool {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = ONES * 0x80;
        let below_space = x.wrapping_sub(ONES * 0x20);
        let quote = (x ^ (ONES * b'"' as u64)).wrapping_sub(ONES);
        let backslash = (x ^ (ONES * b'\\' as u64)).wrapping_sub(ONES);
        (below_space | quote | backslash) & !x & HIGH != 0
    }

    /// For each byte, 0 when it stands for itself in a JSON string, else the letter of
    /// its escape (`u` for `\u00XX`), as serde-json-core escapes.
    pub(super) const ESCAPE: [u8; 256] = {
        let mut table = [0u8; 256];
        let mut b = 0;
        while b < 0x20 {
            table[b] = b'u';
            b += 1;
        }
        table[0x08] = b'b';
        table[0x09] = b't';
        table[0x0a] = b'n';
        table[0x0c] = b'f';
        table[0x0d] = b'r';
        table[b'"' as usize] = b'"';
        table[b'\\' as usize] = b'\\';
        table
    };

    /// Returns the length of the UTF-8 text `bytes` as a JSON string, escapes and
    /// quotes included.
    pub(super) fn str_len(bytes: &[u8]) -> usize {
        let (mut len, mut from) = (2 + bytes.len(), 0);
        loop {
            let i = next_escape(bytes, from);
            let Some(&b) = bytes.get(i) else {
                return len;
            };
            // The byte itself is counted already: add what its escape adds.
            len += if ESCAPE[usize::from(b)] == b'u' { 5 } else { 1 };
            from = i + 1;
        }
    }

    /// A value serde-json-core cannot write (it panics on `char`, tuple variants and
    /// custom errors; never produced by this module's types), or no room left.
    #[derive(Debug)]
    pub(super) struct Unsupported;

    impl fmt::Display for Unsupported {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("value not supported by serde-json-core, or no room")
        }
    }

    impl core::error::Error for Unsupported {}

    impl ser::Error for Unsupported {
        fn custom<T: fmt::Display>(_msg: T) -> Self {
            Unsupported
        }
    }

    /// The serializer over an [`Out`].
    pub(super) struct JsonSerializer<O>(pub(super) O);

    impl<O: Out> JsonSerializer<O> {
        /// Numbers are written by serde-json-core into a small buffer (at most 20
        /// digits for integers, 24 characters for `ryu` floats): the same digits.
        fn scalar<T: Serialize>(&mut self, v: T) -> Result<(), Unsupported> {
            let mut buf = [0u8; 40];
            let n = serde_json_core::to_slice(&v, &mut buf).map_err(|_| Unsupported)?;
            self.0.raw(&buf[..n])
        }
    }

    pub(super) struct Compound<'a, O> {
        ser: &'a mut JsonSerializer<O>,
        first: bool,
    }

    impl<O: Out> Compound<'_, O> {
        fn comma(&mut self) -> Result<(), Unsupported> {
            if !self.first {
                self.ser.0.raw(b",")?;
            }
            self.first = false;
            Ok(())
        }
    }

    impl<'a, O: Out> ser::Serializer for &'a mut JsonSerializer<O> {
        type Ok = ();
        type Error = Unsupported;
        type SerializeSeq = Compound<'a, O>;
        type SerializeTuple = Compound<'a, O>;
        type SerializeTupleStruct = Compound<'a, O>;
        type SerializeTupleVariant = ser::Impossible<(), Unsupported>;
        type SerializeMap = Compound<'a, O>;
        type SerializeStruct = Compound<'a, O>;
        type SerializeStructVariant = Compound<'a, O>;

        fn serialize_bool(self, v: bool) -> Result<(), Unsupported> {
            self.0.raw(if v { b"true" } else { b"false" })
        }
        fn serialize_i8(self, v: i8) -> Result<(), Unsupported> {
            self.scalar(v)
        }
        fn serialize_i16(self, v: i16) -> Result<(), Unsupported> {
            self.scalar(v)
        }
        fn serialize_i32(self, v: i32) -> Result<(), Unsupported> {
            self.scalar(v)
        }
        fn serialize_i64(self, v: i64) -> Result<(), Unsupported> {
            self.scalar(v)
        }
        fn serialize_u8(self, v: u8) -> Result<(), Unsupported> {
            self.scalar(v)
        }
        fn serialize_u16(self, v: u16) -> Result<(), Unsupported> {
            self.scalar(v)
        }
        fn serialize_u32(self, v: u32) -> Result<(), Unsupported> {
            self.scalar(v)
        }
        fn serialize_u64(self, v: u64) -> Result<(), Unsupported> {
            self.scalar(v)
        }
        fn serialize_f32(self, v: f32) -> Result<(), Unsupported> {
            self.scalar(v)
        }
        fn serialize_f64(self, v: f64) -> Result<(), Unsupported> {
            self.scalar(v)
        }
        fn serialize_char(self, _v: char) -> Result<(), Unsupported> {
            Err(Unsupported)
        }
        fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
            self.0.raw(b"\"")?;
            self.0.escaped(v.as_bytes())?;
            self.0.raw(b"\"")
        }
        fn serialize_bytes(self, v: &[u8]) -> Result<(), Unsupported> {
            // serde-json-core writes bytes as they are.
            self.0.raw(v)
        }
        fn serialize_none(self) -> Result<(), Unsupported> {
            self.0.raw(b"null")
        }
        fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
            value.serialize(self)
        }
        fn serialize_unit(self) -> Result<(), Unsupported> {
            self.serialize_none()
        }
        fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Unsupported> {
            self.serialize_none()
        }
        fn serialize_unit_variant(
            self,
            _name: &'static str,
            _index: u32,
            variant: &'static str,
        ) -> Result<(), Unsupported> {
            self.serialize_str(variant)
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _name: &'static str,
            value: &T,
        ) -> Result<(), Unsupported> {
            value.serialize(self)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _name: &'static str,
            _index: u32,
            variant: &'static str,
            value: &T,
        ) -> Result<(), Unsupported> {
            // {"variant":value}
            self.0.raw(b"{\"")?;
            self.0.raw(variant.as_bytes())?;
            self.0.raw(b"\":")?;
            value.serialize(&mut *self)?;
            self.0.raw(b"}")
        }
        fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, O>, Unsupported> {
            self.0.raw(b"[")?;
            Ok(Compound {
                ser: self,
                first: true,
            })
        }
        fn serialize_tuple(self, len: usize) -> Result<Compound<'a, O>, Unsupported> {
            self.serialize_seq(Some(len))
        }
        fn serialize_tuple_struct(
            self,
            _name: &'static str,
            len: usize,
        ) -> Result<Compound<'a, O>, Unsupported> {
            self.serialize_seq(Some(len))
        }
        fn serialize_tuple_variant(
            self,
            _name: &'static str,
            _index: u32,
            _variant: &'static str,
            _len: usize,
        ) -> Result<Self::SerializeTupleVariant, Unsupported> {
            Err(Unsupported)
        }
        fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, O>, Unsupported> {
            self.0.raw(b"{")?;
            Ok(Compound {
                ser: self,
                first: true,
            })
        }
        fn serialize_struct(
            self,
            _name: &'static str,
            _len: usize,
        ) -> Result<Compound<'a, O>, Unsupported> {
            self.serialize_map(None)
        }
        fn serialize_struct_variant(
            self,
            _name: &'static str,
            _index: u32,
            variant: &'static str,
            _len: usize,
        ) -> Result<Compound<'a, O>, Unsupported> {
            // {"variant":{
            self.0.raw(b"{\"")?;
            self.0.raw(variant.as_bytes())?;
            self.0.raw(b"\":{")?;
            Ok(Compound {
                ser: self,
                first: true,
            })
        }
        fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
            struct Escape<'c, O>(&'c mut O);
            impl<O: Out> fmt::Write for Escape<'_, O> {
                fn write_str(&mut self, s: &str) -> fmt::Result {
                    self.0.escaped(s.as_bytes()).map_err(|_| fmt::Error)
                }
            }
            self.0.raw(b"\"")?;
            fmt::write(&mut Escape(&mut self.0), format_args!("{value}"))
                .map_err(|_| Unsupported)?;
            self.0.raw(b"\"")
        }
    }

    impl<O: Out> ser::SerializeSeq for Compound<'_, O> {
        type Ok = ();
        type Error = Unsupported;
        fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
            self.comma()?;
            v.serialize(&mut *self.ser)
        }
        fn end(self) -> Result<(), Unsupported> {
            self.ser.0.raw(b"]")
        }
    }

    impl<O: Out> ser::SerializeTuple for Compound<'_, O> {
        type Ok = ();
        type Error = Unsupported;
        fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
            ser::SerializeSeq::serialize_element(self, v)
        }
        fn end(self) -> Result<(), Unsupported> {
            ser::SerializeSeq::end(self)
        }
    }

    impl<O: Out> ser::SerializeTupleStruct for Compound<'_, O> {
        type Ok = ();
        type Error = Unsupported;
        fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
            ser::SerializeSeq::serialize_element(self, v)
        }
        fn end(self) -> Result<(), Unsupported> {
            ser::SerializeSeq::end(self)
        }
    }

    impl<O: Out> ser::SerializeMap for Compound<'_, O> {
        type Ok = ();
        type Error = Unsupported;
        fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
            self.comma()?;
            key.serialize(&mut *self.ser)?;
            self.ser.0.raw(b":")
        }
        fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
            v.serialize(&mut *self.ser)
        }
        fn end(self) -> Result<(), Unsupported> {
            self.ser.0.raw(b"}")
        }
    }

    impl<O: Out> ser::SerializeStruct for Compound<'_, O> {
        type Ok = ();
        type Error = Unsupported;
        fn serialize_field<T: Serialize + ?Sized>(
            &mut self,
            key: &'static str,
            v: &T,
        ) -> Result<(), Unsupported> {
            // "key":  (serde-json-core writes field names without escaping)
            self.comma()?;
            self.ser.0.raw(b"\"")?;
            self.ser.0.raw(key.as_bytes())?;
            self.ser.0.raw(b"\":")?;
            v.serialize(&mut *self.ser)
        }
        fn end(self) -> Result<(), Unsupported> {
            self.ser.0.raw(b"}")
        }
    }

    impl<O: Out> ser::SerializeStructVariant for Compound<'_, O> {
        type Ok = ();
        type Error = Unsupported;
        fn serialize_field<T: Serialize + ?Sized>(
            &mut self,
            key: &'static str,
            v: &T,
        ) -> Result<(), Unsupported> {
            ser::SerializeStruct::serialize_field(self, key, v)
        }
        fn end(self) -> Result<(), Unsupported> {
            self.ser.0.raw(b"}}")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::string::String;
    use std::vec::Vec;

    use super::*;
    use crate::export::SpanBatch;
    use crate::span::attributes::Value;
    use crate::wire::otlp::test_support::{hand_span, with_sample_batch, TestSlot, T0};

    fn to_string(span: &SpanData<'_>) -> String {
        let len = span_len(span);
        let mut buf = std::vec![0xa5; len + 8];
        let n = emit_span(span, &mut buf).unwrap();
        assert_eq!(n, len, "span_len is exact");
        assert!(
            buf[n..].iter().all(|&b| b == 0xa5),
            "nothing past the object"
        );
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[cfg(feature = "tracestate")]
    const RENDER: &str = concat!(
        r#"{"traceId":"e0c8423b42fbc59cfdc08fefca0e5a58","spanId":"e8befb97e58c1b1c","#,
        r#""parentSpanId":"da3194f97e21cb3f","name":"render","kind":1,"#,
        r#""startTimeUnixNano":"1700000000011000000","endTimeUnixNano":"1700000000014000000","#,
        r#""attributes":[{"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"stringValue":"b"}]}}}],"#,
        r#""links":[{"traceId":"11111111111111111111111111111111","spanId":"2222222222222222","#,
        r#""traceState":"vendor=abc","attributes":[{"key":"link.kind","value":{"stringValue":"cause"}}],"#,
        r#""flags":769}],"flags":259}"#,
    );

    #[cfg(feature = "tracestate")]
    const QUERY: &str = concat!(
        r#"{"traceId":"e0c8423b42fbc59cfdc08fefca0e5a58","spanId":"517839c2055d0c57","#,
        r#""parentSpanId":"da3194f97e21cb3f","name":"query_database","kind":3,"#,
        r#""startTimeUnixNano":"1700000000001000000","endTimeUnixNano":"1700000000010800000","#,
        r#""attributes":[{"key":"db.system.name","value":{"stringValue":"postgresql"}},"#,
        r#"{"key":"db.rows","value":{"arrayValue":{"values":[{"intValue":"3"},{"intValue":"-1"}]}}}],"#,
        r#""events":[{"timeUnixNano":"1700000000003500000","name":"exception","#,
        r#""attributes":[{"key":"exception.message","value":{"stringValue":"timed out"}}]}],"#,
        r#""status":{"message":"timeout","code":2},"flags":259}"#,
    );

    #[cfg(feature = "tracestate")]
    const ROOT: &str = concat!(
        r#"{"traceId":"e0c8423b42fbc59cfdc08fefca0e5a58","spanId":"da3194f97e21cb3f","#,
        r#""name":"GET /users","kind":2,"#,
        r#""startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000015200000","#,
        r#""attributes":[{"key":"http.request.method","value":{"stringValue":"GET"}},"#,
        r#"{"key":"http.response.status_code","value":{"intValue":"200"}},"#,
        r#"{"key":"user_agent.original","value":{"stringValue":"curl/8 \"quoted\""}},"#,
        r#"{"key":"retry","value":{"boolValue":false}},"#,
        r#"{"key":"sample.ratio","value":{"doubleValue":0.25}}],"#,
        r#""status":{"code":1},"flags":259}"#,
    );

    const PREFIX: &str = concat!(
        r#"{"resourceSpans":[{"resource":{"attributes":["#,
        r#"{"key":"service.name","value":{"stringValue":"checkout"}},"#,
        r#"{"key":"telemetry.sdk.name","value":{"stringValue":"picotrace"}},"#,
        r#"{"key":"telemetry.sdk.language","value":{"stringValue":"rust"}},"#,
        r#"{"key":"telemetry.sdk.version","value":{"stringValue":""#,
        env!("CARGO_PKG_VERSION"),
        r#""}}]},"scopeSpans":[{"scope":{"name":"shop.http","version":"1.4.0"},"spans":["#,
    );
    const SUFFIX: &str = "]}]}]}";

    /// A resource's (or scope's) `u64` attribute, which goes through the serde writer:
    /// above `i64::MAX` its decimal text, below it an integer, as protobuf writes them
    /// (found by review: only the protobuf side had a test).
    #[test]
    fn u64_values_are_decimal_text_above_i64_max() {
        let json = |value: Value<'_>| {
            let mut buf = [0u8; 64];
            let n = write_json(&AnyJson(value.into()), &mut buf).unwrap();
            String::from_utf8(buf[..n].to_vec()).unwrap()
        };
        assert_eq!(
            json(Value::U64(u64::MAX)),
            r#"{"stringValue":"18446744073709551615"}"#
        );
        assert_eq!(
            json(Value::U64(1 << 63)),
            r#"{"stringValue":"9223372036854775808"}"#
        );
        assert_eq!(json(Value::U64(7)), r#"{"intValue":"7"}"#);
        assert_eq!(
            json(Value::U64(i64::MAX as u64)),
            r#"{"intValue":"9223372036854775807"}"#
        );
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn spans_match_the_otlp_json_mapping() {
        with_sample_batch(|batch| {
            let got: Vec<_> = batch.iter().map(|s| to_string(&s)).collect();
            assert_eq!(got, [QUERY, RENDER, ROOT]);
        });
    }

    fn whole_request(batch: &SpanBatch<'_>) -> String {
        let mut buf = std::vec![0xa5; 8192];
        let done = encode_request(batch.resource, batch.scope, batch.iter(), &mut buf).unwrap();
        assert_eq!(done.spans, batch.len());
        assert!(buf[done.bytes..].iter().all(|&b| b == 0xa5));
        String::from_utf8(buf[..done.bytes].to_vec()).unwrap()
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn request_wraps_spans_in_resource_and_scope() {
        with_sample_batch(|batch| {
            let want = std::format!("{PREFIX}{QUERY},{RENDER},{ROOT}{SUFFIX}");
            let request = whole_request(batch);
            assert_eq!(request, want);

            let records: usize = batch.iter().map(|s| span_record_len(span_len(&s))).sum();
            assert_eq!(
                request_overhead_len(batch.resource, batch.scope) + records,
                want.len()
            );

            let pre: Vec<String> = batch.iter().map(|s| to_string(&s)).collect();
            let mut buf = std::vec![0xa5; want.len()];
            let n = encode_request_from_encoded(
                batch.resource,
                batch.scope,
                pre.iter().map(|s| s.as_bytes()),
                &mut buf,
            )
            .unwrap();
            assert_eq!(&buf[..n], want.as_bytes());
            assert_eq!(
                encode_request_from_encoded(
                    batch.resource,
                    batch.scope,
                    pre.iter().map(|s| s.as_bytes()),
                    &mut buf[..n - 1],
                ),
                Err(EncodeError::BufferTooSmall)
            );
        });
    }

    #[test]
    fn schema_url_goes_after_scope_spans() {
        let resource = Resource {
            service_name: "s",
            attributes: &[],
            schema_url: "https://opentelemetry.io/schemas/1.26.0",
        };
        let scope = InstrumentationScope::new("", "");
        let slot = hand_span(1, 2, None, "", (0, 0), |_| {});
        let mut buf = [0u8; 1024];
        let done =
            encode_request(&resource, &scope, core::iter::once(slot.data()), &mut buf).unwrap();
        let text = core::str::from_utf8(&buf[..done.bytes]).unwrap();
        assert!(
            text.contains(r#""scopeSpans":[{"scope":{},"spans":[{"#),
            "{text}"
        );
        assert!(
            text.ends_with(r#"]}],"schemaUrl":"https://opentelemetry.io/schemas/1.26.0"}]}"#),
            "{text}"
        );
        // An empty name is left out.
        assert!(
            text.contains(r#""spanId":"0202020202020202","kind":1,"#),
            "{text}"
        );
        assert_eq!(
            request_overhead_len(&resource, &scope) + span_record_len(span_len(&slot.data())),
            done.bytes
        );
    }

    #[test]
    fn the_scopes_attributes_and_schema_url_go_in_its_scope_spans() {
        use crate::{KeyValue, Value};
        static ATTRIBUTES: [KeyValue<'static>; 3] = [
            KeyValue {
                key: "module",
                value: Value::Str("old"),
            },
            KeyValue {
                key: "",
                value: Value::I64(1),
            },
            KeyValue {
                key: "module",
                value: Value::Str("http"),
            },
        ];
        let resource = Resource {
            service_name: "s",
            attributes: &[],
            schema_url: "https://r",
        };
        let scope = InstrumentationScope::new("lib", "")
            .with_attributes(&ATTRIBUTES)
            .with_schema_url("https://s");
        let slot = hand_span(1, 2, None, "", (0, 0), |_| {});
        let mut buf = [0u8; 1024];
        let done =
            encode_request(&resource, &scope, core::iter::once(slot.data()), &mut buf).unwrap();
        let text = core::str::from_utf8(&buf[..done.bytes]).unwrap();
        let scope_json = r#""scope":{"name":"lib","attributes":[{"key":"module","value":{"stringValue":"http"}}],"droppedAttributesCount":1},"spans":[{"#;
        assert!(text.contains(scope_json), "{text}");
        assert!(
            text.ends_with(r#"}],"schemaUrl":"https://s"}],"schemaUrl":"https://r"}]}"#),
            "{text}"
        );
        assert_eq!(
            request_overhead_len(&resource, &scope) + span_record_len(span_len(&slot.data())),
            done.bytes
        );
    }

    #[test]
    fn strings_are_escaped() {
        let nasty = "q\"b\\s/\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f} é 😀";
        let slot = hand_span(1, 2, None, nasty, (0, 1), |w| {
            w.set_attribute(nasty, None, &Value::Str(nasty), &crate::SpanLimits::DEFAULT);
        });
        let text = to_string(&slot.data());
        let escaped = String::from(r#""q\"b\\s/\n\r\t\b\f\u0000\u001F"#) + "\u{7f} é 😀\"";
        assert!(
            text.contains(&std::format!(r#""name":{escaped}"#)),
            "{text}"
        );
        assert!(
            text.contains(&std::format!(
                r#"{{"key":{escaped},"value":{{"stringValue":{escaped}}}}}"#
            )),
            "{text}"
        );
    }

    /// The encoders' writer (`emit_span`, `span_len`) against `SpanJson` serialized by
    /// the serde path, byte for byte.
    fn assert_direct_matches_serde(span: &SpanData<'_>) {
        let mut buf = std::vec![0u8; 8192];
        let n = write_json(&SpanJson(*span), &mut buf).unwrap();
        let serde = String::from_utf8(buf[..n].to_vec()).unwrap();
        assert_eq!(to_string(span), serde);
        assert_eq!(span_len(span), json_len(&SpanJson(*span)));
    }

    #[test]
    fn the_direct_span_writer_writes_what_serde_writes() {
        with_sample_batch(|batch| batch.iter().for_each(|s| assert_direct_matches_serde(&s)));
        let nasty = "q\"b\\s/\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f} é 😀";
        let limits = crate::SpanLimits {
            attribute_count: 64,
            ..crate::SpanLimits::DEFAULT
        };
        let slot = hand_span(1, 2, Some(3), nasty, (0, 1), |w| {
            for (key, value) in [
                (nasty, Value::Str(nasty)),
                ("empty", Value::Str("")),
                ("i-min", Value::I64(i64::MIN)),
                ("i-max", Value::I64(i64::MAX)),
                ("u-big", Value::U64(u64::MAX)),
                ("u-small", Value::U64(7)),
                ("t", Value::Bool(true)),
                ("f", Value::Bool(false)),
                ("nan", Value::F64(f64::NAN)),
                ("inf", Value::F64(f64::INFINITY)),
                ("ninf", Value::F64(f64::NEG_INFINITY)),
                ("tiny", Value::F64(-1e-300)),
                ("strs", Value::StrArray(&["a", nasty, ""])),
                ("bools", Value::BoolArray(&[true, false])),
                ("ints", Value::I64Array(&[0, -1, i64::MAX])),
                ("floats", Value::F64Array(&[1.5, f64::NAN])),
                ("none", Value::BoolArray(&[])),
            ] {
                w.set_attribute(key, None, &value, &limits);
            }
            let at = crate::Timestamp::from_unix_nanos(T0 + 5);
            w.add_event(nasty, at, &[crate::KeyValue::new("k", nasty)], &limits);
            w.add_event("", crate::Timestamp::from_unix_nanos(0), &[], &limits);
            let linked = crate::SpanContext {
                trace_id: crate::TraceId::from_bytes([9; 16]),
                span_id: crate::SpanId::from_bytes([8; 8]),
                flags: crate::TraceFlags::SAMPLED,
                is_remote: true,
            };
            w.add_link(
                linked,
                "v=1,w=2",
                &[crate::KeyValue::new("why", "retry")],
                &limits,
            );
            w.add_link(linked, "", &[], &limits);
            w.set_status(&Status::Error { description: nasty });
        });
        assert_direct_matches_serde(&slot.data());
        // Every dropped count, and an Ok status.
        let tight = crate::SpanLimits {
            attribute_count: 1,
            event_count: 1,
            link_count: 1,
            ..crate::SpanLimits::DEFAULT
        };
        let slot = hand_span(4, 5, None, "tight", (1, 2), |w| {
            for key in ["a", "b", "c"] {
                w.set_attribute(key, None, &Value::I64(1), &tight);
            }
            let at = crate::Timestamp::from_unix_nanos(T0);
            for _ in 0..3 {
                w.add_event(
                    "e",
                    at,
                    &[
                        crate::KeyValue::new("x", 1i64),
                        crate::KeyValue::new("y", 2i64),
                    ],
                    &tight,
                );
                w.add_link(
                    crate::SpanContext {
                        trace_id: crate::TraceId::from_bytes([9; 16]),
                        span_id: crate::SpanId::from_bytes([8; 8]),
                        flags: crate::TraceFlags::SAMPLED,
                        is_remote: true,
                    },
                    "",
                    &[],
                    &tight,
                );
            }
            w.set_status(&Status::Ok);
        });
        let span = slot.data();
        // Each limit of 1 keeps one of three (found by review: `> 0` held on the
        // slot's own capacity of 2 links without the link limit).
        assert_eq!(span.dropped_links_count(), 2);
        assert_eq!(span.dropped_events_count(), 2);
        assert_eq!(span.dropped_attributes_count(), 2);
        assert_direct_matches_serde(&span);
        // Nothing but the ids: no name, times or attributes.
        assert_direct_matches_serde(&hand_span(1, 2, None, "", (0, 0), |_| {}).data());
    }

    #[test]
    fn numbers_follow_the_json_mapping() {
        let slot = hand_span(1, 2, None, "n", (0, 1), |w| {
            let limits = crate::SpanLimits::DEFAULT;
            w.set_attribute("min", None, &Value::I64(i64::MIN), &limits);
            w.set_attribute("max", None, &Value::I64(i64::MAX), &limits);
            w.set_attribute("zero", None, &Value::I64(0), &limits);
            w.set_attribute("nan", None, &Value::F64(f64::NAN), &limits);
            w.set_attribute("inf", None, &Value::F64(f64::INFINITY), &limits);
            w.set_attribute("ninf", None, &Value::F64(f64::NEG_INFINITY), &limits);
            w.set_attribute("tiny", None, &Value::F64(-1e-300), &limits);
            w.set_attribute("floats", None, &Value::F64Array(&[1.0, f64::NAN]), &limits);
            w.set_attribute("empty", None, &Value::BoolArray(&[]), &limits);
        });
        let text = to_string(&slot.data());
        for part in [
            r#"{"key":"min","value":{"intValue":"-9223372036854775808"}}"#,
            r#"{"key":"max","value":{"intValue":"9223372036854775807"}}"#,
            r#"{"key":"zero","value":{"intValue":"0"}}"#,
            r#"{"key":"nan","value":{"doubleValue":"NaN"}}"#,
            r#"{"key":"inf","value":{"doubleValue":"Infinity"}}"#,
            r#"{"key":"ninf","value":{"doubleValue":"-Infinity"}}"#,
            r#"{"key":"tiny","value":{"doubleValue":-1e-300}}"#,
            r#"{"key":"floats","value":{"arrayValue":{"values":[{"doubleValue":1.0},{"doubleValue":"NaN"}]}}}"#,
            r#"{"key":"empty","value":{"arrayValue":{"values":[]}}}"#,
            r#""startTimeUnixNano":"1700000000000000000""#,
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
    }

    #[test]
    fn splitting_puts_every_span_in_exactly_one_complete_request() {
        with_sample_batch(|batch| {
            let full = whole_request(batch).len();
            let all: Vec<_> = batch.iter().map(|s| to_string(&s)).collect();
            let overhead = request_overhead_len(batch.resource, batch.scope);
            let largest = all.iter().map(|s| span_record_len(s.len())).max().unwrap();
            for size in overhead + largest..=full + 2 {
                let mut buf = std::vec![0xa5; size];
                let mut seen = Vec::new();
                let mut requests = 0;
                let mut rest = batch.iter();
                while rest.clone().next().is_some() {
                    let done = encode_request(batch.resource, batch.scope, rest.clone(), &mut buf)
                        .unwrap_or_else(|e| panic!("size {size}: {e}"));
                    let text = core::str::from_utf8(&buf[..done.bytes]).unwrap();
                    let spans = text
                        .strip_prefix(PREFIX)
                        .and_then(|t| t.strip_suffix(SUFFIX))
                        .unwrap_or_else(|| panic!("size {size}: {text}"));
                    let expected = all[seen.len()..seen.len() + done.spans].join(",");
                    assert_eq!(spans, expected, "size {size}");
                    seen.extend(all[seen.len()..seen.len() + done.spans].iter().cloned());
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
    fn a_span_that_never_fits_is_reported_not_truncated() {
        with_sample_batch(|batch| {
            let overhead = request_overhead_len(batch.resource, batch.scope);
            let first = span_len(&batch.iter().next().unwrap());
            let smallest = overhead + span_record_len(first);
            for size in 0..smallest {
                let mut buf = std::vec![0xa5; size];
                let got = encode_request(batch.resource, batch.scope, batch.iter(), &mut buf);
                let want = if size < overhead + 1 {
                    EncodeError::BufferTooSmall
                } else {
                    EncodeError::SpanTooLarge { index: 0 }
                };
                assert_eq!(got, Err(want), "size {size}");
            }
            let mut buf = std::vec![0xa5; smallest];
            let done = encode_request(batch.resource, batch.scope, batch.iter(), &mut buf);
            assert_eq!(
                done,
                Ok(Encoded {
                    bytes: smallest,
                    spans: 1
                })
            );
        });
    }

    #[test]
    fn emit_span_into_short_buffers_fails_cleanly() {
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
    fn no_spans_means_nothing_to_send() {
        let resource = Resource::new("svc");
        let scope = InstrumentationScope::PICOTRACE;
        let mut buf = [0xa5; 4];
        let done = encode_request(&resource, &scope, core::iter::empty(), &mut buf).unwrap();
        assert_eq!(done, Encoded { bytes: 0, spans: 0 });
        assert_eq!(
            encode_request_from_encoded(&resource, &scope, core::iter::empty(), &mut buf),
            Ok(0)
        );
    }

    /// What serde-json-core writes for `v`, and what ours writes (and counts).
    fn both<T: Serialize + ?Sized>(v: &T) -> (Vec<u8>, Vec<u8>, usize) {
        let mut theirs = std::vec![0u8; 4096];
        let n = serde_json_core::to_slice(v, &mut theirs).unwrap();
        theirs.truncate(n);
        let mut ours = std::vec![0u8; 4096];
        let m = write_json(v, &mut ours).unwrap();
        ours.truncate(m);
        (theirs, ours, json_len(v))
    }

    #[test]
    fn the_eight_byte_test_agrees_with_the_table_for_every_byte_in_every_lane() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                for fill in [b'a', 0x80, 0xff] {
                    let mut word = [fill; 8];
                    word[lane] = b;
                    let want = word.iter().any(|&c| out::ESCAPE[usize::from(c)] != 0);
                    assert_eq!(
                        out::needs_escape(u64::from_le_bytes(word)),
                        want,
                        "{word:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_whole_text_test_agrees_with_the_table_for_every_byte_length_and_place() {
        // Up to three 16-byte blocks and their overlapping last one.
        for len in 0..=50 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut text = [b'a'; 50];
                    text[at] = b;
                    let text = &text[..len];
                    let want = text.iter().any(|&c| out::ESCAPE[usize::from(c)] != 0);
                    assert_eq!(out::any_escape(text), want, "{text:?}");
                }
            }
            assert!(!out::any_escape(&[b'a'; 50][..len]));
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_core_does_at_every_offset() {
        // Each kind of escape, and text that needs none (non-ASCII, DEL), at every
        // place in strings that span whole eight-byte groups and a tail.
        let specials = ["\"", "\\", "\n", "\u{1}", "\u{1f}", "é", "\u{7f}", "\"\n"];
        for len in 0..=20 {
            for at in 0..=len {
                for special in specials {
                    let s =
                        std::format!("{}{special}{}", "a".repeat(at), "é".repeat((len - at) / 2));
                    let (theirs, ours, counted) = both(s.as_str());
                    assert_eq!(ours, theirs, "{s:?}");
                    assert_eq!(counted, theirs.len(), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn counter_handles_every_serde_shape_like_serde_json_core() {
        #[derive(serde::Serialize)]
        enum E {
            Unit,
            New(u8),
            Struct { a: i32 },
        }
        #[derive(serde::Serialize)]
        struct S<'a> {
            a: Option<u8>,
            b: Option<&'a str>,
            c: (u16, i8, bool),
            d: [E; 3],
            e: f32,
            f: (),
            g: u64,
        }
        let v = S {
            a: None,
            b: Some("x\"y"),
            c: (65535, -128, false),
            d: [E::Unit, E::New(7), E::Struct { a: -5 }],
            e: 0.1,
            f: (),
            g: u64::MAX,
        };
        let (theirs, ours, len) = both(&v);
        assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(&theirs));
        assert_eq!(len, theirs.len());
        struct Map;
        impl Serialize for Map {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("k", &-1)?;
                m.serialize_entry("l\n", &[1u8, 2])?;
                m.end()
            }
        }
        let (theirs, ours, len) = both(&Map);
        assert_eq!(ours, theirs);
        assert_eq!(len, theirs.len());
        // Too small a buffer is an error at every size, never a panic.
        let mut small = [0u8; 64];
        for room in 0..theirs.len() {
            assert_eq!(write_json(&Map, &mut small[..room]), Err(BufferTooSmall));
        }
    }

    proptest::proptest! {
        #[test]
        fn strings_are_written_as_serde_json_core_writes_them(s in "\\PC*|[\\x00-\\x7f]*") {
            let (theirs, ours, len) = both(s.as_str());
            proptest::prop_assert_eq!(&ours, &theirs);
            proptest::prop_assert_eq!(len, theirs.len());
        }

        #[test]
        fn numbers_agree_with_serde_json_core(i in proptest::num::i64::ANY, f in proptest::num::f64::ANY) {
            let mut buf = [0u8; 64];
            let n = serde_json_core::to_slice(&I64Str(i), &mut buf).unwrap();
            let want = std::format!("\"{i}\"");
            proptest::prop_assert_eq!(&buf[..n], want.as_bytes());
            let (theirs, ours, len) = both(&Double(f));
            proptest::prop_assert_eq!(&ours, &theirs);
            proptest::prop_assert_eq!(len, theirs.len());
        }

        #[test]
        fn span_len_agrees_with_emit(name in "\\PC{0,40}", value in "\\PC{0,40}", i in proptest::num::i64::ANY) {
            let slot: TestSlot = hand_span(1, 2, Some(3), &name, (0, 1), |w| {
                let limits = crate::SpanLimits::DEFAULT;
                w.set_attribute(&value, None, &Value::Str(&value), &limits);
                w.set_attribute("i", None, &Value::I64(i), &limits);
                w.add_event(&name, crate::Timestamp::from_unix_nanos(T0), &[crate::KeyValue::new("v", value.as_str())], &limits);
            });
            let span = slot.data();
            let mut buf = std::vec![0u8; 4096];
            let n = emit_span(&span, &mut buf).unwrap();
            proptest::prop_assert_eq!(span_len(&span), n);
        }
    }
}
