//! PLACEHOLDER — header carriers and TraceContext/Baggage propagation.
