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

/// `s` without leading and trailing spaces and tabs: HTTP's optional whitespace (OWS),
/// the only whitespace a header value's ends may carry. `str::trim` strips any Unicode
/// whitespace, and accepted a B3 or Jaeger value that began with a no-break space
/// (found by review; `traceparent` rejects it).
pub(crate) fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}
