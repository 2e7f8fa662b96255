//! The picotrace spans behind live `tracing` spans, kept by `tracing` span id in a
//! table allocated once per layer: the registry's extensions box every value put in
//! them, which was the layer's one heap allocation per span.
//!
//! Each id hashes to a bucket of [`WAYS`] entries behind its own mutex, and is kept in
//! the first of [`PROBES`] buckets from there with a free entry; a span all of whose
//! buckets are full goes to the registry's extensions instead (see the layer), so the
//! table's size bounds nothing but the allocation-free case. (With one bucket per id, a
//! few spans in a hundred found it full at a thousand live spans, and each of those was
//! boxed; a window of four buckets makes that about one in a million.)

use std::cell::Cell;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use picotrace::{Span, Timestamp};

/// Entries per bucket.
const WAYS: usize = 4;

/// Buckets an id may be kept in: its own and the next ones.
const PROBES: usize = 4;

/// How often a call made from user code under another bucket's lock tries a bucket
/// before it gives up (spinning first, then yielding).
const NESTED_TRIES: u32 = 1_000;

thread_local! {
    /// The bucket whose lock this thread holds while user code runs inside
    /// [`SpanTable::with`] (its address), or 0.
    ///
    /// That code (a child's start, which runs the sampler and, when the arena is full,
    /// the exporter; fields are read before any bucket is locked, see `captured`) may
    /// call into `tracing` again, and under a global subscriber nothing stops it
    /// from reaching this table: locking the same bucket again would deadlock, and
    /// waiting for another one could deadlock with a thread doing the same the other
    /// way round. Such nested calls skip the bucket this thread holds and never wait
    /// long for another: what they cannot reach is treated as not in the table (an
    /// event is dropped, a span parented as if its parent were unknown, a new span kept
    /// in the registry's extensions).
    static HELD: Cell<usize> = const { Cell::new(0) };
}

/// [`HELD`] while user code runs under a span's registry extensions lock (the span the
/// table had no room for): a mark no bucket's address can be.
const EXTENSIONS: usize = 1;

/// Runs `f`, which locks a span's registry extensions and runs user code under that
/// lock, unless this thread is already inside such a call: the registry's lock is not
/// reentrant, so a nested call (user code that traces, under a global subscriber)
/// would wait for its own thread. It is refused instead, as nested calls are for the
/// bucket a thread holds.
pub(super) fn in_extensions<R>(f: impl FnOnce() -> Option<R>) -> Option<R> {
    if HELD.with(Cell::get) == EXTENSIONS {
        return None;
    }
    let _restore = Holding(HELD.with(|held| held.replace(EXTENSIONS)));
    f()
}

/// Restores the thread's [`HELD`] mark when user code returns or unwinds.
struct Holding(usize);

impl Drop for Holding {
    #[inline]
    fn drop(&mut self) {
        HELD.with(|held| held.set(self.0));
    }
}

/// A live span: its `tracing` id, the picotrace span, and (when the layer tracks
/// inactivity) its busy and idle time so far.
type Entry = Option<(u64, Span<'static>, Timings)>;

/// How long a span has been entered (busy) and not entered (idle), as
/// `tracing-opentelemetry`'s `busy_ns` and `idle_ns` count it: from its creation, idle
/// until its first enter, busy while entered at least once (nested or concurrent enters
/// count once), idle between its last exit and its next enter. Time after its last
/// exit counts nowhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Timings {
    /// Nanoseconds entered.
    pub(super) busy: u64,
    /// Nanoseconds not entered, between creation and the last exit.
    pub(super) idle: u64,
    /// When `busy` or `idle` last grew (Unix nanoseconds; 0: not tracked).
    last: u64,
    /// Enters not yet exited.
    entered: u32,
}

impl Timings {
    /// Timings of a span created at `now` (Unix nanoseconds).
    pub(super) fn started(now: u64) -> Self {
        Self {
            last: now,
            ..Self::default()
        }
    }

    /// The span was entered at `now`: time since its last change was idle, unless it
    /// was already entered (on another thread, or nested).
    pub(super) fn enter(&mut self, now: u64) {
        if self.last == 0 {
            return;
        }
        if self.entered == 0 {
            self.idle += now.saturating_sub(self.last);
            self.last = now.max(self.last);
        }
        self.entered = self.entered.saturating_add(1);
    }

    /// The span was exited at `now`: time since its first enter was busy, once every
    /// enter is exited.
    pub(super) fn exit(&mut self, now: u64) {
        if self.last == 0 || self.entered == 0 {
            return;
        }
        self.entered -= 1;
        if self.entered == 0 {
            self.busy += now.saturating_sub(self.last);
            self.last = now.max(self.last);
        }
    }

    /// Whether the span's time is tracked (the layer tracked it from its creation).
    pub(super) fn is_tracked(&self) -> bool {
        self.last != 0
    }
}

/// [`WAYS`] entries behind one lock, with each entry's id and last exit readable
/// without it.
struct Bucket {
    entries: Mutex<[Entry; WAYS]>,
    /// Each entry's id (0: free; `tracing` ids are never 0), stored under the lock
    /// when the entry is filled or emptied.
    ids: [AtomicU64; WAYS],
    /// When each entry's span was last exited (Unix nanoseconds, 0: never), stored
    /// without the lock by the exiting thread ([`SpanTable::exited`]): every exit
    /// happens before the span closes (the exiting thread still holds a handle, and
    /// the registry closes a span when its last handle goes, through an
    /// acquire/release count), so an exit never writes into an entry emptied or
    /// reused since; `remove` reads it under the lock, after the close.
    exits: [AtomicU64; WAYS],
    /// Entries whose span was closed by a call that could not lock the bucket (a call
    /// nested in user code that runs under this bucket's lock, or that gave up waiting
    /// for it), one bit each: whoever holds the bucket ends them as it lets the bucket
    /// go ([`SpanTable::settle`]).
    closing: AtomicU8,
    /// Entries whose span records, one bit each, stored under the lock when the entry
    /// is filled, written through or emptied: an event asks before it reads its fields
    /// without taking the lock ([`SpanTable::recording`]).
    recording: AtomicU8,
}

impl Bucket {
    fn new() -> Self {
        Self {
            entries: Mutex::new([const { None }; WAYS]),
            ids: [const { AtomicU64::new(0) }; WAYS],
            exits: [const { AtomicU64::new(0) }; WAYS],
            closing: AtomicU8::new(0),
            recording: AtomicU8::new(0),
        }
    }
}

/// Live spans by `tracing` id.
pub(super) struct SpanTable {
    buckets: Box<[Bucket]>,
    /// Set once a span found its buckets full and went to the registry's extensions:
    /// until then, a span not in the table has no picotrace span at all, told without
    /// taking its extensions' lock (which another layer may hold on this thread).
    overflowed: AtomicBool,
}

impl SpanTable {
    /// A table with room for about `spans` live spans (twice that many entries, so
    /// that a bucket rarely fills).
    pub(super) fn new(spans: usize) -> Self {
        Self::with_buckets((spans.max(1) * 2).div_ceil(WAYS).next_power_of_two())
    }

    fn with_buckets(buckets: usize) -> Self {
        Self {
            buckets: (0..buckets).map(|_| Bucket::new()).collect(),
            overflowed: AtomicBool::new(false),
        }
    }

    /// Notes that a span of this table is kept in the registry's extensions.
    pub(super) fn overflowed(&self) {
        self.overflowed.store(true, Ordering::Relaxed);
    }

    /// Whether span `id` may have a picotrace span: in the table, read without a lock,
    /// or in the registry's extensions once any span went there.
    pub(super) fn may_back(&self, id: u64) -> bool {
        self.recording(id).is_some() || self.overflowed.load(Ordering::Relaxed)
    }

    /// An empty table as large as this one.
    pub(super) fn empty_like(&self) -> Self {
        Self::with_buckets(self.buckets.len())
    }

    /// Tells this table from every other live one (its buckets' address).
    #[inline]
    pub(super) fn key(&self) -> usize {
        self.buckets.as_ptr() as usize
    }

    /// The buckets `id` may be kept in, its own first. sharded-slab ids differ in their
    /// slot (low bits), thread shard (bits 37 and up) and generation (51 and up): mixed
    /// by a multiplication, whose top bits depend on every bit of `id`, the top bits
    /// pick the bucket (Fibonacci hashing).
    #[inline]
    fn buckets_of(&self, id: u64) -> impl Iterator<Item = &Bucket> {
        let mixed = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // The bucket count is a power of two; one bucket takes no bits.
        let first = mixed
            .checked_shr(64 - self.buckets.len().trailing_zeros())
            .unwrap_or(0) as usize;
        let mask = self.buckets.len() - 1;
        // A table of fewer buckets than probes visits each once.
        (0..PROBES.min(self.buckets.len())).map(move |i| &self.buckets[(first + i) & mask])
    }

    /// The index of the bucket `id` is kept in when that has room.
    #[cfg(test)]
    pub(super) fn home(&self, id: u64) -> usize {
        let first = self.buckets_of(id).next().map(core::ptr::from_ref);
        self.buckets
            .iter()
            .position(|b| Some(core::ptr::from_ref(b)) == first)
            .unwrap_or(0)
    }

    /// Locks `bucket`; `None` only for a call nested in user code (see [`HELD`]) that
    /// cannot have it. Letting it go ends the spans closed meanwhile.
    #[inline]
    fn lock(bucket: &Bucket) -> Option<Locked<'_>> {
        Some(Locked {
            entries: Some(Self::lock_entries(bucket)?),
            bucket,
        })
    }

    #[inline]
    fn lock_entries(bucket: &Bucket) -> Option<MutexGuard<'_, [Entry; WAYS]>> {
        let bucket = &bucket.entries;
        let held = HELD.with(Cell::get);
        if held == 0 {
            // A poisoned bucket only means a panic while it was held: its entries are
            // whole.
            return Some(
                bucket
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            );
        }
        if held == core::ptr::from_ref(bucket) as usize {
            return None;
        }
        for attempt in 0..NESTED_TRIES {
            match bucket.try_lock() {
                Ok(guard) => return Some(guard),
                Err(TryLockError::Poisoned(poisoned)) => return Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) if attempt < 64 => core::hint::spin_loop(),
                Err(TryLockError::WouldBlock) => std::thread::yield_now(),
            }
        }
        None
    }

    /// Keeps `span` under `id`, with its `timings`; gives it back when its buckets are
    /// full.
    pub(super) fn insert(
        &self,
        id: u64,
        span: Span<'static>,
        timings: Timings,
    ) -> Result<(), Span<'static>> {
        for bucket in self.buckets_of(id) {
            let Some(mut entries) = Self::lock(bucket) else {
                continue;
            };
            if let Some(i) = entries.iter().position(Option::is_none) {
                Self::mark_recording(bucket, i, span.is_recording());
                entries[i] = Some((id, span, timings));
                bucket.exits[i].store(0, Ordering::Relaxed);
                bucket.ids[i].store(id, Ordering::Release);
                return Ok(());
            }
        }
        Err(span)
    }

    /// Runs `f` on the span kept under `id`; `None` when there is none (then `f` has
    /// not run). The bucket stays locked while `f` runs; calls `f` makes into the table
    /// (through `tracing`) do not wait for it (see [`HELD`]).
    #[inline]
    pub(super) fn with<R>(&self, id: u64, f: impl FnOnce(&mut Span<'static>) -> R) -> Option<R> {
        self.with_timed(id, |span, _| f(span))
    }

    /// [`SpanTable::with`], with the span's [`Timings`] too.
    pub(super) fn with_timed<R>(
        &self,
        id: u64,
        f: impl FnOnce(&mut Span<'static>, &mut Timings) -> R,
    ) -> Option<R> {
        for bucket in self.buckets_of(id) {
            let Some(mut entries) = Self::lock(bucket) else {
                continue;
            };
            let found = entries
                .iter_mut()
                .enumerate()
                .find_map(|(i, e)| e.as_mut().filter(|(key, ..)| *key == id).map(|e| (i, e)));
            if let Some((i, (_, span, timings))) = found {
                let _restore = Holding(
                    HELD.with(|held| held.replace(core::ptr::from_ref(&bucket.entries) as usize)),
                );
                let result = f(span, timings);
                // `f` may have made it record (`set_parent` under a sampled caller).
                Self::mark_recording(bucket, i, span.is_recording());
                return Some(result);
            }
        }
        None
    }

    /// Runs `f` on the span kept under `id`, or hands `f` to `elsewhere` (the registry's
    /// extensions) when the table has none.
    pub(super) fn with_or<F, R>(
        &self,
        id: u64,
        f: F,
        elsewhere: impl FnOnce(F) -> Option<R>,
    ) -> Option<R>
    where
        F: FnOnce(&mut Span<'static>) -> R,
    {
        let mut f = Some(f);
        if let Some(found) = self.with(id, |s| f.take().map(|f| f(s))).flatten() {
            return Some(found);
        }
        f.and_then(elsewhere)
    }

    /// Whether the span kept under `id` records, read without taking the lock; `None`
    /// when the table has no such span. (An event's span cannot close meanwhile: the
    /// event's caller holds it.)
    #[inline]
    pub(super) fn recording(&self, id: u64) -> Option<bool> {
        for bucket in self.buckets_of(id) {
            if let Some(i) = bucket
                .ids
                .iter()
                .position(|key| key.load(Ordering::Acquire) == id)
            {
                return Some(bucket.recording.load(Ordering::Relaxed) & (1 << i) != 0);
            }
        }
        None
    }

    /// Sets or clears entry `i`'s bit of [`Bucket::recording`]. Only under the bucket's
    /// lock, so no other write races this one: a load and a store (no read-modify-write),
    /// and no store when the bit is right already.
    #[inline]
    fn mark_recording(bucket: &Bucket, i: usize, recording: bool) {
        let bits = bucket.recording.load(Ordering::Relaxed);
        let new = if recording {
            bits | (1 << i)
        } else {
            bits & !(1 << i)
        };
        if new != bits {
            bucket.recording.store(new, Ordering::Relaxed);
        }
    }

    /// Records that the span kept under `id` was exited at `time`, without taking a
    /// lock (see [`Bucket::exits`]); `false` when the table has no such span.
    pub(super) fn exited(&self, id: u64, time: Timestamp) -> bool {
        for bucket in self.buckets_of(id) {
            if let Some(i) = bucket
                .ids
                .iter()
                .position(|key| key.load(Ordering::Acquire) == id)
            {
                // The latest exit wins, whichever thread stores last (two threads may
                // exit the same span at once); an exit that unwound is remembered.
                let nanos = time.as_unix_nanos();
                let _ = bucket.exits[i].fetch_update(Ordering::Release, Ordering::Relaxed, |old| {
                    Some(later_exit(old, nanos.max(2 | (nanos & 1))))
                });
                return true;
            }
        }
        false
    }

    /// Takes the span kept under `id` out of the table, with the time it was last
    /// exited and its timings. A span whose bucket this call cannot lock (a call nested
    /// in user code, see [`HELD`]) is marked closed, and ended by the bucket's holder
    /// when it lets the bucket go.
    pub(super) fn remove(&self, id: u64) -> Removed {
        for bucket in self.buckets_of(id) {
            let Some(mut entries) = Self::lock(bucket) else {
                let kept_here = bucket
                    .ids
                    .iter()
                    .position(|key| key.load(Ordering::Acquire) == id);
                if let Some(i) = kept_here {
                    // Only this close removes the entry: it is still `id`'s.
                    bucket.closing.fetch_or(1 << i, Ordering::SeqCst);
                    Self::settle(bucket);
                    return Removed::Deferred;
                }
                continue;
            };
            let i = entries
                .iter()
                .position(|e| matches!(e, Some((key, ..)) if *key == id));
            if let Some(closed) = i.and_then(|i| Self::take(bucket, &mut entries, i)) {
                return Removed::Now(closed);
            }
        }
        Removed::Absent
    }

    /// Takes entry `i` of a locked bucket out, with its last exit.
    fn take(bucket: &Bucket, entries: &mut [Entry; WAYS], i: usize) -> Option<Closed> {
        bucket.ids[i].store(0, Ordering::Relaxed);
        Self::mark_recording(bucket, i, false);
        let exited = match bucket.exits[i].load(Ordering::Acquire) {
            0 => None,
            nanos => Some(Timestamp::from_unix_nanos(nanos)),
        };
        entries[i]
            .take()
            .map(|(_, span, timings)| (span, exited, timings))
    }

    /// Ends the spans of `bucket` marked closed, if the bucket is free; when it is not,
    /// its holder does as it lets it go. (A close marks, then tries the lock; a holder
    /// unlocks, then reads the marks: one of the two sees the other.)
    #[inline]
    fn settle(bucket: &Bucket) {
        fence(Ordering::SeqCst);
        if bucket.closing.load(Ordering::SeqCst) != 0 {
            Self::settle_marked(bucket);
        }
    }

    /// [`SpanTable::settle`] once marks were seen: takes and ends them until none are
    /// left or the bucket is held again.
    #[cold]
    #[inline(never)]
    fn settle_marked(bucket: &Bucket) {
        loop {
            let mut entries = match bucket.entries.try_lock() {
                Ok(entries) => entries,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
            let marked = bucket.closing.swap(0, Ordering::SeqCst);
            let mut closed: [Option<Closed>; WAYS] = [const { None }; WAYS];
            for (i, slot) in closed.iter_mut().enumerate() {
                if marked & (1 << i) != 0 {
                    *slot = Self::take(bucket, &mut entries, i);
                }
            }
            drop(entries);
            // Outside the lock: ending may export, and an exporter may trace.
            closed.into_iter().flatten().for_each(finish);
            fence(Ordering::SeqCst);
            if bucket.closing.load(Ordering::SeqCst) == 0 {
                return;
            }
        }
    }
}

/// A span taken out of the table: the span, its last exit, its timings.
pub(super) type Closed = (Span<'static>, Option<Timestamp>, Timings);

/// What [`SpanTable::remove`] found.
pub(super) enum Removed {
    /// The span, taken out: the caller ends it ([`finish`]).
    Now(Closed),
    /// The span's bucket is held (by user code up this thread's stack, or by another
    /// thread): its holder ends it.
    Deferred,
    /// The table does not have it.
    Absent,
}

/// An exit's time as the table keeps it: `now` with its lowest bit saying whether the
/// thread was unwinding from a panic (1 ns of precision for it; the latest exit wins
/// either way).
#[inline]
pub(super) fn exit_time(now: Timestamp, unwinding: bool) -> Timestamp {
    Timestamp::from_unix_nanos(now.as_unix_nanos() & !1 | u64::from(unwinding))
}

/// The later of two exit times (as [`exit_time`] marks them), marked unwound when
/// either is: an exit a panic unwound stays known though the span is exited again
/// after the panic was caught (`Instrumented`'s drop enters and exits its span; found
/// by review: the mark was lost, and a task whose poll panicked exported a success).
pub(super) fn later_exit(old: u64, new: u64) -> u64 {
    (old.max(new) & !1) | ((old | new) & 1)
}

/// Ends a span taken out of the table: with its busy and idle time when tracked, at
/// its last exit (now, if it was never entered). A span whose last exit was not during
/// a panic is not marked `panicked` when it closes while its thread unwinds (found by
/// review: a request span held open by a spawned task's span was closed by that task's
/// panic, and exported as failed, though its work had finished); one a panic unwound
/// is, though it closes after the panic was caught.
#[inline]
pub(super) fn finish((mut span, exited, timings): Closed) {
    if timings.is_tracked() && span.is_recording() {
        span.set_attribute("busy_ns", i64::try_from(timings.busy).unwrap_or(i64::MAX));
        span.set_attribute("idle_ns", i64::try_from(timings.idle).unwrap_or(i64::MAX));
    }
    // Whether an exit unwound (see `later_exit`).
    let exit_unwound = exited.map(|time| time.as_unix_nanos() & 1 == 1);
    match (exit_unwound, std::thread::panicking()) {
        (Some(false), true) => span.finished_before_any_panic(),
        // Its last exit unwound, and the panic was caught before the span closed
        // (`catch_unwind`, tower-http's `CatchPanicLayer` around an instrumented
        // handler): cut short all the same (found by review: exported as a success,
        // where `InSpan` marks it).
        (Some(true), false) => span.cut_short_by_a_panic(),
        _ => {}
    }
    match exited {
        // An exit before the record's start: `set_parent` gave a sampled-out span its
        // record after its last exit. Ended at that exit it would last 0 ns.
        Some(time) if span.start_time().is_none_or(|start| time >= start) => span.end_at(time),
        _ => span.end(),
    }
}

/// A locked bucket; letting it go ends the spans closed while it was held.
struct Locked<'b> {
    entries: Option<MutexGuard<'b, [Entry; WAYS]>>,
    bucket: &'b Bucket,
}

impl core::ops::Deref for Locked<'_> {
    type Target = [Entry; WAYS];
    #[inline]
    fn deref(&self) -> &Self::Target {
        self.entries.as_deref().expect("held until dropped")
    }
}

impl core::ops::DerefMut for Locked<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.entries.as_deref_mut().expect("held until dropped")
    }
}

impl Drop for Locked<'_> {
    #[inline]
    fn drop(&mut self) {
        drop(self.entries.take());
        SpanTable::settle(self.bucket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picotrace::TracerConfig;

    #[test]
    fn keeps_finds_and_gives_back_spans_and_refuses_a_full_bucket() {
        let provider = crate::TracerProvider::builder()
            .config(TracerConfig::new("svc"))
            .exporter(crate::SharedExporter::discard())
            .build();
        let tracer = provider.tracer();
        // One bucket: every id lands in it.
        let table = SpanTable::new(1);
        assert_eq!(table.buckets.len(), 1);
        for id in 1..=WAYS as u64 {
            assert!(table
                .insert(id, tracer.start_span("s"), Timings::default())
                .is_ok());
        }
        let refused = table.insert(99, tracer.start_span("one too many"), Timings::default());
        assert!(refused.is_err(), "a full bucket gives the span back");
        assert_eq!(table.with(3, |s| s.is_recording()), Some(true));
        assert_eq!(table.with(99, |_| ()), None);
        assert!(matches!(table.remove(3), Removed::Now(_)));
        assert!(matches!(table.remove(3), Removed::Absent), "removed once");
        assert!(table
            .insert(99, tracer.start_span("room again"), Timings::default())
            .is_ok());
        assert!(table.with(99, |_| ()).is_some());
    }

    /// Ids whose own bucket is full are kept in the next ones (they were given back,
    /// and the layer boxed them into the registry's extensions), and found there.
    #[test]
    fn a_full_bucket_overflows_into_the_next_ones() {
        let provider = crate::TracerProvider::builder()
            .config(TracerConfig::new("svc"))
            .exporter(crate::SharedExporter::discard())
            .build();
        let tracer = provider.tracer();
        let table = SpanTable::new(32);
        assert_eq!(table.buckets.len(), 16);
        let home = |id: u64| table.buckets_of(id).next().map(core::ptr::from_ref);
        // Three buckets' worth of ids that share a home bucket.
        let first = home(1);
        let ids: Vec<u64> = (1..)
            .filter(|&id| home(id) == first)
            .take(3 * WAYS)
            .collect();
        for &id in &ids {
            assert!(
                table
                    .insert(id, tracer.start_span("s"), Timings::default())
                    .is_ok(),
                "{id}"
            );
        }
        for &id in &ids {
            assert_eq!(table.with(id, |s| s.is_recording()), Some(true), "{id}");
        }
        // Removed from its home bucket, an id there makes room for another.
        assert!(matches!(table.remove(ids[0]), Removed::Now(_)));
        assert!(table.with(ids[0], |_| ()).is_none());
        assert!(table
            .insert(ids[0], tracer.start_span("back"), Timings::default())
            .is_ok());
        for &id in &ids {
            assert!(matches!(table.remove(id), Removed::Now(_)), "{id}");
        }
    }

    /// A provider whose exporter counts the spans it gets.
    fn counting() -> (
        crate::TracerProvider,
        std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) {
        struct Count(std::sync::Arc<std::sync::atomic::AtomicU64>);
        impl picotrace::SpanExporter for Count {
            fn export(
                &mut self,
                batch: &picotrace::SpanBatch<'_>,
            ) -> Result<(), picotrace::ExportError> {
                self.0.fetch_add(batch.len() as u64, Ordering::SeqCst);
                Ok(())
            }
        }
        let exported = std::sync::Arc::new(AtomicU64::new(0));
        let provider = crate::TracerProvider::builder()
            .config(TracerConfig::new("svc"))
            .exporter(crate::SharedExporter::new(Count(exported.clone())))
            .build();
        (provider, exported)
    }

    /// Two ids of one home bucket, and one of another.
    fn two_homes(table: &SpanTable) -> (u64, u64, u64) {
        let first = table.home(1);
        let same = (2..).find(|&id| table.home(id) == first).unwrap();
        let other = (2..).find(|&id| table.home(id) != first).unwrap();
        (1, same, other)
    }

    /// Regression: a span closed by code that runs under its own bucket's lock (the
    /// layer runs a child's start there, which may export when the arena is full, and
    /// a user's exporter may drop a span's last handle) could not be taken out of the
    /// table: it stayed there, never ended, exported or counted. Its close is deferred
    /// to the bucket's holder, which ends it when it lets the bucket go.
    #[test]
    fn a_span_closed_under_its_own_buckets_lock_still_ends() {
        let (provider, exported) = counting();
        let tracer = provider.tracer();
        let table = SpanTable::new(4);
        let (held, closed, _) = two_homes(&table);
        for id in [held, closed] {
            assert!(table
                .insert(id, tracer.start_span("s"), Timings::default())
                .is_ok());
        }
        let removed = table.with(held, |_| table.remove(closed)).unwrap();
        assert!(matches!(removed, Removed::Deferred));
        assert!(table.with(closed, |_| ()).is_none(), "out of the table");
        provider.flush().unwrap();
        assert_eq!(
            exported.load(Ordering::SeqCst),
            1,
            "ended as the bucket was let go"
        );
    }

    /// Regression, the same across threads: another thread holds the bucket (runs code
    /// under its lock), and a close made from code under a second bucket's lock, which
    /// gives up waiting for the first, left the span in the table for good. It is
    /// marked closed, and the holder ends it as it lets the bucket go.
    #[test]
    fn a_span_closed_while_another_thread_holds_its_bucket_ends_when_that_thread_lets_go() {
        let (provider, exported) = counting();
        let tracer = provider.tracer();
        let table = SpanTable::new(4);
        let (held, closed, other) = two_homes(&table);
        for id in [held, closed, other] {
            assert!(table
                .insert(id, tracer.start_span("s"), Timings::default())
                .is_ok());
        }
        let (holding_tx, holding_rx) = std::sync::mpsc::sync_channel(0);
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let table = &table;
        std::thread::scope(|s| {
            s.spawn(move || {
                table.with(held, |_| {
                    holding_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                })
            });
            holding_rx.recv().unwrap();
            let removed = table.with(other, |_| table.remove(closed)).unwrap();
            assert!(matches!(removed, Removed::Deferred));
            provider.flush().unwrap();
            assert_eq!(exported.load(Ordering::SeqCst), 0, "not while it is held");
            release_tx.send(()).unwrap();
        });
        provider.flush().unwrap();
        assert_eq!(
            exported.load(Ordering::SeqCst),
            1,
            "ended when it was let go"
        );
        assert!(table.with(closed, |_| ()).is_none());
    }

    /// Busy from the first enter to the last exit of overlapping enters, idle before
    /// and between; untracked timings stay zero; an exit without an enter is ignored.
    #[test]
    fn timings_count_overlapping_enters_once() {
        let mut t = Timings::started(100);
        t.exit(105); // no enter yet: ignored
        t.enter(110);
        t.enter(120);
        t.exit(130);
        assert_eq!((t.busy, t.idle), (0, 10), "still entered once");
        t.exit(150);
        t.enter(175);
        t.exit(180);
        assert_eq!((t.busy, t.idle), (40 + 5, 10 + 25));
        assert!(t.is_tracked());
        let mut untracked = Timings::default();
        untracked.enter(10);
        untracked.exit(20);
        assert_eq!(untracked, Timings::default());
        assert!(!untracked.is_tracked());
    }

    /// Regression: the bucket came from bits 32 and up of `id * K`, which no bit of `id`
    /// above the bucket bits reaches, so sharded-slab ids that differ only in their
    /// thread shard (bits 37 and up) or generation (51 and up) all shared one home
    /// bucket: the first live span of every thread, and every reuse of a slot, met in
    /// the same four buckets and overflowed into the registry's boxed extensions.
    #[test]
    fn ids_that_differ_only_in_their_high_bits_spread_over_the_buckets() {
        let table = SpanTable::new(256);
        assert_eq!(table.buckets.len(), 128);
        for shift in [37, 51] {
            let homes: std::collections::HashSet<usize> = (0..64u64)
                .map(|high| table.home((high << shift) | 1))
                .collect();
            assert!(
                homes.len() >= 32,
                "bits from {shift}: {} buckets",
                homes.len()
            );
        }
    }
}
