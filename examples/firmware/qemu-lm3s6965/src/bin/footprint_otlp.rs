//! Footprint: the tracer plus the OTLP protobuf encoder; each request is written to the
//! UART as it is, without framing.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_halt as _;
use picotrace_firmware_common::footprint::RawOtlp;
use picotrace_qemu_lm3s6965::{exit, footprint, Uart0};

#[entry]
fn main() -> ! {
    footprint::paint_stack();
    let core = cortex_m::Peripherals::take().unwrap_or_else(|| exit(false));
    let (clock, mut uart, mut adc) = footprint::base(core.SYST);
    let stats = footprint::traced(clock, &mut uart, &mut adc, RawOtlp::new(Uart0::new()));
    footprint::report(&mut uart, footprint::ARENA_BYTES);
    exit(stats.spans_exported == 2 && stats.spans_lost() == 0)
}
