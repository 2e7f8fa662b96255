//! The spans each layer has seen entered on this thread, innermost last: the current
//! span's id without asking the registry, which looks the span up in its slab (a
//! reference count taken and given back) on every `current_span()`.
//!
//! It follows the registry's own stack: `enter` pushes, `exit` removes the innermost
//! entry of that span, and a span entered again while it already is (a → b → a) does
//! not become current again, as the registry's `current_span()` (and so
//! `tracing::Span::current()`) skips such entries. Spans a per-layer filter hides are
//! never entered here, so the innermost entry is the nearest span the layer sees. Past [`DEPTH`] nested spans a
//! thread's stack stops answering (callers then ask the registry) until the spans it
//! could not track have exited. Known limits there, with spans nested that deep: the
//! spans entered past the depth are assumed to exit innermost first (a guard dropped
//! out of order can leave a picotrace scope placed wrongly among them), and
//! `current_context()` inside a span a per-layer filter hides looks for the nearest
//! span the layer sees among the hidden span's parents (not among the spans entered
//! around it).

use std::cell::RefCell;

/// Nested entered spans tracked per thread.
pub(super) const DEPTH: usize = 64;

/// What the stack knows of the current span of one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Current {
    /// The innermost span this layer saw entered (`None`: none is).
    Known(Option<u64>),
    /// The stack overflowed on this thread: ask the registry.
    Unknown,
}

struct Stack {
    /// (layer key, span id, entered again while it already was), innermost last.
    entries: [(usize, u64, bool); DEPTH],
    /// When each entry was entered, in the thread's order of what became current
    /// ([`crate::context::next_order`]).
    orders: [u64; DEPTH],
    /// Whether each entry was entered while its thread was already unwinding (a
    /// clean-up's enter: a panic did not cut that scope short).
    unwinding: [bool; DEPTH],
    len: usize,
    /// Of the enters past [`DEPTH`] (the innermost spans, which the stack could not
    /// track), those of a span with an entry here, on its innermost entry: its next
    /// exits are theirs (spans exit innermost first), and the entry stays.
    reentered: [u32; DEPTH],
    /// Enters past [`DEPTH`] of spans without an entry here, not yet exited.
    others: usize,
    /// All the enters past [`DEPTH`] not yet exited: while there are any, the stack
    /// does not answer.
    untracked: usize,
    /// When the enters past [`DEPTH`] were entered, innermost at `untracked - 1` (modulo
    /// [`DEPTH`]: past twice the depth the oldest are written over), so that a
    /// picotrace scope can be placed among them: spans exit innermost first, so the
    /// innermost untracked enter still entered is the newest.
    untracked_orders: [u64; DEPTH],
}

thread_local! {
    static ENTERED: RefCell<Stack> = const {
        RefCell::new(Stack {
            entries: [(0, 0, false); DEPTH],
            orders: [0; DEPTH],
            unwinding: [false; DEPTH],
            len: 0,
            reentered: [0; DEPTH],
            others: 0,
            untracked: 0,
            untracked_orders: [0; DEPTH],
        })
    };
}

/// Records that `layer` saw span `id` entered.
#[inline]
pub(super) fn enter(layer: usize, id: u64) {
    let _ = ENTERED.try_with(|stack| {
        let Ok(mut stack) = stack.try_borrow_mut() else {
            return;
        };
        let len = stack.len;
        let entered = stack.entries[..len]
            .iter()
            .rposition(|&(key, entered, _)| (key, entered) == (layer, id));
        match stack.entries.get_mut(len) {
            Some(entry) => {
                *entry = (layer, id, entered.is_some());
                stack.orders[len] = crate::context::next_order();
                stack.unwinding[len] = std::thread::panicking();
                stack.len += 1;
                stack.reentered[len] = 0;
            }
            None => {
                let at = stack.untracked % DEPTH;
                stack.untracked_orders[at] = crate::context::next_order();
                stack.untracked += 1;
                match entered {
                    Some(at) => stack.reentered[at] += 1,
                    None => stack.others += 1,
                }
            }
        }
    });
}

/// Records that `layer` saw span `id` exited: its innermost entry goes. Returns whether
/// that enter was made while the thread was already unwinding (`false` where the stack
/// does not know: past its depth).
#[inline]
pub(super) fn exit(layer: usize, id: u64) -> bool {
    ENTERED
        .try_with(|stack| {
            let Ok(mut stack) = stack.try_borrow_mut() else {
                return false;
            };
            let len = stack.len;
            let is = |&(key, entered, _): &(usize, u64, bool)| (key, entered) == (layer, id);
            // Mostly the innermost entry (spans exit in the order they entered).
            if stack.untracked == 0 && len > 0 && is(&stack.entries[len - 1]) {
                stack.len -= 1;
                return stack.unwinding[len - 1];
            }
            match stack.entries[..len].iter().rposition(is) {
                // Entered again past the depth: that enter exits first (spans exit
                // innermost first); the entry stays.
                Some(at) if stack.reentered[at] > 0 => {
                    stack.reentered[at] -= 1;
                    stack.untracked -= 1;
                    false
                }
                // In order, or out of order (a guard dropped early).
                Some(at) => {
                    let unwinding = stack.unwinding[at];
                    stack.entries.copy_within(at + 1..len, at);
                    stack.orders.copy_within(at + 1..len, at);
                    stack.reentered.copy_within(at + 1..len, at);
                    stack.unwinding.copy_within(at + 1..len, at);
                    stack.len -= 1;
                    unwinding
                }
                // A span entered past the depth, with no entry.
                None if stack.others > 0 => {
                    stack.others -= 1;
                    stack.untracked -= 1;
                    false
                }
                None => false, // never entered
            }
        })
        .unwrap_or(false)
}

impl Stack {
    /// The innermost span `layer` saw entered that became current (not one entered
    /// again while it already was).
    fn current(&self, layer: usize) -> Option<u64> {
        self.entries[..self.len]
            .iter()
            .rev()
            .find(|&&(key, _, again)| key == layer && !again)
            .map(|&(_, id, _)| id)
    }
}

/// The innermost span `layer` saw entered on this thread.
#[inline]
pub(super) fn current(layer: usize) -> Current {
    ENTERED
        .try_with(|stack| match stack.try_borrow() {
            Ok(stack) if stack.untracked == 0 => Current::Known(stack.current(layer)),
            _ => Current::Unknown,
        })
        .unwrap_or(Current::Unknown)
}

/// Whether any layer saw a span entered on this thread that is still entered (or the
/// stack overflowed): cheap, for callers that ask often and seldom find one.
pub(super) fn any() -> bool {
    ENTERED
        .try_with(|stack| {
            stack
                .try_borrow()
                .map_or(true, |stack| stack.len > 0 || stack.untracked > 0)
        })
        .unwrap_or(false)
}

/// What the stack knows of the current span of one layer, with when it became current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Innermost {
    /// The span current for this layer (`None`: none is), and the latest place in the
    /// thread's order ([`crate::context::next_order`]) where it was entered: a span
    /// entered again inside a picotrace scope is inner to that scope, though it was
    /// current before it.
    Known(Option<(u64, u64)>),
    /// The stack overflowed on this thread: ask the registry. With the latest order
    /// of the enters still entered (0: none known): a picotrace scope older than that
    /// is outside the `tracing` spans, a newer one inside them. (Found by review: only
    /// the tracked enters' orders were looked at, so a scope made between the tracked
    /// enters and an untracked one beat the span entered inside it.)
    Unknown(u64),
}

/// The span current for `layer` on this thread (as [`current`]), with its order.
pub(super) fn innermost(layer: usize) -> Innermost {
    ENTERED
        .try_with(|stack| match stack.try_borrow() {
            Ok(stack) if stack.untracked == 0 => {
                let Some(id) = stack.current(layer) else {
                    return Innermost::Known(None);
                };
                let order = stack.entries[..stack.len]
                    .iter()
                    .zip(&stack.orders)
                    .filter(|(&(key, entered, _), _)| (key, entered) == (layer, id))
                    .map(|(_, &order)| order)
                    .max()
                    .unwrap_or(0);
                Innermost::Known(Some((id, order)))
            }
            Ok(stack) => {
                let tracked = stack.orders[..stack.len].iter().copied().max();
                let untracked = stack.untracked_orders[(stack.untracked - 1) % DEPTH];
                Innermost::Unknown(tracked.unwrap_or(0).max(untracked))
            }
            Err(_) => Innermost::Unknown(0),
        })
        .unwrap_or(Innermost::Unknown(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_enters_and_exits_per_layer_and_gives_up_past_its_depth() {
        std::thread::spawn(|| {
            assert_eq!(current(1), Current::Known(None));
            enter(1, 10);
            enter(2, 20); // another layer's span
            enter(1, 11);
            enter(1, 10); // entered again while it is: not current again (the registry)
            assert_eq!(current(1), Current::Known(Some(11)));
            assert_eq!(current(2), Current::Known(Some(20)));
            exit(1, 10); // the innermost entry of 10 goes
            assert_eq!(current(1), Current::Known(Some(11)));
            exit(1, 11);
            assert_eq!(current(1), Current::Known(Some(10)));
            exit(2, 20);
            exit(1, 99); // never entered: nothing changes
            assert_eq!(current(2), Current::Known(None));
            assert_eq!(current(1), Current::Known(Some(10)));
            exit(1, 10);
            assert_eq!(current(1), Current::Known(None));
            for id in 0..DEPTH as u64 + 1 {
                enter(1, id);
            }
            assert_eq!(current(1), Current::Unknown);
            // Regression: it stayed `Unknown` for the rest of the thread's life. Once
            // the untracked innermost span has exited, it answers again.
            exit(1, DEPTH as u64);
            for id in (0..DEPTH as u64).rev() {
                assert_eq!(current(1), Current::Known(Some(id)));
                exit(1, id);
            }
            assert_eq!(current(1), Current::Known(None));
            enter(1, 7);
            assert_eq!(current(1), Current::Known(Some(7)));
        })
        .join()
        .unwrap();
    }

    /// Past the depth, a span with an entry that exits out of order (a guard dropped
    /// early) loses its entry, and the untracked spans' exits are still theirs: an
    /// exit past the depth was taken as an untracked enter's, and the span's entry
    /// stayed, current for the rest of the thread's life.
    #[test]
    fn an_exit_out_of_order_past_the_depth_removes_its_entry() {
        std::thread::spawn(|| {
            for id in 0..=DEPTH as u64 {
                enter(1, id); // the last one untracked
            }
            exit(1, 10); // out of order
            assert_eq!(current(1), Current::Unknown, "{} is still entered", DEPTH);
            exit(1, DEPTH as u64);
            assert_eq!(current(1), Current::Known(Some(DEPTH as u64 - 1)));
            for id in (0..DEPTH as u64).rev().filter(|&id| id != 10) {
                exit(1, id);
            }
            assert_eq!(current(1), Current::Known(None));
        })
        .join()
        .unwrap();
    }
}
