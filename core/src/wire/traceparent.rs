//! PLACEHOLDER — W3C traceparent.
