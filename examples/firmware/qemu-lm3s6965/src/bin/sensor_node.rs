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
use picotrace::export::frame::FrameExporter;
use picotrace::{IdGenerator, SpanArena, Tracer, TracerConfig};
use picotrace_firmware_common::sensor_node::{self, SimulatedLink};
use picotrace_firmware_common::SeedMixer;
use picotrace_qemu_lm3s6965 as board;

/// 8 spans of up to 8 attributes, 2 events, 1 link and 192 bytes of text each: the
/// deepest path (cycle → sample → transmit) plus a batch waiting for export.
type Arena = SpanArena<8, 8, 2, 1, 192>;
/// Encode buffer of the exporter: one request of up to `EXPORT_BATCH` spans.
const EXPORT_BUFFER: usize = 1024;
/// Spans per export (one frame each, unless it does not fit the buffer).
const EXPORT_BATCH: usize = 4;

#[entry]
fn main() -> ! {
    let core = cortex_m::Peripherals::take().unwrap_or_else(|| board::exit(false));
    board::init_clocks();
    let mut console = board::Console::new();
    let _ = writeln!(console, "picotrace sensor node on LM3S6965 (Cortex-M3)");

    let mut args = [0u8; 192];
    let args = board::DemoArgs::read(&mut args);

    let clock = board::SysTickClock::start(core.SYST, args.boot);
    let mut adc = board::Adc0::new();
    let mut mixer = SeedMixer::new();
    board::collect_entropy(&mut mixer, &mut adc, 8);

    // UART0 is an `embedded_io::Write`: core's exporter writes to it as it is.
    let exporter: FrameExporter<_, EXPORT_BUFFER> = FrameExporter::new(board::Uart0::new());
    let config = TracerConfig::new("sensor-node")
        .with_resource_attributes(&board::RESOURCE)
        .with_scope("picotrace-firmware-common", env!("CARGO_PKG_VERSION"))
        .with_export_batch_size(EXPORT_BATCH);
    // Built in place and lent to the tracer: moving a whole arena by value would put
    // several copies of it on the stack.
    let mut arena = Arena::new();
    let tracer: Tracer<&mut Arena, _, _> = Tracer::unseeded(config, &mut arena, clock, exporter);
    // `false`: the entropy looked stuck, and a tracer every device would seed alike
    // records nothing: the device says so (`Tracer::new` would drop that answer).
    if !tracer.seed(IdGenerator::from_entropy(&mut mixer)) {
        let _ = writeln!(console, "the entropy looks stuck: no tracing");
        board::exit(false);
    }

    let mut link = SimulatedLink::default();
    let summary = sensor_node::run(&tracer, &mut adc, &mut link, args.traceparent, &mut console);
    tracer.flush();

    let stats = tracer.stats();
    let frames = tracer.with_exporter(|x| x.stats()).unwrap_or_default();
    let _ = writeln!(
        console,
        "readings: {} sent, {} lost on the link",
        summary.sent, summary.failed
    );
    let ok = sensor_node::report(&mut console, &stats, &frames);
    board::exit(ok)
}
