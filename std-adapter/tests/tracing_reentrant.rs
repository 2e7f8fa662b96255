//! The `tracing` layer when instrumentation runs inside instrumentation: a field's
//! `Debug` or `Display` that itself emits events or makes spans, under a *global*
//! subscriber (a scoped one is guarded by `tracing` itself: nested calls see no
//! subscriber). The layer reads fields before it locks the span they go to, so the
//! nested calls find their spans; where it still runs code under a lock of its span
//! table, a nested call into the same lock must not deadlock.
//!
//! Its own test binary: the global default can be set once per process.
#![cfg(feature = "tracing")]

mod reentrant;

use std::fmt;

use picotrace::TracerConfig;
use picotrace_std::tracing_layer::TracingLayer;
use picotrace_std::{SharedExporter, TracerProvider};
use reentrant::{finishes_within, Names};
use tracing_subscriber::layer::SubscriberExt as _;

/// A value whose `Debug` logs, as a value that traces its own formatting might.
struct Chatty;

impl fmt::Debug for Chatty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        tracing::info!("formatting chatty");
        let inner = tracing::info_span!("inside debug");
        let _in = inner.enter();
        f.write_str("chatty")
    }
}

#[test]
fn a_field_whose_debug_emits_events_and_spans_does_not_deadlock() {
    let names = Names::default();
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("reentrant"))
        .exporter(SharedExporter::new(names.clone()))
        .build();
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new(provider.tracer()));
    tracing::subscriber::set_global_default(subscriber).expect("first global default");

    finishes_within(10, || {
        let outer = tracing::info_span!("outer", value = ?Chatty, later = tracing::field::Empty);
        let _in = outer.enter();
        // The event's field is formatted while the layer writes the event into `outer`.
        tracing::info!(value = ?Chatty, "with a chatty field");
        outer.record("later", tracing::field::debug(Chatty));
        drop(_in);
        drop(outer);
    });

    provider.flush().expect("flush");
    let outer = names.named("outer");
    // The events the field's `Debug` logged while `outer` was current are its events
    // (they were dropped when fields were formatted under the span's lock).
    assert_eq!(
        outer.1,
        [
            "formatting chatty",
            "with a chatty field",
            "formatting chatty"
        ],
        "{outer:?}"
    );
    let seen = names.0.lock().unwrap().clone();
    // Each of the three formattings made a span of its own, which ended and was
    // exported: the first before `outer` was entered (a root), the others inside it
    // (they started new traces when fields were formatted under its lock).
    let parents: Vec<_> = seen
        .iter()
        .filter(|(n, ..)| n == "inside debug")
        .map(|(.., parent)| *parent)
        .collect();
    assert_eq!(parents, [None, Some(outer.2), Some(outer.2)], "{seen:?}");
    provider.shutdown().expect("shutdown");
}
