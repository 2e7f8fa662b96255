//! W7: export to a real collector (rotel) over loopback: spans per second through one
//! batch exporter, from the first span started to the flush that returns once the
//! collector has answered for every batch. Both libraries send OTLP/HTTP protobuf to the
//! same collector, with batches of 512 and a queue that holds the whole run (so nothing
//! is dropped and both are measured on the path that keeps every span), W1-shaped spans;
//! one request in flight at a time (both libraries' default), and for picotrace also two.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

use crate::collector::{rotel_binary, Collector};
use crate::harness::{rate, Plan, Summary};
use crate::report::{Better, Report, Row};
use crate::shape::*;

/// Export batch size for both libraries (OpenTelemetry's default).
pub const BATCH: usize = 512;

/// An exporter that counts the spans of every batch its inner exporter sent with
/// success (the collector answered 2xx), so that the opentelemetry row counts what
/// reached the collector, as picotrace's row does (its exporter's `spans_exported`),
/// rather than the spans started.
#[derive(Debug)]
struct Delivered<E> {
    inner: E,
    spans: Arc<AtomicU64>,
}

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for Delivered<E>
{
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        let n = batch.len() as u64;
        let result = self.inner.export(batch).await;
        if result.is_ok() {
            self.spans.fetch_add(n, Ordering::Relaxed);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// opentelemetry-otlp's HTTP exporter (reqwest blocking client, protobuf) behind the
/// SDK's `BatchSpanProcessor`.
fn otel(endpoint: &str, spans: u64, reps: usize) -> Result<(Summary, String), String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .with_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("opentelemetry-otlp exporter: {e}"))?;
    let delivered = Arc::new(AtomicU64::new(0));
    let exporter = Delivered {
        inner: exporter,
        spans: Arc::clone(&delivered),
    };
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(spans as usize + BATCH)
                .with_max_export_batch_size(BATCH)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(SERVICE)
                .build(),
        )
        .build();
    let tracer = provider.tracer("bench");
    // Warm-up: connect, first batch.
    crate::otel::run_w1(&tracer, BATCH as u64);
    provider.force_flush().map_err(|e| format!("flush: {e}"))?;
    let mut failed = None;
    let mut started = 0;
    let before = delivered.load(Ordering::Relaxed);
    let s = rate(reps, || {
        let t = Instant::now();
        let at_start = delivered.load(Ordering::Relaxed);
        crate::otel::run_w1(&tracer, spans);
        if let Err(e) = provider.force_flush() {
            failed = Some(e.to_string());
        }
        started += spans;
        // The spans the collector accepted during this repetition.
        (delivered.load(Ordering::Relaxed) - at_start, t.elapsed())
    });
    let _ = provider.shutdown();
    let reached = delivered.load(Ordering::Relaxed) - before;
    match failed {
        Some(e) => Err(format!("opentelemetry-otlp export failed: {e}")),
        None => Ok((
            s,
            format!(
                "{spans} spans started per repetition; rate = spans the collector accepted; \
                 {reached} of {started} started were exported"
            ),
        )),
    }
}

/// Runs W7; `Err` when it could not run at all, else the picotrace runs that failed
/// (each one's error), the others' rows pushed. The peer's failure goes into `notes`
/// (the report says its row is missing) but not into the result: `--strict` is about
/// picotrace's own export.
pub fn run(
    plan: &Plan,
    quick: bool,
    report: &mut Report,
    notes: &mut Vec<String>,
) -> Result<Vec<String>, String> {
    eprintln!("W7 export to a real collector (rotel, loopback)");
    let bin = rotel_binary().ok_or(
        "the rotel collector is not installed (run `ci/install.sh collector`, or set \
         PICOTRACE_ROTEL_AGENT)",
    )?;
    let collector = Collector::start(&bin)?;
    eprintln!("  rotel pid {} at {}", collector.pid(), collector.endpoint);
    // A burst the batch queues hold whole: picotrace-std caps its queue at 65,536 spans.
    let spans: u64 = if quick { 5_000 } else { 60_000 };
    let reps = plan.reps.min(5);

    use picotrace_std::{Compression, Protocol};
    let mut failed = Vec::new();
    // One request in flight is the default (opentelemetry_sdk's too); the last row
    // lets two be (`max_concurrent_exports`, `OTEL_BSP_MAX_CONCURRENT_EXPORTS`), which
    // opentelemetry_sdk's thread-based `BatchSpanProcessor` has no setting for.
    for (setup, name) in [
        ((Protocol::HttpProtobuf, Compression::None, 1), "protobuf"),
        (
            (Protocol::HttpProtobuf, Compression::Gzip, 1),
            "protobuf, gzip",
        ),
        ((Protocol::HttpJson, Compression::None, 1), "JSON"),
        (
            (Protocol::HttpProtobuf, Compression::None, 2),
            "protobuf, 2 requests in flight",
        ),
    ] {
        match crate::pico::w7(&collector.endpoint, setup, spans, reps, BATCH) {
            Ok((s, note)) => report.push(row(
                format!("picotrace (picotrace-std BatchExporter + OtlpHttpExporter, {name})"),
                s,
                note,
            )),
            Err(e) => {
                eprintln!("  picotrace W7 {name}: {e}");
                failed.push(format!("picotrace W7 {name}: {e}"));
            }
        }
    }
    // The peer's failure is reported but not counted in `failed` (`--strict` is about
    // picotrace's own export).
    match otel(&collector.endpoint, spans, reps) {
        Ok((s, note)) => report.push(row(
            "opentelemetry-otlp (HTTP protobuf, reqwest blocking, BatchSpanProcessor)".into(),
            s,
            note,
        )),
        Err(e) => {
            eprintln!("  opentelemetry-otlp W7: {e}");
            notes.push(format!("W7 row missing: opentelemetry-otlp: {e}"));
        }
    }
    drop(collector);
    Ok(failed)
}

/// A W7 row: spans per second the collector accepted.
fn row(library: String, summary: Summary, note: String) -> Row {
    Row {
        workload: "W7".into(),
        library,
        summary,
        unit: "spans/s",
        better: Better::Higher,
        allocs: None,
        cpu: None,
        reached: None,
        note,
    }
}
