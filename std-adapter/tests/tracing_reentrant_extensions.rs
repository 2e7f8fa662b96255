//! As `tracing_reentrant.rs`, for a span the layer's table had no room for, which the
//! registry's extensions keep: the layer runs user code (a field's `Debug`) while it
//! holds that span's extensions lock, and a nested call that reaches the same span
//! (an event logged from inside `Debug`, under a *global* subscriber) must not wait for
//! the lock its own thread holds. It deadlocked.
//!
//! Its own test binary: the global default can be set once per process, and this one
//! needs a sampler of its own.
#![cfg(feature = "tracing")]

mod reentrant;

use std::fmt;

use picotrace::{RootSampler, Sampler, TraceContext, TracerConfig};
use picotrace_std::tracing_layer::{TracingLayer, TracingSpanExt as _};
use picotrace_std::{SharedExporter, TracerProvider};
use reentrant::{finishes_within, Names};
use tracing_subscriber::layer::SubscriberExt as _;

/// A value whose `Debug` logs an event, in the span current where it is formatted.
struct Chatty;

impl fmt::Debug for Chatty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        tracing::info!("formatting chatty");
        f.write_str("chatty")
    }
}

#[test]
fn a_chatty_field_of_a_span_in_the_extensions_does_not_deadlock() {
    let names = Names::default();
    // Roots are dropped (they take no arena slot); a child of a sampled remote parent
    // records. So thousands of live filler roots fill the layer's table (twice the
    // arena's 2,048 entries) without filling the arena.
    let provider = TracerProvider::builder()
        .config(
            TracerConfig::new("reentrant")
                .with_sampler(Sampler::parent_based(RootSampler::AlwaysOff)),
        )
        .exporter(SharedExporter::new(names.clone()))
        .build();
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new(provider.tracer()));
    tracing::subscriber::set_global_default(subscriber).expect("first global default");
    let remote = TraceContext::from_headers(&[(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )])
    .unwrap();

    finishes_within(20, move || {
        let fillers: Vec<_> = (0..12_000).map(|_| tracing::info_span!("filler")).collect();
        let span = tracing::info_span!("chatty", later = tracing::field::Empty);
        span.set_parent(&remote);
        {
            let _in = span.enter();
            // Written into the span while its `Debug` logs into the same span.
            tracing::info!(value = ?Chatty, "with a chatty field");
        }
        span.record("later", tracing::field::debug(Chatty));
        drop(span);
        drop(fillers);
    });

    provider.flush().expect("flush");
    let chatty = names.named("chatty");
    assert!(
        chatty.1.iter().any(|e| e == "with a chatty field"),
        "the outer event is kept: {chatty:?}"
    );
    provider.shutdown().expect("shutdown");
}
