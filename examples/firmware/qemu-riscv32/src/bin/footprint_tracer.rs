//! Footprint: the baseline plus the tracer (arena, sampler, ids, entropy mixing) and W3C
//! `traceparent` parsing and emitting; spans are dropped at export (`NoopExporter`).
#![no_std]
#![no_main]

use panic_halt as _;
use picotrace::NoopExporter;
use picotrace_qemu_riscv32::{exit, footprint};

#[riscv_rt::entry]
fn main() -> ! {
    footprint::paint_stack();
    let (clock, mut uart) = footprint::base();
    let stats = footprint::traced(clock, &mut uart, NoopExporter);
    footprint::report(&mut uart, footprint::ARENA_BYTES);
    exit(stats.spans_exported == 2)
}
