//! How a [`crate::Tracer`] guards its state: the concurrency model, in one trait.
//!
//! - [`LocalLock`]: one execution context (a main loop, or one thread: the std adapter
//!   gives every thread a tracer of its own, so the span hot path takes no shared lock).
//!   A `RefCell` underneath; re-entry (e.g. from a `Clock` that calls the tracer) is
//!   refused, never a panic: the span is dropped and counted.
//! - `CriticalSectionLock` (feature `critical-section`): a tracer in a `static`, used
//!   from the main loop *and* from interrupt handlers. Each operation runs inside a
//!   short critical section; the platform's HAL provides the implementation.

use core::cell::RefCell;

/// A way to get exclusive access to the tracer's state.
pub trait Lock {
    /// The cell that holds the state.
    type Cell<T>;

    /// Wraps `value` in a cell.
    fn new_cell<T>(value: T) -> Self::Cell<T>;

    /// Runs `f` with exclusive access, or returns `None` if the state is already in use
    /// by the same execution context (re-entry).
    fn with<T, R>(cell: &Self::Cell<T>, f: impl FnOnce(&mut T) -> R) -> Option<R>;
}

/// Single execution context: no atomics, no interrupts masked; `!Sync`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalLock;

impl Lock for LocalLock {
    type Cell<T> = RefCell<T>;

    #[inline]
    fn new_cell<T>(value: T) -> RefCell<T> {
        RefCell::new(value)
    }

    #[inline]
    fn with<T, R>(cell: &RefCell<T>, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        cell.try_borrow_mut().ok().map(|mut state| f(&mut state))
    }
}

/// Main loop plus interrupts: every operation inside `critical_section::with`.
#[cfg(feature = "critical-section")]
#[derive(Debug, Clone, Copy, Default)]
pub struct CriticalSectionLock;

#[cfg(feature = "critical-section")]
impl Lock for CriticalSectionLock {
    type Cell<T> = critical_section::Mutex<RefCell<T>>;

    #[inline]
    fn new_cell<T>(value: T) -> Self::Cell<T> {
        critical_section::Mutex::new(RefCell::new(value))
    }

    #[inline]
    fn with<T, R>(cell: &Self::Cell<T>, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        critical_section::with(|cs| {
            cell.borrow(cs)
                .try_borrow_mut()
                .ok()
                .map(|mut state| f(&mut state))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_lock_refuses_reentry_without_panicking() {
        let cell = LocalLock::new_cell(1);
        let inner = LocalLock::with(&cell, |v| {
            *v += 1;
            LocalLock::with(&cell, |v| *v += 10)
        });
        assert_eq!(inner, Some(None));
        assert_eq!(LocalLock::with(&cell, |v| *v), Some(2));
    }
}
