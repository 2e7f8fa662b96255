//! `BatchExporter`: accounting, bounds, flush and shutdown against a fake transport;
//! the application thread's latency and a collector restart against a loopback server.

mod support;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use picotrace::{SpanExporter, TracerConfig};
use picotrace_std::{
    BatchConfig, BatchExporter, BatchStats, ExportError, ExportOutcome, OtlpHttpExporter, Protocol,
    RetryPolicy, SharedExporter, TracerProvider, Transport,
};
use support::{Reply, Server};

/// What the fake transport does with request number `n`.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Ok,
    Reject(u64),
    /// Rejects spans and says why (`partial_success.error_message`).
    RejectWith(u64, &'static str),
    Fail,
}

#[derive(Default)]
struct FakeState {
    /// (body length, spans, spans counted in the JSON body)
    requests: Vec<(usize, usize, usize)>,
    script: VecDeque<Answer>,
    rule: Option<fn(usize) -> Answer>,
    delay: Duration,
    /// Requests being sent now, and the most at once.
    sending: usize,
    most_sending: usize,
    /// Names of the threads that sent.
    senders: Vec<String>,
    /// The request bodies (JSON).
    bodies: Vec<String>,
    /// How long the next requests take (then `delay`).
    delays: VecDeque<Duration>,
    /// The numbers (from 0, in the order sends began) of the requests whose send has
    /// returned.
    finished: Vec<usize>,
}

#[derive(Clone, Default)]
struct Fake {
    state: Arc<Mutex<FakeState>>,
    dropped: Arc<AtomicBool>,
}

impl Fake {
    fn with_delay(delay: Duration) -> Self {
        let f = Fake::default();
        f.state.lock().unwrap().delay = delay;
        f
    }
    fn spans_received(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .map(|r| r.1)
            .sum()
    }
    fn requests(&self) -> Vec<(usize, usize, usize)> {
        self.state.lock().unwrap().requests.clone()
    }
}

/// The worker's copy; flags its drop so tests can see the worker has exited.
struct FakeTransport(Fake);

impl Drop for FakeTransport {
    fn drop(&mut self) {
        self.0.dropped.store(true, Ordering::SeqCst);
    }
}

impl Transport for FakeTransport {
    fn protocol(&self) -> Protocol {
        Protocol::HttpJson
    }

    fn for_workers(self, workers: usize) -> Vec<Box<dyn Transport>> {
        let fake = self.0.clone();
        let mut all: Vec<Box<dyn Transport>> = vec![Box::new(self)];
        all.extend(
            (1..workers).map(|_| Box::new(FakeTransport(fake.clone())) as Box<dyn Transport>),
        );
        all
    }

    fn send(
        &mut self,
        body: &[u8],
        spans: usize,
        _deadline: Instant,
    ) -> Result<ExportOutcome, ExportError> {
        let (delay, answer, number) = {
            let mut s = self.0.state.lock().unwrap();
            s.sending += 1;
            s.most_sending = s.most_sending.max(s.sending);
            let name = std::thread::current().name().unwrap_or("").to_owned();
            if !s.senders.contains(&name) {
                s.senders.push(name);
            }
            let n = s.requests.len();
            let text = String::from_utf8_lossy(body).into_owned();
            let counted = text.matches("\"spanId\"").count();
            s.bodies.push(text);
            s.requests.push((body.len(), spans, counted));
            let answer = s
                .script
                .pop_front()
                .or_else(|| s.rule.map(|r| r(n)))
                .unwrap_or(Answer::Ok);
            (s.delays.pop_front().unwrap_or(s.delay), answer, n)
        };
        std::thread::sleep(delay);
        {
            let mut s = self.0.state.lock().unwrap();
            s.sending -= 1;
            s.finished.push(number);
        }
        match answer {
            Answer::Ok => Ok(ExportOutcome::default()),
            Answer::Reject(n) => Ok(ExportOutcome {
                rejected_spans: n,
                ..ExportOutcome::default()
            }),
            Answer::RejectWith(n, why) => Ok(ExportOutcome {
                rejected_spans: n,
                error_message: Some(why.into()),
                ..ExportOutcome::default()
            }),
            Answer::Fail => Err(ExportError::Timeout),
        }
    }
}

fn batch(fake: &Fake, config: BatchConfig) -> BatchExporter {
    BatchExporter::builder(FakeTransport(fake.clone()))
        .config(config)
        .build()
        .unwrap()
}

fn provider(exporter: &BatchExporter) -> TracerProvider {
    TracerProvider::builder()
        .config(TracerConfig::new("batch-test"))
        .exporter(exporter.clone())
        .build()
}

/// Returns how many spans a provider's flush said were lost (0 for `Ok`).
fn lost_in(flushed: Result<(), ExportError>) -> u64 {
    match flushed {
        Ok(()) => 0,
        Err(ExportError::SpansLost { lost, running: 0 }) => lost,
        Err(e) => panic!("{e:?}"),
    }
}

fn assert_balanced(s: &BatchStats) {
    assert_eq!(s.in_flight(), 0, "{s:#?}");
    assert_eq!(
        s.produced,
        s.exported + s.rejected + s.failed + s.dropped(),
        "{s:#?}"
    );
}

/// Scripts failures (two requests in 15) and rejections (3 spans of one in 15), has
/// four threads end 3,000 spans each, flushes, and checks that every span is accounted
/// for: `started_before` spans came earlier. Returns the stats.
fn produce_with_failures(
    fake: &Fake,
    exporter: &BatchExporter,
    provider: &Arc<TracerProvider>,
    started_before: u64,
) -> BatchStats {
    fake.state.lock().unwrap().rule = Some(|n| match n % 15 {
        2 | 7 => Answer::Fail,
        4 => Answer::Reject(3),
        _ => Answer::Ok,
    });
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let p = Arc::clone(provider);
            std::thread::spawn(move || {
                for i in 0..3000 {
                    let mut span = p.tracer().start_span("work");
                    span.set_attribute("thread", t as i64);
                    span.set_attribute("i", i as i64);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let lost = lost_in(provider.flush());
    let s = exporter.stats();
    let t = provider.stats();
    assert_eq!(t.spans_started, started_before + 12_000);
    // Flush said how many were lost: failed, rejected, dropped.
    assert_eq!(lost, t.spans_lost(), "{t:#?}");
    // Every span reached the exporter, or the arena was full and it was counted there.
    assert_eq!(
        s.produced + t.spans_dropped_arena_full,
        started_before + 12_000,
        "{t:#?}"
    );
    assert_balanced(&s);
    assert!(s.failed > 0 && s.rejected > 0, "{s:#?}");
    // What reached the transport is what was counted as sent.
    let received: usize = fake.requests().iter().map(|r| r.2).sum();
    assert_eq!(received as u64, s.exported + s.rejected + s.failed);
    assert_eq!(fake.spans_received(), received);
    s
}

#[test]
fn every_span_is_accounted_across_threads_with_failures_and_rejections() {
    let fake = Fake::with_delay(Duration::from_millis(1));
    let config = BatchConfig::default()
        .with_max_queue_size(256)
        .with_max_export_batch_size(64)
        .with_scheduled_delay(Duration::from_millis(5));
    let exporter = batch(&fake, config);
    let provider = Arc::new(provider(&exporter));
    let s = produce_with_failures(&fake, &exporter, &provider, 0);
    // Memory stayed bounded: the queue never passed its cap, the pool is whole again.
    assert!(s.max_queue_len <= 256, "{s:#?}");
    assert_eq!(s.pool_size, 256 + 64);
    assert_eq!(s.pool_available, s.pool_size);
    assert_eq!(s.queue_len, 0);
    // The provider's stats say what the collector accepted and what was lost on the
    // way (the tracers were told about the spans dropped at the queue).
    let t = provider.stats();
    assert_eq!(t.spans_started, 12_000);
    assert_eq!(t.spans_export_failed, s.dropped() + s.failed + s.rejected);
    assert_eq!(t.spans_exported, s.exported);
}

/// `max_concurrent_exports`: as many requests in flight as asked, each worker on its
/// own named thread, and the accounting of the test above (failures, rejections, four
/// producing threads) holds with several workers settling at once.
#[test]
fn concurrent_exports_keep_requests_in_flight_together_and_count_every_span() {
    let fake = Fake::with_delay(Duration::from_millis(300));
    let config = BatchConfig::default()
        .with_max_queue_size(2048)
        .with_max_export_batch_size(100)
        .with_scheduled_delay(Duration::from_secs(60))
        .with_max_concurrent_exports(3);
    let exporter = BatchExporter::builder(FakeTransport(fake.clone()))
        .config(config)
        .thread_name("pt-export")
        .build()
        .unwrap();
    assert_eq!(exporter.stats().pool_size, 2048 + 3 * 100);
    let provider = provider(&exporter);
    // Three full batches: one per worker, all sent at once.
    for _ in 0..300 {
        provider.tracer().start_span("x").end();
    }
    provider.flush().unwrap();
    {
        let s = fake.state.lock().unwrap();
        // Three in flight at once (what a bound on the flush's duration also claimed,
        // timed: dropped, found by review).
        assert_eq!(s.most_sending, 3, "requests in flight at once");
        let mut senders = s.senders.clone();
        senders.sort();
        assert_eq!(senders, ["pt-export", "pt-export-1", "pt-export-2"]);
    }
    assert_eq!(fake.spans_received(), 300);
    assert_balanced(&exporter.stats());

    // Failures and rejections from four threads, settled by three workers.
    fake.state.lock().unwrap().delay = Duration::from_millis(1);
    let provider = Arc::new(provider);
    let s = produce_with_failures(&fake, &exporter, &provider, 300);
    assert_eq!(s.pool_available, s.pool_size);
    // Shutdown stops every worker (each drops its transport, which holds a clone of
    // `fake`) and joins them; it reports the spans lost.
    assert!(matches!(
        provider.shutdown(),
        Err(ExportError::SpansLost { running: 0, .. })
    ));
    assert_eq!(
        Arc::strong_count(&fake.state),
        1,
        "a worker's transport lives on"
    );
    assert_eq!(fake.state.lock().unwrap().sending, 0);
    assert_balanced(&exporter.stats());
    assert_eq!(exporter.stats().pool_allocated, 0);
}

/// Regression: with several workers a flush counted finished spans, so spans sent by
/// a fast worker after the flush began made up for an older batch still in flight on
/// a slow one: the flush returned while spans handed over before it were unsent. It
/// waits for every span numbered below its target now.
/// Two workers, batches of `batch_size`, a 60 s schedule, and a first request that
/// takes 600 ms (the others 1 ms); `batch_size` spans are ended and handed over, and
/// this returns once a worker is sending them.
fn two_workers_the_first_request_slow(
    batch_size: usize,
) -> (Fake, BatchExporter, Arc<TracerProvider>) {
    let fake = Fake::with_delay(Duration::from_millis(1));
    fake.state
        .lock()
        .unwrap()
        .delays
        .push_back(Duration::from_millis(600));
    let exporter = batch(
        &fake,
        BatchConfig::default()
            .with_max_export_batch_size(batch_size)
            .with_scheduled_delay(Duration::from_secs(60))
            .with_max_concurrent_exports(2),
    );
    let provider = Arc::new(provider(&exporter));
    end_spans(&provider, batch_size);
    while fake.state.lock().unwrap().sending == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    (fake, exporter, provider)
}

/// Ends `n` spans and hands them to the exporter.
fn end_spans(provider: &TracerProvider, n: usize) {
    for _ in 0..n {
        provider.tracer().start_span("x").end();
    }
    provider.tracer().flush();
}

#[test]
fn a_flush_with_several_workers_waits_for_every_earlier_span() {
    // A full batch: one worker takes it and is slow (600 ms).
    let (fake, exporter, provider) = two_workers_the_first_request_slow(10);
    end_spans(&provider, 5);
    let flusher = {
        let (exporter, fake) = (exporter.clone(), fake.clone());
        std::thread::spawn(move || {
            exporter.flush().unwrap();
            fake.state.lock().unwrap().finished.clone()
        })
    };
    // Producers go on while the flush waits: the other worker sends all of it.
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        end_spans(&provider, 10);
        std::thread::sleep(Duration::from_millis(5));
    }
    let finished_at_return = flusher.join().unwrap();
    let s = fake.state.lock().unwrap();
    assert_eq!(s.requests[0].1, 10, "the slow request is the first batch");
    assert_eq!(s.most_sending, 2);
    assert!(
        finished_at_return.contains(&0),
        "flush returned before the slow first request: finished {finished_at_return:?}"
    );
}

/// Regression: while a flush's older batch was in flight on one worker, every span
/// queued after the flush began counted as part of it, so another worker sent each one
/// at once in requests of a span or two, ignoring the batch size and the schedule.
#[test]
fn spans_queued_after_a_flush_wait_for_their_batch_or_the_schedule() {
    let (fake, exporter, provider) = two_workers_the_first_request_slow(100);
    let flusher = {
        let exporter = exporter.clone();
        std::thread::spawn(move || exporter.flush())
    };
    // Time for the flush to begin (nothing shows it from outside), well inside the
    // 600 ms of the slow request it waits for (50 ms was tight on a loaded machine:
    // found by review).
    std::thread::sleep(Duration::from_millis(200));
    end_spans(&provider, 5);
    flusher.join().unwrap().unwrap();
    assert_eq!(
        fake.requests().iter().map(|r| r.1).collect::<Vec<_>>(),
        [100],
        "the 5 later spans went out before a batch or the schedule called for them"
    );
    exporter.flush().unwrap();
    assert_eq!(
        fake.requests().iter().map(|r| r.1).collect::<Vec<_>>(),
        [100, 5]
    );
}

/// A transport that does not share itself (`Transport::for_workers`' default) gets one
/// worker whatever the config asks: requests go one at a time.
#[test]
fn a_transport_that_does_not_share_itself_sends_one_request_at_a_time() {
    struct Alone(FakeTransport);
    impl Transport for Alone {
        fn protocol(&self) -> Protocol {
            self.0.protocol()
        }
        fn send(
            &mut self,
            body: &[u8],
            spans: usize,
            deadline: Instant,
        ) -> Result<ExportOutcome, ExportError> {
            self.0.send(body, spans, deadline)
        }
    }
    let fake = Fake::with_delay(Duration::from_millis(30));
    let exporter = BatchExporter::builder(Alone(FakeTransport(fake.clone())))
        .config(
            BatchConfig::default()
                .with_max_export_batch_size(10)
                .with_max_concurrent_exports(4),
        )
        .build()
        .unwrap();
    // The config says what runs: one worker.
    assert_eq!(exporter.config().max_concurrent_exports, 1);
    assert_eq!(exporter.stats().pool_size, 2048 + 10);
    let provider = provider(&exporter);
    for _ in 0..40 {
        provider.tracer().start_span("x").end();
    }
    provider.flush().unwrap();
    let s = fake.state.lock().unwrap();
    assert_eq!((s.most_sending, s.senders.len()), (1, 1));
    assert_eq!(s.requests.iter().map(|r| r.1).sum::<usize>(), 40);
}

/// Spans of two scopes that differ only in their attributes and schema URL go in
/// separate requests, each with its own scope (they were merged under the first one).
#[test]
fn scopes_that_differ_in_attributes_get_requests_of_their_own() {
    static A: [picotrace::KeyValue<'static>; 1] = [picotrace::KeyValue {
        key: "module",
        value: picotrace::Value::Str("a"),
    }];
    static B: [picotrace::KeyValue<'static>; 1] = [picotrace::KeyValue {
        key: "module",
        value: picotrace::Value::Str("b"),
    }];
    let fake = Fake::default();
    let exporter = batch(
        &fake,
        BatchConfig::default().with_scheduled_delay(Duration::from_secs(60)),
    );
    let scoped = |attributes: &'static [picotrace::KeyValue<'static>], url| {
        TracerProvider::builder()
            .config(
                TracerConfig::new("scopes").with_instrumentation_scope(
                    picotrace::InstrumentationScope::new("lib", "1.0")
                        .with_attributes(attributes)
                        .with_schema_url(url),
                ),
            )
            .exporter(exporter.clone())
            .build()
    };
    let (a, b) = (scoped(&A, ""), scoped(&B, "https://example.com/s"));
    a.tracer().start_span("in a").end();
    a.tracer().flush();
    b.tracer().start_span("in b").end();
    b.tracer().flush();
    exporter.flush().unwrap();
    let bodies = fake.state.lock().unwrap().bodies.clone();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let scope = |attribute: &str| {
        format!(
            r#""scope":{{"name":"lib","version":"1.0","attributes":[{{"key":"module","value":{{"stringValue":"{attribute}"}}}}]}}"#
        )
    };
    assert!(bodies[0].contains(&scope("a")), "{}", bodies[0]);
    assert!(!bodies[0].contains("schemaUrl"), "{}", bodies[0]);
    assert!(bodies[1].contains(&scope("b")), "{}", bodies[1]);
    assert!(
        bodies[1].contains(r#"}],"schemaUrl":"https://example.com/s"}]"#),
        "{}",
        bodies[1]
    );
    let s = exporter.stats();
    assert_eq!((s.exported, s.batches), (2, 2), "{s:?}");
}

#[test]
fn a_full_queue_drops_new_spans_counts_them_and_tells_the_tracer() {
    let fake = Fake::with_delay(Duration::from_millis(200));
    let exporter = batch(
        &fake,
        BatchConfig::default()
            .with_max_queue_size(16)
            .with_max_export_batch_size(8)
            .with_scheduled_delay(Duration::from_millis(1)),
    );
    let provider = provider(&exporter);
    for _ in 0..500 {
        provider.tracer().start_span("burst").end();
    }
    let lost = lost_in(provider.flush());
    let s = exporter.stats();
    assert_eq!(lost, s.dropped_queue_full);
    assert!(s.dropped_queue_full > 400, "{s:#?}");
    assert!(s.max_queue_len <= 16);
    assert_balanced(&s);
    assert_eq!(provider.stats().spans_export_failed, s.dropped_queue_full);
}

#[test]
fn flush_returns_once_queued_spans_are_sent_without_waiting_for_the_schedule() {
    let fake = Fake::default();
    let exporter = batch(
        &fake,
        BatchConfig::default().with_scheduled_delay(Duration::from_secs(60)),
    );
    let provider = provider(&exporter);
    for _ in 0..10 {
        provider.tracer().start_span("x").end();
    }
    let started = Instant::now();
    provider.flush().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(fake.spans_received(), 10);
    assert_eq!(exporter.stats().exported, 10);
}

#[test]
fn the_schedule_sends_partial_batches_on_its_own() {
    let fake = Fake::default();
    let exporter = batch(
        &fake,
        BatchConfig::default().with_scheduled_delay(Duration::from_millis(50)),
    );
    let provider = provider(&exporter);
    for _ in 0..3 {
        provider.tracer().start_span("x").end();
    }
    // Hand the spans from the thread's tracer to the exporter, without flushing it.
    provider.tracer().flush();
    let deadline = Instant::now() + Duration::from_secs(3);
    while fake.spans_received() < 3 {
        assert!(Instant::now() < deadline, "schedule never fired");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(fake.requests().len(), 1);
}

/// Regression: a span that waited in the arena while others filled a batch went into
/// the batch queue with them, and the export thread then parked a whole scheduled delay
/// again: the span left after nearly two delays (713 ms for a 400 ms delay). A 1 s
/// delay leaves half a second of slack for a loaded machine.
#[test]
fn a_span_leaves_within_one_scheduled_delay_when_a_batch_drains_it_early() {
    let delay = Duration::from_secs(1);
    let fake = Fake::default();
    let exporter = batch(&fake, BatchConfig::default().with_scheduled_delay(delay));
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("batch-test").with_export_batch_size(8))
        .exporter(exporter.clone())
        .build();
    let ended = Instant::now();
    provider.tracer().start_span("early").end();
    // Most of a delay later, a batch's worth wakes the export thread, which drains the
    // early span with them into the batch exporter's queue (9 of its 512).
    std::thread::sleep(delay * 3 / 4);
    for _ in 0..8 {
        provider.tracer().start_span("batch").end();
    }
    let deadline = ended + Duration::from_secs(3);
    while fake.spans_received() < 9 {
        assert!(Instant::now() < deadline, "the spans never left");
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = ended.elapsed();
    assert!(
        took < delay + delay / 2,
        "the early span left {took:?} after it ended (scheduled delay {delay:?})"
    );
}

#[test]
fn flush_gives_up_after_the_export_timeout() {
    let fake = Fake::with_delay(Duration::from_millis(800));
    let exporter = batch(
        &fake,
        BatchConfig::default().with_export_timeout(Duration::from_millis(100)),
    );
    let provider = provider(&exporter);
    provider.tracer().start_span("x").end();
    provider.tracer().flush();
    assert!(matches!(exporter.flush(), Err(ExportError::Timeout)));
}

#[test]
fn shutdown_drains_stops_the_worker_and_later_spans_are_counted() {
    let fake = Fake::default();
    let exporter = batch(
        &fake,
        BatchConfig::default().with_scheduled_delay(Duration::from_secs(60)),
    );
    let provider = provider(&exporter);
    for _ in 0..7 {
        provider.tracer().start_span("x").end();
    }
    let late: Vec<_> = (0..3)
        .map(|_| provider.tracer().start_span("late"))
        .collect();
    assert!(provider.shutdown().is_err(), "three spans still running");
    assert_eq!(fake.spans_received(), 7);
    assert!(fake.dropped.load(Ordering::SeqCst), "worker exited");
    assert!(exporter.is_shutdown());
    provider.shutdown().unwrap();
    exporter.shutdown().unwrap();
    // Ended after shutdown: dropped and reported, never queued. (Spans started after it
    // do not record at all.)
    drop(late);
    provider.tracer().start_span("after").end();
    provider.tracer().flush();
    let s = exporter.stats();
    assert_eq!(s.produced, 7, "late spans never reach the exporter");
    assert_balanced(&s);
    assert_eq!(provider.stats().spans_dropped_shutdown, 3);
}

/// Two threads shut the exporter down at once: the one that comes second waits for the
/// worker too, so that `Ok` means every span is accounted for for both. It used to
/// return `Ok` at once while the first call's drain was still sending.
#[test]
fn a_concurrent_second_shutdown_returns_only_when_every_span_is_accounted_for() {
    let fake = Fake::with_delay(Duration::from_millis(300));
    let exporter = batch(
        &fake,
        BatchConfig::default().with_scheduled_delay(Duration::from_secs(60)),
    );
    let provider = provider(&exporter);
    for _ in 0..5 {
        provider.tracer().start_span("x").end();
    }
    // Into the batch queue; the worker waits for its schedule or a shutdown.
    provider.tracer().flush();
    assert_eq!(exporter.stats().queue_len, 5);
    std::thread::scope(|scope| {
        let first = scope.spawn(|| exporter.shutdown());
        while !exporter.is_shutdown() {
            std::thread::yield_now();
        }
        let started = Instant::now();
        exporter.shutdown().unwrap();
        // The worker has finished (it drops its transport a moment later, on its way
        // out: not checked here).
        let s = exporter.stats();
        assert_eq!(
            s.exported,
            5,
            "the second shutdown returned Ok after {:?}, before the worker had sent: {s:#?}",
            started.elapsed()
        );
        assert_balanced(&s);
        first.join().unwrap().unwrap();
    });
}

/// The collector's reason for rejecting spans is kept (it was dropped: the counters
/// said how many, nothing said why), and so is a failed send's error.
#[test]
fn the_collectors_reason_for_rejecting_spans_is_kept() {
    let fake = Fake::default();
    fake.state
        .lock()
        .unwrap()
        .script
        .push_back(Answer::RejectWith(2, "attribute value too long"));
    let exporter = batch(&fake, BatchConfig::default());
    let provider = provider(&exporter);
    assert_eq!(exporter.last_error(), None);
    for _ in 0..3 {
        provider.tracer().start_span("x").end();
    }
    assert_eq!(lost_in(provider.flush()), 2);
    let error = exporter.last_error().unwrap();
    assert!(error.contains("attribute value too long"), "{error}");
    assert!(error.contains("rejected 2 of 3"), "{error}");
    fake.state.lock().unwrap().script.push_back(Answer::Fail);
    provider.tracer().start_span("y").end();
    assert_eq!(lost_in(provider.flush()), 1);
    assert!(exporter.last_error().unwrap().contains("timed out"));
    // A warning with nothing rejected is a warning (found by review: it read "the
    // collector rejected 0 of 1 spans", as if spans had been lost).
    fake.state
        .lock()
        .unwrap()
        .script
        .push_back(Answer::RejectWith(0, "clock skew"));
    provider.tracer().start_span("z").end();
    assert_eq!(lost_in(provider.flush()), 0);
    let warning = exporter.last_error().unwrap();
    assert_eq!(
        warning,
        "the collector took all 1 spans with a warning: clock skew"
    );
}

/// The batch exporter on its own (a core `Tracer` feeding it) says when spans were lost,
/// as a provider does (OpenTelemetry's ForceFlush and Shutdown "SHOULD provide a way to
/// let the caller know whether it succeeded, failed or timed out"): `flush` returns
/// those lost since the previous flush, `shutdown` all of them. Both returned `Ok` with
/// every span failed; only the counters told.
#[test]
fn the_exporters_own_flush_and_shutdown_report_lost_spans() {
    let fake = Fake::default();
    {
        let mut state = fake.state.lock().unwrap();
        state.script.push_back(Answer::Fail);
        state.script.push_back(Answer::Reject(1));
    }
    let exporter = batch(&fake, BatchConfig::default());
    let tracer = picotrace::Tracer::new(
        TracerConfig::new("flush-result"),
        picotrace::SpanArena::<8>::new(),
        picotrace_std::SystemClock::new(),
        picotrace_std::id_generator(),
        exporter.clone(),
    );
    let traced = |n| {
        for _ in 0..n {
            tracer.start_span("x").end();
        }
        tracer.flush();
    };
    traced(3); // the send fails
    assert!(matches!(
        exporter.flush(),
        Err(ExportError::SpansLost {
            lost: 3,
            running: 0
        })
    ));
    assert!(exporter.flush().is_ok(), "nothing lost since");
    traced(2); // the collector rejects one
    assert!(matches!(
        exporter.flush(),
        Err(ExportError::SpansLost {
            lost: 1,
            running: 0
        })
    ));
    traced(2); // all sent
    assert!(exporter.flush().is_ok());
    assert!(matches!(
        exporter.shutdown(),
        Err(ExportError::SpansLost {
            lost: 4,
            running: 0
        })
    ));
    let stats = exporter.stats();
    assert_eq!((stats.exported, stats.failed, stats.rejected), (3, 3, 1));
}

/// A collector that never answers: each send waits out its deadline, then fails.
struct Hang;

impl Transport for Hang {
    fn protocol(&self) -> Protocol {
        Protocol::HttpProtobuf
    }

    fn send(
        &mut self,
        _: &[u8],
        _: usize,
        deadline: Instant,
    ) -> Result<ExportOutcome, ExportError> {
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        Err(ExportError::Timeout)
    }
}

/// Regression (tests/fault_suite.rs): with more queued than one export timeout could
/// send, shutdown returned `Timeout` and left the worker sending in the background,
/// so the spans still queued were counted nowhere and nobody was told they were lost.
#[test]
fn shutdown_drops_what_it_cannot_send_in_time_and_says_so() {
    let timeout = Duration::from_millis(300);
    let exporter = BatchExporter::builder(Hang)
        .config(
            BatchConfig::default()
                .with_max_export_batch_size(10)
                .with_export_timeout(timeout)
                .with_scheduled_delay(Duration::from_secs(60)),
        )
        .build()
        .unwrap();
    let provider = provider(&exporter);
    for _ in 0..50 {
        provider.tracer().start_span("x").end();
    }
    let started = Instant::now();
    let shutdown = provider.shutdown();
    let took = started.elapsed();
    let s = exporter.stats();
    assert!(
        matches!(
            shutdown,
            Err(ExportError::SpansLost {
                lost: 50,
                running: 0
            })
        ),
        "{shutdown:?} {s:#?}"
    );
    assert!(took < 2 * timeout, "{took:?}");
    assert_balanced(&s);
    assert!(s.failed > 0 && s.dropped_shutdown > 0, "{s:#?}");
    assert_eq!(s.failed + s.dropped_shutdown, 50);
}

#[test]
fn handles_are_send_sync_clone_span_exporters() {
    fn check<T: SpanExporter + Clone + Send + Sync + 'static>() {}
    check::<BatchExporter>();
    check::<SharedExporter>();
}

#[test]
fn dropping_the_last_handle_shuts_the_worker_down() {
    let fake = Fake::default();
    let exporter = batch(&fake, BatchConfig::default());
    let clone = exporter.clone();
    drop(exporter);
    assert!(!fake.dropped.load(Ordering::SeqCst));
    drop(clone);
    assert!(fake.dropped.load(Ordering::SeqCst));
}

#[test]
fn oversized_spans_are_dropped_and_counted() {
    let fake = Fake::default();
    let exporter = batch(&fake, BatchConfig::default().with_max_span_size(300));
    let provider = provider(&exporter);
    let mut big = provider.tracer().start_span("big");
    big.set_attribute("blob", "x".repeat(400).as_str());
    big.end();
    provider.tracer().start_span("small").end();
    assert_eq!(lost_in(provider.flush()), 1);
    let s = exporter.stats();
    assert_eq!((s.dropped_too_large, s.exported), (1, 1));
    assert_balanced(&s);
    assert_eq!(provider.stats().spans_export_failed, 1);
}

#[test]
fn spans_larger_than_a_span_buffer_are_measured_and_sent_whole() {
    let fake = Fake::default();
    let config = BatchConfig::default().with_span_buffer_capacity(128);
    let exporter = batch(&fake, config);
    let provider = provider(&exporter);
    let mut big = provider.tracer().start_span("big");
    big.set_attribute("blob", "x".repeat(400).as_str());
    big.end();
    provider.tracer().start_span("small").end();
    assert_eq!(lost_in(provider.flush()), 0);
    let s = exporter.stats();
    assert_eq!((s.dropped_too_large, s.exported), (0, 2));
    assert_balanced(&s);
    // One request holding both, the big span's 400-byte value whole (found by review:
    // only the request's size was checked, which two spans pass without the value).
    let requests = fake.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(
        (requests[0].1, requests[0].2),
        (2, 2),
        "spans given and in the body"
    );
    let body = fake.state.lock().unwrap().bodies[0].clone();
    assert!(
        body.contains(&format!("\"stringValue\":\"{}\"", "x".repeat(400))),
        "{body}"
    );
    assert_eq!(fake.spans_received(), 2);
}

#[test]
fn requests_never_exceed_the_max_request_size() {
    let fake = Fake::default();
    let exporter = batch(
        &fake,
        BatchConfig::default()
            .with_max_request_size(1500)
            .with_scheduled_delay(Duration::from_secs(60)),
    );
    let provider = provider(&exporter);
    for i in 0..100 {
        let mut span = provider.tracer().start_span("sized");
        span.set_attribute("i", i as i64);
    }
    provider.flush().unwrap();
    let reqs = fake.requests();
    assert!(reqs.len() > 5);
    for (len, spans, counted) in &reqs {
        assert!(*len <= 1500, "{len}");
        assert_eq!(spans, counted);
    }
    assert_eq!(exporter.stats().exported, 100);
}

/// Spans per JSON request body seen by the server.
fn spans_in(server: &Server) -> usize {
    server
        .requests()
        .iter()
        .map(|r| {
            String::from_utf8_lossy(&r.body)
                .matches("\"spanId\"")
                .count()
        })
        .sum()
}

fn otlp_batch(url: String, config: BatchConfig) -> (Arc<OtlpHttpExporter>, BatchExporter) {
    let otlp = Arc::new(
        OtlpHttpExporter::builder()
            .endpoint(url)
            .protocol(Protocol::HttpJson)
            .timeout(Duration::from_secs(5))
            .retry_policy(
                RetryPolicy::DEFAULT
                    .with_max_retries(1)
                    .with_backoff(Duration::from_millis(20), Duration::from_millis(20))
                    .with_jitter(Duration::ZERO),
            )
            .build()
            .unwrap(),
    );
    let batch = BatchExporter::builder(Arc::clone(&otlp))
        .config(config)
        .build()
        .unwrap();
    (otlp, batch)
}

/// `OtlpHttpExporter` shares itself between workers: with two, two requests are in
/// flight at once over two connections (the server answers each after 500 ms), and its
/// own stats count what both sent.
#[test]
fn an_otlp_exporter_sends_concurrent_requests_over_its_connections() {
    let server = Server::start();
    server.set_default(Reply::ok().delay(Duration::from_millis(500)));
    let otlp = OtlpHttpExporter::builder()
        .endpoint(server.url())
        .protocol(Protocol::HttpJson)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let exporter = BatchExporter::builder(otlp)
        .config(
            BatchConfig::default()
                .with_max_export_batch_size(50)
                .with_scheduled_delay(Duration::from_secs(60))
                .with_max_concurrent_exports(2),
        )
        .build()
        .unwrap();
    let provider = provider(&exporter);
    for _ in 0..100 {
        provider.tracer().start_span("x").end();
    }
    provider.flush().unwrap();
    assert_eq!(spans_in(&server), 100);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    // The second arrived before the first was answered (one at a time, it would have
    // come 500 ms after it at the earliest): shown by the server's arrival times, not
    // by a bound on the flush's duration (found by review: timed, it could flake).
    let (a, b) = (requests[0].at, requests[1].at);
    let apart = a.max(b).duration_since(a.min(b));
    assert!(apart < Duration::from_millis(500), "{apart:?}");
    let s = exporter.stats();
    assert_eq!((s.exported, s.batches), (100, 2));
    provider.shutdown().unwrap();
}

#[test]
fn a_collector_killed_and_restarted_mid_run_gets_the_spans_after_restart() {
    let first = Server::start();
    let port = first.port();
    let (otlp, exporter) = otlp_batch(
        first.url(),
        BatchConfig::default().with_scheduled_delay(Duration::from_millis(10)),
    );
    let provider = provider(&exporter);
    // Returns how many spans the flush after them said were lost.
    let burst = |name: &'static str| {
        for _ in 0..10 {
            provider.tracer().start_span(name).end();
        }
        lost_in(provider.flush())
    };
    assert_eq!(burst("before"), 0);
    assert_eq!(spans_in(&first), 10);
    first.stop();
    assert_eq!(burst("while down"), 10);
    let second = Server::start_on(port).expect("rebind the same port");
    assert_eq!(burst("after"), 0);
    assert_eq!(spans_in(&second), 10);
    let s = exporter.stats();
    assert_eq!((s.exported, s.failed, s.failed_batches), (20, 10, 1));
    assert_balanced(&s);
    let o = otlp.stats();
    assert_eq!((o.spans_exported, o.spans_failed), (20, 10));
}

#[test]
fn end_stays_fast_while_the_collector_is_slow() {
    let server = Server::start();
    server.set_default(Reply::ok().delay(Duration::from_secs(2)));
    let (_otlp, exporter) = otlp_batch(
        server.url(),
        BatchConfig::default()
            .with_max_queue_size(512)
            .with_max_export_batch_size(128)
            .with_scheduled_delay(Duration::from_millis(20)),
    );
    let provider = provider(&exporter);
    let tracer = provider.tracer();
    let mut ends = Vec::with_capacity(3000);
    let run_started = Instant::now();
    for i in 0..3000 {
        let mut span = tracer.start_span("GET /slow");
        span.set_attribute("http.request.method", "GET");
        span.set_attribute("i", i as i64);
        let t = Instant::now();
        span.end();
        ends.push(t.elapsed());
        if i % 500 == 0 {
            // Spread the spans over time so the worker is mid-request while we end.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let run = run_started.elapsed();
    ends.sort_unstable();
    let p50 = ends[ends.len() / 2];
    let p99 = ends[ends.len() * 99 / 100];
    let max = *ends.last().unwrap();
    eprintln!(
        "end() with a 2 s collector: p50 {p50:?}, p99 {p99:?}, max {max:?} over {} spans \
         ({run:?} in all)",
        ends.len()
    );
    // Waiting on the network would show as seconds (how fast `end()` is belongs to the
    // benchmark: a p99 bound here was a speed claim on a shared machine, found by
    // review).
    assert!(max < Duration::from_millis(500), "max {max:?}");
    assert!(
        run < Duration::from_secs(2),
        "the loop waited on the network: {run:?}"
    );
    // The collector recovers; the queue drains.
    server.set_default(Reply::ok());
    let shutdown = provider.shutdown();
    let s = exporter.stats();
    // Shutdown says exactly what the full queue cost.
    match shutdown {
        Err(ExportError::SpansLost { lost, running: 0 }) => assert_eq!(lost, s.dropped()),
        other => panic!("{other:?}"),
    }
    assert_balanced(&s);
    assert!(s.dropped_queue_full > 0, "{s:#?}");
    assert!(s.max_queue_len <= 512);
    assert_eq!(s.produced, 3000);
    assert_eq!(spans_in(&server) as u64, s.exported);
}

/// Calls `try_export` and keeps the errors.
struct TryExport(BatchExporter, Arc<Mutex<Vec<String>>>);

impl SpanExporter for TryExport {
    fn export(&mut self, batch: &picotrace::SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
        if let Err(e) = self.0.try_export(batch) {
            self.1.lock().unwrap().push(format!("{e:?}"));
        }
        Ok(())
    }
}

#[test]
fn try_export_names_queue_full_and_shutdown() {
    let fake = Fake::with_delay(Duration::from_millis(50));
    // A queue of 2 and batches of 2: a pool of 4 buffers.
    let exporter = batch(
        &fake,
        BatchConfig::default()
            .with_max_queue_size(2)
            .with_max_export_batch_size(2),
    );
    let errors = Arc::new(Mutex::new(Vec::new()));
    let tracer = picotrace::Tracer::new(
        TracerConfig::new("try-export"),
        picotrace::SpanArena::<8>::new(),
        picotrace_std::SystemClock::new(),
        picotrace_std::id_generator(),
        TryExport(exporter.clone(), Arc::clone(&errors)),
    );
    for _ in 0..5 {
        tracer.start_span("x").end();
    }
    tracer.flush();
    // Three of the five did not fit the queue of 2: lost, and said so.
    assert!(matches!(
        exporter.shutdown(),
        Err(ExportError::SpansLost {
            lost: 3,
            running: 0
        })
    ));
    tracer.start_span("late").end();
    tracer.flush();
    assert_eq!(*errors.lock().unwrap(), ["QueueFull", "Shutdown"]);
    let s = exporter.stats();
    assert_eq!(
        (s.exported, s.dropped_queue_full, s.dropped_shutdown),
        (2, 3, 1)
    );
    assert_balanced(&s);
    // A later shutdown counts the late span too (its docs said "the same result";
    // found by review): every span lost over the exporter's life.
    assert!(matches!(
        exporter.shutdown(),
        Err(ExportError::SpansLost {
            lost: 4,
            running: 0
        })
    ));
}

/// Panics on its first request, then accepts.
struct PanicsOnce(bool);

impl Transport for PanicsOnce {
    fn protocol(&self) -> Protocol {
        Protocol::HttpProtobuf
    }

    fn send(&mut self, _: &[u8], _: usize, _: Instant) -> Result<ExportOutcome, ExportError> {
        assert!(std::mem::replace(&mut self.0, true), "transport bug");
        Ok(ExportOutcome::default())
    }
}

/// Regression: a panic in a transport ended the batch worker, so every later span
/// stayed queued until shutdown dropped it.
#[test]
fn a_panicking_transport_fails_its_request_and_the_worker_goes_on() {
    let exporter = BatchExporter::builder(PanicsOnce(false)).build().unwrap();
    let provider = provider(&exporter);
    provider.tracer().start_span("first").end();
    assert_eq!(lost_in(provider.flush()), 1, "the request that panicked");
    provider.tracer().start_span("second").end();
    assert_eq!(lost_in(provider.flush()), 0);
    let s = exporter.stats();
    assert_eq!((s.exported, s.failed), (1, 1), "{s:#?}");
    assert_balanced(&s);
}

/// Panics in `export_timeout` and `throttled_for` the first time each is asked.
struct AsksPanicOnce {
    timeout_asked: bool,
    throttle_asked: std::sync::atomic::AtomicBool,
}

impl Transport for AsksPanicOnce {
    fn protocol(&self) -> Protocol {
        Protocol::HttpProtobuf
    }

    fn export_timeout(&self) -> Option<Duration> {
        assert!(self.timeout_asked, "transport bug in export_timeout");
        None
    }

    fn throttled_for(&self) -> Option<Duration> {
        let asked = self.throttle_asked.swap(true, Ordering::SeqCst);
        assert!(asked, "transport bug in throttled_for");
        None
    }

    fn send(&mut self, _: &[u8], _: usize, _: Instant) -> Result<ExportOutcome, ExportError> {
        self.timeout_asked = true;
        Ok(ExportOutcome::default())
    }
}

/// Regression (found by review): a panic in a transport's `export_timeout` or
/// `throttled_for`, which the worker asks outside `send`, ended the worker: the queue
/// was dropped (counted) and every later span refused. They are taken as `None` (no
/// limit, no wait of the transport's own) for that batch, which is sent.
#[test]
fn a_transport_panicking_in_its_limits_does_not_stop_the_worker() {
    let exporter = BatchExporter::builder(AsksPanicOnce {
        timeout_asked: false,
        throttle_asked: std::sync::atomic::AtomicBool::new(false),
    })
    .build()
    .unwrap();
    let provider = provider(&exporter);
    provider.tracer().start_span("first").end();
    assert_eq!(lost_in(provider.flush()), 0);
    provider.tracer().start_span("second").end();
    assert_eq!(lost_in(provider.flush()), 0);
    let s = exporter.stats();
    assert_eq!((s.exported, s.failed), (2, 0), "{s:#?}");
    assert_balanced(&s);
}

/// Fails every request (a collector that is down).
struct Down;

impl Transport for Down {
    fn protocol(&self) -> Protocol {
        Protocol::HttpProtobuf
    }

    fn send(&mut self, _: &[u8], _: usize, _: Instant) -> Result<ExportOutcome, ExportError> {
        Err(ExportError::Timeout)
    }
}

/// Regression: the loss warning went through `eprintln!`, which panics when stderr
/// cannot be written (a pipe with no reader, a full disk): the worker thread died
/// before counting its batch, so `flush` waited out its timeout and every later span
/// stayed queued. Run in a child process whose stderr is a pipe nobody reads.
#[test]
fn a_loss_warning_to_a_broken_stderr_does_not_stop_the_worker() {
    const CHILD: &str = "PICOTRACE_BROKEN_STDERR_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let exporter = BatchExporter::builder(Down)
            .config(BatchConfig::default().with_export_timeout(Duration::from_secs(3)))
            .build()
            .unwrap();
        let provider = provider(&exporter);
        for name in ["first", "second"] {
            provider.tracer().start_span(name).end();
            let started = Instant::now();
            let flushed = provider.flush();
            println!("child: {name} {flushed:?} in {:?}", started.elapsed());
        }
        return;
    }
    let mut child = spawn_self(
        "a_loss_warning_to_a_broken_stderr_does_not_stop_the_worker",
        CHILD,
    );
    drop(child.stderr.take()); // no reader: every write to stderr fails (EPIPE)
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for name in ["first", "second"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("child: {name} ")))
            .unwrap_or_else(|| panic!("no line for {name}: {stdout}"));
        assert!(line.contains("SpansLost { lost: 1"), "{line}");
    }
}

/// Regression (found by review): the last worker out wrote its loss warning while it
/// held the queue's lock, which `shutdown` waits on: with stderr blocked (a pipe nobody
/// reads, its lock held by a thread stuck writing), `shutdown` hung past its deadline.
/// Run in a child process whose stderr fills up.
#[test]
fn shutdown_returns_in_time_while_stderr_is_blocked() {
    use std::io::{BufRead, Write};
    const CHILD: &str = "PICOTRACE_BLOCKED_STDERR_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let exporter = BatchExporter::builder(Down)
            .config(
                BatchConfig::default()
                    .with_export_timeout(Duration::from_secs(1))
                    .with_scheduled_delay(Duration::from_secs(60)),
            )
            .build()
            .unwrap();
        let provider = provider(&exporter);
        provider.tracer().start_span("a").end();
        let _ = provider.flush(); // fails; its warning is written (the pipe has room)
        provider.tracer().start_span("b").end();
        let _ = provider.flush(); // fails; its warning waits (within 10 s of the last)
        std::thread::spawn(|| {
            let _ = std::io::stderr().lock().write_all(&vec![b'x'; 1 << 20]);
        });
        std::thread::sleep(Duration::from_millis(200)); // the pipe is full, stderr's lock held
        let started = Instant::now();
        let shut = exporter.shutdown();
        println!("child: shutdown {shut:?} in {:?}", started.elapsed());
        return;
    }
    let mut child = spawn_self("shutdown_returns_in_time_while_stderr_is_blocked", CHILD);
    let _stderr = child.stderr.take(); // kept open, never read
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if line.starts_with("child: shutdown") {
                let _ = tx.send(line);
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("shutdown hung past its deadline");
    assert!(line.contains("Err"), "{line}");
}

/// Runs the test `name` of this binary again in a child process, with the variable
/// `child` set (the test then plays the child's part), stdout and stderr piped.
fn spawn_self(name: &str, child: &str) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture"])
        .env(child, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// A transport that overstays its deadline (by `0`), as a broken one might.
struct Oversleeps(Duration);

impl Transport for Oversleeps {
    fn protocol(&self) -> Protocol {
        Protocol::HttpProtobuf
    }

    fn send(&mut self, _: &[u8], _: usize, _: Instant) -> Result<ExportOutcome, ExportError> {
        std::thread::sleep(self.0);
        Err(ExportError::Timeout)
    }
}

/// An exporter whose worker is sending one span with a transport that returns 900 ms
/// later, past its 100 ms deadline, and the provider that fed it.
fn sending_past_its_deadline() -> (BatchExporter, TracerProvider) {
    let exporter = BatchExporter::builder(Oversleeps(Duration::from_millis(900)))
        .config(BatchConfig::default().with_export_timeout(Duration::from_millis(100)))
        .build()
        .unwrap();
    let provider = provider(&exporter);
    provider.tracer().start_span("x").end();
    let _ = provider.tracer().try_flush();
    std::thread::sleep(Duration::from_millis(50)); // the worker is sending now
    (exporter, provider)
}

/// Regression: a shutdown that timed out (the transport overstayed its deadline) left
/// the buffers allocated for good: a later call, once the worker had gone, returned
/// `Ok` without freeing them.
#[test]
fn a_later_shutdown_frees_what_a_timed_out_one_could_not() {
    let (exporter, _provider) = sending_past_its_deadline();
    assert!(matches!(exporter.shutdown(), Err(ExportError::Timeout)));
    std::thread::sleep(Duration::from_millis(1_000)); // the transport returns
                                                      // Done now: the span the transport failed is lost, and said so.
    assert!(matches!(
        exporter.shutdown(),
        Err(ExportError::SpansLost {
            lost: 1,
            running: 0
        })
    ));
    assert_eq!(
        exporter.stats().pool_allocated,
        0,
        "{:#?}",
        exporter.stats()
    );
}

/// Regression: the same through a provider. Its shutdown timed out, and every later
/// call returned `Ok` without asking the exporter again: the span the transport
/// failed was never reported lost, and the exporter's buffers stayed allocated.
#[test]
fn a_later_provider_shutdown_reports_what_a_timed_out_one_could_not() {
    let (exporter, provider) = sending_past_its_deadline();
    assert!(matches!(provider.shutdown(), Err(ExportError::Timeout)));
    // Asked again while the transport still sends: still not done.
    assert!(matches!(provider.shutdown(), Err(ExportError::Timeout)));
    std::thread::sleep(Duration::from_millis(1_000)); // the transport returns
    let finished = provider.shutdown();
    assert!(
        matches!(
            finished,
            Err(ExportError::SpansLost {
                lost: 1,
                running: 0
            })
        ),
        "{finished:?}"
    );
    assert_eq!(
        exporter.stats().pool_allocated,
        0,
        "{:#?}",
        exporter.stats()
    );
    // Done: later calls answer at once.
    assert!(provider.shutdown().is_ok());
}

/// A transport that, inside its first send, calls back into the provider that feeds
/// it (flush, then shutdown) and keeps what those calls returned.
struct CallsBack {
    provider: Arc<std::sync::OnceLock<&'static TracerProvider>>,
    answers: Arc<Mutex<Vec<String>>>,
    exporter: Arc<std::sync::OnceLock<BatchExporter>>,
}

impl Transport for CallsBack {
    fn protocol(&self) -> Protocol {
        Protocol::HttpProtobuf
    }

    fn send(&mut self, _: &[u8], _: usize, _: Instant) -> Result<ExportOutcome, ExportError> {
        let mut answers = self.answers.lock().unwrap();
        if answers.is_empty() {
            let provider = self.provider.get().expect("set before the first span");
            let exporter = self.exporter.get().expect("set before the first span");
            let started = Instant::now();
            for answer in [
                provider.flush(),
                provider.shutdown(),
                exporter.flush(),
                exporter.shutdown(),
            ] {
                answers.push(format!("{answer:?}"));
            }
            answers.push(format!("{}", started.elapsed() < Duration::from_secs(1)));
        }
        Ok(ExportOutcome::default())
    }
}

/// Regression: a transport (user code, run on the batch worker) that flushed or shut
/// down the provider or the exporter waited for the worker it runs on, until the
/// export timeout (30 s by default): each call is now refused at once with
/// `InsideExport`, having done nothing, and the spans still go out.
#[test]
fn a_transport_calling_back_into_its_provider_is_refused_at_once() {
    let provider_cell = Arc::new(std::sync::OnceLock::new());
    let exporter_cell = Arc::new(std::sync::OnceLock::new());
    let answers = Arc::new(Mutex::new(Vec::new()));
    let exporter = BatchExporter::builder(CallsBack {
        provider: Arc::clone(&provider_cell),
        answers: Arc::clone(&answers),
        exporter: Arc::clone(&exporter_cell),
    })
    .config(BatchConfig {
        export_timeout: Duration::from_secs(2),
        ..BatchConfig::DEFAULT
    })
    .build()
    .unwrap();
    let _ = exporter_cell.set(exporter.clone());
    let provider: &'static TracerProvider = Box::leak(Box::new(provider(&exporter)));
    let _ = provider_cell.set(provider);
    provider.tracer().start_span("first").end();
    assert_eq!(lost_in(provider.flush()), 0);
    assert_eq!(
        *answers.lock().unwrap(),
        [
            "Err(InsideExport)",
            "Err(InsideExport)",
            "Err(InsideExport)",
            "Err(InsideExport)",
            "true"
        ]
    );
    provider.tracer().start_span("second").end();
    provider
        .shutdown()
        .expect("nothing lost, nothing shut down before");
    let s = exporter.stats();
    assert_eq!((s.exported, s.failed), (2, 0), "{s:#?}");
    assert_balanced(&s);
}

/// The OTLP exporter's own request limit holds behind a `BatchExporter` too (the
/// smaller of the two wins): the worker used to size requests by the batch config's
/// 1 MiB alone, so an ingress limited to less answered 413 and every batch was lost.
#[test]
fn the_otlp_exporters_max_request_size_holds_behind_a_batch_exporter() {
    let server = Server::start();
    for owned in [false, true] {
        let otlp = OtlpHttpExporter::builder()
            .endpoint(server.url())
            .protocol(Protocol::HttpJson)
            .max_request_size(2048)
            .build()
            .unwrap();
        let builder = if owned {
            BatchExporter::builder(otlp)
        } else {
            BatchExporter::builder(Arc::new(otlp))
        };
        let exporter = builder
            .config(BatchConfig::default().with_scheduled_delay(Duration::from_secs(60)))
            .build()
            .unwrap();
        let provider = provider(&exporter);
        for i in 0..60 {
            let mut span = provider
                .tracer()
                .start_span("a span with a name of some length");
            span.set_attribute("i", i as i64);
            span.set_attribute("padding", "x".repeat(40).as_str());
        }
        provider.flush().unwrap();
        assert_eq!(exporter.stats().exported, 60, "owned: {owned}");
        provider.shutdown().unwrap();
    }
    let reqs = server.requests();
    assert!(reqs.len() > 4, "{} requests", reqs.len());
    for r in &reqs {
        assert!(r.body.len() <= 2048, "a request of {} bytes", r.body.len());
    }
    assert_eq!(spans_in(&server), 120);
}

/// Regression (found by review): a batch exporter given to `SharedExporter::new` (which
/// takes any exporter) was locked like any other, so the provider's flush returned with
/// spans in its queue and its shutdown left the worker running.
#[test]
fn a_batch_exporter_shared_by_new_is_flushed_and_shut_down() {
    // The batch exporter itself, and a `SharedExporter` holding it, given to `new`.
    let wrappers: [fn(BatchExporter) -> SharedExporter; 2] = [SharedExporter::new, |b| {
        SharedExporter::new(SharedExporter::from(b))
    }];
    for wrap in wrappers {
        let fake = Fake::with_delay(Duration::ZERO);
        let config = BatchConfig::default().with_scheduled_delay(Duration::from_secs(3600));
        let exporter = batch(&fake, config);
        let provider = TracerProvider::builder()
            .config(TracerConfig::new("batch-test"))
            .exporter(wrap(exporter.clone()))
            .build();
        provider.tracer().start_span("queued").end();
        provider.flush().unwrap();
        assert_eq!(fake.spans_received(), 1);
        provider.shutdown().unwrap();
        assert!(exporter.is_shutdown());
    }
}
