//! Timing and allocation counting: repetitions, median/min/max, warm-up.
//!
//! A measurement runs `f(n)` (which performs `n` operations) once to warm up and to
//! choose `n` so that one repetition takes about [`Plan::target`], then times `reps`
//! repetitions with [`Instant`]. The figure of a repetition is its time divided by the
//! operations it did; the summary is the median, minimum and maximum of those figures.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long and how often to measure.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Repetitions per measurement.
    pub reps: usize,
    /// Wall time one repetition should take.
    pub target: Duration,
    /// Wall time of the warm-up before the repetitions.
    pub warmup: Duration,
}

impl Plan {
    /// The full run: 11 repetitions of about 100 ms each.
    pub const FULL: Plan = Plan {
        reps: 11,
        target: Duration::from_millis(100),
        warmup: Duration::from_millis(100),
    };
    /// `--quick`: 3 repetitions of about 5 ms, for CI.
    pub const QUICK: Plan = Plan {
        reps: 3,
        target: Duration::from_millis(5),
        warmup: Duration::from_millis(5),
    };
}

/// Median, minimum and maximum over repetitions, in the figure's own unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Median of the repetitions.
    pub median: f64,
    /// Smallest repetition.
    pub min: f64,
    /// Largest repetition.
    pub max: f64,
}

impl Summary {
    /// Summarises `samples` (at least one).
    pub fn of(samples: &mut [f64]) -> Summary {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_by(|a, b| a.total_cmp(b));
        let n = samples.len();
        let median = if n % 2 == 1 {
            samples[n / 2]
        } else {
            (samples[n / 2 - 1] + samples[n / 2]) / 2.0
        };
        Summary {
            median,
            min: samples[0],
            max: samples[n - 1],
        }
    }

    /// Returns the summary with every figure mapped through `f` (which may reverse the
    /// order, e.g. ns/op to ops/s: min and max are swapped back into place).
    pub fn map(self, f: impl Fn(f64) -> f64) -> Summary {
        let (a, b) = (f(self.min), f(self.max));
        Summary {
            median: f(self.median),
            min: a.min(b),
            max: a.max(b),
        }
    }
}

/// Warm-up: doubles `n` until `f(n)` alone takes a quarter of `plan.warmup` (with
/// `between` after each call, untimed); returns how many operations fill
/// `plan.target`.
fn calibrate(plan: &Plan, f: &mut impl FnMut(u64), between: &mut impl FnMut()) -> u64 {
    let mut n = 1u64;
    let per_op = loop {
        let t = Instant::now();
        f(n);
        let dt = t.elapsed();
        between();
        if dt >= plan.warmup / 4 || n >= 1 << 40 {
            break dt.as_secs_f64() / n as f64;
        }
        n *= 2;
    };
    ((plan.target.as_secs_f64() / per_op.max(1e-12)) as u64).max(1)
}

/// Times `f(n)`: warm-up, calibration, then `plan.reps` repetitions. Returns nanoseconds
/// per operation. `between` runs after each repetition, outside the timed region (for
/// flushing a peer's background queue, so one repetition's backlog never lands in the
/// next).
pub fn ns_per_op(plan: &Plan, mut f: impl FnMut(u64), mut between: impl FnMut()) -> Summary {
    let iters = calibrate(plan, &mut f, &mut between);
    let mut samples = Vec::with_capacity(plan.reps);
    for _ in 0..plan.reps {
        let t = Instant::now();
        f(iters);
        let dt = t.elapsed();
        between();
        samples.push(dt.as_nanos() as f64 / iters as f64);
    }
    Summary::of(&mut samples)
}

/// Spans in one burst of the burst regime: the timed part is this many spans, then the
/// library's pipeline is drained (untimed) before the next burst, so no backlog carries
/// over and no library is measured in overload.
pub const BURST_SPANS: u64 = 1000;

/// The burst regime: bursts of `ops_per_burst` operations, each timed alone, with
/// `drain` (untimed) after every burst. A repetition runs bursts for about
/// [`Plan::target`] of wall time; its figure is the timed nanoseconds per operation of
/// the producing thread, and beside it the CPU time of every thread of the process per
/// operation over the whole repetition, drains included (a library that exports on
/// another thread or in its drain pays for it there; found by review: burst rows had no
/// figure but the producing thread's).
pub fn burst_ns_per_op(
    plan: &Plan,
    ops_per_burst: u64,
    mut f: impl FnMut(u64),
    mut drain: impl FnMut(),
) -> Burst {
    let ops_per_burst = ops_per_burst.max(1);
    let warm = Instant::now();
    while warm.elapsed() < plan.warmup {
        f(ops_per_burst);
        drain();
    }
    let (mut samples, mut cpu) = (Vec::with_capacity(plan.reps), Vec::with_capacity(plan.reps));
    for _ in 0..plan.reps {
        let (mut timed, mut ops) = (Duration::ZERO, 0u64);
        let cpu_before = process_cpu_time();
        let rep = Instant::now();
        while ops == 0 || rep.elapsed() < plan.target {
            let t = Instant::now();
            f(ops_per_burst);
            timed += t.elapsed();
            drain();
            ops += ops_per_burst;
        }
        let cpu_used = process_cpu_time().saturating_sub(cpu_before);
        samples.push(timed.as_nanos() as f64 / ops as f64);
        cpu.push(cpu_used.as_nanos() as f64 / ops as f64);
    }
    Burst {
        wall: Summary::of(&mut samples),
        cpu: Summary::of(&mut cpu),
    }
}

/// What the burst regime measured.
#[derive(Clone, Copy, Debug)]
pub struct Burst {
    /// Timed wall time of the producing thread per operation (the bursts alone).
    pub wall: Summary,
    /// CPU time of every thread of the process per operation, bursts and drains.
    pub cpu: Summary,
}

/// What the sustained regime measured.
#[derive(Clone, Copy, Debug)]
pub struct Sustained {
    /// Wall time of the producing thread per operation (the loop alone).
    pub wall: Summary,
    /// CPU time of every thread of the process per operation, from the loop's start to
    /// the end of the drain that follows it (background threads and the drain included).
    pub cpu: Summary,
    /// Spans the workload produced over the run (the calibration's too).
    pub produced: u64,
    /// Spans that reached the sink from the start of the calibration to the end of the
    /// last repetition's drain. Counted over the whole run, not per repetition: a
    /// library whose drain cannot reach every queued span (fastrace's thread-local
    /// backlog) delivered the calibration's spans during the repetitions, counted as
    /// reached but never as produced (found by review).
    pub reached: u64,
}

impl Sustained {
    /// The share of produced spans that reached the sink (`None` when none were
    /// produced, e.g. unsampled).
    pub fn reached_share(&self) -> Option<f64> {
        (self.produced > 0).then(|| self.reached as f64 / self.produced as f64)
    }
}

/// The sustained regime: `f(n)` runs one continuous loop of about [`Plan::target`]
/// (the library's background pipeline runs alongside, as under steady load), then
/// `drain` flushes and returns how many spans the sink has received so far. `spans_per_op`
/// converts operations to produced spans (0 when the workload produces none).
pub fn sustained(
    plan: &Plan,
    spans_per_op: u64,
    mut f: impl FnMut(u64),
    mut drain: impl FnMut() -> u64,
) -> Sustained {
    let sink_start = drain();
    let mut ops = 0;
    let iters = calibrate(
        plan,
        &mut |n| {
            ops += n;
            f(n);
        },
        &mut || {
            drain();
        },
    );
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    let mut sink_end = sink_start;
    for _ in 0..plan.reps {
        let cpu_before = process_cpu_time();
        let t = Instant::now();
        f(iters);
        let dt = t.elapsed();
        sink_end = drain();
        let cpu_used = process_cpu_time().saturating_sub(cpu_before);
        wall.push(dt.as_nanos() as f64 / iters as f64);
        cpu.push(cpu_used.as_nanos() as f64 / iters as f64);
        ops += iters;
    }
    Sustained {
        wall: Summary::of(&mut wall),
        cpu: Summary::of(&mut cpu),
        produced: ops * spans_per_op,
        reached: sink_end.saturating_sub(sink_start),
    }
}

/// CPU time used so far by every thread of this process (`CLOCK_PROCESS_CPUTIME_ID`).
pub fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the
    // kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Times `f()` once per repetition and returns `work / seconds` (e.g. spans per second,
/// bytes per second) for each; `f` returns the amount of work it did.
pub fn rate(reps: usize, mut f: impl FnMut() -> (u64, Duration)) -> Summary {
    let mut samples = Vec::with_capacity(reps);
    for _ in 0..reps {
        let (work, dt) = f();
        samples.push(work as f64 / dt.as_secs_f64());
    }
    Summary::of(&mut samples)
}

// ---- allocation counting ---------------------------------------------------------------

/// Counts heap allocations while [`count_allocations`] runs; otherwise costs one relaxed
/// load per allocation, so that timing runs are not slowed for peers that allocate.
///
/// Install it in the binary (or test) with
/// `#[global_allocator] static A: CountingAlloc = CountingAlloc;`.
pub struct CountingAlloc;

/// Read on every allocation, written only when counting starts or stops (and once when
/// the allocator is first used): a cache line of their own, which threads allocating
/// on two cores share read-only. (Found by review: `INSTALLED` was stored on every
/// allocation, beside `COUNTING`, so that line moved between the cores of peers that
/// allocate on two threads, a cost picotrace, which does not allocate, never paid.)
#[repr(align(128))]
struct Flags {
    counting: AtomicBool,
    installed: AtomicBool,
}

static FLAGS: Flags = Flags {
    counting: AtomicBool::new(false),
    installed: AtomicBool::new(false),
};

/// Written only while counting.
#[repr(align(128))]
struct Counts {
    allocations: AtomicU64,
    bytes: AtomicU64,
}

static COUNTS: Counts = Counts {
    allocations: AtomicU64::new(0),
    bytes: AtomicU64::new(0),
};

// SAFETY: every method forwards to the system allocator with the caller's arguments;
// the counters are plain atomics and never allocate.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        note(new);
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.realloc(ptr, layout, new) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: same contract as ours.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[inline]
fn note(bytes: usize) {
    if !FLAGS.installed.load(Ordering::Relaxed) {
        FLAGS.installed.store(true, Ordering::Relaxed);
    }
    if FLAGS.counting.load(Ordering::Relaxed) {
        COUNTS.allocations.fetch_add(1, Ordering::Relaxed);
        COUNTS.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// Heap allocations (allocs and reallocs, from every thread) and bytes requested.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allocations {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    pub count: u64,
    /// Bytes those calls asked for.
    pub bytes: u64,
}

/// Runs `f` with counting on and returns what was allocated meanwhile, by any thread
/// (a peer's background thread included). `None` when [`CountingAlloc`] is not the
/// global allocator.
pub fn count_allocations(f: impl FnOnce()) -> Option<Allocations> {
    // Make sure an allocation has gone through us at least once.
    drop(std::hint::black_box(Box::new(0u8)));
    if !FLAGS.installed.load(Ordering::Relaxed) {
        return None;
    }
    let before = (
        COUNTS.allocations.load(Ordering::SeqCst),
        COUNTS.bytes.load(Ordering::SeqCst),
    );
    FLAGS.counting.store(true, Ordering::SeqCst);
    f();
    FLAGS.counting.store(false, Ordering::SeqCst);
    Some(Allocations {
        count: COUNTS.allocations.load(Ordering::SeqCst) - before.0,
        bytes: COUNTS.bytes.load(Ordering::SeqCst) - before.1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_takes_the_middle_and_the_extremes() {
        let s = Summary::of(&mut [5.0, 1.0, 3.0]);
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
        let s = Summary::of(&mut [4.0, 1.0, 3.0, 2.0]);
        assert_eq!(s.median, 2.5);
    }

    #[test]
    fn mapping_to_a_rate_keeps_min_below_max() {
        let s = Summary::of(&mut [10.0, 20.0, 40.0]).map(|ns| 1e9 / ns);
        assert_eq!((s.min, s.median, s.max), (2.5e7, 5e7, 1e8));
    }
}
