//! The export thread of a `TracerProvider` puts the process's clock back on the wall
//! clock (its own process: the test skews the process-wide clock).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use picotrace::Clock as _;
use picotrace_std::{SystemClock, TracerProvider};

fn wall_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Regression (found by review): the clock was never measured against the wall clock
/// again, so after a suspend (which the monotonic clocks do not count) every span was
/// stamped in the past for the rest of the process. Here the clock is put an hour
/// behind, as a suspend of an hour would; within a few scheduled delays of the export
/// thread it reads the wall clock again.
#[test]
fn the_export_thread_resyncs_a_clock_that_fell_behind() {
    let provider = TracerProvider::builder()
        .scheduled_delay(Duration::from_millis(200))
        .build();
    let clock = SystemClock::new();
    // The thread's first resync is due a second after it started.
    std::thread::sleep(Duration::from_millis(1100));
    clock.skew_until_resync(-3_600_000_000_000);
    let behind = wall_nanos() as i64 - clock.now().as_unix_nanos() as i64;
    assert!(behind > 3_500_000_000_000, "{behind}");
    let mut diff = u64::MAX;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(100));
        diff = wall_nanos().abs_diff(clock.now().as_unix_nanos());
        if diff < 50_000_000 {
            break;
        }
    }
    assert!(diff < 50_000_000, "{diff} ns from the wall clock 4 s later");
    provider.shutdown().unwrap();
}
