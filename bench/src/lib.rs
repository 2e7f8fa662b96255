//! picotrace-bench: the same workloads on picotrace, opentelemetry-rust (SDK 0.33) and
//! fastrace 0.7, timed side by side. Run it with
//! `cargo run --release -p picotrace-bench -- [--quick]`; `BENCHMARKS.md` at the
//! repository root explains the table.
//!
//! - [`shape`]: the span shapes every library records.
//! - [`harness`]: repetitions, median/min/max, the counting allocator.
//! - [`pico`], [`otel`], [`fast`]: each library's side of the workloads.
//! - [`collector`]: the rotel OTLP collector for W7.
//! - [`tsc`]: the TSC clock fastrace uses, for picotrace rows on the same clock.
//! - [`w5`], [`w7`]: the OTLP encoding and export workloads, all libraries in one file each.
//! - [`w9`]: the same `tracing` instrumentation under picotrace's layer and under
//!   tracing-opentelemetry.
//! - [`report`]: the table.
//! - [`publish`]: `--write`, the table, summary and chart into the repository's files.

pub mod collector;
pub mod fast;
pub mod harness;
pub mod otel;
pub mod pico;
pub mod publish;
pub mod report;
pub mod shape;
pub mod tsc;
pub mod w5;
pub mod w7;
pub mod w9;
