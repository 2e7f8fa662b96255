//! Footprint: the tracer, the OTLP protobuf encoder and COBS + CRC-32 framing: what the
//! sensor-node demo ships, without its console.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_halt as _;
use picotrace_firmware_common::FrameExporter;
use picotrace_qemu_lm3s6965::{exit, footprint, Uart0};

#[entry]
fn main() -> ! {
    footprint::paint_stack();
    let core = cortex_m::Peripherals::take().unwrap_or_else(|| exit(false));
    let (clock, mut uart, mut adc) = footprint::base(core.SYST);
    let exporter: FrameExporter<Uart0, 512> = FrameExporter::new(Uart0::new());
    let stats = footprint::traced(clock, &mut uart, &mut adc, exporter);
    footprint::report(&mut uart, footprint::ARENA_BYTES);
    exit(stats.spans_exported == 2 && stats.spans_lost() == 0)
}
