//! embassy-time's driver on the Cortex-M SysTick: a 1 ms interrupt counts ticks (the
//! crate enables embassy-time's `tick-hz-1_000`) and wakes the timers that are due.
//!
//! What `embassy_time_driver::Driver` asks, and how this keeps it:
//! - `now` is monotonic and never overflows: a 64-bit count of milliseconds, read in a
//!   critical section (the Cortex-M3 has no 64-bit atomics), 0 before [`start`].
//! - `schedule_wake` wakes the task at or after `at`: timers sit in embassy's timer
//!   queue (`embassy_time_queue_utils::Queue`), and every tick hands the due ones to the
//!   executor; a timer already due is woken at once. SysTick has no compare register,
//!   so there is no alarm to program: the cost is one short interrupt per millisecond,
//!   which a low-power design would replace with a timer's compare interrupt.

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use critical_section::{CriticalSection, Mutex};
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;
use picotrace_qemu_lm3s6965::SYSCLK_HZ;

struct SysTickDriver {
    /// Milliseconds since [`start`].
    ticks: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

impl SysTickDriver {
    /// Wakes every timer due at `now`.
    fn wake_due(&self, cs: CriticalSection<'_>, now: u64) {
        self.queue.borrow_ref_mut(cs).next_expiration(now);
    }
}

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            if self.queue.borrow_ref_mut(cs).schedule_wake(at, waker) {
                // Wakes it now if it is already due; else the tick that reaches it will.
                self.wake_due(cs, self.ticks.borrow(cs).get());
            }
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

/// Starts SysTick on the core clock ([`SYSCLK_HZ`], set up by
/// `picotrace_qemu_lm3s6965::init_clocks`) with a 1 ms period.
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(SYSCLK_HZ / 1000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ticks = DRIVER.ticks.borrow(cs);
        let now = ticks.get() + 1;
        ticks.set(now);
        DRIVER.wake_due(cs, now);
    });
}
