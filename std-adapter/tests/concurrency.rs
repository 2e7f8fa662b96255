//! The shared tracer under threads: spans that move between threads, exact accounting
//! under load, nothing kept per thread, and shutdown while tasks still trace.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use picotrace::{SpanBatch, SpanExporter, SpanStorage as _, TracerConfig};
use picotrace_std::{ExportError, FutureExt as _, SharedExporter, StdSpan, TracerProvider};

/// Counts what it is handed; shared through `SharedExporter::new`.
struct Count(Arc<AtomicU64>);

impl SpanExporter for Count {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
        self.0
            .fetch_add(batch.iter().count() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Checks what it is handed: each span of the stress test once, whole (found by
/// review: the test counted spans and never looked at them, so a record exported with
/// another span's data, or torn, passed). A bit per (thread, i) pair.
struct Check {
    seen: Arc<AtomicU64>,
    bits: Arc<Vec<AtomicU64>>,
    per_thread: u64,
    wrong: Arc<AtomicU64>,
}

impl SpanExporter for Check {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
        use picotrace::AttributeValue as V;
        for span in batch.iter() {
            self.seen.fetch_add(1, Ordering::Relaxed);
            let (mut thread, mut i, mut elsewhere) = (None, None, false);
            for (key, value) in span.attributes() {
                match (key, value) {
                    ("thread", V::I64(t)) => thread = Some(t as u64),
                    ("i", V::I64(n)) => i = Some(n as u64),
                    ("ended_elsewhere", V::Bool(true)) => elsewhere = true,
                    _ => {}
                }
            }
            let whole = span.name() == "stress"
                && span.attributes().count() == 2 + usize::from(elsewhere)
                && i.is_some_and(|i| (i % 2 == 0) == elsewhere && i < self.per_thread)
                && thread.is_some_and(|t| t < 8);
            let first = match (whole, thread, i) {
                (true, Some(t), Some(i)) => {
                    let bit = t * self.per_thread + i;
                    let word = &self.bits[(bit / 64) as usize];
                    word.fetch_or(1 << (bit % 64), Ordering::Relaxed) & (1 << (bit % 64)) == 0
                }
                _ => false,
            };
            if !first {
                self.wrong.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

fn counting(seen: &Arc<AtomicU64>) -> TracerProvider {
    TracerProvider::builder()
        .config(TracerConfig::new("concurrency"))
        .exporter(SharedExporter::new(Count(Arc::clone(seen))))
        .build()
}

use support::runtime;

/// Held by the test that reads the resident set size and by tests that allocate a lot
/// beside it (many providers), so that the growth it reads is its own.
static MEMORY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn memory() -> std::sync::MutexGuard<'static, ()> {
    MEMORY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Spans per thread (1M, as the issue asks; `PICOTRACE_STRESS_SPANS` for a shorter run).
fn spans_per_thread() -> u64 {
    std::env::var("PICOTRACE_STRESS_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// 8 threads start spans; every other span goes to one of two other threads, which
/// ends it. Every span is exported or counted as dropped, exactly once.
#[test]
fn eight_threads_half_ended_elsewhere_account_for_every_span() {
    const THREADS: u64 = 8;
    let per_thread = spans_per_thread();
    let seen = Arc::new(AtomicU64::new(0));
    let wrong = Arc::new(AtomicU64::new(0));
    let bits: Arc<Vec<AtomicU64>> = Arc::new(
        (0..(THREADS * per_thread).div_ceil(64))
            .map(|_| AtomicU64::new(0))
            .collect(),
    );
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("concurrency"))
        .exporter(SharedExporter::new(Check {
            seen: Arc::clone(&seen),
            bits: Arc::clone(&bits),
            per_thread,
            wrong: Arc::clone(&wrong),
        }))
        .build();
    let tracer = provider.tracer();
    let ended_elsewhere = AtomicU64::new(0);
    std::thread::scope(|scope| {
        let mut senders = Vec::new();
        for _ in 0..2 {
            let (tx, rx) = mpsc::sync_channel::<StdSpan>(64);
            senders.push(tx);
            let ended_elsewhere = &ended_elsewhere;
            scope.spawn(move || {
                for mut span in rx {
                    span.set_attribute("ended_elsewhere", true);
                    span.end();
                    ended_elsewhere.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for t in 0..THREADS {
            let to_other = senders[(t % 2) as usize].clone();
            scope.spawn(move || {
                for i in 0..per_thread {
                    let mut span = tracer.start_span("stress");
                    span.set_attribute("thread", t as i64);
                    span.set_attribute("i", i as i64);
                    if i % 2 == 0 {
                        to_other.send(span).unwrap();
                    } else {
                        span.end();
                    }
                }
            });
        }
        drop(senders);
    });
    // A span that found the arena full is dropped and counted (rare: 0 of 800,000
    // measured on a quiet machine, 1 seen in a loaded CI run); flush reports it.
    let lost = match provider.flush() {
        Ok(()) => 0,
        Err(picotrace_std::ExportError::SpansLost { lost, running: 0 }) => lost,
        Err(e) => panic!("{e:?}"),
    };
    let s = provider.stats();
    assert_eq!(lost, s.spans_lost(), "{s:?}");
    let produced = THREADS * per_thread;
    assert_eq!(ended_elsewhere.load(Ordering::Relaxed), produced / 2);
    assert_eq!(s.spans_started, produced, "{s:?}");
    assert_eq!(
        s.spans_exported + s.spans_dropped_arena_full + s.spans_export_failed,
        produced,
        "{s:?}"
    );
    assert_eq!(
        seen.load(Ordering::Relaxed),
        s.spans_exported,
        "nothing double-counted"
    );
    // Each exported span is one that was made, whole, and no other span's copy.
    assert_eq!(
        wrong.load(Ordering::Relaxed),
        0,
        "spans torn or exported twice"
    );
    let distinct: u64 = bits
        .iter()
        .map(|w| u64::from(w.load(Ordering::Relaxed).count_ones()))
        .sum();
    assert_eq!(distinct, s.spans_exported);
    // Threads that find the arena full wait for the export thread: the sum above must
    // not hold only because most spans were dropped (0 of 800,000 are, measured; the
    // bound leaves room for a loaded CI machine).
    assert!(s.spans_exported >= produced / 10 * 9, "{s:?}");
    assert_eq!(provider.tracer().arena().in_use(), 0, "no slot stranded");
    eprintln!(
        "{produced} spans, half ended on another thread: {} exported, {} dropped (arena full)",
        s.spans_exported, s.spans_dropped_arena_full
    );
}

/// Holds its first batch until the arena is full (every slot claimed: the span thread
/// found no room while this export ran), then counts what it is handed.
struct HoldFirst {
    tracer: Arc<std::sync::OnceLock<&'static picotrace_std::StdTracer>>,
    held: bool,
    seen: Arc<AtomicU64>,
    /// Whether the arena was seen full while the first batch was held.
    filled: Arc<std::sync::atomic::AtomicBool>,
    /// How long it goes on holding once the arena is full (an export thread that
    /// waits for a core on a busy machine).
    hold_after_full: Duration,
}

impl SpanExporter for HoldFirst {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
        if !self.held {
            self.held = true;
            let arena = self.tracer.get().expect("set before any span").arena();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while arena.in_use() < arena.capacity() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(50));
            }
            let full = arena.in_use() == arena.capacity();
            self.filled.store(full, Ordering::Relaxed);
            std::thread::sleep(self.hold_after_full);
        }
        self.seen.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// A burst larger than the arena while the export thread is busy waits for the export
/// (it yields and retries) instead of dropping spans: the provider's promise that
/// bursts slow down rather than lose spans. No other test made the arena fill up.
#[test]
fn a_burst_that_fills_the_arena_waits_for_the_export_instead_of_dropping() {
    burst_through_a_held_export(Duration::ZERO);
}

/// Found by a new user's tryout (a rayon job on a machine whose 2 cores were busy): a
/// span that found the arena full waited 10,000 yields, a few milliseconds, for an
/// export thread that was waiting for a core, and was dropped (thousands of spans with
/// 4 running). The wait is 100 ms now (`FULL_ARENA_WAIT`): an export that goes on for
/// 30 ms after the arena filled loses nothing.
#[test]
fn a_burst_waits_for_an_export_that_is_slow_to_come_back() {
    burst_through_a_held_export(Duration::from_millis(30));
}

/// Starts twice the arena's spans while the first export holds on until the arena is
/// full, and `hold_after_full` after: every span is exported, none dropped.
fn burst_through_a_held_export(hold_after_full: Duration) {
    let tracer_cell = Arc::new(std::sync::OnceLock::new());
    let seen = Arc::new(AtomicU64::new(0));
    let filled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("burst"))
        .exporter(SharedExporter::new(HoldFirst {
            tracer: Arc::clone(&tracer_cell),
            held: false,
            seen: Arc::clone(&seen),
            filled: Arc::clone(&filled),
            hold_after_full,
        }))
        .build();
    let tracer = provider.tracer();
    tracer_cell.set(tracer).ok().unwrap();
    let spans = 2 * tracer.arena().capacity() as u64;
    for i in 0..spans {
        let mut span = tracer.start_span("burst");
        span.set_attribute("i", i as i64);
    }
    provider.flush().unwrap();
    let s = provider.stats();
    assert!(
        filled.load(Ordering::Relaxed),
        "the arena never filled: {s:?}"
    );
    assert_eq!(s.spans_dropped_arena_full, 0, "{s:?}");
    assert_eq!(s.spans_exported, spans, "{s:?}");
    assert_eq!(seen.load(Ordering::Relaxed), spans);
    provider.shutdown().unwrap();
}

/// Threads that come and go keep nothing: 10,000 short-lived threads that each trace
/// leave resident memory flat (the old per-thread tracers cost ~97 KiB each).
#[test]
fn ten_thousand_short_lived_threads_leave_memory_flat() {
    let _memory = memory();
    let seen = Arc::new(AtomicU64::new(0));
    let provider = counting(&seen);
    let tracer = provider.tracer();
    let run = |threads: usize| {
        for _ in 0..threads / 8 {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    std::thread::spawn(move || {
                        let mut span = tracer.start_span("short-lived");
                        span.set_attribute("k", 1);
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        }
    };
    run(400); // warm up: the arena's pages, the allocator's thread caches
    provider.flush().unwrap();
    let before = support::rss_bytes();
    run(10_000);
    provider.flush().unwrap();
    let after = support::rss_bytes();
    // Exported, or (when the export thread was starved by tests running beside this
    // one) found the arena full and counted.
    let s = provider.stats();
    assert_eq!(
        seen.load(Ordering::Relaxed) + s.spans_dropped_arena_full,
        10_400
    );
    let growth = after.saturating_sub(before);
    eprintln!("RSS {before} -> {after} bytes over 10,000 threads");
    assert!(
        growth < 4 * 1024 * 1024,
        "RSS grew {growth} bytes over 10,000 threads"
    );
}

/// Unsampled spans through the provider, whose arena gives each thread a counter cell
/// of its own (numbered and counted with a load and a store): 64 threads that live
/// together (every cell, with this test's others beside them some count on the shared
/// sets), then waves of short-lived threads that take cells the earlier ones gave back
/// and count on from there. Every span id and every trace id is distinct, and the
/// counts are exact (found by review: no test ran the provider's cells).
#[test]
fn unsampled_spans_on_passed_on_thread_cells_have_distinct_ids_and_exact_counts() {
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("cells").with_sampler(picotrace::Sampler::ALWAYS_OFF))
        .exporter(SharedExporter::discard())
        .build();
    let tracer = provider.tracer();
    let trace = |spans: usize| {
        let mut ids = Vec::with_capacity(2 * spans);
        for _ in 0..spans {
            let root = tracer.start_span("root");
            let child = root.child("child");
            assert!(!root.is_recording() && !child.is_recording());
            ids.push((root.context().trace_id, root.context().span_id));
            ids.push((child.context().trace_id, child.context().span_id));
        }
        ids
    };
    let mut ids = Vec::new();
    std::thread::scope(|s| {
        let together: Vec<_> = (0..64).map(|_| s.spawn(|| trace(200))).collect();
        for t in together {
            ids.extend(t.join().unwrap());
        }
    });
    for _ in 0..3 {
        std::thread::scope(|s| {
            let wave: Vec<_> = (0..16).map(|_| s.spawn(|| trace(200))).collect();
            for t in wave {
                ids.extend(t.join().unwrap());
            }
        });
    }
    let spans = (64 + 3 * 16) * 200 * 2;
    let span_ids: std::collections::HashSet<_> = ids.iter().map(|&(_, span)| span).collect();
    let trace_ids: std::collections::HashSet<_> = ids.iter().map(|&(trace, _)| trace).collect();
    assert_eq!(span_ids.len(), spans, "every span id distinct");
    assert_eq!(trace_ids.len(), spans / 2, "every root's trace id distinct");
    let stats = provider.stats();
    assert_eq!(stats.spans_started, spans as u64);
    assert_eq!(stats.spans_sampled_out, spans as u64);
}

/// Under a ratio sampler the provider's threads count numbered and kept roots on their
/// cells, handed from thread to thread: 32 threads together, then waves of short-lived
/// ones. Every root is exported or counted sampled out (or dropped), exactly once.
#[test]
fn ratio_sampled_roots_on_passed_on_thread_cells_are_counted_exactly() {
    let seen = Arc::new(AtomicU64::new(0));
    let provider = TracerProvider::builder()
        .config(
            TracerConfig::new("cells").with_sampler(picotrace::Sampler::parent_based(
                picotrace::Sampler::trace_id_ratio(0.5),
            )),
        )
        .exporter(SharedExporter::new(Count(Arc::clone(&seen))))
        .build();
    let tracer = provider.tracer();
    let trace = || {
        for _ in 0..500 {
            let mut root = tracer.start_span("root");
            root.set_attribute("k", 1);
        }
    };
    std::thread::scope(|s| {
        for _ in 0..32 {
            s.spawn(trace);
        }
    });
    for _ in 0..3 {
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(trace);
            }
        });
    }
    provider.flush().unwrap();
    let stats = provider.stats();
    let roots = (32 + 3 * 8) * 500;
    assert_eq!(stats.spans_started, roots);
    let exported = seen.load(Ordering::Relaxed);
    assert!(
        exported > roots / 4 && exported < roots * 3 / 4,
        "{exported} of {roots}"
    );
    assert_eq!(stats.spans_exported, exported);
    assert_eq!(
        exported + stats.spans_sampled_out + stats.spans_dropped_arena_full,
        roots,
        "{stats:?}"
    );
}

/// A `#[tokio::main]`-shaped program: tasks on worker threads hold spans across
/// `.await`; the provider shuts down while the runtime is alive. Every span ended
/// before shutdown is exported; spans still running are reported, exactly.
#[test]
fn shutdown_while_the_runtime_runs_exports_every_ended_span_or_reports_the_rest() {
    let seen = Arc::new(AtomicU64::new(0));
    let provider = counting(&seen);
    let runtime = runtime();
    runtime.block_on(async {
        let tracer = provider.tracer();
        let done: Vec<_> = (0..10)
            .map(|i| {
                tokio::spawn(async move {
                    let mut span = tracer.start_span("worker");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    span.set_attribute("i", i as i64);
                    tokio::task::yield_now().await;
                    span.end();
                })
            })
            .collect();
        for d in done {
            d.await.unwrap();
        }
        // Two tasks are still running when the program shuts down.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let stuck = tokio::spawn(
            async move {
                let _ = rx.await;
            }
            .in_span(tracer.start_span("still running")),
        );
        let also_stuck = tracer.start_span("held by main");
        tokio::task::yield_now().await;
        match provider.shutdown() {
            Err(ExportError::SpansLost {
                lost: 0,
                running: 2,
            }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(
            seen.load(Ordering::Relaxed),
            10,
            "every ended span exported"
        );
        drop(also_stuck);
        let _ = tx.send(());
        stuck.await.unwrap();
    });
    let s = provider.stats();
    assert_eq!((s.spans_exported, s.spans_dropped_shutdown), (10, 2));
}

/// Two threads shut the provider down at once (a signal handler and the end of `main`,
/// say): the second call returns when the first has drained, so that `Ok` means every
/// ended span is exported for both. It used to return `Ok` at once, before the export.
#[test]
fn a_concurrent_second_shutdown_returns_after_the_drain() {
    /// Tells when its export starts, then takes a while.
    struct Slow(Arc<AtomicU64>, mpsc::SyncSender<()>);
    impl SpanExporter for Slow {
        fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
            let _ = self.1.try_send(());
            std::thread::sleep(Duration::from_millis(300));
            self.0
                .fetch_add(batch.iter().count() as u64, Ordering::Relaxed);
            Ok(())
        }
    }
    let seen = Arc::new(AtomicU64::new(0));
    let (started, export_started) = mpsc::sync_channel(1);
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("concurrency"))
        .scheduled_delay(Duration::from_secs(60))
        .exporter(SharedExporter::new(Slow(Arc::clone(&seen), started)))
        .build();
    for _ in 0..5 {
        provider.tracer().start_span("x").end();
    }
    std::thread::scope(|scope| {
        // Nothing exports before a shutdown: 5 spans, a 60 s schedule.
        let first = scope.spawn(|| provider.shutdown());
        export_started.recv().unwrap();
        provider.shutdown().unwrap();
        assert_eq!(seen.load(Ordering::Relaxed), 5, "Ok before the drain");
        first.join().unwrap().unwrap();
    });
    assert_eq!(provider.stats().spans_exported, 5);
}

/// Regression (found by review): a second shutdown that waited for a first one which
/// lost spans (an exporter that failed) returned `Ok`, so one of the two callers (a
/// signal handler, the end of `main`) exited as if every span had been exported.
#[test]
fn a_concurrent_second_shutdown_reports_what_the_first_lost() {
    /// Tells when its export starts, takes a while, then fails (a second long: the
    /// second shutdown must find the first still running, under CI's load too).
    struct SlowFailing(mpsc::SyncSender<()>);
    impl SpanExporter for SlowFailing {
        fn export(&mut self, _: &SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
            let _ = self.0.try_send(());
            std::thread::sleep(Duration::from_secs(1));
            Err(picotrace::ExportError::Failed)
        }
    }
    let (started, export_started) = mpsc::sync_channel(1);
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("concurrency"))
        .scheduled_delay(Duration::from_secs(60))
        .exporter(SharedExporter::new(SlowFailing(started)))
        .build();
    for _ in 0..5 {
        provider.tracer().start_span("x").end();
    }
    std::thread::scope(|scope| {
        let first = scope.spawn(|| provider.shutdown());
        export_started.recv().unwrap();
        let second = provider.shutdown();
        let first = first.join().unwrap();
        for outcome in [&first, &second] {
            assert!(
                matches!(
                    outcome,
                    Err(ExportError::SpansLost {
                        lost: 5,
                        running: 0
                    })
                ),
                "{outcome:?}"
            );
        }
    });
    // Asked again afterwards: done, nothing new to say.
    assert!(provider.shutdown().is_ok());
}

/// Keeps what the test below checks of each span.
#[derive(Clone, Default)]
struct Record(Arc<std::sync::Mutex<Vec<Seen>>>);

#[derive(Clone, Debug)]
struct Seen {
    name: String,
    span_id: picotrace::SpanId,
    parent: Option<picotrace::SpanId>,
    start: u64,
    end: u64,
}

impl SpanExporter for Record {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
        let mut seen = self.0.lock().unwrap();
        seen.extend(batch.iter().map(|s| Seen {
            name: s.name().into(),
            span_id: s.span_context().span_id,
            parent: s.parent_span_id(),
            start: s.start_time().as_unix_nanos(),
            end: s.end_time().as_unix_nanos(),
        }));
        Ok(())
    }
}

/// A span started on one thread (here the main thread, which is not a worker) and
/// ended on a worker thread keeps its times and parent, and the current context
/// follows the task across threads.
#[test]
fn spans_and_current_context_follow_tasks_across_worker_threads() {
    let record = Record::default();
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("concurrency"))
        .exporter(SharedExporter::new(record.clone()))
        .build();
    let runtime = runtime();
    let tracer = provider.tracer();
    let main = std::thread::current().id();
    runtime.block_on(async move {
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let request = tracer.start_server_span("request", None);
                let id = request.context().span_id;
                tokio::spawn(
                    async move {
                        for _ in 0..3 {
                            let current = picotrace_std::current_span_context().unwrap();
                            assert_eq!(current.span_id, id);
                            assert_ne!(std::thread::current().id(), main, "not on a worker");
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        let cx = picotrace_std::current_context();
                        let child = tracer.start_span_with_parent("child", cx.as_ref());
                        assert_eq!(child.context().trace_id, current_trace(&cx));
                    }
                    .in_span(request),
                )
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    provider.flush().unwrap();
    let seen = record.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 64);
    let requests: Vec<&Seen> = seen.iter().filter(|s| s.name == "request").collect();
    assert_eq!(requests.len(), 32);
    for child in seen.iter().filter(|s| s.name == "child") {
        let request = requests
            .iter()
            .find(|r| Some(r.span_id) == child.parent)
            .unwrap_or_else(|| panic!("child without its request: {child:?}"));
        // The request span covers its three 1 ms sleeps and its child.
        assert!(request.end - request.start >= 3_000_000, "{request:?}");
        assert!(
            request.start <= child.start && child.end <= request.end,
            "{request:?} {child:?}"
        );
    }
}

fn current_trace(cx: &Option<picotrace::TraceContext>) -> picotrace::TraceId {
    cx.as_ref()
        .map(|c| c.span_context.trace_id)
        .unwrap_or_default()
}

/// A span that ends while its thread's thread-locals are destroyed (held by one) is
/// exported like any other: the shared tracer does not live in a thread-local.
#[test]
fn a_span_ended_during_thread_teardown_is_exported() {
    use std::cell::RefCell;
    thread_local! {
        static HELD: RefCell<Option<StdSpan>> = const { RefCell::new(None) };
    }
    let seen = Arc::new(AtomicU64::new(0));
    let provider = counting(&seen);
    let tracer = provider.tracer();
    std::thread::spawn(move || {
        let span = tracer.start_span("ends in a thread-local destructor");
        HELD.with(|h| *h.borrow_mut() = Some(span));
    })
    .join()
    .unwrap();
    provider.flush().unwrap();
    assert_eq!(seen.load(Ordering::Relaxed), 1);
    assert_eq!(provider.stats().spans_exported, 1);
}

/// Spans ending on many threads while the provider shuts down: every span the tracer
/// counts as exported reached the exporter. A span that passed the shutdown check just
/// before the flag went up, then published after the provider had let its exporter go,
/// was drained into the exporter put in its place, which discarded it and reported
/// success: counted exported, never sent. Several lifecycles with more threads than
/// cores, so that a thread is preempted inside that window in some of them.
#[test]
fn spans_ending_while_the_provider_shuts_down_are_exported_or_counted_lost() {
    let _memory = memory(); // 40 providers: not beside the RSS test
    let threads = 8;
    for round in 0..40 {
        let seen = Arc::new(AtomicU64::new(0));
        let provider = counting(&seen);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    let tracer = provider.tracer();
                    while !stop.load(Ordering::Relaxed) {
                        tracer.start_span("racing").end();
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(5));
            let _ = provider.shutdown();
            // The threads go on a little after shutdown, as an application's do.
            std::thread::sleep(Duration::from_millis(2));
            stop.store(true, Ordering::Relaxed);
        });
        let s = provider.stats();
        assert_eq!(
            s.spans_exported,
            seen.load(Ordering::Relaxed),
            "round {round}: counted exported, but the exporter got fewer: {s:?}"
        );
        assert_eq!(
            s.spans_started,
            s.spans_exported + s.spans_lost() + s.spans_sampled_out,
            "round {round}: {s:?}"
        );
    }
}
