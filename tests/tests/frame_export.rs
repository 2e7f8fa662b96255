//! picotrace's framed OTLP export end to end on the host: spans recorded by a real
//! `Tracer`, exported by `export::frame::FrameExporter` into an `embedded_io::Write`
//! (a `&mut [u8]`, and a `FrameQueue` drained by `FrameQueue::write_to` into an
//! `embedded_io_async::Write`), the bytes split by `wire::frame::Decoder`, and each
//! payload decoded by opentelemetry-proto as an `ExportTraceServiceRequest` whose spans
//! are the ones recorded.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1 as pt;
use picotrace::export::frame::{FrameExporter, FrameQueue};
use picotrace::wire::frame::Decoder;
use picotrace::{IdGenerator, ManualClock, SpanArena, SpanKind, Timestamp, Tracer, TracerConfig};
use prost::Message;

const T0: u64 = 1_700_000_000_000_000_000;

/// Splits `wire` into frames; returns the payloads and how many frames were dropped.
fn split_frames(wire: &[u8]) -> (Vec<Vec<u8>>, u64) {
    let mut buf = vec![0u8; 8192];
    let mut decoder = Decoder::new(&mut buf);
    let mut input = wire;
    let mut payloads = Vec::new();
    while let Some(result) = decoder.feed(&mut input) {
        payloads.push(result.expect("an intact frame").to_vec());
    }
    assert!(
        input.is_empty() && !decoder.in_frame(),
        "a frame was left open"
    );
    let dropped = decoder.stats().dropped();
    (payloads, dropped)
}

/// Every span of every request, with the service name of its resource.
fn decoded_spans(payloads: &[Vec<u8>]) -> Vec<(String, pt::Span)> {
    let mut out = Vec::new();
    for payload in payloads {
        let request = ExportTraceServiceRequest::decode(&payload[..]).expect("valid OTLP protobuf");
        for rs in request.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref())
                .map(|v| format!("{:?}", v.value))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    out.push((service.clone(), span));
                }
            }
        }
    }
    out
}

/// Records a cycle of 1 + 3 × 2 spans (a server span, three samples with a client child
/// each), exporting every 3 ended spans through `exporter`; returns the tracer's stats
/// and what `inspect` makes of the exporter afterwards.
fn record_cycle<X: picotrace::SpanExporter + Send, R>(
    exporter: X,
    inspect: impl FnOnce(&mut X) -> R,
) -> (picotrace::TracerStats, R) {
    let clock = ManualClock::new(Timestamp::from_unix_nanos(T0));
    let tracer = Tracer::new(
        TracerConfig::new("frame-node").with_export_batch_size(3),
        SpanArena::<8>::new(),
        &clock,
        IdGenerator::from_seed([9; 32]),
        exporter,
    );
    let cycle = tracer.start_server_span("cycle", None);
    for i in 0..3u32 {
        let mut sample = cycle.child("sample");
        sample.set_attribute("sample.index", i + 1);
        clock.advance(core::time::Duration::from_millis(2));
        let mut send = sample.child_with_kind("send", SpanKind::Client);
        send.set_attribute("link.value_mv", 1500 + i);
        clock.advance(core::time::Duration::from_millis(1));
        send.set_ok();
        send.end();
        sample.end();
    }
    cycle.end();
    tracer.flush();
    let stats = tracer.stats();
    let seen = tracer.with_exporter(inspect).expect("no export running");
    (stats, seen)
}

fn check_cycle(spans: &[(String, pt::Span)]) {
    assert_eq!(spans.len(), 7);
    assert!(spans
        .iter()
        .all(|(service, _)| service.contains("frame-node")));
    let cycle = &spans
        .iter()
        .find(|(_, s)| s.name == "cycle")
        .expect("cycle")
        .1;
    assert!(cycle.parent_span_id.is_empty());
    assert_eq!(cycle.kind, pt::span::SpanKind::Server as i32);
    let samples: Vec<_> = spans.iter().filter(|(_, s)| s.name == "sample").collect();
    assert_eq!(samples.len(), 3);
    for (_, sample) in &samples {
        assert_eq!(sample.trace_id, cycle.trace_id);
        assert_eq!(sample.parent_span_id, cycle.span_id);
        let sends: Vec<_> = spans
            .iter()
            .filter(|(_, s)| s.name == "send" && s.parent_span_id == sample.span_id)
            .collect();
        assert_eq!(sends.len(), 1, "one send per sample");
        let send = &sends[0].1;
        assert_eq!(send.kind, pt::span::SpanKind::Client as i32);
        assert_eq!(
            send.end_time_unix_nano - send.start_time_unix_nano,
            1_000_000
        );
        assert_eq!(
            sample.end_time_unix_nano - sample.start_time_unix_nano,
            3_000_000
        );
    }
}

#[test]
fn frame_exporter_into_a_slice_writes_frames_that_decode_as_the_spans() {
    let mut wire = vec![0u8; 8192];
    let (stats, (frames, rest)) = record_cycle(FrameExporter::<_, 1024>::new(&mut wire[..]), |x| {
        (x.stats(), x.writer_mut().len())
    });
    let written = 8192 - rest;
    assert_eq!(stats.spans_exported, 7);
    assert_eq!(stats.spans_lost(), 0);
    assert_eq!((frames.spans, frames.write_errors), (7, 0));
    assert_eq!(
        frames.bytes as usize, written,
        "frames and the lone first delimiter"
    );
    let (payloads, dropped) = split_frames(&wire[..written]);
    assert_eq!((payloads.len() as u32, dropped), (frames.frames, 0));
    // Batches of 3 ended spans: one request each, and the last one alone.
    assert_eq!(frames.frames, 3);
    check_cycle(&decoded_spans(&payloads));
}

#[test]
fn frame_exporter_into_a_full_writer_counts_lost_spans_and_never_panics() {
    let mut wire = [0u8; 200];
    let (stats, frames) = record_cycle(FrameExporter::<_, 1024>::new(&mut wire[..]), |x| x.stats());
    assert_eq!(frames.frames, 0);
    assert_eq!(frames.spans_write_failed, 7);
    assert!(frames.write_errors >= 3);
    assert_eq!(stats.spans_export_failed, 7);
    assert_eq!(stats.spans_lost(), 7);
}

/// An async writer that accepts at most 5 bytes per call and is pending every other
/// call, as a UART with a small FIFO is.
struct SlowUart {
    out: Vec<u8>,
    pending: bool,
    calls: usize,
}

impl embedded_io_async::ErrorType for SlowUart {
    type Error = Infallible;
}

impl embedded_io_async::Write for SlowUart {
    async fn write(&mut self, bytes: &[u8]) -> Result<usize, Infallible> {
        self.calls += 1;
        let pending = self.pending;
        self.pending = !pending;
        Yield(pending).await;
        let n = bytes.len().min(5);
        self.out.extend_from_slice(&bytes[..n]);
        Ok(n)
    }

    async fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Pending once when built with `true`.
struct Yield(bool);

impl Future for Yield {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::take(&mut self.0) {
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// Polls `f` to completion with a waker that does nothing; returns the result and how
/// many times it was pending.
fn block_on<F: Future>(f: F) -> (F::Output, usize) {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    let mut pending = 0;
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return (out, pending);
        }
        pending += 1;
    }
}

#[test]
fn frame_queue_written_by_an_async_task_delivers_the_spans() {
    static QUEUE: FrameQueue<4096> = FrameQueue::new();
    let (stats, frames) = record_cycle(FrameExporter::<_, 1024>::new(&QUEUE), |x| x.stats());
    assert_eq!((stats.spans_exported, stats.spans_lost()), (7, 0));
    let ready = QUEUE.ready_len();
    assert_eq!(
        ready, frames.bytes as usize,
        "the lone first delimiter counted too"
    );

    let mut uart = SlowUart {
        out: Vec::new(),
        pending: true,
        calls: 0,
    };
    let (sent, pending) = block_on(QUEUE.write_to(&mut uart));
    assert_eq!(sent, Ok(ready));
    assert!(
        pending > 0 && uart.calls >= ready / 5,
        "the writer was slow: {pending} / {}",
        uart.calls
    );
    assert_eq!(QUEUE.ready_len(), 0);
    assert_eq!(QUEUE.stats().bytes_sent as usize, ready);
    assert_eq!(QUEUE.stats().frames_dropped, 0);

    let (payloads, dropped) = split_frames(&uart.out);
    assert_eq!((payloads.len() as u32, dropped), (frames.frames, 0));
    check_cycle(&decoded_spans(&payloads));
}

#[test]
fn frame_queue_too_small_drops_whole_frames_and_the_rest_still_decodes() {
    // Room for the first request (3 spans) but not the second until it is sent.
    static QUEUE: FrameQueue<700> = FrameQueue::new();
    let (stats, frames) = record_cycle(FrameExporter::<_, 1024>::new(&QUEUE), |x| x.stats());
    let queue = QUEUE.stats();
    assert!(frames.frames >= 1, "{frames:?}");
    assert!(queue.frames_dropped >= 1, "{queue:?}");
    assert_eq!(
        stats.spans_export_failed,
        u64::from(frames.spans_write_failed)
    );
    assert_eq!(frames.spans + frames.spans_write_failed, 7);

    let mut uart = SlowUart {
        out: Vec::new(),
        pending: false,
        calls: 0,
    };
    let (sent, _) = block_on(QUEUE.write_to(&mut uart));
    assert_eq!(sent, Ok(uart.out.len()));
    // Only whole frames left the queue: every one decodes, none is cut.
    let (payloads, dropped) = split_frames(&uart.out);
    assert_eq!((payloads.len() as u32, dropped), (frames.frames, 0));
    assert_eq!(decoded_spans(&payloads).len() as u32, frames.spans);
}
