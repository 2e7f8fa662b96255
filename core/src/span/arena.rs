//! [`SpanArena`]: a fixed number of span slots, sized by the user at the type.
//!
//! Slots are claimed when a span starts, queued in end order when it ends, and freed
//! when an exporter has taken them. A full arena refuses new spans (the tracer then
//! hands out non-recording spans that still propagate context, and counts them).
//!
//! ```
//! use picotrace::{SpanArena, SpanStorage};
//! // 8 spans, each with room for 8 attributes, 4 events, 2 links and 256 bytes of text.
//! let arena: SpanArena<8, 8, 4, 2, 256> = SpanArena::new();
//! assert_eq!(arena.capacity(), 8);
//! ```

use heapless::{Deque, Vec};

use super::record::{RecordMut, Slot, SpanData};

/// Storage the [`crate::Tracer`] keeps spans in. Implemented by [`SpanArena`]; the
/// methods are for the tracer and exporters, not for recording.
pub trait SpanStorage {
    /// Returns how many spans fit.
    fn capacity(&self) -> usize;
    /// Returns how many spans are running or waiting for export.
    fn in_use(&self) -> usize;
    /// Returns how many ended spans wait for export.
    fn ended_len(&self) -> usize;
    /// Returns the `i`-th ended span, oldest first.
    fn ended(&self, i: usize) -> Option<SpanData<'_>>;
    /// Frees the `n` oldest ended spans (after an export took them).
    fn release_ended(&mut self, n: usize);
    #[doc(hidden)]
    fn claim(&mut self) -> Option<u16>;
    #[doc(hidden)]
    fn slot(&mut self, slot: u16) -> Option<&mut dyn SlotAccess>;
    #[doc(hidden)]
    fn slot_data(&self, slot: u16) -> Option<SpanData<'_>>;
    #[doc(hidden)]
    fn mark_ended(&mut self, slot: u16);
    #[doc(hidden)]
    fn release(&mut self, slot: u16);
    #[doc(hidden)]
    fn copy_trace_state(&mut self, from: u16, to: u16);
}

/// Gives the tracer a writer for one slot, whatever its capacities.
#[doc(hidden)]
pub trait SlotAccess {
    #[doc(hidden)]
    fn writer(&mut self) -> RecordMut<'_>;
}

impl<const A: usize, const E: usize, const L: usize, const T: usize> SlotAccess
    for Slot<A, E, L, T>
{
    #[inline]
    fn writer(&mut self) -> RecordMut<'_> {
        Slot::writer(self)
    }
}

/// A fixed-capacity arena of `SPANS` spans; see the module docs for the other capacities.
///
/// `ATTRS` is the attribute capacity of one span, shared by the span, its events and
/// its links. `TEXT` holds the span's strings: name, string values, status message,
/// tracestate; strings that do not fit are cut at a character boundary and counted.
#[derive(Debug)]
pub struct SpanArena<
    const SPANS: usize,
    const ATTRS: usize = 16,
    const EVENTS: usize = 8,
    const LINKS: usize = 4,
    const TEXT: usize = 512,
> {
    slots: [Slot<ATTRS, EVENTS, LINKS, TEXT>; SPANS],
    /// Never-used slots are `fresh..SPANS`; used-then-freed ones are on `free`.
    fresh: usize,
    free: Vec<u16, SPANS>,
    ended: Deque<u16, SPANS>,
    /// Running spans, so that `claim` knows which slots are busy.
    active: usize,
}

/// A server-sized default: 512 spans of up to 16 attributes, 8 events, 4 links and 512
/// bytes of text each (about 800 KiB on a 64-bit target).
pub type DefaultArena = SpanArena<512>;

impl<
        const SPANS: usize,
        const ATTRS: usize,
        const EVENTS: usize,
        const LINKS: usize,
        const TEXT: usize,
    > SpanArena<SPANS, ATTRS, EVENTS, LINKS, TEXT>
{
    const CAPACITY_CHECK: () = {
        assert!(SPANS > 0, "an arena needs at least one span");
        assert!(SPANS <= u16::MAX as usize, "at most 65535 spans per arena");
    };

    /// Creates an empty arena.
    pub const fn new() -> Self {
        let () = Self::CAPACITY_CHECK;
        Self {
            slots: [const { Slot::new() }; SPANS],
            fresh: 0,
            free: Vec::new(),
            ended: Deque::new(),
            active: 0,
        }
    }
}

impl<
        const SPANS: usize,
        const ATTRS: usize,
        const EVENTS: usize,
        const LINKS: usize,
        const TEXT: usize,
    > Default for SpanArena<SPANS, ATTRS, EVENTS, LINKS, TEXT>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<
        const SPANS: usize,
        const ATTRS: usize,
        const EVENTS: usize,
        const LINKS: usize,
        const TEXT: usize,
    > SpanStorage for SpanArena<SPANS, ATTRS, EVENTS, LINKS, TEXT>
{
    fn capacity(&self) -> usize {
        SPANS
    }

    fn in_use(&self) -> usize {
        self.active + self.ended.len()
    }

    fn ended_len(&self) -> usize {
        self.ended.len()
    }

    fn ended(&self, i: usize) -> Option<SpanData<'_>> {
        let slot = *self.ended.get(i)?;
        self.slot_data(slot)
    }

    fn release_ended(&mut self, n: usize) {
        for _ in 0..n {
            match self.ended.pop_front() {
                // `free` has room for every slot, so this cannot fail.
                Some(slot) => {
                    let _ = self.free.push(slot);
                }
                None => break,
            }
        }
    }

    #[inline]
    fn claim(&mut self) -> Option<u16> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None if self.fresh < SPANS => {
                self.fresh += 1;
                (self.fresh - 1) as u16
            }
            None => return None,
        };
        self.active += 1;
        Some(slot)
    }

    #[inline]
    fn slot(&mut self, slot: u16) -> Option<&mut dyn SlotAccess> {
        self.slots
            .get_mut(usize::from(slot))
            .map(|s| s as &mut dyn SlotAccess)
    }

    #[inline]
    fn slot_data(&self, slot: u16) -> Option<SpanData<'_>> {
        self.slots.get(usize::from(slot)).map(Slot::data)
    }

    #[inline]
    fn mark_ended(&mut self, slot: u16) {
        self.active = self.active.saturating_sub(1);
        // `ended` has room for every slot, so this cannot fail.
        let _ = self.ended.push_back(slot);
    }

    fn copy_trace_state(&mut self, from: u16, to: u16) {
        let (from, to) = (usize::from(from), usize::from(to));
        if from == to || from >= SPANS || to >= SPANS {
            return;
        }
        let (source, target) = if from < to {
            let (low, high) = self.slots.split_at_mut(to);
            (&low[from], &mut high[0])
        } else {
            let (low, high) = self.slots.split_at_mut(from);
            (&high[0], &mut low[to])
        };
        target.writer().set_trace_state(source.data().trace_state());
    }

    #[inline]
    fn release(&mut self, slot: u16) {
        self.active = self.active.saturating_sub(1);
        // `free` has room for every slot, so this cannot fail.
        let _ = self.free.push(slot);
    }
}

/// A borrowed arena: lets a tracer use an arena that lives elsewhere (a `static`, a
/// `Box`), so a large arena is never moved through the stack.
impl<S: SpanStorage + ?Sized> SpanStorage for &mut S {
    fn capacity(&self) -> usize {
        (**self).capacity()
    }
    fn in_use(&self) -> usize {
        (**self).in_use()
    }
    fn ended_len(&self) -> usize {
        (**self).ended_len()
    }
    fn ended(&self, i: usize) -> Option<SpanData<'_>> {
        (**self).ended(i)
    }
    fn release_ended(&mut self, n: usize) {
        (**self).release_ended(n)
    }
    #[inline]
    fn claim(&mut self) -> Option<u16> {
        (**self).claim()
    }
    #[inline]
    fn slot(&mut self, slot: u16) -> Option<&mut dyn SlotAccess> {
        (**self).slot(slot)
    }
    #[inline]
    fn slot_data(&self, slot: u16) -> Option<SpanData<'_>> {
        (**self).slot_data(slot)
    }
    #[inline]
    fn mark_ended(&mut self, slot: u16) {
        (**self).mark_ended(slot)
    }
    #[inline]
    fn release(&mut self, slot: u16) {
        (**self).release(slot)
    }
    fn copy_trace_state(&mut self, from: u16, to: u16) {
        (**self).copy_trace_state(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_every_slot_then_refuses_then_reuses_released() {
        let mut arena: SpanArena<3, 2, 1, 1, 16> = SpanArena::new();
        let a = arena.claim().unwrap();
        let b = arena.claim().unwrap();
        let c = arena.claim().unwrap();
        assert_eq!([a, b, c], [0, 1, 2]);
        assert_eq!(arena.claim(), None);
        arena.mark_ended(b);
        arena.mark_ended(a);
        assert_eq!(arena.in_use(), 3);
        assert_eq!(arena.ended_len(), 2);
        assert_eq!(arena.claim(), None, "ended spans wait for export");
        arena.release_ended(1);
        assert_eq!(arena.claim(), Some(b), "oldest ended is released first");
        assert_eq!(arena.claim(), None);
    }
}
