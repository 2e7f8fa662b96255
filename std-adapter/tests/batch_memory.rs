//! What a `BatchExporter` holds in memory: the queue size has a documented maximum,
//! span buffers beyond the first few thousand are allocated only when the queue gets
//! that deep, and shutdown frees them (issue 11, defect 4).
//!
//! allocation-counter's `#[global_allocator]` counts this thread's allocations: those
//! of `build()` and of the application side of `export`.

use std::time::{Duration, Instant};

use picotrace::TracerConfig;
use picotrace_std::{
    BatchConfig, BatchExporter, ExportError, ExportOutcome, Protocol, TracerProvider, Transport,
};

/// Accepts every request at once.
struct Sink;

impl Transport for Sink {
    fn protocol(&self) -> Protocol {
        Protocol::HttpProtobuf
    }
    fn send(&mut self, _: &[u8], _: usize, _: Instant) -> Result<ExportOutcome, ExportError> {
        Ok(ExportOutcome::default())
    }
}

#[test]
fn a_huge_queue_size_is_clamped_and_its_buffers_grow_on_demand() {
    assert_eq!(BatchConfig::MAX_QUEUE_SIZE, 65_536);
    // The worker sends only on flush: no full batch, no schedule before then.
    let huge = BatchConfig::default()
        .with_max_queue_size(1 << 20)
        .with_max_export_batch_size(1 << 20)
        .with_scheduled_delay(Duration::from_secs(3600));
    let mut built = None;
    let info = allocation_counter::measure(|| {
        built = Some(BatchExporter::builder(Sink).config(huge).build().unwrap());
    });
    let exporter = built.unwrap();
    assert_eq!(
        exporter.config().max_queue_size,
        BatchConfig::MAX_QUEUE_SIZE
    );
    assert_eq!(exporter.config().max_export_batch_size, 65_536);
    // 2^20 spans preallocated was about 650 MB; the first few thousand buffers are a
    // few MB.
    assert!(info.bytes_max < 8 << 20, "{info:?}");
    let s = exporter.stats();
    assert_eq!(s.pool_size, 2 * 65_536);
    assert_eq!(s.pool_allocated, BatchConfig::PREALLOCATED_BUFFERS);
    assert_eq!(s.pool_available, s.pool_size);

    // A queue deeper than the preallocated buffers grows them, up to the pool size.
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("memory"))
        .exporter(exporter.clone())
        .build();
    for i in 0..12_000 {
        let mut span = provider.tracer().start_span("work");
        span.set_attribute("i", i);
    }
    provider.flush().unwrap();
    let s = exporter.stats();
    let queued = s.max_queue_len;
    assert!(queued > BatchConfig::PREALLOCATED_BUFFERS, "{s:#?}");
    assert!(
        s.pool_allocated >= queued && s.pool_allocated <= s.pool_size,
        "{s:#?}"
    );
    assert_eq!(s.exported, s.produced, "{s:#?}");
    assert_eq!(s.pool_available, s.pool_size);

    // Shutdown frees every buffer.
    exporter.shutdown().unwrap();
    let s = exporter.stats();
    assert_eq!(s.pool_allocated, 0, "{s:#?}");
}

#[test]
fn the_default_pool_is_allocated_up_front() {
    let exporter = BatchExporter::new(Sink).unwrap();
    let s = exporter.stats();
    assert_eq!(s.pool_size, 2048 + 512);
    assert_eq!(s.pool_allocated, s.pool_size);
    assert!(s.pool_size <= BatchConfig::PREALLOCATED_BUFFERS);
}
