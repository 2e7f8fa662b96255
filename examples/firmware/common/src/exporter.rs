//! [`FrameExporter`]: finished spans → OTLP protobuf requests → COBS + CRC-32 frames →
//! a byte sink (a UART).
//!
//! Each export encodes as many of the batch's spans as fit in the exporter's buffer into
//! one `ExportTraceServiceRequest` ([`picotrace::wire::otlp::proto::encode_request`]),
//! frames it ([`picotrace::wire::frame::encode_with`], which streams the frame without a
//! second buffer) and repeats until the batch is written. A receiver forwards each valid
//! frame's payload unchanged as the body of an OTLP/HTTP request.
//!
//! Before its first frame the exporter writes a lone `0x00`, so that a receiver drops
//! whatever it had buffered from before a reset.
//!
//! Writes block: the exporter runs with the tracer's lock held, so on a real device
//! pick the batch size (and the UART speed) so that a batch is written quickly, or hand
//! the frame to a DMA-driven queue instead of a blocking sink.

use picotrace::wire::frame;
use picotrace::wire::otlp::{proto, EncodeError};
use picotrace::{ExportError, SpanBatch, SpanExporter};

/// Where frames go: a blocking byte writer.
pub trait FrameSink {
    /// Writes all of `bytes`.
    fn write(&mut self, bytes: &[u8]);
}

impl<F: FnMut(&[u8])> FrameSink for F {
    fn write(&mut self, bytes: &[u8]) {
        self(bytes)
    }
}

/// What a [`FrameExporter`] has sent and lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameStats {
    /// Frames written.
    pub frames: u32,
    /// Spans written.
    pub spans: u32,
    /// Frame bytes written, delimiters included.
    pub bytes: u32,
    /// Spans dropped because one alone does not fit in the buffer.
    pub spans_too_large: u32,
}

/// Exports spans as framed OTLP protobuf requests, encoded in a `BUF`-byte buffer.
pub struct FrameExporter<S, const BUF: usize> {
    sink: S,
    buf: [u8; BUF],
    started: bool,
    stats: FrameStats,
}

impl<S: FrameSink, const BUF: usize> FrameExporter<S, BUF> {
    /// Creates an exporter writing to `sink`.
    pub const fn new(sink: S) -> Self {
        Self {
            sink,
            buf: [0; BUF],
            started: false,
            stats: FrameStats {
                frames: 0,
                spans: 0,
                bytes: 0,
                spans_too_large: 0,
            },
        }
    }

    /// Returns the counters.
    pub fn stats(&self) -> FrameStats {
        self.stats
    }

    /// Returns the sink.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }
}

impl<S: FrameSink, const BUF: usize> SpanExporter for FrameExporter<S, BUF> {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        if !self.started {
            self.sink.write(&[frame::DELIMITER]);
            self.started = true;
        }
        let mut rest = batch.iter();
        let mut remaining = batch.len();
        let mut lost = 0;
        while remaining > 0 {
            match proto::encode_request(batch.resource, batch.scope, rest.clone(), &mut self.buf) {
                Ok(encoded) if encoded.spans > 0 => {
                    let sink = &mut self.sink;
                    let n =
                        frame::encode_with(&self.buf[..encoded.bytes], |chunk| sink.write(chunk));
                    self.stats.frames += 1;
                    self.stats.spans += encoded.spans as u32;
                    self.stats.bytes += n as u32;
                    remaining -= encoded.spans;
                    rest.nth(encoded.spans - 1);
                }
                // The iterator ran dry early (a slot was freed under us): done.
                Ok(_) => break,
                Err(EncodeError::SpanTooLarge { .. }) => {
                    self.stats.spans_too_large += 1;
                    lost += 1;
                    remaining -= 1;
                    rest.next();
                }
                Err(_) => {
                    lost += remaining;
                    break;
                }
            }
        }
        if lost == 0 {
            Ok(())
        } else if lost == batch.len() {
            Err(ExportError::Failed)
        } else {
            Err(ExportError::Partial { dropped: lost })
        }
    }
}
