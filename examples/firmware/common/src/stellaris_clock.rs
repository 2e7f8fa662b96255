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
    while !regs.pll_locked() {}
    regs.write_rcc(rcc & !BYPASS);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    /// The chip as the data sheet describes it: the core runs from what `OSCSRC` and
    /// `BYPASS` select, which must be running; the PLL locks only when powered, fed by a
    /// main oscillator that has settled, with the lock cleared before.
    struct Chip {
        rcc: u32,
        /// Loops waited since the main oscillator was enabled (`None`: it is off).
        oscillator: Option<u32>,
        lock_cleared: bool,
        locked: bool,
        writes: Vec<u32>,
    }

    impl Chip {
        fn at_reset(rcc: u32) -> Self {
            Chip {
                rcc,
                oscillator: (rcc & MOSCDIS == 0).then_some(OSCILLATOR_START_LOOPS),
                lock_cleared: false,
                locked: false,
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
            if value & BYPASS == 0 {
                assert!(self.locked, "{value:#010x}: the PLL is not locked");
                assert_eq!(value & (PWRDN | OEN), 0, "{value:#010x}: the PLL is off");
            }
            if value & PWRDN == 0 && self.oscillator_settled() && self.lock_cleared {
                self.locked = true;
            }
            self.rcc = value;
            self.writes.push(value);
        }
        fn clear_pll_lock(&mut self) {
            self.lock_cleared = true;
            self.locked = false;
        }
        fn pll_locked(&mut self) -> bool {
            assert!(
                self.locked || self.rcc & PWRDN == 0 && self.oscillator_settled(),
                "waiting for a PLL that cannot lock: RCC {:#010x}",
                self.rcc
            );
            self.locked
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
        }
    }
}
