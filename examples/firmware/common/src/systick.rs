//! Time from a down-counting periodic timer (Cortex-M SysTick) whose interrupt counts
//! the periods: how far into the current period the counter is, read without losing
//! a wrap that the interrupt has not counted yet.

/// One reading of the timer, taken with interrupts masked: the periods the interrupt
/// has counted, the counter, and whether the timer's interrupt was pending just before
/// and just after the counter was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Periods counted by the interrupt handler.
    pub periods: u64,
    /// The counter (counts down from `reload` to 0, then wraps to `reload`).
    pub current: u32,
    /// The wrap interrupt was pending before the counter was read.
    pub pending_before: bool,
    /// ... and after it.
    pub pending_after: bool,
}

/// Nanoseconds since start for `reading` of a timer that reloads `reload` (a period is
/// `reload + 1` cycles, `period_nanos` long; a cycle `cycle_nanos`): whole periods are
/// counted in `period_nanos`, so a cycle length rounded to whole nanoseconds does not
/// make the clock drift.
///
/// A pending interrupt means the timer wrapped and the handler has not counted that
/// period yet. If it was pending *before* the counter was read, the counter is already
/// in the new period, however long the interrupt has waited within that period (a
/// handler of the same priority can hold it off for longer than half a period; the
/// usual `current > reload / 2` guess then puts the reading a period in the past).
/// Only when it became pending *while* the counter was read is the counter's own value
/// needed to tell. A second wrap while it waits is not seen (the pending bit holds
/// one): the timer's interrupt must not wait a whole period, so it needs a priority
/// above every handler that may run that long.
///
/// The interrupt pends when the counter reaches 0, the last count of a period, not when
/// it reloads: a pending wrap with the counter still at 0 is the end of the period
/// counted (found by review: it was read as the end of the next one, and the reading
/// after it, at `reload`, a period earlier; reachable where SysTick runs from a clock
/// slower than the core's, so that the counter stays at 0 for several core cycles).
pub fn uptime_nanos(reading: Reading, reload: u32, period_nanos: u64, cycle_nanos: u64) -> u64 {
    let wrapped = match (reading.pending_before, reading.pending_after) {
        (true, _) => reading.current != 0,
        // The wrap fell between the two looks: just after it the counter is near
        // `reload`, just before it near 0.
        (false, true) => reading.current > reload / 2,
        (false, false) => false,
    };
    let periods = reading.periods + u64::from(wrapped);
    let into_period = u64::from(reload - reading.current.min(reload));
    periods * period_nanos + into_period * cycle_nanos
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELOAD: u32 = 11_999; // 1 ms at 12 MHz

    fn at(periods: u64, current: u32, before: bool, after: bool) -> u64 {
        // Cycles, to keep the arithmetic below plain: a period of 12,000 "ns".
        uptime_nanos(
            Reading {
                periods,
                current,
                pending_before: before,
                pending_after: after,
            },
            RELOAD,
            12_000,
            1,
        )
    }

    #[test]
    fn no_wrap_pending_counts_the_periods_and_the_counter() {
        assert_eq!(at(0, RELOAD, false, false), 0);
        assert_eq!(at(5, 0, false, false), 5 * 12_000 + RELOAD as u64);
    }

    /// Regression: a wrap the handler had not counted for more than half a period (its
    /// interrupt held off by a handler of the same priority) was read as a period in
    /// the past: time went backwards.
    #[test]
    fn a_long_pending_wrap_is_counted_whatever_the_counter_reads() {
        let before_wrap = at(5, 10, false, false);
        let long_after = at(5, RELOAD / 2 - 1, true, true);
        assert!(long_after > before_wrap, "{long_after} > {before_wrap}");
        assert_eq!(
            long_after,
            6 * 12_000 + u64::from(RELOAD - (RELOAD / 2 - 1))
        );
    }

    /// Regression (found by review): pending with the counter still at 0 (the interrupt
    /// pends as the counter reaches 0, a reference clock slower than the core keeps it
    /// there for several cycles) was read as the end of the next period, and the next
    /// reading, just reloaded, went back by nearly a period.
    #[test]
    fn a_wrap_pending_at_zero_is_the_end_of_the_counted_period() {
        let at_zero = at(7, 0, true, true);
        let reloaded = at(7, RELOAD, true, true);
        assert_eq!(at_zero, 7 * 12_000 + u64::from(RELOAD));
        assert!(at_zero < reloaded, "{at_zero} < {reloaded}");
        assert!(at(7, 1, false, false) < at_zero);
    }

    #[test]
    fn a_wrap_while_reading_is_told_by_the_counter() {
        // Read just before the wrap (near 0), then pending: not yet in the new period.
        assert_eq!(at(5, 3, false, true), 5 * 12_000 + u64::from(RELOAD - 3));
        // Read just after it (near reload).
        assert_eq!(at(5, RELOAD - 2, false, true), 6 * 12_000 + 2);
    }

    #[test]
    fn readings_taken_in_order_never_go_backwards() {
        // A period's readings, the wrap pending for a while, then the handler runs.
        let mut last = 0;
        let mut check = |t: u64| {
            assert!(t >= last, "{t} < {last}");
            last = t;
        };
        for current in (0..=RELOAD).rev().step_by(97) {
            check(at(7, current, false, false));
        }
        for current in (0..=RELOAD).rev().step_by(97) {
            check(at(7, current, true, true));
        }
        check(at(8, 0, false, false));
    }
}
