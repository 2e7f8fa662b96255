//! [`Tracer`] and [`TracerConfig`]: start spans, sample them, record them into the arena,
//! and hand finished ones to the exporter.
//!
//! ```
//! use picotrace::{ManualClock, NoopExporter, SpanArena, Timestamp, Tracer, TracerConfig, IdGenerator};
//! let clock = ManualClock::new(Timestamp::from_unix_nanos(1_700_000_000_000_000_000));
//! let tracer = Tracer::new(
//!     TracerConfig::new("gateway-service"),
//!     SpanArena::<8>::new(),
//!     &clock,
//!     IdGenerator::from_seed([7; 32]),
//!     NoopExporter,
//! );
//! let span = tracer.start_span("handle_request");
//! span.set_attribute("http.request.method", "POST");
//! let db = span.child("query_database");
//! db.set_ok();
//! db.end();
//! span.end();
//! assert_eq!(tracer.stats().spans_started, 2);
//! tracer.flush();
//! assert_eq!(tracer.stats().spans_exported, 2);
//! ```

use rand_core::RngCore;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::context::SpanContext;
use crate::export::{InstrumentationScope, Resource, SpanBatch, SpanExporter, TracerStats};
use crate::id::TraceFlags;
use crate::lock::{LocalLock, Lock};
use crate::propagation::Injector;
use crate::random::IdGenerator;
use crate::sampler::{Sampler, SamplingParams, ThresholdUpdate};
use crate::span::arena::SpanStorage;
use crate::span::attributes::KeyValue;
use crate::span::record::{NewRecord, RecordMut, SpanLimits};
use crate::span::{Parent, Recorder, Span, SpanKind, StartParams};
use crate::time::{Clock, Timestamp};
use crate::wire::tracestate::TraceState;

/// How a tracer is set up: service, resource, scope, sampler, limits.
#[derive(Clone, Copy, Debug)]
pub struct TracerConfig {
    /// The resource (service name and attributes) of every span.
    pub resource: Resource,
    /// The instrumentation scope of every span.
    pub scope: InstrumentationScope,
    /// The sampler.
    pub sampler: Sampler,
    /// Per-span limits.
    pub limits: SpanLimits,
    /// `false` turns every span into a cheap non-recording one (`OTEL_SDK_DISABLED`).
    pub enabled: bool,
    /// Export as soon as this many spans have ended (0: only when the arena is full or
    /// on [`Tracer::flush`]).
    pub export_batch_size: usize,
    /// Also export when a span ends and this much time has passed since the last export
    /// (`Duration::ZERO`: no time trigger). Keeps spans of quiet threads from waiting.
    pub export_interval: core::time::Duration,
}

impl TracerConfig {
    /// A config for `service_name` with OpenTelemetry's defaults.
    pub const fn new(service_name: &'static str) -> Self {
        Self {
            resource: Resource::new(service_name),
            scope: InstrumentationScope::PICOTRACE,
            sampler: Sampler::parent_based(crate::sampler::RootSampler::AlwaysOn),
            limits: SpanLimits::DEFAULT,
            enabled: true,
            export_batch_size: 0,
            export_interval: core::time::Duration::ZERO,
        }
    }

    /// Sets the sampler.
    #[must_use]
    pub fn with_sampler(mut self, sampler: impl Into<Sampler>) -> Self {
        self.sampler = sampler.into();
        self
    }

    /// Samples `ratio` of new traces and follows the parent otherwise
    /// (`ParentBased(TraceIdRatioBased(ratio))`), as the design's `sample_ratio`.
    #[must_use]
    pub fn with_sample_ratio(self, ratio: f64) -> Self {
        self.with_sampler(Sampler::parent_based(Sampler::trace_id_ratio(ratio)))
    }

    /// Sets further resource attributes.
    #[must_use]
    pub const fn with_resource_attributes(
        mut self,
        attributes: &'static [KeyValue<'static>],
    ) -> Self {
        self.resource.attributes = attributes;
        self
    }

    /// Sets the instrumentation scope.
    #[must_use]
    pub const fn with_scope(mut self, name: &'static str, version: &'static str) -> Self {
        self.scope = InstrumentationScope { name, version };
        self
    }

    /// Sets the span limits.
    #[must_use]
    pub const fn with_limits(mut self, limits: SpanLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Enables or disables tracing.
    #[must_use]
    pub const fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Exports when a span ends at least `interval` after the last export.
    #[must_use]
    pub const fn with_export_interval(mut self, interval: core::time::Duration) -> Self {
        self.export_interval = interval;
        self
    }

    /// Exports whenever `n` spans have ended.
    #[must_use]
    pub const fn with_export_batch_size(mut self, n: usize) -> Self {
        self.export_batch_size = n;
        self
    }
}

/// The state behind the tracer's lock.
struct State<A, X, R> {
    arena: A,
    ids: IdGenerator<R>,
    sampler: Sampler,
    exporter: X,
    stats: TracerStats,
    last_export: Timestamp,
}

/// Starts spans and records them into an arena of type `A` (a [`crate::SpanArena`]),
/// timed by `C`, exported through `X`, guarded by `L` (see [`crate::lock`]), with ids from
/// `R`.
pub struct Tracer<A, C, X, L: Lock = LocalLock, R = Xoshiro256PlusPlus> {
    resource: Resource,
    scope: InstrumentationScope,
    limits: SpanLimits,
    enabled: bool,
    export_batch_size: usize,
    export_interval_nanos: u64,
    sampler_uses_clock: bool,
    clock: C,
    state: L::Cell<State<A, X, R>>,
}

impl<A, C, X, L, R> core::fmt::Debug for Tracer<A, C, X, L, R>
where
    A: SpanStorage,
    C: Clock,
    X: SpanExporter,
    L: Lock,
    R: RngCore,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tracer")
            .field("service", &self.resource.service_name)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<A, C, X, L, R> Tracer<A, C, X, L, R>
where
    A: SpanStorage,
    C: Clock,
    X: SpanExporter,
    L: Lock,
    R: RngCore,
{
    /// Creates a tracer with any [`Lock`]; e.g. `Tracer::<_, _, _, CriticalSectionLock>::with_lock(..)`
    /// for a tracer used from interrupts.
    pub fn with_lock(
        config: TracerConfig,
        arena: A,
        clock: C,
        ids: IdGenerator<R>,
        exporter: X,
    ) -> Self {
        Self {
            resource: config.resource,
            scope: config.scope,
            limits: config.limits,
            enabled: config.enabled,
            export_batch_size: config.export_batch_size,
            export_interval_nanos: u64::try_from(config.export_interval.as_nanos())
                .unwrap_or(u64::MAX),
            sampler_uses_clock: config.sampler.uses_clock(),
            state: L::new_cell(State {
                arena,
                ids,
                sampler: config.sampler,
                exporter,
                stats: TracerStats::default(),
                last_export: clock.now(),
            }),
            clock,
        }
    }

    /// Starts a root span (a new trace).
    #[inline]
    pub fn start_span(&self, name: &str) -> Span<'_> {
        self.span_builder(name).start()
    }

    /// Starts a span under `parent`: a [`Span`], a remote [`crate::TraceContext`], or the
    /// result of [`crate::TraceContext::from_headers`] (an error starts a new trace).
    #[inline]
    pub fn start_span_with_parent<'p>(
        &self,
        name: &'p str,
        parent: impl Into<Parent<'p>>,
    ) -> Span<'_> {
        self.span_builder(name).parent(parent).start()
    }

    /// Starts a [`SpanKind::Server`] span, typically under the incoming request's context.
    #[inline]
    pub fn start_server_span<'p>(&self, name: &'p str, parent: impl Into<Parent<'p>>) -> Span<'_> {
        self.span_builder(name)
            .kind(SpanKind::Server)
            .parent(parent)
            .start()
    }

    /// Starts a [`SpanKind::Client`] span, typically under the span making the call.
    #[inline]
    pub fn start_client_span<'p>(&self, name: &'p str, parent: impl Into<Parent<'p>>) -> Span<'_> {
        self.span_builder(name)
            .kind(SpanKind::Client)
            .parent(parent)
            .start()
    }

    /// Returns a builder for a span with a kind, parent, attributes, links or start time.
    #[inline]
    pub fn span_builder<'p>(&self, name: &'p str) -> SpanBuilder<'_, 'p, Self> {
        SpanBuilder {
            tracer: self,
            params: StartParams {
                name,
                kind: SpanKind::Internal,
                parent: Parent::Root,
                attributes: &[],
                links: &[],
                start_time: None,
            },
        }
    }

    /// Writes `traceparent` (and `tracestate`) for `span` into outgoing headers, as the
    /// design's `inject_context(span)`.
    ///
    /// The tracestate is written straight from the span's slot (no 512-byte copy), with
    /// the tracer's lock held while `headers.set` runs.
    pub fn inject_context(&self, span: &Span<'_>, headers: &mut (impl Injector + ?Sized)) {
        let (Some(slot), true) = (span.slot(), span.recorder_is(self as &dyn Recorder)) else {
            // Not one of ours (or not holding a slot): the general path.
            span.trace_context().to_headers(headers);
            return;
        };
        let cx = span.context();
        let traceparent = crate::wire::traceparent::Repr {
            version: 0,
            trace_id: cx.trace_id,
            parent_id: cx.span_id,
            flags: cx.flags,
        };
        headers.set(
            crate::propagation::TRACEPARENT,
            traceparent.to_header().as_str(),
        );
        let _ = L::with(&self.state, |state| {
            if let Some(data) = state.arena.slot_data(slot) {
                if data.span_context().span_id == cx.span_id && !data.trace_state().is_empty() {
                    headers.set(crate::propagation::TRACESTATE, data.trace_state());
                }
            }
        });
    }

    /// Exports every ended span now.
    pub fn flush(&self) {
        let _ = L::with(&self.state, |state| self.export_ended(state));
    }

    /// Returns the tracer's counters.
    pub fn stats(&self) -> TracerStats {
        L::with(&self.state, |state| state.stats).unwrap_or_default()
    }

    /// Runs `f` with the exporter (e.g. to read what it buffered), unless the tracer is
    /// busy (re-entered).
    pub fn with_exporter<T>(&self, f: impl FnOnce(&mut X) -> T) -> Option<T> {
        L::with(&self.state, |state| f(&mut state.exporter))
    }

    /// Returns the resource.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// Returns whether tracing is enabled.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    fn export_ended(&self, state: &mut State<A, X, R>) {
        let n = state.arena.ended_len();
        if n == 0 {
            return;
        }
        let State {
            arena,
            exporter,
            stats,
            ..
        } = state;
        let batch = SpanBatch::new(&*arena, n, &self.resource, &self.scope, *stats);
        match exporter.export(&batch) {
            Ok(()) => stats.spans_exported += n as u64,
            Err(crate::export::ExportError::Partial { dropped }) => {
                let dropped = dropped.min(n);
                stats.spans_exported += (n - dropped) as u64;
                stats.spans_export_failed += dropped as u64;
                stats.export_failures += 1;
            }
            Err(_) => {
                stats.spans_export_failed += n as u64;
                stats.export_failures += 1;
            }
        }
        arena.release_ended(n);
    }

    fn start_inner(&self, params: &StartParams<'_>) -> Span<'_> {
        // Resolve the parent: its context, whether it is remote, and where its tracestate is.
        let (parent_cx, parent_slot, remote_state): (Option<SpanContext>, Option<u16>, &str) =
            match params.parent {
                Parent::Root => (None, None, ""),
                Parent::Local(span) => {
                    let same_tracer = span.recorder_is(self as &dyn Recorder);
                    (
                        Some(span.context()).filter(SpanContext::is_valid),
                        same_tracer.then(|| span.slot()).flatten(),
                        "",
                    )
                }
                Parent::Context(cx) => (
                    Some(cx.span_context).filter(SpanContext::is_valid),
                    None,
                    cx.trace_state.as_str(),
                ),
            };
        // Only a sampler that reads time (rate limiting, custom) needs the clock before
        // the decision; everyone else reads it once, and only for recorded spans.
        let early_now = params
            .start_time
            .or_else(|| self.sampler_uses_clock.then(|| self.clock.now()));
        let started = L::with(&self.state, |state| {
            state.stats.spans_started += 1;
            // A local parent's tracestate stays in its slot: it is borrowed for sampling
            // and copied slot to slot afterwards, never through the stack.
            let local_parent = match (parent_slot, parent_cx.as_ref()) {
                (Some(slot), Some(cx)) => state
                    .arena
                    .slot_data(slot)
                    .filter(|d| {
                        d.span_context().span_id == cx.span_id && !d.trace_state().is_empty()
                    })
                    .map(|_| slot),
                _ => None,
            };
            let (trace_id, flags) = match &parent_cx {
                Some(cx) => (cx.trace_id, cx.flags),
                None => (state.ids.trace_id(), TraceFlags::RANDOM_TRACE_ID),
            };
            let result = {
                let local_state = local_parent
                    .and_then(|slot| state.arena.slot_data(slot))
                    .map(|d| d.trace_state());
                state.sampler.should_sample(&SamplingParams {
                    parent: parent_cx.as_ref(),
                    parent_trace_state: local_state.unwrap_or(remote_state),
                    trace_id,
                    name: params.name,
                    kind: params.kind,
                    now: early_now.unwrap_or(Timestamp::ZERO),
                })
            };
            let has_parent_state = local_parent.is_some() || !remote_state.is_empty();
            let span_id = state.ids.span_id();
            let context = SpanContext {
                trace_id,
                span_id,
                flags: flags.with_sampled(result.decision.is_sampled()),
                is_remote: false,
            };
            let recording = result.decision.is_recording();
            if !recording {
                state.stats.spans_sampled_out += 1;
                // A dropped span must still pass its tracestate on; only then does it
                // take a slot (unrecorded, never exported), and only if one is free.
                if !has_parent_state {
                    return Err(context);
                }
            }
            let slot = match state.arena.claim() {
                Some(slot) => slot,
                None if !recording => return Err(context),
                None => {
                    // Full: make room by exporting what has ended, then try once more.
                    self.export_ended(state);
                    match state.arena.claim() {
                        Some(slot) => slot,
                        None => {
                            state.stats.spans_dropped_arena_full += 1;
                            return Err(context);
                        }
                    }
                }
            };
            let now = early_now.unwrap_or_else(|| self.clock.now());
            let Some(access) = state.arena.slot(slot) else {
                return Err(context);
            };
            let mut record = access.writer();
            record.init(
                &NewRecord {
                    context,
                    parent: parent_cx.map(|cx| cx.span_id),
                    parent_is_remote: parent_cx.is_some_and(|cx| cx.is_remote),
                    kind: params.kind,
                    name: params.name,
                    start: now,
                    trace_state: if result.threshold == ThresholdUpdate::Keep {
                        remote_state
                    } else {
                        ""
                    },
                    recording,
                },
                &self.limits,
            );
            if recording {
                for kv in params.attributes {
                    record.set_attribute(kv.key, None, &kv.value, &self.limits);
                }
                for (linked, attributes) in params.links {
                    record.add_link(*linked, "", attributes, &self.limits);
                }
            }
            match (result.threshold, local_parent) {
                (ThresholdUpdate::Keep, Some(parent)) => state.arena.copy_trace_state(parent, slot),
                (ThresholdUpdate::Keep, None) => {}
                (change, _) => write_updated_trace_state(
                    &mut state.arena,
                    local_parent,
                    remote_state,
                    slot,
                    change,
                ),
            }
            Ok((slot, context, recording))
        });
        match started {
            Some(Ok((slot, context, true))) => Span::recording(self, slot, context),
            Some(Ok((slot, context, false))) => Span::holding_trace_state(self, slot, context),
            Some(Err(context)) => Span::non_recording(context),
            // Re-entered (a clock or exporter called the tracer): count nothing we
            // cannot reach, and keep the trace going without recording.
            None => Span::non_recording(parent_cx.unwrap_or(SpanContext::INVALID)),
        }
    }
}

/// Writes the parent's tracestate with the sampler's `ot` threshold change into `slot`.
/// Kept out of line: its 512-byte `TraceState` then costs stack only when a probability
/// sampler changes a threshold.
#[inline(never)]
fn write_updated_trace_state<A: SpanStorage>(
    arena: &mut A,
    local_parent: Option<u16>,
    remote_state: &str,
    slot: u16,
    change: ThresholdUpdate,
) {
    let parent_state = local_parent
        .and_then(|p| arena.slot_data(p))
        .map_or(remote_state, |d| d.trace_state());
    let mut updated = TraceState::parse(parent_state).unwrap_or_default();
    let th = match change {
        ThresholdUpdate::Set(th) => Some(th),
        _ => None,
    };
    if updated.set_ot_threshold(th).is_err() {
        updated = TraceState::new();
    }
    if let Some(access) = arena.slot(slot) {
        access.writer().set_trace_state(updated.as_str());
    }
}

impl<A, C, X, R> Tracer<A, C, X, LocalLock, R>
where
    A: SpanStorage,
    C: Clock,
    X: SpanExporter,
    R: RngCore,
{
    /// Creates a tracer for one execution context (a main loop or one thread).
    pub fn new(config: TracerConfig, arena: A, clock: C, ids: IdGenerator<R>, exporter: X) -> Self {
        Self::with_lock(config, arena, clock, ids, exporter)
    }
}

impl<A, C, X, L, R> Recorder for Tracer<A, C, X, L, R>
where
    A: SpanStorage,
    C: Clock,
    X: SpanExporter,
    L: Lock,
    R: RngCore,
{
    #[inline]
    fn update(
        &self,
        slot: u16,
        cx: &SpanContext,
        f: &mut dyn FnMut(&mut RecordMut<'_>, &SpanLimits),
    ) {
        let _ = L::with(&self.state, |state| {
            if let Some(access) = state.arena.slot(slot) {
                let mut record = access.writer();
                if record.header.live
                    && record.header.recording
                    && record.header.context.span_id == cx.span_id
                {
                    f(&mut record, &self.limits);
                }
            }
        });
    }

    #[inline]
    fn end(&self, slot: u16, cx: &SpanContext, time: Option<Timestamp>) {
        let now = time.unwrap_or_else(|| self.clock.now());
        let _ = L::with(&self.state, |state| {
            let Some(access) = state.arena.slot(slot) else {
                return;
            };
            let mut record = access.writer();
            if !(record.header.live && record.header.context.span_id == cx.span_id) {
                return;
            }
            record.end(now);
            if !record.header.recording {
                state.arena.release(slot);
                return;
            }
            state.arena.mark_ended(slot);
            let by_count =
                self.export_batch_size > 0 && state.arena.ended_len() >= self.export_batch_size;
            // Plain nanoseconds: a `Duration` here would pull 64-bit division into firmware.
            let by_time = self.export_interval_nanos != 0
                && now
                    .as_unix_nanos()
                    .saturating_sub(state.last_export.as_unix_nanos())
                    >= self.export_interval_nanos;
            if by_count || by_time {
                state.last_export = now;
                self.export_ended(state);
            }
        });
    }

    #[inline]
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    #[inline]
    fn start<'t>(&'t self, params: &StartParams<'_>) -> Span<'t> {
        // Disabled tracing must cost next to nothing: decide before anything else.
        if !self.enabled {
            let parent = match params.parent {
                Parent::Root => SpanContext::INVALID,
                Parent::Local(span) => span.context(),
                Parent::Context(cx) => cx.span_context,
            };
            return Span::non_recording(parent);
        }
        self.start_inner(params)
    }

    fn trace_state(&self, slot: u16, cx: &SpanContext, out: &mut TraceState) {
        let _ = L::with(&self.state, |state| {
            if let Some(data) = state.arena.slot_data(slot) {
                if data.span_context().span_id == cx.span_id && !data.trace_state().is_empty() {
                    if let Ok(ts) = TraceState::parse(data.trace_state()) {
                        *out = ts;
                    }
                }
            }
        });
    }
}

/// Builds a span with a kind, parent, attributes, links or an explicit start time.
#[must_use = "a span builder does nothing until `start` is called"]
pub struct SpanBuilder<'t, 'p, T> {
    tracer: &'t T,
    params: StartParams<'p>,
}

impl<T> core::fmt::Debug for SpanBuilder<'_, '_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpanBuilder")
            .field("name", &self.params.name)
            .field("kind", &self.params.kind)
            .finish()
    }
}

impl<'t, 'a, T: Recorder> SpanBuilder<'t, 'a, T> {
    /// Sets the kind (default internal).
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.params.kind = kind;
        self
    }

    /// Sets the parent (default: none, a new trace).
    pub fn parent(mut self, parent: impl Into<Parent<'a>>) -> Self {
        self.params.parent = parent.into();
        self
    }

    /// Sets attributes known at start (samplers may use them).
    pub fn attributes(mut self, attributes: &'a [KeyValue<'a>]) -> Self {
        self.params.attributes = attributes;
        self
    }

    /// Sets links to other spans, each with its attributes.
    pub fn links(mut self, links: &'a [(SpanContext, &'a [KeyValue<'a>])]) -> Self {
        self.params.links = links;
        self
    }

    /// Sets an explicit start time (default: the tracer's clock now).
    pub fn start_time(mut self, time: Timestamp) -> Self {
        self.params.start_time = Some(time);
        self
    }

    /// Starts the span.
    pub fn start(self) -> Span<'t> {
        self.tracer.start(&self.params)
    }
}

#[cfg(test)]
mod tests;
