//! Footprint baseline: the firmware without tracing (time, UART, one reading).
//! `ci/footprint.sh` compares the other `footprint_*` binaries with this one.
#![no_std]
#![no_main]

use panic_halt as _;
use picotrace_qemu_riscv32::{exit, footprint};

#[riscv_rt::entry]
fn main() -> ! {
    footprint::paint_stack();
    let (_clock, mut uart) = footprint::base();
    footprint::report(&mut uart, 0);
    exit(true)
}
