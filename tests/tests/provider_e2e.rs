//! The std provider end to end against a real collector: a span ended on a worker
//! thread that then blocks is exported by the export thread within the scheduled
//! delay, with no flush and no further span on any thread.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use picotrace::TracerConfig;
use picotrace_std::{BatchConfig, BatchExporter, OtlpHttpExporter, TracerProvider};
use picotrace_tests::collector::Collector;

#[test]
fn a_span_ended_on_a_thread_that_then_blocks_reaches_the_collector_within_the_delay() {
    let collector = Collector::start();
    let delay = Duration::from_millis(500);
    let exporter = BatchExporter::builder(OtlpHttpExporter::new(&collector.endpoint).unwrap())
        .config(BatchConfig::default().with_scheduled_delay(delay))
        .build()
        .unwrap();
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("quiet-worker"))
        .exporter(exporter)
        .build();
    let tracer = provider.tracer();
    let (ended_tx, ended_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let worker = std::thread::spawn(move || {
        let mut span = tracer.start_span("work then block");
        span.set_attribute("worker", true);
        let trace_id = span.context().trace_id.to_hex();
        span.end();
        ended_tx.send((trace_id, Instant::now())).unwrap();
        // Blocks: this thread starts no other span and never flushes.
        let _ = release_rx.recv();
    });
    let (trace_id, ended_at) = ended_rx.recv().unwrap();
    let spans = collector.wait_for(delay + Duration::from_secs(3), |s| {
        s.iter().any(|s| s.trace_id == trace_id.as_str())
    });
    let arrived = ended_at.elapsed();
    assert!(
        spans.iter().any(|s| s.trace_id == trace_id.as_str()),
        "not exported: {spans:#?}"
    );
    eprintln!("arrived {arrived:?} after it ended (scheduled delay {delay:?})");
    // A second of slack for the collector's log on a loaded 2-vCPU machine, another for
    // its polling: a span left waiting for a flush that never comes would not arrive.
    assert!(
        arrived <= delay + Duration::from_secs(2),
        "took {arrived:?}, more than the delay + 2 s"
    );
    release_tx.send(()).unwrap();
    worker.join().unwrap();
    provider.shutdown().unwrap();
}
