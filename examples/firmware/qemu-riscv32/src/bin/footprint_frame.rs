//! Footprint: the tracer, the OTLP protobuf encoder and COBS + CRC-32 framing: what the
//! sensor-node demo ships, without its console.
#![no_std]
#![no_main]

use panic_halt as _;
use picotrace_firmware_common::FrameExporter;
use picotrace_qemu_riscv32::{exit, footprint, Uart};

#[riscv_rt::entry]
fn main() -> ! {
    footprint::paint_stack();
    let (clock, mut uart) = footprint::base();
    let exporter: FrameExporter<Uart, 512> = FrameExporter::new(Uart::new());
    let stats = footprint::traced(clock, &mut uart, exporter);
    footprint::report(&mut uart, footprint::ARENA_BYTES);
    exit(stats.spans_exported == 2 && stats.spans_lost() == 0)
}
