//! PLACEHOLDER — being replaced by the W3C tracestate implementation.
/// Vendor trace state (placeholder).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct TraceState(heapless::String<512>);
impl TraceState {
    /// Empty.
    pub const fn new() -> Self {
        Self(heapless::String::new())
    }
    /// Text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Empty?
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
