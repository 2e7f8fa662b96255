//! What the reentrant `tracing` tests share (each is its own binary: a global
//! subscriber can be set once per process).

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use picotrace::{ExportError, SpanBatch, SpanExporter, SpanId};

/// An exported span's name, its events' names, its id and its parent's.
pub type Named = (String, Vec<String>, SpanId, Option<SpanId>);

/// The exported spans.
#[derive(Clone, Default)]
pub struct Names(pub Arc<Mutex<Vec<Named>>>);

impl SpanExporter for Names {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        let mut seen = self.0.lock().unwrap();
        for s in batch.iter() {
            let events = s.events().map(|e| e.name().to_string()).collect();
            seen.push((
                s.name().to_string(),
                events,
                s.span_context().span_id,
                s.parent_span_id(),
            ));
        }
        Ok(())
    }
}

impl Names {
    /// The exported span named `name`.
    pub fn named(&self, name: &str) -> Named {
        let seen = self.0.lock().unwrap();
        seen.iter()
            .find(|(n, ..)| n == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not exported: {seen:?}"))
    }
}

/// Runs `work` on a thread of its own; fails if it has not finished in `seconds` (a
/// deadlock would never finish).
pub fn finishes_within(seconds: u64, work: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        work();
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(Duration::from_secs(seconds))
        .expect("the nested instrumentation deadlocked the layer");
}
