//! The picotrace spans behind live `tracing` spans, kept by `tracing` span id in a
//! table allocated once per layer: the registry's extensions box every value put in
//! them, which was the layer's one heap allocation per span.
//!
//! Each id hashes to a bucket of [`WAYS`] entries behind its own mutex; a span whose
//! bucket is full goes to the registry's extensions instead (see the layer), so the
//! table's size bounds nothing but the allocation-free case.

use std::sync::Mutex;

use picotrace::Span;

/// Entries per bucket.
const WAYS: usize = 4;

type Entry = Option<(u64, Span<'static>)>;

/// Live spans by `tracing` id.
pub(super) struct SpanTable {
    buckets: Box<[Mutex<[Entry; WAYS]>]>,
}

impl SpanTable {
    /// A table with room for about `spans` live spans (twice that many entries, so
    /// that a bucket rarely fills).
    pub(super) fn new(spans: usize) -> Self {
        Self::with_buckets((spans.max(1) * 2).div_ceil(WAYS).next_power_of_two())
    }

    fn with_buckets(buckets: usize) -> Self {
        Self {
            buckets: (0..buckets)
                .map(|_| Mutex::new([const { None }; WAYS]))
                .collect(),
        }
    }

    /// An empty table as large as this one.
    pub(super) fn empty_like(&self) -> Self {
        Self::with_buckets(self.buckets.len())
    }

    /// Tells this table from every other live one (its buckets' address).
    pub(super) fn key(&self) -> usize {
        self.buckets.as_ptr() as usize
    }

    /// The bucket of `id` (sharded-slab ids differ in their low bits and generation:
    /// mixed by a multiplication, the top bits pick the bucket).
    fn bucket(&self, id: u64) -> std::sync::MutexGuard<'_, [Entry; WAYS]> {
        let mixed = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let index = (mixed >> 32) as usize & (self.buckets.len() - 1);
        // A poisoned bucket only means a panic while it was held: its entries are whole.
        self.buckets[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps `span` under `id`; gives it back when the bucket is full.
    pub(super) fn insert(&self, id: u64, span: Span<'static>) -> Result<(), Span<'static>> {
        let mut bucket = self.bucket(id);
        match bucket.iter_mut().find(|e| e.is_none()) {
            Some(free) => {
                *free = Some((id, span));
                Ok(())
            }
            None => Err(span),
        }
    }

    /// Runs `f` on the span kept under `id`; `None` when there is none (then `f` has
    /// not run). The bucket stays locked while `f` runs: `f` must not use the table.
    pub(super) fn with<R>(&self, id: u64, f: impl FnOnce(&mut Span<'static>) -> R) -> Option<R> {
        let mut bucket = self.bucket(id);
        let (_, span) = bucket.iter_mut().flatten().find(|(key, _)| *key == id)?;
        Some(f(span))
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

    /// Takes the span kept under `id` out of the table.
    pub(super) fn remove(&self, id: u64) -> Option<Span<'static>> {
        let mut bucket = self.bucket(id);
        let entry = bucket
            .iter_mut()
            .find(|e| matches!(e, Some((key, _)) if *key == id))?;
        entry.take().map(|(_, span)| span)
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
            assert!(table.insert(id, tracer.start_span("s")).is_ok());
        }
        let refused = table.insert(99, tracer.start_span("one too many"));
        assert!(refused.is_err(), "a full bucket gives the span back");
        assert_eq!(table.with(3, |s| s.is_recording()), Some(true));
        assert_eq!(table.with(99, |_| ()), None);
        assert!(table.remove(3).is_some());
        assert!(table.remove(3).is_none(), "removed once");
        assert!(table.insert(99, tracer.start_span("room again")).is_ok());
        assert!(table.with(99, |_| ()).is_some());
    }
}
