//! The sensor-node demo on QEMU's LM3S6965: continues the trace of a `traceparent`
//! given on the semihosting command line (or a fixed one), runs the measurement cycle
//! of `picotrace_firmware_common::sensor_node`, and writes every finished span to UART0
//! as framed OTLP protobuf for `uart_bridge` to forward to a collector.
//!
//! ```text
//! cargo run --release --bin sensor_node       # console only; UART0 is discarded
//! qemu-system-arm -machine lm3s6965evb ... -serial tcp:127.0.0.1:PORT \
//!     -semihosting-config enable=on,target=native,arg=sensor_node,arg=traceparent=00-...,arg=time=1767225600
//! ```
//!
//! The console output is compared with `sensor_node.out` by CI, so it prints no times
//! and no generated ids.
#![no_std]
#![no_main]

use core::fmt::Write as _;

use cortex_m_rt::entry;
use panic_halt as _;
use picotrace::{IdGenerator, SpanArena, Timestamp, Tracer, TracerConfig};
use picotrace::{KeyValue, Value};
use picotrace_firmware_common::sensor_node::{self, SimulatedLink, DEFAULT_TRACEPARENT};
use picotrace_firmware_common::{FrameExporter, SeedMixer};
use picotrace_qemu_lm3s6965 as board;

/// 8 spans of up to 8 attributes, 2 events, 1 link and 192 bytes of text each: the
/// deepest path (cycle → sample → transmit) plus a batch waiting for export.
type Arena = SpanArena<8, 8, 2, 1, 192>;
/// Encode buffer of the exporter: one request of up to `EXPORT_BATCH` spans.
const EXPORT_BUFFER: usize = 1024;
/// Spans per export (one frame each, unless it does not fit the buffer).
const EXPORT_BATCH: usize = 4;
/// Boot time when no `time=` argument gives one: 2026-01-01T00:00:00Z.
const DEFAULT_BOOT_UNIX_SECONDS: u64 = 1_767_225_600;

static RESOURCE: [KeyValue<'static>; 3] = [
    KeyValue {
        key: "service.version",
        value: Value::Str(env!("CARGO_PKG_VERSION")),
    },
    KeyValue {
        key: "device.model.identifier",
        value: Value::Str("LM3S6965"),
    },
    KeyValue {
        key: "host.arch",
        value: Value::Str("arm32"),
    },
];

#[entry]
fn main() -> ! {
    let core = cortex_m::Peripherals::take().unwrap_or_else(|| board::exit(false));
    board::init_clocks();
    let mut console = board::Console::new();
    let _ = writeln!(console, "picotrace sensor node on LM3S6965 (Cortex-M3)");

    let mut args = [0u8; 192];
    let args = board::semihosting_args(&mut args);
    let traceparent = board::arg(args, "traceparent").unwrap_or(DEFAULT_TRACEPARENT);
    let boot_seconds = board::arg(args, "time")
        .and_then(board::parse_u64)
        .unwrap_or(DEFAULT_BOOT_UNIX_SECONDS);
    let epoch = Timestamp::from_unix_nanos(boot_seconds.saturating_mul(1_000_000_000));

    let clock = board::SysTickClock::start(core.SYST, epoch);
    let mut adc = board::Adc0::new();
    let mut mixer = SeedMixer::new();
    board::collect_entropy(&mut mixer, &mut adc, 8);

    let exporter: FrameExporter<_, EXPORT_BUFFER> = FrameExporter::new(board::Uart0::new());
    let config = TracerConfig::new("sensor-node")
        .with_resource_attributes(&RESOURCE)
        .with_scope("picotrace-firmware-common", env!("CARGO_PKG_VERSION"))
        .with_export_batch_size(EXPORT_BATCH);
    // Built in place and lent to the tracer: moving a whole arena by value would put
    // several copies of it on the stack.
    let mut arena = Arena::new();
    let tracer: Tracer<&mut Arena, _, _> = Tracer::new(
        config,
        &mut arena,
        clock,
        IdGenerator::from_entropy(&mut mixer),
        exporter,
    );

    let mut link = SimulatedLink::default();
    let summary = sensor_node::run(&tracer, &mut adc, &mut link, traceparent, &mut console);
    tracer.flush();

    let stats = tracer.stats();
    let frames = tracer.with_exporter(|x| x.stats()).unwrap_or_default();
    let _ = writeln!(
        console,
        "readings: {} sent, {} lost on the link",
        summary.sent, summary.failed
    );
    let _ = writeln!(
        console,
        "spans: {} started, {} exported, {} lost",
        stats.spans_started,
        stats.spans_exported,
        stats.spans_lost()
    );
    let _ = writeln!(
        console,
        "uart0: {} OTLP frames holding {} spans",
        frames.frames, frames.spans
    );
    let ok = stats.spans_lost() == 0 && frames.spans as u64 == stats.spans_exported;
    board::exit(ok)
}
