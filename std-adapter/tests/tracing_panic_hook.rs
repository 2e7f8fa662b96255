//! The README's recipe for a panic's message: a panic hook that logs it as an `ERROR`
//! event with an `error` field. The span the panic unwinds gets the message as its
//! status description and in an `exception` event, where without the hook it says only
//! `panicked` (a new user's tryout asked for the message).
//!
//! Its own test binary: the global default subscriber and the panic hook are the
//! process's.
#![cfg(feature = "tracing")]

use std::sync::{Arc, Mutex};

use picotrace::{ExportError, SpanBatch, SpanExporter, TracerConfig};
use picotrace_std::tracing_layer::TracingLayer;
use picotrace_std::{SharedExporter, TracerProvider};
use tracing_subscriber::layer::SubscriberExt as _;

/// Each exported span's name, status and its events' `exception.message`s.
type Seen = Vec<(String, String, Vec<String>)>;

#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Seen>>);

impl SpanExporter for Spans {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        let mut seen = self.0.lock().unwrap();
        for s in batch.iter() {
            let messages = s
                .events()
                .flat_map(|e| e.attributes().collect::<Vec<_>>())
                .filter(|(k, _)| *k == "exception.message")
                .map(|(_, v)| format!("{v:?}"))
                .collect();
            seen.push((s.name().to_owned(), format!("{:?}", s.status()), messages));
        }
        Ok(())
    }
}

#[test]
fn a_panic_hook_that_logs_puts_the_message_on_the_span_it_unwinds() {
    let spans = Spans::default();
    let provider = TracerProvider::builder()
        .config(TracerConfig::new("panic-hook"))
        .exporter(SharedExporter::new(spans.clone()))
        .build();
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new(provider.tracer()));
    tracing::subscriber::set_global_default(subscriber).expect("first global default");

    // Without the hook: `panicked` only.
    let _ = std::panic::catch_unwind(|| {
        tracing::info_span!("without hook").in_scope(|| panic!("quota exceeded"))
    });
    // The README's hook.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
            .unwrap_or("panic");
        let location = info.location().map(ToString::to_string).unwrap_or_default();
        tracing::error!(error = message, code.location = location, "panic");
        default_hook(info);
    }));
    let _ = std::panic::catch_unwind(|| {
        tracing::info_span!("with hook").in_scope(|| panic!("disk {} full", 3))
    });
    provider.flush().expect("flush");
    let seen = spans.0.lock().unwrap().clone();
    let named = |name: &str| {
        seen.iter()
            .find(|(n, ..)| n == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not exported: {seen:?}"))
    };
    let (_, status, messages) = named("without hook");
    assert!(status.contains("\"panicked\""), "{status}");
    assert!(messages.is_empty(), "{messages:?}");
    let (_, status, messages) = named("with hook");
    assert!(status.contains("\"disk 3 full\""), "{status}");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].contains("disk 3 full"), "{messages:?}");
    provider.shutdown().expect("shutdown");
}
