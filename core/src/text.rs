//! [`InlineStr`]: text formatted into a buffer of fixed size, what the formatting
//! functions return without an allocator (`to_traceparent`, `TraceId::to_hex`).

use core::borrow::Borrow;
use core::fmt;
use core::ops::Deref;

/// Text of at most `N` bytes, held inline (no allocation): the value returned by
/// [`TraceContext::to_traceparent`](crate::TraceContext::to_traceparent),
/// [`TraceId::to_hex`](crate::TraceId::to_hex) and the other formatters. It derefs to
/// `str`, so it goes wherever a `&str` does; `Display` and `Debug` print the text.
///
/// ```
/// use picotrace::TraceId;
/// let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")?;
/// let hex = id.to_hex();
/// assert_eq!(hex, "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(hex.len(), 32);
/// let owned: String = hex.to_string();
/// # let _ = owned;
/// # Ok::<(), picotrace::wire::hex::HexError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InlineStr<const N: usize>(heapless::String<N>);

impl<const N: usize> InlineStr<N> {
    /// Wraps text formatted by this crate.
    #[inline]
    pub(crate) const fn from_heapless(text: heapless::String<N>) -> Self {
        Self(text)
    }

    /// Returns the text.
    #[inline]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Returns the text's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The most bytes this buffer holds: `N`.
    pub const CAPACITY: usize = N;
}

impl<const N: usize> Deref for InlineStr<N> {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl<const N: usize> AsRef<str> for InlineStr<N> {
    #[inline]
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> AsRef<[u8]> for InlineStr<N> {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl<const N: usize> Borrow<str> for InlineStr<N> {
    #[inline]
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> fmt::Display for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for InlineStr<N> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str())
    }
}

impl<const N: usize> PartialEq<str> for InlineStr<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for InlineStr<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<const N: usize> PartialEq<InlineStr<N>> for str {
    fn eq(&self, other: &InlineStr<N>) -> bool {
        self == other.as_str()
    }
}

impl<const N: usize> PartialEq<InlineStr<N>> for &str {
    fn eq(&self, other: &InlineStr<N>) -> bool {
        *self == other.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn text(s: &str) -> InlineStr<8> {
        let mut h = heapless::String::new();
        h.push_str(s).unwrap();
        InlineStr::from_heapless(h)
    }

    #[test]
    fn reads_as_its_text_everywhere() {
        let t = text("ab-01");
        assert_eq!(t, "ab-01");
        assert_eq!("ab-01", t);
        assert_eq!(t.as_str(), "ab-01");
        assert_eq!(t.as_bytes(), b"ab-01");
        assert_eq!(t.len(), 5);
        assert_eq!(t.to_string(), "ab-01");
        assert_eq!(std::format!("{t:?}"), "\"ab-01\"");
        assert_ne!(t, "ab-02");
        assert!(text("a") < text("b"));
        assert_eq!(InlineStr::<8>::CAPACITY, 8);
        let as_str: &str = &t;
        assert_eq!(as_str, "ab-01");
    }

    /// The formatters users meet return this type, not a dependency's (a `heapless`
    /// type in these signatures made users add `heapless` to name the result).
    #[test]
    fn formatters_return_inline_str() {
        use crate::id::{SpanId, TraceFlags, TraceId};
        use crate::{Sampler, SpanContext, TraceContext, TraceparentRepr};
        let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let span_id = SpanId::from_hex("00f067aa0ba902b7").unwrap();
        let cx = TraceContext::from(SpanContext {
            trace_id,
            span_id,
            flags: TraceFlags::SAMPLED,
            is_remote: false,
        });
        let header: InlineStr<55> = cx.to_traceparent().unwrap();
        assert_eq!(
            header,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let repr = TraceparentRepr::parse(header.as_bytes()).unwrap();
        let wire: InlineStr<55> = repr.to_header();
        assert_eq!(wire, header);
        let trace_hex: InlineStr<32> = trace_id.to_hex();
        let span_hex: InlineStr<16> = span_id.to_hex();
        assert_eq!(
            (trace_hex.as_str(), span_hex.as_str()),
            (&header[3..35], &header[36..52])
        );
        let described: InlineStr<512> = Sampler::default().to_string_buf();
        assert_eq!(described, "ParentBased{root:AlwaysOnSampler}");
        let b3: InlineStr<{ crate::wire::b3::SINGLE_LEN }> =
            crate::wire::b3::format_single(&trace_id, &span_id, true, false);
        assert_eq!(b3, "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1");
    }
}
