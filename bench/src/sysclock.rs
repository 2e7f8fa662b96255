//! Clocks for the benchmark: [`SystemClock`], a stand-in for `picotrace_std::SystemClock`
//! until picotrace-std exports it (the same method: one `SystemTime` anchor per process
//! plus the monotonic `Instant` elapsed), and [`TscClock`], the TSC clock fastrace uses
//! (`fastant`), for a row where picotrace and fastrace read the same clock.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use picotrace::{Clock, Timestamp};

static ANCHOR: OnceLock<(u64, Instant)> = OnceLock::new();

/// Unix time from the system clock, made monotonic.
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
    unix_nanos: u64,
    instant: Instant,
}

impl SystemClock {
    /// Returns a clock on the process-wide anchor.
    pub fn new() -> Self {
        let &(unix_nanos, instant) = ANCHOR.get_or_init(|| {
            let unix = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            (unix, Instant::now())
        });
        Self {
            unix_nanos,
            instant,
        }
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
        let elapsed = u64::try_from(self.instant.elapsed().as_nanos()).unwrap_or(u64::MAX);
        Timestamp::from_unix_nanos(self.unix_nanos.saturating_add(elapsed))
    }
}

/// Unix time from the CPU's time-stamp counter (`fastant`, as fastrace uses), anchored
/// to the system clock once.
#[derive(Clone, Copy)]
pub struct TscClock {
    anchor: fastant::Anchor,
}

impl TscClock {
    /// Returns a clock anchored now.
    pub fn new() -> Self {
        Self {
            anchor: fastant::Anchor::new(),
        }
    }
}

impl std::fmt::Debug for TscClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TscClock")
    }
}

impl Default for TscClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TscClock {
    #[inline]
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_nanos(fastant::Instant::now().as_unix_nanos(&self.anchor))
    }
}
