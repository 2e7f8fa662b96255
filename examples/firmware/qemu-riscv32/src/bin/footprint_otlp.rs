//! Footprint: the tracer plus the OTLP protobuf encoder; each request is written to the
//! UART as it is, without framing.
#![no_std]
#![no_main]

use panic_halt as _;
use picotrace_firmware_common::footprint::RawOtlp;
use picotrace_qemu_riscv32::{exit, footprint, Uart};

#[riscv_rt::entry]
fn main() -> ! {
    footprint::paint_stack();
    let (clock, mut uart) = footprint::base();
    let stats = footprint::traced(clock, &mut uart, RawOtlp::new(Uart::new()));
    footprint::report(&mut uart, footprint::ARENA_BYTES);
    exit(stats.spans_exported == 2 && stats.spans_lost() == 0)
}
