//! [`SystemClock`]: wall-clock time for spans that never goes backwards.
//!
//! The clock reads `SystemTime` once per process (the anchor) and adds the monotonic
//! time elapsed since then. Where the CPU's time-stamp counter is stable (as `fastant`,
//! the clock fastrace uses, decides) that time is a counter read turned into
//! nanoseconds by one fixed-point multiply: 14-16 ns a read on a 2.3 GHz Xeon VM, as
//! long as the counter read alone, against 21 ns for `fastant`'s own floating-point
//! conversion and 30 ns for `Instant::now`.
//! Elsewhere it is `std::time::Instant` (the OS monotonic clock). Span starts and ends
//! therefore never step back when NTP or an operator moves the wall clock; the price is
//! that a process that runs for weeks drifts from the wall clock by whatever the system
//! clock was corrected by in that time (a slewed NTP clock: milliseconds). Every
//! `SystemClock` of a process shares the anchor, so timestamps from different threads
//! are comparable.
//!
//! ```
//! use picotrace::Clock;
//! use picotrace_std::SystemClock;
//! let clock = SystemClock::new();
//! let a = clock.now();
//! let b = clock.now();
//! assert!(b >= a);
//! assert!(a.as_unix_nanos() > 1_600_000_000_000_000_000);
//! ```

use std::hash::{Hash, Hasher};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use picotrace::{Clock, Timestamp};

/// The process-wide anchor and counter rate, taken on first use.
static CALIBRATION: OnceLock<Calibration> = OnceLock::new();

/// How far ahead the counter rate is measured: `fastant` turns this span into counter
/// ticks with its own rate, so the ratio recovers that rate to about one part in 10^12.
const RATE_SPAN_NANOS: u64 = 1 << 40;

/// One wall-clock reading, the monotonic reading taken with it, and how to turn later
/// monotonic readings into nanoseconds. Written once and read on every clock read by
/// every thread: a cache line of its own, so no write to a neighbour takes it away.
#[derive(Clone, Copy, Debug)]
#[repr(align(64))]
struct Calibration {
    /// Counter ticks from the time-stamp counter; `false`: nanoseconds since `base`.
    tsc: bool,
    /// The counter reading at the anchor (0 without the counter).
    ticks: u64,
    /// Unix nanoseconds at the anchor.
    unix_nanos: u64,
    /// Nanoseconds per tick: the whole part, and the fraction in units of 2^-64.
    whole: u64,
    fraction: u64,
    /// The monotonic instant of the anchor, read when there is no stable counter.
    base: Instant,
}

impl Calibration {
    fn take() -> Self {
        let tsc = fastant::is_tsc_available();
        let base = Instant::now();
        let start = fastant::Instant::now();
        let unix_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let ticks = if tsc { ticks_of(start) } else { 0 };
        // `fastant` keeps its nanoseconds-per-tick private; it converts a duration with
        // it, so a long one, converted, gives the rate back (1 ns per tick without TSC).
        let span_ticks = start
            .checked_add(Duration::from_nanos(RATE_SPAN_NANOS))
            .map_or(0, |later| ticks_of(later).wrapping_sub(ticks_of(start)));
        let (whole, fraction) = if tsc && span_ticks != 0 {
            let fraction =
                (u128::from(RATE_SPAN_NANOS % span_ticks) << 64) / u128::from(span_ticks);
            (RATE_SPAN_NANOS / span_ticks, fraction as u64)
        } else {
            (1, 0)
        };
        Self {
            tsc,
            ticks,
            unix_nanos,
            whole,
            fraction,
            base,
        }
    }

    /// Unix nanoseconds of a counter reading (never before the anchor).
    #[inline]
    fn unix_nanos_at(&self, ticks: u64) -> u64 {
        let elapsed = ticks.saturating_sub(self.ticks);
        let nanos = elapsed
            .wrapping_mul(self.whole)
            .wrapping_add(((u128::from(elapsed) * u128::from(self.fraction)) >> 64) as u64);
        self.unix_nanos.wrapping_add(nanos)
    }
}

/// The counter reading inside a `fastant::Instant`, which keeps it private: its derived
/// `Hash` writes exactly that `u64` (a `#[repr(transparent)]` newtype), and after
/// inlining this is a plain move. Tested against `fastant`'s own durations below.
#[inline]
fn ticks_of(instant: fastant::Instant) -> u64 {
    struct Capture(u64);
    impl Hasher for Capture {
        fn write(&mut self, bytes: &[u8]) {
            let mut word = [0; 8];
            let n = bytes.len().min(8);
            word[..n].copy_from_slice(&bytes[..n]);
            self.0 = u64::from_ne_bytes(word);
        }
        fn write_u64(&mut self, value: u64) {
            self.0 = value;
        }
        fn finish(&self) -> u64 {
            self.0
        }
    }
    let mut capture = Capture(0);
    instant.hash(&mut capture);
    capture.0
}

/// Unix time from the system clock, made monotonic (see the module docs).
///
/// A reference to the process-wide calibration, not a copy of it: a clock sits in a
/// tracer beside counters that every span writes, and a copy there would share their
/// cache line (a shared tracer's W8 went from ~190 to ~300 ns/span with a copy).
#[derive(Clone, Copy)]
pub struct SystemClock {
    calibration: &'static Calibration,
}

impl SystemClock {
    /// Returns a clock on the process-wide anchor (taken on first use).
    pub fn new() -> Self {
        Self {
            calibration: CALIBRATION.get_or_init(Calibration::take),
        }
    }
}

impl std::fmt::Debug for SystemClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SystemClock")
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Timestamp {
        let c = self.calibration;
        let nanos = if c.tsc {
            c.unix_nanos_at(ticks_of(fastant::Instant::now()))
        } else {
            let elapsed = u64::try_from(c.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
            c.unix_nanos.wrapping_add(elapsed)
        };
        Timestamp::from_unix_nanos(nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system_nanos() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    }

    fn assert_monotonic_and_near_system_time(clock: SystemClock) {
        let mut last = clock.now();
        for _ in 0..10_000 {
            let now = clock.now();
            assert!(now >= last);
            last = now;
        }
        let diff = system_nanos().abs_diff(clock.now().as_unix_nanos());
        assert!(
            diff < 1_000_000_000,
            "clock is {diff} ns away from SystemTime"
        );
    }

    #[test]
    fn never_goes_backwards_and_tracks_system_time() {
        assert_monotonic_and_near_system_time(SystemClock::new());
    }

    #[test]
    fn without_a_stable_counter_it_reads_the_monotonic_clock() {
        let calibration = Calibration {
            tsc: false,
            ..Calibration::take()
        };
        assert_monotonic_and_near_system_time(SystemClock {
            calibration: Box::leak(Box::new(calibration)),
        });
        let clock = SystemClock {
            calibration: Box::leak(Box::new(Calibration {
                tsc: false,
                base: Instant::now() - Duration::from_secs(5),
                ..calibration
            })),
        };
        let ahead = clock.now().as_unix_nanos() - calibration.unix_nanos;
        assert!((5_000_000_000..6_000_000_000).contains(&ahead), "{ahead}");
    }

    #[test]
    fn counter_readings_convert_as_fastant_converts_them() {
        let calibration = Calibration::take();
        if !calibration.tsc {
            return; // no counter here: the monotonic path above is the one in use
        }
        // `fastant` turns a duration into ticks with its own rate (truncating, so up to
        // one tick short); converting those ticks back must give the duration.
        let start = fastant::Instant::now();
        let at_start = calibration.unix_nanos_at(ticks_of(start));
        for nanos in [
            1_000,
            1_000_000_000,
            3_600_000_000_000,
            30 * 86_400_000_000_000,
        ] {
            let later = start.checked_add(Duration::from_nanos(nanos)).unwrap();
            let converted = calibration.unix_nanos_at(ticks_of(later)) - at_start;
            let fastant = later.duration_since(start).as_nanos() as u64;
            let slack = 2 + nanos / 1_000_000_000;
            assert!(converted.abs_diff(nanos) <= slack, "{nanos}: {converted}");
            assert!(converted.abs_diff(fastant) <= slack, "{nanos}: {fastant}");
        }
        // Readings taken just before the anchor (another core) clamp to it.
        assert_eq!(
            calibration.unix_nanos_at(calibration.ticks - 5),
            calibration.unix_nanos
        );
    }

    /// The fixed-point conversion on a hand-made rate, whatever this machine's counter:
    /// 2.5 ns per tick is `whole` 2 and half of 2^64 as the fraction.
    #[test]
    fn ticks_convert_with_the_whole_and_fractional_rate() {
        let calibration = Calibration {
            tsc: true,
            ticks: 1_000,
            unix_nanos: 1_700_000_000_000_000_000,
            whole: 2,
            fraction: 1 << 63,
            base: Instant::now(),
        };
        let at = |ticks: u64| calibration.unix_nanos_at(ticks) - calibration.unix_nanos;
        assert_eq!(at(1_000), 0);
        assert_eq!(at(1_004), 10);
        assert_eq!(at(1_001), 2, "2.5 ns truncated");
        // A day of ticks at 2.5 ns: no overflow in the 128-bit fraction product.
        let day = 86_400_000_000_000u64;
        assert_eq!(at(1_000 + day / 5 * 2), day);
        // Before the anchor (another core's reading): clamped to it.
        assert_eq!(at(10), 0);
    }

    #[test]
    fn the_counter_reading_is_the_one_fastant_orders_and_subtracts() {
        let a = fastant::Instant::now();
        let b = a.checked_add(Duration::from_millis(3)).unwrap();
        assert!(ticks_of(b) > ticks_of(a));
        let c = a.checked_add(Duration::from_millis(6)).unwrap();
        // Equal steps in time are equal steps in ticks (within truncation).
        let (ab, bc) = (ticks_of(b) - ticks_of(a), ticks_of(c) - ticks_of(b));
        assert!(ab.abs_diff(bc) <= 1, "{ab} {bc}");
    }

    #[test]
    fn clocks_share_the_anchor_across_threads() {
        let here = SystemClock::new();
        let there = std::thread::spawn(SystemClock::new).join().unwrap();
        assert!(std::ptr::eq(here.calibration, there.calibration));
        // Same anchor: a later reading on either clock is never earlier.
        let a = there.now();
        let b = here.now();
        assert!(b >= a);
    }
}
