//! PLACEHOLDER — W3C baggage.
