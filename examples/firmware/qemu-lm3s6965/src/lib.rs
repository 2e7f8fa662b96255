//! Board support for the TI LM3S6965 (Cortex-M3) as QEMU's `lm3s6965evb` emulates it:
//! just what the picotrace demos need, on the chip's registers directly (no HAL crate
//! covers this part; see README.md).
//!
//! | need | peripheral | QEMU 7.2 |
//! | --- | --- | --- |
//! | [`SysTickClock`] (feature `systick-clock`, default) | SysTick, 1 ms interrupt + the current count (20 ns resolution at 50 MHz) | works |
//! | cycle counter | DWT `CYCCNT` | reads 0: not emulated, so not used |
//! | sensor | ADC0 sequencer 0, channel 0, triggered by general-purpose timer 0 | returns `0x200 + (LCG & 7)`: deterministic |
//! | entropy | USER0/USER1 (the board's MAC address), ADC noise, SysTick jitter | MAC 52:54:00:12:34:56; ADC deterministic; jitter real |
//! | frames out | UART0 (PL011), polled | `-serial` backend |
//! | console, args, exit | Arm semihosting | `-semihosting-config enable=on` |
//!
//! Entropy, honestly: the LM3S6965 has no random number generator. The MAC address in
//! USER0/USER1 differs between boards, the low bits of ADC conversions carry some
//! thermal noise on real silicon, and the SysTick count sampled after each conversion
//! varies with clock and conversion timing. Under QEMU the ADC is a deterministic
//! generator and every machine has the same MAC, so only host timing jitter varies
//! between runs: good enough for a demo's span ids, not for secrets.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

use cortex_m::peripheral::SYST;
use picotrace_firmware_common::sensor_node::Sensor;
use picotrace_firmware_common::{FrameSink, SeedMixer};

/// The system clock [`init_clocks`] sets up: the 400 MHz PLL / 2 / 4.
pub const SYSCLK_HZ: u32 = 50_000_000;

/// Memory-mapped registers of this chip.
mod mmio {
    /// Reads a peripheral register.
    #[inline]
    pub fn read(addr: usize) -> u32 {
        // SAFETY: every address passed in this crate is a 32-bit register of the
        // LM3S6965 (data sheet § memory map), always mapped and aligned.
        unsafe { core::ptr::read_volatile(addr as *const u32) }
    }

    /// Writes a peripheral register.
    #[inline]
    pub fn write(addr: usize, value: u32) {
        // SAFETY: as for `read`; none of these registers aliases Rust memory.
        unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
    }

    /// Sets bits in a register.
    #[inline]
    pub fn set(addr: usize, bits: u32) {
        write(addr, read(addr) | bits);
    }
}

/// System control (SYSCTL) registers.
mod sysctl {
    pub const BASE: usize = 0x400f_e000;
    pub const DID0: usize = BASE;
    pub const DID1: usize = BASE + 0x004;
    pub const RIS: usize = BASE + 0x050;
    pub const MISC: usize = BASE + 0x058;
    pub const RCC: usize = BASE + 0x060;
    pub const RCGC0: usize = BASE + 0x100;
    pub const RCGC1: usize = BASE + 0x104;
    pub const RCGC2: usize = BASE + 0x108;
    pub const USER0: usize = BASE + 0x1e0;
    pub const USER1: usize = BASE + 0x1e4;

    pub const RIS_PLLLRIS: u32 = 1 << 6;
    pub const RCGC0_ADC: u32 = 1 << 16;
    pub const RCGC1_UART0: u32 = 1 << 0;
    pub const RCGC1_TIMER0: u32 = 1 << 16;
    pub const RCGC2_GPIOA: u32 = 1 << 0;

    /// Turns peripheral clocks on and waits until their registers may be touched (see
    /// [`picotrace_firmware_common::stellaris_clock::enable_peripheral_clocks`]).
    pub fn enable_clocks(gates: &[(usize, u32)]) {
        struct Gates;
        impl picotrace_firmware_common::stellaris_clock::GateRegs for Gates {
            fn set_gate(&mut self, rcgc: usize, bits: u32) {
                super::mmio::set(rcgc, bits);
            }
            fn read_gate(&mut self, rcgc: usize) -> u32 {
                super::mmio::read(rcgc)
            }
            fn delay(&mut self, cycles: u32) {
                cortex_m::asm::delay(cycles);
            }
        }
        picotrace_firmware_common::stellaris_clock::enable_peripheral_clocks(&mut Gates, gates);
    }
}

/// Runs the core at [`SYSCLK_HZ`] from the PLL, fed by the EVB's 8 MHz crystal: the
/// data sheet's sequence ([`picotrace_firmware_common::stellaris_clock::run_from_pll`]),
/// which starts the main oscillator the silicon has off at reset.
pub fn init_clocks() {
    struct Sysctl;
    impl picotrace_firmware_common::stellaris_clock::ClockRegs for Sysctl {
        fn read_rcc(&mut self) -> u32 {
            mmio::read(sysctl::RCC)
        }
        fn write_rcc(&mut self, value: u32) {
            mmio::write(sysctl::RCC, value);
        }
        fn clear_pll_lock(&mut self) {
            mmio::write(sysctl::MISC, sysctl::RIS_PLLLRIS);
        }
        fn pll_locked(&mut self) -> bool {
            mmio::read(sysctl::RIS) & sysctl::RIS_PLLLRIS != 0
        }
        fn delay(&mut self, loops: u32) {
            cortex_m::asm::delay(loops);
        }
    }
    picotrace_firmware_common::stellaris_clock::run_from_pll(&mut Sysctl);
}

// ---- clock -----------------------------------------------------------------------------

#[cfg(feature = "systick-clock")]
pub use clock::SysTickClock;

/// A `Clock` on SysTick (feature `systick-clock`, on by default; off where a runtime owns
/// SysTick, as embassy-time's driver does in `../qemu-embassy`).
#[cfg(feature = "systick-clock")]
mod clock {
    use core::cell::Cell;

    use cortex_m::interrupt::{self, Mutex};
    use cortex_m::peripheral::{SCB, SYST};
    use cortex_m_rt::exception;
    use picotrace::{Clock, Timestamp};

    use super::SYSCLK_HZ;

    /// SysTick reload for one interrupt per millisecond.
    const SYSTICK_RELOAD: u32 = SYSCLK_HZ / 1000 - 1;
    /// Nanoseconds per core cycle.
    const NS_PER_CYCLE: u64 = 1_000_000_000 / SYSCLK_HZ as u64;

    /// Milliseconds since [`SysTickClock::start`], counted by the SysTick exception.
    static MILLIS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

    #[exception]
    fn SysTick() {
        interrupt::free(|cs| {
            let millis = MILLIS.borrow(cs);
            millis.set(millis.get() + 1);
        });
    }

    /// A [`Clock`] on SysTick: a 1 ms interrupt counts milliseconds, the counter gives the
    /// cycles within the current one. Wall-clock time is the boot time (`epoch`) plus
    /// time since boot; the LM3S6965 has no real-time clock, so the epoch comes from
    /// outside (here a semihosting argument, on a product a gateway or SNTP).
    ///
    /// Reading it from an interrupt of a higher priority than SysTick's may read a
    /// period early (about 1 ms back): between SysTick's handler being entered (the
    /// pending bit cleared) and its count, nothing shows the wrap (found by review).
    /// And a handler that keeps SysTick waiting for more than a period (one of the same
    /// priority, as at reset, that exports a frame over a slow UART: 60-90 ms) loses
    /// every wrap but one, and may read a period back (found by review). Give SysTick a
    /// priority strictly higher than every interrupt that traces: lower theirs (SysTick
    /// stays at 0, the highest, as at reset).
    #[derive(Clone, Copy, Debug)]
    pub struct SysTickClock {
        epoch: Timestamp,
    }

    impl SysTickClock {
        /// Starts SysTick on the core clock with a 1 ms period.
        pub fn start(mut syst: SYST, epoch: Timestamp) -> Self {
            use cortex_m::peripheral::syst::SystClkSource;
            syst.set_clock_source(SystClkSource::Core);
            syst.set_reload(SYSTICK_RELOAD);
            syst.clear_current();
            syst.enable_interrupt();
            syst.enable_counter();
            Self { epoch }
        }

        /// Returns the time since [`SysTickClock::start`] in nanoseconds.
        pub fn uptime_nanos() -> u64 {
            interrupt::free(|cs| {
                // With interrupts masked, a wrap since the last interrupt shows as a
                // pending SysTick: looked at before and after the counter is read.
                let pending_before = SCB::is_pendst_pending();
                let current = SYST::get_current();
                let reading = picotrace_firmware_common::systick::Reading {
                    periods: MILLIS.borrow(cs).get(),
                    current,
                    pending_before,
                    pending_after: SCB::is_pendst_pending(),
                };
                picotrace_firmware_common::systick::uptime_nanos(
                    reading,
                    SYSTICK_RELOAD,
                    1_000_000,
                    NS_PER_CYCLE,
                )
            })
        }
    }

    impl Clock for SysTickClock {
        fn now(&self) -> Timestamp {
            // Saturating: a `time=` argument past 2554 saturates the epoch to u64::MAX
            // (found by review: the sum overflowed, a panic in a debug build).
            Timestamp::from_unix_nanos(
                self.epoch
                    .as_unix_nanos()
                    .saturating_add(Self::uptime_nanos()),
            )
        }
    }
}

// ---- UART0 ------------------------------------------------------------------------------

/// UART0 (PA0/PA1 on the EVB; on QEMU, the first `-serial` backend), 115200 8N1, polled.
#[derive(Debug)]
pub struct Uart0(());

impl Uart0 {
    const BASE: usize = 0x4000_c000;
    const DR: usize = Self::BASE;
    const FR: usize = Self::BASE + 0x018;
    const IBRD: usize = Self::BASE + 0x024;
    const FBRD: usize = Self::BASE + 0x028;
    const LCRH: usize = Self::BASE + 0x02c;
    const CTL: usize = Self::BASE + 0x030;
    const FR_BUSY: u32 = 1 << 3;
    const FR_TXFF: u32 = 1 << 5;

    /// Clocks and configures UART0 and its pins.
    pub fn new() -> Self {
        const GPIOA: usize = 0x4000_4000;
        sysctl::enable_clocks(&[
            (sysctl::RCGC1, sysctl::RCGC1_UART0),
            (sysctl::RCGC2, sysctl::RCGC2_GPIOA),
        ]);
        mmio::set(GPIOA + 0x420, 0b11); // AFSEL: PA0/PA1 to the UART
        mmio::set(GPIOA + 0x51c, 0b11); // DEN
        mmio::write(Self::CTL, 0);
        // 50 MHz / (16 * 115200) = 27.127: IBRD 27, FBRD round(0.127 * 64) = 8.
        mmio::write(Self::IBRD, 27);
        mmio::write(Self::FBRD, 8);
        mmio::write(Self::LCRH, 0x70); // 8 bits, FIFOs on, no parity, 1 stop bit
        mmio::write(Self::CTL, 0x301); // UARTEN, TXE, RXE
        Self(())
    }

    /// Writes one byte, waiting while the transmit FIFO is full.
    pub fn write_byte(&mut self, byte: u8) {
        while mmio::read(Self::FR) & Self::FR_TXFF != 0 {}
        mmio::write(Self::DR, u32::from(byte));
    }

    /// Writes as many bytes of `bytes` as the transmit FIFO takes now; returns how many
    /// (for an async writer that yields while the FIFO is full).
    pub fn try_write(&mut self, bytes: &[u8]) -> usize {
        let mut n = 0;
        for &b in bytes {
            if mmio::read(Self::FR) & Self::FR_TXFF != 0 {
                break;
            }
            mmio::write(Self::DR, u32::from(b));
            n += 1;
        }
        n
    }

    /// Returns `true` while the UART is still sending (FIFO not empty, or a byte on the
    /// line).
    pub fn is_busy(&self) -> bool {
        mmio::read(Self::FR) & Self::FR_BUSY != 0
    }
}

impl embedded_io::ErrorType for Uart0 {
    type Error = core::convert::Infallible;
}

/// Blocking: waits while the transmit FIFO is full, so picotrace's `FrameExporter`
/// (feature `embedded-io`) writes frames straight to it.
impl embedded_io::Write for Uart0 {
    fn write(&mut self, bytes: &[u8]) -> Result<usize, Self::Error> {
        for &b in bytes {
            self.write_byte(b);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        while self.is_busy() {}
        Ok(())
    }
}

impl FrameSink for Uart0 {
    fn write(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            self.write_byte(b);
        }
        true
    }
}

// ---- ADC --------------------------------------------------------------------------------

/// ADC0 sample sequencer 0 on channel 0, one conversion per trigger from general-purpose
/// timer 0 (one-shot). QEMU models only the timer trigger, and only this sequencer
/// layout (`SSCTL0` = END0 | IE0), which is why the internal temperature sensor (TS0)
/// is not used.
#[derive(Debug)]
pub struct Adc0(());

impl Adc0 {
    const BASE: usize = 0x4003_8000;
    const ACTSS: usize = Self::BASE;
    const RIS: usize = Self::BASE + 0x004;
    const ISC: usize = Self::BASE + 0x00c;
    const EMUX: usize = Self::BASE + 0x014;
    const SSMUX0: usize = Self::BASE + 0x040;
    const SSCTL0: usize = Self::BASE + 0x044;
    const SSFIFO0: usize = Self::BASE + 0x048;
    const TIMER0: usize = 0x4003_0000;

    /// Clocks and configures ADC0 and timer 0.
    pub fn new() -> Self {
        sysctl::enable_clocks(&[
            (sysctl::RCGC0, sysctl::RCGC0_ADC),
            (sysctl::RCGC1, sysctl::RCGC1_TIMER0),
        ]);
        mmio::write(Self::ACTSS, 0);
        mmio::write(Self::EMUX, 0x5); // sequencer 0 triggered by a timer
        mmio::write(Self::SSMUX0, 0); // first step: channel 0
        mmio::write(Self::SSCTL0, 0x6); // first step ends the sequence, raises RIS
        mmio::write(Self::ACTSS, 1);
        Self(())
    }

    /// Converts once: 10-bit counts.
    pub fn sample(&mut self) -> u16 {
        let timer = Self::TIMER0;
        mmio::write(timer + 0x0c, 0); // CTL: off while configuring
        mmio::write(timer, 0); // CFG: one 32-bit timer
        mmio::write(timer + 0x04, 0x1); // TAMR: one-shot
        mmio::write(timer + 0x28, 500); // TAILR: 10 us at 50 MHz
        mmio::write(timer + 0x0c, 0x21); // CTL: TAEN | TAOTE (trigger the ADC)
        while mmio::read(Self::RIS) & 1 == 0 {}
        let counts = mmio::read(Self::SSFIFO0) & 0x3ff;
        mmio::write(Self::ISC, 1);
        counts as u16
    }
}

impl Sensor for Adc0 {
    const CHANNEL: u32 = 0;
    const FULL_SCALE_MV: u32 = 3000;
    const BITS: u32 = 10;

    fn read(&mut self) -> u16 {
        self.sample()
    }
}

// ---- entropy ---------------------------------------------------------------------------

/// Feeds what this board has in the way of entropy to `mixer` (see the crate docs for
/// how little that is): the chip's ids, the board's MAC address, and `samples` ADC
/// conversions, each with the SysTick count at its end.
pub fn collect_entropy(mixer: &mut SeedMixer, adc: &mut Adc0, samples: usize) {
    mixer.absorb_all(&[
        mmio::read(sysctl::DID0),
        mmio::read(sysctl::DID1),
        mmio::read(sysctl::USER0),
        mmio::read(sysctl::USER1),
    ]);
    for _ in 0..samples {
        let counts = u32::from(adc.sample());
        mixer.absorb(counts ^ (SYST::get_current() << 10));
    }
}

// ---- semihosting ------------------------------------------------------------------------

/// The host's command line through semihosting (`SYS_GET_CMDLINE`): QEMU's
/// `-semihosting-config arg=...` list joined by spaces, or "" when there is none.
pub fn semihosting_args(buf: &mut [u8]) -> &str {
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: SYS_GET_CMDLINE writes at most block[1] bytes to block[0] (our buffer) and
    // the length back into block[1]; both outlive the call.
    let result = unsafe {
        cortex_m_semihosting::syscall1(
            cortex_m_semihosting::nr::GET_CMDLINE,
            block.as_mut_ptr() as usize,
        )
    };
    if result != 0 {
        return "";
    }
    let len = block[1].min(buf.len());
    core::str::from_utf8(&buf[..len]).unwrap_or("")
}

/// Returns the value of the first `key=value` argument with this `key`.
pub fn arg<'a>(args: &'a str, key: &str) -> Option<&'a str> {
    args.split_ascii_whitespace().find_map(|word| {
        word.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

/// Parses a decimal `u64` (for the `time=` argument: Unix seconds).
pub fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.bytes().try_fold(0u64, |acc, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d < 10)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Boot time when no `time=` argument gives one: 2026-01-01T00:00:00Z.
pub const DEFAULT_BOOT_UNIX_SECONDS: u64 = 1_767_225_600;

/// What the demos take from the semihosting command line.
#[derive(Clone, Copy, Debug)]
pub struct DemoArgs<'a> {
    /// The gateway's `traceparent` (`traceparent=`), or the W3C example.
    pub traceparent: &'a str,
    /// Boot time (`time=`, Unix seconds), or [`DEFAULT_BOOT_UNIX_SECONDS`].
    pub boot: picotrace::Timestamp,
}

impl<'a> DemoArgs<'a> {
    /// Reads the command line into `buf` and picks the arguments out of it.
    pub fn read(buf: &'a mut [u8]) -> Self {
        let args = semihosting_args(buf);
        let boot_seconds = arg(args, "time")
            .and_then(parse_u64)
            .unwrap_or(DEFAULT_BOOT_UNIX_SECONDS);
        Self {
            traceparent: arg(args, "traceparent")
                .unwrap_or(picotrace_firmware_common::sensor_node::DEFAULT_TRACEPARENT),
            boot: picotrace::Timestamp::from_unix_nanos(boot_seconds.saturating_mul(1_000_000_000)),
        }
    }
}

/// Resource attributes of the demos on this board (besides `service.name`).
pub static RESOURCE: [picotrace::KeyValue<'static>; 3] = [
    picotrace::KeyValue {
        key: "service.version",
        value: picotrace::Value::Str(env!("CARGO_PKG_VERSION")),
    },
    picotrace::KeyValue {
        key: "device.model.identifier",
        value: picotrace::Value::Str("LM3S6965"),
    },
    picotrace::KeyValue {
        key: "host.arch",
        value: picotrace::Value::Str("arm32"),
    },
];

/// The semihosting console: `core::fmt::Write` to the host's standard output.
pub struct Console(Option<cortex_m_semihosting::hio::HostStream>);

impl Console {
    /// Opens the host's standard output. A semihosting call: without a debugger (or
    /// QEMU) it escalates to a HardFault, so a board run without one leaves the console
    /// out (see the README).
    pub fn new() -> Self {
        Self(cortex_m_semihosting::hio::hstdout().ok())
    }
}

impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        match &mut self.0 {
            Some(out) => out.write_str(s),
            None => Ok(()),
        }
    }
}

/// Ends the program: exit status 0 (QEMU exits with it) or 1.
pub fn exit(success: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

// ---- footprint --------------------------------------------------------------------------

/// Shared by the `footprint_*` binaries, which measure what tracing costs in flash and
/// RAM (`ci/footprint.sh`). Nothing here formats text: `core::fmt` would dwarf what is
/// measured.
#[cfg(feature = "systick-clock")]
pub mod footprint {
    use picotrace::{Clock, SpanExporter, TracerStats};
    use picotrace_firmware_common::footprint::FootprintBoard;
    pub use picotrace_firmware_common::footprint::{Arena, ARENA_BYTES, TRACEPARENT};
    use picotrace_firmware_common::SeedMixer;

    use super::{Adc0, SysTickClock, Uart0};

    const PAINT: u32 = 0x5ee5_c0de;

    extern "C" {
        /// End of `.bss` and `.uninit`: the lowest address the stack may grow to.
        static mut __sheap: u32;
        /// The initial stack pointer (top of RAM).
        static _stack_start: u32;
    }

    /// Fills the unused stack (from the end of static RAM to just below the current stack
    /// pointer) with a pattern, so that [`stack_peak`] can tell how deep it went.
    #[inline(never)]
    pub fn paint_stack() {
        let bottom = core::ptr::addr_of_mut!(__sheap) as usize;
        let sp = cortex_m::register::msp::read() as usize;
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
    pub fn report(uart: &mut Uart0, arena_bytes: usize) {
        picotrace_firmware_common::footprint::report(uart, arena_bytes, stack_peak());
    }

    /// What the minimal firmware does without tracing: clocks, SysTick time, a UART, an
    /// ADC reading. Returns the peripherals the tracing binaries go on with.
    pub fn base(syst: cortex_m::peripheral::SYST) -> (SysTickClock, Uart0, Adc0) {
        super::init_clocks();
        let clock = SysTickClock::start(syst, picotrace::Timestamp::from_unix_nanos(0));
        let mut uart = Uart0::new();
        let mut adc = Adc0::new();
        let reading = adc.sample();
        let now = clock.now().as_unix_nanos();
        for b in reading.to_le_bytes().iter().chain(&now.to_le_bytes()) {
            uart.write_byte(*b);
        }
        (clock, uart, adc)
    }

    /// UART0 and the ADC, as the footprint workload's board.
    struct Board<'a> {
        uart: &'a mut Uart0,
        adc: &'a mut Adc0,
    }

    impl FootprintBoard for Board<'_> {
        fn write_byte(&mut self, byte: u8) {
            self.uart.write_byte(byte);
        }

        fn sample(&mut self) -> u16 {
            self.adc.sample()
        }

        fn collect_entropy(&mut self, mixer: &mut SeedMixer) {
            super::collect_entropy(mixer, self.adc, 4);
        }
    }

    /// The footprint workload ([`picotrace_firmware_common::footprint::traced`]) on this
    /// board.
    pub fn traced<X: SpanExporter + Send>(
        clock: SysTickClock,
        uart: &mut Uart0,
        adc: &mut Adc0,
        exporter: X,
    ) -> TracerStats {
        picotrace_firmware_common::footprint::traced(clock, &mut Board { uart, adc }, exporter)
    }
}
