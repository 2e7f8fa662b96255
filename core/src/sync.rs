//! Who may touch a span slot, across threads and interrupts: the crate's only `unsafe`.
//!
//! A span arena is `N` cells and two lock-free lists of cell indices, `free` and
//! `ended`, each threaded through a `next` array of its own ([`IndexLists`], safe code).
//! Starting a span pops an index off `free` (one compare-and-swap); ending it pushes the
//! index on `ended` (one compare-and-swap); the exporter takes the whole `ended` list at
//! once and, when it has encoded the spans, pushes them back on `free` as one chain.
//!
//! # Invariants (what makes the `unsafe` below sound)
//! 1. Every index is in exactly one place: the `free` list, the `ended` list, one
//!    [`SlotRef`] (a running span), or one [`Drained`] batch (an export in progress).
//!    Only a successful pop or take moves an index out of a list, and it moves it to
//!    exactly one owner; only that owner pushes it back.
//! 2. Cell `i` is dereferenced only by the owner of index `i`: mutably by its
//!    `SlotRef` (which is unique: not `Clone`, and handed out only by [`SlotPool::claim_for`]
//!    and [`SlotPool::claim_any_for`]),
//!    read-only by its `Drained` batch. `&SlotRef` gives read access only.
//! 3. Ownership moves through a Release compare-and-swap (push) that a later Acquire
//!    load (pop, take) reads, so everything the previous owner wrote to the cell happens
//!    before the next owner's first access.
//! 4. ABA: a list head packs its first index, its length and a 32-bit tag that every
//!    pop or take bumps; a pop whose head changed in between (even back to the same
//!    index) fails its compare-and-swap and retries. (A pop would have to be preempted
//!    between its load and its CAS for 2^32 pops of the same list to be fooled.)
//! 5. `next[i]` is written only by the owner of `i` (before pushing it) and read by pops
//!    that may lose the race; it is atomic so a stale read is harmless.
//! 6. Cell `i` holds a whole, valid record from its first claim on: a claim whose count
//!    of claims of the slot comes to 1 (the first claim; again the second after the
//!    count wraps at 2^48, harmlessly) writes a new record into the cell before it makes the slot's
//!    [`SlotRef`]; everything else reaches a cell only through a `SlotRef` or a drain,
//!    that is after a claim. So a pool whose cells were never written
//!    ([`SlotPool::init_in`]) is read only where written, and its unused cells take no
//!    memory (pages never touched). On microcontrollers (`target_os = "none"`) there is
//!    no `init_in` and no such write: every pool is built by `new`, which writes every
//!    cell.
//!
//! `loom` checks [`IndexLists`] (the ownership protocol: claim, write, end, drain,
//! release, on a model of the cells, and the ABA case), the real [`SlotPool`] (spans
//! claimed, written through [`SlotRef::record`] and published while a drain reads them
//! through [`Drained::get`]; a refill from another shard racing a claim there), and
//! [`TryLock`]: `RUSTFLAGS="--cfg loom" cargo test -p picotrace --release --lib
//! sync::loom` (`ci/run.sh loom`). loom sees each access to a cell as the pool hands
//! out its pointer (when a `SlotRef` or a drain takes the slot). The stress tests in
//! `std-adapter/tests/concurrency.rs` race real spans on 8 threads.
#![allow(unsafe_code)]

use core::mem::MaybeUninit;
use core::ptr::NonNull;

use heapless::VecView;

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU8, Ordering};
#[cfg(not(loom))]
use portable_atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU8, Ordering};

#[cfg(loom)]
use loom::cell::UnsafeCell;
#[cfg(not(loom))]
use shim::UnsafeCell;

use crate::span::record::{
    EndTime, Header, RecordMut, Slot, SpanData, StoredAttr, StoredEvent, StoredLink,
};

/// A 64-bit atomic for the list heads (and the tracer's last export time): native where
/// the CPU has 64-bit atomics. Where it has not and the platform gives a critical
/// section (feature `critical-section`), a `u64` read and swapped inside one:
/// portable-atomic's own fallback there is a table of locks (2.1 KB of RAM and 2.1 KB of
/// flash on a Cortex-M3, when the heads moved off it) that an interrupt could spin on while the code it interrupted
/// holds the lock.
///
/// Unit tests with the feature use the critical section on every target, so the host
/// runs the tracer's tests through it (`cargo test -p picotrace --features
/// critical-section --lib`).
#[cfg(loom)]
pub(crate) type Atomic64 = loom::sync::atomic::AtomicU64;

#[cfg(not(any(
    loom,
    all(feature = "critical-section", any(not(target_has_atomic = "64"), test))
)))]
pub(crate) type Atomic64 = portable_atomic::AtomicU64;

#[cfg(all(
    not(loom),
    feature = "critical-section",
    any(not(target_has_atomic = "64"), test)
))]
pub(crate) use critical_section_u64::Atomic64;

#[cfg(all(
    not(loom),
    feature = "critical-section",
    any(not(target_has_atomic = "64"), test)
))]
mod critical_section_u64 {
    use core::cell::Cell;

    use critical_section::Mutex;
    use portable_atomic::Ordering;

    /// The subset of `AtomicU64` the list heads use, each operation in a critical
    /// section. `critical-section` promises Acquire on entry and Release on exit; what
    /// the SeqCst pairs of this module need beyond that (a span's end against a
    /// shutdown: each stores, then loads the other's value) holds because both sides
    /// take the same global critical section, which orders them one way or the other.
    /// An operation outside it would not be ordered so.
    #[derive(Debug)]
    pub(crate) struct Atomic64(Mutex<Cell<u64>>);

    impl Atomic64 {
        pub(crate) const fn new(value: u64) -> Self {
            Self(Mutex::new(Cell::new(value)))
        }

        pub(crate) fn load(&self, _: Ordering) -> u64 {
            critical_section::with(|cs| self.0.borrow(cs).get())
        }

        pub(crate) fn store(&self, value: u64, _: Ordering) {
            critical_section::with(|cs| self.0.borrow(cs).set(value))
        }

        pub(crate) fn compare_exchange_weak(
            &self,
            current: u64,
            new: u64,
            _: Ordering,
            _: Ordering,
        ) -> Result<u64, u64> {
            critical_section::with(|cs| {
                let cell = self.0.borrow(cs);
                let seen = cell.get();
                if seen == current {
                    cell.set(new);
                    Ok(seen)
                } else {
                    Err(seen)
                }
            })
        }
    }
}

/// The subset of `loom::cell::UnsafeCell`'s API used here, over `core`'s.
#[cfg(not(loom))]
mod shim {
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(core::cell::UnsafeCell::new(value))
        }
        #[cfg_attr(not(target_os = "none"), inline(always))]
        #[cfg_attr(target_os = "none", inline)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }
        #[cfg_attr(not(target_os = "none"), inline(always))]
        #[cfg_attr(target_os = "none", inline)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// A list head: `index | len << 16 | tag << 32` (as [`List`] decodes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Head(u64);

impl Head {
    const fn new(index: u16, len: u16, tag: u32) -> Self {
        Head(index as u64 | (len as u64) << 16 | (tag as u64) << 32)
    }
    const fn index(self) -> u16 {
        self.0 as u16
    }
    const fn len(self) -> u16 {
        (self.0 >> 16) as u16
    }
    const fn tag(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// One Treiber stack of indices: its head and the links between them (`ENDED`: the
/// list of ended slots; else the free list).
///
/// Stored, on microcontrollers ([`ZERO_INIT`]), so that a new pool of one shard is all
/// zero bytes: a `static` arena then lands in `.bss`, not in the flash image beside the
/// code (found by review: an
/// embassy demo's 8-span arena took 5.3 KB of flash for 40 bytes that were not zero).
/// The end of a list is [`List::NIL`], `N`, an index no slot has; a link is stored
/// XORed with the index after its own (`i + 1`), so the free list of a new pool,
/// `0 -> 1 -> ... -> N - 1 -> NIL`, is all zeros; a head is stored XORed with
/// [`List::HEAD_MASK`], which makes a full free list (index 0, length `N`) and an empty
/// ended list (index `NIL`, length 0) zeros too. Links of indices not on the list are
/// never read.
#[derive(Debug)]
struct List<const N: usize, const ENDED: bool> {
    head: Atomic64,
    next: [AtomicU16; N],
}

/// Whether lists are stored so that a new pool is zero bytes (see [`List`]): on
/// microcontrollers, where a `static` arena's image would take flash (zero bytes with
/// one shard: 32-bit targets, or arenas under 128 slots; on a 64-bit one with more,
/// the shards left empty are not); elsewhere (a
/// server's arena is on the heap) the encoding's operations, 17 instructions of a W1
/// span, are left out, except in this crate's own tests and the `loom` model, which
/// check the encoding.
const ZERO_INIT: bool = cfg!(any(target_os = "none", test, loom));

impl<const N: usize, const ENDED: bool> List<N, ENDED> {
    /// "No index": the end of a list.
    const NIL: u16 = N as u16;
    /// What a head is stored XORed with.
    const HEAD_MASK: u64 = match (ZERO_INIT, ENDED) {
        (false, _) => 0,
        (true, true) => N as u64,
        (true, false) => (N as u64) << 16,
    };

    /// What the link of index `i` is stored XORed with.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    const fn link_mask(i: u16) -> u16 {
        if ZERO_INIT {
            i.wrapping_add(1)
        } else {
            0
        }
    }
    /// An empty list's head.
    const EMPTY: Head = Head::new(Self::NIL, 0, 0);

    /// The stored head of the list of `start..end` (empty when `start == end`).
    const fn stored_head_of_range(start: usize, end: usize) -> u64 {
        let head = if start < end {
            Head::new(start as u16, (end - start) as u16, 0)
        } else {
            Self::EMPTY
        };
        head.0 ^ Self::HEAD_MASK
    }

    /// The stored link of index `i` in the list of `start..end`, in increasing order:
    /// `i -> i + 1`, the last to `NIL`; 0 for an index not on it (never read). With
    /// [`ZERO_INIT`], `i -> i + 1` is stored as 0, and so is the last link when `end == N`.
    const fn stored_link_in_range(i: usize, start: usize, end: usize) -> u16 {
        if i < start || i >= end {
            return 0;
        }
        let link = if i + 1 < end {
            (i + 1) as u16
        } else {
            Self::NIL
        };
        link ^ Self::link_mask(i as u16)
    }

    /// The list of `start..end` (empty when `start == end`), in increasing order.
    #[cfg(not(loom))]
    const fn of_range(start: usize, end: usize) -> Self {
        let mut next = [const { AtomicU16::new(0) }; N];
        let mut i = start;
        while i < end {
            next[i] = AtomicU16::new(Self::stored_link_in_range(i, start, end));
            i += 1;
        }
        Self {
            head: Atomic64::new(Self::stored_head_of_range(start, end)),
            next,
        }
    }

    /// Writes the list of `start..end` into `*p`, a link at a time (see
    /// [`write_each`]): what `of_range` gives.
    ///
    /// # Safety
    /// `p` is valid for writes and aligned.
    #[cfg(not(any(loom, target_os = "none")))]
    unsafe fn init_range_in(p: *mut Self, start: usize, end: usize) {
        // SAFETY: fields of `*p`, which the caller's pointer is valid for.
        unsafe {
            let head = Atomic64::new(Self::stored_head_of_range(start, end));
            core::ptr::addr_of_mut!((*p).head).write(head);
            write_each(core::ptr::addr_of_mut!((*p).next), |i| {
                AtomicU16::new(Self::stored_link_in_range(i, start, end))
            });
        }
    }

    /// The list of `start..end` (loom's atomics are not `const`).
    #[cfg(loom)]
    fn of_range(start: usize, end: usize) -> Self {
        Self {
            head: Atomic64::new(Self::stored_head_of_range(start, end)),
            next: core::array::from_fn(|i| {
                AtomicU16::new(Self::stored_link_in_range(i, start, end))
            }),
        }
    }

    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    fn load_head(&self, order: Ordering) -> Head {
        Head(self.head.load(order) ^ Self::HEAD_MASK)
    }

    /// Compare-and-swap of the head, weak; `Err` gives the head seen.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    fn swap_head(
        &self,
        current: Head,
        new: Head,
        success: Ordering,
        failure: Ordering,
    ) -> Result<(), Head> {
        self.head
            .compare_exchange_weak(
                current.0 ^ Self::HEAD_MASK,
                new.0 ^ Self::HEAD_MASK,
                success,
                failure,
            )
            .map(drop)
            .map_err(|seen| Head(seen ^ Self::HEAD_MASK))
    }

    /// The index after `i` on the list.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    fn link(&self, i: u16) -> u16 {
        self.next[usize::from(i)].load(Ordering::Relaxed) ^ Self::link_mask(i)
    }

    /// Makes `next` the index after `i`.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    fn set_link(&self, i: u16, next: u16) {
        self.next[usize::from(i)].store(next ^ Self::link_mask(i), Ordering::Relaxed);
    }

    // Out of line on microcontrollers with compare-and-swap (thumbv7m/v7em), where,
    // inlined at each claim, it cost 290 bytes of flash more (measured: on thumbv6m and
    // riscv32imc, whose atomics go through a critical section, out of line cost 950).
    #[cfg_attr(all(target_os = "none", target_has_atomic = "32"), inline(never))]
    fn pop(&self) -> Option<u16> {
        let mut head = self.load_head(Ordering::Acquire);
        loop {
            if head.index() == Self::NIL {
                return None;
            }
            let next = self.link(head.index());
            let new = Head::new(next, head.len().wrapping_sub(1), head.tag().wrapping_add(1));
            match self.swap_head(head, new, Ordering::Acquire, Ordering::Acquire) {
                Ok(()) => return Some(head.index()),
                Err(seen) => head = seen,
            }
        }
    }

    /// Pushes the chain `first ..= last` of `len` indices (linked through `next`, owned
    /// by the caller); returns the list's new length.
    fn push_chain(&self, first: u16, last: u16, len: u16) -> u16 {
        let mut head = self.load_head(Ordering::Relaxed);
        loop {
            self.set_link(last, head.index());
            let new = Head::new(first, head.len().wrapping_add(len), head.tag());
            // SeqCst (not just Release): with the tracer's shutdown flag, a span's end
            // (publish, then read the flag) and a shutdown (set the flag, then take the
            // queue) must not both miss each other. Same instruction as Release on x86.
            match self.swap_head(head, new, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(()) => return new.len(),
                Err(seen) => head = seen,
            }
        }
    }

    fn len(&self) -> usize {
        usize::from(self.load_head(Ordering::Relaxed).len())
    }
}

/// The `ended` list, on cache lines of its own (128 bytes: adjacent-line prefetch):
/// a span ended on another thread writes it while the claiming thread pops `free`.
#[cfg_attr(target_pointer_width = "64", repr(align(128)))]
#[derive(Debug)]
struct EndedList<const N: usize>(List<N, true>);

/// Two Treiber stacks of indices, `free` and `ended`, each with its own links: the
/// ownership protocol of the module docs, without the cells. All safe code.
#[derive(Debug)]
pub(crate) struct IndexLists<const N: usize> {
    free: List<N, false>,
    ended: EndedList<N>,
}

impl<const N: usize> IndexLists<N> {
    const CAPACITY_CHECK: () = assert!(N > 0 && N < u16::MAX as usize, "1 to 65534 slots");

    /// All indices on `free`, in order 0, 1, 2, ...
    #[cfg(all(test, not(loom)))]
    pub(crate) const fn new() -> Self {
        Self::new_range(0, N)
    }

    /// The indices `start..end` on `free`, in increasing order.
    #[cfg(not(loom))]
    pub(crate) const fn new_range(start: usize, end: usize) -> Self {
        let () = Self::CAPACITY_CHECK;
        Self {
            free: List::of_range(start, end),
            ended: EndedList(List::of_range(0, 0)),
        }
    }

    /// No index on either list (loom's atomics are not `const`).
    #[cfg(loom)]
    pub(crate) fn empty() -> Self {
        Self {
            free: List::of_range(0, 0),
            ended: EndedList(List::of_range(0, 0)),
        }
    }

    /// (loom's atomics are not `const`.)
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        let () = Self::CAPACITY_CHECK;
        Self {
            free: List::of_range(0, N),
            ended: EndedList(List::of_range(0, 0)),
        }
    }

    /// Takes up to `K` free indices in one compare-and-swap, into `out` (cleared first);
    /// the caller owns them. The walk along `next` may read a list that is changing;
    /// then the head has changed too (every pop bumps its tag, every push changes its
    /// index), the compare-and-swap fails and the walk starts again.
    pub(crate) fn take_free<const K: usize>(&self, out: &mut heapless::Vec<u16, K>) {
        let free = &self.free;
        let mut head = free.load_head(Ordering::Acquire);
        loop {
            out.clear();
            let mut i = head.index();
            while i != List::<N, false>::NIL && !out.is_full() {
                // Never fails: the loop stops when `out` is full.
                let _ = out.push(i);
                i = free.link(i);
            }
            if out.is_empty() {
                return;
            }
            let taken = out.len() as u16;
            let new = Head::new(
                i,
                head.len().wrapping_sub(taken),
                head.tag().wrapping_add(1),
            );
            match free.swap_head(head, new, Ordering::Acquire, Ordering::Acquire) {
                Ok(()) => return,
                Err(seen) => head = seen,
            }
        }
    }

    /// Takes a free index: the caller owns it until it pushes it back.
    #[inline]
    pub(crate) fn claim(&self) -> Option<u16> {
        self.free.pop()
    }

    /// Gives an owned index back to `free`.
    #[inline]
    pub(crate) fn release(&self, index: u16) {
        self.free.push_chain(index, index, 1);
    }

    /// Queues an owned index on `ended`; returns how many are queued now.
    #[inline]
    pub(crate) fn publish(&self, index: u16) -> usize {
        usize::from(self.ended.0.push_chain(index, index, 1))
    }

    /// Takes every ended index, newest first, appending them to `out` (room for `N` in
    /// all); the caller owns them until [`IndexLists::release_all`].
    pub(crate) fn take_ended(&self, out: &mut heapless::Vec<u16, N>) {
        // SeqCst: see `push_chain`.
        let ended = &self.ended.0;
        let nil = List::<N, true>::NIL;
        let mut head = ended.load_head(Ordering::SeqCst);
        while head.index() != nil {
            let new = Head::new(nil, 0, head.tag().wrapping_add(1));
            match ended.swap_head(head, new, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(()) => break,
                Err(seen) => head = seen,
            }
        }
        let mut i = head.index();
        while i != nil && !out.is_full() {
            // Never fails: at most N indices exist.
            let _ = out.push(i);
            i = ended.link(i);
        }
    }

    /// Gives owned indices back to `free` in one compare-and-swap.
    pub(crate) fn release_all(&self, indices: &[u16]) {
        let (Some(&first), Some(&last)) = (indices.first(), indices.last()) else {
            return;
        };
        for pair in indices.windows(2) {
            self.free.set_link(pair[0], pair[1]);
        }
        self.free.push_chain(first, last, indices.len() as u16);
    }

    /// Indices on `free` now (exact when no other thread is starting or draining).
    pub(crate) fn free_len(&self) -> usize {
        self.free.len()
    }

    /// Indices on `ended` now.
    pub(crate) fn ended_len(&self) -> usize {
        self.ended.0.len()
    }
}

/// Where a slot's parts are, and their capacities: the same for every slot of a pool,
/// so a [`SlotRef`] carries one pointer to its slot and one to this, not five pointers.
/// A constant of the slot type ([`SlotPool::LAYOUT`]), alone on its cache lines: every
/// attribute write reads it.
#[cfg_attr(target_pointer_width = "64", repr(align(128)))]
#[derive(Clone, Copy, Debug)]
struct SlotLayout {
    header: usize,
    end: usize,
    attrs: Part<StoredAttr>,
    events: Part<StoredEvent>,
    links: Part<StoredLink>,
    text: Part<u8>,
}

impl SlotLayout {
    const fn of<const A: usize, const E: usize, const L: usize, const T: usize>() -> Self {
        type S<const A: usize, const E: usize, const L: usize, const T: usize> = Slot<A, E, L, T>;
        let slot = core::mem::MaybeUninit::<S<A, E, L, T>>::uninit();
        let at = slot.as_ptr();
        // SAFETY (all four): only the addresses of the fields of a `MaybeUninit` slot
        // are taken (no reference is made, nothing is read). Each part's offset,
        // element type and capacity come from its field, named once (found by review:
        // given by hand, a part paired with another field's type compiled, and made a
        // view out of its bounds).
        unsafe {
            Self {
                header: core::mem::offset_of!(S<A, E, L, T>, header),
                end: core::mem::offset_of!(S<A, E, L, T>, end),
                attrs: Part::of(at, core::ptr::addr_of!((*at).attrs)),
                events: Part::of(at, core::ptr::addr_of!((*at).events)),
                links: Part::of(at, core::ptr::addr_of!((*at).links)),
                text: Part::of(at, core::ptr::addr_of!((*at).text)),
            }
        }
    }
}

/// Where one `heapless::Vec<X, N>` field of a slot is: its offset, and `N`. Typed by
/// `X`, so that a view of it is made with its own element type (see [`RawRecord::view`]).
struct Part<X> {
    offset: usize,
    capacity: usize,
    element: core::marker::PhantomData<fn() -> X>,
}

impl<X> Part<X> {
    /// The part at `field`, a field of the slot at `slot`: its offset is the distance
    /// between them, its element type and capacity are `field`'s.
    ///
    /// # Safety
    /// `field` must be the address of a field of the value `slot` points to.
    const unsafe fn of<Slot, const N: usize>(
        slot: *const Slot,
        field: *const heapless::Vec<X, N>,
    ) -> Self {
        // SAFETY: both addresses are in one value (caller), the field's after its start.
        let offset = unsafe { field.cast::<u8>().offset_from(slot.cast::<u8>()) };
        Self {
            offset: offset as usize,
            capacity: N,
            element: core::marker::PhantomData,
        }
    }
}

impl<X> Clone for Part<X> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<X> Copy for Part<X> {}

impl<X> core::fmt::Debug for Part<X> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Part")
            .field("offset", &self.offset)
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// One slot, capacity erased: what a [`SlotRef`] writes through.
#[derive(Clone, Copy, Debug)]
struct RawRecord<'a> {
    /// The whole `Slot<A, E, L, T>` (provenance over all of it).
    slot: NonNull<u8>,
    layout: &'a SlotLayout,
}

impl RawRecord<'_> {
    /// A part of the slot as the capacity-erased `VecView` of its `heapless::Vec`.
    ///
    /// # Safety
    /// `part` must be an entry of the layout of the slot `self.slot` points to (its
    /// type makes it a `heapless::Vec<X, capacity>` field there). The fat pointer built
    /// here is the one the unsizing coercion `&mut Vec<X, N>` to `&mut VecView<X>`
    /// makes: same address, and the slice metadata of `VecView`'s tail is the capacity.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    unsafe fn view<X>(self, part: Part<X>) -> NonNull<VecView<X>> {
        let (offset, capacity) = (part.offset, part.capacity);
        // SAFETY: `offset` is inside the slot (caller), so the pointer stays in bounds.
        let at = unsafe { self.slot.as_ptr().add(offset) };
        let raw = core::ptr::slice_from_raw_parts_mut(at, capacity) as *mut VecView<X>;
        // SAFETY: derived from a non-null pointer by an in-bounds offset.
        unsafe { NonNull::new_unchecked(raw) }
    }

    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    fn header(self) -> NonNull<Header> {
        // SAFETY: the header offset of this slot's layout is in bounds.
        unsafe { NonNull::new_unchecked(self.slot.as_ptr().add(self.layout.header).cast()) }
    }

    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    fn end(self) -> NonNull<EndTime> {
        // SAFETY: the end offset of this slot's layout is in bounds.
        unsafe { NonNull::new_unchecked(self.slot.as_ptr().add(self.layout.end).cast()) }
    }
}

/// Lets a [`SlotRef`] hand the index back without knowing `N`.
pub(crate) trait Publish: Sync {
    fn publish(&self, index: u16) -> usize;
    fn release(&self, index: u16);
}

impl<const N: usize> Publish for IndexLists<N> {
    #[inline]
    fn publish(&self, index: u16) -> usize {
        IndexLists::publish(self, index)
    }
    #[inline]
    fn release(&self, index: u16) {
        IndexLists::release(self, index);
    }
}

/// The unique, sendable owner of one claimed slot (see invariant 2): a running span's
/// record. Dropped without being published (a panic between claim and end), it frees
/// the slot. One never dropped (`mem::forget` of its span, a leaked span) keeps its
/// slot for good: the arena is one slot smaller, and `in_use` counts it.
pub struct SlotRef<'a> {
    raw: RawRecord<'a>,
    /// The slot's index (low 16 bits) and the top 16 bits of its 48-bit generation.
    index_and_generation_high: u32,
    /// The generation's low 32 bits. In two parts: as one `u64`, its alignment padded
    /// the handle (and each `Span`) by 8 bytes on 32-bit targets, stack a firmware
    /// caller pays for every live span.
    generation_low: u32,
    lists: &'a dyn Publish,
}

// SAFETY: a `SlotRef` is the only way to reach its cell (invariant 2), like a `&mut`
// to plain data (`Header` and the stored items are `Send + Sync` value types).
unsafe impl Send for SlotRef<'_> {}
// SAFETY: through `&SlotRef` the cell is only read.
unsafe impl Sync for SlotRef<'_> {}

impl core::fmt::Debug for SlotRef<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlotRef")
            .field("index", &self.index())
            .finish()
    }
}

impl SlotRef<'_> {
    /// Returns the slot's index.
    #[inline]
    pub(crate) fn index(&self) -> u16 {
        self.index_and_generation_high as u16
    }

    /// Returns how many times this slot has been claimed, this claim included (48
    /// bits): with the index, a number no other span of this pool has had (until
    /// [`crate::random::IdKeys::slot_number`] wraps after 2^47 claims of this slot).
    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        u64::from(self.index_and_generation_high >> 16) << 32 | u64::from(self.generation_low)
    }

    /// Writes the record.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub(crate) fn record(&mut self) -> RecordMut<'_> {
        let r = self.raw;
        // SAFETY: we own the cell (invariant 2) and `&mut self` makes this the only
        // access through it for the returned lifetime; the layout is the slot's own (the
        // pool made both) and the parts do not overlap; the cell does not move (the pool
        // is borrowed).
        unsafe {
            RecordMut {
                header: &mut *r.header().as_ptr(),
                end: &mut *r.end().as_ptr(),
                attrs: &mut *r.view(r.layout.attrs).as_ptr(),
                events: &mut *r.view(r.layout.events).as_ptr(),
                links: &mut *r.view(r.layout.links).as_ptr(),
                text: &mut *r.view(r.layout.text).as_ptr(),
            }
        }
    }

    /// The parts a new span attribute is written to (see
    /// [`crate::span::record::try_set_new_static_attribute`]): fewer than [`SlotRef::record`]
    /// builds, so the hot path computes only these.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub(crate) fn attribute_parts(
        &mut self,
    ) -> (&mut Header, &mut VecView<StoredAttr>, &mut VecView<u8>) {
        let r = self.raw;
        // SAFETY: as in `record`.
        unsafe {
            (
                &mut *r.header().as_ptr(),
                &mut *r.view(r.layout.attrs).as_ptr(),
                &mut *r.view(r.layout.text).as_ptr(),
            )
        }
    }

    /// Reads the record.
    #[inline]
    pub(crate) fn data(&self) -> SpanData<'_> {
        let r = self.raw;
        // SAFETY: as in `record`; `&self` only allows reads, so shared references are
        // fine for the returned lifetime. The parts are `Slot`'s `heapless::Vec`s, read
        // as their slices.
        unsafe {
            SpanData::from_parts(
                &*r.header().as_ptr(),
                // Running: the slot's end time is from its previous span.
                crate::Timestamp::ZERO,
                &*r.view(r.layout.attrs).as_ptr(),
                &*r.view(r.layout.events).as_ptr(),
                &*r.view(r.layout.links).as_ptr(),
                &*r.view(r.layout.text).as_ptr(),
            )
        }
    }

    /// Reads the record's tracestate (what a child needs of its parent), without
    /// building the whole [`SpanData`].
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub(crate) fn trace_state(&self) -> &str {
        let r = self.raw;
        // SAFETY: as in `record`; `&self` only allows reads, so shared references are
        // fine for the returned lifetime.
        unsafe {
            crate::span::record::trace_state_of(
                &*r.header().as_ptr(),
                &*r.view(r.layout.text).as_ptr(),
            )
        }
    }

    /// Queues the slot for export; returns how many ended spans are queued now.
    #[inline]
    pub(crate) fn publish(self) -> usize {
        // Nothing of `self.raw` is used after this point: the exporter may read the cell
        // as soon as the push is visible.
        let this = core::mem::ManuallyDrop::new(self);
        this.lists.publish(this.index())
    }

    /// Frees the slot without exporting it.
    #[inline]
    pub(crate) fn release(self) {
        drop(self);
    }
}

impl Drop for SlotRef<'_> {
    #[inline]
    fn drop(&mut self) {
        self.lists.release(self.index());
    }
}

/// How many free/ended list pairs a pool spreads its slots over at most. On 64-bit
/// targets (servers) threads start and end spans on different lists, so they do not
/// contend for one cache line. Microcontrollers keep one pair (no RAM for padding, one
/// core anyway).
#[cfg(target_pointer_width = "64")]
pub(crate) const SHARDS: usize = 8;
#[cfg(not(target_pointer_width = "64"))]
pub(crate) const SHARDS: usize = 1;

/// One shard's lists, alone on its cache lines (128 bytes: adjacent-line prefetch).
#[cfg_attr(target_pointer_width = "64", repr(align(128)))]
#[derive(Debug)]
struct Shard<const N: usize> {
    lists: IndexLists<N>,
    /// Who claims here: the [`ThreadHint`] token of the thread that last did (0: none
    /// yet) and the pool's drain count then (`token << 32 | drains`), stored only when
    /// it changes. A refill leaves a shard alone while another thread claims from it
    /// (see [`SlotPool::refill`]).
    owner: Atomic64,
}

impl<const N: usize> Shard<N> {
    #[cfg(not(loom))]
    const fn new(lists: IndexLists<N>) -> Self {
        Self {
            lists,
            owner: Atomic64::new(0),
        }
    }
    #[cfg(loom)]
    fn new(lists: IndexLists<N>) -> Self {
        Self {
            lists,
            owner: Atomic64::new(0),
        }
    }
}

/// Slots in use of a pool of `n`, from its shards' free counts read one after another.
#[inline]
fn in_use_of(n: usize, free: impl Iterator<Item = usize>) -> usize {
    n.saturating_sub(free.sum())
}

/// Shards a pool of `n` slots uses: at least 64 slots each, so small arenas keep one
/// list pair (and export in end order).
const fn active_shards(n: usize) -> usize {
    let by_size = n / 64;
    if by_size == 0 {
        1
    } else if by_size < SHARDS {
        by_size
    } else {
        SHARDS
    }
}

/// Which shards a thread uses (`index`, taken modulo the shard count) and a token
/// (never 0) that tells it apart from other threads. Any answer is correct; a good one
/// gives threads that trace at once different indices.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadHint {
    /// Spreads threads over shards: consecutive threads, consecutive indices at best.
    pub index: u32,
    /// Never 0: tells the thread apart (a shard's owner mark, see [`SlotPool::refill`]).
    pub token: u32,
}

impl ThreadHint {
    /// From the calling thread's stack, with no thread-local storage and no `std`:
    /// threads run on different stacks, so the address of a local tells them apart
    /// (2 MiB granules). Hashed, so two threads share an index now and then (1 in 8
    /// for two threads on 8 shards); picotrace-std's arena gives each thread its own
    /// instead, in turn.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub fn from_stack() -> Self {
        let probe = 0u8;
        let granule = (core::ptr::addr_of!(probe) as usize >> 21) as u64;
        // Mixed, not taken modulo: stacks are often a power of two apart (16 MiB stacks
        // put every thread on one shard with `granule % 8`).
        let mixed = granule.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Self {
            index: (mixed >> 40) as u32,
            token: (mixed >> 8) as u32 | 1,
        }
    }

    /// The shard of `shards` this thread starts with.
    #[inline(always)]
    pub(crate) fn shard(self, shards: usize) -> usize {
        self.index as usize % shards
    }
}

/// Which shards a refill may take free slots from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Steal {
    /// Only shards no other thread claimed from in the last [`STALE_DRAINS`] drains (a
    /// thread that stopped tracing, or exited, leaves its free slots to the others).
    Spare,
    /// Any shard (the arena is full otherwise).
    Any,
}

/// Drains after which a shard its thread stopped claiming from is spare again: a thread
/// that waits for its slots to come back from one drain keeps them, one that exited
/// leaves them to the others.
const STALE_DRAINS: u32 = 64;

/// The drain count, alone on its cache lines: every claim reads it, a drain writes it.
#[cfg_attr(target_pointer_width = "64", repr(align(128)))]
#[derive(Debug)]
struct Drains(AtomicU32);

/// Free slots a thread whose shard ran dry moves to it at once ([`SlotPool::refill`]).
const REFILL: usize = 32;

/// How many times each slot was claimed, modulo 2^48 (a slot's generation), so that
/// span ids repeat only after 2^47 claims of one slot
/// ([`crate::random::IdKeys::slot_number`] keeps 47 bits). A slot can take nearly all of
/// a thread's claims: free lists are LIFO, and a span that is never exported (sampled
/// out but holding a tracestate) gives its slot straight back, to be claimed again next.
/// At 10 M such spans a second 2^40 claims took 30 hours (found by review; the comment
/// said "years"); 2^47 take 160 days. Written only by the slot's owner (load + store, no
/// read-modify-write), read by anyone for the tracer's counters.
///
/// One 64-bit word a slot where the CPU has 64-bit atomics, read whole: two words read
/// one after the other tore at each 2^32 claims of a slot, and `spans_started` read
/// 2^32 low for a moment (found by review). Elsewhere (and under loom) two words, 6
/// bytes a slot, where that tear stays possible: a microcontroller claims one slot
/// 2^32 times in weeks at best.
///
/// Unit tests with the feature `critical-section` take the two words on every target,
/// as they take the critical section (see [`Atomic64`]), so that the host tests the
/// firmware's carry.
#[cfg(all(
    target_has_atomic = "64",
    not(loom),
    not(all(test, feature = "critical-section"))
))]
struct ClaimCounts<const N: usize>([portable_atomic::AtomicU64; N]);

/// See above: the low 32 bits, and bits 32..48.
#[cfg(not(all(
    target_has_atomic = "64",
    not(loom),
    not(all(test, feature = "critical-section"))
)))]
struct ClaimCounts<const N: usize> {
    low: [AtomicU32; N],
    high: [AtomicU16; N],
}

/// A generation's bits.
#[cfg(all(
    target_has_atomic = "64",
    not(loom),
    not(all(test, feature = "critical-section"))
))]
const GENERATION_MASK: u64 = (1 << 48) - 1;

#[cfg(all(
    target_has_atomic = "64",
    not(loom),
    not(all(test, feature = "critical-section"))
))]
impl<const N: usize> ClaimCounts<N> {
    const fn new() -> Self {
        Self([const { portable_atomic::AtomicU64::new(0) }; N])
    }

    /// Writes `new()`'s value into `*p` a count at a time (see [`write_each`]).
    ///
    /// # Safety
    /// `p` is valid for writes and aligned.
    #[cfg(not(target_os = "none"))]
    unsafe fn init_in(p: *mut Self) {
        // SAFETY: the field of `*p`, which the caller's pointer is valid for.
        unsafe {
            write_each(core::ptr::addr_of_mut!((*p).0), |_| {
                portable_atomic::AtomicU64::new(0)
            })
        };
    }

    /// Counts a claim of slot `i` (by its owner); returns its generation.
    #[inline(always)]
    fn bump(&self, i: usize) -> u64 {
        let count = &self.0[i];
        let generation = count.load(Ordering::Relaxed).wrapping_add(1) & GENERATION_MASK;
        count.store(generation, Ordering::Relaxed);
        generation
    }

    fn get(&self, i: usize) -> u64 {
        self.0[i].load(Ordering::Relaxed)
    }

    #[cfg(all(test, not(loom)))]
    fn set(&self, i: usize, claims: u64) {
        self.0[i].store(claims & GENERATION_MASK, Ordering::Relaxed);
    }
}

#[cfg(not(all(
    target_has_atomic = "64",
    not(loom),
    not(all(test, feature = "critical-section"))
)))]
impl<const N: usize> ClaimCounts<N> {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Self {
            low: [const { AtomicU32::new(0) }; N],
            high: [const { AtomicU16::new(0) }; N],
        }
    }

    /// Writes `new()`'s value into `*p` a count at a time (see [`write_each`]).
    ///
    /// # Safety
    /// `p` is valid for writes and aligned.
    #[cfg(not(any(loom, target_os = "none")))]
    unsafe fn init_in(p: *mut Self) {
        // SAFETY: fields of `*p`, which the caller's pointer is valid for.
        unsafe {
            write_each(core::ptr::addr_of_mut!((*p).low), |_| AtomicU32::new(0));
            write_each(core::ptr::addr_of_mut!((*p).high), |_| AtomicU16::new(0));
        }
    }

    #[cfg(loom)]
    fn new() -> Self {
        Self {
            low: core::array::from_fn(|_| AtomicU32::new(0)),
            high: core::array::from_fn(|_| AtomicU16::new(0)),
        }
    }

    /// Counts a claim of slot `i` (by its owner); returns its generation.
    #[inline]
    fn bump(&self, i: usize) -> u64 {
        let low = self.low[i].load(Ordering::Relaxed).wrapping_add(1);
        self.low[i].store(low, Ordering::Relaxed);
        let mut high = self.high[i].load(Ordering::Relaxed);
        if low == 0 {
            high = high.wrapping_add(1);
            self.high[i].store(high, Ordering::Relaxed);
        }
        u64::from(high) << 32 | u64::from(low)
    }

    fn get(&self, i: usize) -> u64 {
        u64::from(self.high[i].load(Ordering::Relaxed)) << 32
            | u64::from(self.low[i].load(Ordering::Relaxed))
    }

    #[cfg(all(test, not(loom)))]
    fn set(&self, i: usize, claims: u64) {
        self.low[i].store(claims as u32, Ordering::Relaxed);
        self.high[i].store((claims >> 32) as u16, Ordering::Relaxed);
    }
}

/// `N` slots and their lists.
///
/// A pool with `k` active shards ([`active_shards`]) starts shard `s` with the slots
/// `s * N / k .. (s + 1) * N / k`; shards past `k` stay empty. Contiguous blocks, not
/// every `k`-th slot: a claim writes its slot's entry in `claims`, so with interleaved
/// slots two threads on two shards wrote one cache line on every span. A slot ends on,
/// and returns to, the shard it was claimed from; a refill moves free slots from one
/// shard to another.
pub(crate) struct SlotPool<S, const N: usize> {
    /// Each slot's record, written in full on the slot's first claim (invariant 6): a
    /// pool built in place ([`SlotPool::init_in`]) leaves them unwritten, so that a
    /// server's arena of several MiB takes memory only for the slots it uses.
    cells: [UnsafeCell<MaybeUninit<S>>; N],
    /// Claims of each slot: see [`ClaimCounts`].
    claims: ClaimCounts<N>,
    /// Each shard is one `IndexLists` over its own slots, so invariant 1 holds shard by
    /// shard.
    shards: [Shard<N>; SHARDS],
    /// Where [`SlotPool::refill`] starts looking.
    steal_hint: AtomicU8,
    /// Drains so far (wrapping): how old a shard's [`Shard::owner`] mark is.
    drains: Drains,
}

// SAFETY: cells are reached only under invariant 2: one owner at a time, handed over
// with Release/Acquire (invariant 3); `S: Send` because owners on other threads write
// and read it, `S: Sync` because a drained batch's spans may be read through shared
// references (every `S` here is a `Slot` of plain values).
unsafe impl<S: Send + Sync, const N: usize> Sync for SlotPool<S, N> {}

impl<S, const N: usize> core::fmt::Debug for SlotPool<S, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlotPool")
            .field("capacity", &N)
            .field("in_use", &self.in_use())
            .field("ended", &self.ended_len())
            .finish()
    }
}

impl<S, const N: usize> SlotPool<S, N> {
    /// How many shards hold slots.
    pub(crate) const SHARD_COUNT: usize = active_shards(N);

    /// Slots running or waiting for export. Exact while no thread claims; while one
    /// does, slots a refill moves from one shard to another between the reads of the
    /// two may be counted free twice, so the figure may come out low, never below 0
    /// (it was `N - sum`, which then underflowed: a shutdown reported 2^64 - 31 spans
    /// still running).
    pub(crate) fn in_use(&self) -> usize {
        in_use_of(N, self.shards.iter().map(|s| s.lists.free_len()))
    }

    /// Slots waiting for export.
    pub(crate) fn ended_len(&self) -> usize {
        self.shards.iter().map(|s| s.lists.ended_len()).sum()
    }

    /// Claims of every slot so far (each slot's count wraps at 2^48).
    pub(crate) fn claims(&self) -> u64 {
        (0..N).map(|i| self.claims.get(i)).sum()
    }
}

impl<const A: usize, const E: usize, const L: usize, const T: usize, const N: usize>
    SlotPool<Slot<A, E, L, T>, N>
{
    /// Where each slot's parts are (see [`SlotRef`]): a constant of the slot type, in
    /// read-only memory, not a field (found by review: its offsets were the non-zero
    /// bytes that put a whole `static` arena in the flash image).
    const LAYOUT: &'static SlotLayout = &SlotLayout::of::<A, E, L, T>();

    /// Every slot free.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        let active = active_shards(N);
        let mut shards = [const { Shard::new(IndexLists::new_range(0, 0)) }; SHARDS];
        let mut s = 0;
        while s < active {
            shards[s] = Shard::new(IndexLists::new_range(s * N / active, (s + 1) * N / active));
            s += 1;
        }
        Self {
            cells: [const { UnsafeCell::new(MaybeUninit::new(Slot::new())) }; N],
            claims: ClaimCounts::new(),
            shards,
            steal_hint: AtomicU8::new(0),
            drains: Drains(AtomicU32::new(0)),
        }
    }

    /// (loom's cells and atomics are not `const`; every slot on the first shard.)
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self {
            cells: core::array::from_fn(|_| UnsafeCell::new(MaybeUninit::new(Slot::new()))),
            claims: ClaimCounts::new(),
            shards: core::array::from_fn(|s| {
                Shard::new(if s == 0 {
                    IndexLists::new()
                } else {
                    IndexLists::empty()
                })
            }),
            steal_hint: AtomicU8::new(0),
            drains: Drains(AtomicU32::new(0)),
        }
    }

    /// Builds an empty pool in `place`, writing everything but the cells (see
    /// invariant 6): a pool in memory fresh from the allocator takes a page of it only
    /// as a slot on that page is first claimed. (`new` writes every cell: a `static`'s
    /// zero bytes cost nothing, a heap arena built by value touched all of it: 3.4 MB
    /// of resident memory for each `TracerProvider`.)
    #[cfg(not(any(loom, target_os = "none")))]
    pub(crate) fn init_in(place: &mut MaybeUninit<Self>) -> &mut Self {
        let p = place.as_mut_ptr();
        let active = active_shards(N);
        // SAFETY: `p` is valid for writes and aligned (it comes from `place`); each
        // field but `cells` is written once, whole, through a raw pointer (no
        // reference to unwritten memory is made); `cells` is `MaybeUninit` inside, so
        // any bytes are a valid value of it. Every field then holds a valid value.
        unsafe {
            ClaimCounts::init_in(core::ptr::addr_of_mut!((*p).claims));
            let shards = core::ptr::addr_of_mut!((*p).shards).cast::<Shard<N>>();
            for s in 0..SHARDS {
                let shard = shards.add(s);
                let lists = core::ptr::addr_of_mut!((*shard).lists);
                let (start, end) = if s < active {
                    (s * N / active, (s + 1) * N / active)
                } else {
                    (0, 0)
                };
                List::init_range_in(core::ptr::addr_of_mut!((*lists).free), start, end);
                List::init_range_in(core::ptr::addr_of_mut!((*lists).ended.0), 0, 0);
                core::ptr::addr_of_mut!((*shard).owner).write(Atomic64::new(0));
            }
            core::ptr::addr_of_mut!((*p).steal_hint).write(AtomicU8::new(0));
            core::ptr::addr_of_mut!((*p).drains).write(Drains(AtomicU32::new(0)));
            place.assume_init_mut()
        }
    }

    /// [`SlotPool::claim_for`] the calling thread, known by its stack.
    #[cfg(test)]
    pub(crate) fn claim(&self) -> Option<SlotRef<'_>> {
        self.claim_for(ThreadHint::from_stack)
    }

    /// Claims a free slot for the thread `thread` names (asked only where there are
    /// several shards): from its shard, else from a shard no other thread claims from
    /// ([`Steal::Spare`]). `None` then means that other threads' shards may still have
    /// free slots, which [`SlotPool::claim_any_for`] takes: draining first keeps each
    /// thread on its own slots (taking a busy thread's free slots moved them back and
    /// forth between the threads' caches every few spans, with misses on every write:
    /// two threads on one tracer ran no faster than one).
    #[inline]
    pub(crate) fn claim_for(&self, thread: impl FnOnce() -> ThreadHint) -> Option<SlotRef<'_>> {
        self.claim_with(thread, Steal::Spare)
    }

    /// [`SlotPool::claim_any_for`] the calling thread, known by its stack.
    #[cfg(all(test, loom))]
    pub(crate) fn claim_any(&self) -> Option<SlotRef<'_>> {
        self.claim_any_for(ThreadHint::from_stack)
    }

    /// Claims a free slot from any shard, for the thread `thread` names.
    pub(crate) fn claim_any_for(&self, thread: impl FnOnce() -> ThreadHint) -> Option<SlotRef<'_>> {
        // One shard: the same claim (and no second inlined copy of it in the firmware).
        if Self::SHARD_COUNT == 1 {
            self.claim_for(thread)
        } else {
            self.claim_with(thread, Steal::Any)
        }
    }

    #[inline(always)]
    fn claim_with(&self, thread: impl FnOnce() -> ThreadHint, steal: Steal) -> Option<SlotRef<'_>> {
        let active = const { active_shards(N) };
        // One shard (microcontrollers, small arenas): nowhere to refill from, and no
        // refill code linked (nor a hint asked for).
        let (first, token) = if active == 1 {
            (0, 1)
        } else {
            let hint = thread();
            (hint.shard(active), hint.token)
        };
        self.claim_from(first, token, steal)
    }

    /// Claims for the thread `token` whose shard is `first`.
    #[inline(always)]
    fn claim_from(&self, first: usize, token: u32, steal: Steal) -> Option<SlotRef<'_>> {
        let active = const { active_shards(N) };
        let shard = &self.shards[first];
        let home = &shard.lists;
        let index = match home.claim() {
            Some(index) => index,
            None if active == 1 => return None,
            None => self.refill(first, token, active, steal)?,
        };
        if active > 1 {
            let mark = u64::from(token) << 32 | u64::from(self.drains.0.load(Ordering::Relaxed));
            // Stored only when it changes (once per drain): the line is the one the
            // claim just wrote.
            if shard.owner.load(Ordering::Relaxed) != mark {
                shard.owner.store(mark, Ordering::Relaxed);
            }
        }
        let generation = self.claims.bump(usize::from(index));
        let raw = self.cells[usize::from(index)].with_mut(|slot| RawRecord {
            // A cell's pointer is never null; cast, not reborrowed, so it keeps its
            // provenance over the whole slot.
            slot: NonNull::new(slot.cast::<u8>()).expect("cell pointers are not null"),
            layout: Self::LAYOUT,
        });
        // Not on microcontrollers: there every pool is built by `new` (`init_in` is a
        // server's), all of its cells written, and the test cost the Cortex-M3 W1 span
        // 16 instructions.
        if cfg!(not(target_os = "none")) && generation == 1 {
            write_new_record::<A, E, L, T>(raw);
        }
        Some(SlotRef {
            raw,
            // 48 bits (`GENERATION_MASK`): the high part fits 16.
            index_and_generation_high: u32::from(index) | ((generation >> 32) as u32) << 16,
            generation_low: generation as u32,
            lists: home,
        })
    }

    /// The calling thread's shard is empty: move up to [`REFILL`] free slots from
    /// another shard to it (starting with the one the last refill found slots on) and
    /// claim the first. Moved slots stay: they end on, and return to, this shard, so
    /// slots gather where spans start and a busy thread stops coming here (when every
    /// thread took from one shard while its own was empty, two threads doubled the time
    /// of one). The hint is stored only when it changes, so refills do not write a
    /// shared line each time.
    ///
    /// With [`Steal::Spare`], shards another thread claims from are left alone (see
    /// [`Shard::owner`]).
    #[cold]
    fn refill(&self, first: usize, token: u32, active: usize, steal: Steal) -> Option<u16> {
        let start = usize::from(self.steal_hint.load(Ordering::Relaxed)) % active;
        let drains = self.drains.0.load(Ordering::Relaxed);
        let mut taken = heapless::Vec::<u16, REFILL>::new();
        for shard in (0..active).map(|k| (start + k) % active) {
            if shard == first {
                continue;
            }
            let victim = &self.shards[shard];
            if steal == Steal::Spare {
                let owner = victim.owner.load(Ordering::Relaxed);
                let (by, at) = ((owner >> 32) as u32, owner as u32);
                if by != 0 && by != token && drains.wrapping_sub(at) <= STALE_DRAINS {
                    continue;
                }
            }
            victim.lists.take_free(&mut taken);
            if let Some((&index, rest)) = taken.split_first() {
                if shard != start {
                    self.steal_hint.store(shard as u8, Ordering::Relaxed);
                }
                self.shards[first].lists.release_all(rest);
                return Some(index);
            }
        }
        None
    }

    /// Takes every ended slot and lets `f` read them in batches of at most `chunk`
    /// (oldest first within a shard), freeing each batch's slots as soon as `f`
    /// returns, so that spans waiting for a slot get one before the whole drain ends.
    /// Slots are freed when `f` panics too (the batch and those after it: the caller
    /// counts them, see [`Drained::left`]), so a panicking exporter costs spans, not
    /// the arena's slots.
    pub(crate) fn drain(&self, chunk: usize, mut f: impl FnMut(&Drained<'_, Slot<A, E, L, T>, N>)) {
        /// The taken slots, shard by shard (`ends`); gives back those not yet freed
        /// when dropped.
        struct Taken<'p, const N: usize> {
            shards: &'p [Shard<N>; SHARDS],
            indices: heapless::Vec<u16, N>,
            ends: [usize; SHARDS],
            freed: usize,
        }
        impl<const N: usize> Taken<'_, N> {
            /// Frees `indices[self.freed..to]`, each to the shard it came from.
            fn free_to(&mut self, to: usize) {
                let mut start = 0;
                for (shard, &end) in self.shards.iter().zip(&self.ends) {
                    let (a, b) = (start.max(self.freed), end.min(to));
                    if a < b {
                        shard.lists.release_all(&self.indices[a..b]);
                    }
                    start = end;
                }
                self.freed = to;
            }
        }
        impl<const N: usize> Drop for Taken<'_, N> {
            fn drop(&mut self) {
                self.free_to(self.indices.len());
            }
        }
        if Self::SHARD_COUNT > 1 {
            // Load and store, not a read-modify-write (none on thumbv6m): drains run one
            // at a time (the tracer's exporter lock), and a lost count is harmless.
            let drains = &self.drains.0;
            drains.store(
                drains.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
        }
        let mut taken = Taken {
            shards: &self.shards,
            indices: heapless::Vec::new(),
            ends: [0; SHARDS],
            freed: 0,
        };
        for (shard, end) in self.shards.iter().zip(&mut taken.ends) {
            let start = taken.indices.len();
            shard.lists.take_ended(&mut taken.indices);
            taken.indices[start..].reverse();
            *end = taken.indices.len();
        }
        let chunk = chunk.max(1);
        while taken.freed < taken.indices.len() {
            let end = (taken.freed + chunk).min(taken.indices.len());
            f(&Drained {
                pool: self,
                indices: &taken.indices[taken.freed..end],
                left: taken.indices.len() - taken.freed,
            });
            taken.free_to(end);
        }
    }
}

/// Ended slots taken by one drain: owned by it until the drain returns.
pub(crate) struct Drained<'a, S, const N: usize> {
    pool: &'a SlotPool<S, N>,
    indices: &'a [u16],
    /// Spans of the drain not yet read: this batch's and those after it.
    left: usize,
}

impl<const A: usize, const E: usize, const L: usize, const T: usize, const N: usize>
    Drained<'_, Slot<A, E, L, T>, N>
{
    /// How many spans were taken.
    pub(crate) fn len(&self) -> usize {
        self.indices.len()
    }

    /// How many spans of the drain this batch and the batches after it hold: what is
    /// lost, freed unread, if the reader of this batch panics.
    pub(crate) fn left(&self) -> usize {
        self.left
    }

    /// Reads the `i`-th span taken (oldest first).
    pub(crate) fn get(&self, i: usize) -> Option<SpanData<'_>> {
        let index = *self.indices.get(i)?;
        Some(self.pool.cells[usize::from(index)].with(|slot| {
            // SAFETY: the drain owns `index` (invariant 1) until `release_all`, which
            // runs after every borrow of `self` has ended; nobody writes it meanwhile.
            // It was claimed to get on the ended list, so its record is written
            // (invariant 6).
            unsafe { (*slot).assume_init_ref() }.data()
        }))
    }
}

/// Writes `[f(0), f(1), ...]` into `*p` one element at a time: an array of a slot's
/// worth per slot, built whole, was a stack temporary the size of the arena's lists
/// (found by review: 330 KB of stack for 16,384 spans in a debug build, where a thread
/// with a 256 KiB stack built a provider of 2,048 before).
///
/// # Safety
/// `p` is valid for writes and aligned.
#[cfg(not(any(loom, target_os = "none")))]
unsafe fn write_each<T, const N: usize>(p: *mut [T; N], f: impl Fn(usize) -> T) {
    let first = p.cast::<T>();
    for i in 0..N {
        // SAFETY: `i < N`: in bounds of the array the caller's pointer is valid for.
        unsafe { first.add(i).write(f(i)) };
    }
}

/// The first claim of a slot (or the second after its count wraps at 2^48): its record may never
/// have been written (invariant 6); written whole, once, before any reference to it is
/// made. Out of line: inline, the write of a whole record took registers from the
/// claim (+6.5 instructions a W1 span through picotrace-std's provider).
#[cold]
#[inline(never)]
fn write_new_record<const A: usize, const E: usize, const L: usize, const T: usize>(
    raw: RawRecord<'_>,
) {
    // SAFETY: `raw.slot` points to the whole cell of a `Slot<A, E, L, T>` (with its
    // provenance), which the caller owns (invariant 1: it has just claimed it) and
    // holds no reference into; a write of a whole value needs no valid old one.
    unsafe { raw.slot.cast::<Slot<A, E, L, T>>().write(Slot::new()) }
}

/// [`SpanArena::new_in`](crate::SpanArena::new_in): builds the arena's pool in place
/// ([`SlotPool::init_in`]).
#[cfg(not(any(loom, target_os = "none")))]
pub(crate) fn init_arena_in<
    const S: usize,
    const A: usize,
    const E: usize,
    const L: usize,
    const T: usize,
>(
    place: &mut MaybeUninit<crate::SpanArena<S, A, E, L, T>>,
) -> &mut crate::SpanArena<S, A, E, L, T> {
    let () = crate::SpanArena::<S, A, E, L, T>::CAPACITY_CHECK;
    let p = place.as_mut_ptr();
    // SAFETY: `pool` is the arena's only field: a pointer to it, valid for writes
    // and aligned, is a `MaybeUninit` place of the pool's type; once `init_in` has
    // written the pool, the whole arena is a valid value.
    unsafe {
        let pool =
            core::ptr::addr_of_mut!((*p).pool).cast::<MaybeUninit<SlotPool<Slot<A, E, L, T>, S>>>();
        SlotPool::init_in(&mut *pool);
        place.assume_init_mut()
    }
}

/// A lock that is only ever tried, never waited for inside: for the exporter and a
/// stateful sampler. (Spinning, where a caller must wait, is the caller's choice.)
pub(crate) struct TryLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only by the holder of `locked` (Acquire on lock,
// Release on unlock), one at a time; it may be used from any thread, so `T: Send`.
unsafe impl<T: Send> Sync for TryLock<T> {}

impl<T> core::fmt::Debug for TryLock<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TryLock")
            .field("locked", &self.locked.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T> TryLock<T> {
    #[cfg(not(loom))]
    pub(crate) const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` with the value unless another caller holds it.
    #[inline]
    pub(crate) fn try_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        if self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        // Unlocks even if `f` panics (std), so a panicking exporter does not wedge it.
        struct Unlock<'a>(&'a AtomicBool);
        impl Drop for Unlock<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _unlock = Unlock(&self.locked);
        // SAFETY: we hold `locked`, so this is the only access until `_unlock` drops.
        Some(self.value.with_mut(|value| f(unsafe { &mut *value })))
    }
}

/// Model checks of the ownership protocol and the try-lock (run with
/// `RUSTFLAGS="--cfg loom" cargo test -p picotrace --release --lib sync::loom`).
/// loom's `UnsafeCell` reports any access to a slot's data that the protocol does not
/// order; the assertions check that every published index is drained exactly once.
#[cfg(all(test, loom))]
mod loom_tests {
    extern crate std;
    use super::*;
    use loom::sync::Arc;
    use loom::thread;
    use std::vec::Vec;

    /// Slot data guarded only by the index lists, as the arena's cells are.
    struct Model<const N: usize> {
        lists: IndexLists<N>,
        data: [UnsafeCell<u32>; N],
    }

    impl<const N: usize> Model<N> {
        fn new() -> Arc<Self> {
            Arc::new(Self {
                lists: IndexLists::new(),
                data: core::array::from_fn(|_| UnsafeCell::new(0)),
            })
        }
        fn write(&self, i: u16, v: u32) {
            // SAFETY (of the model): `i` is owned by the caller, the point under test.
            self.data[usize::from(i)].with_mut(|d| unsafe { *d = v });
        }
        fn read(&self, i: u16) -> u32 {
            self.data[usize::from(i)].with(|d| unsafe { *d })
        }
    }

    /// Two spans start, write and end on two threads while a third thread drains.
    #[test]
    fn claim_write_publish_drain_release() {
        loom::model(|| {
            let m = Model::<2>::new();
            let spans: Vec<_> = (1..=2u32)
                .map(|t| {
                    let m = Arc::clone(&m);
                    thread::spawn(move || match m.lists.claim() {
                        Some(i) => {
                            m.write(i, t);
                            m.lists.publish(i);
                            1
                        }
                        None => 0,
                    })
                })
                .collect();
            let drainer = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    let mut out = heapless::Vec::<u16, 2>::new();
                    m.lists.take_ended(&mut out);
                    for &i in &out {
                        assert!(matches!(m.read(i), 1 | 2));
                    }
                    m.lists.release_all(&out);
                    out.len()
                })
            };
            let started: usize = spans.into_iter().map(|h| h.join().unwrap()).sum();
            let drained = drainer.join().unwrap();
            let mut rest = heapless::Vec::<u16, 2>::new();
            m.lists.take_ended(&mut rest);
            assert_eq!(started, 2, "two slots for two spans");
            assert_eq!(
                drained + rest.len(),
                started,
                "each ended span drained once"
            );
            m.lists.release_all(&rest);
            assert_eq!(m.lists.free_len(), 2);
        });
    }

    /// A refill takes two free indices at once while another thread claims, writes and
    /// frees one: no index is owned twice, none is lost.
    #[test]
    fn taking_several_free_indices_races_with_a_claim() {
        loom::model(|| {
            let m = Model::<3>::new();
            let refill = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    let mut taken = heapless::Vec::<u16, 2>::new();
                    m.lists.take_free(&mut taken);
                    for &i in &taken {
                        m.write(i, 30);
                        assert_eq!(m.read(i), 30);
                    }
                    m.lists.release_all(&taken);
                    taken.len()
                })
            };
            let claim = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    if let Some(i) = m.lists.claim() {
                        m.write(i, 40);
                        assert_eq!(m.read(i), 40);
                        m.lists.release(i);
                    }
                })
            };
            assert!(
                refill.join().unwrap() >= 1,
                "three slots, at most one claimed"
            );
            claim.join().unwrap();
            assert_eq!(m.lists.free_len(), 3);
            let mut all = heapless::Vec::<u16, 3>::new();
            m.lists.take_free(&mut all);
            all.sort_unstable();
            assert_eq!(all.as_slice(), &[0, 1, 2], "every index back exactly once");
        });
    }

    /// Claims race with a release and a re-claim of the same index: no index is ever
    /// owned twice. (Not the ABA case: `a` holds one index at a time, so a head that
    /// comes back has its old `next`; the two tests below need the tags.)
    #[test]
    fn racing_claims_and_releases_never_share_an_index() {
        loom::model(|| {
            let m = Model::<2>::new();
            let a = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    for round in 0..2u32 {
                        if let Some(i) = m.lists.claim() {
                            m.write(i, 10 + round);
                            assert_eq!(m.read(i), 10 + round);
                            m.lists.release(i);
                        }
                    }
                })
            };
            let b = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    if let Some(i) = m.lists.claim() {
                        m.write(i, 20);
                        assert_eq!(m.read(i), 20);
                        m.lists.publish(i);
                    }
                })
            };
            a.join().unwrap();
            b.join().unwrap();
            let mut out = heapless::Vec::<u16, 2>::new();
            m.lists.take_ended(&mut out);
            m.lists.release_all(&out);
            assert_eq!(m.lists.free_len(), 2);
        });
    }

    /// The ABA case itself: while one claim is between reading the head and its
    /// compare-and-swap, another thread takes every slot and gives them back in another
    /// order, so the head is the same index with the same length again. Without the
    /// tag the first claim would install a stale `next` and lose a slot.
    #[test]
    fn a_head_that_comes_back_in_another_order_is_not_trusted() {
        loom::model(|| {
            let m = Model::<3>::new();
            let x = {
                let m = Arc::clone(&m);
                thread::spawn(move || m.lists.claim())
            };
            let y = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    let taken: Vec<u16> = (0..3).filter_map(|_| m.lists.claim()).collect();
                    // Back in another order that ends with the first one taken: the
                    // head is that index, with the same length, over another chain.
                    for &i in taken.iter().skip(1).chain(taken.first()) {
                        m.lists.release(i);
                    }
                })
            };
            let mine = x.join().unwrap();
            y.join().unwrap();
            if let Some(i) = mine {
                m.lists.release(i);
            }
            let mut all: Vec<u16> = (0..4).filter_map(|_| m.lists.claim()).collect();
            all.sort_unstable();
            assert_eq!(all, [0, 1, 2], "every slot reachable exactly once");
        });
    }

    /// The ABA case through [`IndexLists::take_free`] (a refill), which the test above
    /// does not cover (found by review: removing `take_free`'s tag bump failed no
    /// test): while a claim is between reading the head and its compare-and-swap,
    /// another thread takes the free slots two at a time and gives them back so that
    /// the head is the same index with the same length over another chain. Pushes do
    /// not move the tag; only the takes can tell the claim its head is stale.
    #[test]
    fn a_head_rebuilt_by_taking_free_slots_is_not_trusted() {
        loom::model(|| {
            let m = Model::<4>::new();
            let x = {
                let m = Arc::clone(&m);
                thread::spawn(move || m.lists.claim())
            };
            let y = {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    let mut a = heapless::Vec::<u16, 2>::new();
                    let mut b = heapless::Vec::<u16, 2>::new();
                    m.lists.take_free(&mut a);
                    m.lists.take_free(&mut b);
                    // 0 -> 1 -> 2 -> 3 taken as [0, 1] and [2, 3] comes back as
                    // 0 -> 2 -> 1 -> 3: the head is 0 with 4 behind it again.
                    if let ([a0, a1], [b0, b1]) = (a.as_slice(), b.as_slice()) {
                        m.lists.release_all(&[*b1]);
                        m.lists.release_all(&[*a1]);
                        m.lists.release_all(&[*a0, *b0]);
                    } else {
                        m.lists.release_all(&a);
                        m.lists.release_all(&b);
                    }
                })
            };
            let mine = x.join().unwrap();
            y.join().unwrap();
            if let Some(i) = mine {
                m.lists.release(i);
            }
            let mut all: Vec<u16> = (0..5).filter_map(|_| m.lists.claim()).collect();
            all.sort_unstable();
            assert_eq!(all, [0, 1, 2, 3], "every slot reachable exactly once");
        });
    }

    /// The context thread `t` writes into its span.
    fn context(t: u8) -> crate::SpanContext {
        crate::SpanContext {
            trace_id: crate::TraceId::from_bytes([t; 16]),
            span_id: crate::SpanId::from_bytes([t; 8]),
            flags: crate::TraceFlags::SAMPLED,
            is_remote: false,
        }
    }

    /// The tracestate thread `t` writes into its span.
    const STATES: [&str; 3] = ["", "a=1", "b=2"];

    /// Claims, writes through [`SlotRef::record`] and publishes one span as thread `t`
    /// would end it, from `first` (the thread's shard); returns whether it had a slot.
    fn end_one<const N: usize>(
        pool: &SlotPool<Slot<1, 1, 1, 16>, N>,
        first: usize,
        t: u8,
        steal: Steal,
    ) -> bool {
        match pool.claim_from(first, u32::from(t), steal) {
            Some(mut slot) => {
                slot.record().init_trace_state_only(
                    context(t),
                    STATES[usize::from(t)],
                    crate::SpanKind::Internal,
                );
                slot.publish();
                true
            }
            None => false,
        }
    }

    /// Drains `pool`, checking that each span holds what its thread wrote; returns
    /// how many were drained.
    fn drain_checked<const N: usize>(pool: &SlotPool<Slot<1, 1, 1, 16>, N>) -> usize {
        let mut n = 0;
        pool.drain(1, |d| {
            for i in 0..d.len() {
                let span = d.get(i).expect("an index of the batch");
                let t = span.span_context().span_id.to_bytes()[0];
                assert!(t == 1 || t == 2, "a span no thread wrote");
                assert_eq!(span.span_context(), context(t));
                assert_eq!(span.trace_state(), STATES[usize::from(t)]);
                n += 1;
            }
        });
        n
    }

    /// The real pool, not a model of it: two threads claim, write their span through
    /// [`SlotRef::record`] and publish it while a third drains and reads the spans
    /// ([`Drained::get`]). loom's cells see every access to a slot's data: a write
    /// not ordered after the previous owner's read is reported. Each span is drained
    /// once, as written, and every slot is free again at the end.
    #[test]
    fn the_real_pool_hands_each_slot_to_one_owner_at_a_time() {
        loom::model(|| {
            let pool = Arc::new(SlotPool::<Slot<1, 1, 1, 16>, 2>::new());
            let spans: Vec<_> = (1..=2u8)
                .map(|t| {
                    let pool = Arc::clone(&pool);
                    thread::spawn(move || usize::from(end_one(&pool, 0, t, Steal::Spare)))
                })
                .collect();
            let drainer = {
                let pool = Arc::clone(&pool);
                thread::spawn(move || drain_checked(&pool))
            };
            let started: usize = spans.into_iter().map(|h| h.join().unwrap()).sum();
            let drained = drainer.join().unwrap();
            assert_eq!(started, 2, "two slots for two spans");
            assert_eq!(drained + drain_checked(&pool), 2, "each span drained once");
            assert_eq!(pool.in_use(), 0);
            let again: Vec<_> = core::iter::from_fn(|| pool.claim()).collect();
            assert_eq!(again.len(), 2, "every slot back");
        });
    }

    /// The real pool: a drain in chunks of one frees each span's slot once it has read
    /// it, while it goes on reading the next, and another thread claims the freed slot
    /// and writes it (then lets it go unpublished, as a span dropped by a panic does).
    /// loom's cells report a write to a slot the drain still reads. (Found by review:
    /// the models re-claimed only after the drain had ended.)
    #[test]
    fn a_slot_freed_by_a_running_drain_is_written_only_after_it_was_read() {
        loom::model(|| {
            let pool = Arc::new(SlotPool::<Slot<1, 1, 1, 16>, 2>::new());
            assert!(end_one(&pool, 0, 1, Steal::Spare));
            assert!(end_one(&pool, 0, 2, Steal::Spare));
            let drainer = {
                let pool = Arc::clone(&pool);
                thread::spawn(move || drain_checked(&pool))
            };
            let claimer = {
                let pool = Arc::clone(&pool);
                thread::spawn(move || {
                    let mut claimed = 0;
                    for _ in 0..2 {
                        if let Some(mut slot) = pool.claim_from(0, 3, Steal::Spare) {
                            slot.record().init_trace_state_only(
                                context(3),
                                "",
                                crate::SpanKind::Internal,
                            );
                            claimed += 1;
                        }
                    }
                    claimed
                })
            };
            assert_eq!(drainer.join().unwrap(), 2, "each span drained once");
            let _ = claimer.join().unwrap();
            assert_eq!(pool.in_use(), 0);
            let again: Vec<_> = core::iter::from_fn(|| pool.claim()).collect();
            assert_eq!(again.len(), 2, "every slot back");
        });
    }

    /// The real pool with two shards: a thread whose shard is empty refills it from
    /// the other (taking up to [`REFILL`] slots at once) while a thread that claims
    /// from that other shard claims, writes and publishes, and the main thread drains
    /// after. No slot is owned twice, none is lost.
    #[test]
    fn a_refill_races_with_a_claim_on_the_shard_it_takes_from() {
        // Claiming all 128 slots back at the end takes more steps than loom's default
        // bound (1,000 branches); only the part with three threads branches.
        let mut model = loom::model::Builder::new();
        model.max_branches = 20_000;
        model.check(|| {
            // A pool of 128 slots of loom's atomics does not fit the stack loom gives
            // the model: it is built on a thread with a larger one.
            let pool = thread::Builder::new()
                .stack_size(32 << 20)
                .spawn(|| Arc::new(SlotPool::<Slot<1, 1, 1, 16>, 128>::new()))
                .unwrap()
                .join()
                .unwrap();
            assert_eq!(SlotPool::<Slot<1, 1, 1, 16>, 128>::SHARD_COUNT, 2);
            let refills = {
                let pool = Arc::clone(&pool);
                thread::spawn(move || end_one(&pool, 1, 2, Steal::Any))
            };
            let claims = {
                let pool = Arc::clone(&pool);
                thread::spawn(move || end_one(&pool, 0, 1, Steal::Spare))
            };
            assert!(refills.join().unwrap(), "127 free slots on the other shard");
            assert!(claims.join().unwrap(), "its own shard has slots");
            assert_eq!(drain_checked(&pool), 2);
            assert_eq!(pool.in_use(), 0);
            let mut all: Vec<u16> = core::iter::from_fn(|| pool.claim_any())
                .map(|slot| {
                    let index = slot.index();
                    core::mem::forget(slot);
                    index
                })
                .collect();
            all.sort_unstable();
            assert_eq!(all, (0..128).collect::<Vec<u16>>(), "every slot once");
        });
    }

    /// The try-lock admits one holder at a time.
    #[test]
    fn try_lock_is_exclusive() {
        loom::model(|| {
            let lock = Arc::new(TryLock::new(0u32));
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let lock = Arc::clone(&lock);
                    thread::spawn(move || lock.try_with(|v| *v += 1).is_some() as u32)
                })
                .collect();
            let won: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(lock.try_with(|v| *v), Some(won));
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Each layout entry is where its field is, with its capacity (the offsets are
    /// worked out from the fields' addresses in a `const fn`).
    #[test]
    fn the_layout_is_the_slot_s() {
        type S = Slot<3, 5, 7, 64>;
        let layout = SlotLayout::of::<3, 5, 7, 64>();
        assert_eq!(layout.header, core::mem::offset_of!(S, header));
        assert_eq!(layout.end, core::mem::offset_of!(S, end));
        let parts = [
            (layout.attrs.offset, layout.attrs.capacity),
            (layout.events.offset, layout.events.capacity),
            (layout.links.offset, layout.links.capacity),
            (layout.text.offset, layout.text.capacity),
        ];
        assert_eq!(
            parts,
            [
                (core::mem::offset_of!(S, attrs), 3),
                (core::mem::offset_of!(S, events), 5),
                (core::mem::offset_of!(S, links), 7),
                (core::mem::offset_of!(S, text), 64),
            ]
        );
    }

    #[test]
    fn lists_hand_out_each_index_once_and_take_back_chains() {
        let lists = IndexLists::<4>::new();
        let got: [u16; 4] = core::array::from_fn(|_| lists.claim().unwrap());
        assert_eq!(got, [0, 1, 2, 3]);
        assert_eq!(lists.claim(), None);
        assert_eq!(lists.publish(2), 1);
        assert_eq!(lists.publish(0), 2);
        let mut out = heapless::Vec::<u16, 4>::new();
        lists.take_ended(&mut out);
        assert_eq!(out.as_slice(), &[0, 2], "newest first");
        assert_eq!(lists.ended_len(), 0);
        lists.release_all(&out);
        lists.release(3);
        assert_eq!(lists.free_len(), 3);
        let mut again = [lists.claim(), lists.claim(), lists.claim(), lists.claim()];
        again.sort();
        assert_eq!(again, [None, Some(0), Some(2), Some(3)]);
    }

    /// Regression (found by review): the claim count of a slot was 40 bits. A slot can
    /// take nearly every claim of a thread (free lists are LIFO), and past 2^40 its
    /// count, and so its span numbers and ids, started again from those of its first
    /// claims.
    #[test]
    fn a_slot_s_claim_count_carries_past_40_bits() {
        use crate::random::IdKeys;
        let pool: SlotPool<Slot<1, 1, 1, 8>, 1> = SlotPool::new();
        pool.claims.set(0, 0xff_ffff_ffff);
        let slot = pool.claim().unwrap();
        assert_eq!(slot.generation(), 1 << 40);
        let n = IdKeys::slot_number(0, slot.generation());
        assert_ne!(n, IdKeys::slot_number(0, 0));
        assert_eq!(n & 1 << 63, 0, "a slot's number, not an unslotted span's");
        drop(slot);
        assert_eq!(pool.claims(), 1 << 40);
    }

    #[test]
    fn a_sharded_pool_hands_out_every_slot_once_and_takes_all_back() {
        extern crate std;
        use std::vec::Vec;
        let pool: std::boxed::Box<SlotPool<Slot<1, 1, 1, 8>, 512>> =
            std::boxed::Box::new(SlotPool::new());
        assert_eq!(active_shards(512), SHARDS.min(8));
        let mut held: Vec<SlotRef<'_>> = core::iter::from_fn(|| pool.claim()).collect();
        assert_eq!(held.len(), 512);
        let mut seen: Vec<u16> = held.iter().map(SlotRef::index).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 512, "no slot handed out twice");
        assert_eq!(pool.in_use(), 512);
        let released = held.split_off(500);
        drop(released);
        for slot in held {
            slot.publish();
        }
        assert_eq!((pool.in_use(), pool.ended_len()), (500, 500));
        let mut drained = 0;
        pool.drain(64, |d| {
            assert!(d.len() <= 64);
            drained += d.len();
        });
        assert_eq!(drained, 500);
        assert_eq!(pool.in_use(), 0);
        let all: Vec<SlotRef<'_>> = core::iter::from_fn(|| pool.claim()).collect();
        assert_eq!(all.len(), 512);
    }

    /// A pool built in place ([`SlotPool::init_in`], as a server's heap arena is) in
    /// memory it never writes hands out every slot once, each holding an empty record
    /// at its first claim (invariant 6), and its spans drain as written. The memory is
    /// filled with `0xa5` first: a record read before it is written shows it (the
    /// first version left records unwritten, and a new slot held 0xa5a5… attributes).
    /// Under Miri the memory is left as allocated, and a read of a byte never written
    /// fails the test (`cargo +nightly miri test -p picotrace --lib
    /// a_pool_built_in_place`, by hand: rustup cannot download Miri on CI's machines).
    #[test]
    fn a_pool_built_in_place_writes_each_record_at_its_first_claim() {
        extern crate std;
        use std::boxed::Box;
        use std::vec::Vec;
        type Pool = SlotPool<Slot<1, 1, 1, 16>, 130>;
        let context_of = |i: u16| crate::SpanContext {
            trace_id: crate::TraceId::from_bytes([1; 16]),
            span_id: crate::SpanId::from_u64(u64::from(i) + 1),
            flags: crate::TraceFlags::SAMPLED,
            is_remote: false,
        };
        let mut place: Box<MaybeUninit<Pool>> = Box::new_uninit();
        if !cfg!(miri) {
            // SAFETY: writes the allocation's bytes (a `MaybeUninit` holds any).
            unsafe {
                place
                    .as_mut_ptr()
                    .cast::<u8>()
                    .write_bytes(0xa5, size_of::<Pool>())
            };
        }
        let pool = SlotPool::init_in(&mut place);
        assert_eq!((pool.in_use(), pool.ended_len(), pool.claims()), (0, 0, 0));
        for round in 1..=2u8 {
            // A fixed thread hint: `from_stack` hashes a local's address, which Miri
            // moves, and a claim would then leave another thread's shard alone.
            let hint = || ThreadHint { index: 0, token: 1 };
            let mut held: Vec<SlotRef<'_>> =
                core::iter::from_fn(|| pool.claim_any_for(hint)).collect();
            assert_eq!(held.len(), 130, "every slot, round {round}");
            let mut seen: Vec<u16> = held.iter().map(SlotRef::index).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), 130, "no slot handed out twice");
            for slot in &mut held {
                if round == 1 {
                    let record = slot.record();
                    let lens = (record.attrs.len(), record.events.len(), record.links.len());
                    assert_eq!((lens, record.text.len()), ((0, 0, 0), 0), "a new record");
                }
                let context = context_of(slot.index());
                slot.record()
                    .init_trace_state_only(context, "a=1", crate::SpanKind::Internal);
            }
            for slot in held {
                slot.publish();
            }
            let mut drained = Vec::new();
            pool.drain(64, |d| {
                for i in 0..d.len() {
                    let span = d.get(i).expect("an index of the batch");
                    assert_eq!(span.trace_state(), "a=1");
                    drained.push(span.span_context());
                }
            });
            drained.sort_by_key(|cx| cx.span_id.to_bytes());
            let written: Vec<_> = (0..130).map(context_of).collect();
            assert_eq!(drained, written, "each span as written");
            assert_eq!((pool.in_use(), pool.ended_len()), (0, 0));
        }
        assert_eq!(pool.claims(), 260);
    }

    /// Regression (found by review): `init_in` built each shard's lists and the claim
    /// counts as whole arrays on the stack before writing them, 12 bytes a slot: 330 KB
    /// of stack for 16,384 slots in a debug build, 780 KB for 65,534, where a provider
    /// of the default 2,048 had been built on a thread with a 256 KiB stack. Now an
    /// element at a time: the largest pool builds there.
    #[test]
    fn the_largest_pool_is_built_in_place_on_a_small_stack() {
        extern crate std;
        use std::boxed::Box;
        type Pool = SlotPool<Slot<1, 1, 1, 8>, 65534>;
        let claimed = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(|| {
                let place: &'static mut MaybeUninit<Pool> = Box::leak(Box::new_uninit());
                let pool = SlotPool::init_in(place);
                let hint = || ThreadHint { index: 0, token: 1 };
                let slot = pool.claim_any_for(hint).map(|s| s.index());
                (slot, pool.in_use())
            })
            .expect("spawn")
            .join()
            .expect("built without overflowing its stack");
        assert_eq!(claimed, (Some(0), 0));
    }

    /// A new shard's lists are all zero bytes (a `static` arena then lands in `.bss`;
    /// found by review: 40 bytes that were not zero put a whole arena in the flash
    /// image), and still hold every index, in order, then nothing; and a shard that
    /// starts elsewhere, or empty, works the same.
    #[test]
    fn a_new_shard_is_zero_bytes_and_holds_every_index() {
        let lists = IndexLists::<8>::new_range(0, 8);
        assert_eq!(lists.free.head.load(Ordering::Relaxed), 0);
        assert_eq!(lists.ended.0.head.load(Ordering::Relaxed), 0);
        for list in [&lists.free.next, &lists.ended.0.next] {
            assert!(list.iter().all(|l| l.load(Ordering::Relaxed) == 0));
        }
        let claimed: std::vec::Vec<u16> = core::iter::from_fn(|| lists.claim()).collect();
        assert_eq!(claimed, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!((lists.free_len(), lists.ended_len()), (0, 0));
        let tail = IndexLists::<8>::new_range(5, 8);
        let claimed: std::vec::Vec<u16> = core::iter::from_fn(|| tail.claim()).collect();
        assert_eq!(claimed, [5, 6, 7]);
        let none = IndexLists::<8>::new_range(0, 0);
        assert_eq!((none.claim(), none.free_len()), (None, 0));
        // Published, taken and given back as before.
        for i in [7, 3] {
            assert_eq!(lists.publish(i), usize::from(i == 3) + 1);
        }
        let mut out = heapless::Vec::new();
        lists.take_ended(&mut out);
        assert_eq!(out.as_slice(), [3, 7]);
        lists.release_all(&out);
        assert_eq!(lists.free_len(), 2);
        assert_eq!(
            (lists.claim(), lists.claim(), lists.claim()),
            (Some(3), Some(7), None)
        );
    }

    /// Free counts read while a refill moves 31 slots from shard 0 (read first, 128
    /// free) to shard 1 (read after, 31) add up to more than the pool: nothing in use,
    /// not an underflow (a panic in debug builds, 2^64 - 31 in release).
    #[test]
    fn in_use_read_during_a_refill_does_not_underflow() {
        assert_eq!(in_use_of(128, [128, 31].into_iter()), 0);
        assert_eq!(in_use_of(128, [90, 31].into_iter()), 7);
    }

    /// Regression: shard `s` of `k` started with slots `s, s + k, s + 2k, ...`, so the
    /// `claims` counters of two threads' slots sat on one cache line and every claim on
    /// one thread invalidated the other's (a probe of claim + release on two threads,
    /// Intel VM: 0.55-0.69x of one thread; with blocks 1.77-2.00x). Each shard now
    /// starts with one contiguous block.
    #[test]
    fn each_shard_starts_with_one_contiguous_block_of_slots() {
        extern crate std;
        use std::vec::Vec;
        let pool: std::boxed::Box<SlotPool<Slot<1, 1, 1, 8>, 512>> =
            std::boxed::Box::new(SlotPool::new());
        let active = active_shards(512);
        assert!(active > 1 || SHARDS == 1);
        let mut next_start = 0;
        for shard in &pool.shards[..active] {
            let mut indices = Vec::new();
            while let Some(i) = shard.lists.claim() {
                indices.push(usize::from(i));
            }
            let block: Vec<usize> = (next_start..next_start + 512 / active).collect();
            assert_eq!(indices, block);
            next_start += indices.len();
        }
        assert_eq!(next_start, 512);
        assert!(pool.shards[active..]
            .iter()
            .all(|s| s.lists.free_len() == 0));
    }

    /// Regression: a thread whose shard ran dry took one slot at a time from a shared
    /// "steal" shard, and the slot went back to its old shard; two such threads fought
    /// over that shard on every span. Now refills move slots for good.
    ///
    /// Every claim is made from one call site. A thread's shard comes from the 2 MiB
    /// granule of the frame that claims ([`shard_hint`]); with the claims collected
    /// into a `Vec`, the first came from a deeper frame than the rest (collect takes
    /// the first element apart), and a granule boundary between the two frames put it
    /// on another shard: correct (any shard is), but 511 of 512 here, about once in
    /// 180 runs.
    /// A span ended on another thread writes `ended` while the claiming thread pops
    /// `free`: they must not share a cache line (with one `next` array for both, a span
    /// started on one thread and ended on another took 380 ns instead of 260).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_ended_list_is_on_cache_lines_of_its_own() {
        extern crate std;
        let lists: std::boxed::Box<IndexLists<2048>> = std::boxed::Box::new(IndexLists::new());
        let lines = |start: *const u8, len: usize| {
            let first = start as usize / 128;
            first..=(start as usize + len - 1) / 128
        };
        let ended = lines(
            core::ptr::addr_of!(lists.ended).cast(),
            core::mem::size_of_val(&lists.ended),
        );
        let free_head = lines(core::ptr::addr_of!(lists.free.head).cast(), 8);
        let free_next = lines(
            core::ptr::addr_of!(lists.free.next).cast(),
            core::mem::size_of_val(&lists.free.next),
        );
        for free in [free_head, free_next] {
            assert!(
                free.end() < ended.start() || ended.end() < free.start(),
                "{free:?} and {ended:?} share a line"
            );
        }
    }

    #[test]
    fn a_claim_leaves_the_free_slots_of_a_shard_another_thread_claims_from() {
        extern crate std;
        use std::vec::Vec;
        // Two shards of 64: shard 0 for thread 7, shard 1 for thread 9.
        let pool: std::boxed::Box<SlotPool<Slot<1, 1, 1, 8>, 128>> =
            std::boxed::Box::new(SlotPool::new());
        assert_eq!(SlotPool::<Slot<1, 1, 1, 8>, 128>::SHARD_COUNT, 2);
        let nine = pool.claim_from(1, 9, Steal::Spare).expect("a free slot");
        assert!(nine.index() >= 64);
        nine.release();
        let mut seven: Vec<SlotRef<'_>> = Vec::new();
        while let Some(slot) = pool.claim_from(0, 7, Steal::Spare) {
            seven.push(slot);
        }
        assert_eq!(seven.len(), 64, "thread 7 keeps to its own shard");
        assert!(seven.iter().all(|s| s.index() < 64));
        assert_eq!(pool.shards[1].lists.free_len(), 64);
        let any = pool
            .claim_from(0, 7, Steal::Any)
            .expect("a slot of shard 1");
        assert!(any.index() >= 64);
        // `Any` moved one refill's worth to thread 7's shard.
        assert_eq!(pool.shards[1].lists.free_len(), 64 - REFILL);
        drop(any);
        for slot in seven.drain(..) {
            slot.release();
        }
        // Thread 9 claims no more: after `STALE_DRAINS` drains, its shard is spare.
        for _ in 0..STALE_DRAINS {
            pool.drain(64, |_| {});
        }
        while let Some(slot) = pool.claim_from(0, 7, Steal::Spare) {
            seven.push(slot);
        }
        assert_eq!(seven.len(), 64 + REFILL, "shard 1 is not spare yet");
        for slot in seven.drain(..) {
            slot.release();
        }
        pool.drain(64, |_| {});
        while let Some(slot) = pool.claim_from(0, 7, Steal::Spare) {
            seven.push(slot);
        }
        assert_eq!(seven.len(), 128);
    }

    #[test]
    fn slots_gather_on_the_shard_that_claims_them() {
        extern crate std;
        use std::vec::Vec;
        let pool: std::boxed::Box<SlotPool<Slot<1, 1, 1, 8>, 512>> =
            std::boxed::Box::new(SlotPool::new());
        let mut held: Vec<SlotRef<'_>> = Vec::with_capacity(512);
        while let Some(slot) = pool.claim() {
            held.push(slot);
        }
        assert_eq!(held.len(), 512);
        for slot in held {
            slot.publish();
        }
        pool.drain(64, |_| {});
        let most = pool.shards.iter().map(|s| s.lists.free_len()).max();
        assert_eq!(most, Some(512), "every slot on the claiming thread's shard");
        let again: Vec<SlotRef<'_>> = core::iter::from_fn(|| pool.claim()).collect();
        assert_eq!(again.len(), 512);
    }

    #[test]
    fn taking_free_indices_takes_at_most_the_room_given() {
        let lists = IndexLists::<5>::new();
        let mut taken = heapless::Vec::<u16, 3>::new();
        lists.take_free(&mut taken);
        assert_eq!(taken.as_slice(), &[0, 1, 2]);
        assert_eq!(lists.free_len(), 2);
        lists.take_free(&mut taken);
        assert_eq!(taken.as_slice(), &[3, 4]);
        lists.take_free(&mut taken);
        assert!(taken.is_empty());
        lists.release_all(&[4, 0]);
        assert_eq!(
            (lists.free_len(), lists.claim(), lists.claim()),
            (2, Some(4), Some(0))
        );
    }

    /// Regression: claim counts were 32-bit, so a slot's 2^32-th claim had the number
    /// (and so the span and trace ids) of its first.
    #[test]
    fn a_slot_claimed_2_pow_32_times_gets_a_new_number() {
        let pool: SlotPool<Slot<1, 1, 1, 8>, 1> = SlotPool::new();
        let first = pool.claim().unwrap();
        assert_eq!(first.generation(), 1);
        drop(first);
        pool.claims.set(0, u64::from(u32::MAX));
        let wrapped = pool.claim().unwrap();
        assert_eq!(wrapped.generation(), 1 << 32);
        assert_eq!(pool.claims(), 1 << 32);
    }

    #[test]
    fn try_lock_refuses_a_second_holder_and_unlocks_after() {
        let lock = TryLock::new(1);
        let inner = lock.try_with(|v| {
            *v += 1;
            lock.try_with(|v| *v += 10)
        });
        assert_eq!(inner, Some(None));
        assert_eq!(lock.try_with(|v| *v), Some(2));
    }
}
