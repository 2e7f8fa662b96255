//! The sensor-node demo on the nRF52840-DK: the measurement cycle of
//! `picotrace_firmware_common::sensor_node` on the supply voltage (SAADC), spans exported
//! as framed OTLP protobuf on UARTE0 (P0.06 = TX, P0.08 = RX: the on-board J-Link's
//! virtual COM port, 115200 8N1), progress, finished spans and errors logged with defmt
//! over RTT.
//!
//! | need | nRF52840 |
//! | --- | --- |
//! | clock | TIMER1 at 1 MHz from the 32 MHz crystal (HFXO), 32-bit, extended to 64 bits in software |
//! | ids | the RNG peripheral (a true random number generator, bias correction on), lent to `IdGenerator::with_rng`: it implements `rand_core` 0.9 |
//! | sensor | SAADC on the internal VDD channel, 12 bits, 0.6 V reference with gain 1/6 (3.6 V full scale) |
//! | frames | UARTE0 (EasyDMA: every chunk is copied to RAM first) |
//! | console | defmt over RTT (`defmt-rtt`); panics through `panic-probe` |
//! | sharing | one tracer, kept in `main` (the main loop traces; a `static` one could be shared with interrupt handlers: atomics, the clock behind a critical section) |
#![no_std]
#![no_main]

use core::cell::Cell;

use critical_section::Mutex;

use cortex_m_rt::entry;
use defmt_rtt as _;
use nrf52840_hal as hal;
use panic_probe as _;
use picotrace::{Clock, IdGenerator, KeyValue, SpanArena, Timestamp, Tracer, TracerConfig, Value};
use picotrace_firmware_common::defmt_log::{DefmtConsole, DefmtExporter};
use picotrace_firmware_common::sensor_node::{self, Sensor, SimulatedLink, DEFAULT_TRACEPARENT};
use picotrace_firmware_common::{FrameExporter, FrameSink};

use hal::gpio::Level;
use hal::pac;
use hal::saadc::{
    Gain, InternalVdd, Oversample, Reference, Resistor, Resolution, SaadcConfig, Time,
};
use hal::timer::Periodic;
use hal::uarte::{Baudrate, Parity, Pins};

/// The nRF52840's RTC does not keep calendar time across resets; a product learns the
/// epoch from its gateway. The demo assumes it booted at 2026-01-01T00:00:00Z.
const BOOT_UNIX_SECONDS: u64 = 1_767_225_600;

type Arena = SpanArena<8, 8, 2, 1, 192>;
const EXPORT_BUFFER: usize = 1024;
const EXPORT_BATCH: usize = 4;

static RESOURCE: [KeyValue<'static>; 2] = [
    KeyValue {
        key: "service.version",
        value: Value::Str(env!("CARGO_PKG_VERSION")),
    },
    KeyValue {
        key: "device.model.identifier",
        value: Value::Str("nRF52840-DK"),
    },
];

/// Microseconds from TIMER1, extended past its 32-bit wrap (every 71.6 minutes) by
/// noticing when a reading is smaller than the previous one: `now` must be called at
/// least once per wrap, as this demo (a few samples, then halt) does. A device that
/// can go quiet for longer (a sensor that wakes hourly) would lose 71.6 minutes per
/// wrap it did not see, silently and for good: count the wraps in the timer's
/// COMPARE interrupt instead, or read the RTC (found by review). The timer and the
/// wrap count sit in a critical-section mutex: the tracer is shared (`Sync`), so its
/// clock may be read from an interrupt too.
struct TimerClock {
    timer: Mutex<TimerState>,
    epoch_nanos: u64,
}

struct TimerState {
    timer: hal::Timer<pac::TIMER1, Periodic>,
    last: Cell<u32>,
    wraps: Cell<u32>,
}

impl Clock for TimerClock {
    fn now(&self) -> Timestamp {
        let micros = critical_section::with(|cs| {
            let t = self.timer.borrow(cs);
            let micros = t.timer.read();
            if micros < t.last.get() {
                t.wraps.set(t.wraps.get() + 1);
            }
            t.last.set(micros);
            (u64::from(t.wraps.get()) << 32) | u64::from(micros)
        });
        Timestamp::from_unix_nanos(self.epoch_nanos + micros * 1_000)
    }
}

/// The supply voltage through the SAADC.
struct VddSensor(hal::Saadc);

impl Sensor for VddSensor {
    /// SAADC `PSELP` value of the VDD input.
    const CHANNEL: u32 = 9;
    const FULL_SCALE_MV: u32 = 3600;
    const BITS: u32 = 12;

    fn read(&mut self) -> u16 {
        self.0
            .read_channel(&mut InternalVdd)
            .map_or(0, |v| v.max(0) as u16)
    }
}

/// UARTE0 as the frame sink: EasyDMA reads only RAM, so chunks (which may be in flash)
/// are copied through a small buffer.
struct UarteSink(hal::Uarte<pac::UARTE0>);

impl FrameSink for UarteSink {
    fn write(&mut self, bytes: &[u8]) -> bool {
        let mut staging = [0u8; 64];
        for chunk in bytes.chunks(staging.len()) {
            staging[..chunk.len()].copy_from_slice(chunk);
            if self.0.write(&staging[..chunk.len()]).is_err() {
                // The exporter drops the frame and counts its spans as lost.
                return false;
            }
        }
        true
    }
}

#[entry]
fn main() -> ! {
    defmt::info!("picotrace sensor node on nRF52840 (Cortex-M4F)");

    let Some(p) = pac::Peripherals::take() else {
        defmt::panic!("peripherals already taken")
    };
    let _clocks = hal::Clocks::new(p.CLOCK).enable_ext_hfosc();
    let port0 = hal::gpio::p0::Parts::new(p.P0);
    let uarte = hal::Uarte::new(
        p.UARTE0,
        Pins {
            txd: port0.p0_06.into_push_pull_output(Level::High).degrade(),
            rxd: port0.p0_08.into_floating_input().degrade(),
            cts: None,
            rts: None,
        },
        Parity::EXCLUDED,
        Baudrate::BAUD115200,
    );
    let mut timer = hal::Timer::periodic(p.TIMER1);
    timer.start(u32::MAX);
    let mut rng = hal::Rng::new(p.RNG);
    let saadc = hal::Saadc::new(
        p.SAADC,
        SaadcConfig {
            resolution: Resolution::_12BIT,
            oversample: Oversample::BYPASS,
            reference: Reference::INTERNAL,
            gain: Gain::GAIN1_6,
            resistor: Resistor::BYPASS,
            time: Time::_10US,
        },
    );

    let clock = TimerClock {
        timer: Mutex::new(TimerState {
            timer,
            last: Cell::new(0),
            wraps: Cell::new(0),
        }),
        epoch_nanos: BOOT_UNIX_SECONDS * 1_000_000_000,
    };
    let frames: FrameExporter<_, EXPORT_BUFFER> = FrameExporter::new(UarteSink(uarte));
    // Every finished span is logged, then framed onto UARTE0.
    let exporter = DefmtExporter::new(frames);
    let config = TracerConfig::new("sensor-node")
        .with_resource_attributes(&RESOURCE)
        .with_scope("picotrace-firmware-common", env!("CARGO_PKG_VERSION"))
        .with_export_batch_size(EXPORT_BATCH);
    // Built in place and lent to the tracer: moving a whole arena by value would put
    // several copies of it on the stack.
    let mut arena = Arena::new();
    let tracer: Tracer<&mut Arena, _, _> = Tracer::unseeded(config, &mut arena, clock, exporter);
    // The tracer draws its id keys from the true RNG once, here: rand_core 0.9, as
    // picotrace's, so no adapter (see `picotrace::random`). Refused when the output looks
    // stuck: the tracer would record nothing, and the device should say so.
    if !tracer.seed(IdGenerator::with_rng(&mut rng)) {
        defmt::panic!("the RNG gave no entropy to seed the tracer");
    }

    let mut sensor = VddSensor(saadc);
    let mut link = SimulatedLink::default();
    let summary = sensor_node::run(
        &tracer,
        &mut sensor,
        &mut link,
        DEFAULT_TRACEPARENT,
        &mut DefmtConsole,
    );
    tracer.flush();
    let stats = tracer.stats();
    let frames = tracer
        .with_exporter(|x| x.inner().stats())
        .unwrap_or_default();
    defmt::info!(
        "readings: {=u32} sent, {=u32} lost on the link; uarte0: {=u32} frames",
        summary.sent,
        summary.failed,
        frames.frames
    );
    if stats.spans_lost() > 0 {
        defmt::warn!("{=u64} spans lost: {}", stats.spans_lost(), stats);
    } else {
        defmt::info!("{}", stats);
    }
    halt()
}

fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

/// A `defmt::panic!` has printed its message through defmt already: stop without
/// panic-probe printing it a second time (as "explicit panic").
#[defmt::panic_handler]
fn defmt_panic() -> ! {
    panic_probe::hard_fault()
}
