//! picotrace in an embassy application on QEMU's LM3S6965: three tasks share one tracer.
//!
//! ```text
//! measure (task `sensor`, server span, child of the gateway's traceparent)
//! ├── settle             held across `Timer::after(..).await`
//! └── transmit (task `uplink`, client span: its parent's context came over a channel)
//! ```
//!
//! - `sensor` opens `measure`, holds a `settle` child across a timer, reads the ADC and
//!   hands `measure`'s `TraceContext` (with its tracestate) to `uplink` through an
//!   `embassy_sync` channel; it keeps `measure` open across the `.await`s until `uplink`
//!   answers.
//! - `uplink` starts `transmit` as a child of the context it received (another task's
//!   span), holds it across a timer ("radio time"), and answers.
//! - `exporter` sleeps until the tracer signals that a batch has ended
//!   ([`picotrace::ExportSignal`]), or for at most a second, then drains it: the tracer's `FrameExporter` encodes
//!   OTLP frames into a `FrameQueue` (never waits), and the task writes the queue to
//!   UART0 with `FrameQueue::write_to` (an `embedded_io_async::Write`), yielding while
//!   the FIFO is full, so the other tasks never wait for the link.
//!
//! The console prints no times and no generated ids, only what the inputs and the
//! tasks' causal order determine, so CI compares it with `embassy_node.out`.
//!
//! ```text
//! cargo run --release --bin embassy_node      # console only; UART0 is discarded
//! qemu-system-arm -machine lm3s6965evb ... -serial tcp:127.0.0.1:PORT \
//!     -semihosting-config enable=on,target=native,arg=embassy_node,arg=traceparent=00-...,arg=time=1767225600
//! ```
#![no_std]
#![no_main]

use core::fmt::Write as _;

use embassy_executor::Spawner;
use embassy_futures::select::{select3, Either3};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_sync::signal::Signal;
use embassy_time::{Duration, Timer};
use panic_halt as _;
use picotrace::export::frame::{FrameExporter, FrameQueue};
use picotrace::sampler::ParentBasedAlwaysOn;
use picotrace::time::EmbassyClock;
use picotrace::{ExportSignal, IdGenerator, SpanArena, SpanKind};
use picotrace::{Timestamp, TraceContext, Tracer, TracerConfig};
use picotrace_firmware_common::sensor_node;
use picotrace_firmware_common::SeedMixer;
use picotrace_qemu_embassy::{time_driver, AsyncUart0};
use picotrace_qemu_lm3s6965 as board;

/// Measurement rounds before the demo ends.
const ROUNDS: u32 = 3;
/// 8 spans of up to 8 attributes, 2 events, 1 link, 192 bytes of text: the spans of a
/// round (3) plus a round waiting for export.
type Arena = SpanArena<8, 8, 2, 1, 192>;
/// Encode buffer: one OTLP request of up to [`EXPORT_BATCH`] spans.
const ENCODE_BUFFER: usize = 1024;
/// Frames waiting for the UART: two rounds' worth.
const QUEUE_BYTES: usize = 2048;
/// Spans per export: one round.
const EXPORT_BATCH: usize = 3;
/// The longest an ended span waits for the exporter task when fewer than a batch
/// have ended (OpenTelemetry's scheduled delay; longer than this demo runs).
const EXPORT_INTERVAL: Duration = Duration::from_secs(1);

type Exporter = FrameExporter<&'static FrameQueue<QUEUE_BYTES>, ENCODE_BUFFER>;
/// OpenTelemetry's default sampler, fixed at compile time.
type AppTracer = Tracer<&'static Arena, &'static EmbassyClock, Exporter, ParentBasedAlwaysOn>;

static ARENA: Arena = Arena::new();
static CLOCK: EmbassyClock = EmbassyClock::new(Timestamp::ZERO);
static FRAMES: FrameQueue<QUEUE_BYTES> = FrameQueue::new();
/// The tracer is a plain `static`, built at compile time and seeded in `main` (spans
/// started before that are not recorded).
static TRACER: AppTracer = Tracer::unseeded(
    TracerConfig::new("embassy-node")
        .with_resource_attributes(&board::RESOURCE)
        .with_scope("picotrace-qemu-embassy", env!("CARGO_PKG_VERSION"))
        .with_export_batch_size(EXPORT_BATCH)
        .with_export_signal(&EXPORT_READY)
        .with_static_sampler(ParentBasedAlwaysOn),
    &ARENA,
    &CLOCK,
    FrameExporter::for_queue(&FRAMES),
);

/// Wakes the exporter task when a batch of spans has ended.
struct ExportReady(Signal<CriticalSectionRawMutex, ()>);

impl ExportSignal for ExportReady {
    fn export_ready(&self, _waiting: usize) {
        self.0.signal(());
    }
}

static EXPORT_READY: ExportReady = ExportReady(Signal::new());
/// The sensor task is done: export the rest and stop.
static DONE: Signal<CriticalSectionRawMutex, ()> = Signal::new();

/// What `sensor` hands to `uplink`: the reading and the context of its `measure` span.
struct Job {
    round: u32,
    millivolts: u32,
    /// `measure`'s context with its tracestate (found by review: its `SpanContext`
    /// alone, 26 bytes, dropped the gateway's tracestate on `transmit`'s side).
    parent: TraceContext,
}

/// What `uplink` answers.
struct Outcome {
    /// `transmit` carried `measure`'s trace id and named `measure` as its parent.
    linked: bool,
}

static JOBS: Channel<CriticalSectionRawMutex, Job, 1> = Channel::new();
static OUTCOMES: Channel<CriticalSectionRawMutex, Outcome, 1> = Channel::new();

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let core = cortex_m::Peripherals::take().unwrap_or_else(|| board::exit(false));
    board::init_clocks();
    time_driver::start(core.SYST);
    let mut console = board::Console::new();
    let _ = writeln!(console, "picotrace embassy node on LM3S6965 (Cortex-M3)");

    let mut args = [0u8; 192];
    let args = board::DemoArgs::read(&mut args);
    CLOCK.set_boot_time(args.boot);

    let mut adc = board::Adc0::new();
    let mut mixer = SeedMixer::new();
    board::collect_entropy(&mut mixer, &mut adc, 8);

    if !TRACER.seed(IdGenerator::from_entropy(&mut mixer)) {
        // Entropy that looks stuck: every device would make the same ids.
        board::exit(false);
    }
    let tracer: &'static AppTracer = &TRACER;

    let incoming = sensor_node::continue_trace(args.traceparent, &mut console);

    spawner.spawn(
        exporter(tracer, AsyncUart0(board::Uart0::new())).unwrap_or_else(|_| board::exit(false)),
    );
    spawner.spawn(uplink(tracer).unwrap_or_else(|_| board::exit(false)));
    spawner.spawn(sensor(tracer, adc, incoming.ok()).unwrap_or_else(|_| board::exit(false)));
}

#[embassy_executor::task]
async fn sensor(tracer: &'static AppTracer, mut adc: board::Adc0, incoming: Option<TraceContext>) {
    let mut console = board::Console::new();
    for round in 1..=ROUNDS {
        let mut measure = tracer.start_server_span("measure", incoming.as_ref());
        measure.set_attribute("round", round);

        // A span held across an await: the arena slot is the span's, not the task's stack.
        let mut settle = measure.child("settle");
        settle.set_attribute("settle.ms", 20u32);
        Timer::after_millis(20).await;
        let raw = adc.sample();
        let millivolts = sensor_node::to_millivolts::<board::Adc0>(raw);
        settle.set_attribute("adc.raw", raw);
        settle.set_ok();
        settle.end();

        let _ = writeln!(
            console,
            "round {round}: measure open across an await, {millivolts} mV; its context goes to uplink"
        );
        JOBS.send(Job {
            round,
            millivolts,
            parent: measure.trace_context(),
        })
        .await;
        let outcome = OUTCOMES.receive().await;
        if outcome.linked {
            measure.set_ok();
        } else {
            measure.set_error("transmit not linked to measure");
        }
        let _ = writeln!(
            console,
            "round {round}: uplink answered ({}); measure ends",
            if outcome.linked {
                "linked"
            } else {
                "NOT linked"
            }
        );
        measure.end();
    }
    DONE.signal(());
}

#[embassy_executor::task]
async fn uplink(tracer: &'static AppTracer) {
    let mut console = board::Console::new();
    loop {
        let job = JOBS.receive().await;
        // Another task's span as parent: its context is all that crossed the channel.
        let parent = &job.parent;
        let mut transmit = tracer
            .span_builder("transmit")
            .kind(SpanKind::Client)
            .parent(parent)
            .start();
        transmit.set_attribute("round", job.round);
        transmit.set_attribute("link.value_mv", job.millivolts);
        Timer::after_millis(10).await;
        let cx = transmit.context();
        let measure = &job.parent.span_context;
        let linked = cx.trace_id == measure.trace_id && cx.span_id != measure.span_id;
        transmit.set_ok();
        transmit.end();
        let _ = writeln!(
            console,
            "uplink: transmit {} is a child of measure {}, same trace: {}",
            job.round,
            job.round,
            if linked { "yes" } else { "no" }
        );
        OUTCOMES.send(Outcome { linked }).await;
    }
}

#[embassy_executor::task]
async fn exporter(tracer: &'static AppTracer, mut uart: AsyncUart0) {
    loop {
        // A full batch, the end, or the export interval: spans fewer than a batch (a
        // device that goes quiet after two) leave within the interval too.
        let woke = select3(
            EXPORT_READY.0.wait(),
            DONE.wait(),
            Timer::after(EXPORT_INTERVAL),
        );
        let done = matches!(woke.await, Either3::Second(()));
        if done {
            tracer.shutdown();
        } else {
            tracer.flush();
        }
        // Never fails: the UART's error type is `Infallible`.
        let _ = FRAMES.write_to(&mut uart).await;
        if done {
            break;
        }
    }
    let stats = tracer.stats();
    let frames = tracer.with_exporter(|x| x.stats()).unwrap_or_default();
    let queue = FRAMES.stats();
    let mut console = board::Console::new();
    let ok = sensor_node::report(&mut console, &stats, &frames);
    let _ = writeln!(
        console,
        "frame queue: {} frames dropped, {} send errors",
        queue.frames_dropped, queue.send_errors
    );
    // Both count lost frames: one the queue had no room for, one the UART failed.
    let ok = ok && queue.frames_dropped == 0 && queue.send_errors == 0;
    board::exit(ok)
}
