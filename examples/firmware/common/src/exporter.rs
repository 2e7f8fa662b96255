//! [`FrameExporter`]: finished spans → OTLP protobuf requests → COBS + CRC-32 frames →
//! a [`FrameSink`] (a UART written byte by byte).
//!
//! The encoding is picotrace's [`FrameEncoder`] (see [`picotrace::export::frame`]); this
//! is only the sink side, for boards whose UART driver is not an `embedded_io::Write`.
//! Boards whose UART is one use `picotrace::export::frame::FrameExporter` (core feature
//! `embedded-io`) instead, as `../qemu-lm3s6965` and `../qemu-embassy` do.
//!
//! Writes block: the exporter runs while the tracer drains, so on a real device pick
//! the batch size (and the UART speed) so that a batch is written quickly, or queue the
//! frames for a task or DMA to send (`picotrace::export::frame::FrameQueue`).

use picotrace::export::frame::{FrameEncoder, FrameStats};
use picotrace::{ExportError, SpanBatch, SpanExporter};

/// Where frames go: a blocking byte writer.
pub trait FrameSink {
    /// Writes all of `bytes`; `false` when the device failed. The exporter then drops
    /// the rest of that frame, writes a lone delimiter (the receiver drops the cut
    /// frame and is back in step) and counts the frame's spans as lost
    /// ([`FrameStats::spans_write_failed`], and the tracer's failed exports).
    fn write(&mut self, bytes: &[u8]) -> bool;
}

/// A closure that writes bytes and cannot fail.
impl<F: FnMut(&[u8])> FrameSink for F {
    fn write(&mut self, bytes: &[u8]) -> bool {
        self(bytes);
        true
    }
}

/// Exports spans as framed OTLP protobuf requests, encoded in a `BUF`-byte buffer.
pub struct FrameExporter<S, const BUF: usize> {
    sink: S,
    encoder: FrameEncoder<BUF>,
}

impl<S: FrameSink, const BUF: usize> FrameExporter<S, BUF> {
    /// Creates an exporter writing to `sink`.
    pub const fn new(sink: S) -> Self {
        Self {
            sink,
            encoder: FrameEncoder::new(),
        }
    }

    /// Returns the counters.
    pub fn stats(&self) -> FrameStats {
        self.encoder.stats()
    }

    /// Returns the sink.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }
}

impl<S: FrameSink, const BUF: usize> SpanExporter for FrameExporter<S, BUF> {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        let sink = &mut self.sink;
        self.encoder.encode_batch(batch, |chunk| sink.write(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picotrace::{IdGenerator, ManualClock, SpanArena, Timestamp, Tracer, TracerConfig};

    /// A UART that fails every write while `failing`.
    struct Flaky {
        failing: bool,
        written: usize,
    }

    impl FrameSink for Flaky {
        fn write(&mut self, bytes: &[u8]) -> bool {
            if self.failing {
                return false;
            }
            self.written += bytes.len();
            true
        }
    }

    /// Regression (found by review): `FrameSink::write` could not report a failure, so
    /// a frame the UART failed to send was counted as exported, and the boards whose
    /// driver can fail (ESP32-C3, nRF52840) dropped the rest of a chunk and went on.
    #[test]
    fn a_failed_uart_write_is_counted_as_lost_spans() {
        let mut arena = SpanArena::<4, 4, 1, 1, 256>::new();
        let clock = ManualClock::new(Timestamp::from_unix_nanos(1_700_000_000_000_000_000));
        let exporter: FrameExporter<Flaky, 512> = FrameExporter::new(Flaky {
            failing: false,
            written: 0,
        });
        // Each span exported as it ends, in a frame of its own.
        let config = TracerConfig::new("flaky").with_export_batch_size(1);
        let tracer = Tracer::unseeded(config, &mut arena, clock, exporter);
        let _ = tracer.seed(IdGenerator::from_seed([7; 32]));
        for (name, failing) in [("sent", false), ("lost", true)] {
            tracer.with_exporter(|x| x.sink_mut().failing = failing);
            let mut span = tracer.start_span(name);
            span.set_attribute("reading", 7_i64);
            span.end();
        }
        tracer.flush();
        let frames = tracer
            .with_exporter(|x| x.stats())
            .expect("the exporter is free");
        assert_eq!(frames.write_errors, 1, "{frames:?}");
        assert_eq!(frames.spans_write_failed, 1, "{frames:?}");
        assert_eq!(frames.spans, 1, "{frames:?}");
        let stats = tracer.stats();
        assert_eq!(stats.spans_exported, 1, "{stats:?}");
        assert_eq!(stats.spans_export_failed, 1, "{stats:?}");
    }
}
