//! The sensor-node demo on an ESP32-C3 (e.g. ESP32-C3-DevKitM-1): the measurement cycle
//! of `picotrace_firmware_common::sensor_node` on ADC1 channel 2 (GPIO2), spans exported
//! as framed OTLP protobuf on UART1 (GPIO4 = TX, GPIO5 = RX, 115200 8N1), the console on
//! esp-println (USB-Serial-JTAG or UART0, the board's USB port).
//!
//! | need | ESP32-C3 |
//! | --- | --- |
//! | clock | `esp_hal::time::Instant`: the 52-bit SYSTIMER, microseconds since boot |
//! | entropy | the RNG peripheral while `TrngSource` keeps the SAR ADC running as its noise source (esp-hal's "true random" mode), mixed with SYSTIMER ticks |
//! | sensor | ADC1 channel 2 (GPIO2), 11 dB attenuation (about 0-2.5 V), 12 bits |
//! | frames | UART1 to a USB-serial adapter, read by `uart_bridge` |
//! | sharing | RV32IMC has no atomic compare-and-swap: portable-atomic's single-core mode, which esp-hal turns on |
#![no_std]
#![no_main]

use core::fmt::Write as _;

use esp_hal::analog::adc::{Adc, AdcConfig, AdcPin, Attenuation};
use esp_hal::peripherals::{ADC1, GPIO2};
use esp_hal::rng::{Trng, TrngSource};
use esp_hal::time::Instant;
use esp_hal::uart::{self, Uart};
use esp_hal::Blocking;
use picotrace::{Clock, IdGenerator, KeyValue, SpanArena, Timestamp, Tracer, TracerConfig, Value};
use picotrace_firmware_common::sensor_node::{self, Sensor, SimulatedLink, DEFAULT_TRACEPARENT};
use picotrace_firmware_common::{looks_random, FrameExporter, FrameSink, SeedMixer};

esp_bootloader_esp_idf::esp_app_desc!();

/// The ESP32-C3 keeps no calendar time across resets; a product learns the epoch from
/// its gateway or SNTP. The demo assumes it booted at 2026-01-01T00:00:00Z.
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
        value: Value::Str("ESP32-C3"),
    },
];

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    halt()
}

/// Microseconds since boot from SYSTIMER.
struct SysTimerClock {
    epoch_nanos: u64,
}

impl Clock for SysTimerClock {
    fn now(&self) -> Timestamp {
        let micros = Instant::now().duration_since_epoch().as_micros();
        Timestamp::from_unix_nanos(self.epoch_nanos + micros * 1_000)
    }
}

/// An analog sensor on GPIO2.
struct AnalogSensor<'d> {
    adc: Adc<'d, ADC1<'d>, Blocking>,
    pin: AdcPin<GPIO2<'d>, ADC1<'d>>,
}

impl Sensor for AnalogSensor<'_> {
    const CHANNEL: u32 = 2;
    const FULL_SCALE_MV: u32 = 2500;
    const BITS: u32 = 12;

    fn read(&mut self) -> u16 {
        nb::block!(self.adc.read_oneshot(&mut self.pin)).unwrap_or(0)
    }
}

/// UART1 as the frame sink.
struct UartSink<'d>(Uart<'d, Blocking>);

impl FrameSink for UartSink<'_> {
    fn write(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            match self.0.write(bytes) {
                Ok(n) if n > 0 => bytes = &bytes[n..],
                // The exporter drops the frame and counts its spans as lost.
                _ => return false,
            }
        }
        true
    }
}

#[esp_hal::main]
fn main() -> ! {
    let mut peripherals = esp_hal::init(esp_hal::Config::default());
    let mut console = esp_println::Printer;
    let _ = writeln!(console, "picotrace sensor node on ESP32-C3 (RISC-V)");

    let mut mixer = SeedMixer::new();
    {
        // The SAR ADC feeds the RNG with noise while this source lives.
        let _source = TrngSource::new(peripherals.RNG, peripherals.ADC1.reborrow());
        match Trng::try_new() {
            Ok(trng) => {
                let raw: [u32; 8] = core::array::from_fn(|_| trng.random());
                // Checked before mixing: the mixer's seed looks random whatever goes in.
                if !looks_random(&raw) {
                    let _ = writeln!(console, "the RNG's words look stuck: halted");
                    halt()
                }
                mixer.absorb_all(&raw);
            }
            // Without its noise source the RNG is only pseudo-random, and a timer
            // reading this early is nearly the same every boot: ids would repeat
            // across boots and devices. Stop instead.
            Err(_) => {
                let _ = writeln!(console, "no true random source to seed the tracer: halted");
                halt()
            }
        }
        mixer.absorb(Instant::now().duration_since_epoch().as_micros() as u32);
    }

    let Ok(uart) = Uart::new(
        peripherals.UART1,
        uart::Config::default().with_baudrate(115_200),
    ) else {
        halt()
    };
    let uart = uart.with_tx(peripherals.GPIO4).with_rx(peripherals.GPIO5);
    let mut adc_config = AdcConfig::new();
    let pin = adc_config.enable_pin(peripherals.GPIO2, Attenuation::_11dB);
    let adc = Adc::new(peripherals.ADC1, adc_config);

    let clock = SysTimerClock {
        epoch_nanos: BOOT_UNIX_SECONDS * 1_000_000_000,
    };
    let exporter: FrameExporter<_, EXPORT_BUFFER> = FrameExporter::new(UartSink(uart));
    let config = TracerConfig::new("sensor-node")
        .with_resource_attributes(&RESOURCE)
        .with_scope("picotrace-firmware-common", env!("CARGO_PKG_VERSION"))
        .with_export_batch_size(EXPORT_BATCH);
    // Built in place and lent to the tracer: moving a whole arena by value would put
    // several copies of it on the stack.
    let mut arena = Arena::new();
    let tracer: Tracer<&mut Arena, _, _> = Tracer::unseeded(config, &mut arena, clock, exporter);
    // Refused when the seed looks stuck: the tracer would record nothing.
    if !tracer.seed(IdGenerator::from_entropy(&mut mixer)) {
        let _ = writeln!(console, "no entropy to seed the tracer: halted");
        halt()
    }

    let mut sensor = AnalogSensor { adc, pin };
    let mut link = SimulatedLink::default();
    let summary = sensor_node::run(
        &tracer,
        &mut sensor,
        &mut link,
        DEFAULT_TRACEPARENT,
        &mut console,
    );
    tracer.flush();
    let stats = tracer.stats();
    let frames = tracer.with_exporter(|x| x.stats()).unwrap_or_default();
    let _ = writeln!(
        console,
        "readings: {} sent, {} lost on the link; spans: {} exported, {} lost; uart1: {} frames",
        summary.sent,
        summary.failed,
        stats.spans_exported,
        stats.spans_lost(),
        frames.frames
    );
    halt()
}

fn halt() -> ! {
    loop {
        core::hint::spin_loop();
    }
}
