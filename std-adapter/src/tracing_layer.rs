//! The `tracing` bridge (feature `tracing`): a [`tracing_subscriber::Layer`] that turns
//! `tracing` spans into picotrace spans, and [`TracingSpanExt`], which gives a
//! `tracing::Span` a remote parent and reads its context for injection.
//!
//! Most Rust libraries and servers are instrumented with `tracing`; with this layer
//! their spans (`#[instrument]`, `info_span!`) are exported by picotrace:
//!
//! - **Spans.** A `tracing` span starts a picotrace span when it is created and ends it
//!   when it closes (its last handle is dropped), so a span that lives across `.await`s
//!   in an instrumented future on a multi-thread runtime covers them all. Its parent is
//!   its `tracing` parent (explicit or the current span), else the span made current by
//!   [`InSpan`](crate::InSpan)/[`enter`](crate::enter), else none (a new trace), or a
//!   remote context given with [`TracingSpanExt::set_parent`].
//! - **Fields** become attributes (`i64`, `u64` (as `i64` when it fits, else its decimal
//!   text), `bool`, `f64`, strings, `Debug` values as text), also when recorded later
//!   with `Span::record`. Special fields, as `tracing-opentelemetry` reads them:
//!   `otel.name` (the span name), `otel.kind` (`server`, `client`, `producer`,
//!   `consumer`, `internal`), `otel.status_code` (`ok`, `error`),
//!   `otel.status_message`. A field holding an error (`error = &err as &dyn Error`)
//!   sets the status to Error and records an `exception` event.
//! - **Events** (`info!`, `error!`, ...) inside a span become span events named by their
//!   message, with `level`, `target` and their fields as attributes. An `ERROR` event
//!   sets the span's status to Error with the message as description.
//! - **Links**: `span.follows_from(other)` links the span to `other`.
//!
//! Nothing here allocates per span or event: the picotrace span behind a `tracing` span
//! is kept in a table the layer allocates once (not in the registry's extensions, which
//! box what they hold), fields are written straight into the span's slot, and event
//! attributes are gathered on the stack (at most
//! [`MAX_EVENT_FIELDS`] fields and [`EVENT_TEXT_BYTES`] bytes of text per event; more is
//! dropped and counted by the span's limits).
//!
//! ```
//! use picotrace_std::tracing_layer::{TracingLayer, TracingSpanExt as _};
//! use picotrace_std::TracerProvider;
//! use tracing_subscriber::layer::SubscriberExt as _;
//!
//! let provider = TracerProvider::builder().build();
//! let subscriber = tracing_subscriber::registry().with(TracingLayer::new(provider.tracer()));
//! tracing::subscriber::with_default(subscriber, || {
//!     let request = tracing::info_span!("GET /users", otel.kind = "server", user.id = 7);
//!     let _in_request = request.enter();
//!     tracing::info!(rows = 3, "query done"); // an event of the request span
//!     // The context to inject into an outgoing request:
//!     let cx = request.trace_context().expect("a picotrace span backs it");
//!     let traceparent = cx.to_traceparent(); // or cx.to_headers(&mut carrier)
//!     assert_eq!(traceparent.len(), 55); // 00-{trace id}-{span id}-{flags}
//! });
//! provider.shutdown()?;
//! # Ok::<(), picotrace_std::ExportError>(())
//! ```
//!
//! The registry must be `tracing_subscriber`'s [`Registry`] (as
//! `tracing_subscriber::registry()` makes).

use std::fmt::{self, Write as _};
use std::sync::Arc;

use picotrace::{KeyValue, Parent, Span, SpanContext, SpanKind, Status, TraceContext, Value};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, Registry};
use tracing_subscriber::Layer;

use crate::StdTracer;

mod spans;
use spans::SpanTable;

/// Most fields one event can carry as attributes (more are dropped).
pub const MAX_EVENT_FIELDS: usize = 16;
/// Bytes of text (string and `Debug` field values) one event can carry (more is cut).
pub const EVENT_TEXT_BYTES: usize = 1024;
/// Longest `Debug` text of one span field (longer is cut).
const FIELD_TEXT_BYTES: usize = 256;

/// A [`Layer`] that records `tracing` spans and events with a picotrace tracer (see
/// the [module documentation](self)).
#[derive(Clone)]
pub struct TracingLayer {
    tracer: &'static StdTracer,
    location: bool,
    error_events_to_status: bool,
    /// The picotrace spans behind live `tracing` spans (clones share it).
    spans: Arc<SpanTable>,
}

impl fmt::Debug for TracingLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracingLayer")
            .field("location", &self.location)
            .field("error_events_to_status", &self.error_events_to_status)
            .finish_non_exhaustive()
    }
}

impl TracingLayer {
    /// A layer that records with `tracer` (for instance
    /// [`TracerProvider::tracer`](crate::TracerProvider::tracer)).
    ///
    /// The layer keeps the picotrace spans of live `tracing` spans in a table sized
    /// for the tracer's arena (spans beyond it go to the registry's extensions).
    pub fn new(tracer: &'static StdTracer) -> Self {
        use picotrace::SpanStorage as _;
        Self::with_table(tracer, tracer.arena().capacity())
    }

    /// A layer whose span table has room for about `spans` live spans.
    fn with_table(tracer: &'static StdTracer, spans: usize) -> Self {
        Self {
            tracer,
            location: false,
            error_events_to_status: true,
            spans: Arc::new(SpanTable::new(spans)),
        }
    }

    /// Runs `f` on the picotrace span behind `span`: in the table, else (a table
    /// bucket was full when it started) in the registry's extensions.
    fn with_backing<'a, S, R>(
        &self,
        span: &tracing_subscriber::registry::SpanRef<'a, S>,
        f: impl FnOnce(&mut Span<'static>) -> R,
    ) -> Option<R>
    where
        S: Subscriber + LookupSpan<'a>,
    {
        self.spans.with_or(span.id().into_u64(), f, |f| {
            span.extensions_mut()
                .get_mut::<Backing>()
                .map(|Backing(s)| f(s))
        })
    }

    /// Adds the source location of each span as `code.filepath`, `code.lineno` and
    /// `code.namespace` attributes (default: off, it costs three attributes a span).
    pub fn with_location(mut self, location: bool) -> Self {
        self.location = location;
        self
    }

    /// Whether an `ERROR` event sets its span's status to Error (default: on, as in
    /// `tracing-opentelemetry`).
    pub fn with_error_events_to_status(mut self, on: bool) -> Self {
        self.error_events_to_status = on;
        self
    }
}

/// What a `tracing` span keeps in its extensions: the picotrace span behind it.
struct Backing(Span<'static>);

impl<S> Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let metadata = attrs.metadata();
        // First the fields that shape the start: name and kind.
        let mut shape = Shape::default();
        // Most callsites have no `otel.*` field: their values are not visited twice.
        if metadata
            .fields()
            .iter()
            .any(|f| f.name().starts_with("otel."))
        {
            attrs.record(&mut shape);
        }
        let name = shape.name.as_deref().unwrap_or(metadata.name());
        let parent_ref = if let Some(parent) = attrs.parent() {
            ctx.span(parent)
        } else if attrs.is_contextual() {
            ctx.lookup_current()
        } else {
            None
        };
        let builder = || self.tracer.span_builder(name).kind(shape.kind);
        let mut started = match &parent_ref {
            Some(parent) => self
                .with_backing(parent, |parent| {
                    builder().parent(Parent::Local(parent)).start()
                })
                .unwrap_or_else(|| builder().start()),
            // No `tracing` parent: a span made current by picotrace's own `InSpan` or
            // `enter` is the parent, if any.
            None => match crate::context::current_context() {
                Some(cx) => builder().parent(&cx).start(),
                None => builder().start(),
            },
        };
        if started.is_recording() {
            if self.location {
                if let Some(file) = metadata.file() {
                    started.set_attribute("code.filepath", file);
                }
                if let Some(line) = metadata.line() {
                    started.set_attribute("code.lineno", i64::from(line));
                }
                if let Some(module) = metadata.module_path() {
                    started.set_attribute("code.namespace", module);
                }
            }
            attrs.record(&mut Fields(&mut started));
        }
        if let Err(started) = self.spans.insert(id.into_u64(), started) {
            span.extensions_mut().insert(Backing(started));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        self.with_backing(&span, |backing| {
            if backing.is_recording() {
                values.record(&mut Fields(backing));
            }
        });
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let (Some(span), Some(other)) = (ctx.span(id), ctx.span(follows)) else {
            return;
        };
        let Some(linked) = self.with_backing(&other, |other| other.trace_context()) else {
            return;
        };
        self.with_backing(&span, |backing| backing.add_link(&linked, &[]));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        // Dropping the picotrace span ends it (outside the table's lock).
        if let Some(span) = self.spans.remove(id.into_u64()) {
            drop(span);
            return;
        }
        if let Some(span) = ctx.span(&id) {
            drop(span.extensions_mut().remove::<Backing>());
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        self.with_backing(&span, |backing| self.record_event(backing, event));
    }
}

impl TracingLayer {
    /// An event of a span: a span event named by its message, with level, target and
    /// fields; an error sets the status.
    fn record_event(&self, backing: &mut Span<'static>, event: &Event<'_>) {
        if !backing.is_recording() {
            return;
        }
        let metadata = event.metadata();
        let mut gathered = EventFields::default();
        event.record(&mut gathered);
        let level = *metadata.level();
        let message = gathered.text_of(gathered.message);
        let name = if message.is_empty() {
            metadata.name()
        } else {
            message
        };
        let mut attributes = heapless::Vec::<KeyValue<'_>, { MAX_EVENT_FIELDS + 2 }>::new();
        let _ = attributes.push(KeyValue::new("level", level.as_str()));
        let _ = attributes.push(KeyValue::new("target", metadata.target()));
        for (key, value) in &gathered.fields {
            let value = match *value {
                Gathered::Text(range) => Value::Str(gathered.text_of(Some(range))),
                Gathered::I64(i) => Value::I64(i),
                Gathered::Bool(b) => Value::Bool(b),
                Gathered::F64(f) => Value::F64(f),
            };
            let _ = attributes.push(KeyValue::new(key, value));
        }
        backing.add_event_with_attributes(name, &attributes);
        if let Some(error) = gathered.error {
            let error = gathered.text_of(Some(error));
            backing.record_exception(error);
            backing.set_status(Status::Error { description: error });
        } else if level == Level::ERROR && self.error_events_to_status {
            backing.set_status(Status::Error { description: name });
        }
    }
}

/// `tracing::Span` methods for picotrace context: a remote parent in, a context out.
pub trait TracingSpanExt {
    /// Makes `parent` (extracted from incoming headers) this span's parent: the span
    /// joins the caller's trace (see [`Span::set_parent`](picotrace::Span::set_parent)).
    /// Call it before the span has children, for instance right after creating it or
    /// first thing in an `#[instrument]`ed function. Does nothing when no
    /// [`TracingLayer`] records the span.
    fn set_parent(&self, parent: &TraceContext);

    /// Returns the context to propagate for this span (with its tracestate), if a
    /// [`TracingLayer`] records it: inject it into outgoing requests.
    fn trace_context(&self) -> Option<TraceContext>;

    /// Returns this span's ids and flags, if a [`TracingLayer`] records it.
    fn span_context(&self) -> Option<SpanContext>;
}

impl TracingSpanExt for tracing::Span {
    fn set_parent(&self, parent: &TraceContext) {
        with_backing(self, |span| span.set_parent(parent));
    }

    fn trace_context(&self) -> Option<TraceContext> {
        with_backing(self, |span| span.trace_context())
    }

    fn span_context(&self) -> Option<SpanContext> {
        with_backing(self, |span| span.context())
    }
}

/// Runs `f` on the picotrace span behind `span`: in the table of the subscriber's
/// [`TracingLayer`], else in the registry's extensions.
fn with_backing<F, R>(span: &tracing::Span, f: F) -> Option<R>
where
    F: FnOnce(&mut Span<'static>) -> R,
{
    span.with_subscriber(|(id, dispatch)| {
        let in_extensions = |f: F| {
            let data = dispatch.downcast_ref::<Registry>()?.span(id)?;
            let mut extensions = data.extensions_mut();
            extensions.get_mut::<Backing>().map(|Backing(span)| f(span))
        };
        match dispatch.downcast_ref::<TracingLayer>() {
            Some(layer) => layer.spans.with_or(id.into_u64(), f, in_extensions),
            None => in_extensions(f),
        }
    })
    .flatten()
}

/// Writes `args` into `buf`, keeping what fits: the text is cut at a character
/// boundary where the buffer ends (a `heapless::String` would drop a whole piece).
fn write_cut<const N: usize>(buf: &mut heapless::String<N>, args: fmt::Arguments<'_>) {
    struct Cut<'b, const N: usize>(&'b mut heapless::String<N>);
    impl<const N: usize> fmt::Write for Cut<'_, N> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let room = N - self.0.len();
            if s.len() <= room {
                let _ = self.0.push_str(s);
                return Ok(());
            }
            let mut end = room;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            let _ = self.0.push_str(&s[..end]);
            Err(fmt::Error) // full: stop formatting
        }
    }
    let _ = Cut(buf).write_fmt(args);
}

fn kind_from(text: &str) -> Option<SpanKind> {
    Some(match text.to_ascii_lowercase().as_str() {
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => return None,
    })
}

/// Reads the fields that decide how a span starts: `otel.name` and `otel.kind`.
#[derive(Default)]
struct Shape {
    name: Option<heapless::String<128>>,
    kind: SpanKind,
}

impl Visit for Shape {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "otel.name" => self.name = Some(cut_copy(value)),
            "otel.kind" => self.kind = kind_from(value).unwrap_or(self.kind),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name().starts_with("otel.") {
            let mut text = heapless::String::<128>::new();
            write_cut(&mut text, format_args!("{value:?}"));
            self.record_str(field, &text);
        }
    }
}

/// Copies `s` into a fixed buffer, cut at a character boundary if it is too long.
fn cut_copy<const N: usize>(s: &str) -> heapless::String<N> {
    let mut out = heapless::String::new();
    write_cut(&mut out, format_args!("{s}"));
    out
}

/// Writes span fields as attributes of the picotrace span.
struct Fields<'s>(&'s mut Span<'static>);

impl Visit for Fields<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.set_attribute(field.name(), value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(value) => self.0.set_attribute(field.name(), value),
            Err(_) => {
                let mut text = heapless::String::<20>::new();
                write_cut(&mut text, format_args!("{value}"));
                self.0.set_attribute(field.name(), text.as_str());
            }
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.set_attribute(field.name(), value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.set_attribute(field.name(), value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let name = field.name();
        if !name.starts_with("otel.") {
            return self.0.set_attribute(name, value);
        }
        match name {
            "otel.name" => self.0.update_name(value),
            "otel.kind" => {}
            "otel.status_code" => match value.to_ascii_lowercase().as_str() {
                "ok" => self.0.set_ok(),
                "error" => self.0.set_error(""),
                _ => {}
            },
            "otel.status_message" => self.0.set_error(value),
            name => self.0.set_attribute(name, value),
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = heapless::String::<FIELD_TEXT_BYTES>::new();
        write_cut(&mut text, format_args!("{value}"));
        self.0.set_attribute(field.name(), text.as_str());
        self.0.record_exception(&text);
        self.0.set_error(&text);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = heapless::String::<FIELD_TEXT_BYTES>::new();
        // A value longer than the buffer is cut; the rest is of little use in a trace.
        write_cut(&mut text, format_args!("{value:?}"));
        self.record_str(field, &text);
    }
}

/// One event field as gathered: text lives in [`EventFields::text`].
#[derive(Clone, Copy)]
enum Gathered {
    Text((u16, u16)),
    I64(i64),
    Bool(bool),
    F64(f64),
}

/// An event's fields, gathered on the stack before they become span-event attributes.
#[derive(Default)]
struct EventFields {
    text: heapless::String<EVENT_TEXT_BYTES>,
    fields: heapless::Vec<(&'static str, Gathered), MAX_EVENT_FIELDS>,
    message: Option<(u16, u16)>,
    error: Option<(u16, u16)>,
}

impl EventFields {
    fn push_text(&mut self, value: fmt::Arguments<'_>) -> (u16, u16) {
        let start = self.text.len();
        write_cut(&mut self.text, value);
        (start as u16, (self.text.len() - start) as u16)
    }

    fn text_of(&self, range: Option<(u16, u16)>) -> &str {
        let Some((start, len)) = range else {
            return "";
        };
        let (start, end) = (usize::from(start), usize::from(start) + usize::from(len));
        self.text.get(start..end).unwrap_or("")
    }

    fn push(&mut self, field: &Field, value: Gathered) {
        let _ = self.fields.push((field.name(), value));
    }
}

impl Visit for EventFields {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Gathered::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(value) => self.push(field, Gathered::I64(value)),
            Err(_) => {
                let range = self.push_text(format_args!("{value}"));
                self.push(field, Gathered::Text(range));
            }
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Gathered::Bool(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Gathered::F64(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let range = self.push_text(format_args!("{value}"));
        if field.name() == "message" {
            self.message = Some(range);
        } else {
            self.push(field, Gathered::Text(range));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let range = self.push_text(format_args!("{value}"));
        self.error = Some(range);
        self.push(field, Gathered::Text(range));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let range = self.push_text(format_args!("{value:?}"));
        if field.name() == "message" {
            self.message = Some(range);
        } else {
            self.push(field, Gathered::Text(range));
        }
    }
}

#[cfg(test)]
mod tests;
