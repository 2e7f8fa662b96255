//! defmt logging for boards whose users read defmt over RTT (feature `defmt`):
//! [`DefmtConsole`] logs the workload's [`Progress`], and [`DefmtExporter`] logs every
//! span that ends and every failed export, then hands the batch on to the real exporter.
//!
//! The values are logged with `{}` through the `defmt::Format` that picotrace's own
//! `defmt` feature puts on its public types (`SpanContext`, `SpanKind`, `Status`,
//! `TracerStats`, `ExportError`, `ExtractError`): the device sends the values' bytes,
//! the host (`probe-rs run`, `cargo embed`, `defmt-print`) formats them. A trace id is
//! shown in the same lowercase hex as in the `traceparent` header and in the backend.

use picotrace::{ExportError, SpanBatch, SpanExporter};

use crate::sensor_node::{Console, Progress};

/// Logs the workload's progress as defmt messages: `info` for every step, `warn` for a
/// lost reading or an unusable `traceparent`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefmtConsole;

impl Console for DefmtConsole {
    fn report(&mut self, progress: &Progress<'_>) {
        match *progress {
            Progress::Request { traceparent } => {
                defmt::info!("traceparent: {=str}", traceparent);
            }
            Progress::Continuing { parent } => {
                defmt::info!("continuing {}", parent);
            }
            Progress::NewTrace { error } => {
                defmt::warn!("no usable traceparent ({}): starting a new trace", error);
            }
            Progress::Sample {
                index,
                raw,
                millivolts,
                filtered,
                sent: Ok(()),
            } => defmt::info!(
                "sample {=u32}: raw {=u16} = {=u32} mV, filtered {=u32} mV: sent",
                index,
                raw,
                millivolts,
                filtered
            ),
            Progress::Sample {
                index,
                raw,
                millivolts,
                filtered,
                sent: Err(error),
            } => defmt::warn!(
                "sample {=u32}: raw {=u16} = {=u32} mV, filtered {=u32} mV: {}, exception recorded",
                index,
                raw,
                millivolts,
                filtered,
                error
            ),
        }
    }
}

/// A [`SpanExporter`] that logs each finished span (`debug`: name, kind, context,
/// status, duration), the tracer's counters with each batch (`debug`) and any failed
/// export (`error`), around the exporter it wraps, which does the real export.
///
/// `DEFMT_LOG=info` at build time removes the per-span messages from the firmware
/// (defmt filters at compile time); errors stay.
#[derive(Debug)]
pub struct DefmtExporter<X> {
    inner: X,
}

impl<X> DefmtExporter<X> {
    /// Wraps `inner`, which receives every batch after it is logged.
    pub const fn new(inner: X) -> Self {
        Self { inner }
    }

    /// Returns the wrapped exporter.
    pub fn inner(&self) -> &X {
        &self.inner
    }

    /// Returns the wrapped exporter, mutably.
    pub fn inner_mut(&mut self) -> &mut X {
        &mut self.inner
    }
}

impl<X: SpanExporter> SpanExporter for DefmtExporter<X> {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        for span in batch.iter() {
            let micros = span
                .end_time()
                .saturating_duration_since(span.start_time())
                .as_micros();
            defmt::debug!(
                "span end {=str} ({}) {} {} after {=u64} us",
                span.name(),
                span.kind(),
                span.span_context(),
                span.status(),
                u64::try_from(micros).unwrap_or(u64::MAX)
            );
        }
        defmt::debug!("tracer: {}", batch.stats());
        let result = self.inner.export(batch);
        if let Err(error) = result {
            defmt::error!("export of {=usize} spans: {}", batch.len(), error);
        }
        result
    }
}
