//! [`EventWriter`]: an event whose name and attributes are written one at a time,
//! straight into the span's storage.

use core::fmt;

use super::attributes::AttributeArg;
use super::record::{EventState, EventValue, RecordMut, SpanLimits};

/// An event being added to a span (from [`Span::event`](super::Span::event)): each
/// attribute goes straight into the span's storage as it is given, with no list of
/// attributes gathered first, and text can be formatted in place. The event is timed
/// when it is begun and complete when the writer is dropped.
///
/// It is for callers that learn an event's fields one at a time (a `tracing` visitor,
/// a log bridge); with the attributes at hand,
/// [`Span::add_event_with_attributes`](super::Span::add_event_with_attributes) is
/// simpler. On a span that does not record, every method does nothing.
///
/// ```
/// # let tracer = picotrace::Tracer::new(picotrace::TracerConfig::new("svc"),
/// #     picotrace::SpanArena::<1>::new(), picotrace::NoClock,
/// #     picotrace::IdGenerator::from_seed([1; 32]), picotrace::NoopExporter);
/// let mut span = tracer.start_span("query");
/// let rows = 3;
/// span.event("query done")
///     .attribute("db.rows", rows)
///     .attribute_fmt("db.statement", format_args!("SELECT * FROM t LIMIT {rows}"));
/// ```
///
/// Dropped at once (`span.event("cache miss");`), it records the event without
/// attributes, as [`Span::add_event`](crate::Span::add_event) does: not `#[must_use]`
/// (found by review: the lint warned about correct code).
pub struct EventWriter<'s> {
    /// `None` when the span does not record or had no room for another event.
    event: Option<(RecordMut<'s>, &'s SpanLimits, EventState)>,
    /// The name given when the event began: stored before the first attribute, or when
    /// the writer is dropped, unless [`EventWriter::name`] gave another first.
    name: &'s str,
}

impl fmt::Debug for EventWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWriter")
            .field("recording", &self.event.is_some())
            .finish_non_exhaustive()
    }
}

impl<'s> EventWriter<'s> {
    #[inline]
    pub(super) fn new(
        event: Option<(RecordMut<'s>, &'s SpanLimits, EventState)>,
        name: &'s str,
    ) -> Self {
        Self { event, name }
    }

    /// Adds an attribute with a `'static` key; a key the event already has gets the
    /// new value. Beyond the per-event limit it is dropped and counted.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub fn attribute<M>(&mut self, key: &'static str, value: impl AttributeArg<M>) -> &mut Self {
        self.store_name_first();
        if let Some((record, limits, event)) = &mut self.event {
            let value = value.as_value();
            if !record.try_new_static_event_attribute(event, key, &value, limits) {
                record.event_attribute(
                    event,
                    key,
                    Some(key),
                    EventValue::<&str>::Value(&value),
                    limits,
                );
            }
        }
        self
    }

    /// Adds an attribute whose key is copied into the span's storage.
    pub fn attribute_dyn<M>(&mut self, key: &str, value: impl AttributeArg<M>) -> &mut Self {
        self.store_name_first();
        if let Some((record, limits, event)) = &mut self.event {
            let value = value.as_value();
            record.event_attribute(event, key, None, EventValue::<&str>::Value(&value), limits);
        }
        self
    }

    /// Adds a string attribute formatted straight into the span's storage (for a
    /// `Display` or `Debug` value: nothing is formatted into a buffer first). Text
    /// beyond the value length limit or the room left is cut at a character boundary
    /// and counted.
    pub fn attribute_fmt(&mut self, key: &'static str, value: fmt::Arguments<'_>) -> &mut Self {
        self.store_name_first();
        if let Some((record, limits, event)) = &mut self.event {
            let value = EventValue::Text(value);
            record.event_attribute(event, key, Some(key), value, limits);
        }
        self
    }

    /// Replaces the event's name (the one given when it began is not stored if this
    /// comes before any attribute).
    pub fn name(&mut self, name: &str) -> &mut Self {
        if let Some((record, _, event)) = &mut self.event {
            record.set_event_name(event, name);
        }
        self
    }

    /// Replaces the event's name with formatted text, written straight into the span's
    /// storage.
    pub fn name_fmt(&mut self, name: fmt::Arguments<'_>) -> &mut Self {
        if let Some((record, _, event)) = &mut self.event {
            record.set_event_name(event, name);
        }
        self
    }

    /// Stores the name the event began with before its first attribute, so that a long
    /// attribute (an error's text) cannot take the room the name needs: an `exception`
    /// event used to lose its name that way. An empty name waits for
    /// [`EventWriter::name`].
    #[inline]
    fn store_name_first(&mut self) {
        if let Some((record, _, event)) = &mut self.event {
            if !event.named && !self.name.is_empty() {
                record.set_event_name(event, self.name);
            }
        }
    }

    /// Returns `true` once the event has a name given by [`EventWriter::name`] or
    /// [`EventWriter::name_fmt`] (an empty one names nothing), or stored from the one it
    /// began with.
    #[inline]
    pub fn is_named(&self) -> bool {
        self.event.as_ref().is_some_and(|(_, _, event)| event.named)
    }

    /// Returns `true` when the event is being recorded (the span records and had room
    /// for it).
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.event.is_some()
    }
}

impl Drop for EventWriter<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some((record, _, event)) = &mut self.event {
            // A named event needs nothing more (the usual case, kept short).
            if !event.named {
                record.end_event(event, self.name);
            }
        }
    }
}
