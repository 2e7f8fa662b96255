//! One span's storage: a fixed-capacity slot, its writer ([`RecordMut`]) and its reader
//! ([`SpanData`]).
//!
//! A slot keeps strings (names, values, tracestate) in one byte pool of its own, and
//! attributes of the span, its events and its links in one attribute list, each tagged
//! with its owner. The writer works on capacity-erased views (`heapless::VecView`), so
//! the recording code exists once, whatever capacities the user chose.

use core::fmt;

use heapless::{Vec, VecView};

use super::attributes::{ArrayKind, ArrayValue, AttributeValue, KeyValue, Value};
use super::{SpanKind, Status};
use crate::context::SpanContext;
use crate::id::SpanId;
use crate::time::Timestamp;

/// Text for a name or value: a `&str`, copied, or `fmt::Arguments`, formatted straight
/// into the span's storage. A trait rather than an enum of the two: a program that
/// never formats links no `core::fmt` (about 1.5 KB of flash on a Cortex-M3, which an
/// enum's formatting arm kept linked for every string stored).
pub(crate) trait Text: Copy {
    /// Stores the text in the record's pool, cut to `limit` characters and to the room
    /// left (a cut is counted).
    fn push(self, record: &mut RecordMut<'_>, limit: u32) -> TextRef;

    /// [`Text::push`] for text set again whose old text (`old`, with the room it has)
    /// is not the last in the pool: written over it when it fits there, or when the
    /// pool's end has no more room than it (cut to it then); else at the end.
    fn push_over(self, record: &mut RecordMut<'_>, limit: u32, old: TextRef) -> TextRef;
}

impl Text for &str {
    #[inline]
    fn push(self, record: &mut RecordMut<'_>, limit: u32) -> TextRef {
        record.push_text(self, limit)
    }

    fn push_over(self, record: &mut RecordMut<'_>, limit: u32, old: TextRef) -> TextRef {
        match record.overwrite(old, self, limit) {
            Some(new) => new,
            None => record.push_text(self, limit),
        }
    }
}

impl Text for fmt::Arguments<'_> {
    fn push(self, record: &mut RecordMut<'_>, limit: u32) -> TextRef {
        match self.as_str() {
            Some(s) => record.push_text(s, limit),
            None => push_fmt(record.text, &mut record.header.truncated, self, limit, None),
        }
    }

    fn push_over(self, record: &mut RecordMut<'_>, limit: u32, old: TextRef) -> TextRef {
        match self.as_str() {
            Some(s) => s.push_over(record, limit, old),
            None => push_fmt(
                record.text,
                &mut record.header.truncated,
                self,
                limit,
                Some(old),
            ),
        }
    }
}

/// An event attribute's value: a [`Value`], or text stored into the span's storage
/// (`T`: a [`Text`]; `&str` where only values are given).
#[derive(Clone, Copy, Debug)]
pub(crate) enum EventValue<'v, 'a, T> {
    Value(&'v Value<'a>),
    Text(T),
}

/// An event being written attribute by attribute ([`RecordMut::begin_event`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventState {
    index: u8,
    /// Attributes before this index belong to the span or to earlier events.
    first_attr: usize,
    /// Attributes the event holds (for `SpanLimits::attributes_per_event`).
    kept: u32,
    /// One bit ([`key_bit`]) per key the event holds: a clear bit proves a key new.
    key_filter: u64,
    pub(crate) named: bool,
    /// A name given was cut to nothing for want of room (the event has none).
    name_lost: bool,
    /// The pool's length when the event began: what it stored since.
    first_text: usize,
    /// The cut values counted when the event began: those counted since are its own.
    first_truncated: u32,
}

/// Where a string lives inside a slot's text pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TextRef {
    start: u16,
    len: u16,
}

impl TextRef {
    const EMPTY: Self = Self { start: 0, len: 0 };
}

#[derive(Clone, Copy, Debug)]
enum StoredKey {
    Static(&'static str),
    Pooled(TextRef),
}

#[derive(Clone, Copy, Debug)]
enum StoredValue {
    Str(TextRef),
    Bool(bool),
    I64(i64),
    F64(f64),
    Array(ArrayKind, TextRef),
}

/// Owner tag of an attribute: the span itself, event `n` or link `n`.
const OWNER_SPAN: u8 = 0;
const OWNER_EVENT: u8 = 1; // 1..=127: event index + 1
const OWNER_LINK: u8 = 128; // 128..=255: link index + 128

#[derive(Clone, Copy, Debug)]
pub(crate) struct StoredAttr {
    owner: u8,
    /// Bytes of the pool the value's text may take when it is set again: more than its
    /// length after a shorter value went over a longer one; 0 for its length.
    room: u16,
    key: StoredKey,
    value: StoredValue,
    /// Whether a sampling decision gave it (in the struct's padding).
    given: Given,
}

/// Whether a span attribute is the span's own or a sampling decision's
/// ([`SamplingResult::attributes`]): a new decision (`Span::set_parent`) takes the
/// earlier one's away, unless they were set since.
///
/// [`SamplingResult::attributes`]: crate::SamplingResult::attributes
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Given {
    /// Set by the span's builder or by a setter (the sampler's value over a builder's
    /// is the span's too: taking it away would leave neither).
    Own,
    /// Added by the last sampling decision.
    Decision,
    /// Added by a decision a new one is replacing: gone once it has decided, unless it
    /// gives the same key again (its value goes over this one's, in its room).
    Stale,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct StoredEvent {
    time: Timestamp,
    name: TextRef,
    dropped_attributes: u32,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct StoredLink {
    context: SpanContext,
    trace_state: TextRef,
    dropped_attributes: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum StatusCode {
    #[default]
    Unset,
    Ok,
    Error,
}

/// The length limit of span and event names and of status descriptions: none but the
/// room the span has left. OpenTelemetry's value length limit
/// (`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`) is for attribute values only; names are what
/// backends group spans by.
const NAME_LIMIT: u32 = u32::MAX;

/// Per-span limits applied while recording (OpenTelemetry's `SpanLimits`); the slot's
/// compile-time capacities cap them further.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanLimits {
    /// Attributes per span (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, default 128).
    pub attribute_count: u32,
    /// Events per span (`OTEL_SPAN_EVENT_COUNT_LIMIT`, default 128).
    pub event_count: u32,
    /// Links per span (`OTEL_SPAN_LINK_COUNT_LIMIT`, default 128).
    pub link_count: u32,
    /// Attributes per event (`OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`, default 128).
    pub attributes_per_event: u32,
    /// Attributes per link (`OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`, default 128).
    pub attributes_per_link: u32,
    /// Longest string value in characters (`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, default
    /// unlimited; each element of a string array alike); longer values are cut to that
    /// many characters and counted. Values given as numbers are never cut (the spec:
    /// non-string values "MUST NOT be truncated"), a `u64` above `i64::MAX` included,
    /// though OTLP carries it as its decimal string.
    pub value_length: u32,
}

impl SpanLimits {
    /// The OpenTelemetry defaults.
    pub const DEFAULT: Self = Self {
        attribute_count: 128,
        event_count: 128,
        link_count: 128,
        attributes_per_event: 128,
        attributes_per_link: 128,
        value_length: u32::MAX,
    };
}

impl Default for SpanLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The fixed-size part of a span record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    pub(crate) context: SpanContext,
    pub(crate) parent: Option<SpanId>,
    pub(crate) parent_is_remote: bool,
    kind: SpanKind,
    name: TextRef,
    pub(crate) start: Timestamp,
    status: StatusCode,
    status_message: TextRef,
    trace_state: TextRef,
    dropped_attributes: u32,
    dropped_events: u32,
    dropped_links: u32,
    /// Strings cut short by the value length limit or a full text pool.
    pub(crate) truncated: u32,
    /// How many of `attrs` belong to the span itself (not to its events or links).
    span_attributes: u16,
    /// The room the name's and the status description's text own: more than their
    /// length once a shorter text was written over a longer one (0: their length).
    /// Without it, a description that went from "connection refused" to "connection
    /// reset" and back found 16 bytes, and was cut or took new room each time (found
    /// by review), as attribute values did before `StoredAttr::room`.
    name_room: u16,
    status_room: u16,
    /// One bit ([`key_bit`]) per span attribute key stored: a clear bit proves a new key
    /// is not there yet, so most writes skip the duplicate scan.
    key_filter: u64,
    /// Started while its thread was unwinding from a panic, or its work finished
    /// before one (see [`RecordMut::finished_before_any_panic`]): its end then is not
    /// the panic's doing (see `Tracer::end_span`).
    #[cfg(feature = "std")]
    pub(crate) started_unwinding: bool,
}

impl Header {
    const EMPTY: Self = Self {
        context: SpanContext::INVALID,
        parent: None,
        parent_is_remote: false,
        kind: SpanKind::Internal,
        name: TextRef::EMPTY,
        start: Timestamp::ZERO,
        status: StatusCode::Unset,
        status_message: TextRef::EMPTY,
        trace_state: TextRef::EMPTY,
        dropped_attributes: 0,
        dropped_events: 0,
        dropped_links: 0,
        truncated: 0,
        span_attributes: 0,
        name_room: 0,
        status_room: 0,
        key_filter: 0,
        #[cfg(feature = "std")]
        started_unwinding: false,
    };
}

/// Storage for one span: `ATTRS` attributes shared by the span, its events and links,
/// `EVENTS` events, `LINKS` links and `TEXT` bytes of strings.
#[derive(Debug)]
pub struct Slot<const ATTRS: usize, const EVENTS: usize, const LINKS: usize, const TEXT: usize> {
    pub(crate) header: Header,
    pub(crate) end: EndTime,
    pub(crate) attrs: Vec<StoredAttr, ATTRS>,
    pub(crate) events: Vec<StoredEvent, EVENTS>,
    pub(crate) links: Vec<StoredLink, LINKS>,
    pub(crate) text: Vec<u8, TEXT>,
}

/// A slot's end time, on a cache line of its own on servers: a span ended on another
/// thread writes only this line and the ended list, so the thread that claims the slot
/// next finds the header still in its cache (writing the end into the header made a
/// span started on one thread and ended on another take 245 ns instead of 155).
#[cfg_attr(target_pointer_width = "64", repr(align(64)))]
#[derive(Clone, Copy, Debug)]
pub(crate) struct EndTime(pub(crate) Timestamp);

impl<const ATTRS: usize, const EVENTS: usize, const LINKS: usize, const TEXT: usize>
    Slot<ATTRS, EVENTS, LINKS, TEXT>
{
    const CAPACITY_CHECK: () = {
        assert!(EVENTS < 128, "at most 127 events per span");
        assert!(LINKS < 128, "at most 127 links per span");
        assert!(
            TEXT <= u16::MAX as usize,
            "at most 65535 text bytes per span"
        );
    };

    /// Creates an empty slot.
    pub const fn new() -> Self {
        let () = Self::CAPACITY_CHECK;
        Self {
            header: Header::EMPTY,
            end: EndTime(Timestamp::ZERO),
            attrs: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            text: Vec::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn writer(&mut self) -> RecordMut<'_> {
        RecordMut {
            header: &mut self.header,
            end: &mut self.end,
            attrs: self.attrs.as_mut_view(),
            events: self.events.as_mut_view(),
            links: self.links.as_mut_view(),
            text: self.text.as_mut_view(),
        }
    }

    pub(crate) fn data(&self) -> SpanData<'_> {
        SpanData {
            header: &self.header,
            end: self.end.0,
            attrs: &self.attrs,
            events: &self.events,
            links: &self.links,
            text: &self.text,
        }
    }
}

impl<const ATTRS: usize, const EVENTS: usize, const LINKS: usize, const TEXT: usize> Default
    for Slot<ATTRS, EVENTS, LINKS, TEXT>
{
    fn default() -> Self {
        Self::new()
    }
}

/// The values a new span record starts with.
pub(crate) struct NewRecord<'a> {
    pub context: SpanContext,
    pub parent: Option<SpanId>,
    pub parent_is_remote: bool,
    pub kind: SpanKind,
    pub name: &'a str,
    pub start: Timestamp,
    pub trace_state: &'a str,
}

/// Writes into one slot; every method applies the limits and counts what it drops.
/// (Opaque: only the tracer uses it.)
#[doc(hidden)]
#[derive(Debug)]
pub struct RecordMut<'a> {
    pub(crate) header: &'a mut Header,
    pub(crate) end: &'a mut EndTime,
    pub(crate) attrs: &'a mut VecView<StoredAttr>,
    pub(crate) events: &'a mut VecView<StoredEvent>,
    pub(crate) links: &'a mut VecView<StoredLink>,
    pub(crate) text: &'a mut VecView<u8>,
}

impl RecordMut<'_> {
    /// Clears the slot and starts a record in it. Always inlined: out of line (once a
    /// second caller, `set_parent`'s, appeared) the start built its `NewRecord` on the
    /// stack and the byte-aligned context was copied twice by `memcpy` calls (Cortex-M3
    /// W1: 959 to 1,165 instructions).
    #[inline(always)]
    pub(crate) fn init(&mut self, new: &NewRecord<'_>) {
        self.attrs.clear();
        self.events.clear();
        self.links.clear();
        self.text.clear();
        // Trace state first: it is propagated, so it is worth its bytes more than a
        // long name; it is never cut inside a member (a cut member would make the
        // whole list invalid): members that do not fit are left out, and counted.
        let mut truncated = 0;
        let trace_state = push_trace_state(self.text, &mut truncated, new.trace_state);
        let name = push_text(self.text, &mut truncated, new.name, NAME_LIMIT);
        // Every field written once, none zeroed first: only what must start at zero is
        // zero. (The end time is not here: see `EndTime`.)
        *self.header = Header {
            context: new.context,
            parent: new.parent,
            parent_is_remote: new.parent_is_remote,
            kind: new.kind,
            name,
            start: new.start,
            trace_state,
            truncated,
            #[cfg(feature = "std")]
            started_unwinding: std::thread::panicking(),
            ..Header::EMPTY
        };
    }

    /// Starts a record that only carries `trace_state` for a span that does not record
    /// (a disabled tracer's): no name, no parent, no times. Smaller than [`Self::init`],
    /// which the hot path inlines: firmware pays for this copy in flash.
    pub(crate) fn init_trace_state_only(
        &mut self,
        context: SpanContext,
        trace_state: &str,
        kind: SpanKind,
    ) {
        self.attrs.clear();
        self.events.clear();
        self.links.clear();
        self.text.clear();
        // The span's kind, for a sampler that decides it again at `set_parent` (found
        // by review: it saw `Internal` for a server span).
        *self.header = Header {
            context,
            kind,
            ..Header::EMPTY
        };
        self.set_trace_state(trace_state);
    }

    /// Copies `s` into the pool, cut at a char boundary to the limit and the space left.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    fn push_text(&mut self, s: &str, limit: u32) -> TextRef {
        push_text(self.text, &mut self.header.truncated, s, limit)
    }

    /// Copies a key into the pool whole, or returns `None` when it does not fit or is
    /// empty: OTLP keys must be whole and unique, and an attribute key "MUST be a
    /// non-null and non-empty string", so a cut or empty key is never stored.
    fn push_key(&mut self, key: &str) -> Option<TextRef> {
        let room = self.text.capacity() - self.text.len();
        (!key.is_empty() && key.len() <= room).then(|| self.push_text(key, u32::MAX))
    }

    /// Copies an array whole, each string element cut to `limit`; `None` (nothing
    /// stored, no cut counted) when it does not fit: the spec lets only strings be cut
    /// ("otherwise a value MUST NOT be truncated"), and a prefix of an array paired by
    /// index with another (`header_keys` / `header_values`) would pair the wrong
    /// elements (found by review: the elements that fitted were exported, with no drop
    /// counted in OTLP).
    fn push_array(&mut self, value: &Value<'_>, limit: u32) -> Option<(ArrayKind, TextRef)> {
        let start = self.text.len();
        let cuts = self.header.truncated;
        let (text, truncated) = (&mut *self.text, &mut self.header.truncated);
        // `all` stops at the first element that does not fit.
        let (kind, complete) = match *value {
            Value::StrArray(items) => {
                let complete = items.iter().all(|s| {
                    let cut = array_element_end(s, limit);
                    let stored =
                        push_all(text, &[&(cut as u16).to_le_bytes(), &s.as_bytes()[..cut]]);
                    // An element cut by the limit counts as a cut value, as a string does.
                    if stored && cut < s.len() {
                        *truncated = truncated.saturating_add(1);
                    }
                    stored
                });
                (ArrayKind::Str, complete)
            }
            Value::BoolArray(items) => (
                ArrayKind::Bool,
                items.iter().all(|&b| push_all(text, &[&[u8::from(b)]])),
            ),
            Value::I64Array(items) => (
                ArrayKind::I64,
                items.iter().all(|i| push_all(text, &[&i.to_le_bytes()])),
            ),
            Value::F64Array(items) => (
                ArrayKind::F64,
                items.iter().all(|f| push_all(text, &[&f.to_le_bytes()])),
            ),
            _ => return None,
        };
        if !complete {
            self.text.truncate(start);
            self.header.truncated = cuts;
            return None;
        }
        Some((
            kind,
            TextRef {
                start: start as u16,
                len: (self.text.len() - start) as u16,
            },
        ))
    }

    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    /// Stores a value; `None` (nothing stored) for a `u64` above `i64::MAX` whose
    /// decimal text does not fit whole (cut, it would be another number), and for an
    /// array that does not fit whole.
    fn store_value(&mut self, value: &Value<'_>, limits: &SpanLimits) -> Option<StoredValue> {
        Some(match *value {
            Value::Str(s) => StoredValue::Str(push_value(
                self.text,
                &mut self.header.truncated,
                s,
                limits.value_length,
            )?),
            Value::Bool(b) => StoredValue::Bool(b),
            Value::I64(i) => StoredValue::I64(i),
            Value::F64(f) => StoredValue::F64(f),
            Value::U64(u) => match i64::try_from(u) {
                Ok(i) => StoredValue::I64(i),
                // Above i64::MAX: its decimal text, as documented on `Value::U64`.
                Err(_) => {
                    let mut digits = [0u8; 20];
                    let text = decimal(u, &mut digits);
                    if text.len() > self.text.capacity() - self.text.len() {
                        return None;
                    }
                    StoredValue::Str(self.push_text(text, u32::MAX))
                }
            },
            // An array that does not fit whole is dropped (and counted there).
            _ => {
                let (kind, r) = self.push_array(value, limits.value_length)?;
                StoredValue::Array(kind, r)
            }
        })
    }

    #[inline]
    /// A stored key's bytes: keys were `&str` when stored, so comparing and hashing
    /// them needs no UTF-8 check.
    fn key_bytes(&self, key: &StoredKey) -> &[u8] {
        stored_key_bytes(self.text, key)
    }

    /// Where the span's own attribute of `key` is (`static_key`: the same key as a
    /// `'static`, told by its address first).
    #[inline]
    fn span_attribute_at(&self, key: &str, static_key: Option<&'static str>) -> Option<usize> {
        self.attrs.iter().position(|a| {
            a.owner == OWNER_SPAN
                && match (a.key, static_key) {
                    (StoredKey::Static(s), Some(k)) if core::ptr::eq(s, k) => true,
                    _ => self.key_bytes(&a.key) == key.as_bytes(),
                }
        })
    }

    /// Sets a span attribute, replacing the value of an existing key.
    #[inline(never)]
    pub(crate) fn set_attribute(
        &mut self,
        key: &str,
        static_key: Option<&'static str>,
        value: &Value<'_>,
        limits: &SpanLimits,
    ) {
        self.set_attribute_any(key, static_key, EventValue::<&str>::Value(value), limits);
    }

    /// Sets a list of span attributes (a span builder's). As in an event's or a link's
    /// list, a key given twice is set once, where it came first, to its last value: the
    /// list holds one attribute of that key, and it counts as one drop at most. (Found
    /// by review: the builder's list counted each; then, that a key whose earlier value
    /// had no room counted a drop though its last value was stored.)
    pub(crate) fn set_attribute_list(&mut self, attributes: &[KeyValue<'_>], limits: &SpanLimits) {
        for n in 0..attributes.len() {
            if let Some(kv) = last_of_key(attributes, n) {
                self.set_attribute(kv.key, None, &kv.value, limits);
            }
        }
    }

    /// Marks the attributes the last sampling decision gave as a replaced decision's
    /// ([`Given::Stale`]): [`Self::set_given_attributes`] writes a new decision's over
    /// those of the same key, and [`Self::take_stale_attributes`] removes the rest.
    pub(crate) fn mark_given_stale(&mut self) {
        for a in self.attrs.iter_mut() {
            if a.owner == OWNER_SPAN && a.given == Given::Decision {
                a.given = Given::Stale;
            }
        }
    }

    /// Sets the attributes a sampling decision gives the span, after the builder's (the
    /// sampler's keys win), marked as the decision's unless the key was the span's own
    /// already (a builder's value the sampler went over).
    pub(crate) fn set_given_attributes(
        &mut self,
        attributes: &[KeyValue<'_>],
        limits: &SpanLimits,
    ) {
        for n in 0..attributes.len() {
            let Some(kv) = last_of_key(attributes, n) else {
                continue;
            };
            let was_own = self
                .span_attribute_at(kv.key, None)
                .and_then(|i| self.attrs.get(i))
                .is_some_and(|a| a.given == Given::Own);
            self.set_attribute(kv.key, None, &kv.value, limits);
            if !was_own {
                let stored = self.span_attribute_at(kv.key, None);
                if let Some(a) = stored.and_then(|i| self.attrs.get_mut(i)) {
                    a.given = Given::Decision;
                }
            }
        }
    }

    /// Removes the attributes of a replaced decision (see [`Self::mark_given_stale`])
    /// but those whose keys `kept` has (found by a new user's tryout: a `tracing` span
    /// given its remote parent kept what its root sampler's decision at its start had
    /// given it). Called with the new decision's list before it is set, whose room
    /// they would otherwise take (found by review: a new key was dropped at the
    /// attribute limit that a stale one still held), and with none after. Their text
    /// stays in the pool.
    pub(crate) fn take_stale_attributes(&mut self, kept: &[KeyValue<'_>]) {
        let text = &*self.text;
        let before = self.attrs.len();
        self.attrs.retain(|a| {
            a.owner != OWNER_SPAN
                || a.given != Given::Stale
                || kept
                    .iter()
                    .any(|kv| stored_key_bytes(text, &a.key) == kv.key.as_bytes())
        });
        let taken = before - self.attrs.len();
        self.header.span_attributes = self
            .header
            .span_attributes
            .saturating_sub(u16::try_from(taken).unwrap_or(u16::MAX));
    }

    /// Sets a span attribute to text formatted straight into the pool.
    #[inline(never)]
    pub(crate) fn set_attribute_text(
        &mut self,
        key: &str,
        static_key: Option<&'static str>,
        value: impl Text,
        limits: &SpanLimits,
    ) {
        self.set_attribute_any(key, static_key, EventValue::Text(value), limits);
    }

    #[inline(always)]
    fn set_attribute_any<T: Text>(
        &mut self,
        key: &str,
        static_key: Option<&'static str>,
        value: EventValue<'_, '_, T>,
        limits: &SpanLimits,
    ) {
        if key.is_empty() {
            // Not a valid key: dropped, and counted as the spec's limits count drops.
            self.header.dropped_attributes = self.header.dropped_attributes.saturating_add(1);
            return;
        }
        if let Some(i) = self.span_attribute_at(key, static_key) {
            if self.replace_value(i, value, limits, None) {
                // Set since the decision that gave it: the span's own now.
                if let Some(a) = self.attrs.get_mut(i) {
                    a.given = Given::Own;
                }
            } else {
                self.header.span_attributes = self.header.span_attributes.saturating_sub(1);
                self.header.dropped_attributes = self.header.dropped_attributes.saturating_add(1);
            }
            return;
        }
        if u32::from(self.header.span_attributes) >= limits.attribute_count || self.attrs.is_full()
        {
            self.header.dropped_attributes = self.header.dropped_attributes.saturating_add(1);
            return;
        }
        let mark = self.text.len();
        let key = match static_key {
            Some(k) => StoredKey::Static(k),
            None => match self.push_key(key) {
                Some(r) => StoredKey::Pooled(r),
                None => {
                    self.header.dropped_attributes =
                        self.header.dropped_attributes.saturating_add(1);
                    return;
                }
            },
        };
        // Formatted text runs the caller's `Display`: counted as dropped until it is
        // stored, so that one that panics part way leaves the loss counted (found by
        // review).
        let formatted = u32::from(matches!(value, EventValue::Text(_)));
        let header = &mut *self.header;
        header.dropped_attributes = header.dropped_attributes.saturating_add(formatted);
        let stored = self.store_event_value(value, limits, None);
        let header = &mut *self.header;
        header.dropped_attributes = header.dropped_attributes.saturating_sub(formatted);
        let Some(value) = stored else {
            // The key copied for it goes too: left in the pool it took room from later
            // values (found by review).
            self.text.truncate(mark);
            self.header.dropped_attributes = self.header.dropped_attributes.saturating_add(1);
            return;
        };
        self.header.span_attributes = self.header.span_attributes.saturating_add(1);
        self.header.key_filter |= key_bit(self.key_bytes(&key));
        // Not full: checked above.
        let _ = self.attrs.push(StoredAttr {
            owner: OWNER_SPAN,
            room: 0,
            key,
            value,
            given: Given::Own,
        });
    }

    /// Adds owned attributes (of an event or link), returning how many were dropped.
    fn push_owned_attributes(
        &mut self,
        owner: u8,
        attributes: &[KeyValue<'_>],
        limit: u32,
        limits: &SpanLimits,
    ) -> u32 {
        let mut dropped = 0u32;
        // Distinct keys stored.
        let mut kept = 0u32;
        for n in 0..attributes.len() {
            // OTLP keys must be unique: a key given twice is stored once, where it came
            // first, with its last value, as `set_attribute` would leave it, and counts
            // as one drop at most (found by review: an earlier value with no room was
            // counted, though the last one was stored).
            let Some(kv) = last_of_key(attributes, n) else {
                continue;
            };
            let mark = self.text.len();
            let key = if kept < limit && !self.attrs.is_full() {
                match static_semconv_key(kv.key) {
                    Some(k) => Some(StoredKey::Static(k)),
                    None => self.push_key(kv.key).map(StoredKey::Pooled),
                }
            } else {
                None
            };
            let Some(key) = key else {
                dropped = dropped.saturating_add(1);
                continue;
            };
            let Some(value) = self.store_value(&kv.value, limits) else {
                self.text.truncate(mark);
                dropped = dropped.saturating_add(1);
                continue;
            };
            let _ = self.attrs.push(StoredAttr {
                owner,
                room: 0,
                key,
                value,
                given: Given::Own,
            });
            kept += 1;
        }
        dropped
    }

    /// Adds an event.
    pub(crate) fn add_event(
        &mut self,
        name: &str,
        time: Timestamp,
        attributes: &[KeyValue<'_>],
        limits: &SpanLimits,
    ) {
        // No room left for any of its name: an event named "" says nothing, so it is
        // dropped and counted like one over the limit.
        let nameless = self.no_room_for_first_char(name);
        if nameless || self.events.len() >= limits.event_count as usize || self.events.is_full() {
            self.header.dropped_events = self.header.dropped_events.saturating_add(1);
            return;
        }
        let owner = OWNER_EVENT + self.events.len() as u8;
        let name = self.push_text(name, NAME_LIMIT);
        // Most events carry no attributes: no call for those.
        let dropped_attributes = if attributes.is_empty() {
            0
        } else {
            self.push_owned_attributes(owner, attributes, limits.attributes_per_event, limits)
        };
        let _ = self.events.push(StoredEvent {
            time,
            name,
            dropped_attributes,
        });
    }

    /// Starts an event with no name yet, to which [`RecordMut::event_attribute`] adds
    /// attributes one at a time; `None` (counted as a dropped event) when the span has
    /// no room for another event, or for any of the name it will get (`name`, or ""),
    /// as in [`RecordMut::add_event`]. [`RecordMut::end_event`] names an event left
    /// without a name, or drops it when a name it was given found no room.
    pub(crate) fn begin_event(
        &mut self,
        time: Timestamp,
        name: &str,
        limits: &SpanLimits,
    ) -> Option<EventState> {
        let nameless = self.no_room_for_first_char(name);
        if nameless || self.events.len() >= limits.event_count as usize || self.events.is_full() {
            self.header.dropped_events = self.header.dropped_events.saturating_add(1);
            return None;
        }
        let index = self.events.len() as u8;
        let _ = self.events.push(StoredEvent {
            time,
            name: TextRef::EMPTY,
            dropped_attributes: 0,
        });
        Some(EventState {
            index,
            first_attr: self.attrs.len(),
            kept: 0,
            key_filter: 0,
            named: false,
            name_lost: false,
            first_text: self.text.len(),
            first_truncated: self.header.truncated,
        })
    }

    /// Ends an event begun with [`RecordMut::begin_event`]: one not named yet gets
    /// `name`. One whose name was given but found no room, and that has none, is taken
    /// out with what it stored and counted as a dropped event, as an event added whole
    /// without room for its name is (found by review: the `tracing` layer begins its
    /// events unnamed and names them after their attributes, which could take the room
    /// first; it was exported named "").
    pub(crate) fn end_event(&mut self, event: &mut EventState, name: &str) {
        // A name lost for room is not made good by the empty one the writer began with.
        let nothing_to_give = name.is_empty() && event.name_lost;
        if !event.named && !nothing_to_give {
            self.set_event_name(event, name);
        }
        if event.named || !event.name_lost {
            return;
        }
        // The last event, its attributes the last ones (nothing else is written while
        // an event writer is open).
        if usize::from(event.index) + 1 == self.events.len() {
            self.events.truncate(usize::from(event.index));
            self.attrs.truncate(event.first_attr);
            self.text.truncate(event.first_text);
            // Its cuts (the name, each time it was given; its values) go with it: it is
            // counted as a dropped event (found by review: one cut was taken back).
            self.header.truncated = event.first_truncated;
            self.header.dropped_events = self.header.dropped_events.saturating_add(1);
        }
    }

    /// Names (or renames) an event begun with [`RecordMut::begin_event`]; a replaced
    /// name stays in the pool until the slot is reused.
    pub(crate) fn set_event_name(&mut self, event: &mut EventState, name: impl Text) {
        // A new name cut to nothing for room (counted where it was cut): a name the
        // event has already stays, or the one it began with is stored as usual (before
        // its first attribute, or at its end); it was stored as "" (found by review).
        let cuts_before = self.header.truncated;
        let name = name.push(self, NAME_LIMIT);
        if name.len == 0 {
            // An empty name names nothing (OTLP asks events for one): the event keeps
            // the name it has, or the one it began with (found by review: a `tracing`
            // event with an empty message was named "").
            if self.header.truncated != cuts_before {
                event.name_lost = true;
            }
            return;
        }
        if let Some(e) = self.events.get_mut(usize::from(event.index)) {
            e.name = name;
        }
        event.named = true;
    }

    /// Adds an attribute to an event begun with [`RecordMut::begin_event`], applying the
    /// per-event limit; a key the event has already replaces its value.
    pub(crate) fn event_attribute<T: Text>(
        &mut self,
        event: &mut EventState,
        key: &str,
        static_key: Option<&'static str>,
        value: EventValue<'_, '_, T>,
        limits: &SpanLimits,
    ) {
        if key.is_empty() {
            // Keys "MUST" be non-empty: dropped and counted, as on the span.
            self.count_dropped_event_attribute(event);
            return;
        }
        let owner = OWNER_EVENT + event.index;
        let text = &*self.text;
        let existing = self.attrs.get(event.first_attr..).and_then(|attrs| {
            attrs.iter().position(|a| {
                a.owner == owner
                    && match (a.key, static_key) {
                        (StoredKey::Static(s), Some(k)) if core::ptr::eq(s, k) => true,
                        (StoredKey::Static(s), _) => s == key,
                        (StoredKey::Pooled(r), _) => bytes_at(text, r) == key.as_bytes(),
                    }
            })
        });
        if let Some(i) = existing {
            if !self.replace_value(event.first_attr + i, value, limits, Some(&mut event.kept)) {
                event.kept -= 1;
                self.count_dropped_event_attribute(event);
            }
            return;
        }
        let room = event.kept < limits.attributes_per_event && !self.attrs.is_full();
        let mark = self.text.len();
        let key = match static_key {
            Some(k) if room => Some(StoredKey::Static(k)),
            None if room => self.push_key(key).map(StoredKey::Pooled),
            _ => None,
        };
        let Some(key) = key else {
            self.count_dropped_event_attribute(event);
            return;
        };
        // Counted as dropped while the caller's `Display` runs (see `set_attribute_any`).
        let formatted = matches!(value, EventValue::Text(_));
        if formatted {
            self.count_dropped_event_attribute(event);
        }
        let stored = self.store_event_value(value, limits, None);
        if formatted {
            if let Some(e) = self.events.get_mut(usize::from(event.index)) {
                e.dropped_attributes = e.dropped_attributes.saturating_sub(1);
            }
        }
        let Some(value) = stored else {
            self.text.truncate(mark);
            self.count_dropped_event_attribute(event);
            return;
        };
        event.key_filter |= key_bit(self.key_bytes(&key));
        // Not full: checked above.
        let _ = self.attrs.push(StoredAttr {
            owner,
            room: 0,
            key,
            value,
            given: Given::Own,
        });
        event.kept += 1;
    }

    /// Adds an event attribute whose `'static` key the event does not hold yet (its
    /// key-filter bit is clear) with a scalar or string value; returns `false`, having
    /// changed nothing, for anything else, which [`RecordMut::event_attribute`]
    /// handles. Inlined, so for a value of known type most of it folds away.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub(crate) fn try_new_static_event_attribute(
        &mut self,
        event: &mut EventState,
        key: &'static str,
        value: &Value<'_>,
        limits: &SpanLimits,
    ) -> bool {
        let bit = key_bit(key.as_bytes());
        if key.is_empty()
            || event.key_filter & bit != 0
            || event.kept >= limits.attributes_per_event
            || self.attrs.is_full()
        {
            return false;
        }
        let truncated = &mut self.header.truncated;
        let Some(value) = scalar_or_str(value, self.text, truncated, limits.value_length) else {
            return false;
        };
        event.key_filter |= bit;
        event.kept += 1;
        // Not full: checked above.
        let _ = self.attrs.push(StoredAttr {
            owner: OWNER_EVENT + event.index,
            room: 0,
            key: StoredKey::Static(key),
            value,
            given: Given::Own,
        });
        true
    }

    /// Stores a value: text over `over` (see [`Text::push_over`]) when given.
    fn store_event_value<T: Text>(
        &mut self,
        value: EventValue<'_, '_, T>,
        limits: &SpanLimits,
        over: Option<TextRef>,
    ) -> Option<StoredValue> {
        match value {
            EventValue::Value(v) => self.store_value(v, limits),
            EventValue::Text(t) => {
                // Whether formatted text was cut is known only once it is stored (it
                // may really be empty, and a value length limit of 0 cuts it to "").
                let cuts = self.header.truncated;
                let r = match over {
                    Some(old) => t.push_over(self, limits.value_length, old),
                    None => t.push(self, limits.value_length),
                };
                if r.len == 0 && self.header.truncated != cuts && limits.value_length != 0 {
                    // Cut to nothing for room: dropped by the caller, not counted twice.
                    self.header.truncated = cuts;
                    return None;
                }
                Some(StoredValue::Str(r))
            }
        }
    }

    /// Gives stored attribute `i` (a key set again) a new value, and returns `false`
    /// when it could not: the attribute is then removed, and the caller counts it as
    /// dropped where it belongs (the span or the event). Kept, the old value would be
    /// exported as if it were current (found by review: a progress counter set in a
    /// loop stayed at the last value that fitted). The old value's text, when it is the
    /// last thing in the pool, makes room for the new one (such a loop then uses one
    /// value's room); other replaced text stays in the pool until the slot is reused.
    #[must_use]
    fn replace_value<T: Text>(
        &mut self,
        i: usize,
        value: EventValue<'_, '_, T>,
        limits: &SpanLimits,
        mut event_kept: Option<&mut u32>,
    ) -> bool {
        // The old value's text and the room it has (more than its length after a
        // shorter value went over a longer one).
        let old = self.attrs.get(i).and_then(|a| match a.value {
            StoredValue::Str(r) | StoredValue::Array(_, r) => Some(TextRef {
                start: r.start,
                len: r.len.max(a.room),
            }),
            _ => None,
        });
        // Taken out while the new value is made when its room is reused: the new text
        // goes where the old was, and a `Display` that panics part way would leave the
        // attribute reading the partial text (found by review: a value never set, cut
        // inside a character). Put back once the new value is stored.
        let mut taken = None;
        // The old room the new text goes over, when it is not the pool's last.
        let mut over = None;
        if let Some(r) = old.filter(|r| r.len > 0) {
            let start = usize::from(r.start);
            let end = start + usize::from(r.len);
            let last = end == self.text.len();
            // Only a room inside the pool (an empty old value can point past its end,
            // once the text before it was taken back; found by fuzzing).
            let text_over = matches!(value, EventValue::Text(_)) && end < self.text.len();
            if (last || text_over) && i < self.attrs.len() {
                let attr = self.attrs.remove(i);
                // Counted as dropped until the new value is stored: a `Display` that
                // panics part way loses the attribute, and the counts must say so
                // (found by review: the span kept counting it, and its last slot under
                // the attribute limit went unused; an event's too).
                self.count_taken_as_dropped(attr.owner, true);
                if let Some(kept) = event_kept.as_deref_mut() {
                    *kept = kept.saturating_sub(1);
                }
                taken = Some(attr);
                if last {
                    self.text.truncate(start);
                } else {
                    // Formatted text goes over the old text too, in place: formatted
                    // at the end and moved, it was dropped when the end had no room
                    // though the old text's had (found by review).
                    over = Some(r);
                }
            } else if let EventValue::Value(&Value::Str(s)) = value {
                // Not last: a string that fits goes over the old text, which keeps its
                // room (found by review: a value that went from "error" to "ok" and
                // back took new room each time).
                if let Some(new) = self.overwrite(r, s, limits.value_length) {
                    if let Some(a) = self.attrs.get_mut(i) {
                        a.value = StoredValue::Str(new);
                        a.room = r.len;
                    }
                    return true;
                }
            } else if let EventValue::Value(v) = value {
                // An array, or a `u64`'s decimal text, that fits whole goes over the old
                // text too (found by review: each update took new room, and once the
                // end had none the attribute was dropped beside its own unused room).
                if let Some(new) = self.value_over(r, v, limits.value_length) {
                    if let Some(a) = self.attrs.get_mut(i) {
                        a.value = new;
                        a.room = r.len;
                    }
                    return true;
                }
            }
        }
        // Formatted text over an old value with no text to take out (a number, ""):
        // taken out all the same, so that a `Display` that panics part way loses the
        // attribute, counted, rather than leaving the old value to be exported as
        // current (found by review).
        if taken.is_none() && matches!(value, EventValue::Text(_)) && i < self.attrs.len() {
            let attr = self.attrs.remove(i);
            self.count_taken_as_dropped(attr.owner, true);
            if let Some(kept) = event_kept.as_deref_mut() {
                *kept = kept.saturating_sub(1);
            }
            taken = Some(attr);
        }
        // A value cut to nothing for room is `None` here, as one that cannot be stored;
        // a value length limit of 0 cuts every string to "", and that is the new value.
        let stored = self.store_event_value(value, limits, over);
        if taken.is_some() {
            if let Some(kept) = event_kept {
                *kept = kept.saturating_add(1);
            }
        }
        match stored {
            Some(stored) => {
                match taken {
                    // Room for it: it was just taken out.
                    Some(mut attr) => {
                        self.count_taken_as_dropped(attr.owner, false);
                        // Written over the old text, it keeps that room.
                        attr.room = match (stored, over) {
                            (StoredValue::Str(new), Some(r)) if new.start == r.start => r.len,
                            _ => 0,
                        };
                        attr.value = stored;
                        let _ = self.attrs.insert(i, attr);
                    }
                    None => {
                        if let Some(a) = self.attrs.get_mut(i) {
                            a.value = stored;
                            a.room = 0;
                        }
                    }
                }
                true
            }
            None => {
                // Attributes after `i` are the same owner's, or a later event's or
                // link's: none is open while another owner's attribute is set, and each
                // finds its own by owner tag.
                match taken {
                    // The caller counts the drop.
                    Some(attr) => self.count_taken_as_dropped(attr.owner, false),
                    None if i < self.attrs.len() => {
                        self.attrs.remove(i);
                    }
                    None => {}
                }
                false
            }
        }
    }

    /// Counts an attribute of `owner` taken out for a new value as dropped (`dropped`),
    /// or undoes that count: see [`RecordMut::replace_value`]. (Links' attributes are
    /// never set again.)
    fn count_taken_as_dropped(&mut self, owner: u8, dropped: bool) {
        let (kept, lost) = if dropped { (-1, 1) } else { (1, -1) };
        if owner == OWNER_SPAN {
            let header = &mut *self.header;
            header.span_attributes = header.span_attributes.saturating_add_signed(kept);
            header.dropped_attributes = header.dropped_attributes.saturating_add_signed(lost);
        } else if owner < OWNER_LINK {
            if let Some(e) = self.events.get_mut(usize::from(owner - OWNER_EVENT)) {
                e.dropped_attributes = e.dropped_attributes.saturating_add_signed(lost);
            }
        }
    }

    fn count_dropped_event_attribute(&mut self, event: &EventState) {
        if let Some(e) = self.events.get_mut(usize::from(event.index)) {
            e.dropped_attributes = e.dropped_attributes.saturating_add(1);
        }
    }

    /// Counts `n` more dropped links.
    pub(crate) fn count_dropped_links(&mut self, n: u32) {
        self.header.dropped_links = self.header.dropped_links.saturating_add(n);
    }

    /// The span's work finished before any panic: an end while its thread unwinds is
    /// not marked as the panic's (see `Tracer::end_span`).
    #[cfg(feature = "std")]
    pub(crate) fn finished_before_any_panic(&mut self) {
        self.header.started_unwinding = true;
    }

    /// The span's work was cut short by a panic (it ends while its thread unwinds, or a
    /// `tracing` scope of it unwound before the panic was caught): Error `panicked`
    /// unless a status was set, or the span began while its thread was already
    /// unwinding (a clean-up's: the panic did not cut it short).
    #[cfg(feature = "std")]
    pub(crate) fn cut_short_by_a_panic(&mut self) {
        if !self.header.started_unwinding {
            self.set_status_if_unset(&Status::Error {
                description: "panicked",
            });
        }
    }

    /// Adds a link to another span.
    pub(crate) fn add_link(
        &mut self,
        context: SpanContext,
        trace_state: &str,
        attributes: &[KeyValue<'_>],
        limits: &SpanLimits,
    ) {
        // The API spec: a link to an invalid context is recorded only when it says
        // something (attributes or a tracestate).
        if !context.is_valid() && attributes.is_empty() && trace_state.is_empty() {
            return;
        }
        if self.links.len() >= limits.link_count as usize || self.links.is_full() {
            self.header.dropped_links = self.header.dropped_links.saturating_add(1);
            return;
        }
        let owner = OWNER_LINK + self.links.len() as u8;
        let mut state_lost = false;
        let trace_state = if trace_state.len() <= self.text.capacity() - self.text.len() {
            self.push_text(trace_state, u32::MAX)
        } else if !context.is_valid() && attributes.is_empty() {
            // The tracestate was all an invalid link said: without it, it says
            // nothing, so it is dropped and counted as a link (found by review: a link
            // of zero ids and nothing else was recorded).
            self.header.dropped_links = self.header.dropped_links.saturating_add(1);
            return;
        } else {
            // Kept whole or not at all (a cut one would be invalid): lost, and counted
            // if the link is kept (a dropped link is counted as that alone; found by
            // review: counted twice).
            state_lost = true;
            TextRef::EMPTY
        };
        let dropped_attributes =
            self.push_owned_attributes(owner, attributes, limits.attributes_per_link, limits);
        if !context.is_valid()
            && trace_state.len == 0
            && !self.attrs.iter().any(|a| a.owner == owner)
        {
            // An invalid link whose attributes were all dropped (empty keys, a limit
            // of zero) says nothing either: dropped and counted as a link (found by
            // review: it was recorded with zero ids and a dropped count).
            self.header.dropped_links = self.header.dropped_links.saturating_add(1);
            return;
        }
        if state_lost {
            self.header.truncated = self.header.truncated.saturating_add(1);
        }
        let _ = self.links.push(StoredLink {
            context,
            trace_state,
            dropped_attributes,
        });
    }

    /// Sets `status` only when none was set, or to give an Error without a
    /// description one (found by review: `otel.status_code = "error"` and then an
    /// error event left the span without the error's text).
    pub(crate) fn set_status_if_unset(&mut self, status: &Status<'_>) {
        let describes_a_bare_error = self.header.status == StatusCode::Error
            && self.header.status_message.len == 0
            && matches!(status, Status::Error { description } if !description.is_empty());
        if self.header.status == StatusCode::Unset || describes_a_bare_error {
            self.set_status(status);
        }
    }

    /// Sets the status following the spec: Ok is final, Unset is ignored, and only Error
    /// keeps a description (an Error without one keeps the description of an earlier
    /// Error: setting the code after the message must not erase it).
    pub(crate) fn set_status(&mut self, status: &Status<'_>) {
        if self.header.status == StatusCode::Ok {
            return;
        }
        if matches!(status, Status::Error { description: "" })
            && self.header.status == StatusCode::Error
        {
            return;
        }
        match *status {
            Status::Unset => {}
            Status::Ok => {
                self.header.status = StatusCode::Ok;
                self.header.status_message = TextRef::EMPTY;
                self.header.status_room = 0;
            }
            Status::Error { description } => {
                self.header.status = StatusCode::Error;
                // The same description again (a retry loop, layers that each say it) is
                // not stored again, and the old one makes room for a new one when it is
                // the last text, as a renamed span's name does (found by review: each
                // call stored it again, until the pool ran out and the last one was
                // cut). No room for any of a new description: the earlier one stays,
                // and the loss is counted.
                let (old, room) = (self.header.status_message, self.header.status_room);
                if bytes_at(self.text, old) != description.as_bytes() {
                    if let Some((new, room)) = self.replace_text(old, room, description, NAME_LIMIT)
                    {
                        self.header.status_message = new;
                        self.header.status_room = room;
                    }
                }
            }
        }
    }

    /// Whether `text` is not empty and the pool has no room for its first character
    /// (it would be stored as "": text is cut at character boundaries).
    fn no_room_for_first_char(&self, text: &str) -> bool {
        value_finds_no_room(self.text, text, u32::MAX)
    }

    /// Replaces the tracestate: whole, or the members that fit in the room left (see
    /// [`push_trace_state`]).
    pub(crate) fn set_trace_state(&mut self, trace_state: &str) {
        self.header.trace_state =
            push_trace_state(self.text, &mut self.header.truncated, trace_state);
    }

    /// Writes the text of a record [`Self::init`] has just started (its name the only
    /// text) again, `trace_state` first and `name` after, the order `init` stores them
    /// in: for a tracestate the sampler changed, known only after `init`, which then
    /// takes the room before a long name does (it is propagated).
    pub(crate) fn put_trace_state_before_name(
        &mut self,
        trace_state: &mut crate::TraceState,
        name: &str,
    ) {
        self.text.clear();
        let mut truncated = 0;
        self.header.trace_state = push_parsed_trace_state(self.text, &mut truncated, trace_state);
        self.header.name = push_text(self.text, &mut truncated, name, NAME_LIMIT);
        self.header.name_room = 0;
        self.header.truncated = truncated;
    }

    /// [`Self::set_trace_state`] for a parsed tracestate, cut in place if it must be.
    pub(crate) fn set_parsed_trace_state(&mut self, trace_state: &mut crate::TraceState) {
        self.header.trace_state =
            push_parsed_trace_state(self.text, &mut self.header.truncated, trace_state);
    }

    /// Starts, at `start`, a record [`Self::init_trace_state_only`] made (its span
    /// was started before the tracer was seeded); [`Self::set_parent`] then gives it
    /// its context and parent. Small, where [`Self::init`] is inlined.
    pub(crate) fn start_passed_on(&mut self, kind: SpanKind, start: Timestamp) {
        self.header.kind = kind;
        self.header.start = start;
    }

    /// Moves the record under `parent` (`context` is the span's new context), with the
    /// parent's tracestate if it fits whole.
    pub(crate) fn set_parent(&mut self, context: SpanContext, parent: &SpanContext, state: &str) {
        self.header.context = context;
        self.header.parent = Some(parent.span_id);
        self.header.parent_is_remote = parent.is_remote;
        // In the old tracestate's room when it fits whole there (found by review: put
        // after it, the same tracestate again was cut for the room the first still
        // held); else the members that fit, the old one's room taken back if it can be.
        if !self.replace_trace_state(state) {
            let old = self.header.trace_state;
            if old.len > 0 && usize::from(old.start) + usize::from(old.len) == self.text.len() {
                self.text.truncate(usize::from(old.start));
            }
            self.header.trace_state = TextRef::EMPTY;
            self.set_trace_state(state);
        }
    }

    /// Replaces the tracestate when it fits whole; returns whether it did. The old
    /// one's text makes room for it: taken back when it is the pool's last, written
    /// over when the new one fits there (found by review: each call took new room).
    pub(crate) fn replace_trace_state(&mut self, trace_state: &str) -> bool {
        let old = self.header.trace_state;
        let (start, end) = (
            usize::from(old.start),
            usize::from(old.start) + usize::from(old.len),
        );
        if old.len > 0 && end == self.text.len() {
            if trace_state.len() > self.text.capacity() - start {
                return false;
            }
            self.text.truncate(start);
        } else if old.len > 0 && trace_state.len() <= usize::from(old.len) {
            if let Some(room) = self.text.get_mut(start..start + trace_state.len()) {
                room.copy_from_slice(trace_state.as_bytes());
                self.header.trace_state = TextRef {
                    start: old.start,
                    len: trace_state.len() as u16,
                };
                return true;
            }
        }
        if trace_state.len() > self.text.capacity() - self.text.len() {
            return false;
        }
        self.header.trace_state = self.push_text(trace_state, u32::MAX);
        true
    }

    /// Renames the span; with no room at all for the new name's first character (at
    /// the end of the pool, or over the old name) the old name stays (a rename to ""
    /// would lose it), and the loss is counted. The old name, when it is the last text
    /// in the pool (a span renamed before it stored anything else: a route, a
    /// `tracing` span's long `otel.name`), makes room for the new one (found by review:
    /// a rename right after the start stored the name twice); otherwise the new name
    /// goes over it, cut to its room when the pool's end has no more (see
    /// [`RecordMut::overwrite`]).
    pub(crate) fn update_name(&mut self, name: &str) {
        let (old, room) = (self.header.name, self.header.name_room);
        if let Some((new, room)) = self.replace_text(old, room, name, NAME_LIMIT) {
            self.header.name = new;
            self.header.name_room = room;
        }
    }

    /// Stores `new` in place of `old` (which owns `room` bytes, 0 for its length): over
    /// it when it is the last text in the pool (its room taken back), or when it fits
    /// in its room or the pool's end has no more room ([`RecordMut::overwrite`]); else
    /// at the end. Returns where it is and the room it owns; `None`, counting the loss,
    /// when there is no room for any of `new` (the caller keeps `old` then).
    fn replace_text(
        &mut self,
        old: TextRef,
        room: u16,
        new: &str,
        limit: u32,
    ) -> Option<(TextRef, u16)> {
        if bytes_at(self.text, old) == new.as_bytes() {
            // The same text (a rename to the current name): nothing to store, and when
            // it is not the last text, nothing to cut for want of room (found by review).
            return Some((old, room));
        }
        // What it owns: the bytes up to its room stay its own after a shorter text was
        // written over it (nothing else is stored there).
        let old = TextRef {
            start: old.start,
            len: old.len.max(room),
        };
        let old_start = usize::from(old.start);
        let last = old.len > 0 && old_start + usize::from(old.len) == self.text.len();
        if !last {
            if let Some(new) = self.overwrite(old, new, limit) {
                return Some((new, old.len));
            }
        }
        let room =
            self.text.capacity() - self.text.len() + if last { usize::from(old.len) } else { 0 };
        if new.chars().next().is_some_and(|c| c.len_utf8() > room) {
            self.header.truncated = self.header.truncated.saturating_add(1);
            return None;
        }
        if last {
            self.text.truncate(old_start);
        }
        Some((self.push_text(new, limit), 0))
    }

    /// Writes `s`, cut to `limit` characters, over `old`'s text when it fits there,
    /// and returns where it is; `None` (nothing written) when it does not. For text
    /// set again whose old text is not the last in the pool: appended instead, the
    /// old room stayed unused until the slot was reused (found by review: two
    /// attributes updated in turn filled the pool, then one of them was dropped at
    /// every update).
    ///
    /// Text longer than the old room is cut to it when the pool's end has no more room
    /// than that (found by review: appended there, it was cut shorter, or dropped).
    fn overwrite(&mut self, old: TextRef, s: &str, limit: u32) -> Option<TextRef> {
        let room = usize::from(old.len);
        let mut end = chars_end(s, limit);
        if end > room {
            if self.text.capacity() - self.text.len() > room {
                return None;
            }
            end = floor_char_boundary(s, room);
            if end == 0 {
                // No room for its first character anywhere: the caller's to say.
                return None;
            }
        }
        let start = usize::from(old.start);
        self.text
            .get_mut(start..start + end)?
            .copy_from_slice(s.as_bytes().get(..end)?);
        if end < s.len() {
            self.header.truncated = self.header.truncated.saturating_add(1);
        }
        Some(TextRef {
            start: old.start,
            len: end as u16,
        })
    }

    /// Writes `value`, an array or a `u64` above `i64::MAX` (its decimal text), over the
    /// text at `old` when it fits there whole (elements cut to `limit` as
    /// [`RecordMut::push_array`] cuts them); `None` when it does not fit or is another
    /// kind of value. The old text may then be partly written: the caller stores the
    /// value elsewhere or drops the attribute, and nothing reads the old text again.
    /// One pass, no sizing first: 492 bytes of flash on thumbv7m (678 sizing first).
    fn value_over(&mut self, old: TextRef, value: &Value<'_>, limit: u32) -> Option<StoredValue> {
        let start = usize::from(old.start);
        let room = self.text.get_mut(start..start + usize::from(old.len))?;
        let mut at = 0;
        let mut put = |bytes: &[u8]| match room.get_mut(at..at + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                at += bytes.len();
                true
            }
            None => false,
        };
        let cuts = self.header.truncated;
        let kind = match *value {
            Value::U64(u) if i64::try_from(u).is_err() => {
                let mut digits = [0u8; 20];
                put(decimal_bytes(u, &mut digits)).then_some(())?;
                return Some(StoredValue::Str(TextRef {
                    start: old.start,
                    len: at as u16,
                }));
            }
            Value::StrArray(items) => {
                let whole = items.iter().all(|s| {
                    let n = array_element_end(s, limit);
                    // An element cut by the limit counts as a cut value (`push_array`).
                    if n < s.len() {
                        self.header.truncated = self.header.truncated.saturating_add(1);
                    }
                    put(&(n as u16).to_le_bytes()) && put(&s.as_bytes()[..n])
                });
                if !whole {
                    self.header.truncated = cuts;
                    return None;
                }
                ArrayKind::Str
            }
            Value::BoolArray(items) => {
                items.iter().all(|&b| put(&[u8::from(b)])).then_some(())?;
                ArrayKind::Bool
            }
            Value::I64Array(items) => {
                items.iter().all(|i| put(&i.to_le_bytes())).then_some(())?;
                ArrayKind::I64
            }
            Value::F64Array(items) => {
                items.iter().all(|f| put(&f.to_le_bytes())).then_some(())?;
                ArrayKind::F64
            }
            _ => return None,
        };
        Some(StoredValue::Array(
            kind,
            TextRef {
                start: old.start,
                len: at as u16,
            },
        ))
    }

    /// Sets the end time (kept as given: [`SpanData::end_time`] brings it up to the
    /// start, so ending reads nothing the starting thread wrote). Zero means "not
    /// ended": an end at zero is kept as 1 ns, which reads as the start. Returns
    /// whether the span is sampled (what the tracer exports).
    #[inline]
    pub(crate) fn end(&mut self, time: Timestamp) -> bool {
        self.end.0 = time.max(ENDED_AT_ZERO);
        self.header.context.flags.is_sampled()
    }
}

/// Where an array's string element is cut: at `limit` characters and at a length its
/// `u16` prefix holds, on a char boundary ([`RecordMut::push_array`] and
/// [`RecordMut::value_over`] store elements alike).
fn array_element_end(s: &str, limit: u32) -> usize {
    floor_char_boundary(s, chars_end(s, limit).min(usize::from(u16::MAX)))
}

/// Copies `s` into `text`, cut at a char boundary to `limit` and the space left
/// (counting a cut in `truncated`). Names and values are mostly short: up to 16 bytes
/// that fit whole are copied inline with two overlapping fixed-size moves; the rest
/// takes [`push_text_slow`].
///
/// One copy on microcontrollers: inlined at its dozen call sites it took 1.7 KB of
/// flash (footprint_tracer on thumbv7m: 29,148 to 27,412 bytes), for 14 instructions
/// of calls on a Cortex-M3 W1 span (928 to 942, `ci/insn-count.sh`).
#[cfg_attr(not(target_os = "none"), inline(always))]
#[cfg_attr(target_os = "none", inline(never))]
fn push_text(text: &mut VecView<u8>, truncated: &mut u32, s: &str, limit: u32) -> TextRef {
    push_text_or_none::<false>(text, truncated, s, limit).unwrap_or(TextRef::EMPTY)
}

/// [`push_text`]; with `VALUE` (an attribute's value, see [`push_value`]), `None` for
/// a text that would be stored as "" for want of room, tested on the slow path only.
#[inline(always)]
fn push_text_or_none<const VALUE: bool>(
    text: &mut VecView<u8>,
    truncated: &mut u32,
    s: &str,
    limit: u32,
) -> Option<TextRef> {
    let bytes = s.as_bytes();
    let (at, len) = (text.len(), bytes.len());
    if len > 16 || len > limit as usize || text.capacity() - at < 16 {
        if VALUE && value_finds_no_room(text, s, limit) {
            return None;
        }
        return Some(push_text_slow(text, truncated, s, limit));
    }
    // Room for 16 bytes: write 16 (the tail past `len` is scratch), then keep `len`.
    let _ = text.extend_from_slice(&[0; 16]);
    let dst = &mut text[at..at + 16];
    // Through integers: as two slice copies per arm, the arms' copies were merged into
    // one `memcpy` call of 8 or 4 bytes (x86-64, rustc 1.95).
    match len {
        8..=16 => {
            let (head, tail) = (word::<8>(bytes, 0), word::<8>(bytes, len - 8));
            dst[..8].copy_from_slice(&u64::from_ne_bytes(head).to_ne_bytes());
            dst[len - 8..len].copy_from_slice(&u64::from_ne_bytes(tail).to_ne_bytes());
        }
        4..=7 => {
            let (head, tail) = (word::<4>(bytes, 0), word::<4>(bytes, len - 4));
            dst[..4].copy_from_slice(&u32::from_ne_bytes(head).to_ne_bytes());
            dst[len - 4..len].copy_from_slice(&u32::from_ne_bytes(tail).to_ne_bytes());
        }
        1..=3 => {
            dst[0] = bytes[0];
            dst[len / 2] = bytes[len / 2];
            dst[len - 1] = bytes[len - 1];
        }
        _ => {}
    }
    text.truncate(at + len);
    // The pool holds at most `u16::MAX` bytes (`Slot`'s capacity check).
    Some(TextRef {
        start: at as u16,
        len: len as u16,
    })
}

/// `N` bytes of `bytes` from `at` (`at + N <= bytes.len()`; zeros past the end, a path
/// the callers' length checks rule out).
#[inline(always)]
fn word<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes
        .get(at..at + N)
        .and_then(|b| b.try_into().ok())
        .unwrap_or([0; N])
}

/// Copies a tracestate into `text`: whole when it fits in the room left, else the
/// members that fit (see [`push_trace_state_cut`]).
#[inline(always)]
fn push_trace_state(text: &mut VecView<u8>, truncated: &mut u32, state: &str) -> TextRef {
    if state.is_empty() {
        TextRef::EMPTY
    } else if state.len() <= text.capacity() - text.len() {
        push_text(text, truncated, state, u32::MAX)
    } else {
        push_trace_state_cut(text, truncated, state)
    }
}

/// Copies the members of `state` that fit in the room left in `text`, cut by W3C's rule
/// for a tracestate that must be shortened (§ 3.3.1.5: whole members, those over 128
/// characters first, then from the right), and counts the cut once. A tracestate cut
/// inside a member would be invalid, and dropping it whole would break "vendors
/// receiving a tracestate MUST send it on" for every member that fits.
#[cold]
#[inline(never)]
fn push_trace_state_cut(text: &mut VecView<u8>, truncated: &mut u32, state: &str) -> TextRef {
    if !cfg!(feature = "tracestate") {
        // No tracestate is ever stored (and the parser stays out of the binary).
        *truncated = truncated.saturating_add(1);
        return TextRef::EMPTY;
    }
    // Stored states are canonical (written by `TraceState`), so this parses.
    let Ok(mut members) = crate::TraceState::parse(state) else {
        *truncated = truncated.saturating_add(1);
        return TextRef::EMPTY;
    };
    push_parsed_trace_state(text, truncated, &mut members)
}

/// Copies a parsed tracestate into `text`, first cut in place to the room left by
/// [`push_trace_state_cut`]'s rule (counted once): for a caller that holds one already,
/// so that no second 512-byte copy is parsed on its stack.
fn push_parsed_trace_state(
    text: &mut VecView<u8>,
    truncated: &mut u32,
    state: &mut crate::TraceState,
) -> TextRef {
    let room = text.capacity() - text.len();
    if state.as_str().len() > room {
        *truncated = truncated.saturating_add(1);
        state.truncate_to(room);
    }
    if state.is_empty() {
        return TextRef::EMPTY;
    }
    push_text(text, &mut 0, state.as_str(), u32::MAX)
}

/// Writes `args` into `text`, cut at a char boundary to `limit` and the space left
/// (counting a cut in `truncated`): formatted text goes straight into the pool. With
/// `over`, an old text's room inside the pool, it is written there; text that outgrows
/// it moves to the pool's end when that has more room (see [`Text::push_over`]).
#[inline(never)]
fn push_fmt(
    text: &mut VecView<u8>,
    truncated: &mut u32,
    args: fmt::Arguments<'_>,
    limit: u32,
    over: Option<TextRef>,
) -> TextRef {
    struct Pool<'p> {
        text: &'p mut VecView<u8>,
        /// Where the text begins, where its next byte goes, where its room ends.
        start: usize,
        at: usize,
        end: usize,
        /// Writing inside the pool (over an old text), not appending to it.
        inside: bool,
        chars_left: u32,
        cut: bool,
    }
    impl Pool<'_> {
        /// Moves the text written over an old one to the pool's end, when that has
        /// more room than the old text, to go on there.
        fn move_to_end(&mut self) {
            let len = self.text.len();
            if self.text.capacity() - len <= self.end - self.start {
                return;
            }
            let written = self.at - self.start;
            // `written <= end - start < capacity - len`, so this cannot fail.
            let _ = self.text.resize(len + written, 0);
            self.text.copy_within(self.start..self.at, len);
            (self.start, self.at, self.end) = (len, len + written, self.text.capacity());
            self.inside = false;
        }
    }
    impl fmt::Write for Pool<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            // Cut already: a `Display` that ignores the error and writes on must not
            // put later pieces after the gap.
            if self.cut {
                return Err(fmt::Error);
            }
            let want = chars_end(s, self.chars_left);
            if self.inside && want > self.end - self.at {
                self.move_to_end();
            }
            let end = floor_char_boundary(s, (self.end - self.at).min(want));
            let bytes = &s.as_bytes()[..end];
            if self.inside {
                // `at + end <= self.end <= len`, the old text's room.
                if let Some(to) = self.text.get_mut(self.at..self.at + end) {
                    to.copy_from_slice(bytes);
                }
            } else {
                // `end <= self.end - at = capacity - len`, so this cannot fail.
                let _ = self.text.extend_from_slice(bytes);
            }
            self.at += end;
            if self.chars_left != u32::MAX {
                let written = s[..end].chars().count();
                let written = u32::try_from(written).unwrap_or(u32::MAX);
                self.chars_left = self.chars_left.saturating_sub(written);
            }
            if end < s.len() {
                self.cut = true;
                return Err(fmt::Error); // full: stop formatting
            }
            Ok(())
        }
    }
    let (start, end, inside) = match over {
        // Only a room inside the pool (the caller's check, kept here for safety).
        Some(r) if usize::from(r.start) + usize::from(r.len) <= text.len() => {
            let start = usize::from(r.start);
            (start, start + usize::from(r.len), true)
        }
        _ => (text.len(), text.capacity(), false),
    };
    let mut pool = Pool {
        text,
        start,
        at: start,
        end,
        inside,
        chars_left: limit,
        cut: false,
    };
    // An error only means the text was cut (or a `Display` impl failed): keep what was
    // written.
    let _ = fmt::write(&mut pool, args);
    if pool.cut {
        *truncated = truncated.saturating_add(1);
    }
    TextRef {
        start: pool.start as u16,
        len: (pool.at - pool.start) as u16,
    }
}

/// [`push_text`] for an attribute's string value: `None`, storing nothing, when the
/// value would be stored as "" for want of room: it is not empty, the value length
/// limit keeps its first character (a limit of 0 empties every string: that is the
/// value then), and the pool has no room for that character. Such an attribute is
/// dropped and counted, not sent with an empty value that reads as real (found by
/// review).
#[inline(always)]
fn push_value(text: &mut VecView<u8>, truncated: &mut u32, s: &str, limit: u32) -> Option<TextRef> {
    if cfg!(target_os = "none") {
        // Microcontrollers keep one out-of-line `push_text` (flash), and the test out of
        // line too: inline, it kept the attribute fast path from being inlined (Cortex-M3
        // W1: 967 to 1,132 instructions).
        return push_value_out_of_line(text, truncated, s, limit);
    }
    push_text_or_none::<true>(text, truncated, s, limit)
}

/// [`push_value`] on microcontrollers.
#[inline(never)]
fn push_value_out_of_line(
    text: &mut VecView<u8>,
    truncated: &mut u32,
    s: &str,
    limit: u32,
) -> Option<TextRef> {
    if value_finds_no_room(text, s, limit) {
        return None;
    }
    Some(push_text(text, truncated, s, limit))
}

/// The test of [`push_value`] (and of names, with no limit): `s` is not empty, `limit`
/// keeps its first character, and the pool has no room for it.
#[inline(always)]
fn value_finds_no_room(text: &VecView<u8>, s: &str, limit: u32) -> bool {
    let room = text.capacity() - text.len();
    // A character takes at most 4 bytes; its first byte says how many (`s` is UTF-8).
    let first_char_len = |lead: u8| match lead {
        0..0x80 => 1,
        0x80..0xe0 => 2,
        0xe0..0xf0 => 3,
        _ => 4,
    };
    room < 4
        && limit != 0
        && s.as_bytes()
            .first()
            .is_some_and(|&b| first_char_len(b) > room)
}

#[inline(never)]
fn push_text_slow(text: &mut VecView<u8>, truncated: &mut u32, s: &str, limit: u32) -> TextRef {
    let room = text.capacity() - text.len();
    let max = room.min(chars_end(s, limit)).min(usize::from(u16::MAX));
    let cut = if s.len() <= max {
        s.len()
    } else {
        *truncated = truncated.saturating_add(1);
        floor_char_boundary(s, max)
    };
    let start = text.len() as u16;
    // `cut <= room`, so this cannot fail.
    let _ = text.extend_from_slice(&s.as_bytes()[..cut]);
    TextRef {
        start,
        len: cut as u16,
    }
}

/// Stores a string or scalar value (`None` for anything else): the values the inlined
/// fast paths handle.
#[cfg_attr(not(target_os = "none"), inline(always))]
#[cfg_attr(target_os = "none", inline)]
fn scalar_or_str(
    value: &Value<'_>,
    text: &mut VecView<u8>,
    truncated: &mut u32,
    limit: u32,
) -> Option<StoredValue> {
    Some(match *value {
        // A value that would be cut to nothing for room takes the general path, which
        // drops it.
        Value::Str(s) => StoredValue::Str(push_value(text, truncated, s, limit)?),
        Value::Bool(b) => StoredValue::Bool(b),
        Value::I64(i) => StoredValue::I64(i),
        Value::F64(f) => StoredValue::F64(f),
        _ => return None,
    })
}

/// Stores a span attribute whose key is `'static` and new (its key-filter bit is clear)
/// with a scalar or string value, touching only the header, the attribute list and the
/// text pool; returns `false`, having changed nothing, for anything else (a key that
/// may be there already, a full list, an array), which [`RecordMut::set_attribute`]
/// handles. Inlined into the caller, so for a constant key and a value of known type
/// most of it folds away: on firmware too (left to LLVM at opt-level "s", a field added
/// to `StoredAttr` took the three writes of the Cortex-M3 W1 span out of line, their
/// keys' filter bits computed at run time: 925 -> 1,096 instructions; the footprint
/// binaries' flash is the same either way).
#[inline(always)]
pub(crate) fn try_set_new_static_attribute(
    header: &mut Header,
    attrs: &mut VecView<StoredAttr>,
    text: &mut VecView<u8>,
    key: &'static str,
    value: &Value<'_>,
    limits: &SpanLimits,
) -> bool {
    let bit = key_bit(key.as_bytes());
    if key.is_empty()
        || header.key_filter & bit != 0
        || u32::from(header.span_attributes) >= limits.attribute_count
        || attrs.is_full()
    {
        return false;
    }
    let Some(value) = scalar_or_str(value, text, &mut header.truncated, limits.value_length) else {
        return false;
    };
    header.key_filter |= bit;
    header.span_attributes = header.span_attributes.saturating_add(1);
    // Not full: checked above.
    let _ = attrs.push(StoredAttr {
        owner: OWNER_SPAN,
        room: 0,
        key: StoredKey::Static(key),
        value,
        given: Given::Own,
    });
    true
}

/// The end time kept for a span ended at time zero (zero means "not ended").
const ENDED_AT_ZERO: Timestamp = Timestamp::from_unix_nanos(1);

/// Writes `v` in decimal into the end of `buf`; returns the digits.
pub(crate) fn decimal(v: u64, buf: &mut [u8; 20]) -> &str {
    // ASCII digits: the check passes; it keeps `&str` without `unsafe`.
    core::str::from_utf8(decimal_bytes(v, buf)).unwrap_or("")
}

/// As [`decimal`], the digits as bytes (for encoders that copy bytes: no UTF-8 check).
// Out of line on microcontrollers: the rare caller (a `u64` above `i64::MAX`) should not
// grow the frame of the attribute store, which is on every span's stack path.
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
pub(crate) fn decimal_bytes(v: u64, buf: &mut [u8; 20]) -> &[u8] {
    // On 64-bit CPUs all twenty digits written eight at a time (timestamps in OTLP/JSON
    // have 19). On 32-bit ones a 64-bit division is a library routine of about 500
    // bytes of flash, linked for this alone: there each digit is divided out of 16-bit
    // limbs instead.
    decimal_in(v, buf, cfg!(not(target_pointer_width = "64")))
}

#[inline(always)]
fn decimal_in(mut v: u64, buf: &mut [u8; 20], by_limbs: bool) -> &[u8] {
    let mut i = buf.len();
    if !by_limbs {
        // Twenty digits written whole, eight at a time, then the leading zeros skipped
        // (callgrind, W5 JSON, three 19-digit timestamps a span: 153 instructions a
        // number to about 60): two divisions by constants (multiplications) and no
        // per-pair table lookups or bounds checks.
        if v < 10 {
            buf[19] = b'0' + v as u8;
            return &buf[19..];
        }
        if v < 100_000_000 {
            // Counts and small integers: one word of digits.
            buf[12..].copy_from_slice(&eight_digits(v as u32));
            let mut word = [0; 8];
            word.copy_from_slice(&buf[12..]);
            let nonzero = u64::from_le_bytes(word) ^ u64::from_le_bytes(*b"00000000");
            return &buf[12 + nonzero.trailing_zeros() as usize / 8..];
        }
        let (top, rest) = (v / 10_u64.pow(16), v % 10_u64.pow(16));
        let (middle, low) = (rest / 100_000_000, rest % 100_000_000);
        buf[..4].copy_from_slice(&four_digits(top as u32));
        buf[4..12].copy_from_slice(&eight_digits(middle as u32));
        buf[12..].copy_from_slice(&eight_digits(low as u32));
        // The first digit that is not '0' (the last digit stays, for zero): each word
        // minus "00000000" is zero up to it; the lowest set bit finds it.
        let zeros = |at: usize| {
            let mut word = [0; 8];
            word.copy_from_slice(&buf[at..at + 8]);
            u64::from_le_bytes(word) ^ u64::from_le_bytes(*b"00000000")
        };
        let first = match (zeros(0), zeros(8), zeros(12)) {
            (w, _, _) if w != 0 => w.trailing_zeros() as usize / 8,
            (_, w, _) if w != 0 => 8 + w.trailing_zeros() as usize / 8,
            (_, _, w) => (12 + w.trailing_zeros() as usize / 8).min(19),
        };
        return &buf[first..];
    }
    // Every digit on 32-bit CPUs.
    loop {
        let (quotient, digit) = if by_limbs {
            div10_by_limbs(v)
        } else {
            (v / 10, (v % 10) as u8)
        };
        i -= 1;
        buf[i] = b'0' + digit;
        v = quotient;
        if v == 0 || i == 0 {
            break;
        }
    }
    &buf[i..]
}

/// The eight decimal digits of `n` (below 10^8, zero-padded), as ASCII, most significant
/// first: split into halves, quarters and digits in the lanes of one 64-bit word
/// (multiplications by reciprocals, exact for these ranges), then '0' added to each byte.
#[inline(always)]
fn eight_digits(n: u32) -> [u8; 8] {
    // Lanes of 32 bits: the first four digits in the low lane (printed first, little
    // endian), the last four in the high one.
    let halves = u64::from(n / 10_000) | u64::from(n % 10_000) << 32;
    // x / 100 for x < 10,000: (x * 10,486) >> 20.
    let hundreds = ((halves * 10_486) >> 20) & 0x0000_007f_0000_007f;
    let quarters = hundreds | (halves - hundreds * 100) << 16;
    // y / 10 for y < 100: (y * 103) >> 10.
    let tens = ((quarters * 103) >> 10) & 0x000f_000f_000f_000f;
    let digits = tens | (quarters - tens * 10) << 8;
    (digits | u64::from_le_bytes(*b"00000000")).to_le_bytes()
}

/// The four decimal digits of `n` (below 10^4, zero-padded), as [`eight_digits`] does
/// its halves.
#[inline(always)]
fn four_digits(n: u32) -> [u8; 4] {
    let hundreds = (n * 10_486) >> 20;
    let quarters = hundreds | (n - hundreds * 100) << 16;
    let tens = ((quarters * 103) >> 10) & 0x000f_000f;
    let digits = tens | (quarters - tens * 10) << 8;
    (digits | u32::from_le_bytes(*b"0000")).to_le_bytes()
}

/// `(v / 10, v % 10)` with 32-bit divisions only: long division of v's four 16-bit
/// limbs, most significant first (each partial dividend is below 10 << 16).
#[inline]
fn div10_by_limbs(v: u64) -> (u64, u8) {
    let mut quotient = 0u64;
    let mut rest = 0u32;
    for shift in [48, 32, 16, 0] {
        let partial = (rest << 16) | (v >> shift) as u32 & 0xffff;
        quotient = (quotient << 16) | u64::from(partial / 10);
        rest = partial % 10;
    }
    (quotient, rest as u8)
}

/// The bytes of a stored key: a `'static` key's own, a copied one's in the pool.
fn stored_key_bytes<'a>(text: &'a VecView<u8>, key: &StoredKey) -> &'a [u8] {
    match *key {
        StoredKey::Static(s) => s.as_bytes(),
        StoredKey::Pooled(r) => bytes_at(text, r),
    }
}

/// A record's tracestate, read from its header and text pool alone.
#[cfg_attr(not(target_os = "none"), inline(always))]
#[cfg_attr(target_os = "none", inline)]
pub(crate) fn trace_state_of<'a>(header: &Header, text: &'a VecView<u8>) -> &'a str {
    text_at(text, header.trace_state)
}

/// For the `n`th attribute of a list: `None` when its key came earlier in the list,
/// else the attribute that sets it, the key's last in the list (a list holds one
/// attribute of a key, where it came first, with its last value).
pub(crate) fn last_of_key<'l, 'a>(
    attributes: &'l [KeyValue<'a>],
    n: usize,
) -> Option<&'l KeyValue<'a>> {
    let kv = attributes.get(n)?;
    if attributes[..n].iter().any(|earlier| earlier.key == kv.key) {
        return None;
    }
    attributes[n..].iter().rev().find(|l| l.key == kv.key)
}

/// The bit of `key` in a span's key filter: from its length and first and last bytes,
/// so equal keys always share a bit (whether `'static` or copied) and a constant key's
/// bit is computed at compile time.
#[cfg_attr(not(target_os = "none"), inline(always))]
#[cfg_attr(target_os = "none", inline)]
pub(crate) const fn key_bit(b: &[u8]) -> u64 {
    let (first, last) = match b {
        [] => (0, 0),
        [first, .., last] => (*first as usize, *last as usize),
        [only] => (*only as usize, *only as usize),
    };
    1 << ((b.len().wrapping_mul(7) ^ first ^ last.wrapping_mul(5)) % 64)
}

/// Appends all `parts` if they fit together (one array element), else nothing.
fn push_all(text: &mut VecView<u8>, parts: &[&[u8]]) -> bool {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if text.capacity() - text.len() < len {
        return false;
    }
    for part in parts {
        let _ = text.extend_from_slice(part);
    }
    true
}

#[inline]
fn text_at(text: &[u8], r: TextRef) -> &str {
    // Most texts read back on the hot path are empty (a parent's tracestate, read for
    // every child): no UTF-8 check for those.
    if r.len == 0 {
        return "";
    }
    // Only `&str` data cut at char boundaries is ever stored.
    core::str::from_utf8(bytes_at(text, r)).unwrap_or("")
}

/// The stored bytes of a text, not validated again (for encoders that copy bytes).
fn bytes_at(text: &[u8], r: TextRef) -> &[u8] {
    text.get(usize::from(r.start)..usize::from(r.start) + usize::from(r.len))
        .unwrap_or(&[])
}

/// Where `s` ends when it keeps at most `limit` characters (OpenTelemetry's attribute
/// value length counts characters, not bytes). No more than `s.len()` bytes hold more
/// than `s.len()` characters, so only a longer text is walked.
fn chars_end(s: &str, limit: u32) -> usize {
    let limit = limit as usize;
    if s.len() <= limit {
        return s.len();
    }
    s.char_indices().nth(limit).map_or(s.len(), |(i, _)| i)
}

/// The largest index `<= max` that is a char boundary of `s` (`str::floor_char_boundary`
/// is not stable yet).
fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    let mut i = max;
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A finished (or running) span, read-only, borrowing its slot: what exporters and
/// encoders consume.
#[derive(Clone, Copy, Debug)]
pub struct SpanData<'a> {
    header: &'a Header,
    /// As [`RecordMut::end`] stored it (zero: not ended).
    end: Timestamp,
    attrs: &'a [StoredAttr],
    events: &'a [StoredEvent],
    links: &'a [StoredLink],
    text: &'a [u8],
}

impl<'a> SpanData<'a> {
    pub(crate) fn from_parts(
        header: &'a Header,
        end: Timestamp,
        attrs: &'a [StoredAttr],
        events: &'a [StoredEvent],
        links: &'a [StoredLink],
        text: &'a [u8],
    ) -> Self {
        Self {
            header,
            end,
            attrs,
            events,
            links,
            text,
        }
    }

    fn str(&self, r: TextRef) -> &'a str {
        text_at(self.text, r)
    }

    /// The span name's UTF-8 bytes as stored (the protobuf encoder copies them).
    pub(crate) fn name_bytes(&self) -> &'a [u8] {
        bytes_at(self.text, self.header.name)
    }

    /// Returns the span's context (trace id, span id, flags).
    pub fn span_context(&self) -> SpanContext {
        self.header.context
    }

    /// Returns the parent's span id, `None` for a root span.
    pub fn parent_span_id(&self) -> Option<SpanId> {
        self.header.parent
    }

    /// Returns `true` when the parent came from another process.
    pub fn parent_is_remote(&self) -> bool {
        self.header.parent_is_remote
    }

    /// Returns the W3C tracestate header value of the span ("" if none).
    pub fn trace_state(&self) -> &'a str {
        self.str(self.header.trace_state)
    }

    /// Returns the span name.
    pub fn name(&self) -> &'a str {
        self.str(self.header.name)
    }

    /// Returns the span kind.
    pub fn kind(&self) -> SpanKind {
        self.header.kind
    }

    /// Returns the start time.
    pub fn start_time(&self) -> Timestamp {
        self.header.start
    }

    /// Returns the end time (zero while the span is running, and unknown, zero, when
    /// the start is: a tracer without a clock); never before the start.
    pub fn end_time(&self) -> Timestamp {
        // An end at zero is kept as the 1 ns "ended" marker (see `RecordMut::end`).
        if self.end == Timestamp::ZERO
            || (self.header.start == Timestamp::ZERO && self.end == ENDED_AT_ZERO)
        {
            Timestamp::ZERO
        } else {
            self.end.max(self.header.start)
        }
    }

    /// Returns the status.
    pub fn status(&self) -> Status<'a> {
        match self.header.status {
            StatusCode::Unset => Status::Unset,
            StatusCode::Ok => Status::Ok,
            StatusCode::Error => Status::Error {
                description: self.str(self.header.status_message),
            },
        }
    }

    /// Returns the span's attributes in the order they were first set.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            owner: OWNER_SPAN,
            attrs: self.attrs.iter(),
            text: self.text,
        }
    }

    /// Returns how many attributes were dropped by limits or capacity.
    pub fn dropped_attributes_count(&self) -> u32 {
        self.header.dropped_attributes
    }

    /// Returns the events in the order they were added.
    pub fn events(&self) -> Events<'a> {
        Events {
            data: *self,
            index: 0,
        }
    }

    /// Returns how many events were dropped.
    pub fn dropped_events_count(&self) -> u32 {
        self.header.dropped_events
    }

    /// Returns the links in the order they were added.
    pub fn links(&self) -> Links<'a> {
        Links {
            data: *self,
            index: 0,
        }
    }

    /// Returns how many links were dropped.
    pub fn dropped_links_count(&self) -> u32 {
        self.header.dropped_links
    }

    /// Returns how many strings were cut short when recorded: to the value length
    /// limit, or to the room left in the span's text pool (summed in
    /// [`crate::TracerStats::values_truncated`]).
    pub fn truncated_values_count(&self) -> u32 {
        self.header.truncated
    }
}

/// Iterator over `(key, value)` attributes of a span, event or link.
#[derive(Clone, Debug)]
pub struct Attributes<'a> {
    owner: u8,
    attrs: core::slice::Iter<'a, StoredAttr>,
    text: &'a [u8],
}

/// An attribute value as the protobuf encoder reads it: a string as its stored UTF-8
/// bytes (valid when stored, not checked again), anything else as it is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RawValue<'a> {
    Text(&'a [u8]),
    Other(AttributeValue<'a>),
}

/// An attribute key as stored: a `'static` key as it was given (no UTF-8 check needed
/// to read it as text), a copied one as its bytes in the pool.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RawKey<'a> {
    Static(&'static str),
    Pooled(&'a [u8]),
}

impl<'a> RawKey<'a> {
    /// The key's UTF-8 bytes.
    #[inline]
    pub(crate) fn bytes(self) -> &'a [u8] {
        match self {
            Self::Static(s) => s.as_bytes(),
            Self::Pooled(b) => b,
        }
    }
}

impl<'a> Attributes<'a> {
    /// The next attribute with its key and string value as stored bytes.
    #[inline]
    pub(crate) fn next_raw(&mut self) -> Option<(&'a [u8], RawValue<'a>)> {
        let (key, value) = self.next_stored()?;
        Some((key.bytes(), value))
    }

    /// Whether no attribute is left (read without a UTF-8 check of its text).
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.clone().next_stored().is_none()
    }

    /// The next attribute as stored.
    #[inline]
    fn next_stored(&mut self) -> Option<(RawKey<'a>, RawValue<'a>)> {
        let text = self.text;
        let a = self.attrs.by_ref().find(|a| a.owner == self.owner)?;
        let key = match a.key {
            StoredKey::Static(s) => RawKey::Static(s),
            StoredKey::Pooled(r) => RawKey::Pooled(bytes_at(text, r)),
        };
        let value = match a.value {
            StoredValue::Str(r) => return Some((key, RawValue::Text(bytes_at(text, r)))),
            StoredValue::Bool(b) => AttributeValue::Bool(b),
            StoredValue::I64(i) => AttributeValue::I64(i),
            StoredValue::F64(f) => AttributeValue::F64(f),
            StoredValue::Array(kind, r) => {
                let packed = text
                    .get(usize::from(r.start)..usize::from(r.start) + usize::from(r.len))
                    .unwrap_or(&[]);
                AttributeValue::Array(ArrayValue { kind, packed })
            }
        };
        Some((key, RawValue::Other(value)))
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (&'a str, AttributeValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        // Only `&str` data cut at char boundaries is ever stored.
        let text = |bytes| core::str::from_utf8(bytes).unwrap_or("");
        let (key, value) = self.next_stored()?;
        let value = match value {
            RawValue::Text(bytes) => AttributeValue::Str(text(bytes)),
            RawValue::Other(value) => value,
        };
        let key = match key {
            RawKey::Static(key) => key,
            RawKey::Pooled(bytes) => text(bytes),
        };
        Some((key, value))
    }
}

/// One event of a span.
#[derive(Clone, Copy, Debug)]
pub struct EventData<'a> {
    data: SpanData<'a>,
    index: usize,
}

impl<'a> EventData<'a> {
    fn stored(&self) -> &'a StoredEvent {
        &self.data.events[self.index]
    }

    /// Returns when the event happened.
    pub fn time(&self) -> Timestamp {
        self.stored().time
    }

    /// Returns the event name.
    pub fn name(&self) -> &'a str {
        self.data.str(self.stored().name)
    }

    /// The event name's UTF-8 bytes as stored (the protobuf encoder copies them).
    pub(crate) fn name_bytes(&self) -> &'a [u8] {
        bytes_at(self.data.text, self.stored().name)
    }

    /// Returns the event's attributes.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            owner: OWNER_EVENT + self.index as u8,
            attrs: self.data.attrs.iter(),
            text: self.data.text,
        }
    }

    /// Returns how many of the event's attributes were dropped.
    pub fn dropped_attributes_count(&self) -> u32 {
        self.stored().dropped_attributes
    }
}

/// Iterator over a span's events.
#[derive(Clone, Debug)]
pub struct Events<'a> {
    data: SpanData<'a>,
    index: usize,
}

impl<'a> Iterator for Events<'a> {
    type Item = EventData<'a>;
    fn next(&mut self) -> Option<EventData<'a>> {
        (self.index < self.data.events.len()).then(|| {
            self.index += 1;
            EventData {
                data: self.data,
                index: self.index - 1,
            }
        })
    }
}

/// One link of a span.
#[derive(Clone, Copy, Debug)]
pub struct LinkData<'a> {
    data: SpanData<'a>,
    index: usize,
}

impl<'a> LinkData<'a> {
    fn stored(&self) -> &'a StoredLink {
        &self.data.links[self.index]
    }

    /// Returns the linked span's context.
    pub fn span_context(&self) -> SpanContext {
        self.stored().context
    }

    /// Returns the linked span's tracestate ("" if none).
    pub fn trace_state(&self) -> &'a str {
        self.data.str(self.stored().trace_state)
    }

    /// Returns the link's attributes.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            owner: OWNER_LINK + self.index as u8,
            attrs: self.data.attrs.iter(),
            text: self.data.text,
        }
    }

    /// Returns how many of the link's attributes were dropped.
    pub fn dropped_attributes_count(&self) -> u32 {
        self.stored().dropped_attributes
    }
}

/// Iterator over a span's links.
#[derive(Clone, Debug)]
pub struct Links<'a> {
    data: SpanData<'a>,
    index: usize,
}

impl<'a> Iterator for Links<'a> {
    type Item = LinkData<'a>;
    fn next(&mut self) -> Option<LinkData<'a>> {
        (self.index < self.data.links.len()).then(|| {
            self.index += 1;
            LinkData {
                data: self.data,
                index: self.index - 1,
            }
        })
    }
}

/// The `'static` key of an attribute the crate itself writes as a slice of
/// `KeyValue`s (`record_exception`: `exception.type`, `exception.message`), so that it
/// is stored by reference instead of copied into the span's text: copied, a span short
/// of room recorded an exception event without its message (found by review).
fn static_semconv_key(key: &str) -> Option<&'static str> {
    [
        crate::semconv::EXCEPTION_TYPE,
        crate::semconv::EXCEPTION_MESSAGE,
    ]
    .into_iter()
    .find(|&k| k == key)
}

#[cfg(test)]
mod tests {
    use super::{decimal, decimal_in, div10_by_limbs, eight_digits, four_digits, Header, Slot};
    use crate::Timestamp;

    /// Ending a span on another thread writes its end time: that must not be on a cache
    /// line of the header, which the thread that claims the slot next writes first.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_end_time_shares_no_cache_line_with_the_header() {
        type S = Slot<4, 1, 1, 128>;
        assert_eq!(core::mem::align_of::<S>() % 64, 0, "slots start on a line");
        let lines = |start: usize, len: usize| (start / 64, (start + len - 1) / 64);
        let header = lines(
            core::mem::offset_of!(S, header),
            core::mem::size_of::<Header>(),
        );
        let end = lines(core::mem::offset_of!(S, end), 8);
        assert!(
            end.1 < header.0 || header.1 < end.0,
            "{end:?} within {header:?}"
        );
    }

    #[test]
    fn an_end_before_the_start_reads_as_the_start_and_none_as_zero() {
        let mut slot: Slot<1, 1, 1, 8> = Slot::new();
        slot.header.start = Timestamp::from_unix_nanos(100);
        assert_eq!(slot.data().end_time(), Timestamp::ZERO, "not ended");
        slot.writer().end(Timestamp::from_unix_nanos(40));
        assert_eq!(slot.data().end_time(), Timestamp::from_unix_nanos(100));
        slot.writer().end(Timestamp::ZERO);
        assert_eq!(
            slot.data().end_time(),
            Timestamp::from_unix_nanos(100),
            "ended at 0"
        );
        slot.writer().end(Timestamp::from_unix_nanos(140));
        assert_eq!(slot.data().end_time(), Timestamp::from_unix_nanos(140));
    }

    #[test]
    fn division_by_ten_in_limbs_matches_u64_division() {
        // The 32-bit path of `decimal`: every limb boundary, carries across limbs, and
        // the extremes.
        let mut values = std::vec![0, 1, 9, 10, 11, u64::MAX, u64::MAX - 1, 1 << 63];
        for shift in [16, 32, 48] {
            let limb = 1u64 << shift;
            values.extend([limb - 1, limb, limb + 1, limb * 9 + 7, limb * 10 - 1]);
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x);
            values.push(x >> (x % 64));
        }
        for v in values {
            assert_eq!(div10_by_limbs(v), (v / 10, (v % 10) as u8), "{v}");
        }
    }

    #[test]
    fn eight_digits_match_display() {
        let mut v = 0u32;
        // Every value below 10^8 would take a while; every 7th plus the edges.
        while v < 100_000_000 {
            assert_eq!(eight_digits(v), *std::format!("{v:08}").as_bytes(), "{v}");
            v += 7;
        }
        for v in [1, 9, 10, 99, 100, 9_999, 10_000, 99_999_999, 12_345_678] {
            assert_eq!(eight_digits(v), *std::format!("{v:08}").as_bytes(), "{v}");
        }
        for v in 0..10_000 {
            assert_eq!(four_digits(v), *std::format!("{v:04}").as_bytes(), "{v}");
        }
    }

    #[test]
    fn decimal_matches_display_at_every_digit_count() {
        let mut values = std::vec![0, u64::MAX, u64::MAX - 1];
        let mut power = 1u64;
        while let Some(next) = power.checked_mul(10) {
            values.extend([power - 1, power, power + 1, next / 2]);
            power = next;
        }
        values.extend([power - 1, power, power + 1]);
        // And spread over the whole range, every length of leading zeros in each word.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.extend([x, x >> (x % 64)]);
        }
        for v in values {
            let mut buf = [0; 20];
            assert_eq!(decimal(v, &mut buf), std::format!("{v}"));
            // The 32-bit CPUs' path, on this host too.
            assert_eq!(
                decimal_in(v, &mut buf, true),
                std::format!("{v}").as_bytes()
            );
        }
    }
}
