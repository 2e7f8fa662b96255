//! The demo workload every board runs: a sensor node asked by its gateway to take a few
//! measurements.
//!
//! The gateway's request carries a W3C `traceparent`; the node continues that trace:
//!
//! ```text
//! sensor_cycle (server, child of the gateway's span)
//! ├── sample            ×SAMPLES
//! │   ├── read_sensor   ADC channel and raw counts
//! │   ├── filter        exponential moving average, in millivolts
//! │   └── transmit      (client) the reading to the gateway over the link
//! ```
//!
//! The boards have no radio, so [`SimulatedLink`] stands in for one and refuses every
//! third packet: the last sample's `transmit` fails, records an `exception` event
//! (`exception.type` = `LinkError`) and sets an error status on it and its `sample`.
//!
//! The workload reports its progress ([`Progress`]) to a [`Console`]: any
//! [`core::fmt::Write`] prints it as text lines (semihosting, a UART, `esp-println`);
//! with this crate's `defmt` feature, [`DefmtConsole`](crate::defmt_log::DefmtConsole)
//! logs it as defmt messages (RTT). Text lines hold no times and no generated ids, only
//! what the inputs determine, so the QEMU run's output can be compared byte for byte with
//! an expected-output file.

use core::fmt::Write;

use picotrace::propagation::ExtractError;
use picotrace::span::arena::SpanStorage;
use picotrace::{semconv, Clock, SpanContext, SpanExporter, SpanKind, TraceContext, Tracer};

/// Measurements per cycle.
pub const SAMPLES: u32 = 3;

/// The `traceparent` the demo continues when none is given (the W3C specification's
/// example).
pub const DEFAULT_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// What the workload needs from the board.
pub trait Sensor {
    /// The ADC channel the sensor is on (recorded as an attribute).
    const CHANNEL: u32;
    /// Full-scale voltage of the ADC, in millivolts.
    const FULL_SCALE_MV: u32;
    /// Resolution of the ADC, in bits.
    const BITS: u32;

    /// Takes one reading, in raw ADC counts.
    fn read(&mut self) -> u16;
}

/// Why a packet did not reach the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LinkError {
    /// The gateway did not acknowledge the packet, even after retries.
    NoAck {
        /// How many times the packet was sent.
        attempts: u32,
    },
}

/// A stand-in for a radio link to the gateway: it refuses every third packet.
#[derive(Debug, Default)]
pub struct SimulatedLink {
    packets: u32,
}

impl SimulatedLink {
    /// Retries before a packet counts as lost.
    pub const ATTEMPTS: u32 = 3;

    /// "Sends" one reading.
    ///
    /// # Errors
    /// [`LinkError::NoAck`] for every third packet.
    pub fn send(&mut self, _millivolts: u32) -> Result<(), LinkError> {
        self.packets += 1;
        if self.packets.is_multiple_of(3) {
            Err(LinkError::NoAck {
                attempts: Self::ATTEMPTS,
            })
        } else {
            Ok(())
        }
    }
}

/// What the workload has just done, for the [`Console`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress<'a> {
    /// A cycle starts under the gateway's `traceparent` (as received, unparsed).
    Request {
        /// The header's value.
        traceparent: &'a str,
    },
    /// The `traceparent` was valid: the cycle continues that trace.
    Continuing {
        /// The gateway's span: trace id, parent span id, flags.
        parent: SpanContext,
    },
    /// The `traceparent` was unusable: the cycle starts a new trace.
    NewTrace {
        /// What was wrong with it.
        error: ExtractError,
    },
    /// One reading was taken, filtered and transmitted (or not).
    Sample {
        /// 1 for the first reading of the cycle.
        index: u32,
        /// Raw ADC counts.
        raw: u16,
        /// The reading in millivolts.
        millivolts: u32,
        /// The filtered value that was transmitted, in millivolts.
        filtered: u32,
        /// What the link made of it.
        sent: Result<(), LinkError>,
    },
}

/// Text from outside (the gateway's `traceparent`) as it is, but for control
/// characters, escaped: a forged line or a terminal escape sequence does not reach the
/// operator's console (found by review).
struct Escaped<'a>(&'a str);

impl core::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn a_forged_traceparent_cannot_write_lines_or_escapes_to_the_console() {
        let mut out = std::string::String::new();
        out.report(&Progress::Request {
            traceparent: "00-ab\r\nspans: 0 started\u{1b}[2J",
        });
        assert_eq!(out, "traceparent: 00-ab\\r\\nspans: 0 started\\u{1b}[2J\n");
        let mut out = std::string::String::new();
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        out.report(&Progress::Request { traceparent: valid });
        assert_eq!(out, std::format!("traceparent: {valid}\n"));
    }
}

/// Where the workload reports its [`Progress`].
pub trait Console {
    /// Reports one step.
    fn report(&mut self, progress: &Progress<'_>);
}

/// Text lines, one per step (the QEMU demo's expected output is these lines).
impl<W: Write> Console for W {
    fn report(&mut self, progress: &Progress<'_>) {
        let _ = match *progress {
            Progress::Request { traceparent } => {
                writeln!(self, "traceparent: {}", Escaped(traceparent))
            }
            Progress::Continuing { parent } => {
                writeln!(self, "continuing trace {}", parent.trace_id)
            }
            Progress::NewTrace { error } => {
                writeln!(
                    self,
                    "no usable traceparent ({error}): starting a new trace"
                )
            }
            Progress::Sample {
                index,
                raw,
                millivolts,
                filtered,
                sent,
            } => {
                let _ = write!(
                    self,
                    "sample {index}: raw {raw} = {millivolts} mV, filtered {filtered} mV: "
                );
                match sent {
                    Ok(()) => writeln!(self, "sent"),
                    Err(LinkError::NoAck { attempts }) => {
                        writeln!(self, "no ACK after {attempts} attempts, exception recorded")
                    }
                }
            }
        };
    }
}

/// What one cycle did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Readings taken.
    pub samples: u32,
    /// Readings the gateway acknowledged.
    pub sent: u32,
    /// Readings lost on the link.
    pub failed: u32,
    /// Whether the cycle continued the given trace (else it started a new one).
    pub continued: bool,
}

/// Runs one measurement cycle under `traceparent`, reporting progress to `console`.
///
/// An invalid or empty `traceparent` starts a new trace, as W3C Trace Context asks.
pub fn run<A, C, X, S>(
    tracer: &Tracer<A, C, X>,
    sensor: &mut S,
    link: &mut SimulatedLink,
    traceparent: &str,
    console: &mut impl Console,
) -> Summary
where
    A: SpanStorage,
    C: Clock + Sync,
    X: SpanExporter + Send,
    S: Sensor,
{
    let incoming = continue_trace(traceparent, console);
    let mut summary = Summary {
        continued: incoming.is_ok(),
        ..Summary::default()
    };

    let mut cycle = tracer.start_server_span("sensor_cycle", &incoming);
    cycle.set_attribute("sensor.samples", SAMPLES);
    let mut filtered_mv: Option<u32> = None;
    for index in 1..=SAMPLES {
        let mut sample = cycle.child("sample");
        sample.set_attribute("sample.index", index);

        let mut read = sample.child("read_sensor");
        let raw = sensor.read();
        read.set_attribute("adc.channel", S::CHANNEL);
        read.set_attribute("adc.raw", raw);
        read.set_ok();
        read.end();

        let mut filter = sample.child("filter");
        let millivolts = to_millivolts::<S>(raw);
        // Exponential moving average with alpha = 1/4, seeded by the first reading.
        let smoothed = match filtered_mv {
            None => millivolts,
            Some(prev) => (prev * 3 + millivolts) / 4,
        };
        filtered_mv = Some(smoothed);
        filter.set_attribute("filter.kind", "ema");
        filter.set_attribute("filter.input_mv", millivolts);
        filter.set_attribute("filter.output_mv", smoothed);
        filter.end();

        let mut transmit = sample.child_with_kind("transmit", SpanKind::Client);
        transmit.set_attribute("link.destination", "gateway");
        transmit.set_attribute("link.value_mv", smoothed);
        let sent = link.send(smoothed);
        match sent {
            Ok(()) => {
                transmit.set_ok();
                summary.sent += 1;
            }
            Err(LinkError::NoAck { attempts }) => {
                transmit.set_attribute(semconv::ERROR_TYPE, "LinkError");
                transmit.set_attribute("link.attempts", attempts);
                transmit.record_exception_with_type(
                    "LinkError",
                    "no ACK from gateway after 3 attempts",
                );
                transmit.set_error("no ACK from gateway");
                sample.set_error("reading not delivered");
                summary.failed += 1;
            }
        }
        transmit.end();
        console.report(&Progress::Sample {
            index,
            raw,
            millivolts,
            filtered: smoothed,
            sent,
        });
        summary.samples += 1;
    }
    if summary.failed > 0 {
        cycle.set_error("some readings were not delivered");
    } else {
        cycle.set_ok();
    }
    cycle.end();
    summary
}

/// Parses the gateway's `traceparent` and says on `console` which trace the node
/// continues (or that it starts a new one).
///
/// # Errors
/// Why `traceparent` is not usable; the caller then starts a new trace.
pub fn continue_trace(
    traceparent: &str,
    console: &mut impl Console,
) -> Result<TraceContext, ExtractError> {
    let headers = [(picotrace::propagation::TRACEPARENT, traceparent)];
    let incoming = TraceContext::from_headers(&headers[..]);
    console.report(&Progress::Request { traceparent });
    console.report(&match &incoming {
        Ok(cx) => Progress::Continuing {
            parent: cx.span_context,
        },
        Err(error) => Progress::NewTrace { error: *error },
    });
    incoming
}

/// Prints the tracer's counters and the frames' on `console`; returns whether every span
/// was exported and went out in a frame.
pub fn report(
    console: &mut impl Write,
    stats: &picotrace::TracerStats,
    frames: &picotrace::export::frame::FrameStats,
) -> bool {
    let _ = writeln!(
        console,
        "spans: {} started, {} exported, {} lost",
        stats.spans_started,
        stats.spans_exported,
        stats.spans_lost()
    );
    let _ = writeln!(
        console,
        "uart0: {} OTLP frames holding {} spans",
        frames.frames, frames.spans
    );
    stats.spans_lost() == 0 && u64::from(frames.spans) == stats.spans_exported
}

/// Converts raw ADC counts to millivolts.
pub fn to_millivolts<S: Sensor>(raw: u16) -> u32 {
    u32::from(raw) * S::FULL_SCALE_MV / (1 << S::BITS)
}
