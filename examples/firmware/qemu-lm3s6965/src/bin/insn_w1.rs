//! Instruction count of one W1 span on a Cortex-M3 (`ci/insn-count.sh`): a root span,
//! three attributes (string, integer, bool), end, through the shared tracer with the
//! board's SysTick clock, between two marker functions. A run of 64 `nop`s between two
//! other markers calibrates what the markers themselves add.
//!
//! QEMU runs it with one instruction per translation block (`-singlestep -d
//! nochain,exec`), so its log has one line per executed instruction, named by function.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use panic_halt as _;
use picotrace::sampler::ParentBasedAlwaysOn;
use picotrace::{IdGenerator, NoopExporter, SpanArena, Timestamp, Tracer, TracerConfig};
use picotrace_qemu_lm3s6965::{exit, init_clocks, SysTickClock};

/// The sensor-node demo's arena shape.
type Arena = SpanArena<8, 8, 2, 1, 192>;
static ARENA: Arena = Arena::new();

/// With OpenTelemetry's default sampler fixed at compile time, as firmware configures it.
type W1Tracer = Tracer<&'static Arena, SysTickClock, NoopExporter, ParentBasedAlwaysOn>;

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
        NoopExporter,
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
    exit(tracer.stats().spans_exported == 4)
}
