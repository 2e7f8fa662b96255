//! Footprint baseline: the firmware without tracing (clocks, SysTick time, UART, ADC).
//! `ci/footprint.sh` compares the other `footprint_*` binaries with this one.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_halt as _;
use picotrace_qemu_lm3s6965::{exit, footprint};

#[entry]
fn main() -> ! {
    footprint::paint_stack();
    let core = cortex_m::Peripherals::take().unwrap_or_else(|| exit(false));
    let (_clock, mut uart, _adc) = footprint::base(core.SYST);
    footprint::report(&mut uart, 0);
    exit(true)
}
