//! The sensor-node demo on a Raspberry Pi Pico (RP2040): the measurement cycle of
//! `picotrace_firmware_common::sensor_node` on the chip's temperature sensor, spans
//! exported as framed OTLP protobuf on UART0 (GP0 = TX, GP1 = RX, 115200 8N1), progress,
//! finished spans and errors logged with defmt over RTT.
//!
//! | need | RP2040 |
//! | --- | --- |
//! | clock | the 64-bit 1 MHz `TIMER` (microseconds since boot) plus a boot epoch |
//! | ids | the ring oscillator (`RANDOMBIT`, free-running and jittery: real but not certified entropy), read a bit every 64 cycles, checked for a stuck source, and folded with the timer into a `SeedMixer` |
//! | sensor | ADC channel 4, the on-die temperature sensor |
//! | frames | UART0 to a USB-serial adapter (or a debug probe's UART), read by `uart_bridge` |
//! | console | defmt over RTT (`defmt-rtt`); panics through `panic-probe` |
//! | sharing | the Cortex-M0+ has no compare-and-swap: picotrace's `critical-section` feature (atomics through the RP2040's hardware spinlock) |
#![no_std]
#![no_main]

use defmt_rtt as _;
use panic_probe as _;
use picotrace::{Clock, IdGenerator, KeyValue, SpanArena, Timestamp, Tracer, TracerConfig, Value};
use picotrace_firmware_common::defmt_log::{DefmtConsole, DefmtExporter};
use picotrace_firmware_common::sensor_node::{self, Sensor, SimulatedLink, DEFAULT_TRACEPARENT};
use picotrace_firmware_common::{looks_random, FrameExporter, FrameSink, SeedMixer};
use rp2040_hal as hal;

use hal::clocks::{init_clocks_and_plls, Clock as _};
use hal::fugit::RateExtU32;
use hal::uart::{DataBits, StopBits, UartConfig, UartPeripheral};
use hal::{pac, Sio, Watchdog};

/// The second-stage bootloader for the Pico's W25Q080 flash.
#[link_section = ".boot2"]
#[used]
pub static BOOT2: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// The Pico's crystal.
const XTAL_FREQ_HZ: u32 = 12_000_000;
/// The RP2040 has no real-time clock that survives reset; a product learns the epoch
/// from its gateway. The demo assumes it booted at 2026-01-01T00:00:00Z.
const BOOT_UNIX_SECONDS: u64 = 1_767_225_600;
/// Seed words read from the ring oscillator: 1,024 raw bits for a 256-bit seed.
const ROSC_SEED_WORDS: usize = 32;
/// Cycles between two `RANDOMBIT` reads: at 125 MHz about 0.5 µs, three periods of the
/// ring oscillator.
const ROSC_BIT_SPACING_CYCLES: u32 = 64;

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
        value: Value::Str("RP2040 (Raspberry Pi Pico)"),
    },
];

/// Time from the 1 MHz timer.
struct TimerClock {
    timer: hal::Timer,
    epoch_nanos: u64,
}

impl Clock for TimerClock {
    fn now(&self) -> Timestamp {
        let micros = self.timer.get_counter().ticks();
        Timestamp::from_unix_nanos(self.epoch_nanos + micros * 1_000)
    }
}

/// The on-die temperature sensor through the ADC.
struct TempSensor {
    adc: hal::Adc,
    sensor: hal::adc::TempSense,
}

impl Sensor for TempSensor {
    const CHANNEL: u32 = 4;
    const FULL_SCALE_MV: u32 = 3300;
    const BITS: u32 = 12;

    fn read(&mut self) -> u16 {
        self.adc.read(&mut self.sensor).unwrap_or(0)
    }
}

/// UART0 as the frame sink.
struct UartSink<D: hal::uart::UartDevice, P: hal::uart::ValidUartPinout<D>>(
    UartPeripheral<hal::uart::Enabled, D, P>,
);

impl<D: hal::uart::UartDevice, P: hal::uart::ValidUartPinout<D>> FrameSink for UartSink<D, P> {
    fn write(&mut self, bytes: &[u8]) -> bool {
        self.0.write_full_blocking(bytes);
        true
    }
}

#[hal::entry]
fn main() -> ! {
    defmt::info!("picotrace sensor node on RP2040 (Cortex-M0+)");

    let Some(mut pac) = pac::Peripherals::take() else {
        defmt::panic!("peripherals already taken")
    };
    let mut watchdog = Watchdog::new(pac.WATCHDOG);
    let Ok(clocks) = init_clocks_and_plls(
        XTAL_FREQ_HZ,
        pac.XOSC,
        pac.CLOCKS,
        pac.PLL_SYS,
        pac.PLL_USB,
        &mut pac.RESETS,
        &mut watchdog,
    ) else {
        defmt::panic!("clocks and PLLs did not start")
    };
    let sio = Sio::new(pac.SIO);
    let pins = hal::gpio::Pins::new(
        pac.IO_BANK0,
        pac.PADS_BANK0,
        sio.gpio_bank0,
        &mut pac.RESETS,
    );
    let uart_pins = (pins.gpio0.into_function(), pins.gpio1.into_function());
    let Ok(uart) = UartPeripheral::new(pac.UART0, uart_pins, &mut pac.RESETS).enable(
        UartConfig::new(115_200.Hz(), DataBits::Eight, None, StopBits::One),
        clocks.peripheral_clock.freq(),
    ) else {
        defmt::panic!("UART0 rejected its configuration")
    };
    let timer = hal::Timer::new(pac.TIMER, &mut pac.RESETS, &clocks);
    let rosc = hal::rosc::RingOscillator::new(pac.ROSC).initialize();
    // The ring oscillator (about 6 MHz) read back to back at 125 MHz gives correlated
    // bits (rp2040-hal's `RngCore` does that): each bit here is read some cycles after
    // the last, four raw bits for every seed bit, and the timer's low bits folded in;
    // `SeedMixer` spreads them over the 256-bit seed. Jitter, not certified entropy.
    let mut raw = [0u32; ROSC_SEED_WORDS];
    for word in &mut raw {
        for _ in 0..32 {
            cortex_m::asm::delay(ROSC_BIT_SPACING_CYCLES);
            *word = *word << 1 | u32::from(rosc.get_random_bit());
        }
    }
    // Checked before mixing: the mixer's seed looks random whatever goes in.
    if !looks_random(&raw) {
        defmt::panic!("the ring oscillator's bits look stuck: no entropy for the tracer");
    }
    let mut mixer = SeedMixer::new();
    for word in raw {
        mixer.absorb(word ^ timer.get_counter_low());
    }
    let mut adc = hal::Adc::new(pac.ADC, &mut pac.RESETS);
    let Some(sensor) = adc.take_temp_sensor() else {
        defmt::panic!("temperature sensor already taken")
    };

    let clock = TimerClock {
        timer,
        epoch_nanos: BOOT_UNIX_SECONDS * 1_000_000_000,
    };
    let frames: FrameExporter<_, EXPORT_BUFFER> = FrameExporter::new(UartSink(uart));
    // Every finished span is logged, then framed onto UART0.
    let exporter = DefmtExporter::new(frames);
    let config = TracerConfig::new("sensor-node")
        .with_resource_attributes(&RESOURCE)
        .with_scope("picotrace-firmware-common", env!("CARGO_PKG_VERSION"))
        .with_export_batch_size(EXPORT_BATCH);
    // Built in place and lent to the tracer: moving a whole arena by value would put
    // several copies of it on the stack.
    let mut arena = Arena::new();
    let tracer: Tracer<&mut Arena, _, _> = Tracer::unseeded(config, &mut arena, clock, exporter);
    // Refused when the seed looks stuck (it cannot, through the mixer: checked above;
    // kept for a source that is read without one).
    if !tracer.seed(IdGenerator::from_entropy(&mut mixer)) {
        defmt::panic!("the ring oscillator gave no entropy to seed the tracer");
    }

    let mut sensor = TempSensor { adc, sensor };
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
        "readings: {=u32} sent, {=u32} lost on the link; uart0: {=u32} frames",
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
