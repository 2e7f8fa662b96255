//! The `tracing` layer while a thread exits: a thread-local whose destructor traces
//! runs after the layer's own thread-locals are gone (destructors run in the reverse
//! order of first use). A panic there aborts the process, so the layer must not reach
//! its thread-locals with `with`.
//!
//! Its own test binary: the global default can be set once per process.
#![cfg(feature = "tracing")]

mod reentrant;

use picotrace::TracerConfig;
use picotrace_std::tracing_layer::TracingLayer;
use picotrace_std::{SharedExporter, TracerProvider};
use reentrant::{finishes_within, Names};
use tracing_subscriber::layer::SubscriberExt as _;

/// Traces when its thread exits, as a buffer that flushes itself might.
struct FlushesOnExit;

impl Drop for FlushesOnExit {
    fn drop(&mut self) {
        tracing::info_span!("flush at exit").in_scope(|| tracing::info!("flushed"));
    }
}

thread_local! {
    static BUFFER: FlushesOnExit = const { FlushesOnExit };
}

/// Regression: the layer's field buffers and thread attributes were reached with
/// `LocalKey::with`, which panics once they are destroyed: the process aborted.
#[test]
fn a_span_and_event_from_a_thread_local_destructor_are_recorded() {
    let names = Names::default();
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("tls-exit"))
        .exporter(SharedExporter::new(names.clone()))
        .build();
    let layer = TracingLayer::new(provider.tracer()).with_threads(true);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::set_global_default(subscriber).expect("first global default");

    finishes_within(10, || {
        std::thread::spawn(|| {
            // The registry's thread-locals are used first (a span made and entered):
            // they outlive the buffer's destructor, as they do in a thread that traced
            // before it buffered. The layer's field buffers are used first after the
            // buffer, by an event: they are destroyed before its destructor runs.
            tracing::info_span!("warm").in_scope(|| {});
            BUFFER.with(|_| {});
            tracing::info_span!("work").in_scope(|| tracing::info!(answer = 42, "working"));
        })
        .join()
        .expect("the thread exits cleanly");
    });

    provider.flush().expect("flush");
    assert_eq!(names.named("work").1, ["working"]);
    assert_eq!(names.named("flush at exit").1, ["flushed"]);
    provider.shutdown().expect("shutdown");
}
