//! The LM3S (Stellaris) system clock from the PLL: the register sequence of
//! StellarisWare's `SysCtlClockSet`, over [`ClockRegs`] so that it runs on a board and,
//! against a model of the chip, in host tests.
//!
//! At reset the silicon runs from the internal oscillator with the main oscillator off
//! (`RCC` = `0x078E_3AD1`: `MOSCDIS` set, `OSCSRC` internal, the PLL powered down and
//! its output disabled). QEMU's model starts with the main oscillator on and locks its
//! PLL on any power-up, so a sequence that skipped starting the oscillator ran there and
//! hung on a real evaluation board (found by review: it selected the main oscillator
//! while it was still off, then waited for a PLL lock that never came).

/// `RCC.MOSCDIS`: the main oscillator is disabled.
pub const MOSCDIS: u32 = 1 << 0;
/// `RCC.OSCSRC`: the oscillator source (0: the main oscillator).
pub const OSCSRC: u32 = 0x3 << 4;
/// `RCC.XTAL`: the crystal's frequency.
pub const XTAL: u32 = 0xf << 6;
/// `RCC.XTAL` for the evaluation board's 8 MHz crystal.
pub const XTAL_8MHZ: u32 = 0xe << 6;
/// `RCC.BYPASS`: the system clock comes from the oscillator, not the PLL.
pub const BYPASS: u32 = 1 << 11;
/// `RCC.OEN`: the PLL's output is disabled.
pub const OEN: u32 = 1 << 12;
/// `RCC.PWRDN`: the PLL is powered down.
pub const PWRDN: u32 = 1 << 13;
/// `RCC.USESYSDIV`: the system clock divider is used.
pub const USESYSDIV: u32 = 1 << 22;
/// `RCC.SYSDIV`: the system clock divider, less one.
pub const SYSDIV: u32 = 0xf << 23;
/// `RCC.SYSDIV` for a divider of 4 (the 400 MHz PLL / 2 / 4: 50 MHz).
pub const SYSDIV_4: u32 = 3 << 23;

/// Loops StellarisWare waits for the main oscillator to start (about 10 ms at the 12 MHz
/// internal oscillator) before it runs anything from it.
pub const OSCILLATOR_START_LOOPS: u32 = 524_288;

/// Times StellarisWare polls for the PLL's lock before it switches over anyway: a PLL
/// already running with this crystal (a debugger's core-only reset, a bootloader that
/// set the same clock) raises no new lock event after the flag is cleared (found by
/// review: an unbounded wait would hang there).
pub const PLL_LOCK_POLLS: u32 = 32_768;

/// The registers [`run_from_pll`] uses: `RCC`, the PLL lock interrupt (`RIS`, cleared
/// through `MISC`), and a busy wait.
pub trait ClockRegs {
    /// Reads `RCC`.
    fn read_rcc(&mut self) -> u32;
    /// Writes `RCC`.
    fn write_rcc(&mut self, value: u32);
    /// Clears the PLL lock interrupt (a write of its bit to `MISC`).
    fn clear_pll_lock(&mut self);
    /// Whether the PLL has locked since it was cleared (`RIS.PLLLRIS`).
    fn pll_locked(&mut self) -> bool;
    /// Waits about `loops` loop iterations.
    fn delay(&mut self, loops: u32);
}

/// Runs the core from the PLL fed by an 8 MHz crystal, divided by 4: bypass the PLL,
/// start the main oscillator and let it settle, set the crystal, the source, the PLL's
/// power and output and the divider with the lock interrupt cleared, wait for the lock,
/// switch over.
pub fn run_from_pll(regs: &mut impl ClockRegs) {
    let mut rcc = regs.read_rcc();
    // On the oscillator, undivided, while the rest changes.
    rcc = (rcc | BYPASS) & !USESYSDIV;
    regs.write_rcc(rcc);
    if rcc & MOSCDIS != 0 {
        rcc &= !MOSCDIS;
        regs.write_rcc(rcc);
        regs.delay(OSCILLATOR_START_LOOPS);
    }
    rcc &= !(XTAL | OSCSRC | PWRDN | OEN | SYSDIV);
    rcc |= XTAL_8MHZ | SYSDIV_4 | USESYSDIV;
    regs.clear_pll_lock();
    regs.write_rcc(rcc);
    for _ in 0..PLL_LOCK_POLLS {
        if regs.pll_locked() {
            break;
        }
    }
    regs.write_rcc(rcc & !BYPASS);
}

/// System clocks the data sheet asks for between turning a peripheral's clock on
/// (`RCGCn`) and the first access to its registers; an earlier access faults on the
/// silicon (QEMU does not model clock gating).
pub const CLOCK_GATE_WAIT: u32 = 3;

/// The registers [`enable_peripheral_clocks`] uses: the `RCGCn` clock gates, and a
/// busy wait.
pub trait GateRegs {
    /// Sets `bits` in clock gate register `rcgc`.
    fn set_gate(&mut self, rcgc: usize, bits: u32);
    /// Reads clock gate register `rcgc`.
    fn read_gate(&mut self, rcgc: usize) -> u32;
    /// Waits about `cycles` core cycles.
    fn delay(&mut self, cycles: u32);
}

/// Turns on each `(register, bits)` clock gate, then reads the gates back (the write
/// has landed once the read returns) and waits [`CLOCK_GATE_WAIT`] clocks: after it
/// the peripherals' registers may be touched. Found by review: UART0's pins were
/// configured two cycles after GPIO port A's clock was turned on, a bus fault on the
/// silicon, the board hung before its first byte.
pub fn enable_peripheral_clocks(regs: &mut impl GateRegs, gates: &[(usize, u32)]) {
    for &(rcgc, bits) in gates {
        regs.set_gate(rcgc, bits);
    }
    for &(rcgc, _) in gates {
        let _ = regs.read_gate(rcgc);
    }
    regs.delay(CLOCK_GATE_WAIT);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    /// Clock gates as the silicon has them: a peripheral whose gate was set fewer than 3
    /// system clocks ago (the data sheet's number, not the code's constant) is not
    /// ready. A read of a gate register takes a clock, and is logged.
    #[derive(Default)]
    struct Gates {
        /// Per gate register and bits: clocks since they were set.
        set: Vec<(usize, u32, u32)>,
        /// Gate registers read back, in order.
        read: Vec<usize>,
    }

    impl Gates {
        fn ready(&self, rcgc: usize, bit: u32) -> bool {
            self.set
                .iter()
                .any(|&(r, b, waited)| r == rcgc && b & bit != 0 && waited >= 3)
        }

        fn tick(&mut self, clocks: u32) {
            for (_, _, waited) in &mut self.set {
                *waited += clocks;
            }
        }
    }

    impl GateRegs for Gates {
        fn set_gate(&mut self, rcgc: usize, bits: u32) {
            self.set.push((rcgc, bits, 0));
        }
        fn read_gate(&mut self, rcgc: usize) -> u32 {
            self.read.push(rcgc);
            self.tick(1);
            0
        }
        fn delay(&mut self, cycles: u32) {
            self.tick(cycles);
        }
    }

    /// Every gate turned on is ready when the call returns, whichever register it is
    /// in, and each register set was read back (the write has landed).
    #[test]
    fn peripherals_are_ready_when_their_clocks_are_enabled() {
        let (rcgc1, rcgc2) = (0x400f_e104, 0x400f_e108);
        let mut gates = Gates::default();
        enable_peripheral_clocks(&mut gates, &[(rcgc1, 1 << 0), (rcgc2, 1 << 0)]);
        assert!(gates.ready(rcgc1, 1 << 0) && gates.ready(rcgc2, 1 << 0));
        assert!(!gates.ready(rcgc1, 1 << 1), "only the gates asked for");
        assert_eq!(gates.read, [rcgc1, rcgc2]);
        // Not waited for: not ready (the model can tell).
        let mut early = Gates::default();
        early.set_gate(rcgc1, 1);
        early.tick(2);
        assert!(!early.ready(rcgc1, 1));
    }

    /// The chip as the data sheet describes it: the core runs from what `OSCSRC` and
    /// `BYPASS` select, which must be running; the PLL locks when it powers up or its
    /// crystal setting changes, fed by a main oscillator that has settled, and raises
    /// the lock flag then (a flag cleared while it runs on stays clear).
    struct Chip {
        rcc: u32,
        /// Loops waited since the main oscillator was enabled (`None`: it is off).
        oscillator: Option<u32>,
        /// The PLL runs, locked.
        running: bool,
        /// `RIS.PLLLRIS`.
        flag: bool,
        polls: u32,
        writes: Vec<u32>,
    }

    impl Chip {
        fn at_reset(rcc: u32) -> Self {
            let oscillator = (rcc & MOSCDIS == 0).then_some(OSCILLATOR_START_LOOPS);
            Chip {
                rcc,
                oscillator,
                running: rcc & PWRDN == 0 && oscillator.is_some(),
                flag: false,
                polls: 0,
                writes: Vec::new(),
            }
        }

        fn oscillator_settled(&self) -> bool {
            self.oscillator.is_some_and(|l| l >= OSCILLATOR_START_LOOPS)
        }
    }

    impl ClockRegs for Chip {
        fn read_rcc(&mut self) -> u32 {
            self.rcc
        }
        fn write_rcc(&mut self, value: u32) {
            if value & MOSCDIS == 0 && self.oscillator.is_none() {
                self.oscillator = Some(0);
            }
            let main_selected = value & OSCSRC == 0;
            assert!(
                !main_selected || self.oscillator_settled(),
                "{value:#010x}: the core would run from a main oscillator not yet running"
            );
            let powers_up = value & PWRDN == 0 && self.rcc & PWRDN != 0;
            let crystal_changes = value & XTAL != self.rcc & XTAL;
            if value & PWRDN != 0 {
                self.running = false;
            } else if (powers_up || crystal_changes || !self.running) && self.oscillator_settled() {
                self.running = true;
                self.flag = true;
            }
            if value & BYPASS == 0 {
                assert!(self.running, "{value:#010x}: the PLL is not locked");
                assert_eq!(value & (PWRDN | OEN), 0, "{value:#010x}: the PLL is off");
            }
            self.rcc = value;
            self.writes.push(value);
        }
        fn clear_pll_lock(&mut self) {
            self.flag = false;
        }
        fn pll_locked(&mut self) -> bool {
            self.polls += 1;
            self.flag
        }
        fn delay(&mut self, loops: u32) {
            if let Some(waited) = &mut self.oscillator {
                *waited = waited.saturating_add(loops);
            }
        }
    }

    /// From the silicon's reset value (main oscillator off) and QEMU's (on): the PLL
    /// locks, and the core ends on it at 400 MHz / 2 / 4 from the 8 MHz crystal.
    #[test]
    fn the_pll_locks_from_either_reset_value() {
        for reset in [0x078E_3AD1, 0x078E_3AC0] {
            let mut chip = Chip::at_reset(reset);
            run_from_pll(&mut chip);
            let rcc = chip.rcc;
            assert_eq!(
                rcc & (MOSCDIS | OEN | PWRDN | BYPASS | OSCSRC),
                0,
                "{rcc:#010x}"
            );
            assert_eq!(
                rcc & (XTAL | SYSDIV | USESYSDIV),
                XTAL_8MHZ | SYSDIV_4 | USESYSDIV
            );
            assert!(chip.writes.len() >= 3, "{:x?}", chip.writes);
            assert_eq!(chip.polls, 1, "the lock came with the power-up");
        }
    }

    /// A chip already running from the PLL with this setting (a debugger's core-only
    /// reset, a bootloader): no new lock event comes, and the wait ends after its polls
    /// (found by review: it waited for ever).
    #[test]
    fn a_pll_already_running_does_not_hang_the_sequence() {
        let running = XTAL_8MHZ | SYSDIV_4 | USESYSDIV;
        let mut chip = Chip::at_reset(running);
        assert!(chip.running);
        run_from_pll(&mut chip);
        assert_eq!(chip.polls, PLL_LOCK_POLLS);
        assert_eq!(chip.rcc & BYPASS, 0);
    }
}
