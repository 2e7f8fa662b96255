//! picotrace: distributed tracing compatible with OpenTelemetry, for microcontrollers and
//! busy servers alike (on a Cortex-M3 the tracer with W3C `traceparent` adds about 31 KB
//! of flash to a bare program, 20 KB without the `tracestate` feature; `ci/footprint.sh`
//! measures it, BENCHMARKS.md has its tables).
//!
//! This crate is `#![no_std]` and never allocates; its only `unsafe` is the slot
//! ownership protocol in one small module (`sync`, model-checked with loom). The platform
//! brings time ([`Clock`]), entropy ([`Entropy`]) and an exporter ([`SpanExporter`]);
//! `picotrace-std` brings all three for servers.
//!
//! # Layers, top down
//! - [`tracer`]: [`Tracer`] starts spans (root, child, from a remote
//!   [`TraceContext`], server/client kinds, or via a [`SpanBuilder`]), asks the
//!   [`sampler`], records into the arena and hands finished spans to the exporter in
//!   batches. [`TracerConfig`] carries the service name, resource, sampler and limits.
//! - [`span`]: [`Span`] is the handle user code holds: `set_attribute`, `add_event`,
//!   `record_exception`, `set_ok`, `set_error`, `end` (or drop). Its data lives in a slot
//!   of a [`SpanArena`] whose capacities are const generics chosen by the user; what does
//!   not fit is dropped or cut, and counted: a span the arena has no slot for in
//!   [`TracerStats::spans_dropped_arena_full`]; attributes (an array that does not fit
//!   whole among them), events and links in OTLP's `dropped_*` fields; strings cut to
//!   the value length limit or to the text pool's room in
//!   [`TracerStats::values_truncated`], which OTLP cannot carry.
//! - [`sampler`]: always-on/off, trace-id ratio, parent-based with five delegates, rate
//!   limiting, and OTEP 235 consistent probability sampling.
//! - [`propagation`] and [`context`]: W3C `traceparent`/`tracestate` and `baggage`, B3
//!   (single and multiple headers) and Jaeger (`uber-trace-id`, `uberctx-*`), in and out
//!   of header carriers.
//! - [`export`]: the [`SpanExporter`] trait, [`SpanBatch`], [`Resource`];
//!   [`export::frame`] encodes batches as framed OTLP for byte streams (UARTs).
//! - [`wire`]: every byte format, parsed and emitted without allocation into caller
//!   buffers: hex ids, traceparent, tracestate, baggage, B3, Jaeger, OTLP protobuf and
//!   JSON, COBS + CRC-32 frames, the console format.
//! - [`id`], [`time`], [`random`]: ids and flags, timestamps and the `Clock` contract,
//!   id generation.
//!
//! # Concurrency
//! One [`Tracer`] serves every thread, or a main loop and its interrupts: a span claims
//! an arena slot with one atomic operation, owns it while it runs (it is `Send` and
//! `Sync`), and queues it for export with one more when it ends. Exporting drains that
//! queue on whichever thread flushes, never inside a critical section. Targets without
//! compare-and-swap (thumbv6m, riscv32imc) route atomics through a critical section:
//! the `critical-section` feature, or portable-atomic's single-core mode (which esp-hal
//! turns on); 32-bit CPUs whose interrupts trace need the feature too (see Features).
//!
//! # Example
//! ```
//! use picotrace::{IdGenerator, ManualClock, NoopExporter, SpanArena, Timestamp, Tracer, TracerConfig};
//! use picotrace::{semconv, TraceContext};
//!
//! let clock = ManualClock::new(Timestamp::from_unix_nanos(1_700_000_000_000_000_000));
//! let tracer = Tracer::new(
//!     TracerConfig::new("downstream-service"),
//!     SpanArena::<16>::new(),
//!     &clock,
//!     IdGenerator::from_seed([1; 32]),
//!     NoopExporter,
//! );
//! let headers = [("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")];
//! let incoming = TraceContext::from_headers(&headers[..]);
//! let mut span = tracer.start_server_span("process", &incoming);
//! span.set_attribute(semconv::HTTP_REQUEST_METHOD, "POST");
//! assert_eq!(span.context().trace_id.to_hex().as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
//!
//! let mut outgoing: heapless::Vec<(heapless::String<16>, heapless::String<64>), 4> = heapless::Vec::new();
//! tracer.inject_context(&span, &mut outgoing);
//! assert_eq!(outgoing[0].0.as_str(), "traceparent");
//! span.end();
//! ```
//!
//! # Features
//! - `tracestate` (default): W3C `tracestate` read from incoming headers, kept on
//!   spans, passed on and exported. Without it an incoming tracestate is ignored, its
//!   parser is not linked (about 10 KB less flash on a Cortex-M3) and a
//!   [`TraceContext`] holds little more than its span context.
//! - `otep235` (default, needs `tracestate`): the OTEP 235 sampling threshold and
//!   randomness in the tracestate's `ot` entry (`ot=th:...;rv:...`) read and written
//!   by the samplers. Without it the `ot` entry goes on untouched and ratio samplers
//!   decide on the trace id (about 5.7 KB less flash on a Cortex-M3).
//! - `std` (picotrace-std turns it on): a span that ends while its thread panics (one
//!   the unwinding drops, such as a handler's server span as the runtime drops the
//!   request's future) ends with status `Error("panicked")` unless a status was set;
//!   one started while the thread was already unwinding (a clean-up in a destructor)
//!   is not blamed for the panic. It also gives `tracer::suppress_spans`, skips the
//!   inline export on a thread that unwinds, and on 64-bit targets gives the tracer 64
//!   per-thread counter cells (8 KiB) for an arena that hands them out (picotrace-std's).
//!   Links `std` for `std::thread::panicking` and a thread-local; nothing allocates.
//! - `critical-section`: atomics through a critical section where the CPU has no
//!   compare-and-swap (thumbv6m), and interrupt-safe 64-bit atomics on 32-bit CPUs.
//!   Without it, a 32-bit CPU's 64-bit atomics (the arena's list heads) use
//!   portable-atomic's spinlock fallback, which deadlocks if an interrupt handler that
//!   traces preempts the main loop inside one: firmware that traces from interrupts on
//!   a 32-bit CPU turns the feature on.
//! - `defmt`: `defmt::Format` for public types (ids and flags print as hex, as in
//!   `traceparent`).
//! - `rand-core-06`, `rand-core-010`: `random::RandCore06` and `random::RandCore010`,
//!   which make a `rand_core` 0.6 or 0.10 generator (a HAL's RNG) usable where picotrace
//!   takes a `rand_core` 0.9 one.
//! - `embedded-io`: `export::frame::FrameExporter`, framed OTLP export to any blocking
//!   `embedded_io::Write` (a HAL's UART), and `export::frame::FrameQueue`, a bounded
//!   queue of whole frames between an exporter and the task that sends them.
//! - `embedded-io-async`: `FrameQueue::write_to`, which sends queued frames over any
//!   `embedded_io_async::Write`, for embassy and other async firmware.
//! - `embassy-time`: `time::EmbassyClock`, a [`Clock`] on `embassy_time::Instant` plus
//!   a boot epoch.
//!
//! MSRV: Rust 1.88 (what `heapless` 0.9 needs; clippy's `incompatible_msrv` checks this
//! crate's own code against it). The in-repo benchmark needs 1.91.
#![no_std]
// docs.rs (nightly) marks each feature-gated item with the feature it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]

// Hot-path functions are `inline(always)` on hosted targets, for speed, and only
// `inline` on bare metal (`target_os = "none"`), where flash is scarcer: forcing them
// there cost 1.5 KB of a Cortex-M3 tracer's 28 KB.

#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod context;
pub mod export;
pub mod id;
pub mod propagation;
pub mod random;
pub mod sampler;
pub mod semconv;
pub mod span;
mod sync;
pub mod text;
pub mod time;
pub mod tracer;
pub mod wire;

/// The fixed-capacity collections that header carriers may be built from (`Extractor`
/// and `Injector` are implemented for `heapless::Vec` of name/value pairs):
/// re-exported, so that no matching dependency is needed to name them.
pub use heapless;

pub use context::{SpanContext, TraceContext};
pub use export::{
    ExportError, InstrumentationScope, NoopExporter, Resource, SpanBatch, SpanExporter, TracerStats,
};
pub use id::{SpanId, TraceFlags, TraceId};
pub use propagation::{
    ExtractError, Extractor, FnExtractor, FnInjector, Injector, Propagator, Propagators,
};
pub use random::{Entropy, IdGenerator};
pub use sampler::{
    ParentBased, RootSampler, Sampler, SamplingDecision, SamplingParams, SamplingResult,
    ShouldSample, SpanSampler,
};
pub use span::arena::{DefaultArena, SpanArena, SpanStorage};
pub use span::attributes::{
    AttributeArg, AttributeValue, IntoValue, KeyValue, ScalarArg, StrArg, Value, ValueArg,
};
pub use span::record::{SpanData, SpanLimits};
pub use span::{AsMade, EventWriter, Link, Parent, Span, SpanKind, Status};
pub use text::InlineStr;
pub use time::{Clock, ManualClock, NoClock, Timestamp};
pub use tracer::{ExportSignal, SpanBuilder, Tracer, TracerConfig};
pub use wire::baggage::{Baggage, BaggageBuf, Error as BaggageError};
pub use wire::traceparent::{
    BufferTooSmall, ParseError as TraceparentError, Repr as TraceparentRepr,
};
pub use wire::tracestate::Error as TracestateError;
pub use wire::tracestate::TraceState;
