//! Footprint: the baseline plus the tracer (arena, sampler, ids, entropy mixing) and W3C
//! `traceparent` parsing and emitting; spans are dropped at export (`NoopExporter`).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_halt as _;
use picotrace::NoopExporter;
use picotrace_qemu_lm3s6965::{exit, footprint};

#[entry]
fn main() -> ! {
    footprint::paint_stack();
    let core = cortex_m::Peripherals::take().unwrap_or_else(|| exit(false));
    let (clock, mut uart, mut adc) = footprint::base(core.SYST);
    let stats = footprint::traced(clock, &mut uart, &mut adc, NoopExporter);
    footprint::report(&mut uart, footprint::ARENA_BYTES);
    exit(stats.spans_exported == 2)
}
