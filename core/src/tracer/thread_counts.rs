//! Counts a thread writes alone (feature `std`, 64-bit atomics): spans started without a
//! slot (roots a sampler may drop, children sampled out) are numbered and counted on the
//! calling thread's own cell, with a load and a store instead of a read-modify-write.
//!
//! Why: an unsampled span writes nothing else shared, so the atomic increment was half
//! of its cost (W3: 26.5 ns with `fetch_add`, 13.5 ns with a load and a store on this
//! VM). A `fetch_add` is needed only where two threads may count on one counter; here
//! each of [`CELLS`] cells has one writer at a time.
//!
//! Ownership: a thread takes a free cell index from the process-wide bitmap [`TAKEN`]
//! (an Acquire compare-and-swap) the first time it numbers such a span, and gives it
//! back when the thread's locals are destroyed (a Release `fetch_and`), so the next
//! owner sees every count the last one stored and goes on from there: counts are never
//! lost and numbers never repeat. One index serves every tracer in the process (each
//! tracer has its cells). A thread that finds every cell taken, or numbers a span after
//! its locals are gone, counts on the tracer's shared sets as before. (A span started
//! in a signal handler that interrupts the same thread's numbering could take its
//! number twice: starting spans is not async-signal-safe.)

use core::cell::Cell;

use portable_atomic::{AtomicU64, Ordering};

use super::Count;

/// Cells per tracer, and threads that can own one at once.
pub(super) const CELLS: usize = 64;

/// Where a cell's number says which cell made it: above the count, below the bit that
/// tells them from the shared sets' numbers ([`CELL_NUMBERS`]).
const CELL_SHIFT: u32 = 51;
/// Set in every number a cell gives, and in no shared set's (their counts stay below
/// it, see `SET_COUNT_MASK` in the tracer).
pub(super) const CELL_NUMBERS: u64 = 1 << 57;
/// A cell's count, in its numbers: 2^51 spans (70 years at a million a second) before
/// its numbers repeat.
const COUNT_MASK: u64 = (1 << CELL_SHIFT) - 1;

const _: () = assert!(CELLS <= 1 << (57 - CELL_SHIFT));

/// The counts of one thread's cell, alone on its cache lines (128 bytes: adjacent-line
/// prefetch), as the shared sets' are.
#[repr(align(128))]
#[derive(Debug)]
struct Counts {
    roots_numbered: AtomicU64,
    sampled_out_unslotted: AtomicU64,
}

/// A tracer's cells.
#[derive(Debug)]
pub(super) struct ThreadCounts {
    cells: [Counts; CELLS],
}

impl ThreadCounts {
    pub(super) const fn new() -> Self {
        Self {
            cells: [const {
                Counts {
                    roots_numbered: AtomicU64::new(0),
                    sampled_out_unslotted: AtomicU64::new(0),
                }
            }; CELLS],
        }
    }

    /// Counts one span on the calling thread's cell and returns its number (with
    /// [`CELL_NUMBERS`] set), or `None` where the thread has no cell.
    #[inline(always)]
    pub(super) fn number(&self, count: Count) -> Option<u64> {
        let cell = this_thread_cell()?;
        let counts = &self.cells[cell];
        let counter = match count {
            Count::RootsNumbered => &counts.roots_numbered,
            Count::SampledOutUnslotted => &counts.sampled_out_unslotted,
        };
        // One writer (this thread owns the cell): no read-modify-write needed.
        let before = counter.load(Ordering::Relaxed);
        counter.store(before.wrapping_add(1), Ordering::Relaxed);
        Some(CELL_NUMBERS | (cell as u64) << CELL_SHIFT | before & COUNT_MASK)
    }

    /// The sum of one count over the cells.
    pub(super) fn total(&self, count: Count) -> u64 {
        self.cells
            .iter()
            .map(|c| match count {
                Count::RootsNumbered => c.roots_numbered.load(Ordering::Relaxed),
                Count::SampledOutUnslotted => c.sampled_out_unslotted.load(Ordering::Relaxed),
            })
            .fold(0, u64::wrapping_add)
    }
}

/// Cell indices owned by a live thread, one bit each.
static TAKEN: AtomicU64 = AtomicU64::new(0);

/// [`THIS_CELL`] before the thread asked for a cell.
const UNASKED: u8 = 0;
/// [`THIS_CELL`] of a thread without a cell (all taken, or its locals destroyed).
const NO_CELL: u8 = u8::MAX;

const _: () = assert!(CELLS < NO_CELL as usize && CELLS <= 64);

std::thread_local! {
    /// This thread's cell index + 1, or [`UNASKED`] or [`NO_CELL`]. No destructor, so
    /// reading it costs one load, and it stays readable while other locals are
    /// destroyed.
    static THIS_CELL: Cell<u8> = const { Cell::new(UNASKED) };
    /// Gives the cell back when the thread's locals are destroyed.
    static RELEASE: Release = const { Release(Cell::new(UNASKED)) };
}

/// Owns the index in its cell while the thread lives.
struct Release(Cell<u8>);

impl Drop for Release {
    fn drop(&mut self) {
        let taken = self.0.get();
        if taken != UNASKED {
            // First: a span numbered later in this thread's teardown (another local's
            // destructor) must not write the cell once another thread may own it.
            let _ = THIS_CELL.try_with(|c| c.set(NO_CELL));
            TAKEN.fetch_and(!(1 << (taken - 1)), Ordering::Release);
        }
    }
}

/// The calling thread's cell index, taken on its first call.
#[inline(always)]
fn this_thread_cell() -> Option<usize> {
    let v = THIS_CELL.try_with(Cell::get).unwrap_or(NO_CELL);
    if v != UNASKED && v != NO_CELL {
        Some(usize::from(v - 1))
    } else if v == UNASKED {
        take_cell()
    } else {
        None
    }
}

#[cold]
#[inline(never)]
fn take_cell() -> Option<usize> {
    // Asked once per thread: a thread that finds none counts on the shared sets for
    // good (threads beyond `CELLS` at once are rare, and they still count correctly).
    THIS_CELL.try_with(|c| c.set(NO_CELL)).ok()?;
    let mut taken = TAKEN.load(Ordering::Relaxed);
    let index = loop {
        let free = !taken;
        if free == 0 {
            return None;
        }
        let index = free.trailing_zeros();
        match TAKEN.compare_exchange_weak(
            taken,
            taken | 1 << index,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => break index as u8,
            Err(now) => taken = now,
        }
    };
    // Registering the release fails while the thread's locals are being destroyed.
    if RELEASE.try_with(|r| r.0.set(index + 1)).is_err() {
        TAKEN.fetch_and(!(1 << index), Ordering::Release);
        return None;
    }
    THIS_CELL.with(|c| c.set(index + 1));
    Some(usize::from(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two tests take many cells at once: one at a time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// A thread keeps its cell while it lives and gives it back when it exits: the
    /// next thread that takes the same index goes on counting from where the first
    /// stopped, so numbers never repeat. Without the give-back no more than [`CELLS`]
    /// threads would ever get one.
    #[test]
    fn a_cell_is_one_threads_and_passes_on_with_its_count() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let counts = ThreadCounts::new();
        let first = std::thread::scope(|s| {
            s.spawn(|| {
                let a = counts.number(Count::RootsNumbered)?;
                let b = counts.number(Count::RootsNumbered)?;
                assert_eq!(b, a + 1, "one cell, counted on");
                assert_eq!(counts.total(Count::RootsNumbered), 2);
                Some([a, b])
            })
            .join()
            .unwrap()
        });
        let mut numbers: std::vec::Vec<u64> = first.into_iter().flatten().collect();
        // Threads run one after another, each taking the lowest free index (other
        // tests' threads may hold some): most take a cell another thread had, and
        // continue its count.
        for _ in 0..3 * CELLS {
            let n = std::thread::scope(|s| {
                s.spawn(|| counts.number(Count::RootsNumbered))
                    .join()
                    .unwrap()
            });
            numbers.extend(n);
        }
        assert!(
            numbers.len() > CELLS + 2,
            "cells given back: {}",
            numbers.len()
        );
        let distinct: std::collections::HashSet<_> = numbers.iter().collect();
        assert_eq!(distinct.len(), numbers.len(), "no number given twice");
        let total = counts.total(Count::RootsNumbered);
        assert_eq!(total, numbers.len() as u64, "every number counted once");
        assert_eq!(counts.total(Count::SampledOutUnslotted), 0, "counted apart");
        assert!(numbers.iter().all(|n| n & CELL_NUMBERS != 0));
    }

    /// Threads that live at once hold different cells; past [`CELLS`] of them, the
    /// rest have none (and count on the tracer's shared sets).
    #[test]
    fn live_threads_hold_different_cells_and_the_rest_none() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let barrier = std::sync::Barrier::new(CELLS + 8);
        let cells: std::vec::Vec<Option<usize>> = std::thread::scope(|s| {
            let workers: std::vec::Vec<_> = (0..CELLS + 8)
                .map(|_| {
                    s.spawn(|| {
                        let cell = this_thread_cell();
                        barrier.wait();
                        cell
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let held: std::collections::HashSet<_> = cells.iter().flatten().collect();
        assert_eq!(
            held.len(),
            cells.iter().flatten().count(),
            "no cell held twice"
        );
        // Other tests' threads may hold some cells meanwhile.
        assert!(cells.iter().filter(|c| c.is_none()).count() >= 8);
    }
}
