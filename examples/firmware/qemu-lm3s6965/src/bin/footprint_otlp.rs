//! Footprint: the tracer plus the OTLP protobuf encoder; each request is written to the
//! UART as it is, without framing.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_halt as _;
use picotrace::wire::otlp::proto;
use picotrace::{ExportError, SpanBatch, SpanExporter};
use picotrace_qemu_lm3s6965::{exit, footprint, Uart0};

/// Encode buffer: one request with the batch of 2 spans.
const BUF: usize = 512;

struct RawOtlp {
    uart: Uart0,
    buf: [u8; BUF],
}

impl SpanExporter for RawOtlp {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        let encoded =
            proto::encode_request(batch.resource, batch.scope, batch.iter(), &mut self.buf)
                .map_err(|_| ExportError::Failed)?;
        for &b in &self.buf[..encoded.bytes] {
            self.uart.write_byte(b);
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

#[entry]
fn main() -> ! {
    footprint::paint_stack();
    let core = cortex_m::Peripherals::take().unwrap_or_else(|| exit(false));
    let (clock, mut uart, mut adc) = footprint::base(core.SYST);
    let exporter = RawOtlp {
        uart: Uart0::new(),
        buf: [0; BUF],
    };
    let stats = footprint::traced(clock, &mut uart, &mut adc, exporter);
    footprint::report(&mut uart, footprint::ARENA_BYTES);
    exit(stats.spans_exported == 2 && stats.spans_lost() == 0)
}
