//! picotrace: distributed tracing compatible with OpenTelemetry, for everything from a
//! 16 KiB microcontroller to a busy server.
//!
//! `#![no_std]`, no allocator, no `unsafe`. (Crate overview: see the README.)
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(test)]
extern crate std;

pub mod context;
pub mod id;
pub mod propagation;
pub mod random;
pub mod time;
pub mod wire;

pub use context::{SpanContext, TraceContext};
pub use id::{SpanId, TraceFlags, TraceId};
pub use random::{Entropy, IdGenerator};
pub use time::{Clock, ManualClock, NoClock, Timestamp};
pub use wire::tracestate::TraceState;
