//! Every byte format picotrace reads or writes, each in its own module.
//!
//! # The contract
//! - Parsers take borrowed bytes or text and return `Result<Repr, Error>`. They check
//!   lengths before indexing, so no input can make them panic, and their error enums
//!   name the rule the input broke.
//! - Lists (`tracestate`, `baggage`) are read with borrowing iterators, never collected
//!   into a heap.
//! - Emitters write into a caller's buffer and return the number of bytes written, or
//!   an error when the buffer is too small; they never write past the buffer.

pub mod b3;
pub mod baggage;
pub mod console;
pub mod frame;
pub mod hex;
pub mod jaeger;
pub mod otlp;
pub mod protobuf;
pub mod traceparent;
pub mod tracestate;

pub use hex::HexError;
