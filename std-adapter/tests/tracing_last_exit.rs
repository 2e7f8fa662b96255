//! The `tracing` layer ends a span at its last exit, under a *global* subscriber, as
//! servers run it: a request span that spawned a task is that task's span's parent, so
//! `tracing` closes it only when the task ends (the registry closes a parent through
//! the thread's default subscriber, which only a global one provides on tokio's worker
//! threads at that moment).
//!
//! Its own test binary: the global default can be set once per process.
#![cfg(feature = "tracing")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use picotrace::{ExportError, SpanBatch, SpanExporter, SpanId, TracerConfig};
use picotrace_std::tracing_layer::TracingLayer;
use picotrace_std::{SharedExporter, TracerProvider};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// Name, span id, parent, start and end of an exported span.
type Seen = (String, SpanId, Option<SpanId>, u64, u64);

/// Every exported span.
#[derive(Clone, Default)]
struct Times(Arc<Mutex<Vec<Seen>>>);

impl SpanExporter for Times {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        let mut seen = self.0.lock().unwrap();
        for s in batch.iter() {
            seen.push((
                s.name().into(),
                s.span_context().span_id,
                s.parent_span_id(),
                s.start_time().as_unix_nanos(),
                s.end_time().as_unix_nanos(),
            ));
        }
        Ok(())
    }
}

/// Regression: the request span ended when `tracing` closed it, when its spawned
/// task's span closed (200 ms), not when its own future last ran (tracing-opentelemetry
/// ends it there since 0.24, its PR #124).
#[test]
fn a_parent_held_by_a_spawned_task_ends_when_its_own_work_does() {
    let times = Times::default();
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("last-exit"))
        .exporter(SharedExporter::new(times.clone()))
        .build();
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new(provider.tracer()));
    tracing::subscriber::set_global_default(subscriber).expect("first global default");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        // The request's work spawns the task and returns its handle, awaited later.
        #[allow(clippy::async_yields_async)]
        let handle = async {
            tokio::spawn(
                async { tokio::time::sleep(Duration::from_millis(200)).await }
                    .instrument(tracing::info_span!("background")),
            )
        }
        .instrument(tracing::info_span!("request"))
        .await;
        handle.await.unwrap();
    });
    drop(runtime);
    provider.flush().expect("flush");
    let seen = times.0.lock().unwrap().clone();
    let find = |name: &str| {
        seen.iter()
            .find(|s| s.0 == name)
            .cloned()
            .unwrap_or_else(|| panic!("no span {name} in {seen:?}"))
    };
    let (request, background) = (find("request"), find("background"));
    assert_eq!(
        background.2,
        Some(request.1),
        "background is the request's child"
    );
    // The request ended before its task did (found by review: a bound on its duration,
    // timed, stood for this).
    assert!(
        request.4 < background.4,
        "the request ended at {}, its task at {}",
        request.4,
        background.4
    );
    let took = Duration::from_nanos(background.4 - background.3);
    assert!(
        took >= Duration::from_millis(200),
        "the task lasted {took:?}"
    );
}
