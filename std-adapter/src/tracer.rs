//! [`TracerProvider`]: the std face of picotrace's concurrency model. Every thread that
//! traces gets a core [`picotrace::Tracer`] of its own (a [`LocalLock`]: no shared lock,
//! no atomics on the span hot path); all of them feed one [`SharedExporter`].
//!
//! - A thread's tracer is created on its first [`TracerProvider::tracer`] call and
//!   *leaked* to get the `&'static` that [`StdSpan`] (`Span<'static>`) borrows: each
//!   thread that traces keeps one arena of [`StdArena`] (64 spans, about 100 KiB) for
//!   the rest of the process, even after the thread ends. Pools of long-lived worker
//!   threads (the usual server) pay this once per thread; a program that spawns
//!   thousands of short-lived tracing threads should not use this module. (The arena
//!   lives on the heap, [`HeapArena`]; in debug builds it passes through the stack
//!   once, so a thread's first span needs about 256 KiB of stack.)
//! - A thread's tracer exports every [`DEFAULT_THREAD_BATCH_SIZE`] ended spans, when a
//!   span ends [`DEFAULT_THREAD_EXPORT_INTERVAL`] after the last export, on
//!   [`TracerProvider::flush`] (calling thread only), and when the thread exits (its
//!   thread-local destructor flushes). Spans ended on a thread that then goes quiet wait
//!   in its arena until one of those happens.
//! - The exporter is shared: a [`crate::BatchExporter`] handle (internally synchronized:
//!   no lock around it), or any other exporter behind a mutex taken once per exported
//!   batch, never per span.
//! - [`TracerProvider::stats`] adds up per-thread counters: each thread publishes its
//!   tracer's [`TracerStats`] when it exports (and the calling thread's are read live),
//!   so spans started since a thread's last export are not in the sum yet.
//!
//! ```
//! use picotrace::TracerConfig;
//! use picotrace_std::{SharedExporter, TracerProvider};
//! let provider = TracerProvider::builder()
//!     .config(TracerConfig::new("checkout"))
//!     .exporter(SharedExporter::discard())
//!     .build();
//! let tracer = provider.tracer();
//! let span = tracer.start_span("GET /cart");
//! span.set_attribute("http.request.method", "GET");
//! span.end();
//! provider.flush()?;
//! assert_eq!(provider.stats().spans_exported, 1);
//! # Ok::<(), picotrace_std::ExportError>(())
//! ```

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use picotrace::span::arena::SlotAccess;
use picotrace::{
    LocalLock, Span, SpanArena, SpanBatch, SpanData, SpanExporter, SpanStorage, Tracer,
    TracerConfig, TracerStats,
};

use crate::batch::BatchExporter;
use crate::clock::SystemClock;
use crate::entropy::id_generator;
use crate::error::ExportError;

/// The arena of each thread's tracer: 64 spans of up to 16 attributes, 8 events,
/// 4 links and 512 bytes of text.
pub type StdArena = SpanArena<64>;

/// A thread's tracer, as [`TracerProvider::tracer`] returns it.
pub type StdTracer = Tracer<HeapArena, SystemClock, ThreadExporter, LocalLock>;

/// A [`StdArena`] on the heap, so that a thread's tracer is small and creating it
/// takes little stack (the arena itself is about 100 KiB).
pub struct HeapArena(Box<StdArena>);

impl HeapArena {
    /// Allocates an empty arena.
    pub fn new() -> Self {
        Self(Box::new(StdArena::new()))
    }
}

impl Default for HeapArena {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HeapArena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapArena")
            .field("capacity", &self.0.capacity())
            .field("in_use", &self.0.in_use())
            .finish()
    }
}

impl SpanStorage for HeapArena {
    fn capacity(&self) -> usize {
        self.0.capacity()
    }
    fn in_use(&self) -> usize {
        self.0.in_use()
    }
    fn ended_len(&self) -> usize {
        self.0.ended_len()
    }
    fn ended(&self, i: usize) -> Option<SpanData<'_>> {
        self.0.ended(i)
    }
    fn release_ended(&mut self, n: usize) {
        self.0.release_ended(n);
    }
    #[inline]
    fn claim(&mut self) -> Option<u16> {
        self.0.claim()
    }
    #[inline]
    fn slot(&mut self, slot: u16) -> Option<&mut dyn SlotAccess> {
        self.0.slot(slot)
    }
    #[inline]
    fn slot_data(&self, slot: u16) -> Option<SpanData<'_>> {
        self.0.slot_data(slot)
    }
    #[inline]
    fn mark_ended(&mut self, slot: u16) {
        self.0.mark_ended(slot);
    }

    fn release(&mut self, slot: u16) {
        self.0.release(slot);
    }

    fn copy_trace_state(&mut self, from: u16, to: u16) {
        self.0.copy_trace_state(from, to);
    }
}

/// A span of a [`StdTracer`].
pub type StdSpan = Span<'static>;

/// Ended spans a thread collects before it exports them (unless the config sets
/// `export_batch_size`).
pub const DEFAULT_THREAD_BATCH_SIZE: usize = 32;

/// Longest a thread's ended spans wait before export, checked when a span ends
/// (unless the config sets `export_interval`).
pub const DEFAULT_THREAD_EXPORT_INTERVAL: Duration = Duration::from_secs(1);

/// The exporter all threads of a provider share.
#[derive(Clone)]
pub enum SharedExporter {
    /// A batch exporter: already thread-safe and non-blocking, used without a lock.
    Batch(BatchExporter),
    /// Any exporter, behind a mutex taken once per exported batch.
    Locked(Arc<Mutex<dyn SpanExporter + Send>>),
    /// Discards every span (counted as exported): tracing for propagation only, or
    /// benchmarks.
    Discard,
}

impl SharedExporter {
    /// Shares any exporter behind a mutex (e.g. a `ConsoleExporter`).
    pub fn new(exporter: impl SpanExporter + Send + 'static) -> Self {
        SharedExporter::Locked(Arc::new(Mutex::new(exporter)))
    }

    /// Returns an exporter that discards everything.
    pub const fn discard() -> Self {
        SharedExporter::Discard
    }

    /// Flushes what the exporter buffered (a batch exporter's queue).
    ///
    /// # Errors
    /// As [`BatchExporter::flush`].
    pub fn flush(&self) -> Result<(), ExportError> {
        match self {
            SharedExporter::Batch(b) => b.flush(),
            _ => Ok(()),
        }
    }

    /// Shuts the exporter down (a batch exporter drains and stops its thread).
    ///
    /// # Errors
    /// As [`BatchExporter::shutdown`].
    pub fn shutdown(&self) -> Result<(), ExportError> {
        match self {
            SharedExporter::Batch(b) => b.shutdown(),
            _ => Ok(()),
        }
    }
}

impl From<BatchExporter> for SharedExporter {
    fn from(b: BatchExporter) -> Self {
        SharedExporter::Batch(b)
    }
}

impl fmt::Debug for SharedExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SharedExporter::Batch(b) => f.debug_tuple("Batch").field(b).finish(),
            SharedExporter::Locked(_) => f.write_str("Locked(..)"),
            SharedExporter::Discard => f.write_str("Discard"),
        }
    }
}

impl SpanExporter for SharedExporter {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
        match self {
            SharedExporter::Batch(b) => b.export(batch),
            SharedExporter::Locked(x) => x.lock().unwrap_or_else(|e| e.into_inner()).export(batch),
            SharedExporter::Discard => Ok(()),
        }
    }
}

/// What one thread publishes about its tracer.
#[derive(Debug, Default)]
struct ThreadSlot {
    stats: Mutex<TracerStats>,
}

/// The exporter inside each thread's tracer: forwards to the [`SharedExporter`] and
/// publishes the thread's counters for [`TracerProvider::stats`].
pub struct ThreadExporter {
    shared: SharedExporter,
    slot: Arc<ThreadSlot>,
    shut_down: Arc<AtomicBool>,
}

impl fmt::Debug for ThreadExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadExporter")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl SpanExporter for ThreadExporter {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
        let result = match &mut self.shared {
            // After the provider's shutdown spans are lost; a batch exporter (shut down
            // too) is still handed them so that its `dropped_shutdown` counts them.
            SharedExporter::Batch(b) => b.export(batch),
            _ if self.shut_down.load(Ordering::Relaxed) && !batch.is_empty() => {
                Err(picotrace::ExportError::Failed)
            }
            shared => shared.export(batch),
        };
        // The counters the tracer will have once it has booked this export.
        let n = batch.len() as u64;
        let mut stats = batch.stats;
        match result {
            Ok(()) => stats.spans_exported += n,
            Err(picotrace::ExportError::Partial { dropped }) => {
                let dropped = (dropped as u64).min(n);
                stats.spans_exported += n - dropped;
                stats.spans_export_failed += dropped;
                stats.export_failures += 1;
            }
            Err(_) => {
                stats.spans_export_failed += n;
                stats.export_failures += 1;
            }
        }
        *self.slot.stats.lock().unwrap_or_else(|e| e.into_inner()) = stats;
        result
    }
}

/// Builds a [`TracerProvider`].
#[derive(Debug)]
pub struct TracerProviderBuilder {
    config: TracerConfig,
    exporter: SharedExporter,
}

impl TracerProviderBuilder {
    /// Sets the tracer configuration (default: service `unknown_service`). When its
    /// `export_batch_size` or `export_interval` is zero, the thread defaults
    /// ([`DEFAULT_THREAD_BATCH_SIZE`], [`DEFAULT_THREAD_EXPORT_INTERVAL`]) apply.
    #[must_use]
    pub fn config(mut self, config: TracerConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the exporter (default: discard).
    #[must_use]
    pub fn exporter(mut self, exporter: impl Into<SharedExporter>) -> Self {
        self.exporter = exporter.into();
        self
    }

    /// Builds a provider owned by the caller.
    pub fn build(self) -> TracerProvider {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let mut config = self.config;
        if config.export_batch_size == 0 {
            config.export_batch_size = DEFAULT_THREAD_BATCH_SIZE;
        }
        if config.export_interval.is_zero() {
            config.export_interval = DEFAULT_THREAD_EXPORT_INTERVAL;
        }
        TracerProvider {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            config,
            exporter: self.exporter,
            threads: Mutex::new(Vec::new()),
            shut_down: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Builds the provider, leaks it for a `&'static`, and makes it the [`global`]
    /// provider unless one was installed before (the first one stays global).
    pub fn install(self) -> &'static TracerProvider {
        let provider: &'static TracerProvider = Box::leak(Box::new(self.build()));
        let _ = GLOBAL.set(provider);
        provider
    }
}

/// Hands out per-thread tracers that share one exporter; see the module docs.
pub struct TracerProvider {
    id: u64,
    config: TracerConfig,
    exporter: SharedExporter,
    threads: Mutex<Vec<Arc<ThreadSlot>>>,
    shut_down: Arc<AtomicBool>,
}

impl fmt::Debug for TracerProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracerProvider")
            .field("service", &self.config.resource.service_name)
            .field("exporter", &self.exporter)
            .finish_non_exhaustive()
    }
}

/// This thread's tracers, one per provider; flushed when the thread exits.
struct LocalTracers(RefCell<Vec<(u64, &'static StdTracer)>>);

impl Drop for LocalTracers {
    fn drop(&mut self) {
        for (_, tracer) in self.0.borrow().iter() {
            tracer.flush();
        }
    }
}

thread_local! {
    static TRACERS: LocalTracers = const { LocalTracers(RefCell::new(Vec::new())) };
}

static GLOBAL: OnceLock<&'static TracerProvider> = OnceLock::new();

/// Returns the provider installed by [`TracerProviderBuilder::install`] (or
/// `init_from_env`), if any.
pub fn global() -> Option<&'static TracerProvider> {
    GLOBAL.get().copied()
}

/// Returns this thread's tracer of the [`global`] provider, or of a disabled provider
/// (non-recording spans that still propagate context) when none is installed.
pub fn tracer() -> &'static StdTracer {
    static DISABLED: OnceLock<TracerProvider> = OnceLock::new();
    match global() {
        Some(p) => p.tracer(),
        None => DISABLED
            .get_or_init(|| {
                TracerProvider::builder()
                    .config(TracerConfig::new("unknown_service").with_enabled(false))
                    .build()
            })
            .tracer(),
    }
}

impl TracerProvider {
    /// Returns a builder (discarding exporter, service `unknown_service`).
    pub fn builder() -> TracerProviderBuilder {
        TracerProviderBuilder {
            config: TracerConfig::new("unknown_service"),
            exporter: SharedExporter::Discard,
        }
    }

    /// Returns the configuration every thread's tracer is created with.
    pub fn config(&self) -> &TracerConfig {
        &self.config
    }

    /// Returns the shared exporter.
    pub fn exporter(&self) -> &SharedExporter {
        &self.exporter
    }

    /// Returns the calling thread's tracer, creating (and leaking) it on first use.
    pub fn tracer(&self) -> &'static StdTracer {
        TRACERS
            .try_with(|local| {
                if let Some(t) = self.local_tracer_in(local) {
                    return t;
                }
                let t = self.new_tracer();
                local.0.borrow_mut().push((self.id, t));
                t
            })
            // Thread-local storage is being torn down (a span started from another
            // thread-local's destructor): a tracer that is not flushed at exit.
            .unwrap_or_else(|_| self.new_tracer())
    }

    fn local_tracer_in(&self, local: &LocalTracers) -> Option<&'static StdTracer> {
        local
            .0
            .borrow()
            .iter()
            .find(|(id, _)| *id == self.id)
            .map(|(_, t)| *t)
    }

    fn local_tracer(&self) -> Option<&'static StdTracer> {
        TRACERS
            .try_with(|local| self.local_tracer_in(local))
            .ok()
            .flatten()
    }

    fn new_tracer(&self) -> &'static StdTracer {
        let slot = Arc::new(ThreadSlot::default());
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::clone(&slot));
        let exporter = ThreadExporter {
            shared: self.exporter.clone(),
            slot,
            shut_down: Arc::clone(&self.shut_down),
        };
        Box::leak(Box::new(Tracer::new(
            self.config,
            HeapArena::new(),
            SystemClock::new(),
            id_generator(),
            exporter,
        )))
    }

    /// Exports the calling thread's ended spans, then flushes the shared exporter
    /// (a batch exporter's queue). Other threads' ended spans are not reached.
    ///
    /// # Errors
    /// As [`BatchExporter::flush`].
    pub fn flush(&self) -> Result<(), ExportError> {
        if let Some(t) = self.local_tracer() {
            t.flush();
        }
        self.exporter.flush()
    }

    /// Flushes (see [`TracerProvider::flush`]) and shuts the exporter down; spans
    /// exported afterwards are dropped and counted as failed in [`TracerStats`] (and
    /// by a batch exporter as `dropped_shutdown`). Later calls do nothing.
    ///
    /// # Errors
    /// As [`BatchExporter::shutdown`].
    pub fn shutdown(&self) -> Result<(), ExportError> {
        if self.shut_down.load(Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(t) = self.local_tracer() {
            t.flush();
        }
        let result = self.exporter.shutdown();
        self.shut_down.store(true, Ordering::SeqCst);
        result
    }

    /// Returns the sum of every thread's counters (see the module docs for how fresh
    /// they are; the calling thread's are exact).
    pub fn stats(&self) -> TracerStats {
        self.thread_stats()
            .iter()
            .fold(TracerStats::default(), |mut sum, s| {
                sum.spans_started += s.spans_started;
                sum.spans_sampled_out += s.spans_sampled_out;
                sum.spans_dropped_arena_full += s.spans_dropped_arena_full;
                sum.spans_exported += s.spans_exported;
                sum.spans_export_failed += s.spans_export_failed;
                sum.export_failures += s.export_failures;
                sum
            })
    }

    /// Returns each thread's counters, in the order the threads first traced.
    pub fn thread_stats(&self) -> Vec<TracerStats> {
        if let Some(t) = self.local_tracer() {
            // Publish the calling thread's live counters first.
            let live = t.stats();
            t.with_exporter(|x| {
                *x.slot.stats.lock().unwrap_or_else(|e| e.into_inner()) = live;
            });
        }
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|slot| *slot.stats.lock().unwrap_or_else(|e| e.into_inner()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts exported spans; shared through `SharedExporter::new`.
    struct Count(Arc<AtomicUsize>);

    impl SpanExporter for Count {
        fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
            self.0.fetch_add(batch.len(), Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn each_thread_gets_its_own_tracer_and_all_feed_one_exporter() {
        let seen = Arc::new(AtomicUsize::new(0));
        let provider = Arc::new(
            TracerProvider::builder()
                .config(TracerConfig::new("svc"))
                .exporter(SharedExporter::new(Count(Arc::clone(&seen))))
                .build(),
        );
        let here = provider.tracer() as *const StdTracer as usize;
        assert_eq!(here, provider.tracer() as *const StdTracer as usize);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let p = Arc::clone(&provider);
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let span = p.tracer().start_span("work");
                        span.set_attribute("i", i as i64);
                    }
                    p.tracer() as *const StdTracer as usize
                })
            })
            .collect();
        let mut addrs: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        addrs.push(here);
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), 5, "one tracer per thread");
        // Thread exit flushed every thread's remaining spans.
        assert_eq!(seen.load(Ordering::SeqCst), 200);
        let stats = provider.stats();
        assert_eq!(stats.spans_started, 200);
        assert_eq!(stats.spans_exported, 200);
        assert_eq!(provider.thread_stats().len(), 5);
    }

    #[test]
    fn thread_defaults_apply_when_config_leaves_them_zero() {
        let p = TracerProvider::builder().build();
        assert_eq!(p.config().export_batch_size, DEFAULT_THREAD_BATCH_SIZE);
        assert_eq!(p.config().export_interval, DEFAULT_THREAD_EXPORT_INTERVAL);
        let p = TracerProvider::builder()
            .config(TracerConfig::new("x").with_export_batch_size(5))
            .build();
        assert_eq!(p.config().export_batch_size, 5);
    }

    #[test]
    fn after_shutdown_spans_are_dropped_and_counted_for_any_exporter() {
        let seen = Arc::new(AtomicUsize::new(0));
        let p = TracerProvider::builder()
            .exporter(SharedExporter::new(Count(Arc::clone(&seen))))
            .build();
        p.tracer().start_span("before").end();
        p.shutdown().unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        p.tracer().start_span("after").end();
        p.flush().unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        let s = p.stats();
        assert_eq!((s.spans_exported, s.spans_export_failed), (1, 1));
        p.shutdown().unwrap();
    }

    #[test]
    fn a_thread_with_a_small_stack_can_trace() {
        // The ~100 KiB arena passes through the stack once before it is boxed.
        let p = Arc::new(TracerProvider::builder().build());
        let q = Arc::clone(&p);
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || q.tracer().start_span("x").end())
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(p.stats().spans_exported, 1);
    }

    #[test]
    fn two_providers_on_one_thread_stay_apart() {
        let a = TracerProvider::builder()
            .config(TracerConfig::new("a"))
            .build();
        let b = TracerProvider::builder()
            .config(TracerConfig::new("b"))
            .build();
        assert_eq!(a.tracer().resource().service_name, "a");
        assert_eq!(b.tracer().resource().service_name, "b");
        a.tracer().start_span("x").end();
        assert_eq!(a.stats().spans_started, 1);
        assert_eq!(b.stats().spans_started, 0);
    }

    #[test]
    fn without_a_global_provider_spans_do_not_record() {
        // (No test in this crate installs a global provider.)
        if global().is_none() {
            let span = tracer().start_span("x");
            assert!(!span.is_recording());
        }
    }
}
