//! Which of the tracer's per-thread counter cells the calling thread owns
//! ([`SpanStorage::thread_cell`]): the tracer numbers and counts the spans it starts
//! without a slot (sampled out) on it with a load and a store, not an atomic increment
//! (W3, an unsampled root through the provider: 26.5 to 13.5 ns on a 2-vCPU Xeon VM).
//!
//! A thread takes a free index from the process-wide bitmap [`TAKEN`] (an Acquire
//! compare-and-swap) the first time it asks, and gives it back as its thread-locals
//! are destroyed (a Release `fetch_and`), so the next owner sees every count the last
//! one stored: counts are never lost and numbers never repeat. One index serves every
//! tracer in the process (each has its own cells). A thread that finds every index
//! taken counts on the tracer's shared sets, and tries again after [`RETRY_AFTER`] more
//! asks; one that starts spans after its thread-locals are gone counts there for good.
//! (Registering the thread-local destructor may allocate once per thread, in the C
//! library.)
//!
//! [`SpanStorage::thread_cell`]: picotrace::SpanStorage::thread_cell

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use picotrace::span::arena::THREAD_CELLS;

/// Indices owned by a live thread, one bit each.
static TAKEN: AtomicU64 = AtomicU64::new(0);

/// [`THIS_CELL`] before the thread asked.
const UNASKED: u8 = 0;
/// [`THIS_CELL`] of a thread that found every index taken: it asks again later.
const NONE_FREE: u8 = u8::MAX - 1;
/// [`THIS_CELL`] once the thread's locals are destroyed: never a cell again.
const GONE: u8 = u8::MAX;

/// Asks (a span numbered or a root counted as kept, on the shared sets) a thread
/// without a cell makes before it tries to take one again.
const RETRY_AFTER: u32 = 4096;

const _: () = assert!(THREAD_CELLS <= 64 && THREAD_CELLS < NONE_FREE as usize);

thread_local! {
    /// This thread's index + 1, or [`UNASKED`], [`NONE_FREE`] or [`GONE`]. No
    /// destructor: reading it is one load, and it stays readable while other
    /// thread-locals are destroyed.
    static THIS_CELL: Cell<u8> = const { Cell::new(UNASKED) };
    /// Spans numbered on the shared sets since the last try ([`NONE_FREE`]).
    static MISSES: Cell<u32> = const { Cell::new(0) };
    /// Gives the index back when the thread's locals are destroyed.
    static RELEASE: Release = const { Release(Cell::new(UNASKED)) };
}

/// Owns the index (+ 1) it holds while the thread lives.
struct Release(Cell<u8>);

impl Drop for Release {
    fn drop(&mut self) {
        // First: a span started later in this thread's teardown (another thread-local's
        // destructor) must not write the cell once another thread may own it.
        let _ = THIS_CELL.try_with(|c| c.set(GONE));
        let held = self.0.replace(UNASKED);
        if held != UNASKED {
            TAKEN.fetch_and(!(1 << (held - 1)), Ordering::Release);
        }
    }
}

/// The calling thread's cell index, taken when it first asks.
#[inline(always)]
pub(crate) fn this_thread_cell() -> Option<usize> {
    let v = THIS_CELL.try_with(Cell::get).unwrap_or(GONE);
    if v != UNASKED && v < NONE_FREE {
        Some(usize::from(v - 1))
    } else if v == UNASKED {
        take_cell()
    } else if v == NONE_FREE {
        retry_later()
    } else {
        None
    }
}

/// A thread without a cell: tries again every [`RETRY_AFTER`] asks (threads that held
/// every index may have exited since).
#[cold]
fn retry_later() -> Option<usize> {
    let misses = MISSES.try_with(|m| {
        let n = m.get().wrapping_add(1);
        m.set(n % RETRY_AFTER);
        n
    });
    if misses.ok()? >= RETRY_AFTER {
        take_cell()
    } else {
        None
    }
}

#[cold]
#[inline(never)]
fn take_cell() -> Option<usize> {
    // Where thread-locals live under pthread keys (no native TLS), `THIS_CELL` may be
    // destroyed before `RELEASE` and read again as new: the index `RELEASE` holds is
    // this thread's still (found by review: a second one was taken, and the first
    // never given back).
    if let Ok(held @ 1..) = RELEASE.try_with(|r| r.0.get()) {
        let _ = THIS_CELL.try_with(|c| c.set(held));
        return Some(usize::from(held - 1));
    }
    let mut taken = TAKEN.load(Ordering::Relaxed);
    let index = loop {
        let free = !taken & (u64::MAX >> (64 - THREAD_CELLS));
        if free == 0 {
            let _ = THIS_CELL.try_with(|c| c.set(NONE_FREE));
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
        let _ = THIS_CELL.try_with(|c| c.set(GONE));
        return None;
    }
    let _ = THIS_CELL.try_with(|c| c.set(index + 1));
    Some(usize::from(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests that take many cells at once run one at a time.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A thread keeps its cell while it lives and gives it back when it exits: more
    /// threads than cells, one after another, all get one (without the give-back no
    /// more than `THREAD_CELLS` ever would).
    #[test]
    fn a_thread_keeps_its_cell_and_gives_it_back_at_exit() {
        let _serial = serial();
        let mut got = 0;
        for _ in 0..3 * THREAD_CELLS {
            let cell = std::thread::spawn(|| {
                let first = this_thread_cell();
                assert_eq!(this_thread_cell(), first, "the same cell while it lives");
                first
            })
            .join()
            .unwrap();
            got += usize::from(cell.is_some());
        }
        // Other tests' threads may hold a few cells meanwhile.
        assert!(
            got > THREAD_CELLS,
            "{got} threads of {} got a cell",
            3 * THREAD_CELLS
        );
    }

    /// Threads that live at once hold different cells; past `THREAD_CELLS` of them,
    /// the rest have none; once the holders exit, a thread that had none gets one
    /// after `RETRY_AFTER` more spans.
    #[test]
    fn live_threads_hold_different_cells_and_one_without_asks_again() {
        let _serial = serial();
        // `asked`: every holder has its cell; `done`: the late thread has asked, and
        // the holders may exit.
        let asked = std::sync::Barrier::new(THREAD_CELLS + 1);
        let done = std::sync::Barrier::new(THREAD_CELLS + 1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (cells, late) = std::thread::scope(|s| {
            let (asked, done) = (&asked, &done);
            let holders: Vec<_> = (0..THREAD_CELLS)
                .map(|_| {
                    s.spawn(move || {
                        let cell = this_thread_cell();
                        asked.wait();
                        done.wait();
                        cell
                    })
                })
                .collect();
            // Asks while every holder lives, then again after they exited.
            let late = s.spawn(move || {
                asked.wait();
                let mut first = None;
                for _ in 0..THREAD_CELLS {
                    first = this_thread_cell();
                }
                done.wait();
                rx.recv().unwrap();
                let later = (0..=RETRY_AFTER).filter_map(|_| this_thread_cell()).count();
                (first, later)
            });
            let cells: Vec<Option<usize>> =
                holders.into_iter().map(|w| w.join().unwrap()).collect();
            tx.send(()).unwrap();
            (cells, late.join().unwrap())
        });
        let held: std::collections::HashSet<_> = cells.iter().flatten().collect();
        assert_eq!(
            held.len(),
            cells.iter().flatten().count(),
            "no cell held twice"
        );
        assert!(
            held.len() >= THREAD_CELLS - 16,
            "most holders got one: {}",
            held.len()
        );
        let (first, later) = late;
        assert!(
            first.is_none() || !held.contains(&first.unwrap()),
            "a cell held twice"
        );
        assert!(later >= 1, "asked again once the holders were gone");
    }

    /// A thread-local whose destructor runs after the release (registered first, so
    /// destroyed last where destructors run in reverse) starts no count on the cell:
    /// another thread may own it by then (found by review: nothing tested it).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_span_in_a_later_destructor_gets_no_cell() {
        struct Late(std::sync::mpsc::Sender<Option<usize>>);
        impl Drop for Late {
            fn drop(&mut self) {
                let _ = self.0.send(this_thread_cell());
            }
        }
        thread_local! {
            static LATE: Cell<Option<Late>> = const { Cell::new(None) };
        }
        let _serial = serial();
        let (tx, rx) = std::sync::mpsc::channel();
        let cell = std::thread::spawn(move || {
            // Registered before the release, so destroyed after it (on Linux).
            LATE.with(|l| l.set(Some(Late(tx))));
            this_thread_cell()
        })
        .join()
        .unwrap()
        .expect("a cell");
        let in_teardown = rx.recv().unwrap();
        assert_eq!(in_teardown, None, "no cell after the release");
        // Given back: no other thread can hold it while this test holds SERIAL, unless
        // another test's thread took it since, which then owns it alone.
        let _ = cell;
    }
}
