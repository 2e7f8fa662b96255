//! An exporter that keeps what the tests check of each span, and a provider exporting
//! to it. (Also included by examples/server/tests/client_layer.rs.)

use std::sync::{Arc, Mutex};

use picotrace::{AttributeValue, SpanBatch, SpanExporter, SpanKind, TracerConfig};
use picotrace_std::{SharedExporter, TracerProvider};

/// What the tests check of an exported span.
#[derive(Clone, Debug)]
pub struct Seen {
    pub name: String,
    pub kind: SpanKind,
    pub trace_id: String,
    pub span_id: String,
    pub parent: Option<String>,
    pub attrs: Vec<(String, String)>,
    pub events: Vec<String>,
    pub status: String,
    pub start: u64,
    pub end: u64,
}

impl Seen {
    /// The value of attribute `key` (strings as they are, integers in decimal).
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Keeps every exported span, in export order.
#[derive(Clone, Default)]
pub struct Keep(pub Arc<Mutex<Vec<Seen>>>);

impl SpanExporter for Keep {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), picotrace::ExportError> {
        let show = |v: AttributeValue<'_>| match v {
            AttributeValue::Str(s) => s.to_string(),
            AttributeValue::I64(i) => i.to_string(),
            other => format!("{other:?}"),
        };
        let mut seen = self.0.lock().unwrap();
        for s in batch.iter() {
            seen.push(Seen {
                name: s.name().into(),
                kind: s.kind(),
                trace_id: s.span_context().trace_id.to_string(),
                span_id: s.span_context().span_id.to_string(),
                parent: s.parent_span_id().map(|p| p.to_string()),
                attrs: s.attributes().map(|(k, v)| (k.into(), show(v))).collect(),
                events: s.events().map(|e| e.name().to_string()).collect(),
                status: format!("{:?}", s.status()),
                start: s.start_time().as_unix_nanos(),
                end: s.end_time().as_unix_nanos(),
            });
        }
        Ok(())
    }
}

/// A provider (service `name`) exporting to a [`Keep`].
pub fn provider(name: &'static str) -> (TracerProvider, Keep) {
    let kept = Keep::default();
    let provider = TracerProvider::builder()
        .config(TracerConfig::new(name))
        .exporter(SharedExporter::new(kept.clone()))
        .build();
    (provider, kept)
}

/// A sampler that drops the spans started with one string attribute (`key` = `value`)
/// and records the rest: for tests that a sampler sees an attribute at the start.
pub struct SkipWhere {
    pub key: &'static str,
    pub value: &'static str,
}

impl picotrace::sampler::ShouldSample for SkipWhere {
    fn should_sample(
        &self,
        params: &picotrace::sampler::SamplingParams<'_>,
    ) -> picotrace::SamplingResult {
        let skip = params
            .attributes
            .iter()
            .any(|kv| kv.key == self.key && kv.value == picotrace::Value::Str(self.value));
        picotrace::SamplingResult::new(if skip {
            picotrace::SamplingDecision::Drop
        } else {
            picotrace::SamplingDecision::RecordAndSample
        })
    }

    fn describe(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SkipWhere({}={})", self.key, self.value)
    }
}

/// [`provider`] with `sampler` deciding every root.
pub fn provider_sampled_by(
    name: &'static str,
    sampler: &'static SkipWhere,
) -> (TracerProvider, Keep) {
    let kept = Keep::default();
    let provider = TracerProvider::builder()
        .config(TracerConfig::new(name).with_sampler(picotrace::RootSampler::Custom(sampler)))
        .exporter(SharedExporter::new(kept.clone()))
        .build();
    (provider, kept)
}
