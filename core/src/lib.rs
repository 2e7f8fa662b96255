//! picotrace: distributed tracing compatible with OpenTelemetry, for everything from a
//! 16 KiB microcontroller to a busy server.
//!
//! `#![no_std]`, no allocator, no `unsafe`. (Crate overview: see the README.)
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(test)]
extern crate std;

pub mod context;
pub mod export;
pub mod id;
pub mod lock;
pub mod propagation;
pub mod random;
pub mod sampler;
pub mod semconv;
pub mod span;
pub mod time;
pub mod tracer;
pub mod wire;

pub use context::{SpanContext, TraceContext};
pub use export::{
    ExportError, InstrumentationScope, NoopExporter, Resource, SpanBatch, SpanExporter, TracerStats,
};
pub use id::{SpanId, TraceFlags, TraceId};
#[cfg(feature = "critical-section")]
pub use lock::CriticalSectionLock;
pub use lock::{LocalLock, Lock};
pub use propagation::{ExtractError, Extractor, FnExtractor, FnInjector, Injector};
pub use random::{Entropy, IdGenerator};
pub use sampler::{ParentBased, RootSampler, Sampler, SamplingDecision, SamplingResult};
pub use span::arena::{DefaultArena, SpanArena, SpanStorage};
pub use span::attributes::{AttributeValue, KeyValue, Value};
pub use span::record::{SpanData, SpanLimits};
pub use span::{Parent, Span, SpanKind, Status};
pub use time::{Clock, ManualClock, NoClock, Timestamp};
pub use tracer::{SpanBuilder, Tracer, TracerConfig};
pub use wire::baggage::{Baggage, Error as BaggageError};
pub use wire::traceparent::{
    BufferTooSmall, ParseError as TraceparentError, Repr as TraceparentRepr,
};
pub use wire::tracestate::Error as TracestateError;
pub use wire::tracestate::TraceState;
