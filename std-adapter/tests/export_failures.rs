//! Export failures are not silent (issue 11, defect 11): against a collector port that
//! refuses connections, the provider's stats count nothing as exported, `flush` and
//! `shutdown` return the spans lost, and the configuration from `OTEL_*` does the same.

mod support;

use std::time::Duration;

use picotrace::TracerConfig;
use picotrace_std::{
    BatchConfig, BatchExporter, EnvConfig, ExportError, OtlpHttpExporter, RetryPolicy,
    TracerProvider,
};
use support::closed_port;

fn end_spans(provider: &TracerProvider, n: usize) {
    for i in 0..n {
        let mut span = provider.tracer().start_span("work");
        span.set_attribute("i", i as i64);
        span.end();
    }
}

fn lost(r: Result<(), ExportError>) -> Option<(u64, u64)> {
    match r {
        Err(ExportError::SpansLost { lost, running }) => Some((lost, running)),
        _ => None,
    }
}

#[test]
fn a_refused_collector_shows_in_stats_flush_and_shutdown() {
    let closed = closed_port();
    let otlp = OtlpHttpExporter::builder()
        .endpoint(format!("http://127.0.0.1:{}", closed.port()))
        .retry_policy(RetryPolicy::NONE)
        .build()
        .unwrap();
    let batch = BatchExporter::builder(otlp)
        .config(BatchConfig::default().with_scheduled_delay(Duration::from_millis(20)))
        .build()
        .unwrap();
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("refused"))
        .exporter(batch.clone())
        .build();
    end_spans(&provider, 10);
    assert_eq!(lost(provider.flush()), Some((10, 0)));
    let s = provider.stats();
    assert_eq!((s.spans_exported, s.spans_export_failed), (0, 10), "{s:?}");
    assert_eq!(s.spans_lost(), 10);
    assert_eq!(batch.stats().failed, 10);
    // Nothing new was lost: the next flush is fine.
    assert!(provider.flush().is_ok());
    end_spans(&provider, 3);
    assert_eq!(lost(provider.flush()), Some((3, 0)));
    // Shutdown reports every span lost, those flush reported included.
    assert_eq!(lost(provider.shutdown()), Some((13, 0)));
}

#[test]
fn the_env_configured_provider_reports_a_refused_collector() {
    let closed = closed_port();
    let endpoint = format!("http://127.0.0.1:{}", closed.port());
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ("OTEL_BSP_SCHEDULE_DELAY", "20"),
    ];
    let env = EnvConfig::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    });
    assert!(env.warnings.is_empty(), "{:?}", env.warnings);
    let provider = env.build_provider().unwrap();
    end_spans(&provider, 4);
    assert_eq!(lost(provider.shutdown()), Some((4, 0)));
    let s = provider.stats();
    assert_eq!((s.spans_exported, s.spans_export_failed), (0, 4), "{s:?}");
}
