//! The `tracing` bridge (feature `tracing`): a [`tracing_subscriber::Layer`] that turns
//! `tracing` spans into picotrace spans, and [`TracingSpanExt`], which gives a
//! `tracing::Span` a remote parent and reads its context for injection.
//!
//! Most Rust libraries and servers are instrumented with `tracing`; with this layer
//! their spans (`#[instrument]`, `info_span!`) are exported by picotrace:
//!
//! - **Spans.** A `tracing` span starts a picotrace span when it is created and ends it
//!   at its last exit (when it closes, if it was never entered), as
//!   `tracing-opentelemetry` does: a span that lives across `.await`s in an
//!   instrumented future on a multi-thread runtime covers every poll, and one kept open
//!   after its work (by a `JoinHandle`, a struct, or a spawned task's span, which holds
//!   its parent until the task ends) still ends when its work did. Its parent is
//!   its explicit `tracing` parent, else the innermost of the entered `tracing` span
//!   and the span made current by [`InSpan`](crate::InSpan)/[`enter`](crate::enter)
//!   (the one [`current_context`](crate::current_context) answers: a `ServerLayer`
//!   request span made current inside an outer `tracing` span, such as tower-http's
//!   `TraceLayer`, parents the handler's spans), else none (a new trace), or a remote
//!   context given with [`TracingSpanExt::set_parent`]. A span made with `parent: None`
//!   is a root: it starts a new trace.
//! - **Fields** become attributes (`i64`, `u64` (as `i64` when it fits, else its decimal
//!   text), `bool`, `f64`, strings, `Debug` values as text), also when recorded later
//!   with `Span::record`. Special fields, as `tracing-opentelemetry` reads them:
//!   `otel.name` (the span name), `otel.kind` (`server`, `client`, `producer`,
//!   `consumer`, `internal`; read when the span starts: a kind recorded later is
//!   ignored, as a picotrace span's kind is fixed at its start), `otel.status_code`
//!   (`ok`, `error`), `otel.status_description` (or the older `otel.status_message`);
//!   given as numbers or booleans, they are read as their text. A span's field holding
//!   an error (`error = &err as &dyn Error`) sets the status to Error and records an
//!   `exception` event; the causes of an error field (`source()`, outermost first) go
//!   to `{field}.chain`, a string array, as `tracing-opentelemetry` records them (on
//!   the span, or on the event for an event's field, at any level; an event's error
//!   sets the status only at `ERROR`, see Events).
//! - **Panics**: a span whose entered scope a panic unwinds (`in_scope`, `.instrument`,
//!   `#[instrument]`) ends with status Error `panicked` unless a status was set, also
//!   when the panic is caught before the span closes (`catch_unwind`, tower-http's
//!   `CatchPanicLayer`, a runtime that drops the task later), and also when the span is
//!   entered again and completes after the catch (a retry in the same span): give it
//!   `otel.status_code = "ok"` to say it recovered. A scope entered only while the
//!   thread was already unwinding (a clean-up in a `Drop`) is not the panic's.
//!   `tracing-opentelemetry` marks no panic.
//! - **Events** (`info!`, `error!`, ...) inside a span become span events named by their
//!   message, with `level`, `target` and their fields as attributes. The first `ERROR`
//!   event sets the span's status to Error with the message as description (none when it
//!   has no message), unless a status was set already; an `error` field (or any
//!   `dyn Error` field) of an `ERROR` event sets it to the error's text instead, and
//!   records an `exception` (what `#[instrument(err)]` records, `error = %e`, becomes
//!   one: an event with no message of its own is named `exception`, with
//!   `exception.message`). At lower levels an error is an attribute of its event only:
//!   an error that was retried or handled (`warn!(error = %e, "retrying")`,
//!   `#[instrument(err(level = "warn"))]`) is not the span's failure, as OpenTelemetry's
//!   "Recording errors" convention and `tracing-opentelemetry` (which sets the status
//!   from `ERROR` events only) have it.
//!   Records of the `log` crate (through `tracing-log`, which `tracing_subscriber`'s
//!   `init()` installs) keep their own target, without the `log.*` fields. While spans
//!   are suppressed on the thread ([`picotrace::tracer::suppress_spans`]: the tracer
//!   holds it while an exporter runs on the application's thread), events go to no
//!   span.
//! - **Links**: `span.follows_from(other)` links the span to `other`.
//! - **Optional attributes**, which `tracing-opentelemetry` adds by default and this
//!   layer only when asked (each costs time on every span):
//!   [`with_location`](TracingLayer::with_location) (`code.file.path`,
//!   `code.line.number`, `code.module.name`), [`with_threads`](TracingLayer::with_threads)
//!   (`thread.id`, `thread.name`) and
//!   [`with_tracked_inactivity`](TracingLayer::with_tracked_inactivity) (`busy_ns`,
//!   `idle_ns`).
//!
//! Nothing here allocates per span or event, with three exceptions. The picotrace span
//! behind a `tracing` span is kept in a table the layer allocates once (not in the
//! registry's extensions, which box what they hold); only a span whose table bucket is
//! full goes to the extensions. And an error field (a `dyn Error` value, given to an
//! event or to `Span::record`) is copied into a string of its own, and each of its
//! causes into one more (they are recorded as the list `{field}.chain`): `tracing`
//! lends the error only while it visits it. And under a sampler that may drop roots, a
//! dropped root and its direct children keep what they were made with, for a parent
//! [`TracingSpanExt::set_parent`] may give them (a few allocations each). A new span's
//! fields are written straight
//! into its slot as they are visited. An event's fields, and those given to
//! `Span::record`, are first read into buffers each thread reuses, and only then
//! written into the span, under its lock: reading them runs user code (`Debug`, `Display`), which must not run under a
//! lock another thread may wait for (a deadlock), and may trace itself (its events and
//! spans then find their span). What does not fit the span's limits is dropped and
//! counted. A new span's field whose `Debug` or `Display` panics reads `<panicked>`
//! (the panic is reported by the panic hook, and not let out of the layer: the
//! registry has made the span by then, and its parent would never close); in an event
//! or `Span::record` such a panic goes on to the caller.
//!
//! **Filter what it sees.** `tracing` enables every level unless told otherwise, so
//! without a filter the layer traces every library's `DEBUG` and `TRACE` spans and
//! events too (hyper's connection pool, h2's frames, rustls): they take the arena's
//! slots and fill each span's events (8 in [`StdArena`](crate::StdArena)) before the
//! application's own error event comes. Give the layer a level filter of its own
//! (`.with_filter(LevelFilter::INFO)`, or an `EnvFilter`), as the example below does;
//! other layers (a `fmt` layer) keep theirs.
//!
//! Behind `tracing_subscriber::reload::Layer` the layer cannot be found from a
//! `tracing::Span` (`reload` does not pass `downcast_raw` on), so
//! [`TracingSpanExt`] and [`current_context`](crate::current_context) find nothing there: `set_parent` does
//! nothing and the contexts are `None`. Reload a filter in front of the layer instead.
//!
//! ```
//! use picotrace_std::tracing_layer::{TracingLayer, TracingSpanExt as _};
//! use picotrace_std::TracerProvider;
//! use tracing_subscriber::{filter::LevelFilter, layer::SubscriberExt as _, Layer as _};
//!
//! let provider = TracerProvider::builder().build();
//! let subscriber = tracing_subscriber::registry()
//!     .with(TracingLayer::new(provider.tracer()).with_filter(LevelFilter::INFO));
//! tracing::subscriber::with_default(subscriber, || {
//!     let request = tracing::info_span!("GET /users", otel.kind = "server", user.id = 7);
//!     let _in_request = request.enter();
//!     tracing::info!(rows = 3, "query done"); // an event of the request span
//!     // The context to inject into an outgoing request:
//!     let cx = request.trace_context().expect("a picotrace span backs it");
//!     // `None` only for an invalid context; or cx.to_headers(&mut carrier)
//!     let traceparent = cx.to_traceparent().expect("a valid context");
//!     assert_eq!(traceparent.len(), 55); // 00-{trace id}-{span id}-{flags}
//! });
//! provider.shutdown()?;
//! # Ok::<(), picotrace_std::ExportError>(())
//! ```
//!
//! The registry must be `tracing_subscriber`'s [`Registry`] (as
//! `tracing_subscriber::registry()` makes).

use std::fmt::{self, Write as _};

use picotrace::{KeyValue, Span, SpanContext, SpanKind, Status, Timestamp, TraceContext, Value};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, Registry};
use tracing_subscriber::Layer;

use crate::StdTracer;

mod captured;
mod entered;
mod spans;
use captured::Replay;
use spans::{SpanTable, Timings};

/// Longest text kept of an `otel.*` override given as `Debug`, and of an event's error
/// or message that becomes a status description (longer is cut; a span's error field
/// keeps [`SPAN_ERROR_DESCRIPTION_BYTES`]). Attribute values are kept whole, to the
/// span's limits.
const FIELD_TEXT_BYTES: usize = 256;

/// Longest status description kept of a span's error field, stored before the error's
/// attribute: short enough that a span's 512 bytes of text keep a 300-byte error whole
/// beside it.
const SPAN_ERROR_DESCRIPTION_BYTES: usize = 128;

/// A [`Layer`] that records `tracing` spans and events with a picotrace tracer (see
/// the [module documentation](self)).
pub struct TracingLayer {
    tracer: &'static StdTracer,
    /// Whether a span the sampler dropped (a root, or a direct child of one) keeps what
    /// it was made with, for a parent `set_parent` may give it ([`Deferred`]): under a
    /// sampler that may drop roots.
    keeps_dropped_roots: bool,
    /// The tracer's sampler may decide by attributes (asked once: the runtime sampler
    /// is matched on to tell).
    sampler_reads_attributes: bool,
    location: bool,
    threads: bool,
    tracked_inactivity: bool,
    error_events_to_status: bool,
    /// The picotrace spans behind live `tracing` spans, by `tracing` span id.
    spans: SpanTable,
}

/// A clone records with the same tracer and settings, into a table of its own: `tracing`
/// span ids are only unique within one registry, and the clone may serve another.
impl Clone for TracingLayer {
    fn clone(&self) -> Self {
        Self {
            spans: self.spans.empty_like(),
            ..*self
        }
    }
}

impl fmt::Debug for TracingLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracingLayer")
            .field("location", &self.location)
            .field("threads", &self.threads)
            .field("tracked_inactivity", &self.tracked_inactivity)
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
        use picotrace::{RootSampler, Sampler};
        Self {
            tracer,
            // Roots the sampler may drop, and record under the parent `set_parent`
            // gives them: not those of a sampler that ignores parents and records
            // nothing, nor of one that drops no root (the default: only a full arena
            // does, and reading fields for those would add work to an overload).
            keeps_dropped_roots: match tracer.sampler() {
                // `always_on` drops no root either (found by review: its refused roots
                // under a full arena formatted and kept their fields).
                Sampler::Root(RootSampler::AlwaysOff | RootSampler::AlwaysOn) => false,
                Sampler::ParentBased(p) => !matches!(p.root, RootSampler::AlwaysOn),
                Sampler::Root(_) => true,
            },
            sampler_reads_attributes: tracer.sampler_reads_attributes(),
            location: false,
            threads: false,
            tracked_inactivity: false,
            error_events_to_status: true,
            spans: SpanTable::new(spans),
        }
    }

    /// Whether the span `parent_id` (the one this layer took the parent's context from)
    /// is a root the sampler dropped that keeps what it was made with
    /// ([`Deferred::root`]).
    fn parent_is_a_kept_root<S>(&self, parent_id: Option<u64>, ctx: &Context<'_, S>) -> bool
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(parent) = parent_id.and_then(|id| ctx.span(&Id::from_u64(id))) else {
            return false;
        };
        let extensions = parent.extensions();
        extensions
            .get::<Deferreds>()
            .and_then(|all| all.get(self.key()))
            .is_some_and(|deferred| deferred.root)
    }

    /// Runs `f` on what this layer keeps of `span`, a span the sampler dropped, for the
    /// record `set_parent` may give it (nothing when it keeps nothing).
    fn with_deferred<'a, S>(
        &self,
        span: &tracing_subscriber::registry::SpanRef<'a, S>,
        f: impl FnOnce(&mut Deferred),
    ) where
        S: Subscriber + LookupSpan<'a>,
    {
        let mut extensions = span.extensions_mut();
        let kept = extensions
            .get_mut::<Deferreds>()
            .and_then(|all| all.get_mut(Some(self.key())));
        if let Some(deferred) = kept {
            f(deferred);
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
            spans::in_extensions(|| {
                with_extensions_backing(span.extensions_mut(), Some(self.key()), f)
            })
        })
    }

    /// This layer's key in the thread's stack of entered spans.
    #[inline]
    fn key(&self) -> usize {
        self.spans.key()
    }

    /// Whether a scope of picotrace's own (`in_span`, `enter`) is inside the `tracing`
    /// span this layer sees entered on this thread (the rule of `current_context()`).
    fn own_scope_is_inner(&self) -> bool {
        let Some(scope) = crate::context::newest_scope() else {
            return false;
        };
        match entered::innermost(self.key()) {
            entered::Innermost::Known(Some((_, order))) => scope > order,
            entered::Innermost::Known(None) => true,
            // Deeper than the stack tracks: a scope older than its newest tracked
            // enter is outside the `tracing` spans (found by review: the spans of a
            // deep recursion inside a request were all parented to the request).
            entered::Innermost::Unknown(newest) => scope > newest,
        }
    }

    /// The id of the span current on this thread, as this layer saw spans entered
    /// (the registry is asked only when that stack overflowed).
    fn current_id<S: Subscriber>(&self, ctx: &Context<'_, S>) -> Option<u64> {
        match entered::current(self.key()) {
            entered::Current::Known(id) => id,
            entered::Current::Unknown => ctx.current_span().id().map(Id::into_u64),
        }
    }

    /// Adds the source location of each span and event as `code.file.path`,
    /// `code.line.number` and `code.module.name` attributes, the names
    /// `tracing-opentelemetry` writes (default: off, it costs three attributes a span
    /// and an event).
    #[must_use]
    pub fn with_location(mut self, location: bool) -> Self {
        self.location = location;
        self
    }

    /// Adds the thread that created each span as `thread.id` (an integer, the number in
    /// `ThreadId`'s `Debug` text, as `tracing-opentelemetry` writes it) and `thread.name`
    /// (when the thread has a name) attributes (default: off, two attributes a span).
    /// Each thread's id and name are read once, when it first creates a span.
    #[must_use]
    pub fn with_threads(mut self, threads: bool) -> Self {
        self.threads = threads;
        self
    }

    /// Adds how long each span was entered and not entered as `busy_ns` and `idle_ns`
    /// attributes (integers, nanoseconds), as `tracing-opentelemetry`'s
    /// `with_tracked_inactivity` does (default: off: it reads the clock at every enter
    /// and locks the span's entry at every enter and exit). Idle time runs from the
    /// span's creation to its first enter and between an exit and the next enter;
    /// enters that overlap (nested, or on two threads) count once; time after the last
    /// exit counts nowhere. Sampled-out spans are timed too (a span `set_parent` gives
    /// a record to has them from its creation).
    #[must_use]
    pub fn with_tracked_inactivity(mut self, tracked: bool) -> Self {
        self.tracked_inactivity = tracked;
        self
    }

    /// Whether events set their span's status (default: on): an `ERROR` event to Error
    /// with its message as description, or with the text of its `error` field (events
    /// at lower levels never do). Off, events never change a span's status (`otel.status_code` and
    /// an error recorded on the span itself still do). `tracing-opentelemetry`'s flag of
    /// this name only keeps the text out of the description.
    #[must_use]
    pub fn with_error_events_to_status(mut self, on: bool) -> Self {
        self.error_events_to_status = on;
        self
    }
}

/// What a `tracing` span keeps in its extensions: the picotrace span behind it, when
/// the span was last exited, and its busy and idle time.
struct Backing(Span<'static>, Option<Timestamp>, Timings);

/// Values one `tracing` span keeps in its extensions, by the layer that keeps each
/// ([`TracingLayer::key`]). Extensions hold one value per type: with one `Backing`
/// there, a second layer on the same registry (a second provider) panicked the first
/// time both tables were full for one span, and one layer could find the other's span.
struct ByLayer<T>(Vec<(usize, T)>);

/// The [`Backing`]s of one `tracing` span.
type Backings = ByLayer<Backing>;

impl<T: Send + Sync + 'static> ByLayer<T> {
    /// `layer`'s, or with `None` (the layer is not known) the first.
    fn get_mut(&mut self, layer: Option<usize>) -> Option<&mut T> {
        self.0
            .iter_mut()
            .find(|(key, _)| layer.is_none_or(|layer| *key == layer))
            .map(|(_, value)| value)
    }

    /// `layer`'s.
    fn get(&self, layer: usize) -> Option<&T> {
        self.0
            .iter()
            .find(|(key, _)| *key == layer)
            .map(|(_, value)| value)
    }

    /// Takes out `layer`'s, or with `None` the first.
    fn remove(&mut self, layer: Option<usize>) -> Option<T> {
        let at = self
            .0
            .iter()
            .position(|(key, _)| layer.is_none_or(|layer| *key == layer))?;
        Some(self.0.swap_remove(at).1)
    }

    /// Adds `layer`'s `value` to `extensions`.
    fn insert(
        extensions: &mut tracing_subscriber::registry::ExtensionsMut<'_>,
        layer: usize,
        value: T,
    ) {
        match extensions.get_mut::<Self>() {
            Some(all) => all.0.push((layer, value)),
            None => extensions.insert(Self(vec![(layer, value)])),
        }
    }
}

/// Runs `f` on `layer`'s [`Backing`] of the span whose extensions are given.
fn backing_in<R>(
    mut extensions: tracing_subscriber::registry::ExtensionsMut<'_>,
    layer: usize,
    f: impl FnOnce(&mut Backing) -> R,
) -> Option<R> {
    Some(f(extensions.get_mut::<Backings>()?.get_mut(Some(layer))?))
}

/// Runs `f` on the span kept in `extensions` (locked). A panic in `f` (a field's
/// `Debug`) releases the lock before it goes on: unwinding with the guard would poison
/// the lock, and the registry panics on a poisoned lock when the span closes, which
/// happens during that same unwinding (an abort).
fn with_extensions_backing<R>(
    mut extensions: tracing_subscriber::registry::ExtensionsMut<'_>,
    layer: Option<usize>,
    f: impl FnOnce(&mut Span<'static>) -> R,
) -> Option<R> {
    let Backing(span, ..) = extensions.get_mut::<Backings>()?.get_mut(layer)?;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(span)));
    drop(extensions);
    Some(result.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
}

impl TracingLayer {
    /// The attributes the layer adds to a span as it starts recording: its location
    /// and this thread, when configured.
    fn start_attributes(&self, span: &mut Span<'static>, metadata: &'static Metadata<'static>) {
        if self.location {
            location_attributes(span, metadata);
        }
        if self.threads {
            // Not `with`: a span started from another thread-local's destructor may
            // find this one gone, and a panic there aborts the process.
            let _ = THIS_THREAD.try_with(|thread| thread.attributes(span));
        }
    }

    /// Starts the picotrace span of a new `tracing` span; `for_sampler`, its fields as
    /// the sampler sees them, and `captured`, those fields as read, when the sampler
    /// reads attributes (else the fields are read from `attrs` once the span records).
    #[inline(always)]
    fn start<S>(
        &self,
        attrs: &Attributes<'_>,
        id: &Id,
        ctx: Context<'_, S>,
        for_sampler: &[KeyValue<'_>],
        captured: Option<&captured::Fields>,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
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
        let builder = || {
            self.tracer
                .span_builder(name)
                .kind(shape.kind)
                .sampler_attributes(for_sampler)
        };
        // The parent's id, read without looking the parent up in the registry: most
        // parents are found in the table by it.
        let contextual = attrs.parent().is_none() && attrs.is_contextual();
        let from_stack = contextual && !self.own_scope_is_inner();
        let parent_id = if let Some(parent) = attrs.parent() {
            Some(parent.into_u64())
        } else if from_stack {
            self.current_id(&ctx)
        } else {
            // No `tracing` parent, or a picotrace scope (`in_span`, `enter`) made a span
            // current inside the entered `tracing` span: that span is the parent, as
            // it is `current_context()`'s answer (found by review: tower-http's
            // `TraceLayer` span, entered around a `ServerLayer` that made the request's
            // span current, took the handler's spans into a trace of its own).
            None
        };
        // The child starts after the parent's lock is let go: a start that finds the
        // arena full exports and waits for room, which must not hold up the threads
        // that record into, or end, the spans that share the parent's lock. Out of the
        // lock come the parent's ids and flags, and its tracestate when it has one (a
        // `TraceContext` is half a kilobyte to move; most parents have none).
        // A parent without a record is copied whole (it is small, and its children are
        // counted by why it has none: found by review, children of a span the full
        // arena refused were counted as sampled out, not as lost to the full arena).
        let mut with_state: Option<TraceContext> = None;
        let mut slotless: Option<Span<'static>> = None;
        let mut parent_of = |parent: &mut Span<'static>| {
            slotless = parent.slotless_copy();
            if slotless.is_none() && !parent.trace_state().is_empty() {
                with_state = Some(parent.trace_context());
            }
            parent.context()
        };
        // The `tracing` span the parent's context came from (found by review: with the
        // registry's parent hidden by a per-layer filter, it is an ancestor).
        let mut used: Option<u64> = None;
        let parent = match parent_id {
            Some(parent_id) => match self.spans.with(parent_id, &mut parent_of) {
                Some(context) => {
                    used = Some(parent_id);
                    Some(context)
                }
                None => {
                    // In the registry's extensions, or hidden from this layer by a
                    // per-layer filter: the registry then finds the nearest ancestor
                    // this layer sees of a contextual span, and none of an explicit
                    // parent (as for tracing-opentelemetry): a new trace.
                    let parent_ref = match attrs.parent() {
                        Some(parent) => ctx.span(parent),
                        None => ctx.lookup_current(),
                    };
                    parent_ref.and_then(|parent| {
                        let context = self.with_backing(&parent, &mut parent_of);
                        used = context.is_some().then(|| parent.id().into_u64());
                        context
                    })
                }
            },
            None => None,
        };
        // A parent hidden from this layer by a per-layer filter and not entered in a
        // span it sees on this thread (a task's span, entered on a worker: the layer's
        // own stack is empty there): the registry's parent, the nearest ancestor this
        // layer sees, as `span_scope` gives it (found by review: such spans, and every
        // span of a task spawned with `.in_current_span()` inside a filtered-out span,
        // started traces of their own). Asked only when the registry has a parent.
        let hidden = parent_id.is_some() || (from_stack && ctx.current_span().id().is_some());
        let parent = match parent {
            None if hidden => ctx
                .span(id)
                .and_then(|span| span.parent())
                .and_then(|ancestor| {
                    let context = self.with_backing(&ancestor, &mut parent_of);
                    used = context.is_some().then(|| ancestor.id().into_u64());
                    context
                }),
            parent => parent,
        };
        // Whether a span the sampler drops keeps what it was made with, for a parent
        // `set_parent` may give it (see below): a root, or a span made under a context
        // of picotrace's own.
        let (mut started, keeps) = match (parent_id, parent, &with_state, &slotless) {
            (.., Some(slotless)) => (builder().parent(slotless).start(), false),
            (_, _, Some(cx), None) => (builder().parent(cx).start(), false),
            (_, Some(context), None, None) => (
                builder().parent(&TraceContext::from(context)).start(),
                false,
            ),
            // A parent that this layer does not record: a new trace.
            (Some(_), None, None, None) => (builder().start(), true),
            // An explicit root (`parent: None`) starts a new trace. A contextual span
            // with no `tracing` parent: a span made current by picotrace's own `InSpan`
            // or `enter` is the parent, if any.
            (None, ..) if !attrs.is_contextual() => (builder().start(), true),
            (None, ..) => match crate::context::has_own_current_context()
                .then(crate::context::own_current_context)
                .flatten()
            {
                Some(cx) => (builder().parent(&cx).start(), true),
                None => (builder().start(), true),
            },
        };
        if started.is_recording() {
            if shape.long_name {
                // Stored whole first, while the cut start name is the last text, whose
                // room it then takes (found by review: stored after other fields, it
                // went beside the cut copy).
                let mut long = LongName(&mut started);
                match captured {
                    Some(captured) => captured.replay(&mut long),
                    None => attrs.record(&mut long),
                }
            }
            self.start_attributes(&mut started, metadata);
            let mut fields = Fields(&mut started, Recorded::AtStart);
            match captured {
                Some(captured) => captured.replay(&mut fields),
                None => attrs.record(&mut fields),
            }
        } else if self.keeps_dropped_roots
            && self.tracer.is_recording()
            && !picotrace::tracer::spans_suppressed()
            && (keeps || self.parent_is_a_kept_root(used, &ctx))
        {
            // A span the sampler dropped (a ratio sampler's root, a span made under a
            // context of picotrace's own, or a child of such a root) may record under
            // the parent `set_parent` gives it (a server span, before its caller's
            // context is read): what it was created with is kept until then (found by
            // review: it then recorded from that call on, with no fields and its
            // callsite's name; tracing-opentelemetry keeps them; then, that a child of a
            // dropped root, a request's span inside a connection's, kept nothing). Not
            // deeper descendants: under a ratio sampler most spans are of dropped
            // traces, and keeping costs each a few allocations.
            let fields = match captured {
                Some(captured) => captured.cut_copy(TEXT_PER_SPAN),
                None => captured::Fields::with(|fields| {
                    attrs.record(&mut captured::Contained(fields));
                    fields.cut_copy(TEXT_PER_SPAN)
                }),
            };
            if let Some(span) = ctx.span(id) {
                let thread = self
                    .threads
                    .then(|| THIS_THREAD.try_with(ThisThread::clone).ok())
                    .flatten();
                let deferred = Deferred {
                    root: keeps,
                    fields,
                    name: name.into(),
                    created: self.tracer.now(),
                    location: self.location.then_some(metadata),
                    thread,
                    links: Vec::new(),
                    links_dropped: 0,
                };
                Deferreds::insert(&mut span.extensions_mut(), self.key(), deferred);
            }
        }
        // Sampled-out spans too: `set_parent` may give one a record later, and its
        // time then counts from its creation.
        let timings = if self.tracked_inactivity {
            Timings::started(self.tracer.now().as_unix_nanos().max(1))
        } else {
            Timings::default()
        };
        if let Err(started) = self.spans.insert(id.into_u64(), started, timings) {
            // The table's bucket is full: the registry's extensions keep it.
            if let Some(span) = ctx.span(id) {
                self.spans.overflowed();
                let backing = Backing(started, None, timings);
                Backings::insert(&mut span.extensions_mut(), self.key(), backing);
            }
        }
    }
}

impl<S> Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        // A sampler that reads attributes sees the fields (the spec's ShouldSample gets
        // the span's initial attributes; found by review: a sampler that drops by
        // `http.route` saw none of an `#[instrument]`ed span's fields). They are read
        // once, before the start, and recorded from what was read.
        if self.sampler_reads_attributes {
            return captured::Fields::with(|fields| {
                attrs.record(&mut captured::Contained(fields));
                let for_sampler = fields.attributes(|name| !is_override(name));
                self.start(attrs, id, ctx, &for_sampler, Some(fields));
            });
        }
        self.start(attrs, id, ctx, &[], None);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        // Read before the span is locked (see `captured`), and only for a recording span,
        // or a dropped span that keeps its fields for a later parent (found by review:
        // what was recorded on it meanwhile was lost, and its first values replayed).
        match self.with_backing(&span, |backing| backing.is_recording()) {
            Some(true) => {}
            Some(false)
                if self.keeps_dropped_roots && span.extensions().get::<Deferreds>().is_some() =>
            {
                return captured::Fields::with(|fields| {
                    values.record(fields);
                    self.with_deferred(&span, |deferred| {
                        deferred.fields.record_over(fields, TEXT_PER_SPAN)
                    });
                });
            }
            _ => return,
        }
        captured::Fields::with(|fields| {
            values.record(fields);
            self.with_backing(&span, |backing| {
                fields.replay(&mut Fields(backing, Recorded::Later));
            });
        });
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let (Some(span), Some(other)) = (ctx.span(id), ctx.span(follows)) else {
            return;
        };
        let Some(linked) = self.with_backing(&other, |other| other.trace_context()) else {
            return;
        };
        let recording = self.with_backing(&span, |backing| {
            backing.add_link(&linked, &[]);
            backing.is_recording()
        });
        // A dropped span keeps it for the record `set_parent` may give it: as many as
        // a record holds, the others counted (found by review: every one was kept, a
        // whole context each).
        if recording == Some(false) && self.keeps_dropped_roots {
            let room = (self.tracer.limits().link_count as usize)
                .min(crate::tracer::StdArena::LINKS_PER_SPAN);
            self.with_deferred(&span, |deferred| {
                if deferred.links.len() < room {
                    deferred.links.push(linked);
                } else {
                    deferred.links_dropped = deferred.links_dropped.saturating_add(1);
                }
            });
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        entered::enter(self.key(), id.into_u64());
        if self.tracked_inactivity {
            let now = self.tracer.now().as_unix_nanos();
            self.with_timings(id, &ctx, |timings| timings.enter(now));
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        // An exit that unwinds a scope entered before the panic: a scope entered while
        // unwinding (a clean-up's, in a `Drop`) was not cut short by it (found by
        // review: a connection span entered by a pool guard's drop was marked).
        let entered_unwinding = entered::exit(self.key(), id.into_u64());
        let unwound = !entered_unwinding && std::thread::panicking();
        let now = spans::exit_time(self.tracer.now(), unwound);
        if self.tracked_inactivity {
            self.with_timings(id, &ctx, |timings| timings.exit(now.as_unix_nanos()));
        }
        // The span's end, unless it is entered again: a span kept open after its work
        // (by a `JoinHandle`, a struct, or a spawned task's span, which holds its
        // parent) still ends when that work did, as tracing-opentelemetry's do.
        if !self.spans.exited(id.into_u64(), now) {
            if let Some(span) = ctx.span(id) {
                // Not while this thread holds a span's extensions (see `in_extensions`).
                spans::in_extensions(|| {
                    backing_in(
                        span.extensions_mut(),
                        self.key(),
                        |Backing(_, exited, _)| {
                            *exited = Some(exited.map_or(now, |t| {
                                Timestamp::from_unix_nanos(spans::later_exit(
                                    t.as_unix_nanos(),
                                    now.as_unix_nanos(),
                                ))
                            }));
                        },
                    )
                });
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        // The picotrace span ends at its last exit (or now, never entered), outside
        // the table's lock: ending may export.
        let closed = match self.spans.remove(id.into_u64()) {
            spans::Removed::Now(closed) => closed,
            // Its bucket's holder ends it.
            spans::Removed::Deferred => return,
            spans::Removed::Absent => {
                let Some(span) = ctx.span(&id) else {
                    return;
                };
                // After the registry's lock is released.
                let backing = span
                    .extensions_mut()
                    .get_mut::<Backings>()
                    .and_then(|backings| backings.remove(Some(self.key())));
                let Some(Backing(span, exited, timings)) = backing else {
                    return;
                };
                (span, exited, timings)
            }
        };
        spans::finish(closed);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // The span's id, read without looking the span up in the registry: most spans
        // are found in the table by it. While spans are suppressed (the tracer's own
        // exporter runs on this thread, or the caller asked), an event is not the
        // entered span's either (found by review: an exporter's log lines went into
        // the application's span, using its room).
        let id = if event.is_root() || picotrace::tracer::spans_suppressed() {
            return;
        } else if event.is_contextual() {
            self.current_id(&ctx)
        } else {
            event.parent().map(Id::into_u64)
        };
        // The fields are read before the span is locked (see `captured`), and only
        // for a recording span: first its state, then the fields, then the writing.
        let Some(id) = id else {
            // No span this layer saw entered on this thread. (One it does not see may
            // be, a task of a hidden span polled on another worker: the registry's
            // filtered context finds only entered spans, not that span's ancestors, so
            // its events are dropped, as tracing-opentelemetry drops them.)
            return;
        };
        let elsewhere = match self.spans.recording(id) {
            Some(false) => return,
            Some(true) => None,
            // In the registry's extensions, or hidden from this layer by a per-layer
            // filter: the registry then finds the nearest ancestor this layer sees of
            // a contextual event; an event whose explicit parent is hidden is dropped
            // (as tracing-opentelemetry drops it).
            None => match ctx.event_span(event) {
                Some(span) if self.with_backing(&span, |b| b.is_recording()) == Some(true) => {
                    Some(span)
                }
                _ => return,
            },
        };
        captured::Fields::with(|fields| {
            event.record(fields);
            let metadata = event.metadata();
            match &elsewhere {
                None => self
                    .spans
                    .with(id, |backing| self.record_event(backing, metadata, fields)),
                Some(span) => {
                    self.with_backing(span, |backing| self.record_event(backing, metadata, fields))
                }
            };
        });
    }
}

impl TracingLayer {
    /// Runs `f` on the [`Timings`] of the span `id`: in the table, else in the
    /// registry's extensions.
    fn with_timings<S>(&self, id: &Id, ctx: &Context<'_, S>, f: impl FnOnce(&mut Timings))
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut f = Some(f);
        let found = self.spans.with_timed(id.into_u64(), |_, timings| {
            if let Some(f) = f.take() {
                f(timings);
            }
        });
        if found.is_none() {
            if let (Some(f), Some(span)) = (f, ctx.span(id)) {
                spans::in_extensions(|| {
                    backing_in(
                        span.extensions_mut(),
                        self.key(),
                        |Backing(_, _, timings)| f(timings),
                    )
                });
            }
        }
    }

    /// An event of a span: a span event named by its message, with level, target and
    /// fields; an error sets the status.
    fn record_event(
        &self,
        backing: &mut Span<'static>,
        metadata: &tracing_core::Metadata<'_>,
        captured: &captured::Fields,
    ) {
        if !backing.is_recording() {
            return;
        }
        let level = *metadata.level();
        let error_status = level == Level::ERROR && self.error_events_to_status;
        // Kept only when the message becomes the status description.
        let mut message = error_status.then(heapless::String::new);
        let mut error = None;
        let mut whole_error = None;
        let mut exception_recorded = false;
        {
            // Unnamed until its fields are read: the message names it, else the
            // callsite's name does (so that no name is stored only to be replaced).
            let mut fields = EventFields {
                event: backing.event(""),
                named: false,
                error: &mut error,
                whole_error: &mut whole_error,
                message: message.as_mut(),
                errors: level == Level::ERROR,
                from_log: metadata.target() == "log"
                    && metadata.fields().field("log.target").is_some(),
                location: self.location,
            };
            fields
                .event
                .attribute("level", level.as_str())
                .attribute("target", metadata.target());
            if self.location {
                // Where the event was logged, as tracing-opentelemetry writes it (found
                // by review: only spans had it).
                if let Some(file) = metadata.file() {
                    fields.event.attribute("code.file.path", file);
                }
                if let Some(line) = metadata.line() {
                    fields.event.attribute("code.line.number", i64::from(line));
                }
                if let Some(module) = metadata.module_path() {
                    fields.event.attribute("code.module.name", module);
                }
            }
            captured.replay(&mut fields);
            // Not named by its message (an empty one, `info!("")`, names nothing:
            // `named` says whether the event took it): named as below, as
            // tracing-opentelemetry names it (found by review: "").
            if !fields.named {
                match fields.error.as_deref() {
                    // An error with no message of its own (`#[instrument(err)]`): this
                    // event is the exception (as tracing-opentelemetry makes it), unless
                    // the error says nothing.
                    Some(error) if !error.is_empty() => {
                        // Named "exception" already, before its first field
                        // (`name_exception_first`); named again, it took room twice, and
                        // a cut second name replaced the whole one (found by review).
                        let message = fields.whole_error.as_deref().unwrap_or(error);
                        fields.event.attribute("exception.message", message);
                        exception_recorded = true;
                    }
                    _ => {
                        fields.event.name(metadata.name());
                    }
                }
            }
        } // the event is complete: its writer is dropped
        if let Some(error) = &error {
            if !exception_recorded {
                backing.record_exception(whole_error.as_deref().unwrap_or(error));
            }
            // Only the first error event sets the status (found by review: each one
            // stored its text again as the description, and a few filled the span's
            // text); a status set on purpose (`otel.status_code`) stays.
            if self.error_events_to_status {
                backing.set_status_if_unset(Status::Error { description: error });
            }
        } else if let Some(message) = &message {
            // An ERROR event with no message: Error, with no description (not the
            // callsite's name, `event src/main.rs:12`), as tracing-opentelemetry.
            backing.set_status_if_unset(Status::Error {
                description: message,
            });
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
    ///
    /// A span the sampler kept when it was made was decided on then, as a root (with
    /// no context current): its sampler was asked, and is asked again here under
    /// `parent` (the first decision's attributes go; see
    /// [`Span::set_parent`](picotrace::Span::set_parent)). tracing-opentelemetry
    /// decides when the span is first needed, after a `set_parent` right after its
    /// creation. Here, to have a request's span decided on once, under the caller,
    /// make the span with the incoming context current (its guard is not `Send`: not
    /// across an `.await`):
    /// `let span = { let _cx = incoming.context.clone().map(picotrace_std::enter_context); info_span!("GET /cart") };`.
    /// Its parent is then that context, with no `set_parent`.
    ///
    /// With several `TracingLayer`s in one subscriber (two providers), this and the
    /// methods below reach the outermost one (the last added with `.with`), as
    /// `tracing-opentelemetry`'s do: `tracing` finds a layer by its type, and only the
    /// first. Give each provider its own subscriber where both need the remote parent.
    ///
    /// A span the sampler dropped (a ratio sampler's root, a span made under a context
    /// of picotrace's own, or a direct child of either, as a request's span inside a
    /// connection's) and that records under `parent` gets
    /// its record now, as it would have had it at its start: its start time, the fields
    /// it was created with (`otel.name` included) and its location and thread when the
    /// layer writes them, and the fields recorded on it since (`Span::record`, each
    /// field's last value); not its events of that time. It is decided on under
    /// `parent` with that name and those fields. (Such a span keeps its fields until
    /// then, in the registry, under a sampler that may drop roots: a sampled-out span
    /// costs the reading of its fields and a few allocations, as every span does with
    /// tracing-opentelemetry, and a field recorded on it while `set_parent` runs on
    /// another thread may be missed.)
    fn set_parent(&self, parent: &TraceContext);

    /// Returns the context to propagate for this span (with its tracestate), if a
    /// [`TracingLayer`] records it: inject it into outgoing requests.
    fn trace_context(&self) -> Option<TraceContext>;

    /// Returns this span's ids and flags, if a [`TracingLayer`] records it.
    fn span_context(&self) -> Option<SpanContext>;
}

impl TracingSpanExt for tracing::Span {
    fn set_parent(&self, parent: &TraceContext) {
        let name = self.metadata().map(|m| m.name());
        // Out of the registry before the span is locked.
        let deferred = take_deferred(self);
        let used = with_backing(self, |span| {
            let had_record = span.is_recording();
            match &deferred {
                // Decided on under the new parent as it was made (found by review: a
                // sampler that dropped it by an attribute saw none this time, and
                // kept it).
                Some(deferred) => span.set_parent_as_made(
                    parent,
                    &picotrace::AsMade {
                        created: deferred.created,
                        name: deferred.name(),
                        attributes: &deferred.fields.attributes(|name| !is_override(name)),
                    },
                ),
                None => span.set_parent(parent),
            }
            if had_record || !span.is_recording() {
                return false;
            }
            // Sampled out (a ratio sampler's root, or its child), sampled under this
            // parent: its name, and what it kept from its making (its fields, with
            // `otel.*`).
            match (&deferred, name) {
                (Some(deferred), _) => span.update_name(deferred.name()),
                (None, Some(name)) => span.update_name(name),
                (None, None) => {}
            }
            if let Some(deferred) = &deferred {
                if let Some(metadata) = deferred.location {
                    location_attributes(span, metadata);
                }
                if let Some(thread) = &deferred.thread {
                    thread.attributes(span);
                }
                for link in &deferred.links {
                    span.add_link(link, &[]);
                }
                span.count_dropped_links(deferred.links_dropped);
                // The name is given above (found by review: replayed as a later
                // record, the `otel.name` was stored again).
                deferred.fields.replay(&mut Fields(span, Recorded::AtStart));
            }
            true
        });
        // Still no record (an unsampled parent): kept for a parent set later.
        if let (Some(false), Some(deferred)) = (used, deferred) {
            put_back_deferred(self, deferred);
        }
    }

    fn trace_context(&self) -> Option<TraceContext> {
        with_backing(self, |span| span.trace_context())
    }

    fn span_context(&self) -> Option<SpanContext> {
        with_backing(self, |span| span.context())
    }
}

/// The context of the current `tracing` span, when this thread's subscriber has a
/// [`TracingLayer`] that saw it entered after picotrace's newest scope (`scope`, its
/// [`next_order`] number) became current: [`crate::current_context`] then answers with
/// it. The span is the one current for that layer (a per-layer filter's hidden spans
/// are not), looked up in its table.
///
/// [`next_order`]: crate::context::next_order
pub(crate) fn entered_context_if_inner(scope: Option<u64>) -> Option<TraceContext> {
    with_entered_if_inner(scope, |span| span.trace_context())
}

/// As [`entered_context_if_inner`], the ids and flags only.
pub(crate) fn entered_span_context_if_inner(scope: Option<u64>) -> Option<SpanContext> {
    with_entered_if_inner(scope, |span| span.context())
}

fn with_entered_if_inner<R>(
    scope: Option<u64>,
    f: impl FnOnce(&mut Span<'static>) -> R,
) -> Option<R> {
    // Nothing the layer saw entered on this thread. With no scope of picotrace's own,
    // a `tracing` span a per-layer filter hides may still be current here (a task's
    // span, entered on a worker; its ancestors entered on another thread): new spans
    // there are children of its nearest ancestor the layer records (see
    // `TracingLayer::start`), and so is the answer here (found by review: `None`, and
    // a client call in such a task sent a new trace's traceparent). Without `tracing`
    // spans, answered without asking the dispatcher.
    let no_entered = !entered::any();
    if no_entered && (scope.is_some() || !tracing::dispatcher::has_been_set()) {
        return None;
    }
    let mut f = Some(f);
    tracing::dispatcher::get_default(|dispatch| {
        let layer = dispatch.downcast_ref::<TracingLayer>()?;
        let innermost = match no_entered {
            true => entered::Innermost::Known(None),
            false => entered::innermost(layer.key()),
        };
        let id = match innermost {
            entered::Innermost::Known(Some((id, order))) => {
                if scope.is_some_and(|scope| scope > order) {
                    return None;
                }
                id
            }
            // A picotrace scope is current: it is the answer (as it is new spans'
            // parent).
            entered::Innermost::Known(None) if scope.is_some() => return None,
            entered::Innermost::Known(None) => nearest_recorded(dispatch, layer)?,
            // Too deep to know the order: picotrace's own scope if it is newer than
            // the newest enter the stack tracked; else the registry's current span
            // (found by review: the scope won, and a deep recursion inside a request
            // injected the request's span).
            entered::Innermost::Unknown(newest) if scope.is_some_and(|s| s > newest) => {
                return None
            }
            entered::Innermost::Unknown(_) => nearest_recorded(dispatch, layer)?,
        };
        with_backing_id(&Id::from_u64(id), dispatch, f.take()?)
    })
}

/// The registry's current span, or, when a per-layer filter hides it from the layer
/// (no picotrace span behind it), the nearest one above it that has one (found by
/// review: `None` inside a hidden span).
///
/// The spans it passes over are looked for in the layer's table without its locks, and
/// in their registry extensions only once the table has kept a span there (found by
/// review: another layer recording a field of the hidden span holds that span's
/// extensions, and a `Display` of the field that asked for the current context waited
/// for its own thread).
fn nearest_recorded(dispatch: &tracing::Dispatch, layer: &TracingLayer) -> Option<u64> {
    let current = dispatch.current_span().id()?.clone();
    Some(
        match dispatch
            .downcast_ref::<Registry>()
            .and_then(|registry| registry.span(&current))
        {
            Some(span) => span
                .scope()
                .map(|s| s.id())
                .find(|id| {
                    layer.spans.may_back(id.into_u64())
                        && with_backing_id(id, dispatch, |_| ()).is_some()
                })?
                .into_u64(),
            None => current.into_u64(),
        },
    )
}

/// Runs `f` on the picotrace span behind `span`: in the table of the subscriber's
/// [`TracingLayer`], else in the registry's extensions.
fn with_backing<F, R>(span: &tracing::Span, f: F) -> Option<R>
where
    F: FnOnce(&mut Span<'static>) -> R,
{
    span.with_subscriber(|(id, dispatch)| with_backing_id(id, dispatch, f))
        .flatten()
}

/// [`with_backing`] for the span `id` of `dispatch`.
fn with_backing_id<F, R>(id: &Id, dispatch: &tracing::Dispatch, f: F) -> Option<R>
where
    F: FnOnce(&mut Span<'static>) -> R,
{
    let in_extensions = |f: F| {
        spans::in_extensions(|| {
            let data = dispatch.downcast_ref::<Registry>()?.span(id)?;
            let layer = dispatch
                .downcast_ref::<TracingLayer>()
                .map(TracingLayer::key);
            with_extensions_backing(data.extensions_mut(), layer, f)
        })
    };
    match dispatch.downcast_ref::<TracingLayer>() {
        Some(layer) => layer.spans.with_or(id.into_u64(), f, in_extensions),
        None => in_extensions(f),
    }
}

/// The thread's attributes, read once per thread.
#[derive(Clone)]
struct ThisThread {
    /// The number in `ThreadId`'s `Debug` text (`ThreadId(7)`): `ThreadId::as_u64` is
    /// not stable.
    id: i64,
    name: Option<Box<str>>,
}

impl ThisThread {
    /// Writes `thread.id` and `thread.name` (when the thread has a name).
    fn attributes(&self, span: &mut Span<'static>) {
        span.set_attribute("thread.id", self.id);
        if let Some(name) = &self.name {
            span.set_attribute("thread.name", &**name);
        }
    }
}

/// Writes where a span was made: `code.file.path`, `code.line.number` and
/// `code.module.name`.
fn location_attributes(span: &mut Span<'static>, metadata: &Metadata<'_>) {
    if let Some(file) = metadata.file() {
        span.set_attribute("code.file.path", file);
    }
    if let Some(line) = metadata.line() {
        span.set_attribute("code.line.number", i64::from(line));
    }
    if let Some(module) = metadata.module_path() {
        span.set_attribute("code.module.name", module);
    }
}

/// What a span the sampler dropped keeps (a root, a span made under a context of
/// picotrace's own, or a direct child of one), in the registry's extensions, for the
/// parent [`TracingSpanExt::set_parent`] may give it: should it record then, it is
/// written as it would have been at its start.
struct Deferred {
    /// Made as a root (or under a context of picotrace's own): its children keep what
    /// they are made with too.
    root: bool,
    /// Its fields as read at its creation, then as recorded while it had no record.
    fields: captured::Fields,
    /// Its name (its `otel.name`, else its callsite's).
    name: Box<str>,
    created: Timestamp,
    /// Its callsite, when the layer writes locations.
    location: Option<&'static Metadata<'static>>,
    /// The thread that made it, when the layer writes threads.
    thread: Option<ThisThread>,
    /// Spans it `follows_from` (found by review: a link added while it had no record
    /// was lost), as many as its record can hold.
    links: Vec<TraceContext>,
    /// Those past them.
    links_dropped: u32,
}

impl Deferred {
    /// Its name: an `otel.name` recorded since it was made (found by review: the
    /// decision under the new parent saw the name it was made with), else its own.
    fn name(&self) -> &str {
        self.fields.last_text("otel.name").unwrap_or(&self.name)
    }
}

/// The [`Deferred`]s of one `tracing` span.
type Deferreds = ByLayer<Deferred>;

/// Runs `f` on the [`Deferreds`] of `span` and the key of the outermost layer (the one
/// `set_parent` reaches), when the registry has the span.
fn with_deferreds<R>(
    span: &tracing::Span,
    f: impl FnOnce(&mut tracing_subscriber::registry::ExtensionsMut<'_>, Option<usize>) -> Option<R>,
) -> Option<R> {
    span.with_subscriber(|(id, dispatch)| {
        let layer = dispatch
            .downcast_ref::<TracingLayer>()
            .map(TracingLayer::key);
        let data = dispatch.downcast_ref::<Registry>()?.span(id)?;
        let mut extensions = data.extensions_mut();
        let result = f(&mut extensions, layer);
        drop(extensions);
        result
    })
    .flatten()
}

/// Takes out what `span` kept for `set_parent` ([`Deferred`]), the outermost layer's.
fn take_deferred(span: &tracing::Span) -> Option<Deferred> {
    with_deferreds(span, |extensions, layer| {
        extensions.get_mut::<Deferreds>()?.remove(layer)
    })
}

/// Gives back what [`take_deferred`] took.
fn put_back_deferred(span: &tracing::Span, deferred: Deferred) {
    with_deferreds(span, |extensions, layer| {
        Deferreds::insert(extensions, layer?, deferred);
        Some(())
    });
}

thread_local! {
    static THIS_THREAD: ThisThread = {
        let thread = std::thread::current();
        let mut text = heapless::String::<32>::new();
        write_cut(&mut text, format_args!("{:?}", thread.id()));
        let digits = text.trim_start_matches("ThreadId(").trim_end_matches(')');
        ThisThread {
            id: digits.parse().unwrap_or(0),
            name: thread.name().map(Box::from),
        }
    };
}

/// Writes `args` into `buf`, keeping what fits: the text is cut at a character
/// boundary where the buffer ends (a `heapless::String` would drop a whole piece).
/// Returns whether the text was cut.
fn write_cut<const N: usize>(buf: &mut heapless::String<N>, args: fmt::Arguments<'_>) -> bool {
    struct Cut<'b, const N: usize>(&'b mut heapless::String<N>, bool);
    impl<const N: usize> fmt::Write for Cut<'_, N> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            // Cut already: a `Display` that ignores the error and writes on must not
            // put later pieces after the gap.
            if self.1 {
                return Err(fmt::Error);
            }
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
            self.1 = true;
            Err(fmt::Error) // full: stop formatting
        }
    }
    let mut cut = Cut(buf, false);
    let _ = cut.write_fmt(args);
    cut.1
}

/// The kind an `otel.kind` value names, in any case (compared in place: lowercasing
/// into a `String` allocated once per span).
fn kind_from(text: &str) -> Option<SpanKind> {
    [
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ]
    .into_iter()
    .find_map(|(name, kind)| text.eq_ignore_ascii_case(name).then_some(kind))
}

/// Bytes of text a span's record holds: what a dropped root keeps of each field's
/// text for the record `set_parent` may give it.
const TEXT_PER_SPAN: usize = crate::tracer::StdArena::TEXT_PER_SPAN;

/// The longest `otel.name` a span starts with; a longer one is cut there, and stored
/// whole when the span's fields are written.
const SHAPE_NAME_BYTES: usize = 128;

/// Reads the fields that decide how a span starts: `otel.name` and `otel.kind`.
#[derive(Default)]
struct Shape {
    name: Option<heapless::String<SHAPE_NAME_BYTES>>,
    /// The `otel.name` was cut to [`SHAPE_NAME_BYTES`] (see [`LongName`]).
    long_name: bool,
    kind: SpanKind,
}

impl Visit for Shape {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "otel.name" => {
                self.name = Some(cut_copy(value));
                self.long_name = value.len() > SHAPE_NAME_BYTES;
            }
            "otel.kind" => self.kind = kind_from(value).unwrap_or(self.kind),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "otel.name" | "otel.kind") {
            // One byte more than a start name keeps: a longer text is cut there, and
            // marked long.
            let mut text = heapless::String::<{ SHAPE_NAME_BYTES + 1 }>::new();
            let mut cut = false;
            // A `Debug` that panics leaves the callsite's name (see `contained`).
            if contained(|| {
                cut = write_cut(&mut text, format_args!("{value:?}"));
            }) {
                self.record_str(field, &text);
                // Long when it was cut, whatever length the cut left (found by review:
                // a character across the limit left 128 bytes, which read as a whole
                // name, so a non-ASCII name given with `%` or `?` was kept cut).
                if field.name() == "otel.name" {
                    self.long_name |= cut;
                }
            }
        }
    }
}

/// What a field reads whose `Debug` or `Display` panicked as its span was created.
const PANICKED: &str = "<panicked>";

/// Runs `format`, which formats a user's value as a span is created; `false` if it
/// panicked (the panic hook has reported it). Not let out: the registry has made the
/// span and counted it as a child of its parent, and with no `tracing::Span` ever made
/// to close it the parent would never close, nor be exported, nor give its arena slot
/// back (found by review). Events and `Span::record` read their fields before any lock
/// and let such a panic go on: nothing is left half made there.
fn contained(format: impl FnOnce()) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(format)).is_ok()
}

/// Copies `s` into a fixed buffer, cut at a character boundary if it is too long.
fn cut_copy<const N: usize>(s: &str) -> heapless::String<N> {
    let mut out = heapless::String::new();
    write_cut(&mut out, format_args!("{s}"));
    out
}

/// Whether field `name` is one of the `otel.*` fields that set the span's name, kind
/// or status instead of an attribute (read as text, whatever their type).
fn is_override(name: &str) -> bool {
    matches!(
        name,
        "otel.name"
            | "otel.kind"
            | "otel.status_code"
            | "otel.status_description"
            | "otel.status_message"
    )
}

/// Gives a recording span its whole `otel.name` when it is longer than the
/// [`SHAPE_NAME_BYTES`] it started with, before any other text is stored: the cut
/// name, then the last text, makes room for it.
struct LongName<'s>(&'s mut Span<'static>);

impl Visit for LongName<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "otel.name" && value.len() > SHAPE_NAME_BYTES {
            self.0.update_name(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "otel.name" {
            // As `Fields` reads an override: its first FIELD_TEXT_BYTES.
            let mut text = heapless::String::<FIELD_TEXT_BYTES>::new();
            if contained(|| {
                write_cut(&mut text, format_args!("{value:?}"));
            }) {
                self.record_str(field, &text);
            }
        }
    }
}

impl captured::Replay for LongName<'_> {}

/// Writes span fields as attributes of the picotrace span.
struct Fields<'s>(&'s mut Span<'static>, Recorded);

/// When span fields are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Recorded {
    /// As the span starts, or gets its record: its `otel.name` is already its name
    /// (stored once; see [`LongName`]).
    AtStart,
    /// With `Span::record`.
    Later,
}

impl Visit for Fields<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        // The `otel.*` overrides as their text, as `otel.name = 5` is read at the start
        // (found by review: also exported as an attribute, and not read later). Other
        // `otel.` fields keep their type (found by review: `otel.retry_count = 3` went
        // out as "3"; tracing-opentelemetry keeps it).
        if is_override(field.name()) {
            return self.record_debug(field, &value);
        }
        self.0.set_attribute(field.name(), value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if is_override(field.name()) {
            return self.record_debug(field, &value);
        }
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
        if is_override(field.name()) {
            return self.record_debug(field, &value);
        }
        self.0.set_attribute(field.name(), value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if is_override(field.name()) {
            return self.record_debug(field, &value);
        }
        self.0.set_attribute(field.name(), value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        captured::record_wide(self, field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        captured::record_wide(self, field, value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let name = field.name();
        if !is_override(name) {
            return self.0.set_attribute(name, value);
        }
        match name {
            "otel.name" if self.1 == Recorded::Later => self.0.update_name(value),
            "otel.name" => {}
            "otel.kind" => {}
            "otel.status_code" => {
                if value.eq_ignore_ascii_case("ok") {
                    self.0.set_ok();
                } else if value.eq_ignore_ascii_case("error") {
                    self.0.set_error("");
                }
            }
            // `otel.status_description` since tracing-opentelemetry 0.32; the older
            // name is still read.
            "otel.status_description" | "otel.status_message" => self.0.set_error(value),
            name => self.0.set_attribute(name, value),
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !contained(|| self.record_error_uncontained(field, value)) {
            self.panicked(field);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !contained(|| self.record_debug_uncontained(field, value)) {
            self.panicked(field);
        }
    }
}

impl Fields<'_> {
    /// A field whose value panicked as it was formatted reads [`PANICKED`]; an
    /// `otel.*` override is not an attribute, and is left out (found by review).
    fn panicked(&mut self, field: &Field) {
        if !is_override(field.name()) {
            self.0.set_attribute(field.name(), PANICKED);
        }
    }

    fn record_error_uncontained(
        &mut self,
        field: &Field,
        value: &(dyn std::error::Error + 'static),
    ) {
        // The status description first, short: the first SPAN_ERROR_DESCRIPTION_BYTES
        // (found by review: stored last, a long error's attribute and exception
        // message took the span's text, and the description, which backends show
        // first, was lost). Then the attribute and the exception's message, formatted
        // straight into the span (cut, and counted, only at its limits).
        let mut text = heapless::String::<SPAN_ERROR_DESCRIPTION_BYTES>::new();
        write_cut(&mut text, format_args!("{value}"));
        self.0.set_error(&text);
        self.0
            .set_attribute_fmt(field.name(), format_args!("{value}"));
        // Always, empty too, as tracing-opentelemetry records it: an error recorded
        // again without causes then replaces the earlier error's chain (found by
        // review: that stayed, beside the new error).
        let chain = ErrorChain::of(value);
        let texts = chain.texts();
        self.0
            .set_attribute_dyn(&chain.key(field), Value::StrArray(&texts));
        // No exception for an error that says nothing (the semantic conventions need a
        // message or a type; core's `record_exception` makes none either).
        if !text.is_empty() {
            self.0
                .event(picotrace::semconv::EXCEPTION_EVENT)
                .attribute_fmt(
                    picotrace::semconv::EXCEPTION_MESSAGE,
                    format_args!("{value}"),
                );
        }
    }

    fn record_debug_uncontained(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !is_override(field.name()) {
            // Formatted straight into the span: cut, and counted, only at its limits.
            return self
                .0
                .set_attribute_fmt(field.name(), format_args!("{value:?}"));
        }
        // `otel.*` overrides (a name, a kind, a status) are short: the first
        // FIELD_TEXT_BYTES of the text are enough.
        let mut text = heapless::String::<FIELD_TEXT_BYTES>::new();
        write_cut(&mut text, format_args!("{value:?}"));
        self.record_str(field, &text);
    }
}

/// The texts of an error's causes (`source()`, then its source, and so on), outermost
/// first, without the error itself: recorded as `{field}.chain`, a string array, as
/// tracing-opentelemetry does, so that an `anyhow`-style chain ("reading config" caused
/// by "permission denied") keeps its root cause. Allocates only for errors that have a
/// cause.
struct ErrorChain(Vec<String>);

impl ErrorChain {
    fn of(error: &(dyn std::error::Error + 'static)) -> Self {
        Self(captured::causes(error))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `error.chain` for the usual field without formatting a key.
    fn key(&self, field: &Field) -> std::borrow::Cow<'static, str> {
        match field.name() {
            "error" => "error.chain".into(),
            name => format!("{name}.chain").into(),
        }
    }

    fn texts(&self) -> Vec<&str> {
        self.0.iter().map(String::as_str).collect()
    }
}

impl Replay for Fields<'_> {
    /// As `record_debug`, from the text the value was formatted to.
    fn record_text(&mut self, field: &Field, text: &str) {
        if !is_override(field.name()) {
            return self.0.set_attribute(field.name(), text);
        }
        self.record_str(field, &cut_copy::<FIELD_TEXT_BYTES>(text));
    }
}

impl Replay for EventFields<'_, '_> {
    /// As `record_debug`, from the text the value was formatted to.
    fn record_text(&mut self, field: &Field, text: &str) {
        if !self.log_field(field, None) {
            self.record_str(field, text);
        }
    }
}

/// Writes an event's fields as attributes of a span event as they are visited; the
/// message names the event.
struct EventFields<'s, 'v> {
    event: picotrace::EventWriter<'s>,
    /// Whether a `message` field has named the event.
    named: bool,
    /// The text of an `error` field: the span's exception and status.
    error: &'v mut Option<heapless::String<FIELD_TEXT_BYTES>>,
    /// The whole text of an `error` field that `error` holds cut: the exception's
    /// message (the status description, meant to be short, keeps the cut text).
    whole_error: &'v mut Option<String>,
    /// The message, when it is also needed as the status description.
    message: Option<&'v mut heapless::String<FIELD_TEXT_BYTES>>,
    /// Whether the event is at level `ERROR`: only then does an error it holds make an
    /// exception and the span's status (an error logged at a lower level was handled
    /// or retried, which OpenTelemetry's conventions keep off the span's outcome).
    errors: bool,
    /// A record of the `log` crate, as `tracing-log` makes it an event (target `log`,
    /// the record's origin in `log.*` fields): its `log.target` is the target, its
    /// `log.file`, `log.line` and `log.module_path` the `code.*` attributes when
    /// `location` is on, as `tracing-opentelemetry` normalises them.
    from_log: bool,
    /// Whether the layer writes where events were made (`with_location`).
    location: bool,
}

impl EventFields<'_, '_> {
    /// Handles a `log.*` field of a `log` record; `false` for every other field.
    fn log_field(&mut self, field: &Field, text: Option<&str>) -> bool {
        if !self.from_log || !field.name().starts_with("log.") {
            return false;
        }
        match (text, field.name()) {
            (Some(target), "log.target") => {
                self.event.attribute("target", target);
            }
            // The record's origin (found by review: left out with the location on).
            (Some(file), "log.file") if self.location => {
                self.event.attribute("code.file.path", file);
            }
            (Some(module), "log.module_path") if self.location => {
                self.event.attribute("code.module.name", module);
            }
            _ => {}
        }
        true
    }

    /// Names an event with an error and no message yet `exception` before the error's
    /// text is stored: a message read later renames it, and without one it is the
    /// exception (found by review: named only after its fields were stored, a long
    /// error left no room for the name, and the event went out unnamed).
    fn name_exception_first(&mut self) {
        if self.errors && !self.named {
            self.event.name("exception");
        }
    }

    /// Keeps the text of an `error` field of an `ERROR` event: the span's status and
    /// exception.
    fn error_text(&mut self, text: fmt::Arguments<'_>) {
        if !self.errors {
            return;
        }
        let mut kept = heapless::String::new();
        let cut = write_cut(&mut kept, text);
        *self.error = Some(kept);
        // Allocates only for an error text longer than FIELD_TEXT_BYTES.
        *self.whole_error = cut.then(|| captured::text_of(&text));
    }
}

impl Visit for EventFields<'_, '_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.event.attribute(field.name(), value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.log_field(field, None) {
            if self.location && field.name() == "log.line" {
                if let Ok(line) = i64::try_from(value) {
                    self.event.attribute("code.line.number", line);
                }
            }
            return;
        }
        // Above i64::MAX: its decimal text (`Value::U64`).
        self.event.attribute(field.name(), value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.event.attribute(field.name(), value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.event.attribute(field.name(), value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.log_field(field, Some(value)) {
            return;
        }
        if field.name() != "message" {
            if field.name() == "error" {
                self.name_exception_first();
            }
            self.event.attribute(field.name(), value);
            if field.name() == "error" {
                self.error_text(format_args!("{value}"));
            }
            return;
        }
        self.event.name(value);
        // An empty message names nothing (found by review): named after the callsite,
        // or "exception" by an error field.
        self.named = self.event.is_named();
        if let Some(message) = self.message.as_deref_mut() {
            write_cut(message, format_args!("{value}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // Formatted straight into the span, as a span's error field is.
        self.name_exception_first();
        self.event
            .attribute_fmt(field.name(), format_args!("{value}"));
        self.error_text(format_args!("{value}"));
        let chain = ErrorChain::of(value);
        if !chain.is_empty() {
            let texts = chain.texts();
            self.event
                .attribute_dyn(&chain.key(field), Value::StrArray(&texts));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.log_field(field, None) {
            return;
        }
        if field.name() != "message" {
            if field.name() == "error" {
                self.name_exception_first();
            }
            self.event
                .attribute_fmt(field.name(), format_args!("{value:?}"));
            if field.name() == "error" {
                // `error = %e` and `error = ?e`: what `#[instrument(err)]` records.
                self.error_text(format_args!("{value:?}"));
            }
            return;
        }
        // The message (`format_args!` of the macro) is written into the span once.
        self.event.name_fmt(format_args!("{value:?}"));
        self.named = self.event.is_named();
        if let Some(message) = self.message.as_deref_mut() {
            write_cut(message, format_args!("{value:?}"));
        }
    }
}

#[cfg(test)]
mod tests;
