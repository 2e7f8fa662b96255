//! Counts a thread writes alone (feature `std`, 64-bit targets): spans started without
//! a slot (roots a sampler may drop, children sampled out) are numbered and counted, and
//! the roots a sampler keeps counted, on the cell the arena says the calling thread owns
//! ([`SpanStorage::thread_cell`]), with a load and a store instead of a
//! read-modify-write.
//!
//! Why: an unsampled span writes nothing else shared, so the atomic increment was half
//! of its cost (W3 through picotrace-std's provider on a 2-vCPU Xeon VM: 26.5 ns with
//! `fetch_add`, 13.5 ns with a load and a store; `SpanArena` gives no cells, and the
//! core tracer over it stays at 26). A `fetch_add` is needed only where two threads may
//! count on one counter; a cell has one writer at a time, and the storage hands a cell
//! from one thread to the next with a release/acquire pair, so the next owner goes on
//! from the last count: counts stay exact and numbers never repeat. (A span started in a signal
//! handler that interrupts the same thread's numbering could take its number twice:
//! starting spans is not async-signal-safe.)
//!
//! [`SpanStorage::thread_cell`]: crate::SpanStorage::thread_cell

pub(super) use cells::ThreadCounts;

/// The cells: where the tracer links `std` on a 64-bit target with 64-bit atomics.
#[cfg(all(
    feature = "std",
    target_pointer_width = "64",
    target_has_atomic = "64",
    not(loom)
))]
mod cells {
    use portable_atomic::{AtomicU64, Ordering};

    use super::super::Count;
    use crate::span::arena::THREAD_CELLS;

    /// Where a cell's number says which cell made it: above the count, below the bit that
    /// tells them from the shared sets' numbers ([`CELL_NUMBERS`]).
    const CELL_SHIFT: u32 = 51;
    /// Set in every number a cell gives, and in no shared set's (their counts stay below
    /// it, see `SET_COUNT_MASK` in the tracer).
    pub(in crate::tracer) const CELL_NUMBERS: u64 = 1 << 57;
    /// A cell's count, in its numbers: 2^51 spans (70 years at a million a second) before
    /// its numbers repeat.
    const COUNT_MASK: u64 = (1 << CELL_SHIFT) - 1;

    const _: () = assert!(THREAD_CELLS <= 1 << (57 - CELL_SHIFT));

    /// The counts of one thread's cell, alone on its cache lines (128 bytes: adjacent-line
    /// prefetch), as the shared sets' are.
    #[repr(align(128))]
    #[derive(Debug)]
    struct Counts {
        roots_numbered: AtomicU64,
        sampled_out_unslotted: AtomicU64,
        roots_kept: AtomicU64,
    }

    impl Counts {
        fn of(&self, count: Count) -> &AtomicU64 {
            match count {
                Count::RootsNumbered => &self.roots_numbered,
                Count::SampledOutUnslotted => &self.sampled_out_unslotted,
                Count::RootsKept => &self.roots_kept,
            }
        }
    }

    /// A tracer's cells.
    #[derive(Debug)]
    pub(in crate::tracer) struct ThreadCounts {
        cells: [Counts; THREAD_CELLS],
    }

    impl ThreadCounts {
        pub(in crate::tracer) const fn new() -> Self {
            Self {
                cells: [const {
                    Counts {
                        roots_numbered: AtomicU64::new(0),
                        sampled_out_unslotted: AtomicU64::new(0),
                        roots_kept: AtomicU64::new(0),
                    }
                }; THREAD_CELLS],
            }
        }

        /// Counts one span on `cell` (which the calling thread owns) and returns its number
        /// (with [`CELL_NUMBERS`] set); `None` for an index out of range.
        #[inline(always)]
        pub(in crate::tracer) fn number(&self, cell: usize, count: Count) -> Option<u64> {
            let before = self.bump(cell, count)?;
            Some(CELL_NUMBERS | (cell as u64) << CELL_SHIFT | before & COUNT_MASK)
        }

        /// Counts one on `cell` (which the calling thread owns) and returns the count
        /// before; `None` for an index out of range.
        #[inline(always)]
        pub(in crate::tracer) fn bump(&self, cell: usize, count: Count) -> Option<u64> {
            let counter = self.cells.get(cell)?.of(count);
            // One writer (this thread owns the cell): no read-modify-write needed.
            let before = counter.load(Ordering::Relaxed);
            counter.store(before.wrapping_add(1), Ordering::Relaxed);
            Some(before)
        }

        /// The sum of one count over the cells.
        pub(in crate::tracer) fn total(&self, count: Count) -> u64 {
            self.cells
                .iter()
                .map(|c| c.of(count).load(Ordering::Relaxed))
                .fold(0, u64::wrapping_add)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::span::arena::THREAD_CELLS;
        use crate::tracer::Count;

        /// A cell counts on from where it was, whoever owns it; cells and counts number
        /// apart; an index out of range is refused.
        #[test]
        fn cells_number_apart_and_count_on() {
            let counts = ThreadCounts::new();
            let mut numbers = std::vec::Vec::new();
            for cell in [0, 1, THREAD_CELLS - 1, 0] {
                numbers.push(counts.number(cell, Count::RootsNumbered).unwrap());
            }
            assert_eq!(numbers[3], numbers[0] + 1, "cell 0 counted on");
            let distinct: std::collections::HashSet<_> = numbers.iter().collect();
            assert_eq!(distinct.len(), 4);
            assert!(numbers.iter().all(|n| n & CELL_NUMBERS != 0));
            assert_eq!(counts.number(THREAD_CELLS, Count::RootsNumbered), None);
            assert_eq!(counts.total(Count::RootsNumbered), 4);
            counts.number(1, Count::SampledOutUnslotted).unwrap();
            assert_eq!(counts.bump(1, Count::RootsKept), Some(0));
            assert_eq!(counts.total(Count::SampledOutUnslotted), 1);
            assert_eq!(counts.total(Count::RootsKept), 1);
            assert_eq!(counts.total(Count::RootsNumbered), 4);
        }
    }
}

/// Elsewhere, no cells: every count is on the tracer's shared sets.
#[cfg(not(all(
    feature = "std",
    target_pointer_width = "64",
    target_has_atomic = "64",
    not(loom)
)))]
mod cells {
    use super::super::Count;

    /// No cells (nothing stored).
    #[derive(Debug)]
    pub(in crate::tracer) struct ThreadCounts;

    impl ThreadCounts {
        pub(in crate::tracer) const fn new() -> Self {
            Self
        }

        /// Always `None`: the sets count.
        #[inline(always)]
        pub(in crate::tracer) fn number(&self, _cell: usize, _count: Count) -> Option<u64> {
            None
        }

        /// Always `None`: the sets count.
        #[inline(always)]
        pub(in crate::tracer) fn bump(&self, _cell: usize, _count: Count) -> Option<u64> {
            None
        }

        /// Always 0.
        pub(in crate::tracer) fn total(&self, _count: Count) -> u64 {
            0
        }
    }
}
