//! The fault suite (issue 11): a `TracerProvider` exporting through a `BatchExporter`
//! over an `OtlpHttpExporter` to a loopback fake collector that misbehaves as a
//! collector can: it never answers, answers one byte a second, resets the connection,
//! is not there (refused), answers 429 or 503 with `Retry-After: 99999`, announces a
//! 1 GiB body, or rejects spans through `partial_success`.
//!
//! For each fault: the application thread never waits on the network (every span's
//! start and end is timed), `shutdown()` returns within the export timeout plus some
//! slack, and every span is accounted for exactly: the tracer's `started ==
//! dropped_arena_full + handed to the exporter + dropped_shutdown`, the batch
//! exporter's `produced == exported + dropped + failed + rejected`, and `flush()` and
//! `shutdown()` report as lost exactly what the stats count. With the collector down,
//! a million spans leave the resident set size where it was.

mod support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use picotrace::{TracerConfig, TracerStats};
use picotrace_std::{
    BatchConfig, BatchExporter, BatchStats, ExportError, OtlpHttpExporter, RetryPolicy,
    TracerProvider,
};

/// The exporter's timeout and the batch exporter's: one send, retries included, and
/// the longest `flush()` and `shutdown()` may wait.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(1);
/// What `shutdown()` may take beyond [`EXPORT_TIMEOUT`]: a send returns shortly after
/// its deadline, and the machine is shared.
const SHUTDOWN_SLACK: Duration = Duration::from_millis(1500);
/// The longest one span's start and end may take. Waiting on the network would take
/// the export timeout (1 s) or a `Retry-After` (99999 s); half the timeout leaves room
/// for the scheduler of a loaded 2-core machine running the suite's tests side by side
/// (up to 48 ms measured there; 200 ms, the bound until a review, was one descheduling
/// from failing). `spans_end_while_the_exporter_is_stuck_on_the_network` shows the same
/// without timing a single span.
const MAX_SPAN_LATENCY: Duration = Duration::from_millis(500);
/// Spans per fault.
const SPANS: usize = 20_000;

/// Every test but the memory one shares the process; that one runs alone, so that
/// the resident set size it reads is its own.
static EXCLUSIVE: RwLock<()> = RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().unwrap_or_else(|e| e.into_inner())
}

// ---- the fake collector ------------------------------------------------------------

/// How the fake collector misbehaves, on every connection.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Reads the request, then holds the connection open without a word.
    NeverAnswers,
    /// Sends a (valid, empty) 200 response one byte per second.
    OneBytePerSecond,
    /// Reads a few bytes and closes with the rest unread: the kernel sends RST.
    Reset,
    /// Answers this status with `Retry-After: 99999`.
    RetryAfter(u16),
    /// A 200 announcing a 1 GiB body (`Content-Length: 1073741824`), sent as fast as
    /// the exporter reads it.
    HugeBody,
    /// A 200 whose `ExportTraceServiceResponse` rejects this many spans of each request
    /// (at most as many as it held).
    PartialSuccess(u64),
    /// Nothing listens on the port: connections are refused.
    Refused,
}

/// What the fake collector received and answered.
#[derive(Clone, Copy, Debug, Default)]
struct Log {
    /// Connections accepted.
    connections: u64,
    /// Requests whose body arrived whole.
    requests: u64,
    /// Spans in those requests.
    spans: u64,
    /// Spans it said it rejected (`PartialSuccess`).
    rejected: u64,
    /// The most body bytes it got out on one connection (`HugeBody`).
    max_body_written: u64,
}

struct FakeCollector {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: Option<JoinHandle<()>>,
    /// `Refused`: a socket bound to the port, never listening, so that no other test's
    /// server takes the port while this one runs (a port released could be).
    _refusing: Option<support::ClosedPort>,
}

impl FakeCollector {
    fn start(fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let refusing = matches!(fault, Fault::Refused).then(support::closed_port);
        let addr = match &refusing {
            Some(refusing) => SocketAddr::from(([127, 0, 0, 1], refusing.port())),
            None => listener.local_addr().unwrap(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Log::default()));
        let threads = Arc::new(Mutex::new(Vec::new()));
        let accept = (!matches!(fault, Fault::Refused)).then(|| {
            let (stop, log, threads) = (stop.clone(), log.clone(), threads.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    log.lock().unwrap().connections += 1;
                    let (stop, log) = (stop.clone(), log.clone());
                    let t = std::thread::spawn(move || {
                        let _ = serve(conn, fault, &stop, &log);
                    });
                    threads.lock().unwrap().push(t);
                }
            })
        });
        // `Refused`: the listener is closed here; its address is `refusing`'s.
        Self {
            addr,
            stop,
            log,
            threads,
            accept,
            _refusing: refusing,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn log(&self) -> Log {
        *self.log.lock().unwrap()
    }
}

impl Drop for FakeCollector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // unblocks `accept`
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for t in self.threads.lock().unwrap().drain(..) {
            let _ = t.join();
        }
    }
}

/// Whether an I/O error is a read or write timeout (the socket is still fine).
fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn serve(conn: TcpStream, fault: Fault, stop: &AtomicBool, log: &Mutex<Log>) -> io::Result<()> {
    if let Fault::Reset = fault {
        let mut some = [0; 64];
        let _ = (&conn).read(&mut some)?;
        // Dropped with the rest of the request unread (or still arriving): RST.
        return Ok(());
    }
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let body = read_request(&conn)?;
    let spans = spans_in(&body);
    {
        let mut log = log.lock().unwrap();
        log.requests += 1;
        log.spans += spans;
    }
    // From here on the socket is polled so that the collector stops promptly.
    let poll = Some(Duration::from_millis(50));
    conn.set_read_timeout(poll)?;
    conn.set_write_timeout(poll)?;
    let mut conn = conn;
    match fault {
        Fault::Reset | Fault::Refused => unreachable!(),
        Fault::NeverAnswers => {
            // Until the exporter gives up (EOF) or the test ends.
            let mut buf = [0; 1024];
            while !stop.load(Ordering::SeqCst) {
                match conn.read(&mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if timed_out(&e) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Fault::OneBytePerSecond => {
            let response = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                             content-length: 0\r\n\r\n";
            'bytes: for byte in response {
                conn.write_all(std::slice::from_ref(byte))?;
                let next = Instant::now() + Duration::from_secs(1);
                while Instant::now() < next {
                    if stop.load(Ordering::SeqCst) {
                        break 'bytes;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        Fault::RetryAfter(status) => {
            let head = format!(
                "HTTP/1.1 {status} Go Away\r\nretry-after: 99999\r\ncontent-length: 0\r\n\
                 connection: close\r\n\r\n"
            );
            conn.write_all(head.as_bytes())?;
        }
        Fault::HugeBody => {
            conn.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                  content-length: 1073741824\r\nconnection: close\r\n\r\n",
            )?;
            let chunk = [0u8; 64 * 1024];
            let mut written = 0u64;
            while written < 1 << 30 && !stop.load(Ordering::SeqCst) {
                match conn.write(&chunk) {
                    Ok(n) => written += n as u64,
                    Err(e) if timed_out(&e) => {}
                    // The exporter hung up: it read what it wanted.
                    Err(_) => break,
                }
            }
            let mut log = log.lock().unwrap();
            log.max_body_written = log.max_body_written.max(written);
        }
        Fault::PartialSuccess(per_request) => {
            let rejected = per_request.min(spans);
            log.lock().unwrap().rejected += rejected;
            let body = partial_success(rejected, "the fault suite rejects these");
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            conn.write_all(head.as_bytes())?;
            conn.write_all(&body)?;
        }
    }
    Ok(())
}

/// Reads one request (head and `Content-Length` body); returns the body.
fn read_request(conn: &TcpStream) -> io::Result<Vec<u8>> {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    let mut length = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((name, value)) = l.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(body)
}

/// Encodes an `ExportTraceServiceResponse` by hand: `partial_success` (field 1) =
/// `{ rejected_spans (1, varint), error_message (2, string) }`.
fn partial_success(rejected: u64, message: &str) -> Vec<u8> {
    let mut inner = vec![0x08];
    varint(&mut inner, rejected);
    inner.push(0x12);
    varint(&mut inner, message.len() as u64);
    inner.extend_from_slice(message.as_bytes());
    let mut out = vec![0x0a];
    varint(&mut out, inner.len() as u64);
    out.extend_from_slice(&inner);
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Counts the spans of an `ExportTraceServiceRequest`: resource_spans (1) ->
/// scope_spans (2) -> spans (2).
fn spans_in(request: &[u8]) -> u64 {
    let mut n = 0;
    for resource_spans in fields(request, 1) {
        for scope_spans in fields(resource_spans, 2) {
            n += fields(scope_spans, 2).len() as u64;
        }
    }
    n
}

/// Returns the length-delimited fields numbered `want` of a protobuf message (empty
/// when it is malformed).
fn fields(mut buf: &[u8], want: u64) -> Vec<&[u8]> {
    fn read_varint(buf: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = buf.split_first()?;
            *buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }
    let mut found = Vec::new();
    while !buf.is_empty() {
        let Some(key) = read_varint(&mut buf) else {
            return Vec::new();
        };
        let skip = match key & 7 {
            0 => read_varint(&mut buf).map(|_| 0),
            1 => Some(8),
            5 => Some(4),
            2 => read_varint(&mut buf).map(|len| len as usize),
            _ => None,
        };
        let Some(value) = skip.and_then(|len| buf.get(..len)) else {
            return Vec::new();
        };
        if key & 7 == 2 && key >> 3 == want {
            found.push(value);
        }
        buf = &buf[value.len()..];
    }
    found
}

// ---- the application side ----------------------------------------------------------

/// A provider exporting to `endpoint` with short timings: a batch exporter over an
/// OTLP/HTTP exporter with the default retry policy, both given `timeout`.
fn provider(endpoint: &str, timeout: Duration) -> (TracerProvider, BatchExporter) {
    let otlp = OtlpHttpExporter::builder()
        .endpoint(endpoint)
        .timeout(timeout)
        .retry_policy(RetryPolicy::DEFAULT)
        .build()
        .unwrap();
    let batch = BatchExporter::builder(otlp)
        .config(
            BatchConfig::default()
                .with_scheduled_delay(Duration::from_millis(20))
                .with_export_timeout(timeout),
        )
        .build()
        .unwrap();
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("fault-suite"))
        .exporter(batch.clone())
        .build();
    (provider, batch)
}

/// How long the application thread took.
#[derive(Clone, Copy, Debug, Default)]
struct AppTime {
    /// The slowest single span (start, two attributes, end).
    max: Duration,
    /// All spans.
    total: Duration,
}

/// Starts and ends `n` spans, timing each.
fn trace(provider: &TracerProvider, n: usize) -> AppTime {
    let tracer = provider.tracer();
    let mut time = AppTime::default();
    for i in 0..n {
        let t = Instant::now();
        let mut span = tracer.start_span("GET /fault");
        span.set_attribute("http.request.method", "GET");
        span.set_attribute("i", i as i64);
        span.end();
        let took = t.elapsed();
        time.max = time.max.max(took);
        time.total += took;
    }
    time
}

/// Everything a run measured.
#[derive(Debug)]
struct Run {
    app: AppTime,
    flush: Result<(), ExportError>,
    shutdown: Result<(), ExportError>,
    shutdown_took: Duration,
    /// The provider's view (the batch exporter's outcome merged in).
    provider: TracerStats,
    /// The tracer's own counters.
    tracer: TracerStats,
    batch: BatchStats,
}

/// Traces [`SPANS`] spans against `endpoint`, flushes, shuts down, and checks what
/// every fault must leave true; returns the figures for the fault's own checks.
fn run(name: &str, endpoint: &str) -> Run {
    let (provider, batch) = provider(endpoint, EXPORT_TIMEOUT);
    // In rounds with pauses between, so that the exporter's worker is caught in every
    // state (idle, sending, waiting to retry).
    let mut app = AppTime::default();
    for _ in 0..10 {
        let round = trace(&provider, SPANS / 10);
        app.max = app.max.max(round.max);
        app.total += round.total;
        std::thread::sleep(Duration::from_millis(10));
    }
    let flush = provider.flush();
    let flushed = provider.stats();
    let started = Instant::now();
    let shutdown = provider.shutdown();
    let shutdown_took = started.elapsed();
    let run = Run {
        app,
        flush,
        shutdown,
        shutdown_took,
        provider: provider.stats(),
        tracer: provider.tracer().stats(),
        batch: batch.stats(),
    };
    eprintln!(
        "{name}: span max {:?}, mean {:?}; shutdown {:?}; {:?}; flush {:?}; shutdown {:?}",
        run.app.max,
        run.app.total / SPANS as u32,
        run.shutdown_took,
        run.batch,
        run.flush,
        run.shutdown,
    );

    // 1. The application thread never waited on the network.
    assert!(
        run.app.max < MAX_SPAN_LATENCY,
        "{name}: a span took {:?}",
        run.app.max
    );
    // 2. Shutdown kept to its deadline.
    assert!(
        run.shutdown_took < EXPORT_TIMEOUT + SHUTDOWN_SLACK,
        "{name}: shutdown took {:?}",
        run.shutdown_took
    );
    // 3. Every span is counted once. The tracer: each span started was dropped at a
    //    full arena, handed to the exporter, or dropped after shutdown.
    let (t, b) = (&run.tracer, &run.batch);
    assert_eq!(t.spans_started, SPANS as u64, "{name}");
    assert_eq!(t.spans_sampled_out, 0, "{name}");
    assert_eq!(
        t.spans_exported + t.spans_export_failed,
        b.produced,
        "{name}: the tracer handed over what the batch exporter received: {t:?} {b:?}"
    );
    assert_eq!(
        t.spans_started,
        t.spans_dropped_arena_full + b.produced + t.spans_dropped_shutdown,
        "{name}: {t:?}"
    );
    // The batch exporter: nothing left in flight after shutdown.
    assert_eq!(b.in_flight(), 0, "{name}: {b:?}");
    assert_eq!(
        b.produced,
        b.exported + b.dropped() + b.failed + b.rejected,
        "{name}: {b:?}"
    );
    // The provider's view and what shutdown says.
    let p = &run.provider;
    assert_eq!(p.spans_exported, b.exported, "{name}");
    assert_eq!(
        p.spans_lost(),
        t.spans_started - b.exported,
        "{name}: every span not exported is lost: {p:?}"
    );
    match &run.flush {
        Ok(()) => assert_eq!(flushed.spans_lost(), 0, "{name}: flush said none lost"),
        Err(ExportError::SpansLost { lost, running: 0 }) => {
            assert_eq!(*lost, flushed.spans_lost(), "{name}: flush's count")
        }
        // A collector that holds requests, or retries (of a refused or reset connection,
        // after a 5xx) that fill the export timeout, or a `Retry-After` the queue waits
        // out, make flush wait its timeout (the same 1 s): shutdown's count is checked
        // below.
        Err(ExportError::Timeout) => {}
        Err(e) => panic!("{name}: flush: {e:?}"),
    }
    match &run.shutdown {
        Ok(()) => assert_eq!(p.spans_lost(), 0, "{name}: shutdown said none lost"),
        Err(ExportError::SpansLost { lost, running: 0 }) => {
            assert_eq!(*lost, p.spans_lost(), "{name}: shutdown's count")
        }
        Err(e) => panic!("{name}: shutdown: {e:?}"),
    }
    run
}

// ---- the faults --------------------------------------------------------------------

/// Runs against a collector that lets no span through; returns what it saw.
fn nothing_gets_through(name: &str, fault: Fault) -> (Run, Log) {
    let _shared = shared();
    let collector = FakeCollector::start(fault);
    let run = run(name, &collector.url());
    assert_eq!(run.batch.exported, 0, "{name}");
    assert!(run.batch.failed > 0, "{name}: {:?}", run.batch);
    (run, collector.log())
}

#[test]
fn a_collector_that_never_answers() {
    let (_, log) = nothing_gets_through("never answers", Fault::NeverAnswers);
    assert!(log.requests > 0);
}

#[test]
fn a_collector_that_answers_one_byte_per_second() {
    let (_, log) = nothing_gets_through("1 byte/s", Fault::OneBytePerSecond);
    assert!(log.requests > 0);
}

/// The exporter did connect, and lost its requests to resets (found by review: the
/// checks were those of a port nobody listens on).
#[test]
fn a_collector_that_resets_the_connection() {
    let (_, log) = nothing_gets_through("reset", Fault::Reset);
    assert!(log.connections > 0, "{log:?}");
    assert_eq!(log.requests, 0, "{log:?}");
}

#[test]
fn a_collector_that_is_not_there() {
    nothing_gets_through("refused", Fault::Refused);
}

/// `Retry-After: 99999` is longer than the export timeout: the exporter gives up at
/// once instead of waiting (past its deadline) to retry, and sends nothing more while
/// the wait (capped at the policy's 30 s, longer than the run) runs: one request in
/// all (before a review, every batch sent one request, back to back). The later spans
/// wait in the queue for the wait to end (before another review, each batch failed
/// unsent): those the full queue refused, and those still queued at shutdown, are
/// dropped and counted.
fn retry_after(status: u16) {
    let (run, log) =
        nothing_gets_through(&format!("{status} retry-after"), Fault::RetryAfter(status));
    assert_eq!(log.requests, 1, "one request, then none: {:?}", run.batch);
    let b = &run.batch;
    assert_eq!(b.batches, 1, "{b:?}");
    assert!(b.dropped_queue_full > 0 && b.dropped_shutdown > 0, "{b:?}");
    assert_eq!(
        b.failed + b.dropped_queue_full + b.dropped_shutdown,
        b.produced,
        "every span counted once: {b:?}"
    );
}

#[test]
fn a_collector_answering_429_with_an_absurd_retry_after() {
    retry_after(429);
}

#[test]
fn a_collector_answering_503_with_an_absurd_retry_after() {
    retry_after(503);
}

#[test]
fn a_collector_announcing_a_1_gib_body() {
    let _shared = shared();
    let collector = FakeCollector::start(Fault::HugeBody);
    let run = run("1 GiB body", &collector.url());
    let log = collector.log();
    eprintln!("1 GiB body: {log:?}");
    // A 200 means the spans arrived, whatever the body.
    assert_eq!(run.batch.exported, log.spans, "{log:?}");
    assert!(run.batch.exported > 0);
    // The exporter reads 4 MiB of a response at most; the rest of what got out sits
    // in socket buffers.
    assert!(
        log.max_body_written < 64 << 20,
        "the exporter read {} bytes of one response",
        log.max_body_written
    );
}

#[test]
fn a_collector_rejecting_spans_through_partial_success() {
    let _shared = shared();
    let collector = FakeCollector::start(Fault::PartialSuccess(100));
    let run = run("partial success", &collector.url());
    let log = collector.log();
    assert!(log.rejected > 0, "{log:?}");
    assert_eq!(run.batch.rejected, log.rejected, "{log:?}");
    assert_eq!(run.batch.exported, log.spans - log.rejected, "{log:?}");
    assert_eq!(run.batch.failed, 0, "partial success is not a failure");
}

/// A zero timeout set in code means no limit, as `OTEL_EXPORTER_OTLP_TIMEOUT=0` and
/// `OTEL_BSP_EXPORT_TIMEOUT=0` do: with both zero, spans reach a working collector.
/// Before, the deadline was "now": every send timed out before its first request, and
/// every span was counted failed.
#[test]
fn a_zero_timeout_set_in_code_means_no_limit() {
    let _shared = shared();
    let collector = FakeCollector::start(Fault::PartialSuccess(0));
    let (provider, batch) = provider(&collector.url(), Duration::ZERO);
    trace(&provider, 100);
    let flushed = provider.flush();
    let stats = batch.stats();
    let shutdown = provider.shutdown();
    assert!(flushed.is_ok(), "{flushed:?} {stats:?}");
    assert!(shutdown.is_ok(), "{shutdown:?}");
    assert_eq!(stats.exported, 100, "{stats:?}");
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(collector.log().spans, 100);
}

/// The application thread goes on while the exporter's only sender is stuck in a
/// request: 10k spans start and end between the request reaching the collector and
/// the exporter giving up on it.
#[test]
fn spans_end_while_the_exporter_is_stuck_on_the_network() {
    let _shared = shared();
    let collector = FakeCollector::start(Fault::NeverAnswers);
    // A long timeout, so that the request surely outlasts the spans below.
    let timeout = Duration::from_secs(3);
    let (provider, batch) = provider(&collector.url(), timeout);
    trace(&provider, 1000);
    let waited = Instant::now();
    while collector.log().requests == 0 {
        assert!(waited.elapsed() < timeout, "no request came");
        std::thread::sleep(Duration::from_millis(1));
    }
    let started = Instant::now();
    let app = trace(&provider, 10_000);
    let took = started.elapsed();
    let s = batch.stats();
    eprintln!(
        "10k spans with the sender stuck: {took:?} (max {:?}); {s:?}",
        app.max
    );
    assert_eq!(
        (s.batches, s.failed_batches, s.exported),
        (1, 0, 0),
        "the first request is still unanswered"
    );
    assert!(s.dropped_queue_full > 0, "the queue filled up and dropped");
    let started = Instant::now();
    let lost = provider.shutdown();
    assert!(started.elapsed() < timeout + SHUTDOWN_SLACK);
    assert!(
        matches!(
            lost,
            Err(ExportError::SpansLost {
                lost: 11_000,
                running: 0
            })
        ),
        "{lost:?}"
    );
}

/// A million spans with the collector down (not answering, then not there): the
/// queue stays bounded, spans are dropped and counted, and the resident set size
/// grows by less than 64 MiB.
#[test]
fn memory_stays_bounded_with_the_collector_down_for_a_million_spans() {
    // Alone in the process, so that the resident set size is this test's.
    let _alone = EXCLUSIVE.write().unwrap_or_else(|e| e.into_inner());
    const MILLION: usize = 1_000_000;
    const MAX_GROWTH: u64 = 64 << 20;
    for (name, fault) in [
        ("never answers", Fault::NeverAnswers),
        ("refused", Fault::Refused),
    ] {
        let collector = FakeCollector::start(fault);
        let (provider, batch) = provider(&collector.url(), EXPORT_TIMEOUT);
        // Warm up: the arena, the pool's buffers, the request buffer, the threads.
        trace(&provider, 10_000);
        let before = support::rss_bytes();
        let started = Instant::now();
        let app = trace(&provider, MILLION);
        let took = started.elapsed();
        let after = support::rss_bytes();
        let s = batch.stats();
        let started = Instant::now();
        let lost = provider.shutdown();
        let shutdown_took = started.elapsed();
        let growth = after.saturating_sub(before);
        eprintln!(
            "{name}: 1M spans in {took:?} (max {:?}), RSS {before} -> {after} (+{growth}), \
             shutdown {shutdown_took:?}; {s:?}",
            app.max
        );
        assert!(growth < MAX_GROWTH, "{name}: RSS grew by {growth} bytes");
        assert!(s.max_queue_len <= batch.config().max_queue_size, "{s:?}");
        assert!(s.pool_allocated <= s.pool_size, "{s:?}");
        assert!(shutdown_took < EXPORT_TIMEOUT + SHUTDOWN_SLACK, "{name}");
        let total = (MILLION + 10_000) as u64;
        match lost {
            Err(ExportError::SpansLost { lost, running: 0 }) => assert_eq!(lost, total, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}
