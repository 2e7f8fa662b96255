//! The span model: [`Span`] (the handle user code holds, ended on drop), [`SpanKind`],
//! [`Status`], and the storage behind them ([`arena`], [`record`], [`attributes`]).
//!
//! A `Span` is two words and a context: the data lives in the tracer's arena slot,
//! written in place, so nothing is copied when the span ends.

pub mod arena;
pub mod attributes;
pub mod record;

use core::fmt::Write as _;

use crate::context::{SpanContext, TraceContext};
use crate::semconv;
use crate::time::Timestamp;
use attributes::{KeyValue, Value};
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
    pub links: &'a [(SpanContext, &'a [KeyValue<'a>])],
    pub start_time: Option<Timestamp>,
}

/// The tracer as spans see it; implemented by [`crate::Tracer`].
#[doc(hidden)]
pub trait Recorder {
    /// Runs `f` on the span's record if `slot` still holds the running span `span_id`.
    fn update(
        &self,
        slot: u16,
        cx: &SpanContext,
        f: &mut dyn FnMut(&mut RecordMut<'_>, &SpanLimits),
    );
    /// Ends the span in `slot`.
    fn end(&self, slot: u16, cx: &SpanContext, time: Option<Timestamp>);
    /// Reads the tracer's clock.
    fn now(&self) -> Timestamp;
    /// Starts a span.
    fn start<'t>(&'t self, params: &StartParams<'_>) -> Span<'t>;
    /// Copies the running span's tracestate into `out`.
    fn trace_state(&self, slot: u16, cx: &SpanContext, out: &mut crate::TraceState);
}

/// A span in progress. Setters record into the tracer's arena; the span ends when
/// [`Span::end`] is called or when it is dropped.
///
/// A span the tracer could not record (sampled out, arena full, tracing disabled) is
/// *non-recording*: its setters do nothing and cost next to nothing, but its context
/// still propagates so downstream services see one trace.
pub struct Span<'t> {
    recorder: Option<&'t dyn Recorder>,
    slot: u16,
    context: SpanContext,
    recording: bool,
}

impl core::fmt::Debug for Span<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Span")
            .field("context", &self.context)
            .field("recording", &self.is_recording())
            .finish()
    }
}

impl<'t> Span<'t> {
    #[doc(hidden)]
    pub fn recording(recorder: &'t dyn Recorder, slot: u16, context: SpanContext) -> Self {
        Self {
            recorder: Some(recorder),
            slot,
            context,
            recording: true,
        }
    }

    /// A sampled-out span that keeps a slot only so its tracestate propagates.
    #[doc(hidden)]
    pub fn holding_trace_state(
        recorder: &'t dyn Recorder,
        slot: u16,
        context: SpanContext,
    ) -> Self {
        Self {
            recorder: Some(recorder),
            slot,
            context,
            recording: false,
        }
    }

    /// Returns `true` when this span records into `recorder`.
    pub(crate) fn recorder_is(&self, recorder: &dyn Recorder) -> bool {
        self.recorder.is_some_and(|r| {
            core::ptr::addr_eq(r as *const dyn Recorder, recorder as *const dyn Recorder)
        })
    }

    /// Returns the arena slot of a recording span.
    pub(crate) fn slot(&self) -> Option<u16> {
        self.recorder.map(|_| self.slot)
    }

    /// Creates a non-recording span that carries `context` (which may be invalid).
    pub const fn non_recording(context: SpanContext) -> Self {
        Self {
            recorder: None,
            slot: 0,
            context,
            recording: false,
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

    /// Returns the context to propagate, with the span's tracestate.
    pub fn trace_context(&self) -> TraceContext {
        let mut cx = TraceContext::from(self.context);
        if let Some(r) = self.recorder {
            r.trace_state(self.slot, &self.context, &mut cx.trace_state);
        }
        cx
    }

    #[inline]
    fn update(&self, mut f: impl FnMut(&mut RecordMut<'_>, &SpanLimits)) {
        if let (true, Some(r)) = (self.recording, self.recorder) {
            r.update(self.slot, &self.context, &mut f);
        }
    }

    /// Sets an attribute; a later value for the same key replaces the earlier one.
    ///
    /// The key is `'static` (use the [`crate::semconv`] constants); see
    /// [`Span::set_attribute_dyn`] for keys built at run time.
    #[inline]
    pub fn set_attribute<'v>(&self, key: &'static str, value: impl Into<Value<'v>>) {
        let value = value.into();
        self.update(|r, limits| r.set_attribute(key, Some(key), &value, limits));
    }

    /// Sets an attribute whose key is copied into the span's storage.
    pub fn set_attribute_dyn<'v>(&self, key: &str, value: impl Into<Value<'v>>) {
        let value = value.into();
        self.update(|r, limits| r.set_attribute(key, None, &value, limits));
    }

    /// Adds an event with no attributes, timed now.
    #[inline]
    pub fn add_event(&self, name: &str) {
        self.add_event_with_attributes(name, &[]);
    }

    /// Adds an event with attributes, timed now.
    pub fn add_event_with_attributes(&self, name: &str, attributes: &[KeyValue<'_>]) {
        if let (true, Some(r)) = (self.recording, self.recorder) {
            let now = r.now();
            self.add_event_at(name, now, attributes);
        }
    }

    /// Adds an event at an explicit time.
    pub fn add_event_at(&self, name: &str, time: Timestamp, attributes: &[KeyValue<'_>]) {
        self.update(|r, limits| r.add_event(name, time, attributes, limits));
    }

    /// Adds a link to another span (for example the producer of a message).
    pub fn add_link(&self, linked: &TraceContext, attributes: &[KeyValue<'_>]) {
        let state = linked.trace_state.as_str();
        self.update(|r, limits| r.add_link(linked.span_context, state, attributes, limits));
    }

    /// Records an exception as an `exception` event with `exception.message`.
    pub fn record_exception(&self, message: &str) {
        self.add_event_with_attributes(
            semconv::EXCEPTION_EVENT,
            &[KeyValue::new(semconv::EXCEPTION_MESSAGE, message)],
        );
    }

    /// Records an exception with its type (e.g. `"TimeoutError"`) and message.
    pub fn record_exception_with_type(&self, exception_type: &str, message: &str) {
        self.add_event_with_attributes(
            semconv::EXCEPTION_EVENT,
            &[
                KeyValue::new(semconv::EXCEPTION_TYPE, exception_type),
                KeyValue::new(semconv::EXCEPTION_MESSAGE, message),
            ],
        );
    }

    /// Records a Rust error as an exception: its type name and its `Display` text (cut at
    /// 256 bytes).
    pub fn record_error<E: core::error::Error + ?Sized>(&self, error: &E) {
        if !self.is_recording() {
            return;
        }
        let mut message = heapless::String::<256>::new();
        // A message longer than the buffer is cut, which is fine for a description.
        let _ = write!(message, "{error}");
        self.record_exception_with_type(core::any::type_name::<E>(), &message);
    }

    /// Sets the status to Ok (final: later status changes are ignored).
    #[inline]
    pub fn set_ok(&self) {
        self.set_status(Status::Ok);
    }

    /// Sets the status to Error with a description (ignored after `set_ok`).
    #[inline]
    pub fn set_error(&self, description: &str) {
        self.set_status(Status::Error { description });
    }

    /// Sets the status following the spec's rules (see [`Status`]).
    pub fn set_status(&self, status: Status<'_>) {
        self.update(|r, limits| r.set_status(&status, limits));
    }

    /// Replaces the span name.
    pub fn update_name(&self, name: &str) {
        self.update(|r, limits| r.update_name(name, limits));
    }

    /// Starts an internal child span of this one.
    pub fn child(&self, name: &str) -> Span<'t> {
        self.child_with_kind(name, SpanKind::Internal)
    }

    /// Starts a child span of the given kind.
    pub fn child_with_kind(&self, name: &str, kind: SpanKind) -> Span<'t> {
        match self.recorder {
            Some(r) => r.start(&StartParams {
                name,
                kind,
                parent: Parent::Local(self),
                attributes: &[],
                links: &[],
                start_time: None,
            }),
            None => Span::non_recording(self.context),
        }
    }

    /// Ends the span now. (Dropping it does the same.)
    #[inline]
    pub fn end(self) {
        drop(self);
    }

    /// Ends the span at an explicit time.
    pub fn end_at(mut self, time: Timestamp) {
        if let Some(r) = self.recorder.take() {
            r.end(self.slot, &self.context, Some(time));
        }
    }
}

impl Drop for Span<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(r) = self.recorder.take() {
            r.end(self.slot, &self.context, None);
        }
    }
}
