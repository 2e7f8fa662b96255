//! Header carriers and W3C propagation: [`TraceContext::from_headers`] /
//! [`TraceContext::to_headers`] (W3C Trace Context Level 2, § 3 and § 4 Processing
//! Model) and [`Baggage::from_headers`] / [`Baggage::to_headers`] (W3C Baggage).
//!
//! A carrier is anything that implements [`Extractor`] (read) or [`Injector`] (write):
//! slices and arrays of name/value pairs, `heapless::Vec`s, or closures through
//! [`FnExtractor`] and [`FnInjector`]. `picotrace-std` adds `HashMap` and
//! `http::HeaderMap`. Header names are ASCII case-insensitive on read and written in
//! lowercase.
//!
//! ```
//! use picotrace::{IdGenerator, TraceContext};
//! let incoming = [
//!     ("TraceParent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
//!     ("tracestate", "congo=t61rcWkgMzE"),
//! ];
//! let mut ids = IdGenerator::from_seed([7; 32]);
//! let parent = TraceContext::from_headers(&incoming)?;
//! assert!(parent.is_remote() && parent.is_sampled());
//!
//! let mut outgoing: heapless::Vec<(heapless::String<16>, heapless::String<64>), 4> =
//!     heapless::Vec::new();
//! parent.child(&mut ids).to_headers(&mut outgoing);
//! assert_eq!(outgoing[0].0.as_str(), "traceparent");
//! assert!(outgoing[0].1.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
//! assert_eq!(outgoing[1].1.as_str(), "congo=t61rcWkgMzE");
//! # Ok::<(), picotrace::ExtractError>(())
//! ```

use core::fmt;
use core::marker::PhantomData;

use crate::context::{SpanContext, TraceContext};
use crate::id::TraceFlags;
use crate::wire::baggage::Baggage;
use crate::wire::traceparent::{self, ParseError};
use crate::wire::tracestate;

/// Name of the W3C `traceparent` header.
pub const TRACEPARENT: &str = "traceparent";
/// Name of the W3C `tracestate` header.
pub const TRACESTATE: &str = "tracestate";
/// Name of the W3C `baggage` header.
pub const BAGGAGE: &str = "baggage";

/// Reads header values from a carrier.
///
/// Implementors must compare names ASCII case-insensitively (HTTP header names are;
/// W3C: "vendors MUST expect the header name in any case"). A carrier that can hold a
/// name more than once must override [`Extractor::get_all`] to report every value in
/// order: several `tracestate` or `baggage` fields combine into one list.
pub trait Extractor {
    /// Returns the first value of header `name`, if any.
    fn get(&self, name: &str) -> Option<&str>;

    /// Calls `f` with every value of header `name`, in order.
    fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
        if let Some(v) = self.get(name) {
            f(v);
        }
    }
}

/// Writes header values into a carrier.
///
/// Callers pass lowercase names (this crate always does). `set` replaces any earlier
/// value of the same name. A carrier that cannot hold a value (full, too long) skips
/// it: propagation is best effort and must not fail the request.
pub trait Injector {
    /// Sets header `name` to `value`.
    fn set(&mut self, name: &str, value: &str);
}

impl<T: Extractor + ?Sized> Extractor for &T {
    fn get(&self, name: &str) -> Option<&str> {
        (**self).get(name)
    }

    fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
        (**self).get_all(name, f);
    }
}

impl<T: Injector + ?Sized> Injector for &mut T {
    fn set(&mut self, name: &str, value: &str) {
        (**self).set(name, value);
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Extractor for [(K, V)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
        self.iter()
            .filter(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .for_each(|(_, v)| f(v.as_ref()));
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Extractor for [(K, V); N] {
    fn get(&self, name: &str) -> Option<&str> {
        <[(K, V)] as Extractor>::get(self.as_slice(), name)
    }

    fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
        self.as_slice().get_all(name, f);
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Extractor for heapless::Vec<(K, V), N> {
    fn get(&self, name: &str) -> Option<&str> {
        <[(K, V)] as Extractor>::get(self.as_slice(), name)
    }

    fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
        self.as_slice().get_all(name, f);
    }
}

/// Writes into a vector of owned pairs: an existing pair with the name (compared
/// case-insensitively) gets the new value, otherwise a pair is pushed.
///
/// A name longer than `K`, a value longer than `V`, or a full vector: the header is
/// skipped (and an existing pair with that name is left unchanged).
impl<const K: usize, const V: usize, const N: usize> Injector
    for heapless::Vec<(heapless::String<K>, heapless::String<V>), N>
{
    fn set(&mut self, name: &str, value: &str) {
        let Ok(value) = heapless::String::try_from(value) else {
            return;
        };
        if let Some(pair) = self
            .iter_mut()
            .find(|(k, _)| k.as_str().eq_ignore_ascii_case(name))
        {
            pair.1 = value;
            return;
        }
        let mut key = heapless::String::new();
        for c in name.chars() {
            if key.push(c.to_ascii_lowercase()).is_err() {
                return;
            }
        }
        let _ = self.push((key, value));
    }
}

/// An [`Extractor`] over a lookup function, for carriers with their own API.
///
/// The function receives header names as this crate spells them (lowercase); if the
/// carrier is case-sensitive, it must compare case-insensitively itself. It can report
/// one value per name: [`Extractor::get_all`] gives only that value.
///
/// ```
/// use picotrace::{FnExtractor, TraceContext};
/// let stored = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let lookup = |name: &str| name.eq_ignore_ascii_case("traceparent").then_some(stored);
/// let ctx = TraceContext::from_headers(&FnExtractor::new(lookup))?;
/// assert!(ctx.is_sampled());
/// # Ok::<(), picotrace::ExtractError>(())
/// ```
pub struct FnExtractor<'a, F> {
    lookup: F,
    _values: PhantomData<&'a str>,
}

impl<'a, F: Fn(&str) -> Option<&'a str>> FnExtractor<'a, F> {
    /// Wraps `lookup`; the values it returns borrow from `'a`.
    pub const fn new(lookup: F) -> Self {
        Self {
            lookup,
            _values: PhantomData,
        }
    }
}

impl<'a, F: Fn(&str) -> Option<&'a str>> Extractor for FnExtractor<'a, F> {
    fn get(&self, name: &str) -> Option<&str> {
        (self.lookup)(name)
    }
}

impl<F> fmt::Debug for FnExtractor<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnExtractor")
    }
}

/// An [`Injector`] that calls a function with each (lowercase) name and value.
///
/// ```
/// use picotrace::{FnInjector, TraceContext, TraceFlags, TraceId, SpanId, SpanContext};
/// let ctx = TraceContext::from(SpanContext {
///     trace_id: TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")?,
///     span_id: SpanId::from_hex("00f067aa0ba902b7")?,
///     flags: TraceFlags::SAMPLED,
///     is_remote: false,
/// });
/// let mut seen = 0;
/// ctx.to_headers(&mut FnInjector(|name: &str, value: &str| {
///     assert_eq!(name, "traceparent");
///     assert_eq!(value, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
///     seen += 1;
/// }));
/// assert_eq!(seen, 1);
/// # Ok::<(), picotrace::wire::HexError>(())
/// ```
pub struct FnInjector<F>(pub F);

impl<F: FnMut(&str, &str)> Injector for FnInjector<F> {
    fn set(&mut self, name: &str, value: &str) {
        (self.0)(name, value);
    }
}

impl<F> fmt::Debug for FnInjector<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnInjector")
    }
}

/// Why [`TraceContext::from_headers`] found no parent context. In every case the
/// caller starts a new trace (W3C § 4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ExtractError {
    /// There is no `traceparent` header.
    Missing,
    /// There is more than one `traceparent` header (the W3C test suite's
    /// `traceparent_duplicated` expects a new trace then).
    Duplicated,
    /// The `traceparent` header is invalid; the error names the rule it broke.
    Traceparent(ParseError),
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("no traceparent header"),
            Self::Duplicated => f.write_str("more than one traceparent header"),
            Self::Traceparent(e) => write!(f, "invalid traceparent: {e}"),
        }
    }
}

impl core::error::Error for ExtractError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Traceparent(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ParseError> for ExtractError {
    fn from(e: ParseError) -> Self {
        Self::Traceparent(e)
    }
}

impl TraceContext {
    /// Reads the remote parent from `traceparent` and `tracestate` headers.
    ///
    /// On success the context is remote, carries the sender's trace id, its span id
    /// (the `parent-id`), and its sampled and random-trace-id flags unchanged (flags
    /// version 00 does not define are cleared). All `tracestate` fields are combined in
    /// order; an invalid `tracestate` is dropped, leaving the trace state empty, since
    /// the spec says it "MUST NOT affect the parsing of traceparent".
    ///
    /// # Errors
    /// [`ExtractError`] when there is no usable `traceparent`. The spec's answer is to
    /// start a new trace, ignoring `tracestate`:
    ///
    /// ```
    /// use picotrace::{IdGenerator, TraceContext};
    /// let headers = [("traceparent", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")];
    /// let mut ids = IdGenerator::from_seed([1; 32]);
    /// let ctx = match TraceContext::from_headers(&headers) {
    ///     Ok(parent) => parent.child(&mut ids),
    ///     Err(_) => TraceContext::new_root(&mut ids, true),
    /// };
    /// assert!(!ctx.is_remote());
    /// assert_ne!(ctx.trace_id().to_hex().as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// ```
    pub fn from_headers(headers: &(impl Extractor + ?Sized)) -> Result<TraceContext, ExtractError> {
        let mut count = 0;
        let mut parsed = Err(ExtractError::Missing);
        headers.get_all(TRACEPARENT, &mut |value| {
            count += 1;
            if count == 1 {
                parsed = traceparent::Repr::parse(value.as_bytes()).map_err(ExtractError::from);
            }
        });
        if count > 1 {
            return Err(ExtractError::Duplicated);
        }
        let repr = parsed?;
        let trace_state = tracestate::parse_fields(&|f| headers.get_all(TRACESTATE, f));
        Ok(TraceContext {
            span_context: SpanContext {
                trace_id: repr.trace_id,
                span_id: repr.parent_id,
                flags: TraceFlags::from_bits(repr.flags.bits() & TraceFlags::KNOWN_V00),
                is_remote: true,
            },
            trace_state: trace_state.unwrap_or_default(),
        })
    }

    /// Writes `traceparent` and, when not empty, `tracestate`.
    ///
    /// Nothing is written for an invalid context (an all-zero id): the next hop then
    /// starts its own trace.
    pub fn to_headers(&self, headers: &mut (impl Injector + ?Sized)) {
        if !self.span_context.is_valid() {
            return;
        }
        headers.set(TRACEPARENT, &self.to_traceparent());
        if !self.trace_state.is_empty() {
            headers.set(TRACESTATE, self.trace_state.as_str());
        }
    }

    /// Returns the version-00 `traceparent` value for this context.
    pub fn to_traceparent(&self) -> heapless::String<{ traceparent::LEN }> {
        traceparent::Repr {
            version: traceparent::VERSION,
            trace_id: self.trace_id(),
            parent_id: self.span_id(),
            flags: self.flags(),
        }
        .to_header()
    }
}

impl<const BYTES: usize> Baggage<BYTES> {
    /// Reads every `baggage` header, in order; empty when there is none. Invalid and
    /// overflowing members are skipped and counted in [`Baggage::dropped`].
    ///
    /// ```
    /// use picotrace::Baggage;
    /// let headers = [("Baggage", "userId=alice"), ("baggage", "serverNode=DF%2028")];
    /// let bag: Baggage = Baggage::from_headers(&headers);
    /// assert_eq!(bag.as_str(), "userId=alice,serverNode=DF%2028");
    /// ```
    pub fn from_headers(headers: &(impl Extractor + ?Sized)) -> Self {
        let mut bag = Self::new();
        headers.get_all(BAGGAGE, &mut |value| bag.extend_from_header(value));
        bag
    }

    /// Writes the `baggage` header, when there are members.
    pub fn to_headers(&self, headers: &mut (impl Injector + ?Sized)) {
        if !self.is_empty() {
            headers.set(BAGGAGE, self.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{SpanId, TraceId};
    use std::{string::String, vec::Vec};

    const TP: &str = "00-12345678901234567890123456789012-1234567890123456-01";

    #[test]
    fn slice_extractor_is_case_insensitive_and_ordered() {
        let headers = [("TraceState", "a=1"), ("x", "y"), ("TRACESTATE", "b=2")];
        assert_eq!(headers.get("tracestate"), Some("a=1"));
        let mut all = Vec::new();
        headers[..].get_all("tracestate", &mut |v| all.push(String::from(v)));
        assert_eq!(all, ["a=1", "b=2"]);
        assert_eq!(headers.get("trace-state"), None);
    }

    #[test]
    fn owned_pairs_work_as_extractor() {
        let headers: Vec<(String, String)> = std::vec![("traceparent".into(), TP.into())];
        let ctx = TraceContext::from_headers(headers.as_slice()).unwrap();
        assert_eq!(
            ctx.trace_id(),
            TraceId::from_hex("12345678901234567890123456789012").unwrap()
        );
    }

    #[test]
    fn from_headers_reads_a_remote_parent() {
        let headers = [
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-ff",
            ),
            ("tracestate", "foo=1"),
            ("tracestate", "bar=2"),
        ];
        let ctx = TraceContext::from_headers(&headers).unwrap();
        assert!(ctx.is_remote());
        assert_eq!(ctx.span_id(), SpanId::from_hex("1234567890123456").unwrap());
        assert_eq!(
            ctx.flags().bits(),
            0x03,
            "unknown flags cleared, random kept"
        );
        assert_eq!(ctx.trace_state.as_str(), "foo=1,bar=2");
    }

    #[test]
    fn from_headers_errors() {
        let none: [(&str, &str); 0] = [];
        assert_eq!(
            TraceContext::from_headers(&none),
            Err(ExtractError::Missing)
        );
        let two = [("traceparent", TP), ("traceparent", TP)];
        assert_eq!(
            TraceContext::from_headers(&two),
            Err(ExtractError::Duplicated)
        );
        let bad = [(
            "traceparent",
            "ff-12345678901234567890123456789012-1234567890123456-01",
        )];
        assert_eq!(
            TraceContext::from_headers(&bad),
            Err(ExtractError::Traceparent(ParseError::VersionFf))
        );
        assert_eq!(
            std::format!("{}", ExtractError::Traceparent(ParseError::VersionFf)),
            "invalid traceparent: traceparent version ff is forbidden"
        );
    }

    #[test]
    fn invalid_tracestate_keeps_traceparent() {
        let headers = [("traceparent", TP), ("tracestate", "foo=1,BAD=2")];
        let ctx = TraceContext::from_headers(&headers).unwrap();
        assert!(ctx.trace_state.is_empty());
    }

    #[test]
    fn heapless_vec_injector_replaces_lowercases_and_skips() {
        let mut v: heapless::Vec<(heapless::String<12>, heapless::String<8>), 2> =
            heapless::Vec::new();
        v.set("Baggage", "a=1");
        v.set("baggage", "a=2");
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].0.as_str(), v[0].1.as_str()), ("baggage", "a=2"));
        v.set("x", "value too long");
        v.set("name too long!", "v");
        assert_eq!(v.len(), 1);
        v.set("y", "1");
        v.set("z", "1");
        assert_eq!(v.len(), 2, "full vector skips");
        assert_eq!(v.get("Y"), Some("1"));
    }

    #[test]
    fn to_headers_skips_invalid_and_empty() {
        let mut out: heapless::Vec<(heapless::String<16>, heapless::String<64>), 4> =
            heapless::Vec::new();
        TraceContext::default().to_headers(&mut out);
        assert!(out.is_empty());
        let ctx = TraceContext::from_headers(&[("traceparent", TP)]).unwrap();
        ctx.to_headers(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1.as_str(), TP);
        assert_eq!(ctx.to_traceparent().as_str(), TP);
    }

    #[test]
    fn baggage_round_trip_through_headers() {
        let bag: Baggage = Baggage::from_headers(&[("BAGGAGE", "k=v;p"), ("baggage", "j=%20")]);
        let mut out: heapless::Vec<(heapless::String<16>, heapless::String<64>), 4> =
            heapless::Vec::new();
        bag.to_headers(&mut out);
        assert_eq!(out[0].1.as_str(), "k=v;p,j=%20");
        assert_eq!(Baggage::<64>::from_headers(&out), bag);
        Baggage::<8>::new().to_headers(&mut FnInjector(|_: &str, _: &str| panic!("empty")));
    }
}
