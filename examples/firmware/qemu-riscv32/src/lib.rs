//! Board support for QEMU's riscv32 `virt` board, enough for the footprint binaries
//! (`ci/footprint.sh`) on an RV32IMC core (the ESP32-C3's instruction set): a clock on
//! the CLINT's `mtime`, the NS16550 UART, the Goldfish real-time clock as the "sensor",
//! and the test device that ends QEMU with a status.
//!
//! Nothing here formats text: `core::fmt` would dwarf what is measured. The binaries in
//! `src/bin` match ../qemu-lm3s6965's `footprint_*` and run the same workload
//! (`picotrace_firmware_common::footprint`).
#![no_std]

use picotrace::{Clock, Timestamp};
use picotrace_firmware_common::footprint::FootprintBoard;
use picotrace_firmware_common::SeedMixer;

mod mmio {
    /// Reads a 32-bit device register.
    #[inline]
    pub fn read(addr: usize) -> u32 {
        // SAFETY: every address passed in this crate is a register of QEMU's virt board
        // (hw/riscv/virt.c memory map), always mapped and aligned.
        unsafe { core::ptr::read_volatile(addr as *const u32) }
    }

    /// Writes a 32-bit device register.
    #[inline]
    pub fn write(addr: usize, value: u32) {
        // SAFETY: as for `read`; none of these registers aliases Rust memory.
        unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
    }

    /// Reads an 8-bit device register (the UART's).
    #[inline]
    pub fn read8(addr: usize) -> u8 {
        // SAFETY: as for `read`.
        unsafe { core::ptr::read_volatile(addr as *const u8) }
    }

    /// Writes an 8-bit device register.
    #[inline]
    pub fn write8(addr: usize, value: u8) {
        // SAFETY: as for `write`.
        unsafe { core::ptr::write_volatile(addr as *mut u8, value) }
    }
}

/// The CLINT's free-running `mtime` counter (64 bits, 10 MHz on the virt board).
const MTIME_LO: usize = 0x0200_bff8;
const MTIME_HI: usize = MTIME_LO + 4;
const MTIME_NANOS_PER_TICK: u64 = 100;

/// The Goldfish RTC: nanoseconds since the Unix epoch; reading the low word latches the
/// high one.
const RTC_TIME_LOW: usize = 0x0010_1000;
const RTC_TIME_HIGH: usize = RTC_TIME_LOW + 4;

/// The NS16550 UART: transmit holding register and line status register.
const UART_THR: usize = 0x1000_0000;
const UART_LSR: usize = UART_THR + 5;
const UART_LCR: usize = UART_THR + 3;
const LSR_THR_EMPTY: u8 = 1 << 5;

/// The virt board's test device: writing `0x5555` ends QEMU with status 0, `code << 16 |
/// 0x3333` with status `code`.
const TEST_DEVICE: usize = 0x0010_0000;

fn mtime() -> u64 {
    // The two halves are read apart: retry when the high word moved between them.
    loop {
        let hi = mmio::read(MTIME_HI);
        let lo = mmio::read(MTIME_LO);
        if mmio::read(MTIME_HI) == hi {
            return (u64::from(hi) << 32) | u64::from(lo);
        }
    }
}

/// Wall-clock time from `mtime`, anchored to the Unix time it was started at.
#[derive(Debug)]
pub struct MtimeClock {
    epoch_nanos: u64,
    start_ticks: u64,
}

impl MtimeClock {
    /// A clock that reads `now` at this instant and counts on from it.
    pub fn start(now: Timestamp) -> Self {
        Self {
            epoch_nanos: now.as_unix_nanos(),
            start_ticks: mtime(),
        }
    }
}

impl Clock for MtimeClock {
    fn now(&self) -> Timestamp {
        let ticks = mtime().wrapping_sub(self.start_ticks);
        Timestamp::from_unix_nanos(
            self.epoch_nanos
                .wrapping_add(ticks.wrapping_mul(MTIME_NANOS_PER_TICK)),
        )
    }
}

/// Reads the real-time clock: nanoseconds since the Unix epoch.
pub fn rtc_nanos() -> u64 {
    let lo = mmio::read(RTC_TIME_LOW);
    let hi = mmio::read(RTC_TIME_HIGH);
    (u64::from(hi) << 32) | u64::from(lo)
}

/// The UART (QEMU's NS16550A), transmit only.
#[derive(Debug)]
pub struct Uart(());

impl Uart {
    /// Sets 8 data bits, no parity, one stop bit (QEMU needs no baud rate).
    pub fn new() -> Self {
        mmio::write8(UART_LCR, 0x03);
        Uart(())
    }

    /// Writes one byte, waiting while the transmitter is full.
    pub fn write_byte(&mut self, byte: u8) {
        while mmio::read8(UART_LSR) & LSR_THR_EMPTY == 0 {}
        mmio::write8(UART_THR, byte);
    }
}

impl picotrace_firmware_common::FrameSink for Uart {
    fn write(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            self.write_byte(b);
        }
        true
    }
}

impl Default for Uart {
    fn default() -> Self {
        Self::new()
    }
}

/// Ends the QEMU run with exit status 0 (`success`) or 1.
pub fn exit(success: bool) -> ! {
    mmio::write(
        TEST_DEVICE,
        if success { 0x5555 } else { (1 << 16) | 0x3333 },
    );
    loop {
        riscv::asm::wfi();
    }
}

// ---- footprint --------------------------------------------------------------------------

/// Shared by the `footprint_*` binaries.
pub mod footprint {
    use picotrace::{SpanExporter, TracerStats};
    pub use picotrace_firmware_common::footprint::{Arena, ARENA_BYTES, TRACEPARENT};

    use super::{FootprintBoard, MtimeClock, SeedMixer, Uart};

    const PAINT: u32 = 0x5ee5_c0de;

    extern "C" {
        /// End of `.bss`, `.uninit` and the (empty) heap: the lowest address the stack may
        /// grow to (riscv-rt's link.x).
        static mut __sheap: u32;
        /// The initial stack pointer (top of RAM).
        static _stack_start: u32;
    }

    fn stack_pointer() -> usize {
        let sp: usize;
        // SAFETY: reads the stack pointer register into a local; no memory is touched.
        unsafe { core::arch::asm!("mv {}, sp", out(reg) sp) };
        sp
    }

    /// Fills the unused stack (from the end of static RAM to just below the current stack
    /// pointer) with a pattern, so that [`stack_peak`] can tell how deep it went.
    #[inline(never)]
    pub fn paint_stack() {
        let bottom = core::ptr::addr_of_mut!(__sheap) as usize;
        let sp = stack_pointer();
        let mut addr = (bottom + 3) & !3;
        while addr + 64 < sp {
            // SAFETY: between the end of statics and the live stack nothing is in use;
            // the 64 bytes below the stack pointer are left for this function's frame.
            unsafe { core::ptr::write_volatile(addr as *mut u32, PAINT) };
            addr += 4;
        }
    }

    /// Returns the deepest the stack has been since [`paint_stack`], in bytes.
    pub fn stack_peak() -> u32 {
        let bottom = core::ptr::addr_of_mut!(__sheap) as usize;
        let top = core::ptr::addr_of!(_stack_start) as usize;
        let mut addr = (bottom + 3) & !3;
        // SAFETY: reads of the RAM painted by `paint_stack`, which is mapped memory.
        while addr < top && unsafe { core::ptr::read_volatile(addr as *const u32) } == PAINT {
            addr += 4;
        }
        (top - addr) as u32
    }

    /// Writes the measurement record ci/footprint.sh reads from the end of the UART's
    /// output ([`picotrace_firmware_common::footprint::report`]).
    pub fn report(uart: &mut Uart, arena_bytes: usize) {
        picotrace_firmware_common::footprint::report(uart, arena_bytes, stack_peak());
    }

    /// What the minimal firmware does without tracing: time, a UART, a "sensor" reading
    /// (the real-time clock's). Returns what the tracing binaries go on with.
    pub fn base() -> (MtimeClock, Uart) {
        use picotrace::Clock;
        let reading = super::rtc_nanos();
        let clock = MtimeClock::start(picotrace::Timestamp::from_unix_nanos(0));
        let mut uart = Uart::new();
        let now = clock.now().as_unix_nanos();
        for b in reading.to_le_bytes().iter().chain(&now.to_le_bytes()) {
            uart.write_byte(*b);
        }
        (clock, uart)
    }

    /// The UART, as the footprint workload's board.
    struct Board<'a> {
        uart: &'a mut Uart,
    }

    impl FootprintBoard for Board<'_> {
        fn write_byte(&mut self, byte: u8) {
            self.uart.write_byte(byte);
        }

        fn sample(&mut self) -> u16 {
            super::rtc_nanos() as u16
        }

        /// The board has no entropy source QEMU makes unpredictable but time: the low bits
        /// of `mtime` and the real-time clock (a real board would use its RNG).
        fn collect_entropy(&mut self, mixer: &mut SeedMixer) {
            for _ in 0..4 {
                mixer.absorb(super::mtime() as u32 ^ super::rtc_nanos() as u32);
            }
        }
    }

    /// The footprint workload ([`picotrace_firmware_common::footprint::traced`]) on this
    /// board.
    pub fn traced<X: SpanExporter + Send>(
        clock: MtimeClock,
        uart: &mut Uart,
        exporter: X,
    ) -> TracerStats {
        picotrace_firmware_common::footprint::traced(clock, &mut Board { uart }, exporter)
    }
}
