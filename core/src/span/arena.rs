//! [`SpanArena`]: a fixed number of span slots, sized by the user at the type, shared by
//! every thread (or the main loop and interrupts) that traces.
//!
//! A span claims a slot when it starts and owns it while it runs: its writes go straight
//! into the slot, with no lock. When it ends, the slot joins the *ended* queue; an
//! exporter drains that queue (the tracer's `flush`, the std adapter's export thread, a
//! firmware main loop) and frees the slots. A full arena refuses new spans (the tracer
//! then hands out non-recording spans that still propagate context, and counts them).
//! The ownership protocol is in `crate::sync`.
//!
//! ```
//! use picotrace::{SpanArena, SpanStorage};
//! // 8 spans, each with room for 8 attributes, 4 events, 2 links and 256 bytes of text.
//! let arena: SpanArena<8, 8, 4, 2, 256> = SpanArena::new();
//! assert_eq!(arena.capacity(), 8);
//! ```

use super::record::{Slot, SpanData};
use crate::sync::{Drained, SlotPool};

#[doc(hidden)]
pub use crate::sync::{SlotRef, ThreadHint};

/// Storage the [`crate::Tracer`] keeps spans in. Implemented by [`SpanArena`] (and by
/// references to one, so an arena can live in a `static` or a `Box`); the methods are
/// for the tracer, exporters and monitoring.
pub trait SpanStorage: Sync {
    /// Returns how many spans fit.
    fn capacity(&self) -> usize;
    /// Returns how many spans are running or waiting for export.
    fn in_use(&self) -> usize;
    /// Returns how many ended spans wait for export.
    fn ended_len(&self) -> usize;
    /// Returns how many spans have claimed a slot so far.
    fn claims(&self) -> u64;
    /// How many queues ended spans are spread over (a span's end reports the length
    /// of its own queue only).
    const SHARDS: usize = 1;
    #[doc(hidden)]
    fn claim(&self) -> Option<SlotRef<'_>>;
    /// Which shards the calling thread uses: the tracer's per-thread counters', and
    /// the arena's where its `claim` asks this too (a storage that wraps a
    /// [`SpanArena`] passes it to [`SpanArena::claim_for`]). By default from the
    /// thread's stack address ([`ThreadHint::from_stack`]), as `SpanArena` does.
    #[doc(hidden)]
    #[inline(always)]
    fn thread_hint() -> ThreadHint {
        ThreadHint::from_stack()
    }
    /// A cell of the tracer's per-thread counters (an index below [`THREAD_CELLS`])
    /// that the calling thread alone writes until it gives the index back, or `None`:
    /// the tracer then counts on its shared counters, with an atomic increment. The
    /// tracer numbers and counts the spans it starts without a slot (sampled out), and
    /// counts the roots a sampler keeps, on that cell with a load and a store (feature
    /// `std`, 64-bit targets). An implementation must never give one index to two
    /// threads that live at once, and must hand an index on with a release/acquire pair
    /// (picotrace-std's arena takes them from a process-wide bitmap and gives them back
    /// as the thread exits). By default `None`.
    #[doc(hidden)]
    #[inline(always)]
    fn thread_cell() -> Option<usize> {
        None
    }
    /// As `claim`, taking the last free slots other threads' shards keep too (the
    /// tracer asks once a drain did not free a slot for the calling thread).
    #[doc(hidden)]
    fn claim_any(&self) -> Option<SlotRef<'_>> {
        self.claim()
    }
    /// Takes every ended span and hands them to `f` in batches of at most `batch`,
    /// freeing each batch's slots as soon as `f` returns.
    #[doc(hidden)]
    fn drain(&self, batch: usize, f: &mut dyn FnMut(&dyn BatchSource));
}

/// How many per-thread counter cells a tracer has ([`SpanStorage::thread_cell`]).
#[doc(hidden)]
pub const THREAD_CELLS: usize = 64;

/// Most spans a drain hands to the exporter at once when the tracer's
/// `export_batch_size` is 0 (the OpenTelemetry batch size): their slots are freed
/// before the next batch is exported.
pub const DRAIN_BATCH: usize = 512;

/// Ended spans taken by a drain, readable until it returns.
#[doc(hidden)]
pub trait BatchSource {
    /// How many spans were taken.
    fn len(&self) -> usize;
    /// Returns `true` when none were.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `i`-th span, oldest first.
    fn get(&self, i: usize) -> Option<SpanData<'_>>;
    /// How many spans this batch and the batches after it in the same drain hold: what
    /// the drain frees unread if this batch's reader panics.
    fn left(&self) -> usize {
        self.len()
    }
}

impl<const A: usize, const E: usize, const L: usize, const T: usize, const N: usize> BatchSource
    for Drained<'_, Slot<A, E, L, T>, N>
{
    fn len(&self) -> usize {
        Drained::len(self)
    }
    fn get(&self, i: usize) -> Option<SpanData<'_>> {
        Drained::get(self, i)
    }
    fn left(&self) -> usize {
        Drained::left(self)
    }
}

/// A fixed-capacity arena of `SPANS` spans; see the module docs for the other capacities.
///
/// An arena belongs to one tracer: two tracers lent the same arena would export each
/// other's spans (under their own resource) and count each other's claims.
///
/// `ATTRS` is the attribute capacity of one span, shared by the span, its events and
/// its links. `TEXT` holds the span's strings: name, string values, status message,
/// tracestate; strings that do not fit are cut at a character boundary and counted.
pub struct SpanArena<
    const SPANS: usize,
    const ATTRS: usize = 16,
    const EVENTS: usize = 8,
    const LINKS: usize = 4,
    const TEXT: usize = 512,
> {
    pub(crate) pool: SlotPool<Slot<ATTRS, EVENTS, LINKS, TEXT>, SPANS>,
}

impl<const S: usize, const A: usize, const E: usize, const L: usize, const T: usize>
    core::fmt::Debug for SpanArena<S, A, E, L, T>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SpanArena")
            .field("capacity", &S)
            .field("in_use", &self.pool.in_use())
            .field("ended", &self.pool.ended_len())
            .finish()
    }
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
    /// Attributes one span of this arena holds, its events' and links' included (an
    /// `ATTRS` parameter).
    pub const ATTRIBUTES_PER_SPAN: usize = ATTRS;

    /// Events one span of this arena holds (an `EVENTS` parameter).
    pub const EVENTS_PER_SPAN: usize = EVENTS;

    /// Links one span of this arena holds (a `LINKS` parameter).
    pub const LINKS_PER_SPAN: usize = LINKS;

    /// Bytes of text one span of this arena holds (a `TEXT` parameter).
    pub const TEXT_PER_SPAN: usize = TEXT;

    pub(crate) const CAPACITY_CHECK: () = {
        assert!(SPANS > 0, "an arena needs at least one span");
        assert!(SPANS < u16::MAX as usize, "at most 65534 spans per arena");
    };

    /// Creates an empty arena (`const`: it can be a `static`).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        let () = Self::CAPACITY_CHECK;
        Self {
            pool: SlotPool::new(),
        }
    }

    /// Creates an empty arena in `place` (a server's, on the heap), leaving each span's
    /// storage unwritten until a span first uses it: an arena of 2,048 spans (3.5 MB
    /// with picotrace-std's room per span) takes about 100 KB of memory while its spans
    /// hold few slots at once, where `Box::new(SpanArena::new())` writes, and keeps
    /// resident, all of it. `place` stays borrowed for as long as the arena is used.
    ///
    /// ```
    /// use core::mem::MaybeUninit;
    /// use picotrace::{IdGenerator, ManualClock, NoopExporter, SpanArena, SpanStorage};
    /// use picotrace::{Timestamp, Tracer, TracerConfig};
    ///
    /// // Leaked here for a `&'static` arena, as picotrace-std's provider does; a place
    /// // that outlives the tracer does as well.
    /// let place: &'static mut MaybeUninit<SpanArena<4096>> = Box::leak(Box::new_uninit());
    /// let arena: &'static SpanArena<4096> = SpanArena::new_in(place);
    /// let clock = ManualClock::new(Timestamp::from_unix_nanos(1_700_000_000_000_000_000));
    /// let tracer = Tracer::new(
    ///     TracerConfig::new("checkout"),
    ///     arena,
    ///     &clock,
    ///     IdGenerator::from_seed([1; 32]),
    ///     NoopExporter,
    /// );
    /// let mut span = tracer.start_span("GET /cart");
    /// span.set_attribute("http.request.method", "GET");
    /// assert_eq!((arena.capacity(), arena.in_use()), (4096, 1));
    /// span.end();
    /// ```
    ///
    /// Not on microcontrollers (`target_os = "none"`), where an arena is a `static`
    /// (in `.bss`: no flash, cleared at boot) and a claim does not check for a slot's
    /// first use.
    #[cfg(not(any(loom, target_os = "none")))]
    pub fn new_in(place: &mut core::mem::MaybeUninit<Self>) -> &mut Self {
        crate::sync::init_arena_in(place)
    }

    /// Creates an empty arena (loom builds: not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        let () = Self::CAPACITY_CHECK;
        Self {
            pool: SlotPool::new(),
        }
    }

    /// [`SpanStorage::claim`] for the thread `thread` names: for a storage that wraps
    /// the arena and knows its threads better than their stacks do (picotrace-std).
    #[doc(hidden)]
    #[inline]
    pub fn claim_for(&self, thread: impl FnOnce() -> ThreadHint) -> Option<SlotRef<'_>> {
        self.pool.claim_for(thread)
    }

    /// [`SpanStorage::claim_any`] for the thread `thread` names.
    #[doc(hidden)]
    pub fn claim_any_for(&self, thread: impl FnOnce() -> ThreadHint) -> Option<SlotRef<'_>> {
        self.pool.claim_any_for(thread)
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
        self.pool.in_use()
    }

    fn ended_len(&self) -> usize {
        self.pool.ended_len()
    }

    fn claims(&self) -> u64 {
        self.pool.claims()
    }

    const SHARDS: usize = SlotPool::<Slot<ATTRS, EVENTS, LINKS, TEXT>, SPANS>::SHARD_COUNT;

    #[inline]
    fn claim(&self) -> Option<SlotRef<'_>> {
        self.pool.claim_for(ThreadHint::from_stack)
    }

    fn claim_any(&self) -> Option<SlotRef<'_>> {
        self.pool.claim_any_for(ThreadHint::from_stack)
    }

    fn drain(&self, batch: usize, f: &mut dyn FnMut(&dyn BatchSource)) {
        self.pool.drain(batch, |drained| f(drained));
    }
}

/// Implements [`SpanStorage`] for a reference type by delegating to the referent.
macro_rules! delegate_storage {
    ($($(#[$doc:meta])* $ty:ty;)*) => {$(
        $(#[$doc])*
        impl<S: SpanStorage + ?Sized> SpanStorage for $ty {
            fn capacity(&self) -> usize {
                (**self).capacity()
            }
            fn in_use(&self) -> usize {
                (**self).in_use()
            }
            fn ended_len(&self) -> usize {
                (**self).ended_len()
            }
            fn claims(&self) -> u64 {
                (**self).claims()
            }
            const SHARDS: usize = S::SHARDS;
            #[inline]
            fn claim(&self) -> Option<SlotRef<'_>> {
                (**self).claim()
            }
            #[inline(always)]
            fn thread_hint() -> ThreadHint {
                S::thread_hint()
            }
            #[inline(always)]
            fn thread_cell() -> Option<usize> {
                S::thread_cell()
            }
            fn claim_any(&self) -> Option<SlotRef<'_>> {
                (**self).claim_any()
            }
            fn drain(&self, batch: usize, f: &mut dyn FnMut(&dyn BatchSource)) {
                (**self).drain(batch, f)
            }
        }
    )*};
}

delegate_storage! {
    /// A borrowed arena: the tracer uses an arena that lives elsewhere (a `static`, a
    /// `Box`), so a large arena is never moved through the stack.
    &S;
    /// As `&S`, for code that lends its arena with `&mut`.
    &mut S;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_every_slot_then_refuses_then_reuses_drained() {
        let arena: SpanArena<3, 2, 1, 1, 16> = SpanArena::new();
        let a = arena.claim().unwrap();
        let b = arena.claim().unwrap();
        let c = arena.claim().unwrap();
        assert_eq!([a.index(), b.index(), c.index()], [0, 1, 2]);
        assert!(arena.claim().is_none());
        assert_eq!(b.publish(), 1);
        assert_eq!(a.publish(), 2);
        assert_eq!(arena.in_use(), 3);
        assert_eq!(arena.ended_len(), 2);
        assert!(arena.claim().is_none(), "ended spans wait for export");
        let mut seen = 0;
        arena.drain(DRAIN_BATCH, &mut |batch| seen += batch.len());
        assert_eq!(seen, 2);
        assert_eq!(arena.in_use(), 1);
        let d = arena.claim().unwrap();
        assert!(d.index() == 0 || d.index() == 1);
        c.release();
        d.release();
        assert_eq!(arena.in_use(), 0);
    }
}
