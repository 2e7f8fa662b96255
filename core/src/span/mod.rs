//! The span model: [`Span`] (the handle user code holds, ended on drop), [`SpanKind`],
//! [`Status`], and the storage behind them ([`arena`], [`record`], [`attributes`]).
//!
//! A `Span` owns one slot of the tracer's arena while it runs: its setters write
//! straight into that slot (no lock, no trait object), and ending it queues the slot for
//! export without copying anything. It is `Send` and `Sync`: hold it across `.await`,
//! move it to another thread, end it there.

pub mod arena;
pub mod attributes;
mod error_chain;
mod event;
pub mod record;

use crate::context::{SpanContext, TraceContext};
use crate::semconv;
use crate::time::Timestamp;
use arena::SlotRef;
use attributes::{AttributeArg, KeyValue, Value};
pub use event::EventWriter;
use record::{RecordMut, SpanLimits};

/// What a span represents in a trace (OTLP `SpanKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SpanKind {
    /// An internal operation (the default).
    #[default]
    Internal,
    /// The server side of a synchronous remote call.
    Server,
    /// The client side of a synchronous remote call.
    Client,
    /// The sender of an asynchronous message.
    Producer,
    /// The receiver of an asynchronous message.
    Consumer,
}

impl SpanKind {
    /// Returns the OTLP enum value (`SPAN_KIND_INTERNAL` = 1 ... `SPAN_KIND_CONSUMER` = 5).
    pub const fn otlp_value(self) -> u8 {
        match self {
            SpanKind::Internal => 1,
            SpanKind::Server => 2,
            SpanKind::Client => 3,
            SpanKind::Producer => 4,
            SpanKind::Consumer => 5,
        }
    }

    /// Returns the lowercase name (`"server"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }
}

/// A span's status. `Ok` is final; `Unset` never overrides; only `Error` has a description.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status<'a> {
    /// No status was set (the default).
    #[default]
    Unset,
    /// The operation succeeded, as judged by the application.
    Ok,
    /// The operation failed.
    Error {
        /// What went wrong.
        description: &'a str,
    },
}

impl Status<'_> {
    /// Returns the OTLP `StatusCode` value (0 unset, 1 ok, 2 error).
    pub const fn otlp_code(&self) -> u8 {
        match self {
            Status::Unset => 0,
            Status::Ok => 1,
            Status::Error { .. } => 2,
        }
    }
}

/// A link a span is built with ([`SpanBuilder::links`](crate::SpanBuilder::links)):
/// the linked span's context and tracestate, and the link's attributes. Samplers see
/// it; [`Span::add_link`] adds one later.
///
/// ```
/// use picotrace::{KeyValue, Link, TraceContext};
/// # let tracer = picotrace::Tracer::new(picotrace::TracerConfig::new("svc"),
/// #     picotrace::SpanArena::<4>::new(), picotrace::NoClock,
/// #     picotrace::IdGenerator::from_seed([1; 32]), picotrace::NoopExporter);
/// // The context a message carried.
/// let message = TraceContext::from_headers(&[(
///     "traceparent",
///     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
/// )])?;
/// let attributes = [KeyValue::new("messaging.batch.message_count", 1)];
/// let span = tracer
///     .span_builder("process")
///     .links(&[Link::new(&message, &attributes)])
///     .start();
/// # Ok::<(), picotrace::ExtractError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Link<'a> {
    /// The linked span's context.
    pub context: SpanContext,
    /// The linked span's tracestate header value ("" if none), exported with the link.
    pub trace_state: &'a str,
    /// The link's attributes.
    pub attributes: &'a [KeyValue<'a>],
}

impl<'a> Link<'a> {
    /// A link to `linked`, its tracestate included.
    pub fn new(linked: &'a TraceContext, attributes: &'a [KeyValue<'a>]) -> Self {
        Self {
            context: linked.span_context,
            trace_state: linked.trace_state.as_str(),
            attributes,
        }
    }

    /// A link to a span known by its context only (no tracestate).
    pub const fn to_span(context: SpanContext, attributes: &'a [KeyValue<'a>]) -> Self {
        Self {
            context,
            trace_state: "",
            attributes,
        }
    }
}

/// What a new span descends from.
#[derive(Clone, Copy, Debug, Default)]
pub enum Parent<'a> {
    /// Nothing: the span starts a new trace.
    #[default]
    Root,
    /// A span of this process.
    Local(&'a Span<'a>),
    /// A context received from another process (or kept from an earlier span).
    Context(&'a TraceContext),
}

impl<'a> From<&'a Span<'a>> for Parent<'a> {
    fn from(span: &'a Span<'a>) -> Self {
        Parent::Local(span)
    }
}

impl<'a> From<&'a TraceContext> for Parent<'a> {
    fn from(cx: &'a TraceContext) -> Self {
        Parent::Context(cx)
    }
}

impl<'a> From<Option<&'a TraceContext>> for Parent<'a> {
    fn from(cx: Option<&'a TraceContext>) -> Self {
        cx.map_or(Parent::Root, Parent::Context)
    }
}

/// An extraction result: a valid incoming context is the parent, an error starts a new
/// trace (what W3C Trace Context asks for when `traceparent` is missing or invalid).
impl<'a, E> From<&'a Result<TraceContext, E>> for Parent<'a> {
    fn from(cx: &'a Result<TraceContext, E>) -> Self {
        cx.as_ref().ok().map_or(Parent::Root, Parent::Context)
    }
}

/// What the tracer needs to start a span.
#[doc(hidden)]
#[derive(Debug)]
pub struct StartParams<'a> {
    pub name: &'a str,
    pub kind: SpanKind,
    pub parent: Parent<'a>,
    pub attributes: &'a [KeyValue<'a>],
    /// `attributes` are for the sampler alone: not recorded.
    pub attributes_for_sampler_only: bool,
    pub links: &'a [Link<'a>],
    pub start_time: Option<Timestamp>,
}

/// What a span without a record was made with, for [`Span::set_parent_as_made`].
#[derive(Clone, Copy, Debug)]
pub struct AsMade<'a> {
    /// When it was made.
    pub created: Timestamp,
    /// Its name.
    pub name: &'a str,
    /// The attributes it was made with (the sampler sees them).
    pub attributes: &'a [KeyValue<'a>],
}

/// The tracer as its spans see it (implemented by [`crate::Tracer`]): called when a span
/// starts a child, reads the time for an event, and ends. Never on attribute writes.
#[doc(hidden)]
pub trait SpanOwner: Sync {
    /// Reads the tracer's clock.
    fn now(&self) -> Timestamp;
    /// Ends a span that holds `slot`: publishes it for export (recording) or frees it.
    fn end_span(&self, slot: SlotRef<'_>, recording: bool, time: Option<Timestamp>);
    /// Starts a span.
    fn start<'t>(&'t self, params: &StartParams<'_>) -> Span<'t>;
    /// Moves a running span under `parent` (see [`Span::set_parent`]); `made`, what
    /// a span without a record was made with (see [`Span::set_parent_as_made`]).
    fn set_parent<'t>(
        &'t self,
        span: &mut Span<'t>,
        parent: &TraceContext,
        made: Option<&AsMade<'_>>,
    );
}

/// Why a span holds no record: where its start was counted, so that the count moves
/// when [`Span::set_parent`] gives it a record after all.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unrecorded {
    /// Counted nowhere yet (it records, or tracing was disabled).
    Uncounted,
    /// A root its sampler dropped (`roots_numbered - roots_kept`).
    DroppedRoot,
    /// Sampled out without a slot (`sampled_out_unslotted`).
    SampledOut,
    /// Recording, but the arena was full (`dropped_full`).
    ArenaFull,
    /// Started before the tracer was seeded, after its shutdown, or by a disabled
    /// tracer under a sampled parent: it carries its parent's context (its span id is
    /// the parent's), so a record [`Span::set_parent`] gives it later needs an id and a
    /// start of its own. Counted where its slot, if any, is.
    PassedOn,
    /// Dropped by its sampler under a parent the full arena refused: lost to the full
    /// arena too, and counted there (`dropped_full`) as [`Unrecorded::ArenaFull`] is,
    /// but no sampler charged for it (a rate limiter's token is not given back for it
    /// when it is decided again; found by review: it was).
    ArenaFullParent,
}

/// A span without a record: its kind and [`Unrecorded`], in one byte. (A `Span` is
/// returned by value from every start: on 32-bit CPUs 72 bytes move in registers, while
/// two more bytes made it 80 and a `memcpy` call, +180 instructions per span.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Unstarted(u8);

impl Unstarted {
    const NONE: Self = Self::new(SpanKind::Internal, Unrecorded::Uncounted);

    pub(crate) const fn new(kind: SpanKind, why: Unrecorded) -> Self {
        Self(kind as u8 | (why as u8) << 4)
    }

    pub(crate) const fn kind(self) -> SpanKind {
        match self.0 & 0x0f {
            1 => SpanKind::Server,
            2 => SpanKind::Client,
            3 => SpanKind::Producer,
            4 => SpanKind::Consumer,
            _ => SpanKind::Internal,
        }
    }

    pub(crate) const fn why(self) -> Unrecorded {
        match self.0 >> 4 {
            1 => Unrecorded::DroppedRoot,
            2 => Unrecorded::SampledOut,
            3 => Unrecorded::ArenaFull,
            4 => Unrecorded::PassedOn,
            5 => Unrecorded::ArenaFullParent,
            _ => Unrecorded::Uncounted,
        }
    }
}

/// A span in progress. It owns its record: setters write into the tracer's arena slot
/// that the span claimed, and the span ends when [`Span::end`] is called or when it is
/// dropped. It is `Send` and `Sync`, so it can be held across `.await` on a
/// multi-thread runtime and ended on another thread.
///
/// A span the tracer could not record (sampled out, arena full, tracing disabled) is
/// *non-recording*: its setters do nothing and cost next to nothing, but its context
/// still propagates so downstream services see one trace.
#[must_use = "a span ends when it is dropped: bind it (`let span = ...`) for as long as the work lasts"]
// `repr(C)`: fields in this order keep the 26-byte context at a word-aligned offset
// (36 on 32-bit CPUs), so it moves in word loads and stores; where the compiler put the
// one-byte `unstarted` first, the context sat at 45 and each copy of it became a
// `memcpy` call (Cortex-M3 W1: 959 to 1,165 instructions).
#[repr(C)]
pub struct Span<'t> {
    /// The claimed slot: recording spans, and sampled-out spans that keep a tracestate.
    pub(crate) slot: Option<SlotRef<'t>>,
    owner: Option<&'t dyn SpanOwner>,
    pub(crate) limits: &'t SpanLimits,
    pub(crate) context: SpanContext,
    pub(crate) recording: bool,
    /// Without a slot: the kind it was started with, and where it was counted.
    pub(crate) unstarted: Unstarted,
}

// 64 bytes on 32-bit targets, where a firmware caller keeps its live spans on the stack
// (the slot handle's 48-bit generation as one `u64` padded both it and the span by 8).
#[cfg(target_pointer_width = "32")]
const _: () = assert!(core::mem::size_of::<Span<'static>>() == 64);

impl core::fmt::Debug for Span<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Span")
            .field("context", &self.context)
            .field("recording", &self.is_recording())
            .finish()
    }
}

impl<'t> Span<'t> {
    /// A span that owns `slot` (recording, or sampled out but keeping a tracestate).
    #[doc(hidden)]
    #[inline]
    pub fn with_slot(
        owner: &'t dyn SpanOwner,
        limits: &'t SpanLimits,
        slot: SlotRef<'t>,
        context: SpanContext,
        recording: bool,
    ) -> Self {
        Self {
            slot: Some(slot),
            owner: Some(owner),
            limits,
            context,
            recording,
            unstarted: Unstarted::NONE,
        }
    }

    /// A span that records nothing but whose children the tracer still starts (so each
    /// gets a new span id while the tracer runs).
    #[doc(hidden)]
    #[inline]
    pub fn unrecorded(
        owner: &'t dyn SpanOwner,
        context: SpanContext,
        kind: SpanKind,
        why: Unrecorded,
    ) -> Self {
        Self {
            slot: None,
            owner: Some(owner),
            limits: &SpanLimits::DEFAULT,
            context,
            recording: false,
            unstarted: Unstarted::new(kind, why),
        }
    }

    /// A copy of this span when it holds no record (the tracer dropped it: sampled out,
    /// or refused by a full arena), to start its children with after the span itself
    /// is out of reach (a bridge's table lock let go): they are counted as the
    /// children of this span would be (those of a span the full arena refused are lost
    /// to it as well, not sampled out). Ending or dropping the copy does nothing.
    #[doc(hidden)]
    pub fn slotless_copy(&self) -> Option<Span<'t>> {
        self.slot.is_none().then_some(Self {
            slot: None,
            owner: self.owner,
            limits: self.limits,
            context: self.context,
            recording: self.recording,
            unstarted: self.unstarted,
        })
    }

    /// Creates a non-recording span that carries `context` (which may be invalid) and
    /// belongs to no tracer: its children carry the same context.
    pub const fn non_recording(context: SpanContext) -> Self {
        Self {
            slot: None,
            owner: None,
            limits: &SpanLimits::DEFAULT,
            context,
            recording: false,
            unstarted: Unstarted::NONE,
        }
    }

    /// Returns `true` when this span's data is being recorded.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// Returns the span's context: trace id, span id, flags.
    #[inline]
    pub fn context(&self) -> SpanContext {
        self.context
    }

    #[inline]
    pub(crate) fn context_ref(&self) -> &SpanContext {
        &self.context
    }

    /// Returns when the span started, or `None` when it records nothing (sampled out,
    /// arena full, tracing disabled). A span [`Span::set_parent`] gave a record later
    /// starts when it got it.
    pub fn start_time(&self) -> Option<Timestamp> {
        match (&self.slot, self.recording) {
            (Some(slot), true) => Some(slot.data().start_time()),
            _ => None,
        }
    }

    /// Returns the span's W3C tracestate ("" if none), borrowed from its slot.
    ///
    /// A span without a slot has none to keep it in: one the full arena refused (every
    /// slot held by a running span; counted in the stats' arena-full drops) and one
    /// started under `suppress_spans` lose their parent's tracestate, and so do their
    /// children and what [`crate::Tracer::inject_context`] writes from them. Size the
    /// arena for the spans that run at once.
    #[inline]
    pub fn trace_state(&self) -> &str {
        self.slot.as_ref().map_or("", |s| s.trace_state())
    }

    /// Replaces the span's W3C tracestate: it is exported with the span and propagated
    /// by its children and by injection (for instance a vendor entry this service adds
    /// for the next hop). Needs room in the span's text pool (the tracestate is kept
    /// whole or not at all); returns `false`, changing nothing, when there is none, or
    /// when the span holds no record (sampled out or tracing disabled, each without a
    /// parent tracestate; arena full).
    ///
    /// ```
    /// # let tracer = picotrace::Tracer::new(picotrace::TracerConfig::new("svc"),
    /// #     picotrace::SpanArena::<1>::new(), picotrace::NoClock,
    /// #     picotrace::IdGenerator::from_seed([1; 32]), picotrace::NoopExporter);
    /// let mut span = tracer.start_span("checkout");
    /// let mut state = picotrace::TraceState::parse(span.trace_state()).unwrap_or_default();
    /// state.insert("acme", "region-eu").unwrap();
    /// assert!(span.set_trace_state(&state));
    /// assert_eq!(span.trace_state(), "acme=region-eu");
    /// ```
    #[must_use = "false: the state did not fit, the span keeps its own"]
    pub fn set_trace_state(&mut self, state: &crate::TraceState) -> bool {
        match &mut self.slot {
            Some(slot) => slot.record().replace_trace_state(state.as_str()),
            None => false,
        }
    }

    /// Returns the context to propagate, with the span's tracestate.
    pub fn trace_context(&self) -> TraceContext {
        let mut cx = TraceContext::from(self.context);
        let state = self.trace_state();
        // Without the feature a span keeps no tracestate, and the parser is not linked
        // (found by a firmware user's tryout: 3.8 KB of flash stayed for this call).
        if cfg!(feature = "tracestate") && !state.is_empty() {
            if let Ok(ts) = crate::TraceState::parse(state) {
                cx.trace_state = ts;
            }
        }
        cx
    }

    /// The record and limits of a recording span.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    fn record(&mut self) -> Option<(RecordMut<'_>, &SpanLimits)> {
        match (&mut self.slot, self.recording) {
            (Some(slot), true) => Some((slot.record(), self.limits)),
            _ => None,
        }
    }

    /// Sets an attribute; a later value for the same key replaces the earlier one. A
    /// value the span has no room for (its slot's text pool is full) drops the attribute,
    /// the earlier value with it, and counts it in the span's dropped attributes.
    ///
    /// The key is `'static` (use the [`crate::semconv`] constants); see
    /// [`Span::set_attribute_dyn`] for keys built at run time.
    ///
    /// Attributes known when the span starts are better given then
    /// ([`SpanBuilder::attributes`](crate::SpanBuilder::attributes)): the sampler can
    /// only consider what the span has at its start.
    // Always inlined, on firmware too: see `record::try_set_new_static_attribute`.
    #[inline(always)]
    pub fn set_attribute<M>(&mut self, key: &'static str, value: impl AttributeArg<M>) {
        if let (Some(slot), true) = (&mut self.slot, self.recording) {
            let value = value.as_value();
            let (header, attrs, text) = slot.attribute_parts();
            if !record::try_set_new_static_attribute(header, attrs, text, key, &value, self.limits)
            {
                set_attribute_in(slot, key, Some(key), &value, self.limits);
            }
        }
    }

    /// Sets a string attribute to text formatted straight into the span's storage (a
    /// `Display` or `Debug` value: nothing is formatted into a buffer first). Text
    /// beyond the value length limit or the room left is cut at a character boundary
    /// and counted ([`SpanData::truncated_values_count`](crate::SpanData::truncated_values_count));
    /// a new attribute whose text finds no room at all is dropped and counted as
    /// dropped, as any attribute value that cannot be stored.
    ///
    /// ```
    /// # let tracer = picotrace::Tracer::new(picotrace::TracerConfig::new("svc"),
    /// #     picotrace::SpanArena::<1>::new(), picotrace::NoClock,
    /// #     picotrace::IdGenerator::from_seed([1; 32]), picotrace::NoopExporter);
    /// let mut span = tracer.start_span("request");
    /// let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 8080));
    /// span.set_attribute_fmt("network.peer.address", format_args!("{peer}"));
    /// ```
    pub fn set_attribute_fmt(&mut self, key: &'static str, value: core::fmt::Arguments<'_>) {
        if let Some((mut r, limits)) = self.record() {
            r.set_attribute_text(key, Some(key), value, limits);
        }
    }

    /// Sets an attribute whose key is copied into the span's storage.
    pub fn set_attribute_dyn<M>(&mut self, key: &str, value: impl AttributeArg<M>) {
        if let Some((mut r, limits)) = self.record() {
            r.set_attribute(key, None, &value.as_value(), limits);
        }
    }

    /// Adds an event with no attributes, timed now.
    #[inline]
    pub fn add_event(&mut self, name: &str) {
        self.add_event_with_attributes(name, &[]);
    }

    /// Adds an event with attributes, timed now.
    pub fn add_event_with_attributes(&mut self, name: &str, attributes: &[KeyValue<'_>]) {
        if let (true, Some(owner)) = (self.recording, self.owner) {
            let now = owner.now();
            self.add_event_at(name, now, attributes);
        }
    }

    /// Begins an event timed now whose attributes are added one at a time through the
    /// returned [`EventWriter`], straight into the span's storage; it is complete when
    /// the writer is dropped. See [`EventWriter`] for an example.
    pub fn event<'s>(&'s mut self, name: &'s str) -> EventWriter<'s> {
        let now = match (self.recording, self.owner) {
            (true, Some(owner)) => owner.now(),
            _ => return EventWriter::new(None, name),
        };
        let event = self.record().and_then(|(mut record, limits)| {
            let event = record.begin_event(now, name, limits)?;
            Some((record, limits, event))
        });
        EventWriter::new(event, name)
    }

    /// Adds an event at an explicit time.
    pub fn add_event_at(&mut self, name: &str, time: Timestamp, attributes: &[KeyValue<'_>]) {
        if let Some((mut r, limits)) = self.record() {
            r.add_event(name, time, attributes, limits);
        }
    }

    /// Adds a link to another span (for example the producer of a message).
    ///
    /// Links known when the span starts are better given then
    /// ([`SpanBuilder::links`](crate::SpanBuilder::links)): the sampler can only
    /// consider what the span has at its start. A link to an invalid context is kept
    /// only when its attributes or tracestate say something.
    pub fn add_link(&mut self, linked: &TraceContext, attributes: &[KeyValue<'_>]) {
        if let Some((mut r, limits)) = self.record() {
            r.add_link(
                linked.span_context,
                linked.trace_state.as_str(),
                attributes,
                limits,
            );
        }
    }

    /// Counts `n` links dropped before the span had a record (a `tracing` span kept
    /// what its record could hold while sampled out): they go out in the span's
    /// dropped links count.
    #[doc(hidden)]
    pub fn count_dropped_links(&mut self, n: u32) {
        if let Some((mut r, _)) = self.record() {
            r.count_dropped_links(n);
        }
    }

    /// Says the span's work finished before any panic (a `tracing` span ends at its last
    /// exit, and may be closed later while another span's task unwinds): an end while
    /// the thread unwinds then does not mark it `panicked`.
    #[cfg(feature = "std")]
    #[doc(hidden)]
    pub fn finished_before_any_panic(&mut self) {
        if let Some((mut r, _)) = self.record() {
            r.finished_before_any_panic();
        }
    }

    /// Says the span's work was cut short by a panic (a `tracing` span's last exit
    /// unwound) though it ends later, when the panic was caught: it ends with status
    /// Error `panicked` unless a status was set or it began while its thread unwound.
    #[cfg(feature = "std")]
    #[doc(hidden)]
    pub fn cut_short_by_a_panic(&mut self) {
        if let Some((mut r, _)) = self.record() {
            r.cut_short_by_a_panic();
        }
    }

    /// Records an exception as an `exception` event with `exception.message`; an empty
    /// message records nothing (the semantic conventions require a type or a message).
    pub fn record_exception(&mut self, message: &str) {
        self.record_exception_with_type("", message);
    }

    /// Records an exception with its type, its message and further attributes
    /// (`exception.stacktrace`, say), which take precedence over the first two when
    /// they share a key (the API spec's optional "additional event attributes").
    /// An empty type or message is left out; with neither (nor an `exception.type` or
    /// `exception.message` among `attributes`) nothing is recorded, as the semantic
    /// conventions require one of the two.
    ///
    /// ```
    /// # let tracer = picotrace::Tracer::new(picotrace::TracerConfig::new("svc"),
    /// #     picotrace::SpanArena::<1>::new(), picotrace::NoClock,
    /// #     picotrace::IdGenerator::from_seed([1; 32]), picotrace::NoopExporter);
    /// use picotrace::KeyValue;
    /// let mut span = tracer.start_span("parse");
    /// span.record_exception_with_attributes(
    ///     "ParseIntError",
    ///     "invalid digit found in string",
    ///     &[KeyValue::new("exception.stacktrace", "at parse (main.rs:12)")],
    /// );
    /// ```
    pub fn record_exception_with_attributes(
        &mut self,
        exception_type: &str,
        message: &str,
        attributes: &[KeyValue<'_>],
    ) {
        // An empty type or message among `attributes` is left out as the positional
        // ones are (found by review: it made an event that says nothing, and replaced
        // a message given positionally with "").
        let says = |kv: &&KeyValue<'_>| {
            !matches!(kv.value, Value::Str(""))
                || (kv.key != semconv::EXCEPTION_TYPE && kv.key != semconv::EXCEPTION_MESSAGE)
        };
        let says_what = attributes
            .iter()
            .filter(says)
            .any(|kv| kv.key == semconv::EXCEPTION_TYPE || kv.key == semconv::EXCEPTION_MESSAGE);
        if exception_type.is_empty() && message.is_empty() && !says_what {
            return;
        }
        // Each key written once, with the value that wins: the last given among
        // `attributes`, else the positional one (found by review: written positionally
        // and then again, a key with no room was counted as dropped twice).
        let last = |key: &str| attributes.iter().filter(says).rfind(|kv| kv.key == key);
        let mut event = self.event(semconv::EXCEPTION_EVENT);
        match last(semconv::EXCEPTION_TYPE) {
            Some(kv) => event.attribute(semconv::EXCEPTION_TYPE, kv.value),
            None if !exception_type.is_empty() => {
                event.attribute(semconv::EXCEPTION_TYPE, exception_type)
            }
            None => &mut event,
        };
        match last(semconv::EXCEPTION_MESSAGE) {
            Some(kv) => event.attribute(semconv::EXCEPTION_MESSAGE, kv.value),
            None if !message.is_empty() => event.attribute(semconv::EXCEPTION_MESSAGE, message),
            None => &mut event,
        };
        for n in 0..attributes.len() {
            let Some(kv) = record::last_of_key(attributes, n) else {
                continue;
            };
            if kv.key != semconv::EXCEPTION_TYPE && kv.key != semconv::EXCEPTION_MESSAGE {
                event.attribute_dyn(kv.key, kv.value);
            }
        }
    }

    /// Records an exception with its type (e.g. `"TimeoutError"`) and message; an
    /// empty one is left out (semantic conventions: each is required only without the
    /// other, and an empty `exception.type` would group errors under ""), and with
    /// neither nothing is recorded.
    pub fn record_exception_with_type(&mut self, exception_type: &str, message: &str) {
        let all = [
            KeyValue::new(semconv::EXCEPTION_TYPE, exception_type),
            KeyValue::new(semconv::EXCEPTION_MESSAGE, message),
        ];
        let (first, count) = match (exception_type.is_empty(), message.is_empty()) {
            (false, false) => (0, 2),
            (false, true) => (0, 1),
            (true, false) => (1, 1),
            // An `exception` event that says neither (found by review: one without
            // attributes was recorded).
            (true, true) => return,
        };
        let attributes = all.get(first..first + count).unwrap_or_default();
        self.add_event_with_attributes(semconv::EXCEPTION_EVENT, attributes);
    }

    /// Records a Rust error as an exception: its type name and its `Display` text,
    /// formatted straight into the span (a long text is cut at a character boundary,
    /// to the attribute value limit and the room the span has left). The type name is
    /// the static type; a trait object's (a boxed error's `dyn core::error::Error`)
    /// names no type, so it is left out (use [`Span::record_exception_with_type`] to
    /// name it). An empty `Display` text is left out too, and a trait object whose
    /// text is empty records nothing (neither a type nor a message). The error's
    /// causes are not written: [`Span::record_error_with_causes`] writes them.
    pub fn record_error<E: core::error::Error + ?Sized>(&mut self, error: &E) {
        self.record_error_as(error, false);
    }

    /// As [`Span::record_error`], the message followed by the error's causes
    /// (`source()`, outermost first, each after `": "`, as `anyhow` prints `{:#}`; a
    /// cause the text already ends with is not repeated; at most 8): for errors that
    /// keep what went wrong in their causes (reqwest's "error sending request" over
    /// "Connection refused"). Every cause's text is exported: an error wrapping one
    /// whose text holds a secret (reqwest's, with the URL: `without_url()` first)
    /// exports it too.
    pub fn record_error_with_causes<E: core::error::Error + ?Sized>(&mut self, error: &E) {
        self.record_error_as(error, true);
    }

    fn record_error_as<E: core::error::Error + ?Sized>(&mut self, error: &E, causes: bool) {
        if !self.is_recording() {
            return;
        }
        let type_name = error_type_name(core::any::type_name::<E>());
        // Every boxed error grouped under one "type" would mislead a backend: a trait
        // object's name is left out, behind a reference or a pointer too
        // (`&dyn core::error::Error`, `alloc::sync::Arc<dyn ...>`).
        let named = !type_name.starts_with("dyn ");
        // Found by review: an empty text was stored as an empty `exception.message`.
        let says_something = displays_something(error);
        if !named && !says_something {
            return;
        }
        let mut event = self.event(semconv::EXCEPTION_EVENT);
        if named {
            event.attribute(semconv::EXCEPTION_TYPE, type_name);
        }
        if says_something && causes {
            event.attribute_fmt(
                semconv::EXCEPTION_MESSAGE,
                format_args!("{}", error_chain::ErrorChain(error)),
            );
        } else if says_something {
            event.attribute_fmt(semconv::EXCEPTION_MESSAGE, format_args!("{error}"));
        }
    }

    /// Sets the status to Ok (final: later status changes are ignored).
    #[inline]
    pub fn set_ok(&mut self) {
        self.set_status(Status::Ok);
    }

    /// Sets the status to Error with a description (ignored after `set_ok`; an empty
    /// description keeps the one an earlier `set_error` gave: a deviation from the
    /// API specification's "only the value of the last call will be recorded", so that
    /// a generic error path does not erase a specific description set before it).
    #[inline]
    pub fn set_error(&mut self, description: &str) {
        self.set_status(Status::Error { description });
    }

    /// Sets the status following the spec's rules (see [`Status`]).
    pub fn set_status(&mut self, status: Status<'_>) {
        if let Some((mut r, _)) = self.record() {
            r.set_status(&status);
        }
    }

    /// Sets the status, as [`Span::set_status`] does, only if none was set yet (or to
    /// describe an Error set without a description): for a status inferred from what
    /// happened (an error logged in the span), which must not override one set on
    /// purpose, nor store one description after another.
    ///
    /// ```
    /// # use picotrace::{IdGenerator, ManualClock, NoopExporter, SpanArena, Status, Timestamp, Tracer, TracerConfig};
    /// # let tracer = Tracer::new(TracerConfig::new("doc"), SpanArena::<4>::new(),
    /// #     ManualClock::new(Timestamp::ZERO), IdGenerator::from_seed([1; 32]), NoopExporter);
    /// let mut span = tracer.start_span("retrying");
    /// span.set_status_if_unset(Status::Error { description: "first failure" });
    /// span.set_status_if_unset(Status::Error { description: "second failure" }); // ignored
    /// ```
    pub fn set_status_if_unset(&mut self, status: Status<'_>) {
        if let Some((mut r, _)) = self.record() {
            r.set_status_if_unset(&status);
        }
    }

    /// Replaces the span name.
    pub fn update_name(&mut self, name: &str) {
        if let Some((mut r, _)) = self.record() {
            r.update_name(name);
        }
    }

    /// Starts an internal child span of this one.
    pub fn child(&self, name: &str) -> Span<'t> {
        self.child_with_kind(name, SpanKind::Internal)
    }

    /// Starts a child span of the given kind. Every child of a running tracer gets a
    /// span id of its own, recorded or not (W3C: each outgoing request carries a new
    /// parent-id), but for a disabled tracer's child of a sampled parent. A tracer that
    /// is not seeded yet, or shut down, is a no-op: its children pass their parent's
    /// context on unchanged, as OpenTelemetry's API without an SDK does; so does a
    /// disabled tracer under a sampled parent (an id of its own, flagged sampled and
    /// never exported, would be a gap in the trace).
    pub fn child_with_kind(&self, name: &str, kind: SpanKind) -> Span<'t> {
        match self.owner {
            Some(owner) => owner.start(&StartParams {
                name,
                kind,
                parent: Parent::Local(self),
                attributes: &[],
                attributes_for_sampler_only: false,
                links: &[],
                start_time: None,
            }),
            None => Span::non_recording(self.context),
        }
    }

    /// Makes `parent` this span's parent after it started: the span takes the parent's
    /// trace id and tracestate, and the sampler decides again with the new parent
    /// (under the default `ParentBased` sampler an unsampled parent stops the
    /// recording; its span is then counted as sampled out and not exported).
    ///
    /// For bridges whose spans learn their remote parent late, such as picotrace-std's
    /// `tracing` layer (`set_parent` on a `tracing::Span`). Children started before the
    /// call keep the old trace id. An invalid `parent` changes nothing.
    ///
    /// The span was decided on once already, at its start, without this parent (its
    /// sampler asked; under `ParentBased`, the root sampler). The attributes that
    /// decision gave ([`SamplingResult::attributes`](crate::SamplingResult::attributes))
    /// go, unless set since (or set by the builder first: the sampler's value over it
    /// stays), and the new decision's are added; a built-in rate limiter
    /// gets its span back; a custom sampler was asked all the same (one that counts
    /// what it keeps counted it). Where the parent is known before the span starts,
    /// start it under the parent ([`Tracer::start_span_with_parent`](crate::Tracer::start_span_with_parent),
    /// or with the std adapter's `tracing` layer, make the context current first): it
    /// is decided on once.
    ///
    /// The tracestate takes the room the span's text pool has left: a span whose
    /// attributes filled it keeps the members that fit, cut by W3C's rule (members over
    /// 128 characters first, then from the right; counted as a cut value). Set the
    /// parent before long attributes to keep it whole.
    ///
    /// A span that held no record (sampled out under its old parent, or the arena was
    /// full) and records under the new one gets its record now: it starts at this call,
    /// with its kind, no name ([`Span::update_name`] gives one) and none of the
    /// attributes set before; one that must keep the new parent's tracestate gets a
    /// record for it too. Without a free slot in the arena it keeps no record: it takes
    /// the new parent's trace id, unsampled, and is counted as dropped by the full
    /// arena when it would have been sampled (nothing is exported here to make room,
    /// nor waited for, whatever the tracer's full-arena wait: the `tracing` layer calls
    /// this under a lock). A span of a disabled tracer, or a root started before
    /// [`Tracer::seed`], stays as it was (it has no tracer to record into: start it
    /// after seeding).
    ///
    /// [`Tracer::seed`]: crate::Tracer::seed
    pub fn set_parent(&mut self, parent: &TraceContext) {
        if let Some(owner) = self.owner {
            owner.set_parent(self, parent, None);
        }
    }

    /// As [`Span::set_parent`], for a span whose making the caller kept (the `tracing`
    /// layer keeps it for the roots its sampler dropped, and their children): a span
    /// without a record is
    /// decided on under `parent` with `made`'s name and attributes (a span's record
    /// keeps its own), and one that gets its record here starts at `made.created`
    /// rather than at this call. Neither name nor attributes are recorded: the caller
    /// writes them once the span records.
    ///
    /// ```
    /// # use picotrace::{AsMade, IdGenerator, ManualClock, NoopExporter, RootSampler, Sampler,
    /// #     SpanArena, Timestamp, TraceContext, Tracer, TracerConfig};
    /// let clock = ManualClock::new(Timestamp::from_unix_nanos(1_000));
    /// let config =
    ///     TracerConfig::new("svc").with_sampler(Sampler::parent_based(RootSampler::AlwaysOff));
    /// let tracer = Tracer::new(config, SpanArena::<2>::new(), &clock,
    ///     IdGenerator::from_seed([1; 32]), NoopExporter);
    /// let created = tracer.now();
    /// let mut span = tracer.start_span("request"); // a root: sampled out
    /// clock.advance(core::time::Duration::from_micros(5));
    /// let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    /// let parent = TraceContext::from_headers(&[("traceparent", tp)]).unwrap();
    /// let made = AsMade { created, name: "request", attributes: &[] };
    /// span.set_parent_as_made(&parent, &made);
    /// assert_eq!(span.start_time(), Some(created));
    /// ```
    pub fn set_parent_as_made(&mut self, parent: &TraceContext, made: &AsMade<'_>) {
        if let Some(owner) = self.owner {
            owner.set_parent(self, parent, Some(made));
        }
    }

    /// Ends the span now. (Dropping it does the same.)
    #[inline]
    pub fn end(self) {
        drop(self);
    }

    /// Ends the span at an explicit time.
    pub fn end_at(mut self, time: Timestamp) {
        if let (Some(slot), Some(owner)) = (self.slot.take(), self.owner) {
            owner.end_span(slot, self.recording, Some(time));
        }
    }
}

/// The general attribute write, out of line: only keys that may be there already,
/// full lists and arrays get here from [`Span::set_attribute`].
#[inline(never)]
fn set_attribute_in(
    slot: &mut SlotRef<'_>,
    key: &str,
    static_key: Option<&'static str>,
    value: &Value<'_>,
    limits: &SpanLimits,
) {
    slot.record().set_attribute(key, static_key, value, limits);
}

impl Drop for Span<'_> {
    #[inline]
    fn drop(&mut self) {
        if let (Some(slot), Some(owner)) = (self.slot.take(), self.owner) {
            owner.end_span(slot, self.recording, None);
        }
    }
}

/// The error type a `type_name` names: behind references and the pointers that
/// implement `Error` for what they hold (`Box`, `Arc`), so one error is one type
/// however it is held (found by review: `&MyError`, then `Box<MyError>` and
/// `Arc<MyError>`, went out as other types than `MyError`).
fn error_type_name(mut name: &str) -> &str {
    const POINTERS: [&str; 2] = ["alloc::boxed::Box<", "alloc::sync::Arc<"];
    loop {
        if let Some(inner) = name.strip_prefix('&') {
            name = inner.strip_prefix("mut ").unwrap_or(inner);
            continue;
        }
        match POINTERS
            .iter()
            .find_map(|p| name.strip_prefix(p).and_then(|n| n.strip_suffix('>')))
        {
            Some(inner) => name = inner,
            None => return name,
        }
    }
}

/// Returns `true` when `value`'s `Display` text is not empty; stops at its first piece.
fn displays_something<T: core::fmt::Display + ?Sized>(value: &T) -> bool {
    struct FirstPiece(bool);
    impl core::fmt::Write for FirstPiece {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            if s.is_empty() {
                return Ok(());
            }
            self.0 = true;
            // Nothing more to learn: stop the formatting.
            Err(core::fmt::Error)
        }
    }
    let mut probe = FirstPiece(false);
    let _ = core::fmt::write(&mut probe, format_args!("{value}"));
    probe.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn spans_are_send_and_sync() {
        assert_send_sync::<Span<'static>>();
    }

    /// Every kind and reason comes back out of the byte they are packed in.
    #[test]
    fn unstarted_keeps_its_kind_and_reason() {
        let kinds = [
            SpanKind::Internal,
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Producer,
            SpanKind::Consumer,
        ];
        let reasons = [
            Unrecorded::Uncounted,
            Unrecorded::DroppedRoot,
            Unrecorded::SampledOut,
            Unrecorded::ArenaFull,
            Unrecorded::PassedOn,
            Unrecorded::ArenaFullParent,
        ];
        for kind in kinds {
            for why in reasons {
                let packed = Unstarted::new(kind, why);
                assert_eq!((packed.kind(), packed.why()), (kind, why));
            }
        }
    }
}
