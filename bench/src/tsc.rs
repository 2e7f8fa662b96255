//! [`TscClock`]: the TSC clock fastrace uses (`fastant`), so that picotrace can run a
//! row on the same clock as fastrace (picotrace's `Clock` trait takes any time source).

use picotrace::{Clock, Timestamp};

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
