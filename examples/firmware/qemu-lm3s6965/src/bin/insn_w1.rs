//! Instruction counts on a Cortex-M3 (`ci/insn-count.sh`), each between two marker
//! functions:
//! - W1: a root span, three attributes (string, integer, bool), end, through the shared
//!   tracer with the board's SysTick clock;
//! - W5: OTLP protobuf encoding of a request of [`W5_SPANS`] spans of the host
//!   benchmark's W5 shape (5 attributes and 1 event each), into a caller buffer.
//!
//! A run of 64 `nop`s between two other markers calibrates what the markers add.
//!
//! QEMU runs it with one instruction per translation block (`-singlestep -d
//! nochain,exec`), so its log has one line per executed instruction, named by function.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use panic_halt as _;
use picotrace::sampler::ParentBasedAlwaysOn;
use picotrace::wire::otlp::proto;
use picotrace::{
    ExportError, IdGenerator, SpanArena, SpanBatch, SpanExporter, Timestamp, Tracer, TracerConfig,
};
use picotrace_qemu_lm3s6965::{exit, init_clocks, SysTickClock};

/// The sensor-node demo's arena shape.
type Arena = SpanArena<8, 8, 2, 1, 192>;
static ARENA: Arena = Arena::new();

/// With OpenTelemetry's default sampler fixed at compile time, as firmware configures it.
type W1Tracer = Tracer<&'static Arena, SysTickClock, W5Encoder, ParentBasedAlwaysOn>;

// Distinct bodies, so that no pass merges the markers into one function.
#[inline(never)]
#[no_mangle]
fn insn_mark_calib_begin() {
    black_box(1u32);
}
#[inline(never)]
#[no_mangle]
fn insn_mark_calib_end() {
    black_box(2u32);
}
#[inline(never)]
#[no_mangle]
fn insn_mark_w1_begin() {
    black_box(3u32);
}
#[inline(never)]
#[no_mangle]
fn insn_mark_w1_end() {
    black_box(4u32);
}
#[inline(never)]
#[no_mangle]
fn insn_mark_w5_begin() {
    black_box(5u32);
}
#[inline(never)]
#[no_mangle]
fn insn_mark_w5_end() {
    black_box(6u32);
}

/// Spans in the W5 request (the arena holds 8).
const W5_SPANS: usize = 4;

/// Encodes each batch into one OTLP protobuf request; the first batch of [`W5_SPANS`]
/// spans is the measured one.
struct W5Encoder {
    buf: [u8; 2048],
    measured: bool,
    encoded: usize,
}

impl SpanExporter for W5Encoder {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        let measure = !self.measured && batch.len() == W5_SPANS;
        if measure {
            insn_mark_w5_begin();
        }
        let done = proto::encode_request(batch.resource, batch.scope, batch.iter(), &mut self.buf);
        if measure {
            insn_mark_w5_end();
            self.measured = true;
        }
        let done = done.map_err(|_| ExportError::Failed)?;
        self.encoded += done.spans;
        black_box(&self.buf[..done.bytes]);
        Ok(())
    }
}

/// One span of the host benchmark's W5 shape.
#[inline(never)]
fn w5_span(tracer: &W1Tracer) {
    let mut span = tracer.start_span(black_box("SELECT users"));
    span.set_attribute("db.system.name", black_box("postgresql"));
    span.set_attribute("db.namespace", black_box("customers"));
    span.set_attribute(
        "db.query.text",
        black_box("SELECT id, name FROM users WHERE id = $1"),
    );
    span.set_attribute("db.response.returned_rows", black_box(42i64));
    span.set_attribute("db.cached", black_box(false));
    span.add_event(black_box("rows_fetched"));
    span.end();
}

/// Eight `nop`s, in line (a loop would add its counter and branch).
macro_rules! nop8 {
    () => {
        cortex_m::asm::nop();
        cortex_m::asm::nop();
        cortex_m::asm::nop();
        cortex_m::asm::nop();
        cortex_m::asm::nop();
        cortex_m::asm::nop();
        cortex_m::asm::nop();
        cortex_m::asm::nop();
    };
}

/// Exactly 64 instructions, the calibration's known length.
#[inline(always)]
fn nops64() {
    nop8!();
    nop8!();
    nop8!();
    nop8!();
    nop8!();
    nop8!();
    nop8!();
    nop8!();
}

/// W1, as the host benchmark runs it.
#[inline(never)]
fn w1(tracer: &W1Tracer) {
    let mut span = tracer.start_span(black_box("GET /users/{id}"));
    span.set_attribute("http.request.method", black_box("GET"));
    span.set_attribute("http.response.status_code", black_box(200i64));
    span.set_attribute("cache.hit", black_box(true));
    span.end();
}

#[entry]
fn main() -> ! {
    let core = cortex_m::Peripherals::take().unwrap_or_else(|| exit(false));
    init_clocks();
    let clock = SysTickClock::start(
        core.SYST,
        Timestamp::from_unix_nanos(1_767_225_600_000_000_000),
    );
    let tracer: W1Tracer = Tracer::new(
        TracerConfig::new("insn-count").with_static_sampler(ParentBasedAlwaysOn),
        &ARENA,
        clock,
        IdGenerator::from_seed([7; 32]),
        W5Encoder {
            buf: [0; 2048],
            measured: false,
            encoded: 0,
        },
    );
    // Warm-up (first-use paths), then an empty ended queue: the measured span neither
    // finds the arena full nor triggers an export.
    for _ in 0..3 {
        w1(&tracer);
    }
    tracer.flush();

    insn_mark_calib_begin();
    nops64();
    insn_mark_calib_end();

    insn_mark_w1_begin();
    w1(&tracer);
    insn_mark_w1_end();

    tracer.flush();

    for _ in 0..W5_SPANS {
        w5_span(&tracer);
    }
    tracer.flush();

    let encoded = tracer.with_exporter(|x| x.encoded).unwrap_or(0);
    let measured = tracer.with_exporter(|x| x.measured).unwrap_or(false);
    exit(
        tracer.stats().spans_exported == 4 + W5_SPANS as u64 && encoded == 4 + W5_SPANS && measured,
    )
}
