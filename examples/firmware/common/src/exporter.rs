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

/// Where frames go: a blocking byte writer that cannot fail.
pub trait FrameSink {
    /// Writes all of `bytes`.
    fn write(&mut self, bytes: &[u8]);
}

impl<F: FnMut(&[u8])> FrameSink for F {
    fn write(&mut self, bytes: &[u8]) {
        self(bytes)
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
        self.encoder.encode_batch(batch, |chunk| {
            sink.write(chunk);
            true
        })
    }
}
