//! Time: [`Timestamp`] in Unix nanoseconds and the [`Clock`] trait the platform implements.
//!
//! picotrace never reads a clock by itself. Firmware passes one built on a hardware timer
//! (SysTick, the DWT cycle counter, an RTC); `picotrace-std` passes `SystemClock`;
//! embassy applications pass `EmbassyClock` (feature `embassy-time`).
//!
//! ```
//! use picotrace::{Clock, Timestamp};
//! struct Fixed;
//! impl Clock for Fixed {
//!     fn now(&self) -> Timestamp { Timestamp::from_unix_nanos(1_700_000_000_000_000_000) }
//! }
//! assert_eq!(Fixed.now().as_unix_nanos() / 1_000_000_000, 1_700_000_000);
//! ```

use core::time::Duration;

#[cfg(feature = "embassy-time")]
mod embassy;
#[cfg(feature = "embassy-time")]
pub use embassy::EmbassyClock;

/// A point in time as nanoseconds since the Unix epoch, as OTLP carries it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timestamp(u64);

impl Timestamp {
    /// The epoch itself; OTLP reads a zero time as "unknown".
    pub const ZERO: Self = Self(0);

    /// Creates a timestamp from Unix nanoseconds.
    #[inline]
    pub const fn from_unix_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// Returns the Unix nanoseconds.
    #[inline]
    pub const fn as_unix_nanos(self) -> u64 {
        self.0
    }

    /// Returns the time elapsed from `earlier` to `self`, or zero if `earlier` is later
    /// (a clock that stepped backwards must not produce a huge duration).
    #[inline]
    pub const fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Returns `self + d`, saturating at the end of representable time.
    #[inline]
    #[must_use]
    pub const fn saturating_add(self, d: Duration) -> Self {
        let nanos = d.as_nanos();
        let nanos = if nanos > u64::MAX as u128 {
            u64::MAX
        } else {
            nanos as u64
        };
        Self(self.0.saturating_add(nanos))
    }
}

/// A source of wall-clock time.
///
/// # What implementors must guarantee
/// - `now` returns nanoseconds since the Unix epoch (1970-01-01T00:00:00Z, ignoring leap
///   seconds). A device without a real-time clock may return time since boot plus an
///   offset learned later (e.g. from a gateway); backends then show it as given.
/// - Successive calls from one execution context never go backwards, so that a span's
///   end is never before its start. (picotrace also saturates durations at zero.)
/// - `now` is cheap (it is called at every span start and end), never blocks, never
///   panics, and is safe to call from an interrupt handler if spans are used there.
/// - `now` must not call back into the tracer.
pub trait Clock {
    /// Returns the current time.
    fn now(&self) -> Timestamp;
}

impl<C: Clock + ?Sized> Clock for &C {
    #[inline]
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

/// A clock that always reads zero: for platforms with no time source at all. OTLP
/// receivers treat zero as "unknown"; durations then read as zero.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoClock;

impl Clock for NoClock {
    #[inline]
    fn now(&self) -> Timestamp {
        Timestamp::ZERO
    }
}

/// A manually advanced clock for tests and simulations; single-threaded.
#[derive(Debug, Default)]
pub struct ManualClock(portable_atomic::AtomicU64);

impl ManualClock {
    /// Creates a clock reading `start`.
    pub const fn new(start: Timestamp) -> Self {
        Self(portable_atomic::AtomicU64::new(start.0))
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.set(self.now().saturating_add(d));
    }

    /// Sets the clock to `t` (tests may move it anywhere; real clocks must not go back).
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, portable_atomic::Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(portable_atomic::Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_saturate_when_clock_steps_back() {
        let a = Timestamp::from_unix_nanos(10);
        let b = Timestamp::from_unix_nanos(4);
        assert_eq!(b.saturating_duration_since(a), Duration::ZERO);
        assert_eq!(a.saturating_duration_since(b), Duration::from_nanos(6));
        assert_eq!(
            Timestamp::from_unix_nanos(u64::MAX - 1)
                .saturating_add(Duration::from_secs(1))
                .as_unix_nanos(),
            u64::MAX
        );
    }

    #[test]
    fn manual_clock_advances() {
        let c = ManualClock::new(Timestamp::from_unix_nanos(5));
        c.advance(Duration::from_nanos(7));
        assert_eq!(c.now(), Timestamp::from_unix_nanos(12));
    }
}
