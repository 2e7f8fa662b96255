//! The workload of the footprint binaries (`ci/footprint.sh`), the same on every board, so
//! that what each target's table measures is the same code: continue a W3C
//! `traceparent`, a server span with a child, attributes of each kind, an exception
//! event, an error status, the outgoing `traceparent` written to the UART, and a flush
//! through the binary's exporter. The board brings its clock, UART and entropy.

use picotrace::sampler::ParentBasedAlwaysOn;
use picotrace::wire::otlp::proto;
use picotrace::{
    Clock, ExportError, IdGenerator, SpanArena, SpanBatch, SpanExporter, TraceContext, Tracer,
    TracerConfig, TracerStats,
};

use crate::{FrameSink, SeedMixer};

/// The arena the footprint binaries use: 4 spans of 4 attributes, 1 event, 1 link and
/// 128 bytes of text.
pub type Arena = SpanArena<4, 4, 1, 1, 128>;

/// Size of [`Arena`] in bytes.
pub const ARENA_BYTES: usize = core::mem::size_of::<Arena>();

/// The `traceparent` the binaries continue.
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// What the footprint workload needs from a board.
pub trait FootprintBoard {
    /// Writes one byte to the board's UART (blocking).
    fn write_byte(&mut self, byte: u8);
    /// One sensor reading: the value of the server span's attribute.
    fn sample(&mut self) -> u16;
    /// Folds the board's entropy sources into `mixer`.
    fn collect_entropy(&mut self, mixer: &mut SeedMixer);
}

/// Runs the traced workload once and returns the tracer's counters (the binaries check
/// that both spans were exported and none lost).
#[inline(never)]
pub fn traced<C: Clock + Sync, X: SpanExporter + Send, B: FootprintBoard>(
    clock: C,
    board: &mut B,
    exporter: X,
) -> TracerStats {
    let mut mixer = SeedMixer::new();
    board.collect_entropy(&mut mixer);
    // Built in place and lent to the tracer: moving a whole arena by value would put
    // several copies of it on the stack.
    let mut arena = Arena::new();
    // The sampler fixed at compile time (OpenTelemetry's default): only its code links.
    // A `const` config: built at compile time, so its builder's temporaries (the run-time
    // `Sampler` it starts from is 160 bytes) take no stack.
    const CONFIG: TracerConfig<ParentBasedAlwaysOn> = TracerConfig::new("footprint")
        .with_export_batch_size(2)
        .with_static_sampler(ParentBasedAlwaysOn);
    let tracer: Tracer<&mut Arena, C, X, ParentBasedAlwaysOn> =
        Tracer::unseeded(CONFIG, &mut arena, clock, exporter);
    // Refused only when the board absorbed nothing that varied (the mixer then fills
    // zeros); the counters the binary checks would show it.
    let _ = tracer.seed(IdGenerator::from_entropy(&mut mixer));
    let headers = [("traceparent", core::hint::black_box(TRACEPARENT))];
    let incoming = TraceContext::from_headers(&headers[..]);
    let mut span = tracer.start_server_span("handle", &incoming);
    span.set_attribute("reading", board.sample());
    // The span's context as it would be handed on (the embassy demo's way): a build
    // without `tracestate` must not link its parser for it (`ci/footprint.sh` checks).
    board.write_byte(u8::from(span.trace_context().is_sampled()));
    let mut child = span.child("transmit");
    child.set_attribute("link", "gateway");
    child.set_attribute("ok", false);
    child.record_exception_with_type("LinkError", "no ACK");
    child.set_error("no ACK");
    // Written straight from the span (no `TraceContext` copy on the stack).
    tracer.inject_context(
        &child,
        &mut picotrace::FnInjector(|name: &str, value: &str| {
            if name == "traceparent" {
                for &b in value.as_bytes() {
                    board.write_byte(b);
                }
            }
        }),
    );
    child.end();
    span.set_ok();
    span.end();
    tracer.flush();
    tracer.stats()
}

/// Writes the measurement record `ci/footprint.sh` reads from the end of the UART's
/// output: `FPRT`, the arena's size and the stack peak, as little-endian `u32`s.
pub fn report(uart: &mut impl FrameSink, arena_bytes: usize, stack_peak: u32) {
    let mut record = [0u8; 12];
    record[..4].copy_from_slice(b"FPRT");
    record[4..8].copy_from_slice(&(arena_bytes as u32).to_le_bytes());
    record[8..].copy_from_slice(&stack_peak.to_le_bytes());
    // The record is the binary's last output: nothing is left to report a failure to.
    let _ = uart.write(&record);
}

/// Encode buffer of [`RawOtlp`]: one request with the batch of 2 spans.
const RAW_OTLP_BUF: usize = 512;

/// The `footprint_otlp` binaries' exporter: the OTLP protobuf encoder, each request
/// written to the UART as it is, without framing.
pub struct RawOtlp<S> {
    uart: S,
    buf: [u8; RAW_OTLP_BUF],
}

impl<S: FrameSink> RawOtlp<S> {
    /// An exporter writing to `uart`.
    pub fn new(uart: S) -> Self {
        Self {
            uart,
            buf: [0; RAW_OTLP_BUF],
        }
    }
}

impl<S: FrameSink> SpanExporter for RawOtlp<S> {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        let encoded =
            proto::encode_request(batch.resource, batch.scope, batch.iter(), &mut self.buf)
                .map_err(|_| ExportError::Failed)?;
        if !self.uart.write(&self.buf[..encoded.bytes]) {
            return Err(ExportError::Failed);
        }
        if encoded.spans == batch.len() {
            Ok(())
        } else {
            Err(ExportError::Partial {
                dropped: batch.len() - encoded.spans,
            })
        }
    }
}
