//! Support for picotrace's cross-crate tests: a real OTLP collector started on a free
//! loopback port, and a reader for what it decoded.
//!
//! The tests themselves live in `tests/tests/`.
#![forbid(unsafe_code)]

pub mod collector;
