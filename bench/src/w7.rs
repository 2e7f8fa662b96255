//! W7: export to a real collector (rotel) over loopback: spans per second through one
//! batch exporter, from the first span started to the flush that returns once the
//! collector has answered for every batch. Both libraries send OTLP/HTTP protobuf to the
//! same collector, with batches of 512 and a queue that holds the whole run (so nothing
//! is dropped and both are measured on the path that keeps every span), W1-shaped spans.

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

/// opentelemetry-otlp's HTTP exporter (reqwest blocking client, protobuf) behind the
/// SDK's `BatchSpanProcessor`.
fn otel(endpoint: &str, spans: u64, reps: usize) -> Result<Summary, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .with_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("opentelemetry-otlp exporter: {e}"))?;
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
    let s = rate(reps, || {
        let t = Instant::now();
        crate::otel::run_w1(&tracer, spans);
        if let Err(e) = provider.force_flush() {
            failed = Some(e.to_string());
        }
        (spans, t.elapsed())
    });
    let _ = provider.shutdown();
    match failed {
        Some(e) => Err(format!("opentelemetry-otlp export failed: {e}")),
        None => Ok(s),
    }
}

/// Runs W7 (or says why not).
pub fn run(plan: &Plan, quick: bool, report: &mut Report) -> Result<(), String> {
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
    for (setup, name) in [
        ((Protocol::HttpProtobuf, Compression::None), "protobuf"),
        (
            (Protocol::HttpProtobuf, Compression::Gzip),
            "protobuf, gzip",
        ),
        ((Protocol::HttpJson, Compression::None), "JSON"),
    ] {
        match crate::pico::w7(&collector.endpoint, setup, spans, reps, BATCH) {
            Ok((s, note)) => report.push(Row {
                workload: "W7".into(),
                library: format!(
                    "picotrace (picotrace-std BatchExporter + OtlpHttpExporter, {name})"
                ),
                summary: s,
                unit: "spans/s",
                better: Better::Higher,
                allocs: None,
                cpu: None,
                reached: None,
                note,
            }),
            Err(e) => eprintln!("  picotrace W7 {name}: {e}"),
        }
    }
    let s = otel(&collector.endpoint, spans, reps)?;
    report.push(Row {
        workload: "W7".into(),
        library: "opentelemetry-otlp (HTTP protobuf, reqwest blocking, BatchSpanProcessor)".into(),
        summary: s,
        unit: "spans/s",
        better: Better::Higher,
        allocs: None,
        cpu: None,
        reached: None,
        note: format!("{spans} spans per repetition"),
    });
    drop(collector);
    Ok(())
}
