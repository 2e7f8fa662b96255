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
//! let mut span = tracer.start_span("handle_request");
//! span.set_attribute("http.request.method", "POST");
//! let mut db = span.child("query_database");
//! db.set_ok();
//! db.end();
//! span.end();
//! assert_eq!(tracer.stats().spans_started, 2);
//! tracer.flush();
//! assert_eq!(tracer.stats().spans_exported, 2);
//! ```

use core::sync::atomic::fence;

use portable_atomic::{AtomicBool, AtomicU8, Ordering};
use rand_core::RngCore;

use crate::context::{SpanContext, TraceContext};
use crate::export::{InstrumentationScope, Resource, SpanBatch, SpanExporter, TracerStats};
use crate::id::TraceFlags;
use crate::propagation::Injector;
use crate::random::{IdGenerator, IdKeys, UNSLOTTED};
use crate::sampler::{
    Sampler, SamplingDecision, SamplingParams, SamplingResult, SpanSampler, ThresholdUpdate,
};
use crate::span::arena::{SlotRef, SpanStorage};
use crate::span::attributes::KeyValue;
use crate::span::record::{NewRecord, SpanLimits};
use crate::span::{AsMade, Parent, Span, SpanKind, SpanOwner, StartParams, Unrecorded, Unstarted};
#[cfg(loom)]
use portable_atomic::AtomicU64 as Atomic64;

#[cfg(not(loom))]
use crate::sync::Atomic64;
use crate::sync::{TryLock, SHARDS};
use crate::time::{Clock, Timestamp};
use crate::wire::tracestate::TraceState;

/// Told when ended spans are waiting for export (see
/// [`TracerConfig::with_export_signal`]): how an exporter that runs on its own (a
/// thread, a task) learns that a batch is ready without the span's thread exporting.
pub trait ExportSignal: Sync {
    /// `waiting` ended spans are queued in the ending span's queue: called when that
    /// queue reaches the batch size, then at each further share of the batch while the
    /// total stays at a batch or more (and when the export interval has passed). Called
    /// on the thread that ended a span: return at once. The stage should drain until
    /// less than a batch waits and look at the queue before it sleeps: a signal that
    /// came while it was busy is not repeated on every end.
    ///
    /// Called with `waiting` 0 after a span's thread found the arena full and exported
    /// itself: what that export made (frames a [`FrameExporter`] queued) waits for the
    /// stage. A signal alone cannot bring a part batch out: a stage that must send
    /// within a bounded time also wakes on a timer and flushes (as `OTEL_BSP_SCHEDULE_DELAY`
    /// does).
    ///
    /// [`FrameExporter`]: crate::export::frame::FrameExporter
    fn export_ready(&self, waiting: usize);
}

/// How a tracer is set up: service, resource, scope, sampler, limits, export triggers.
///
/// `S` is the sampler's type: [`Sampler`] (chosen at run time) unless
/// [`TracerConfig::with_static_sampler`] picks one at compile time.
#[derive(Clone, Copy)]
pub struct TracerConfig<S = Sampler> {
    /// The resource (service name and attributes) of every span.
    pub resource: Resource,
    /// The instrumentation scope of every span.
    pub scope: InstrumentationScope,
    /// The sampler.
    pub sampler: S,
    /// Per-span limits.
    pub limits: SpanLimits,
    /// `false` turns every span into a cheap non-recording one (`OTEL_SDK_DISABLED`).
    pub enabled: bool,
    /// Export as soon as this many spans have ended (0: only when the arena is full or
    /// on [`Tracer::flush`]); also the most spans one export call receives (0:
    /// [`crate::span::arena::DRAIN_BATCH`]). With an arena of several shards
    /// ([`SpanStorage::SHARDS`], picotrace-std's), the total is added up when one
    /// shard's queue grows by another share of the batch (`n / SHARDS`), not on every
    /// end: an export may start past `n`, at up to about twice it when every shard
    /// holds just under a share (found by review: not documented).
    pub export_batch_size: usize,
    /// Also export when a span ends and this much time has passed since the last export,
    /// or the clock was set back by more than this (`Duration::ZERO`: no time trigger).
    pub export_interval: core::time::Duration,
    /// Who exports when a trigger fires: `None` exports on the thread that ended the
    /// span (if no other export is running); `Some` only signals (the std adapter's
    /// export thread, a firmware task). Either way, a span that finds the arena full
    /// of ended spans exports them itself, in whatever context started it (an
    /// interrupt handler too), unless an export is running: give the exporter a batch
    /// size and an arena that keep it ahead where that matters (a `FrameQueue` as the
    /// writer takes such an export quickly, dropping and counting what it has no room
    /// for).
    pub export_signal: Option<&'static dyn ExportSignal>,
    /// A span that finds the arena full while another thread exports waits for slots:
    /// up to this many pauses, retrying after each, before it is dropped and counted.
    /// A span a rate limiter decides (a root's start, a child's under a limiter for
    /// children, `Span::set_parent`) that finds the limiter in use by another thread
    /// waits for it the same way, then is not sampled.
    /// 0 (the default): dropped at once, as firmware wants (an interrupt must not wait
    /// for the main loop). The std adapter waits, so bursts slow down instead of losing
    /// spans.
    pub full_arena_retries: u32,
    /// One pause of that wait (`core::hint::spin_loop`; the std adapter yields the
    /// thread, then sleeps), given how many pauses this wait took before it (0: the
    /// wait begins). It returns `false` to stop waiting at once: the std adapter does
    /// so once a wait has lasted its time, and at once on the thread that runs the
    /// exporter, which holds the export the wait is for (found by review: a span its
    /// exporter started spun through every retry). A wait stopped after its first
    /// pause ran out: spans that find the arena full are then dropped at once until a
    /// drain hands spans over again. [`Tracer::flush`] pauses with it too while another
    /// export runs, without limit, and whatever it returns.
    pub full_arena_pause: fn(u32) -> bool,
}

/// The default pause of a full-arena wait: one spin-loop hint, and keep waiting.
fn spin_pause(_pauses: u32) -> bool {
    core::hint::spin_loop();
    true
}

impl<S: core::fmt::Display> core::fmt::Debug for TracerConfig<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TracerConfig")
            .field("resource", &self.resource)
            .field("scope", &self.scope)
            .field("sampler", &format_args!("{}", self.sampler))
            .field("limits", &self.limits)
            .field("enabled", &self.enabled)
            .field("export_batch_size", &self.export_batch_size)
            .field("export_interval", &self.export_interval)
            .field("export_signal", &self.export_signal.is_some())
            .field("full_arena_retries", &self.full_arena_retries)
            .finish()
    }
}

impl TracerConfig {
    /// A config for `service_name` with OpenTelemetry's span limits and default sampler
    /// (ParentBased(AlwaysOn)). It exports on a full arena or [`Tracer::flush`] only:
    /// set [`TracerConfig::with_export_batch_size`] or
    /// [`TracerConfig::with_export_interval`] for more
    /// (picotrace-std's provider uses the batch processor's 512 spans / 5 s).
    ///
    /// The name is `&'static`: the config is `Copy` and `const`. A name known only at
    /// run time goes to picotrace-std's `TracerProviderBuilder::service_name`, or is
    /// leaked once (`String::leak`).
    pub const fn new(service_name: &'static str) -> Self {
        Self {
            resource: Resource::new(service_name),
            scope: InstrumentationScope::PICOTRACE,
            sampler: Sampler::parent_based(crate::sampler::RootSampler::AlwaysOn),
            limits: SpanLimits::DEFAULT,
            enabled: true,
            export_batch_size: 0,
            export_interval: core::time::Duration::ZERO,
            export_signal: None,
            full_arena_retries: 0,
            full_arena_pause: spin_pause,
        }
    }

    /// Sets the sampler.
    #[must_use]
    pub fn with_sampler(mut self, sampler: impl Into<Sampler>) -> Self {
        self.sampler = sampler.into();
        self
    }

    /// Samples `ratio` of new traces and follows the parent otherwise
    /// (`ParentBased(TraceIdRatioBased(ratio))`), as OpenTelemetry's `parentbased_traceidratio`.
    #[must_use]
    pub fn with_sample_ratio(self, ratio: f64) -> Self {
        self.with_sampler(Sampler::parent_based(Sampler::trace_id_ratio(ratio)))
    }
}

impl<S: SpanSampler> TracerConfig<S> {
    /// Chooses the sampler at compile time: the tracer links only `sampler`'s code
    /// (see [`SpanSampler`]).
    #[must_use]
    pub const fn with_static_sampler<T: SpanSampler>(self, sampler: T) -> TracerConfig<T> {
        TracerConfig {
            resource: self.resource,
            scope: self.scope,
            sampler,
            limits: self.limits,
            enabled: self.enabled,
            export_batch_size: self.export_batch_size,
            export_interval: self.export_interval,
            export_signal: self.export_signal,
            full_arena_retries: self.full_arena_retries,
            full_arena_pause: self.full_arena_pause,
        }
    }

    /// Lets a span that finds the arena full wait for an export in progress: `retries`
    /// pauses of `pause`, retrying after each, or until `pause` returns `false` (see
    /// [`TracerConfig::full_arena_retries`] and [`TracerConfig::full_arena_pause`]).
    /// Once a wait runs out (the export is stuck), spans that find the arena full are
    /// dropped without waiting until a drain hands spans over again.
    #[must_use]
    pub const fn with_full_arena_wait(mut self, retries: u32, pause: fn(u32) -> bool) -> Self {
        self.full_arena_retries = retries;
        self.full_arena_pause = pause;
        self
    }

    /// Signals `signal` instead of exporting on the span's thread when a trigger fires.
    #[must_use]
    pub const fn with_export_signal(mut self, signal: &'static dyn ExportSignal) -> Self {
        self.export_signal = Some(signal);
        self
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

    /// Sets the instrumentation scope's name and version (no attributes, no schema URL:
    /// [`TracerConfig::with_instrumentation_scope`] sets those too).
    #[must_use]
    pub const fn with_scope(mut self, name: &'static str, version: &'static str) -> Self {
        self.scope = InstrumentationScope::new(name, version);
        self
    }

    /// Sets the instrumentation scope whole: name, version, attributes, schema URL.
    #[must_use]
    pub const fn with_instrumentation_scope(mut self, scope: InstrumentationScope) -> Self {
        self.scope = scope;
        self
    }

    /// Sets the span limits.
    #[must_use]
    pub const fn with_limits(mut self, limits: SpanLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Enables or disables tracing. A disabled tracer records nothing; what it
    /// propagates: a root span no context; a child of a sampled context that context
    /// as it came (the next hop's spans hang off the caller's, as behind a service
    /// without tracing); a child of an unsampled one an id of its own.
    #[must_use]
    pub const fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Exports when a span ends at least `interval` after the last export, or at once
    /// when the clock was set back by more than `interval`. It goes by the tracer's
    /// clock: with [`NoClock`](crate::NoClock), or a clock that does not move, it never
    /// fires (export by batch size, or flush).
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

/// A counter: 64-bit where the CPU has 64-bit atomics, 32-bit elsewhere (a 32-bit
/// microcontroller would otherwise pay a critical section, and its code, per count).
#[cfg(target_has_atomic = "64")]
type Counter = portable_atomic::AtomicU64;
#[cfg(not(target_has_atomic = "64"))]
type Counter = portable_atomic::AtomicU32;

/// `count - part` for two totals of counters that only grow, `part` never above
/// `count`. At the counters' width: 32-bit counters wrap (after 2^32 roots numbered,
/// `numbered - kept` saturated to 0 where the count had wrapped and its part not yet).
/// The loads are Relaxed, so a reader may see a part's increment before the count's
/// (another core made both): a difference that comes out negative is read as 0, on
/// 32 bits too, where it would wrap to about 2^32.
#[inline]
fn counted_less(count: u64, part: u64) -> u64 {
    if cfg!(target_has_atomic = "64") {
        count.saturating_sub(part)
    } else {
        u64::from(counted_less_32(count as u32, part as u32))
    }
}

/// [`counted_less`] for 32-bit counters (a function of its own, to be tested on hosts
/// with 64-bit atomics).
#[inline]
fn counted_less_32(count: u32, part: u32) -> u32 {
    let d = count.wrapping_sub(part);
    if d > i32::MAX as u32 {
        0
    } else {
        d
    }
}

/// Takes one off a counter that another set may have counted up (see
/// [`Counters::total`]).
#[inline]
fn unbump(counter: &Counter) {
    counter.fetch_sub(1, Ordering::Relaxed);
}

/// Adds `n` to a counter; returns the value before.
#[inline]
#[allow(clippy::useless_conversion)] // a conversion where `Counter` is 32-bit
fn bump(counter: &Counter, n: u64) -> u64 {
    let before = counter.fetch_add(n as _, Ordering::Relaxed);
    u64::from(before)
}

/// Counts the spans a drain loses when its exporter panics (dropped during the unwind;
/// forgotten when the export returns).
struct LostOnPanic<'c> {
    counters: &'c Counters,
    spans: u64,
}

impl Drop for LostOnPanic<'_> {
    fn drop(&mut self) {
        bump(&self.counters.export_failed, self.spans);
        bump(&self.counters.export_failures, 1);
    }
}

/// Counts the outcome of a span whose clock panicked as it ended (user code): the
/// unwind frees its slot unexported, and without this it was in no count (found by
/// review; a `RecordOnly` span also left `running_spans` one low for good). A sampled
/// span counts as failed, as a batch an exporter's panic loses does.
/// Holds only references: on the hot path it costs a store or two (the span's
/// sampled flag and the thread's counters are looked up only in a panic).
struct EndLostOnPanic<'c, A: SpanStorage> {
    counters: &'c Counters,
    slot: &'c SlotRef<'c>,
    storage: core::marker::PhantomData<A>,
}

impl<A: SpanStorage> Drop for EndLostOnPanic<'_, A> {
    fn drop(&mut self) {
        if self.slot.data().span_context().flags.is_sampled() {
            bump(&self.counters.export_failed, 1);
        } else {
            let local = self.counters.local::<A>();
            bump(&local.sampled_out_slotted, 1);
            unbump(&local.unexported_running);
        }
    }
}

/// Numbers a span that holds no slot from `counter` (the count before this one), so
/// that its ids, keyed from the number, are its own. Where counters are 32-bit, the
/// number also holds how many times a numbering counter has wrapped (`wraps`): without
/// it, span number 2^32 took the ids of number 0 (a sampler dropping roots repeated
/// trace ids after 2^32 roots: 50 days at 1,000 a second).
#[inline]
#[allow(clippy::useless_conversion)] // a conversion where `Counter` is 64-bit
fn number(counter: &Counter, wraps: &portable_atomic::AtomicU32) -> u64 {
    let before = counter.fetch_add(1, Ordering::Relaxed);
    if cfg!(target_has_atomic = "64") {
        return u64::from(before);
    }
    numbered_with_wraps(u64::from(before), wraps)
}

/// [`number`] for a 32-bit count `before`: the wraps, below the range tags (bits 61
/// to 63), above it. (A span numbered right after a wrap, before the wrapping thread
/// has counted it, may take an old epoch: once per 2^32 numbers, not every number.)
#[inline]
fn numbered_with_wraps(before: u64, wraps: &portable_atomic::AtomicU32) -> u64 {
    // The last count before a wrap is the last of its epoch: it moves the epoch on for
    // the numbers after it, and keeps the old one itself.
    let epoch = if before == u64::from(u32::MAX) {
        wraps.fetch_add(1, Ordering::Relaxed)
    } else {
        wraps.load(Ordering::Relaxed)
    };
    u64::from(epoch & ((1 << 29) - 1)) << 32 | (before & u64::from(u32::MAX))
}

/// Reads a counter.
#[inline]
#[allow(clippy::useless_conversion)] // a conversion where `Counter` is 32-bit
fn read(counter: &Counter) -> u64 {
    u64::from(counter.load(Ordering::Relaxed))
}

/// The tracer's counters, each an atomic: spans start and end on any thread.
#[derive(Debug)]
struct Counters {
    /// What spans count as they start, one set per thread shard ([`Counters::local`]).
    starts: [StartCounters; SHARDS],
    exported: Counter,
    export_failed: Counter,
    export_failures: Counter,
    dropped_shutdown: Counter,
    /// Wraps of the numbering counters, where counters are 32-bit (see [`number`]).
    number_wraps: portable_atomic::AtomicU32,
    /// Each thread's own cell for the counts that number spans without a slot, where
    /// the arena gives it one (feature `std`, 64-bit targets; elsewhere none, and every
    /// count is on the sets): see `thread_counts`.
    threads: thread_counts::ThreadCounts,
}

/// A start count kept on the thread's own cell (`thread_counts`, feature `std`) where
/// the arena gives it one, else on its set: the two that number spans started without
/// a slot, and the roots kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Count {
    /// Roots numbered before sampling (`roots_numbered`).
    RootsNumbered,
    /// Spans sampled out without a slot (`sampled_out_unslotted`).
    SampledOutUnslotted,
    /// Roots numbered before sampling that were recorded (`roots_kept`).
    RootsKept,
}

/// A set's count in the numbers it gives: below bit 57, which marks a thread cell's
/// numbers (`thread_counts`); a set's count reaches it after 2^57 spans.
const SET_COUNT_MASK: u64 = (1 << 57) - 1;

/// The counters a span may bump as it starts, and that number the spans without a slot.
/// One set for each of [`SHARDS`] groups of threads (picked by the arena's
/// [`SpanStorage::thread_hint`], as its own shards are), alone on its cache lines:
/// with one set, every unsampled root of every thread incremented one shared line, and
/// two threads starting them ran slower than one (0.5-0.7x on 2 vCPUs) where a ratio
/// sampler drops most traces. Totals are sums over the sets (a span may be counted on
/// one set and moved off another: the sums wrap back).
#[cfg_attr(target_pointer_width = "64", repr(align(128)))]
#[derive(Debug)]
struct StartCounters {
    /// Sampled out without a slot; also numbers their span ids.
    sampled_out_unslotted: Counter,
    /// Sampled out, holding a slot for the tracestate (or a root that claimed first).
    sampled_out_slotted: Counter,
    /// Recording spans the full arena refused; also numbers their span ids.
    dropped_full: Counter,
    /// Ids for the rest: roots while the arena is full, children while disabled.
    spare_ids: Counter,
    /// Roots numbered before sampling (a sampler that may drop roots); also numbers
    /// their ids.
    roots_numbered: Counter,
    /// Of those, the ones that were recorded (or counted as arena-full): the rest were
    /// sampled out.
    roots_kept: Counter,
    /// Spans counted in `sampled_out_unslotted` that `set_parent` later gave a record:
    /// counted off it here, not by lowering it, which numbers span ids (the next span
    /// took the lowered number, and the adopted span's id with it).
    sampled_out_adopted: Counter,
    /// The same for `dropped_full`.
    dropped_full_adopted: Counter,
    /// Spans counted as sampled out (or dropped roots) that `set_parent` would record
    /// and sample, refused then by the full arena: moved to the arena-full drops (their
    /// first count is taken off through `sampled_out_adopted` or `roots_kept`).
    dropped_full_late: Counter,
    /// Slots held by running spans that will not be exported (not recording, or
    /// recording but not sampled): added when such a span takes a slot or stops being
    /// exportable, taken off when it ends or becomes exportable. A span can be added on
    /// one set and taken off another: only the sum over the sets means anything.
    unexported_running: Counter,
    /// Values cut in the spans published for export (`values_truncated`): here, on the
    /// ending thread's set, not on a line every thread shares (found by review).
    values_truncated: Counter,
    /// This set's bits in the numbers it gives ([`SHARD_BITS_SHIFT`]): numbers from two
    /// sets never meet.
    shard_bits: u64,
}

/// Where a set's index goes in span numbers, between the count (below) and the range
/// tags (bits 61 to 63). A count reaches it after 2^58 spans of one range on one set.
const SHARD_BITS_SHIFT: u32 = 58;

// Several sets only where counters are 64-bit: their sums wrap at 2^64 (a 32-bit
// counter's would not), and the 32-bit wrap count ([`numbered_with_wraps`]) would
// overlap the set's bits. And the set index fits below the range tags.
const _: () = assert!(SHARDS == 1 || cfg!(target_has_atomic = "64"));
const _: () = assert!(SHARDS <= 1 << (61 - SHARD_BITS_SHIFT));

impl StartCounters {
    const fn new(shard: usize) -> Self {
        Self {
            sampled_out_unslotted: Counter::new(0),
            sampled_out_slotted: Counter::new(0),
            dropped_full: Counter::new(0),
            spare_ids: Counter::new(0),
            roots_numbered: Counter::new(0),
            roots_kept: Counter::new(0),
            sampled_out_adopted: Counter::new(0),
            dropped_full_adopted: Counter::new(0),
            dropped_full_late: Counter::new(0),
            unexported_running: Counter::new(0),
            values_truncated: Counter::new(0),
            shard_bits: (shard as u64) << SHARD_BITS_SHIFT,
        }
    }

    /// This set's counter of `count`.
    #[inline(always)]
    fn counter(&self, count: Count) -> &Counter {
        match count {
            Count::RootsNumbered => &self.roots_numbered,
            Count::SampledOutUnslotted => &self.sampled_out_unslotted,
            Count::RootsKept => &self.roots_kept,
        }
    }

    /// Numbers a span without a slot from `counter` (one of this set's): [`number`],
    /// with this set's bits.
    #[inline]
    fn number(&self, counter: &Counter, wraps: &portable_atomic::AtomicU32) -> u64 {
        let n = number(counter, wraps);
        // One set of 32-bit counters (microcontrollers): the wrap count may use those
        // bits (and there are no thread cells).
        if SHARDS == 1 && !cfg!(target_has_atomic = "64") {
            n
        } else {
            self.shard_bits | (n & SET_COUNT_MASK)
        }
    }
}

impl Counters {
    const fn new() -> Self {
        let mut starts = [const { StartCounters::new(0) }; SHARDS];
        let mut shard = 1;
        while shard < SHARDS {
            starts[shard] = StartCounters::new(shard);
            shard += 1;
        }
        Self {
            starts,
            exported: Counter::new(0),
            export_failed: Counter::new(0),
            export_failures: Counter::new(0),
            dropped_shutdown: Counter::new(0),
            number_wraps: portable_atomic::AtomicU32::new(0),
            threads: thread_counts::ThreadCounts::new(),
        }
    }

    /// Numbers a span started without a slot, counted as `count`: on the calling
    /// thread's own cell where the arena gives it one ([`SpanStorage::thread_cell`]:
    /// a load and a store), else on its set (an atomic increment).
    #[inline(always)]
    fn number_unslotted<A: SpanStorage>(&self, count: Count) -> u64 {
        if let Some(n) = A::thread_cell().and_then(|cell| self.threads.number(cell, count)) {
            return n;
        }
        let c = self.local::<A>();
        c.number(c.counter(count), &self.number_wraps)
    }

    /// Counts one as `count` on the calling thread's own cell where the arena gives it
    /// one (a load and a store), else on its set (an atomic increment).
    #[inline(always)]
    fn bump_counted<A: SpanStorage>(&self, count: Count) {
        if A::thread_cell()
            .and_then(|cell| self.threads.bump(cell, count))
            .is_some()
        {
            return;
        }
        bump(self.local::<A>().counter(count), 1);
    }

    /// Counts a root the sampler kept (a ratio sampler's): out of line, so that the
    /// spans of an always-on sampler, which never get here, keep their registers (inline
    /// it cost W1 18 instructions).
    #[cold]
    #[inline(never)]
    fn count_kept_root<A: SpanStorage>(&self) {
        self.bump_counted::<A>(Count::RootsKept);
    }

    /// The total of `count` over the sets and the thread cells.
    fn total_of(&self, count: Count) -> u64 {
        let sets = self.total(|s| s.counter(count));
        sets.wrapping_add(self.threads.total(count))
    }

    /// The calling thread's set, by the arena's idea of the thread (`A`).
    #[inline]
    fn local<A: SpanStorage>(&self) -> &StartCounters {
        if SHARDS == 1 {
            &self.starts[0]
        } else {
            &self.starts[A::thread_hint().shard(SHARDS)]
        }
    }

    /// The sum of one counter over the sets. A span counted on one set and taken off
    /// another (`sampled_out_slotted` when `set_parent` on another thread samples it
    /// again, `unexported_running` when it ends there) leaves both sets right in sum,
    /// but the sets are read one after another: a read that sees the decrement and not
    /// the increment comes out one below the true total, which from 0 would wrap to
    /// 2^64 - 1 (and overflow every sum it goes into). No total is negative: such a
    /// read is 0.
    fn total(&self, counter: impl Fn(&StartCounters) -> &Counter) -> u64 {
        let mut sum = 0u64;
        for set in &self.starts {
            sum = sum.wrapping_add(read(counter(set)));
        }
        if SHARDS > 1 && sum > i64::MAX as u64 {
            0
        } else {
            sum
        }
    }
}

// `Tracer::sampler_traits` bits.
const SAMPLER_USES_CLOCK: u8 = 1;
const SAMPLER_RECORDS_EVERY_ROOT: u8 = 2;
const SAMPLER_RECORDS_LOCAL_CHILDREN: u8 = 4;
const SAMPLER_DROPS_EVERY_ROOT: u8 = 8;
/// Not a sampler's: set (with a release store, after the keys) once [`Tracer::seed`]
/// ran, which `active` cannot say of a tracer whose config disabled tracing.
const SEEDED: u8 = 16;

// Span numbers of spans without a slot, one range per counter.
const SAMPLED_OUT_IDS: u64 = UNSLOTTED;
const DROPPED_IDS: u64 = UNSLOTTED | 1 << 62;
const SPARE_IDS: u64 = UNSLOTTED | 1 << 61;
const ROOT_IDS: u64 = UNSLOTTED | 3 << 61;

/// Starts spans and records them into a shared arena of type `A` (a
/// [`crate::SpanArena`], or a reference to one), timed by `C`, exported through `X`,
/// sampled by `S` ([`Sampler`], chosen at run time, unless the config names a
/// [`SpanSampler`] type).
///
/// One tracer serves every thread (or the main loop and its interrupts): it is `Sync`
/// when its clock is `Sync` and its exporter `Send`. Starting a span claims a slot with
/// one atomic operation, ending it queues the slot with one more; nothing else on the
/// span path is shared. Export runs when the arena is full, on a trigger (batch size,
/// interval; see [`TracerConfig`]), or on [`Tracer::flush`], and never blocks a span:
/// at most one export runs at a time and triggers that find one running leave it be.
///
/// On firmware the tracer can be a plain `static`: [`Tracer::unseeded`] is `const`,
/// and [`Tracer::seed`] switches it on at boot, once entropy is there.
///
/// ```
/// use picotrace::sampler::ParentBasedAlwaysOn;
/// use picotrace::{IdGenerator, ManualClock, NoopExporter, SpanArena, Timestamp, Tracer, TracerConfig};
///
/// type Arena = SpanArena<8, 4, 2, 1, 128>;
/// // A static of its own: a new arena is zero bytes (32-bit targets), in `.bss`; held
/// // by value in `TRACER` it would be in `.data`, its image in flash too.
/// static ARENA: Arena = Arena::new();
/// static CLOCK: ManualClock = ManualClock::new(Timestamp::ZERO);
/// static TRACER: Tracer<&Arena, &ManualClock, NoopExporter, ParentBasedAlwaysOn> = Tracer::unseeded(
///     TracerConfig::new("sensor").with_static_sampler(ParentBasedAlwaysOn),
///     &ARENA,
///     &CLOCK,
///     NoopExporter,
/// );
///
/// // At boot: until seeded, spans are not recorded (their ids would not be random).
/// assert!(!TRACER.start_span("too early").is_recording());
/// assert!(TRACER.seed(IdGenerator::from_seed([7; 32]))); // a hardware RNG on a real board
/// let span = TRACER.start_span("measure");
/// assert!(span.is_recording());
/// ```
///
/// A tracer that is dropped exports the spans ended so far first ([`Tracer::flush`]),
/// as a buffered writer writes what it holds: a tracer on the stack (a test, a
/// short-lived tool) does not lose them. What that export reports goes with the
/// tracer: call [`Tracer::shutdown`] first for the counters. A tracer dropped while
/// its thread unwinds from a panic does not export (with feature `std`; without it,
/// it does, and an exporter that panics then aborts the program). A `static` tracer is
/// never dropped: flush it, or shut it down, where the program stops. Borrows the
/// tracer holds (an exporter writing into a buffer) last until it is dropped: drop it
/// before reading what it wrote.
pub struct Tracer<A, C, X, S = Sampler>
where
    A: SpanStorage,
    C: Clock,
    X: SpanExporter,
    S: SpanSampler,
{
    resource: Resource,
    scope: InstrumentationScope,
    limits: SpanLimits,
    /// Tracing is on in the config (`OTEL_SDK_DISABLED` unset).
    enabled: bool,
    /// `enabled`, and the id keys are seeded: spans record. Released by the seeding,
    /// acquired by every span start.
    active: AtomicBool,
    export_batch_size: usize,
    /// A span's end sees its own queue's length: the total is worth adding up each
    /// time that length reaches a multiple of this mask plus one (`export_batch_size`
    /// spread over the arena's queues, rounded down to a power of two: a mask, not a
    /// division, on every end; microcontrollers of the M0 class have no divider).
    export_check_mask: usize,
    export_interval_nanos: u64,
    export_signal: Option<&'static dyn ExportSignal>,
    full_arena_retries: u32,
    full_arena_pause: fn(u32) -> bool,
    sampler: S,
    /// A copy of `sampler` for stateful (rate-limiting) decisions.
    sampler_state: TryLock<S>,
    /// What the sampler says of itself, asked once by [`Tracer::seed`] (the runtime
    /// [`Sampler`] would otherwise be matched on every span): `SAMPLER_*` bits.
    sampler_traits: AtomicU8,
    keys: IdKeys,
    clock: C,
    arena: A,
    exporter: TryLock<X>,
    /// Set by a span that ended after shutdown while another caller held `exporter`:
    /// that caller drains again when it lets go (see [`Tracer::serve_drain_requests`]).
    drain_requested: AtomicBool,
    /// Set by an export trigger that found `exporter` held: the holder exports again
    /// when it lets go (see [`Tracer::serve_drain_requests`]).
    trigger_missed: AtomicBool,
    /// Set by a span whose full-arena wait ran out (the export that frees slots is
    /// stuck: an exporter that hangs), cleared by the next drain that hands spans
    /// over. Until then spans that find the arena full do not wait (found by review:
    /// each spent the whole wait, ~10 ms of CPU with the std adapter's, then was
    /// dropped).
    full_wait_ran_out: AtomicBool,
    counters: Counters,
    last_export: Atomic64,
    shut_down: AtomicBool,
}

impl<A, C, X, S> core::fmt::Debug for Tracer<A, C, X, S>
where
    A: SpanStorage,
    C: Clock,
    X: SpanExporter,
    S: SpanSampler,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tracer")
            .field("service", &self.resource.service_name)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<A, C, X, S> Drop for Tracer<A, C, X, S>
where
    A: SpanStorage,
    C: Clock,
    X: SpanExporter,
    S: SpanSampler,
{
    /// Exports what has ended (found by review: a dropped tracer lost its ended spans,
    /// counted nowhere). No span can still run: spans borrow the tracer.
    fn drop(&mut self) {
        if unwinding() {
            return;
        }
        // `try_flush`: nothing else can hold the exporter now that `self` is borrowed
        // mutably; should it be held, waiting would never end.
        let _ = self.try_flush();
    }
}

/// How many times one call serves missed export triggers (see
/// `Tracer::serve_drain_requests`): triggers missed during the drain that served one
/// (an interrupt during that export too) are served as well, a few levels deep, while
/// an exporter whose own spans meet the trigger each time cannot loop.
const MISSED_TRIGGER_ROUNDS: u8 = 4;

/// Whether this thread unwinds from a panic (feature `std`, which can tell; without it,
/// `false`). Nothing exports inline then: an exporter that panicked too would abort
/// the process (found by review: a span ended by the unwinding ran the exporter when
/// its end filled the batch). What ended waits for the next export.
#[inline(always)]
fn unwinding() -> bool {
    #[cfg(feature = "std")]
    return std::thread::panicking();
    #[cfg(not(feature = "std"))]
    false
}

#[cfg(feature = "std")]
std::thread_local! {
    /// How many [`SuppressSpans`] guards live on this thread (a count, so that guards
    /// dropped out of order leave spans suppressed while any lives).
    static SUPPRESSED: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

/// Whether spans started on this thread now are suppressed (by `suppress_spans`, with
/// the `std` feature; always `false` without it).
#[inline(always)]
pub fn spans_suppressed() -> bool {
    #[cfg(feature = "std")]
    return SUPPRESSED.try_with(|n| n.get() > 0).unwrap_or(false);
    #[cfg(not(feature = "std"))]
    false
}

/// Suppresses spans on this thread while the guard lives (feature `std`): a span
/// started then never records, nor does [`crate::Span::set_parent`] give it a record
/// later; it carries its parent's context unchanged (a root: none), without its
/// tracestate (a suppressed span holds no slot to keep one in). The tracer holds
/// one while its exporter runs, so that an exporter whose HTTP client is itself traced
/// (a `tracing`-instrumented client, a traced middleware) does not export spans of its
/// own exports, each export making the spans the next one sends, for ever (found by
/// review). A batch exporter's workers, where its transport sends, hold one for life.
/// Per thread: a client that sends from threads of its own (`reqwest::blocking`'s
/// runtime, connection tasks on other workers) needs a guard there too.
///
/// ```
/// # let tracer = picotrace::Tracer::new(picotrace::TracerConfig::new("svc"),
/// #     picotrace::SpanArena::<1>::new(), picotrace::NoClock,
/// #     picotrace::IdGenerator::from_seed([1; 32]), picotrace::NoopExporter);
/// {
///     let _quiet = picotrace::tracer::suppress_spans();
///     assert!(!tracer.start_span("health check").is_recording());
/// }
/// assert!(tracer.start_span("request").is_recording());
/// ```
#[cfg(feature = "std")]
pub fn suppress_spans() -> SuppressSpans {
    let _ = SUPPRESSED.try_with(|n| n.set(n.get().saturating_add(1)));
    SuppressSpans {
        _on_this_thread: core::marker::PhantomData,
    }
}

/// The guard of [`suppress_spans`]: dropped, this thread's spans record again (unless
/// an outer guard still lives). Not `Send`: it belongs to the thread it was made on.
#[cfg(feature = "std")]
#[must_use = "spans are suppressed only while the guard lives"]
#[derive(Debug)]
pub struct SuppressSpans {
    _on_this_thread: core::marker::PhantomData<*const ()>,
}

#[cfg(feature = "std")]
impl Drop for SuppressSpans {
    fn drop(&mut self) {
        let _ = SUPPRESSED.try_with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// Defines `Tracer::unseeded`, `const` but under loom.
macro_rules! unseeded {
    ($(#[$doc:meta])* pub fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$doc])*
        pub const fn $($rest)*

        #[cfg(loom)]
        $(#[$doc])*
        pub fn $($rest)*
    };
}

impl<A, C, X, S> Tracer<A, C, X, S>
where
    A: SpanStorage,
    C: Clock,
    X: SpanExporter,
    S: SpanSampler,
{
    /// Creates a tracer. `ids` seeds the span and trace ids (it is used once, here); a
    /// generator that looks stuck leaves the tracer unseeded, recording nothing (see
    /// [`Tracer::seed`]: seed it later, from entropy that works).
    ///
    /// To share it between threads, put it in a `static` (e.g. with
    /// `std::sync::OnceLock`, or [`Tracer::unseeded`] on firmware), an `Arc`, or leak
    /// it.
    pub fn new<R: RngCore>(
        config: TracerConfig<S>,
        arena: A,
        clock: C,
        ids: IdGenerator<R>,
        exporter: X,
    ) -> Self {
        let tracer = Self::unseeded(config, arena, clock, exporter);
        // A stuck generator leaves it unseeded: it records nothing (see `seed`).
        let _ = tracer.seed(ids);
        tracer
    }

    // `const` but under loom (whose atomics are built at run time): one body, two heads.
    unseeded! {
        /// Creates a tracer that records nothing until [`Tracer::seed`] gives it the keys
        /// of its span and trace ids: `const`, so it can be a plain `static`, built before
        /// the hardware RNG that seeds it is up.
        pub fn unseeded(config: TracerConfig<S>, arena: A, clock: C, exporter: X) -> Self {
            let shards = if A::SHARDS == 0 { 1 } else { A::SHARDS };
            let per_shard = config.export_batch_size / shards;
            let interval = config.export_interval.as_nanos();
            Self {
                resource: config.resource,
                scope: config.scope,
                limits: config.limits,
                enabled: config.enabled,
                active: AtomicBool::new(false),
                export_batch_size: config.export_batch_size,
                export_check_mask: if per_shard <= 1 {
                    0
                } else {
                    (1 << per_shard.ilog2()) - 1
                },
                export_interval_nanos: if interval > u64::MAX as u128 {
                    u64::MAX
                } else {
                    interval as u64
                },
                export_signal: config.export_signal,
                full_arena_retries: config.full_arena_retries,
                full_arena_pause: config.full_arena_pause,
                sampler: config.sampler,
                sampler_state: TryLock::new(config.sampler),
                sampler_traits: AtomicU8::new(0),
                keys: IdKeys::unseeded(),
                last_export: Atomic64::new(0),
                clock,
                arena,
                exporter: TryLock::new(exporter),
                drain_requested: AtomicBool::new(false),
                trigger_missed: AtomicBool::new(false),
                full_wait_ran_out: AtomicBool::new(false),
                counters: Counters::new(),
                shut_down: AtomicBool::new(false),
            }
        }
    }

    /// Seeds the span and trace ids from `ids` (a hardware RNG, OS entropy) and, unless
    /// the config disabled tracing, switches recording on. Call it once, before spans
    /// start on other threads or interrupts; a second call draws new keys.
    ///
    /// Returns `false`, changing nothing, when `ids` looks stuck: seeded from one word
    /// eight times over, or giving zero or repeated keys (a hardware RNG read before it
    /// is clocked). Every device would then make the same ids; spans of a tracer never
    /// seeded are not recorded, and propagate their parent's context.
    #[must_use = "false: the generator looked stuck, and the tracer records nothing"]
    pub fn seed<R: RngCore>(&self, mut ids: IdGenerator<R>) -> bool {
        if !self.keys.seed(&mut ids) {
            return false;
        }
        let s = &self.sampler;
        let bit = |holds: bool, bit: u8| if holds { bit } else { 0 };
        let traits = bit(s.uses_clock(), SAMPLER_USES_CLOCK)
            | bit(s.records_every_root(), SAMPLER_RECORDS_EVERY_ROOT)
            | bit(
                s.records_sampled_local_children(),
                SAMPLER_RECORDS_LOCAL_CHILDREN,
            )
            | bit(s.drops_every_root(), SAMPLER_DROPS_EVERY_ROOT)
            | SEEDED;
        // Publishes the keys to a disabled tracer's span starts.
        self.sampler_traits.store(traits, Ordering::Release);
        self.last_export
            .store(self.clock.now().as_unix_nanos(), Ordering::Relaxed);
        // Publishes the keys to every span start (which acquires the flag). A tracer
        // already shut down stays a no-op (found by review: seeding it again, as
        // firmware may on waking, switched recording back on).
        let on = self.enabled && !self.shut_down.load(Ordering::SeqCst);
        #[cfg(test)]
        tests::hook(tests::Hook::Activate);
        self.active.store(on, Ordering::SeqCst);
        // A shutdown may have come between the check and the store (found by review:
        // recording came back on). Shutdown raises its flag before it clears
        // `active`, all SeqCst: either this load sees the flag, or shutdown's clear
        // comes after this store.
        if on && self.shut_down.load(Ordering::SeqCst) {
            self.active.store(false, Ordering::SeqCst);
        }
        true
    }

    /// Asks the sampler, or the answers kept at seeding (`bit` of `sampler_traits`).
    #[inline]
    fn sampler_trait(&self, bit: u8, ask: impl Fn(&S) -> bool) -> bool {
        if S::FIXED_TRAITS {
            ask(&self.sampler)
        } else {
            // Read after the span start acquired `active`, which seeding released.
            self.sampler_traits.load(Ordering::Relaxed) & bit != 0
        }
    }

    /// The answers kept at seeding, read once for a span start that checks several
    /// ([`Self::sampler_trait_in`]): one load, not one per check.
    #[inline(always)]
    fn sampler_traits_now(&self) -> u8 {
        if S::FIXED_TRAITS {
            0
        } else {
            // Read after the span start acquired `active`, which seeding released.
            self.sampler_traits.load(Ordering::Relaxed)
        }
    }

    /// [`Self::sampler_trait`] from answers read by [`Self::sampler_traits_now`].
    #[inline(always)]
    fn sampler_trait_in(&self, traits: u8, bit: u8, ask: impl Fn(&S) -> bool) -> bool {
        if S::FIXED_TRAITS {
            ask(&self.sampler)
        } else {
            traits & bit != 0
        }
    }

    #[inline]
    fn sampler_uses_clock(&self) -> bool {
        self.sampler_trait(SAMPLER_USES_CLOCK, S::uses_clock)
    }

    /// Returns `true` once [`Tracer::seed`] has run (or the tracer was built by
    /// [`Tracer::new`]) and tracing is enabled.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Reads the tracer's clock: the time a span started now would get, for
    /// [`Span::end_at`](crate::Span::end_at) and [`SpanBuilder::start_time`].
    #[inline]
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Exports every span ended so far, on any thread, waiting for an export already
    /// running on another thread to finish first. Must not be called from inside the
    /// exporter, nor from an interrupt handler: one that interrupts an export would wait
    /// for ever for code that cannot run until it returns (use [`Tracer::try_flush`]
    /// there). Returns how many spans this call handed to the exporter.
    ///
    /// While another thread or task exports it pauses with
    /// [`TracerConfig::full_arena_pause`] (a spin-loop hint by default), for as long as
    /// the export takes: on an RTOS whose higher-priority task flushes while a lower one
    /// exports, a pause that blocks for a moment (`vTaskDelay(1)`, `k_sleep`; a yield
    /// runs only tasks of the same priority or higher) lets the exporter finish (found
    /// by review: it spun, and the two tasks stalled). [`Tracer::shutdown_with`] takes
    /// a flush of the caller's own.
    ///
    /// A tracer of picotrace-std's `TracerProvider` is flushed, shut down and counted
    /// through the provider, which knows its export thread and exporter.
    pub fn flush(&self) -> usize {
        let mut pauses = 0u32;
        loop {
            if let Some(n) = self.try_flush() {
                return n;
            }
            // Its answer ("stop waiting") is for a full arena's wait: a flush waits
            // for the export it asked for, with a spin-loop hint at least (the std
            // adapter's pause returns at once on a thread inside an export).
            if !(self.full_arena_pause)(pauses) {
                core::hint::spin_loop();
            }
            pauses = pauses.saturating_add(1);
        }
    }

    /// Exports every span ended so far unless an export is already running (then
    /// returns `None` at once): for interrupt handlers and triggers.
    pub fn try_flush(&self) -> Option<usize> {
        let exported = self.exporter.try_with(|x| self.drain_triggered(x));
        #[cfg(test)]
        tests::hook(tests::Hook::Serve);
        // What the drains that served requests and missed triggers handed over counts
        // too (found by review: only the first drain was counted).
        let served = self.serve_drain_requests();
        match exported {
            Some(n) => Some(n + served),
            // Held by another, which let go in time for the drains served here: an
            // export ran, and what it handed over counts (found by review: `None`, as
            // if none had, and its spans left out of the flush's count).
            None if served > 0 => Some(served),
            None => None,
        }
    }

    /// Exports what has ended, clearing a missed trigger (its spans are in this
    /// drain's snapshot: they ended before it was set).
    fn drain_triggered(&self, exporter: &mut X) -> usize {
        self.trigger_missed.swap(false, Ordering::AcqRel);
        self.export_ended(exporter)
    }

    /// Drains once more for each span that ended after shutdown and found the exporter
    /// held (by another thread, or by this one inside its exporter, so it could not
    /// wait): whoever lets go of the exporter next does it. The request and the lock
    /// are a Dekker pair: each side stores its own flag, fences, then reads the other's,
    /// so either the requester takes the lock or the holder, after letting go, sees
    /// the request. A request is cleared under the lock before the drain takes its
    /// snapshot, and the span was queued before its request was made.
    ///
    /// A trigger that found the exporter held (an interrupt taken during an export,
    /// another thread; found by review: it was lost, and its spans waited for the next
    /// trigger) is served here too, in the same way, but at most
    /// [`MISSED_TRIGGER_ROUNDS`] times a call: an exporter whose own spans meet the
    /// trigger each time would loop. One still set after those is served by the
    /// exporter's next user. Returns how many spans these drains handed over.
    fn serve_drain_requests(&self) -> usize {
        let mut served = 0;
        let mut rounds = MISSED_TRIGGER_ROUNDS;
        loop {
            fence(Ordering::SeqCst);
            let missed = rounds > 0 && self.trigger_missed.load(Ordering::Acquire);
            if !missed && !self.drain_requested.load(Ordering::Acquire) {
                return served;
            }
            rounds = rounds.saturating_sub(1);
            let drained = self.exporter.try_with(|x| {
                // A read-modify-write on both sides: the request this clears is the
                // last one made, and acquiring it makes that requester's span (queued
                // before it asked) visible to the snapshot below. A plain store here
                // could be ordered after a request whose span the snapshot misses.
                self.drain_requested.swap(false, Ordering::AcqRel);
                self.drain_triggered(x)
            });
            match drained {
                Some(n) => served += n,
                // Held again: that holder serves it when it lets go.
                None => return served,
            }
        }
    }

    /// Stops the tracer: spans started from now on do not record (a no-op tracer, as
    /// the spec asks of a shut-down provider: a child passes its parent's context on
    /// unchanged), spans that end from now on are dropped and counted
    /// ([`TracerStats::spans_dropped_shutdown`]), then everything ended so far is
    /// exported. Returns the counters after that export. Later calls only flush. Not
    /// from an interrupt handler: it flushes as [`Tracer::flush`] does.
    pub fn shutdown(&self) -> TracerStats {
        self.shutdown_with(|tracer| {
            tracer.flush();
        })
    }

    /// [`Tracer::shutdown`] with the caller's own `flush` (run before the tracer stops
    /// and again after), for callers that can wait better than [`Tracer::flush`]'s
    /// pauses while another thread exports: a std thread sleeps.
    pub fn shutdown_with(&self, mut flush: impl FnMut(&Self)) -> TracerStats {
        flush(self);
        // New spans are no-ops from here (they recorded, were sampled and propagated
        // `sampled`, then were dropped at their end: found by review). The flag goes
        // up first, for `seed` (see there).
        self.shut_down.store(true, Ordering::SeqCst);
        self.active.store(false, Ordering::SeqCst);
        // Spans that were publishing while the flag went up.
        flush(self);
        self.stats()
    }

    /// Returns `true` once [`Tracer::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Relaxed)
    }

    /// Returns how many spans hold a slot and will be exported: running spans that
    /// record and are sampled, and ended ones not yet drained. What a shutdown now
    /// would lose; spans that only pass a tracestate on (sampled out, or tracing
    /// disabled) and recorded-but-unsampled spans are not counted, as they are never
    /// exported. Exact once the threads that trace are quiet.
    pub fn running_spans(&self) -> u64 {
        let unexported = self.counters.total(|s| &s.unexported_running);
        (self.arena.in_use() as u64).saturating_sub(unexported)
    }

    /// Returns the tracer's counters (each exact once the threads that trace are quiet).
    pub fn stats(&self) -> TracerStats {
        let c = &self.counters;
        let load = read;
        // Each part is read before the count it is taken from (both only grow); a
        // part's increment seen ahead of its count's is read as 0 by `counted_less`.
        let full_adopted = c.total(|s| &s.dropped_full_adopted);
        // A span moved to the arena-full drops late (`give_record`) bumps
        // `dropped_full_late` first, then the count it comes off (`roots_kept` or
        // `sampled_out_adopted`): those are read before it, so that on in-order CPUs a
        // move half seen counts the span twice for that moment rather than not at all;
        // exact once quiet, as every count. (Found by review: read after it, a move
        // between the two reads counted the span nowhere.)
        let roots_kept = c.total_of(Count::RootsKept);
        let out_adopted = c.total(|s| &s.sampled_out_adopted);
        #[cfg(all(test, not(loom)))]
        tests::between_stats_reads();
        // Adopted later, a span moved here is counted off `dropped_full_adopted` (found
        // by review: subtracted from `dropped_full` alone, it stayed counted here).
        let full_late = c.total(|s| &s.dropped_full_late);
        let dropped = counted_less(c.total(|s| &s.dropped_full) + full_late, full_adopted);
        // Roots sampled out before they claimed a slot.
        let roots_dropped = counted_less(c.total_of(Count::RootsNumbered), roots_kept);
        let sampled_out_unslotted =
            counted_less(c.total_of(Count::SampledOutUnslotted), out_adopted) + roots_dropped;
        TracerStats {
            spans_started: self.arena.claims() + sampled_out_unslotted + dropped,
            spans_sampled_out: sampled_out_unslotted + c.total(|s| &s.sampled_out_slotted),
            spans_dropped_arena_full: dropped,
            spans_recorded_after_arena_full: full_adopted,
            spans_exported: load(&c.exported),
            values_truncated: c.total(|s| &s.values_truncated),
            spans_export_failed: load(&c.export_failed),
            export_failures: load(&c.export_failures),
            spans_dropped_shutdown: load(&c.dropped_shutdown),
        }
    }

    /// Returns the arena (e.g. for its [`SpanStorage::in_use`]).
    pub fn arena(&self) -> &A {
        &self.arena
    }

    /// Runs `f` with the exporter (e.g. to read what it buffered), unless an export is
    /// running right now.
    pub fn with_exporter<T>(&self, f: impl FnOnce(&mut X) -> T) -> Option<T> {
        let result = self.exporter.try_with(f);
        #[cfg(test)]
        tests::hook(tests::Hook::Serve);
        let _ = self.serve_drain_requests();
        result
    }

    /// Returns the resource.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// Returns the per-span limits.
    pub fn limits(&self) -> &SpanLimits {
        &self.limits
    }

    /// Returns whether tracing is enabled.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Writes `traceparent` (and `tracestate`) for `span` into outgoing headers. The
    /// tracestate is read from the span's slot; without one, `tracestate` is removed
    /// ([`Injector::remove`]).
    pub fn inject_context(&self, span: &Span<'_>, headers: &mut (impl Injector + ?Sized)) {
        let cx = span.context();
        if !cx.is_valid() {
            return;
        }
        let traceparent = crate::wire::traceparent::Repr {
            version: 0,
            trace_id: cx.trace_id,
            parent_id: cx.span_id,
            flags: cx.flags,
        };
        let state = span.trace_state();
        crate::propagation::remove_trace_state_unless(headers, state);
        traceparent.with_header(|value| headers.set(crate::propagation::TRACEPARENT, value));
        crate::propagation::set_trace_state_if(headers, state);
    }

    /// Drains the ended queue into the exporter (the caller holds the exporter).
    fn export_ended(&self, exporter: &mut X) -> usize {
        let mut total = 0;
        let batch = match self.export_batch_size {
            0 => crate::span::arena::DRAIN_BATCH,
            n => n,
        };
        self.arena.drain(batch, &mut |drained| {
            let n = drained.len();
            if n == 0 {
                return;
            }
            total += n;
            let c = &self.counters;
            let stats = || self.stats();
            let batch = SpanBatch::new(drained, &self.resource, &self.scope, &stats);
            // If the exporter panics, the drain frees this batch and the ones after it
            // unread: counted as failed (found by review: they were lost uncounted).
            let on_panic = LostOnPanic {
                counters: c,
                spans: drained.left() as u64,
            };
            let result = {
                #[cfg(feature = "std")]
                let _quiet = suppress_spans();
                exporter.export(&batch)
            };
            core::mem::forget(on_panic);
            match result {
                Ok(()) => {
                    bump(&c.exported, n as u64);
                }
                // Nothing dropped: a success (found by review: a failed export).
                Err(crate::export::ExportError::Partial { dropped: 0 }) => {
                    bump(&c.exported, n as u64);
                }
                Err(crate::export::ExportError::Partial { dropped }) => {
                    let dropped = dropped.min(n) as u64;
                    bump(&c.exported, n as u64 - dropped);
                    bump(&c.export_failed, dropped);
                    bump(&c.export_failures, 1);
                }
                Err(_) => {
                    bump(&c.export_failed, n as u64);
                    bump(&c.export_failures, 1);
                }
            }
        });
        self.last_export
            .store(self.clock.now().as_unix_nanos(), Ordering::Relaxed);
        if total > 0 && self.full_wait_ran_out.load(Ordering::Relaxed) {
            self.full_wait_ran_out.store(false, Ordering::Relaxed);
        }
        total
    }

    /// A trigger fired with `waiting` spans queued.
    #[cold]
    fn export_due(&self, waiting: usize) {
        match self.export_signal {
            Some(signal) => signal.export_ready(waiting),
            None => self.trigger_export(),
        }
    }

    /// Exports what has ended on this thread, unless another is exporting: then that
    /// one exports again when it lets go (the trigger is not lost). Not on a thread
    /// that unwinds, where the spans wait for the next export. What the tracer does
    /// on a trigger without an [`ExportSignal`]; a signal's stage that exports on the
    /// span's thread after all calls it (found by review: its own `try_flush` lost a
    /// trigger that found the exporter held).
    pub fn trigger_export(&self) {
        // Whoever holds the exporter, or uses it next, exports again. The fence: the
        // flag before the lock is tried (see `try_flush`).
        self.trigger_missed.swap(true, Ordering::AcqRel);
        fence(Ordering::SeqCst);
        if !unwinding() {
            let _ = self.try_flush();
        }
    }

    /// Claims a slot; when the arena is full, exports once (unless an export is
    /// already running) and tries again.
    #[inline]
    fn claim(&self) -> Option<SlotRef<'_>> {
        match self.arena.claim() {
            Some(slot) => Some(slot),
            None => self.claim_after_export(),
        }
    }

    /// A slot for a span that is not recorded but must pass its parent's tracestate on
    /// (W3C: a tracestate received MUST be sent on): any free slot, else one freed by
    /// exporting the spans that wait, as for a recorded span.
    fn claim_for_trace_state(&self) -> Option<SlotRef<'_>> {
        match self.arena.claim_any() {
            Some(slot) => Some(slot),
            None => self.claim_after_export(),
        }
    }

    /// No slot for this thread (its shard is empty and no other has slots to spare):
    /// drain here unless an export is already running, then take any free slot (the
    /// last ones of other threads' shards too); with a full-arena wait configured,
    /// pause and retry (draining when the running export has finished) until a slot
    /// frees up or the retries run out, while spans wait for export.
    #[cold]
    fn claim_after_export(&self) -> Option<SlotRef<'_>> {
        if unwinding() {
            // No export on a thread that unwinds; the span is dropped and counted.
            return self.arena.claim_any();
        }
        let mut retries = if self.full_wait_ran_out.load(Ordering::Relaxed) {
            0
        } else {
            self.full_arena_retries
        };
        loop {
            let drained = self.try_flush();
            // What this drain exported may wait in a stage that runs on its own (the
            // frames a `FrameExporter` queued for an exporter task): it is told, or
            // they wait for its next batch, which may never come (found by review: an
            // embassy exporter task slept on them).
            if let (Some(signal), Some(1..)) = (self.export_signal, drained) {
                signal.export_ready(0);
            }
            // After the drain: it, or one another thread just finished, may have
            // freed slots.
            if let Some(slot) = self.arena.claim_any() {
                return Some(slot);
            }
            // This thread drained, found nothing ended and nothing waits now: every
            // slot holds a running span (a server with an arena's worth of requests
            // in flight), and only their ends free one. No export can help, and
            // waiting would cost every new span the whole wait: drop it now.
            if drained == Some(0) && self.arena.ended_len() == 0 {
                return None;
            }
            // Stopped after the wait's first pause: it ran out (the first may stop it
            // at once, on the thread that runs the exporter: not a wait that ran out).
            // Found by review: a wait the std adapter's pause ended by its time set no
            // flag, and with a stuck export every span start waited it all.
            let pauses = self.full_arena_retries - retries;
            if retries == 0 || !(self.full_arena_pause)(pauses) {
                if self.full_arena_retries > 0 && (retries == 0 || pauses > 0) {
                    self.full_wait_ran_out.store(true, Ordering::Relaxed);
                    // A drain that ended during the last pause cleared no mark (it was
                    // not set yet): the slots it freed show it, and clear this one
                    // (found by review: the mark stayed while the export was well).
                    if let Some(slot) = self.arena.claim_any() {
                        self.full_wait_ran_out.store(false, Ordering::Relaxed);
                        return Some(slot);
                    }
                }
                return None;
            }
            retries -= 1;
            if let Some(slot) = self.arena.claim_any() {
                return Some(slot);
            }
        }
    }

    /// [`SpanSampler::refund`] on the guarded sampler, waited for as a decision is; a
    /// refund that finds it held past the wait is lost (the limiter samples a span less
    /// in that second).
    #[cold]
    fn refund_sampler(&self, root: bool) {
        let mut retries = self.full_arena_retries;
        while self.sampler_state.try_with(|s| s.refund(root)).is_none() {
            if retries == 0 || !(self.full_arena_pause)(self.full_arena_retries - retries) {
                return;
            }
            retries -= 1;
        }
    }

    #[inline]
    fn decide(&self, params: &SamplingParams<'_>) -> SamplingResult {
        match self.sampler.decide_shared(params) {
            Some(result) => result,
            // A rate limiter in use by another thread: waited for as a full arena is
            // (the std adapter's yields; firmware's default of none: an interrupt must
            // not wait for the main loop), then the span is not sampled (and the
            // parent's `th` settled as for any drop). Found by review: it was dropped at
            // once, and threads starting roots together lost a fifth of them to each
            // other with credit to spare.
            None => {
                let mut retries = self.full_arena_retries;
                loop {
                    // The time read again under the lock, for a sampler that uses it
                    // (found by review: a reading taken before waiting for the lock
                    // could be more than a second older than one another thread gave
                    // the rate limiter first, which took it for the clock set back, and
                    // the next reading earned a second burst).
                    let decided = self.sampler_state.try_with(|s| {
                        if !self.sampler_uses_clock() {
                            s.decide_exclusive(params)
                        } else {
                            s.decide_exclusive(&SamplingParams {
                                now: self.clock.now(),
                                ..*params
                            })
                        }
                    });
                    if let Some(result) = decided {
                        return result;
                    }
                    if retries == 0 || !(self.full_arena_pause)(self.full_arena_retries - retries) {
                        return self.sampler.decide_busy(params);
                    }
                    retries -= 1;
                }
            }
        }
    }
}

impl<A, C, X, S> Tracer<A, C, X, S>
where
    A: SpanStorage,
    C: Clock + Sync,
    X: SpanExporter + Send,
    S: SpanSampler,
{
    /// Starts a root span (a new trace).
    #[inline]
    pub fn start_span(&self, name: &str) -> Span<'_> {
        // Disabled tracing costs a flag test: nothing else is built.
        if !self.is_recording() {
            if self.enabled {
                return self.root_while_off(SpanKind::Internal);
            }
            return Span::non_recording(SpanContext::INVALID);
        }
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

    /// Whether the sampler may decide by a span's attributes
    /// ([`SpanSampler::reads_attributes`]):
    /// instrumentation gathers them for it before the start only then.
    #[inline]
    pub fn sampler_reads_attributes(&self) -> bool {
        self.sampler.reads_attributes()
    }

    /// The sampler the tracer was configured with.
    pub fn sampler(&self) -> &S {
        &self.sampler
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
                attributes_for_sampler_only: false,
                links: &[],
                start_time: None,
            },
        }
    }

    #[inline]
    fn start_inner<'t>(&'t self, params: &StartParams<'_>) -> Span<'t> {
        // Borrowed, not copied: the parent's context stays where it is.
        // An invalid parent makes a root, and its tracestate goes with it (W3C: with no
        // valid traceparent, the tracestate is ignored).
        let (parent_cx, parent_state): (Option<&SpanContext>, &str) = match params.parent {
            Parent::Local(span) if span.context_ref().is_valid() => {
                (Some(span.context_ref()), span.trace_state())
            }
            Parent::Context(cx) if cx.span_context.is_valid() => {
                (Some(&cx.span_context), cx.trace_state.as_str())
            }
            _ => (None, ""),
        };
        // Only a sampler that reads time (rate limiting, custom) needs the clock before
        // the decision; everyone else reads it once, and only for recorded spans. The
        // sampler gets the clock's time, never a start time the caller gave (one in the
        // future would hold a rate limiter's credit back until the clock caught up).
        let traits = self.sampler_traits_now();
        let roots_always_recorded =
            self.sampler_trait_in(traits, SAMPLER_RECORDS_EVERY_ROOT, S::records_every_root);
        let uses_clock = self.sampler_trait_in(traits, SAMPLER_USES_CLOCK, S::uses_clock);
        let sampler_now = uses_clock.then(|| self.clock.now());
        // Read before any claim: a clock that panics (user code) then leaves no claim
        // counted without an outcome (found by review: read after the claim, the slot
        // freed in the unwind had counted a start that no outcome ever matched).
        let mut early_now = params.start_time.or(sampler_now);
        // The thread's set of counters, looked up only where a count needs it (a span
        // numbered on the thread's own cell does not).
        let (sets, wraps) = (&self.counters, &self.counters.number_wraps);
        // A root claims first: its slot numbers the new trace id. A child decides first
        // and claims only if it records (or must keep its parent's tracestate).
        let mut slot = None;
        let (trace_id, flags, root_number) = match parent_cx {
            Some(cx) => (cx.trace_id, cx.flags, 0),
            None if roots_always_recorded => {
                if early_now.is_none() {
                    early_now = Some(self.clock.now());
                }
                slot = self.claim();
                let n = match &slot {
                    Some(s) => IdKeys::slot_number(s.index(), s.generation()),
                    None => {
                        let c = sets.local::<A>();
                        SPARE_IDS | c.number(&c.spare_ids, wraps)
                    }
                };
                (self.keys.trace_id(n), TraceFlags::RANDOM_TRACE_ID, n)
            }
            None => {
                let n = ROOT_IDS | self.counters.number_unslotted::<A>(Count::RootsNumbered);
                (self.keys.trace_id(n), TraceFlags::RANDOM_TRACE_ID, n)
            }
        };
        let always = match parent_cx {
            None => roots_always_recorded,
            Some(cx) => {
                self.sampler_trait_in(
                    traits,
                    SAMPLER_RECORDS_LOCAL_CHILDREN,
                    S::records_sampled_local_children,
                ) && !cx.is_remote
                    && cx.is_sampled()
                    && parent_state.is_empty()
            }
        };
        let result = if always {
            SamplingResult::new(SamplingDecision::RecordAndSample)
        } else if parent_cx.is_none()
            && self.sampler_trait_in(traits, SAMPLER_DROPS_EVERY_ROOT, S::drops_every_root)
        {
            SamplingResult::new(SamplingDecision::Drop)
        } else {
            self.decide(&SamplingParams {
                parent: parent_cx,
                parent_trace_state: parent_state,
                trace_id,
                name: params.name,
                kind: params.kind,
                attributes: params.attributes,
                links: params.links,
                now: sampler_now.unwrap_or(Timestamp::ZERO),
            })
        };
        let recording = result.decision.is_recording();
        let flags = flags.with_sampled(result.decision.is_sampled());
        let is_root = parent_cx.is_none();
        if !recording && parent_state.is_empty() {
            // Nothing to keep, and no slot was claimed: only roots of an always-on
            // sampler claim before deciding, and those always record. A dropped root is
            // counted as `roots_numbered - roots_kept`.
            let (n, why) = if is_root {
                (root_number, Unrecorded::DroppedRoot)
            } else if matches!(params.parent, Parent::Local(p) if matches!(
                p.unstarted.why(),
                Unrecorded::ArenaFull | Unrecorded::ArenaFullParent
            )) {
                // Under a span the full arena refused (propagated unsampled, so this one
                // is not sampled either): lost to the full arena as well, and counted
                // there, not as sampled out.
                let c = sets.local::<A>();
                let n = DROPPED_IDS | c.number(&c.dropped_full, wraps);
                (n, Unrecorded::ArenaFullParent)
            } else {
                let n = SAMPLED_OUT_IDS
                    | self
                        .counters
                        .number_unslotted::<A>(Count::SampledOutUnslotted);
                (n, Unrecorded::SampledOut)
            };
            return Span::unrecorded(self, self.context(trace_id, n, flags), params.kind, why);
        }
        // A root a sampler kept is counted as kept once it counts elsewhere (claimed, or
        // dropped at the full arena), not before: `stats` reads `roots_kept` first, and
        // a read between the two saw the root neither dropped nor started (found by
        // review).
        #[cfg(all(test, not(loom)))]
        tests::before_a_kept_root_claims(is_root && !roots_always_recorded);
        // Recording, or sampled out but passing its parent's tracestate on.
        if slot.is_none() && (!is_root || !roots_always_recorded) {
            if early_now.is_none() {
                early_now = Some(self.clock.now());
            }
            slot = if recording {
                self.claim()
            } else {
                self.claim_for_trace_state()
            };
        }
        let Some(mut slot) = slot else {
            // The arena is full: propagate only, and not as sampled (the spec: the SDK
            // MUST NOT allow a sampled span that does not record; downstream would
            // record children of a span never exported).
            let flags = flags.with_sampled(false);
            // Lost only when it was to be exported: a `RecordOnly` span never is, so it
            // is sampled out, with a slot or without (found by review: counted lost).
            let (count, why) = if result.decision.is_sampled() {
                (
                    DROPPED_IDS | {
                        let c = sets.local::<A>();
                        let n = c.number(&c.dropped_full, wraps);
                        if is_root && !roots_always_recorded {
                            sets.count_kept_root::<A>();
                        }
                        n
                    },
                    Unrecorded::ArenaFull,
                )
            } else if is_root {
                // Not counted as kept: a dropped root (`roots_numbered - roots_kept`).
                (root_number, Unrecorded::DroppedRoot)
            } else {
                let n = SAMPLED_OUT_IDS
                    | self
                        .counters
                        .number_unslotted::<A>(Count::SampledOutUnslotted);
                (n, Unrecorded::SampledOut)
            };
            let n = if is_root { root_number } else { count };
            return Span::unrecorded(self, self.context(trace_id, n, flags), params.kind, why);
        };
        if is_root && !roots_always_recorded {
            sets.count_kept_root::<A>();
        }
        // Read before the claim above (every path that claims has).
        let now = early_now.unwrap_or_else(|| self.clock.now());
        if !recording {
            bump(&sets.local::<A>().sampled_out_slotted, 1);
        }
        if !(recording && flags.is_sampled()) {
            bump(&sets.local::<A>().unexported_running, 1);
        }
        let n = IdKeys::slot_number(slot.index(), slot.generation());
        let context = self.context(trace_id, n, flags);
        slot.record().init(&NewRecord {
            context,
            parent: parent_cx.map(|cx| cx.span_id),
            parent_is_remote: parent_cx.is_some_and(|cx| cx.is_remote),
            kind: params.kind,
            name: params.name,
            start: now,
            trace_state: if !changes_threshold(&result) {
                parent_state
            } else {
                ""
            },
        });
        // A changed tracestate is stored before the builder's attributes and links (as
        // `init` stores an unchanged one first: propagated, it is worth its bytes more).
        if changes_threshold(&result) {
            write_updated_trace_state(&mut slot, parent_state, result.threshold, Some(params.name));
        }
        // Most spans start without builder attributes, links or a sampler's attributes:
        // no record view for them. (A sampler type that gives none is not asked: the
        // test cost the Cortex-M3 W1 span 12 instructions.)
        let sampler_attributes = sampler_attributes::<S>(&result);
        if recording
            && !(params.attributes.is_empty()
                && params.links.is_empty()
                && sampler_attributes.is_empty())
        {
            let mut record = slot.record();
            if !params.attributes_for_sampler_only {
                record.set_attribute_list(params.attributes, &self.limits);
            }
            for link in params.links {
                record.add_link(
                    link.context,
                    link.trace_state,
                    link.attributes,
                    &self.limits,
                );
            }
            // What the sampler gives the span, after the builder's (its keys win).
            record.set_given_attributes(sampler_attributes, &self.limits);
        }
        Span::with_slot(self, &self.limits, slot, context, recording)
    }

    /// A span id numbered apart from the slots' (a span that gets its id outside a
    /// start: see [`Unrecorded::PassedOn`]).
    #[cold]
    fn spare_span_id(&self) -> crate::id::SpanId {
        let c = self.counters.local::<A>();
        let n = SPARE_IDS | c.number(&c.spare_ids, &self.counters.number_wraps);
        self.keys.span_id(n)
    }

    #[inline]
    fn context(&self, trace_id: crate::id::TraceId, n: u64, flags: TraceFlags) -> SpanContext {
        SpanContext {
            trace_id,
            span_id: self.keys.span_id(n),
            flags,
            is_remote: false,
        }
    }
}

/// Whether a sampling result changes the new span's tracestate: the OTEP 235 `th` it
/// writes or erases. Never without the `otep235` feature (or `tracestate`): the `ot`
/// entry then goes on as the parent had it, as any vendor's does.
#[inline]
fn changes_threshold(result: &SamplingResult) -> bool {
    crate::sampler::OTEP_235 && result.threshold != ThresholdUpdate::Keep
}

/// Writes the parent's tracestate with the sampler's `ot` threshold change into `slot`:
/// before the span's `name` when given (a span just started, whose name is its only
/// text), else into the room left. Kept out of line: its 512-byte `TraceState` then
/// costs stack only when a probability sampler changes a threshold.
#[inline(never)]
fn write_updated_trace_state(
    slot: &mut SlotRef<'_>,
    parent_state: &str,
    change: ThresholdUpdate,
    name: Option<&str>,
) {
    let mut updated = TraceState::parse(parent_state).unwrap_or_default();
    let th = match change {
        ThresholdUpdate::Set(th) => Some(th),
        _ => None,
    };
    if updated.set_ot_threshold(th).is_err() && updated.set_ot_threshold(None).is_err() {
        // The `ot` value would outgrow its 256 characters: the threshold is erased
        // instead (a probability unknown is what a missing `th` says), keeping `rv`
        // (the spec: the same `rv` goes out), and the other vendors' members. Only if
        // even that fails does the member go. (A malformed value refuses the write and
        // is kept as it came.)
        updated.remove("ot");
    }
    // Cut in place if the span's text pool is short of room: one `TraceState` on this
    // stack, not a second parsed from it (found by review: +0.5 KB of stack).
    match name {
        Some(name) => slot
            .record()
            .put_trace_state_before_name(&mut updated, name),
        None => slot.record().set_parsed_trace_state(&mut updated),
    }
}

impl<A, C, X, S> SpanOwner for Tracer<A, C, X, S>
where
    A: SpanStorage,
    C: Clock + Sync,
    X: SpanExporter + Send,
    S: SpanSampler,
{
    #[inline]
    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    #[inline]
    fn end_span(&self, mut slot: SlotRef<'_>, recording: bool, time: Option<Timestamp>) {
        if !recording {
            unbump(&self.counters.local::<A>().unexported_running);
            slot.release();
            return;
        }
        // A span ended while its thread unwinds (dropped by the panic: a handler's
        // server span) ended because of it (feature `std`; found by review: it was
        // exported Unset, as if the request had succeeded). Here, not in `Span::drop`,
        // where the check kept the drop from being inlined (+31 instructions on W1).
        // Not one started while the thread was already unwinding (a clean-up in a
        // `Drop`): the panic did not cut it short (found by review: marked too).
        #[cfg(feature = "std")]
        if std::thread::panicking() {
            mark_panicked(&mut slot);
        }
        let now = match time {
            Some(time) => time,
            None => {
                let on_panic = EndLostOnPanic::<A> {
                    counters: &self.counters,
                    slot: &slot,
                    storage: core::marker::PhantomData,
                };
                let now = self.clock.now();
                core::mem::forget(on_panic);
                now
            }
        };
        if !slot.record().end(now) {
            // Recorded but not sampled (`SamplingDecision::RecordOnly`, or moved under
            // an unsampled parent): the spec's sampling table gives such spans to span
            // processors, never to exporters. Counted as sampled out.
            let c = self.counters.local::<A>();
            bump(&c.sampled_out_slotted, 1);
            unbump(&c.unexported_running);
            slot.release();
            return;
        }
        if self.shut_down.load(Ordering::Relaxed) {
            bump(&self.counters.dropped_shutdown, 1);
            slot.release();
            return;
        }
        // Cuts have no OTLP field: counted for the stats as the span is published (found
        // by review: a value cut to the room left in its span's pool went out looking
        // whole). Here, where the header is in this thread's cache, on this thread's
        // counter set: summed by the export thread as it drained, it read for every
        // span a line the span's thread writes.
        let cut = slot.record().header.truncated;
        if cut > 0 {
            bump(&self.counters.local::<A>().values_truncated, u64::from(cut));
        }
        #[cfg(test)]
        tests::hook(tests::Hook::Publish);
        let waiting = slot.publish();
        // A shutdown that started between the check above and the publish may have
        // drained already: drain (and count) what it missed. The publish and this load
        // are SeqCst, as are shutdown's flag store and its drain: one of the two sees
        // the other. An export in progress may have taken its snapshot before the
        // publish and cannot be waited for (an exporter that ends spans after shutdown
        // holds the lock itself): the request makes its holder drain again.
        if self.shut_down.load(Ordering::SeqCst) {
            // A swap, not a store: requests from several threads form one release
            // sequence, so the holder that clears the last sees every span before it.
            self.drain_requested.swap(true, Ordering::AcqRel);
            // Not on a thread that unwinds (see `unwinding`): the request stays for
            // the exporter's next user (a flush, the tracer's drop).
            if !unwinding() {
                let _ = self.serve_drain_requests();
            }
            return;
        }
        // The total over every queue is added up each time this queue grows by another
        // share of the batch, not on every end past it: the sum reads every queue's
        // head, lines the other threads are writing. An export stage that is signalled
        // (the std export thread) is signalled when this queue reaches the batch, and
        // then again only at those shares: it drains until less than a batch waits and
        // looks at the queues before it parks, so a signal per end past the batch (a
        // call and a shared load each) only cost the span threads time.
        let batch = self.export_batch_size;
        let by_count = batch != 0
            && ((waiting >= batch && (self.export_signal.is_none() || waiting == batch))
                || (waiting & self.export_check_mask == 0 && self.arena.ended_len() >= batch));
        // Plain nanoseconds: a `Duration` here would pull 64-bit division into firmware.
        // An explicit end time (`end_at`) may be anything: only the clock's own time
        // says whether the interval has passed, read for it then (found by review:
        // spans ended `end_at` never fired the trigger, and a program that ended all its
        // spans so exported only when the arena filled).
        // A clock set back by more than the interval (an RTC set, found by review) is
        // due at once: the export then counts from the new time (a smaller step back,
        // or a reading a little older than another thread's export, waits as usual).
        // Not when the count fired: an explicit end time's clock read is spared.
        let by_time = !by_count && self.export_interval_nanos != 0 && {
            let now = match time {
                None => now,
                Some(_) => self.clock.now(),
            };
            let (now, last) = (
                now.as_unix_nanos(),
                self.last_export.load(Ordering::Relaxed),
            );
            let interval = self.export_interval_nanos;
            now.saturating_sub(last) >= interval || now.saturating_add(interval) < last
        };
        if by_count || by_time {
            self.export_due(waiting);
        }
    }

    fn set_parent<'t>(
        &'t self,
        span: &mut Span<'t>,
        parent: &TraceContext,
        made: Option<&AsMade<'_>>,
    ) {
        let created = made.map(|made| made.created);
        let cx = &parent.span_context;
        if !self.is_recording() || !cx.is_valid() {
            return;
        }
        let state = parent.trace_state.as_str();
        let made_name = made.map_or("", |made| made.name);
        let (name, kind) = match &span.slot {
            Some(slot) => {
                let data = slot.data();
                // A record made here earlier only to pass a tracestate on has no name
                // (found by review: a second `set_parent_as_made` was decided on "").
                let name = match data.name() {
                    "" => made_name,
                    name => name,
                };
                (name, data.kind())
            }
            None => (made_name, span.unstarted.kind()),
        };
        let was_exportable = span.recording && span.context.is_sampled();
        // Decided again: what the first decision took from a rate limiter goes back. A
        // span the full arena refused was sampled too (found by review); without a
        // record, whether it was a root is not known: refunded by samplers that decide
        // every span alike.
        if was_exportable || span.unstarted.why() == Unrecorded::ArenaFull {
            let root = span
                .slot
                .as_ref()
                .is_some_and(|slot| slot.data().parent_span_id().is_none());
            if self.sampler.refunds(root) {
                self.refund_sampler(root);
            }
        }
        let result = self.decide(&SamplingParams {
            parent: Some(cx),
            parent_trace_state: state,
            trace_id: cx.trace_id,
            name,
            kind,
            // What the span was built with is not kept, unless the caller kept it: a
            // new parent is decided on its name and kind.
            attributes: made.map_or(&[], |made| made.attributes),
            links: &[],
            now: if self.sampler_uses_clock() {
                self.clock.now()
            } else {
                Timestamp::ZERO
            },
        });
        let passed_on = span.unstarted.why() == Unrecorded::PassedOn;
        span.context = SpanContext {
            trace_id: cx.trace_id,
            span_id: if passed_on {
                self.spare_span_id()
            } else {
                span.context.span_id
            },
            flags: cx.flags.with_sampled(result.decision.is_sampled()),
            is_remote: false,
        };
        let recording = result.decision.is_recording();
        let slot = match span.slot.as_mut() {
            Some(slot) if passed_on => {
                // Its record only kept the old parent's tracestate: it starts now.
                let start = created.unwrap_or_else(|| self.clock.now());
                slot.record().start_passed_on(span.unstarted.kind(), start);
                span.unstarted = Unstarted::new(span.unstarted.kind(), Unrecorded::Uncounted);
                slot
            }
            Some(slot) => slot,
            None => {
                self.give_record(span, cx, state, result, created);
                return;
            }
        };
        // A changed tracestate is the only one stored (a copy of the parent's first
        // could take the room the changed one needs).
        let new_threshold = changes_threshold(&result);
        let kept = if new_threshold { "" } else { state };
        slot.record().set_parent(span.context, cx, kept);
        if new_threshold {
            write_updated_trace_state(slot, state, result.threshold, None);
        }
        // What the earlier decision gave goes with it (found by a new user's tryout: a
        // `tracing` span given its caller kept its root sampler's attributes); a key the
        // new one gives again is written over, in its room.
        if S::GIVES_ATTRIBUTES {
            slot.record().mark_given_stale();
        }
        let given = sampler_attributes::<S>(&result);
        if recording && !given.is_empty() {
            let mut record = slot.record();
            // Those it does not give again go first: their room is the new ones'.
            record.take_stale_attributes(given);
            record.set_given_attributes(given, &self.limits);
        }
        if S::GIVES_ATTRIBUTES {
            slot.record().take_stale_attributes(&[]);
        }
        match (span.recording, recording) {
            (true, false) => {
                span.recording = false;
                bump(&self.counters.local::<A>().sampled_out_slotted, 1);
            }
            (false, true) => {
                span.recording = true;
                self.counters
                    .local::<A>()
                    .sampled_out_slotted
                    .fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        }
        match (was_exportable, recording && span.context.is_sampled()) {
            (true, false) => {
                bump(&self.counters.local::<A>().unexported_running, 1);
            }
            (false, true) => unbump(&self.counters.local::<A>().unexported_running),
            _ => {}
        }
    }

    #[inline]
    fn start<'t>(&'t self, params: &StartParams<'_>) -> Span<'t> {
        // Disabled tracing must cost next to nothing: decide before anything else.
        if !self.is_recording() {
            // A root: no parent, or an invalid one (a root's child before the seed).
            let root = match params.parent {
                Parent::Root => true,
                Parent::Local(span) => !span.context_ref().is_valid(),
                Parent::Context(cx) => !cx.span_context.is_valid(),
            };
            if root {
                if self.enabled {
                    return self.root_while_off(params.kind);
                }
                return Span::non_recording(SpanContext::INVALID);
            }
            return self.start_disabled(params);
        }
        if spans_suppressed() {
            return Self::start_suppressed(params);
        }
        self.start_inner(params)
    }
}

impl<A, C, X, S> Tracer<A, C, X, S>
where
    A: SpanStorage,
    C: Clock + Sync,
    X: SpanExporter + Send,
    S: SpanSampler,
{
    /// A root of an enabled tracer that does not record now: not seeded yet (a
    /// `static` tracer at boot, or one being seeded), or shut down. Before the seed it
    /// keeps the tracer, so that its children started after the seed record, as new
    /// traces, as `start_span_with_parent(.., &it)` does (found by review:
    /// `boot.child(..)` never recorded, for as long as a span opened before the seed
    /// lived). It is passed on (`Unrecorded::PassedOn`): a record `set_parent` gives it
    /// later takes an id of its own (found by review: it took the invalid id, zero).
    /// Not while spans are suppressed: those never get a tracer.
    #[cold]
    #[inline(never)]
    fn root_while_off(&self, kind: SpanKind) -> Span<'_> {
        if self.shut_down.load(Ordering::Relaxed) || spans_suppressed() {
            return Span::non_recording(SpanContext::INVALID);
        }
        Span::unrecorded(self, SpanContext::INVALID, kind, Unrecorded::PassedOn)
    }

    /// `set_parent` of a span without a record: one is started now when the span
    /// records under its new parent, or must keep the parent's tracestate (with no
    /// name, the span's kind, starting now); the count of its start moves from where
    /// it was counted (dropped root, sampled out, arena full) to the arena's claims.
    /// Without room it stays a span that only propagates.
    #[cold]
    fn give_record<'t>(
        &'t self,
        span: &mut Span<'t>,
        cx: &SpanContext,
        state: &str,
        result: SamplingResult,
        created: Option<Timestamp>,
    ) {
        let recording = result.decision.is_recording();
        // Whether a span the full arena refused holds a rate limiter's token is what
        // its label says, for the next decision's refund: sampled now, it took one;
        // not, it holds none (the last decision's was given back). Found by review:
        // labels kept from before charged the limiter twice, or refunded it twice.
        let sampled = result.decision.is_sampled();
        let label_token = |span: &mut Span<'t>| {
            let why = match span.unstarted.why() {
                Unrecorded::ArenaFull if !sampled => Unrecorded::ArenaFullParent,
                Unrecorded::ArenaFullParent if sampled => Unrecorded::ArenaFull,
                _ => return,
            };
            span.unstarted = Unstarted::new(span.unstarted.kind(), why);
        };
        if !recording && state.is_empty() {
            label_token(span);
            return;
        }
        // A free slot of any shard, else none: no export here, nor a wait for one (found
        // by review: the `tracing` layer calls this under its span table's lock, and
        // a full arena held every thread using that lock up for the whole configured
        // wait; then, that this thread's shard alone refused a record with most of the
        // arena free; then, that the export it ran to free a slot was the user's
        // exporter, under that lock).
        // Read before the claim: a clock that panics (user code) then leaves no claim
        // counted without its outcome.
        let start = created.unwrap_or_else(|| self.clock.now());
        let claimed = self.arena.claim().or_else(|| self.arena.claim_any());
        let Some(mut slot) = claimed else {
            // No room: it propagates only, not as sampled (see `start_inner`). A span
            // its new parent records and samples is one the full arena dropped: its
            // count moves there from where it was (found by review: it stayed sampled
            // out, and no flush reported a loss).
            if recording && result.decision.is_sampled() {
                let c = self.counters.local::<A>();
                // Where its count comes off: none for a span counted nowhere yet (passed
                // on before seeding; found by review: it stayed counted nowhere).
                let moved = match span.unstarted.why() {
                    Unrecorded::SampledOut => Some(Some(&c.sampled_out_adopted)),
                    Unrecorded::DroppedRoot => Some(Some(&c.roots_kept)),
                    Unrecorded::Uncounted | Unrecorded::PassedOn => Some(None),
                    Unrecorded::ArenaFull | Unrecorded::ArenaFullParent => None,
                };
                if let Some(counted_off) = moved {
                    // This first: `stats` reads it before the count it comes off.
                    bump(&c.dropped_full_late, 1);
                    if let Some(counted_off) = counted_off {
                        bump(counted_off, 1);
                    }
                    // Counted there now: a later move finds it there.
                    span.unstarted = Unstarted::new(span.unstarted.kind(), Unrecorded::ArenaFull);
                }
            }
            label_token(span);
            span.context.flags = span.context.flags.with_sampled(false);
            return;
        };
        slot.record().init(&NewRecord {
            context: span.context,
            parent: Some(cx.span_id),
            parent_is_remote: cx.is_remote,
            kind: span.unstarted.kind(),
            name: "",
            start,
            trace_state: if !changes_threshold(&result) {
                state
            } else {
                ""
            },
        });
        if changes_threshold(&result) {
            write_updated_trace_state(&mut slot, state, result.threshold, Some(""));
        }
        let given = sampler_attributes::<S>(&result);
        if recording && !given.is_empty() {
            slot.record().set_given_attributes(given, &self.limits);
        }
        let c = self.counters.local::<A>();
        match span.unstarted.why() {
            Unrecorded::DroppedRoot => {
                bump(&c.roots_kept, 1);
            }
            Unrecorded::SampledOut => {
                bump(&c.sampled_out_adopted, 1);
            }
            Unrecorded::ArenaFull | Unrecorded::ArenaFullParent => {
                bump(&c.dropped_full_adopted, 1);
            }
            Unrecorded::Uncounted | Unrecorded::PassedOn => {}
        }
        if !recording {
            bump(&c.sampled_out_slotted, 1);
        }
        if !(recording && span.context.is_sampled()) {
            bump(&c.unexported_running, 1);
        }
        span.slot = Some(slot);
        span.recording = recording;
        span.limits = &self.limits;
        span.unstarted = Unstarted::new(span.unstarted.kind(), Unrecorded::Uncounted);
    }

    /// A span started under `suppress_spans` (feature `std`): its parent's context
    /// passed on, no record, no slot, and no owner, so that no later
    /// [`crate::Span::set_parent`] (on whichever thread) gives it one (found by review:
    /// made by the disabled path, such a span could be given a record there).
    #[cold]
    #[inline(never)]
    fn start_suppressed<'t>(params: &StartParams<'_>) -> Span<'t> {
        Span::non_recording(match params.parent {
            Parent::Root => SpanContext::INVALID,
            Parent::Local(span) => span.context(),
            Parent::Context(cx) => cx.span_context,
        })
    }

    /// Disabled: nothing recorded, but a child of a valid unsampled context still gets
    /// an id of its own (W3C: a new parent-id per outgoing request); a child of a
    /// sampled one passes it on as it came, as the OpenTelemetry API without an SDK
    /// does (an id of its own, flagged sampled but never exported, would be a gap in
    /// the trace: the SDK spec's sampled-and-not-recording that it "MUST NOT allow";
    /// found by review). Either keeps its parent's tracestate (W3C: a tracestate
    /// received MUST be passed on): a span with one holds a slot for it, counted as
    /// started and sampled out, as a sampled-out span's is.
    #[cold]
    fn start_disabled<'t>(&'t self, params: &StartParams<'_>) -> Span<'t> {
        // Suppressed spans never record, here too: this span would keep the tracer,
        // and `set_parent` after the seed could give it a record (found by review).
        if spans_suppressed() {
            return Self::start_suppressed(params);
        }
        let (parent, parent_state) = match params.parent {
            Parent::Root => (SpanContext::INVALID, ""),
            Parent::Local(span) => (span.context(), span.trace_state()),
            Parent::Context(cx) => (cx.span_context, cx.trace_state.as_str()),
        };
        if !parent.is_valid() {
            return Span::non_recording(SpanContext::INVALID);
        }
        let c = self.counters.local::<A>();
        // Not seeded yet (a `static` tracer at boot), whether the config disabled
        // tracing or not: the id keys are not random, so every device would make the
        // same ids, one trace's spans then sharing a parent-id. Or shut down: a no-op
        // tracer. The parent's context is passed on unchanged, as the OpenTelemetry API
        // without an SDK does.
        let seeded = self.sampler_traits.load(Ordering::Acquire) & SEEDED != 0;
        let passed_on = !seeded
            || parent.is_sampled()
            || self.shut_down.load(Ordering::Relaxed)
            || (self.enabled && !self.active.load(Ordering::Acquire));
        let context = if passed_on {
            parent
        } else {
            SpanContext {
                span_id: self.spare_span_id(),
                is_remote: false,
                ..parent
            }
        };
        if cfg!(feature = "tracestate") && !parent_state.is_empty() {
            if let Some(mut slot) = self.claim_for_trace_state() {
                bump(&c.sampled_out_slotted, 1);
                bump(&c.unexported_running, 1);
                slot.record()
                    .init_trace_state_only(context, parent_state, params.kind);
                let mut span = Span::with_slot(self, &self.limits, slot, context, false);
                if passed_on {
                    span.unstarted = Unstarted::new(params.kind, Unrecorded::PassedOn);
                }
                return span;
            }
        }
        let why = if passed_on {
            Unrecorded::PassedOn
        } else {
            Unrecorded::Uncounted
        };
        Span::unrecorded(self, context, params.kind, why)
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

impl<'t, 'a, A, C, X, S> SpanBuilder<'t, 'a, Tracer<A, C, X, S>>
where
    A: SpanStorage,
    C: Clock + Sync,
    X: SpanExporter + Send,
    S: SpanSampler,
{
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

    /// Sets attributes known at start: the sampler sees them
    /// ([`SamplingParams::attributes`](crate::sampler::SamplingParams::attributes)), and they
    /// are recorded when the span records.
    pub fn attributes(mut self, attributes: &'a [KeyValue<'a>]) -> Self {
        self.params.attributes = attributes;
        self.params.attributes_for_sampler_only = false;
        self
    }

    /// Sets attributes the sampler sees
    /// ([`SamplingParams::attributes`](crate::sampler::SamplingParams::attributes)) but
    /// that are not recorded (instead of [`attributes`](Self::attributes)): for
    /// instrumentation that records its attributes itself once the span records, with
    /// `&'static` keys, which a span stores without copying their text.
    pub fn sampler_attributes(mut self, attributes: &'a [KeyValue<'a>]) -> Self {
        self.params.attributes = attributes;
        self.params.attributes_for_sampler_only = true;
        self
    }

    /// Sets links to other spans, each with its attributes (the sampler sees them:
    /// [`SamplingParams::links`](crate::sampler::SamplingParams::links)).
    ///
    /// A span keeps as many links as its slot has room for (the arena's `LINKS`
    /// parameter; 4 in picotrace-std, `PICOTRACE_SPAN_LINKS` at compile time), however
    /// high [`SpanLimits::link_count`](crate::SpanLimits::link_count) is (OpenTelemetry's
    /// default: 128): the rest are dropped and counted (`dropped_links_count`). A batch
    /// span that links every message it handles needs that room raised.
    pub fn links(mut self, links: &'a [crate::Link<'a>]) -> Self {
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

/// What a sampler's decision gives a span to record ([`SamplingResult::attributes`]):
/// none, without looking, from a sampler type that gives none.
#[inline]
fn sampler_attributes<S: SpanSampler>(result: &SamplingResult) -> &'static [KeyValue<'static>] {
    if S::GIVES_ATTRIBUTES {
        result.attributes
    } else {
        &[]
    }
}

/// Gives a span that ends during a panic the status `Error("panicked")`, unless one
/// was set or it began while the thread was already unwinding (the record's rule, which
/// the `tracing` layer's spans ended after a caught panic share). Out of line: taken
/// only while a thread unwinds.
#[cfg(feature = "std")]
#[cold]
#[inline(never)]
fn mark_panicked(slot: &mut SlotRef<'_>) {
    slot.record().cut_short_by_a_panic();
}

#[cfg(test)]
mod tests;
mod thread_counts;
