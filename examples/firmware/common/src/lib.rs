//! What every picotrace board example shares, so that each board folder holds only its
//! board support (clock, entropy, UART, sensor, console):
//!
//! - [`exporter`]: [`FrameExporter`], a [`picotrace::SpanExporter`] that encodes finished
//!   spans as OTLP protobuf requests and writes each as one COBS + CRC-32 frame
//!   ([`picotrace::wire::frame`]) to a byte sink, typically a UART. The host side is
//!   `examples/server/src/bin/uart_bridge.rs`.
//! - [`sensor_node`]: the demo workload: continue a trace from a `traceparent`, read a
//!   sensor, filter, transmit, with an error path that records an exception.
//! - [`systick`]: time from SysTick and the periods its interrupt counts, read without
//!   losing a wrap the interrupt has not counted yet.
//! - [`footprint`]: the workload of the footprint binaries (`ci/footprint.sh`), the same
//!   on every board.
//! - [`entropy`]: [`SeedMixer`], which folds whatever weak entropy a board has into a
//!   seed for [`picotrace::IdGenerator`] (boards without a usable hardware RNG).
//! - [`stellaris_clock`]: the LM3S (Stellaris) system clock from the PLL, the data
//!   sheet's sequence over a register trait that host tests run against a model.
//! - `defmt_log` (feature `defmt`): `DefmtConsole` and `DefmtExporter`, which log the
//!   workload's progress, every span that ends and export errors as defmt messages, for
//!   the boards whose users read defmt over RTT.
//!
//! No allocator, no `unsafe`; `#![no_std]`.
#![no_std]
#![forbid(unsafe_code)]

#[cfg(feature = "defmt")]
pub mod defmt_log;
pub mod entropy;
pub mod exporter;
pub mod footprint;
pub mod sensor_node;
pub mod stellaris_clock;
pub mod systick;

pub use entropy::{looks_random, SeedMixer};
pub use exporter::{FrameExporter, FrameSink};
pub use picotrace::export::frame::FrameStats;
