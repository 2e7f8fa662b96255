//! [`EmbassyClock`]: wall-clock time for embassy applications, from
//! `embassy_time::Instant` (time since boot, from the application's time driver) plus a
//! boot epoch.

use portable_atomic::Ordering;

use super::{Clock, Timestamp};
use crate::sync::Atomic64;

/// A [`Clock`] on [`embassy_time::Instant`]: the boot time (Unix nanoseconds) plus the
/// time since boot that embassy-time's driver counts.
///
/// Most microcontrollers have no real-time clock, so the boot time starts as whatever
/// is known at build or boot (or zero: times then read as the uptime after
/// 1970-01-01, which OTLP shows as such, not as "unknown") and can be set
/// once the device learns the time, from SNTP or a gateway, with
/// [`EmbassyClock::set_now`]. It is `const`-constructible (a `static` works) and `Sync`:
/// the epoch is one atomic, read with each `now` (with the `critical-section` feature on
/// CPUs without 64-bit atomics, a `u64` read in a critical section: portable-atomic's
/// own fallback there is a spin lock that an interrupt reading the clock could spin on
/// forever while the code it interrupted sets the time).
///
/// It keeps the [`Clock`] contract as long as the epoch is not moved back while spans
/// run; spans that straddle a correction have their durations saturated at zero by the
/// tracer, never wrap. Moved forward, the jump goes into the duration of every span
/// then running: a span started at 1970 plus uptime and ended after the time was
/// learned lasts decades (found by review). Set the time before the tracer is seeded,
/// as the embassy demo does, or with no span running.
///
/// The application provides the time driver and tick rate (an `embassy-time-driver`
/// implementation, usually from the HAL, and a `tick-hz-*` feature); this crate turns on
/// neither.
///
/// ```
/// use picotrace::time::EmbassyClock;
/// use picotrace::{Clock, Timestamp};
///
/// // 2026-01-01T00:00:00Z: learned from a gateway, say.
/// static CLOCK: EmbassyClock = EmbassyClock::new(Timestamp::ZERO);
/// CLOCK.set_now(Timestamp::from_unix_nanos(1_767_225_600_000_000_000));
/// let now = CLOCK.now().as_unix_nanos();
/// assert!(now >= 1_767_225_600_000_000_000);
/// // Hand `&CLOCK` to `Tracer::new` as its clock.
/// ```
#[derive(Debug)]
pub struct EmbassyClock {
    /// Unix nanoseconds at `Instant` zero.
    boot: Atomic64,
}

impl EmbassyClock {
    /// Creates a clock whose `Instant` zero (boot) is `boot`.
    pub const fn new(boot: Timestamp) -> Self {
        Self {
            boot: Atomic64::new(boot.as_unix_nanos()),
        }
    }

    /// Returns the boot time: Unix time at `Instant` zero.
    pub fn boot_time(&self) -> Timestamp {
        Timestamp::from_unix_nanos(self.boot.load(Ordering::Relaxed))
    }

    /// Sets the boot time (Unix time at `Instant` zero).
    pub fn set_boot_time(&self, boot: Timestamp) {
        self.boot.store(boot.as_unix_nanos(), Ordering::Relaxed);
    }

    /// Sets the boot time so that [`Clock::now`] reads `now` at this instant: what a
    /// device does when it learns the time (with no span running: see the type's
    /// docs).
    pub fn set_now(&self, now: Timestamp) {
        let uptime = uptime_nanos();
        self.set_boot_time(Timestamp::from_unix_nanos(
            now.as_unix_nanos().saturating_sub(uptime),
        ));
    }
}

impl Clock for EmbassyClock {
    #[inline]
    fn now(&self) -> Timestamp {
        let uptime = uptime_nanos();
        Timestamp::from_unix_nanos(self.boot.load(Ordering::Relaxed).saturating_add(uptime))
    }
}

/// Nanoseconds since `Instant` zero.
#[inline]
fn uptime_nanos() -> u64 {
    nanos_of_ticks(
        embassy_time::Instant::now().as_ticks(),
        embassy_time::TICK_HZ,
    )
}

/// Nanoseconds in `ticks` of a `hz` clock, saturating. Not `Instant::as_nanos`: it
/// multiplies the ticks before it divides, in 64 bits, and wraps —
/// at a 2^24 Hz tick after 6.5 days of uptime, at 2^20 Hz after 104 days, at 32,768 Hz
/// (nRF RTCs) after 9 years — taking the clock back to near the boot time. One multiply
/// where the rate divides a second, as it mostly does; else whole seconds and the rest.
#[inline]
const fn nanos_of_ticks(ticks: u64, hz: u64) -> u64 {
    const SECOND: u64 = 1_000_000_000;
    if SECOND.is_multiple_of(hz) {
        ticks.saturating_mul(SECOND / hz)
    } else {
        (ticks / hz)
            .saturating_mul(SECOND)
            .saturating_add(ticks % hz * SECOND / hz)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embassy_time::MockDriver;
    use embassy_time::{Duration, Instant};

    /// The mock driver is one global clock: everything that moves it is in this test.
    #[test]
    fn follows_the_driver_from_the_boot_epoch() {
        let driver = MockDriver::get();
        driver.reset();
        let boot = Timestamp::from_unix_nanos(1_767_225_600_000_000_000);
        let clock = EmbassyClock::new(boot);
        assert_eq!(clock.now(), boot);

        driver.advance(Duration::from_millis(1_500));
        assert_eq!(
            clock.now().as_unix_nanos(),
            boot.as_unix_nanos() + 1_500_000_000
        );

        // Learning the time later: `now` reads it at once and moves on from there.
        let learned = Timestamp::from_unix_nanos(1_800_000_000_000_000_000);
        clock.set_now(learned);
        assert_eq!(clock.now(), learned);
        assert_eq!(
            clock.boot_time().as_unix_nanos(),
            learned.as_unix_nanos() - Instant::now().as_nanos()
        );
        driver.advance(Duration::from_micros(7));
        assert_eq!(clock.now().as_unix_nanos(), learned.as_unix_nanos() + 7_000);

        // A boot time near the end of representable time saturates, never wraps.
        clock.set_boot_time(Timestamp::from_unix_nanos(u64::MAX - 1));
        assert_eq!(clock.now().as_unix_nanos(), u64::MAX);

        // Regression (found by review): an uptime whose nanoseconds pass 2^64 wrapped
        // (`Instant::as_nanos`), taking the clock back to near the boot time.
        clock.set_boot_time(boot);
        let before = clock.now();
        driver.advance(Duration::from_ticks(u64::MAX / 1000 + 1));
        assert!(clock.now() >= before, "{:?} < {before:?}", clock.now());
        assert_eq!(clock.now().as_unix_nanos(), u64::MAX);
    }

    /// Tick rates that do not divide a second convert exactly and saturate rather than
    /// wrap (`Instant::as_nanos` wrapped after 6.5 days at 2^24 Hz).
    #[test]
    fn ticks_of_any_rate_convert_without_wrapping() {
        for hz in [32_768, 1 << 20, 1 << 24, 1_000, 1_000_000] {
            assert_eq!(nanos_of_ticks(hz, hz), 1_000_000_000, "{hz}");
            assert_eq!(nanos_of_ticks(3 * hz + hz / 2, hz), 3_500_000_000, "{hz}");
        }
        let week = 7 * 86_400;
        assert_eq!(nanos_of_ticks(week << 24, 1 << 24), week * 1_000_000_000);
        assert_eq!(nanos_of_ticks(1, 32_768), 30_517);
        assert_eq!(nanos_of_ticks(10, 3), 3_333_333_333);
        assert_eq!(nanos_of_ticks(u64::MAX, 1 << 24), u64::MAX);
        assert_eq!(nanos_of_ticks(u64::MAX, 1_000_000), u64::MAX);
    }
}
