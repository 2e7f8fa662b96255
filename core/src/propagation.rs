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
use crate::text::InlineStr;
use crate::wire::baggage::{Baggage, BaggageBuf};
use crate::wire::traceparent::{self, ParseError};
use crate::wire::tracestate;
use crate::wire::{b3, jaeger};

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
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a header carrier to read from",
    note = "slices of pairs are (`&v[..]` for a `Vec<(&str, &str)>`); picotrace-std wraps \
            maps: `HashMapCarrier(&map)`, `HeaderMapCarrier(&headers)`"
)]
pub trait Extractor {
    /// Returns the first value of header `name`, if any.
    fn get(&self, name: &str) -> Option<&str>;

    /// Calls `f` with every value of header `name`, in order.
    ///
    /// It must give the same values each time it is called, and allow a call from
    /// inside `f` (no lock or `RefCell` borrow held while `f` runs): reading a
    /// `tracestate` whose key repeats looks back at the earlier values this way.
    fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
        if let Some(v) = self.get(name) {
            f(v);
        }
    }

    /// Calls `f` with the name of every header (once per name, or once per field), for
    /// formats that spread over headers named by a prefix (Jaeger's `uberctx-{key}`
    /// baggage), which read them through [`Extractor::for_each_prefixed`]. It must allow
    /// a call of [`Extractor::get_all`] from inside `f`, as `get_all` allows itself
    /// (the default `for_each_prefixed` looks each name's values up there). The default
    /// reports none: a carrier that neither lists its names nor walks its fields in
    /// `for_each_prefixed` gets no such baggage.
    fn keys(&self, f: &mut dyn FnMut(&str)) {
        let _ = f;
    }

    /// Calls `f` with the name and value of every header field whose name starts with
    /// `prefix` (lowercase; compared ignoring ASCII case), and with no other: formats
    /// spread over headers named by a prefix (Jaeger's `uberctx-{key}` baggage) read
    /// them this way, in the order the carrier gives them.
    ///
    /// The default goes through [`Extractor::keys`] and a [`Extractor::get_all`] per
    /// name (its values together, where the name was first listed; a name listed again,
    /// by a carrier that lists one per field, is not read again). Past 128 names it
    /// cannot tell a name listed again from a new one: each listing then gives one call,
    /// with the name's first value (found by review: each gave all the name's values,
    /// so a name in k fields took k² calls). A
    /// carrier that can walk its fields should do it here in one pass, as this crate's
    /// and picotrace-std's do: the lookups are then not paid for, whatever the number of
    /// such headers.
    fn for_each_prefixed(&self, prefix: &str, f: &mut dyn FnMut(&str, &str)) {
        // Hashes of the names read (a collision of 64-bit hashes is not to be expected
        // among 128 names); past that, one call per listing.
        let mut read = heapless::Vec::<u64, 128>::new();
        self.keys(&mut |name| {
            if !starts_with_ignore_case(name, prefix) {
                return;
            }
            let hash = lowercase_hash(name.as_bytes());
            if read.contains(&hash) {
                return;
            }
            if read.push(hash).is_err() {
                let mut first = true;
                self.get_all(name, &mut |value| {
                    if core::mem::take(&mut first) {
                        f(name, value);
                    }
                });
                return;
            }
            self.get_all(name, &mut |value| f(name, value));
        });
    }
}

/// Writes header values into a carrier.
///
/// Callers pass lowercase names (this crate always does). `set` replaces any earlier
/// value of the same name. A carrier that cannot hold a value (full, too long) skips
/// it, and removes an earlier value of the name if it can (a forwarded carrier must not
/// pass the caller's on): propagation is best effort and must not fail the request.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a header carrier to write into",
    note = "a `heapless::Vec` of pairs is, and `FnInjector(|name, value| ..)`; \
            picotrace-std wraps maps: `HashMapInjector(&mut map)`, `HeaderMapInjector(&mut headers)`"
)]
pub trait Injector {
    /// Sets header `name` to `value`.
    fn set(&mut self, name: &str, value: &str);

    /// Removes header `name`, if present. Formats call it for the fields of theirs
    /// they do not write this time (`tracestate` when the context has none, the B3
    /// fields it replaces), so that a carrier forwarded from an incoming request (a
    /// proxy) is left with no stale value of the caller's. The default does nothing:
    /// right for a carrier that starts empty.
    fn remove(&mut self, name: &str) {
        let _ = name;
    }

    /// Removes every header whose name starts with `prefix` (lowercase; compared
    /// case-insensitively): Jaeger's `uberctx-*` baggage, whose names the format does
    /// not know in advance, so that a forwarded carrier keeps none of the caller's
    /// members the bag no longer holds. The default does nothing, as `remove`'s.
    fn remove_prefixed(&mut self, prefix: &str) {
        let _ = prefix;
    }
}

impl<T: Extractor + ?Sized> Extractor for &T {
    fn get(&self, name: &str) -> Option<&str> {
        (**self).get(name)
    }

    fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
        (**self).get_all(name, f);
    }

    fn keys(&self, f: &mut dyn FnMut(&str)) {
        (**self).keys(f);
    }

    fn for_each_prefixed(&self, prefix: &str, f: &mut dyn FnMut(&str, &str)) {
        (**self).for_each_prefixed(prefix, f);
    }
}

impl<T: Injector + ?Sized> Injector for &mut T {
    fn set(&mut self, name: &str, value: &str) {
        (**self).set(name, value);
    }

    fn remove(&mut self, name: &str) {
        (**self).remove(name);
    }

    fn remove_prefixed(&mut self, prefix: &str) {
        (**self).remove_prefixed(prefix);
    }
}

/// Removes `tracestate` when `state` is empty: called before `traceparent` is written,
/// so that a carrier that starts empty (the usual outgoing request) is still empty then
/// and its `remove` can return at once (W4 through a `HeaderMap`: a lookup of an absent
/// name cost 42 ns a round trip).
pub(crate) fn remove_trace_state_unless(headers: &mut (impl Injector + ?Sized), state: &str) {
    if state.is_empty() {
        headers.remove(TRACESTATE);
    }
}

/// Writes `tracestate` when `state` is not empty (after `traceparent`).
pub(crate) fn set_trace_state_if(headers: &mut (impl Injector + ?Sized), state: &str) {
    if !state.is_empty() {
        headers.set(TRACESTATE, state);
    }
}

/// Header names are case-insensitive; most arrive in the case asked for (lowercase),
/// which an exact comparison confirms before the byte-by-byte one. On 64-bit CPUs,
/// names of 8 to 16 bytes (all this crate reads but `b3`) compare as two overlapping
/// words, without a call to `memcmp`.
///
/// Inlined on hosts: with the name a constant, the length and word tests become
/// compares with immediates, and the rest is out of line (callgrind, W4: 539 to 509
/// instructions; with a 3-member tracestate 1,834 to 1,745).
#[cfg_attr(not(target_os = "none"), inline(always))]
#[cfg_attr(target_os = "none", inline)]
fn same_name(header: &str, name: &str) -> bool {
    let (h, n) = (header.as_bytes(), name.as_bytes());
    if h.len() != n.len() {
        return false;
    }
    match (h.first_chunk::<8>(), h.last_chunk::<8>()) {
        (Some(h_first), Some(h_last)) if h.len() <= 16 && cfg!(target_pointer_width = "64") => {
            (n.first_chunk::<8>() == Some(h_first) && n.last_chunk::<8>() == Some(h_last))
                || same_bytes_any_case(h, n)
        }
        _ => same_bytes_any_case(h, n),
    }
}

/// The rest of [`same_name`]: names of another length, or in another case.
#[inline(never)]
fn same_bytes_any_case(h: &[u8], n: &[u8]) -> bool {
    h == n || h.eq_ignore_ascii_case(n)
}

impl<K: AsRef<str>, V: AsRef<str>> Extractor for [(K, V)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| same_name(k.as_ref(), name))
            .map(|(_, v)| v.as_ref())
    }

    fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
        self.iter()
            .filter(|(k, _)| same_name(k.as_ref(), name))
            .for_each(|(_, v)| f(v.as_ref()));
    }

    fn keys(&self, f: &mut dyn FnMut(&str)) {
        self.iter().for_each(|(k, _)| f(k.as_ref()));
    }

    fn for_each_prefixed(&self, prefix: &str, f: &mut dyn FnMut(&str, &str)) {
        self.iter()
            .filter(|(k, _)| starts_with_ignore_case(k.as_ref(), prefix))
            .for_each(|(k, v)| f(k.as_ref(), v.as_ref()));
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Extractor for [(K, V); N] {
    fn get(&self, name: &str) -> Option<&str> {
        <[(K, V)] as Extractor>::get(self.as_slice(), name)
    }

    fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
        self.as_slice().get_all(name, f);
    }

    fn keys(&self, f: &mut dyn FnMut(&str)) {
        self.as_slice().keys(f);
    }

    fn for_each_prefixed(&self, prefix: &str, f: &mut dyn FnMut(&str, &str)) {
        self.as_slice().for_each_prefixed(prefix, f);
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Extractor for heapless::Vec<(K, V), N> {
    fn get(&self, name: &str) -> Option<&str> {
        <[(K, V)] as Extractor>::get(self.as_slice(), name)
    }

    fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
        self.as_slice().get_all(name, f);
    }

    fn keys(&self, f: &mut dyn FnMut(&str)) {
        self.as_slice().keys(f);
    }

    fn for_each_prefixed(&self, prefix: &str, f: &mut dyn FnMut(&str, &str)) {
        self.as_slice().for_each_prefixed(prefix, f);
    }
}

/// Writes into a vector of owned pairs: the first pair with the name (compared
/// case-insensitively) gets the new value and the name in lowercase, and any later
/// pair with the name goes (a field repeated by the caller must not reach the next hop
/// beside the new value); without one a pair is pushed. `remove` takes out every pair
/// with the name.
///
/// A name longer than `K`, a value longer than `V`, or a full vector: the header is
/// skipped, and an existing pair with that name removed (a caller's value must not go
/// on beside another header's new one).
impl<const K: usize, const V: usize, const N: usize> Injector
    for heapless::Vec<(heapless::String<K>, heapless::String<V>), N>
{
    fn set(&mut self, name: &str, value: &str) {
        let Ok(value) = heapless::String::try_from(value) else {
            Injector::remove(self, name);
            return;
        };
        let same = |k: &heapless::String<K>| k.as_str().eq_ignore_ascii_case(name);
        if let Some(first) = self.iter().position(|(k, _)| same(k)) {
            let mut seen = 0;
            self.retain(|(k, _)| {
                let later = same(k) && seen > 0;
                seen += usize::from(same(k));
                !later
            });
            if let Some(pair) = self.get_mut(first) {
                // Lowercased in place, as a pushed name is.
                pair.0.make_ascii_lowercase();
                pair.1 = value;
            }
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

    // Found by review: only `set` was written, so a forwarded vector kept the caller's
    // `tracestate` beside a new trace's `traceparent` (W3C: a restarted trace cleans it
    // up), a `b3` beside `X-B3-*`, and a `baggage` the bag had emptied.
    fn remove(&mut self, name: &str) {
        self.retain(|(k, _)| !k.as_str().eq_ignore_ascii_case(name));
    }

    fn remove_prefixed(&mut self, prefix: &str) {
        self.retain(|(k, _)| !starts_with_ignore_case(k, prefix));
    }
}

/// Whether `name` starts with `prefix`, ignoring ASCII case.
fn starts_with_ignore_case(name: &str, prefix: &str) -> bool {
    name.as_bytes()
        .get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
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
///
/// Non-exhaustive, as are the parse errors it carries and the crate's other error
/// enums: a format or a rule added later is no breaking change (found by review).
///
/// ```compile_fail
/// use picotrace::ExtractError as E;
/// fn why(e: E) -> u8 {
///     match e {
///         E::Missing | E::Duplicated | E::Traceparent(_) | E::B3(_) | E::Jaeger(_) => 0,
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ExtractError {
    /// There is no header of the format read: `traceparent`, or for the B3 and Jaeger
    /// propagators `b3` / `X-B3-TraceId` and `X-B3-SpanId`, `uber-trace-id`.
    Missing,
    /// There is more than one `traceparent` header (the W3C test suite's
    /// `traceparent_duplicated` expects a new trace then).
    Duplicated,
    /// The `traceparent` header is invalid; the error names the rule it broke.
    Traceparent(ParseError),
    /// The B3 headers are invalid.
    B3(b3::ParseError),
    /// The `uber-trace-id` header is invalid.
    Jaeger(jaeger::ParseError),
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Not "traceparent": B3 and Jaeger extraction say `Missing` too (found by
            // review: a Jaeger-only service logged "no traceparent header").
            Self::Missing => f.write_str("no trace context header"),
            Self::Duplicated => f.write_str("more than one traceparent header"),
            Self::Traceparent(e) => write!(f, "invalid traceparent: {e}"),
            Self::B3(e) => write!(f, "invalid B3 headers: {e}"),
            Self::Jaeger(e) => write!(f, "invalid uber-trace-id: {e}"),
        }
    }
}

impl core::error::Error for ExtractError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Traceparent(e) => Some(e),
            Self::B3(e) => Some(e),
            Self::Jaeger(e) => Some(e),
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
    /// version 00 does not define are cleared; of a higher version only the sampled
    /// flag is read, as the spec says). All `tracestate` fields are combined in
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
    // Not inlined: inlined into the caller, its half-kilobyte result was built in one
    // more temporary of the caller's frame (the firmware's `traced` frame: 3,644 to
    // 3,164 bytes; callgrind, W4 with `to_headers`: 633 to 627 instructions).
    #[inline(never)]
    pub fn from_headers(headers: &(impl Extractor + ?Sized)) -> Result<TraceContext, ExtractError> {
        let mut count = 0u32;
        let mut parsed = Err(ExtractError::Missing);
        headers.get_all(TRACEPARENT, &mut |value| {
            count = count.saturating_add(1);
            if count == 1 {
                parsed = traceparent::Repr::parse(value.as_bytes()).map_err(ExtractError::from);
            }
        });
        if count > 1 {
            return Err(ExtractError::Duplicated);
        }
        let repr = parsed?;
        // Of a higher version only the sampled bit is read (W3C: "Parse the sampled bit
        // of flags"): what its other bits mean is that version's to say.
        let known = match repr.version {
            traceparent::VERSION => TraceFlags::KNOWN_V00,
            _ => TraceFlags::SAMPLED.bits(),
        };
        let span_context = SpanContext {
            trace_id: repr.trace_id,
            span_id: repr.parent_id,
            flags: TraceFlags::from_bits(repr.flags.bits() & known),
            is_remote: true,
        };
        // Without the `tracestate` feature the header is not read (nor its parser linked):
        // the context continues the trace without the vendors' entries. A `TraceState`
        // is half a kilobyte, so the usual request, without one, skips the parse and the
        // copy of its result (W4: 1,194 to 1,048 instructions). An invalid tracestate
        // leaves it empty.
        if cfg!(feature = "tracestate") && headers.get(TRACESTATE).is_some() {
            let mut context = TraceContext::from(span_context);
            let _ = tracestate::parse_fields_into(
                &|f| headers.get_all(TRACESTATE, f),
                &mut context.trace_state,
            );
            return Ok(context);
        }
        Ok(TraceContext::from(span_context))
    }

    /// Writes `traceparent` and `tracestate`, or removes `tracestate` when the context
    /// has none ([`Injector::remove`]: a caller's tracestate must not go on with
    /// another traceparent).
    ///
    /// Nothing is written for an invalid context (an all-zero id): the next hop then
    /// starts its own trace.
    pub fn to_headers(&self, headers: &mut (impl Injector + ?Sized)) {
        if !self.span_context.is_valid() {
            return;
        }
        let state = self.trace_state.as_str();
        remove_trace_state_unless(headers, state);
        self.traceparent_repr()
            .with_header(|value| headers.set(TRACEPARENT, value));
        set_trace_state_if(headers, state);
    }

    /// Returns the version-00 `traceparent` value for this context, or `None` for an
    /// invalid context (an all-zero id, which W3C forbids in the header; found by
    /// review: it was written as `00-000…0-000…0-00`). As [`Self::to_headers`], which
    /// writes nothing then: the next hop starts its own trace.
    ///
    /// ```
    /// use picotrace::TraceContext;
    /// let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    /// let cx = TraceContext::from_headers(&[("traceparent", tp)]).unwrap();
    /// assert_eq!(cx.to_traceparent().as_deref(), Some(tp));
    /// assert_eq!(TraceContext::default().to_traceparent(), None);
    /// ```
    #[inline]
    pub fn to_traceparent(&self) -> Option<InlineStr<{ traceparent::LEN }>> {
        self.span_context
            .is_valid()
            .then(|| self.traceparent_repr().to_header())
    }

    /// What `traceparent` carries for this context.
    #[inline]
    fn traceparent_repr(&self) -> traceparent::Repr {
        traceparent::Repr {
            version: traceparent::VERSION,
            trace_id: self.trace_id(),
            parent_id: self.span_id(),
            flags: self.flags(),
        }
    }
}

impl<const BYTES: usize> BaggageBuf<BYTES> {
    /// Reads every `baggage` header, in order; empty when there is none. Invalid and
    /// overflowing members are skipped and counted in [`Baggage::dropped`].
    ///
    /// ```
    /// use picotrace::Baggage;
    /// let headers = [("Baggage", "userId=alice"), ("baggage", "serverNode=DF%2028")];
    /// let bag = Baggage::from_headers(&headers);
    /// assert_eq!(bag.as_str(), "userId=alice,serverNode=DF%2028");
    /// ```
    pub fn from_headers(headers: &(impl Extractor + ?Sized)) -> Self {
        let mut bag = Self::new();
        bag.extend_from_w3c_headers(headers);
        bag
    }

    /// Adds the members of every `baggage` field, the member count carried from one
    /// field to the next (counted again for each, many small fields cost fields x 8 KB
    /// of scanning: found by review).
    fn extend_from_w3c_headers(&mut self, headers: &(impl Extractor + ?Sized)) {
        let mut members = self.len();
        headers.get_all(BAGGAGE, &mut |value| {
            members = self.extend_counted(value, members);
        });
    }

    /// Writes the `baggage` header, when there are members; an empty bag removes the
    /// carrier's `baggage` ([`Injector::remove`]: a request being forwarded keeps none
    /// of the caller's), as clearing the baggage must.
    pub fn to_headers(&self, headers: &mut (impl Injector + ?Sized)) {
        if self.is_empty() {
            headers.remove(BAGGAGE);
        } else {
            headers.set(BAGGAGE, self.as_str());
        }
    }
}

impl TraceContext {
    /// Reads a remote parent from B3 headers: the single `b3` header first (it takes
    /// precedence), else, or when it is invalid, the `X-B3-*` headers. The context
    /// carries no tracestate.
    ///
    /// ```
    /// use picotrace::TraceContext;
    /// let headers = [("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")];
    /// let cx = TraceContext::from_b3_headers(&headers)?;
    /// assert_eq!(cx.trace_id().to_hex().as_str(), "80f198ee56343ba864fe8b2a57d3eff7");
    /// assert!(cx.is_sampled() && cx.is_remote());
    /// # Ok::<(), picotrace::ExtractError>(())
    /// ```
    ///
    /// # Errors
    /// [`ExtractError::Missing`] without B3 headers, [`ExtractError::B3`] when they are
    /// invalid (or carry only a sampling decision): the caller starts a new trace.
    pub fn from_b3_headers(
        headers: &(impl Extractor + ?Sized),
    ) -> Result<TraceContext, ExtractError> {
        // The single header takes precedence; when it is unusable the `X-B3-*` headers
        // are read (OpenTelemetry: B3 extraction "MUST attempt" both formats), and the
        // single header's error is reported only when there are none.
        let single_value = headers.get(b3::B3);
        let single = single_value.map(b3::parse_single);
        let repr = match single {
            Some(Ok(repr)) => repr,
            _ => {
                let multi = b3::MultiHeaders {
                    trace_id: headers.get(b3::TRACE_ID),
                    span_id: headers.get(b3::SPAN_ID),
                    parent_span_id: headers.get(b3::PARENT_SPAN_ID),
                    sampled: headers.get(b3::SAMPLED),
                    flags: headers.get(b3::FLAGS),
                };
                let no_multi = multi.trace_id.is_none() && multi.span_id.is_none();
                let mut repr = match single {
                    Some(Err(e)) if no_multi => return Err(ExtractError::B3(e)),
                    None if no_multi => return Err(ExtractError::Missing),
                    _ => b3::parse_multi(&multi).map_err(ExtractError::B3)?,
                };
                // A single header that holds only a sampling state (`b3: 0`, an
                // upstream's deny) takes precedence over the `X-B3-Sampled` beside it
                // (found by review: the multi headers' accept won).
                if let Some((sampled, debug)) = single_value.and_then(b3::sampling_only) {
                    repr.sampled = sampled;
                    repr.debug = debug;
                }
                repr
            }
        };
        Ok(Self::remote(
            repr.trace_id,
            repr.span_id,
            repr.sampled,
            repr.debug,
        ))
    }

    /// Writes the single `b3` header (`{trace id}-{span id}-{1|0|d}`; `d` passes on a
    /// debug flag that was extracted), and removes the `X-B3-*` headers (see
    /// [`Injector::remove`]): a caller's, forwarded, would contradict it. Nothing is
    /// written for an invalid context.
    pub fn to_b3_header(&self, headers: &mut (impl Injector + ?Sized)) {
        self.write_b3_single(headers, true);
    }

    /// [`Self::to_b3_header`]; the `X-B3-*` headers are removed only when
    /// `remove_multi` (not when they are written too).
    fn write_b3_single(&self, headers: &mut (impl Injector + ?Sized), remove_multi: bool) {
        if self.span_context.is_valid() {
            let value = b3::format_single(
                &self.trace_id(),
                &self.span_id(),
                self.is_sampled(),
                self.flags().is_debug(),
            );
            // Found by review: a forwarded caller's `X-B3-ParentSpanId` went on beside
            // this hop's `b3` (B3 propagation "MUST NOT propagate X-B3-ParentSpanId").
            if remove_multi {
                for name in [
                    b3::TRACE_ID,
                    b3::SPAN_ID,
                    b3::PARENT_SPAN_ID,
                    b3::SAMPLED,
                    b3::FLAGS,
                ] {
                    headers.remove(name);
                }
            }
            headers.set(b3::B3, &value);
        }
    }

    /// Writes `X-B3-TraceId`, `X-B3-SpanId` and `X-B3-Sampled`, or `X-B3-Flags: 1`
    /// instead of `X-B3-Sampled` for an extracted debug flag, whatever this hop sampled
    /// (debug implies sampled, and B3 says not to send both). Never `X-B3-ParentSpanId`: OpenTelemetry does not
    /// share span ids across a call. A single `b3` header is removed (see
    /// [`Injector::remove`]).
    pub fn to_b3_multi_headers(&self, headers: &mut (impl Injector + ?Sized)) {
        self.write_b3_multi(headers, true);
    }

    /// [`Self::to_b3_multi_headers`]; the single `b3` header is removed only when
    /// `remove_single` (not when it is written too).
    fn write_b3_multi(&self, headers: &mut (impl Injector + ?Sized), remove_single: bool) {
        if self.span_context.is_valid() {
            // Found by review: a forwarded caller's single header stayed, and the next
            // hop, which reads it first (B3: "the single-header variant takes
            // precedence"), took the caller's span for its parent.
            if remove_single {
                headers.remove(b3::B3);
            }
            headers.set(b3::TRACE_ID, &self.trace_id().to_hex());
            headers.set(b3::SPAN_ID, &self.span_id().to_hex());
            // The fields not written go: a caller's parent id or sampling flag in a
            // forwarded carrier would contradict these.
            headers.remove(b3::PARENT_SPAN_ID);
            if self.flags().is_debug() {
                headers.set(b3::FLAGS, "1");
                headers.remove(b3::SAMPLED);
            } else {
                headers.set(b3::SAMPLED, if self.is_sampled() { "1" } else { "0" });
                headers.remove(b3::FLAGS);
            }
        }
    }

    /// Reads a remote parent from Jaeger's `uber-trace-id` header. The context carries
    /// no tracestate.
    ///
    /// # Errors
    /// [`ExtractError::Missing`] without the header, [`ExtractError::Jaeger`] when it is
    /// invalid: the caller starts a new trace.
    pub fn from_jaeger_headers(
        headers: &(impl Extractor + ?Sized),
    ) -> Result<TraceContext, ExtractError> {
        let value = headers
            .get(jaeger::UBER_TRACE_ID)
            .ok_or(ExtractError::Missing)?;
        let repr = jaeger::parse(value).map_err(ExtractError::Jaeger)?;
        Ok(Self::remote(
            repr.trace_id,
            repr.span_id,
            repr.sampled,
            repr.debug,
        ))
    }

    /// Writes `uber-trace-id` (`{trace id}:{span id}:0:{01|00|03}`; `03` passes on an
    /// extracted debug flag). Nothing is written for an invalid context.
    pub fn to_jaeger_headers(&self, headers: &mut (impl Injector + ?Sized)) {
        if self.span_context.is_valid() {
            let value = jaeger::format(
                &self.trace_id(),
                &self.span_id(),
                self.is_sampled(),
                self.flags().is_debug(),
            );
            headers.set(jaeger::UBER_TRACE_ID, &value);
        }
    }

    fn remote(
        trace_id: crate::TraceId,
        span_id: crate::SpanId,
        sampled: bool,
        debug: bool,
    ) -> Self {
        let flags = TraceFlags::NONE.with_sampled(sampled || debug);
        TraceContext::from(SpanContext {
            trace_id,
            span_id,
            flags: if debug {
                TraceFlags::from_bits(flags.bits() | TraceFlags::DEBUG.bits())
            } else {
                flags
            },
            is_remote: true,
        })
    }
}

impl<const BYTES: usize> BaggageBuf<BYTES> {
    /// Adds the members of Jaeger's `uberctx-{key}: {value}` headers (values
    /// URL-decoded, keys lowercased), after the members the bag holds: a key it holds
    /// gets the header's value. Needs a carrier that walks such fields
    /// ([`Extractor::for_each_prefixed`]) or lists its names ([`Extractor::keys`]). Of a
    /// name given more than once the last value counts: when it fails, the member is
    /// gone, whatever an earlier value of the name replaced.
    ///
    /// Members not taken are counted in [`Baggage::dropped`], once each: one that does
    /// not fit, whose key is longer than 128 bytes, or whose last value does not decode
    /// to UTF-8 or could not be read as text (the carrier handed it over with U+FFFD in
    /// it). So is every `uberctx-` field past the first [`jaeger::MAX_BAGGAGE_FIELDS`],
    /// unread: the bag holds [`MAX_MEMBERS`](crate::wire::baggage::MAX_MEMBERS) members
    /// at most, and reading more would only cost the time of whoever sent thousands of
    /// such headers.
    pub fn extend_from_jaeger_headers(&mut self, headers: &(impl Extractor + ?Sized)) {
        self.extend_from_jaeger_headers_but(headers, false);
    }

    /// [`Baggage::extend_from_jaeger_headers`]; `skip_present`: a key the bag holds
    /// already (compared ignoring case: Jaeger lowercases keys) is left as it is.
    ///
    /// One pass over the fields (a carrier's own `for_each_prefixed`), each read once
    /// (found by review: each `uberctx-` name listed every header again to find an
    /// earlier spelling, then looked its values up, and zeroed a bag-sized buffer:
    /// 20,000 such headers took 9.7 s, 100 took 0.46 ms).
    fn extend_from_jaeger_headers_but(
        &mut self,
        headers: &(impl Extractor + ?Sized),
        skip_present: bool,
    ) {
        // The members the bag held, first and in order: those this call has not
        // replaced. A key among them is left alone under `skip_present`, and a value
        // that fails removes only a member this call added (the caller's stays).
        let mut inherited = self.len();
        // Names whose last value so far failed (counted once; a later good value takes
        // the count back), by a hash of the lowercased key: a collision (not to be
        // expected by chance; one can be made) only moves the dropped count.
        let mut failed = heapless::Vec::<u64, { jaeger::MAX_BAGGAGE_FIELDS }>::new();
        let mut fields = 0usize;
        // Room for any value the bag could hold (a longer one is dropped either way),
        // zeroed once, and only when there is a value to decode.
        let mut buf: Option<[u8; BYTES]> = None;
        headers.for_each_prefixed(jaeger::BAGGAGE_PREFIX, &mut |name, value| {
            // The carrier's filter is not trusted: a name without the prefix is no
            // member (found by review: `authorization` would have become `ation`).
            let prefix = jaeger::BAGGAGE_PREFIX.len();
            if !starts_with_ignore_case(name, jaeger::BAGGAGE_PREFIX) {
                return;
            }
            let Some(raw_key) = name.get(prefix..).filter(|k| !k.is_empty()) else {
                return;
            };
            fields += 1;
            if fields > jaeger::MAX_BAGGAGE_FIELDS {
                self.count_dropped();
                return;
            }
            let hash = lowercase_hash(raw_key.as_bytes());
            // Jaeger's clients lowercase the keys they read (header names are not case
            // sensitive, and carriers differ in the case they report).
            let mut key = heapless::String::<{ jaeger::MAX_BAGGAGE_KEY_LEN }>::new();
            for c in raw_key.chars() {
                if key.push(c.to_ascii_lowercase()).is_err() {
                    // Too long: lost, and counted once for the name.
                    if !failed.contains(&hash) {
                        let _ = failed.push(hash);
                        self.count_dropped();
                    }
                    return;
                }
            }
            if skip_present
                && self
                    .iter()
                    .take(inherited)
                    .any(|m| m.key().eq_ignore_ascii_case(&key))
            {
                return;
            }
            // A value with U+FFFD in it is one the carrier could not read as text
            // (`get_all` of some carriers hands such a value over so): a member lost.
            let buf = buf.get_or_insert([0u8; BYTES]);
            let decoded = if value.contains('\u{fffd}') {
                None
            } else {
                url_decode(value, buf)
            };
            // The caller's members with the key, which a good value replaces (W3C baggage
            // may hold a key more than once).
            // (None under `skip_present`: an exact match would have been skipped.)
            let replaced = if skip_present {
                0
            } else {
                self.iter()
                    .take(inherited)
                    .filter(|m| m.key() == key.as_str())
                    .count()
            };
            match decoded {
                // The last value wins, as a later `baggage` member does (the Go and Java
                // SDKs keep the last): `insert` replaces an earlier one.
                Some(decoded) if self.insert(&key, decoded).is_ok() => {
                    inherited -= replaced;
                    if let Some(at) = failed.iter().position(|&h| h == hash) {
                        failed.swap_remove(at);
                        self.uncount_dropped();
                    }
                }
                _ => {
                    // This call's earlier value of the name goes: the last one counts.
                    if replaced == 0 {
                        self.remove(&key);
                    }
                    if !failed.contains(&hash) {
                        let _ = failed.push(hash);
                        self.count_dropped();
                    }
                }
            }
        });
    }

    /// Writes each member as a Jaeger `uberctx-{key}: {value}` header (the value as
    /// stored: percent-encoded, which URL decoding reads back; a `+`, which W3C baggage
    /// stores as is and URL decoding reads as a space, as `%2B`).
    ///
    /// Returns how many members were left out: a key of more than
    /// [`MAX_BAGGAGE_KEY_LEN`](jaeger::MAX_BAGGAGE_KEY_LEN) bytes, or a value with a
    /// `+` longer than [`MAX_ESCAPED_BAGGAGE_VALUE_LEN`](jaeger::MAX_ESCAPED_BAGGAGE_VALUE_LEN)
    /// bytes once each `+` is written as `%2B` (the header is built on the stack), or
    /// a member whose key a later member repeats, or repeats but for case (header
    /// names are lowercase, as Jaeger's clients read them; the last wins, as in
    /// [`Baggage::get`]).
    /// Other values are written whole, whatever their length.
    pub fn to_jaeger_headers(&self, headers: &mut (impl Injector + ?Sized)) -> usize {
        // A forwarded carrier's members of the caller's go (found by review: a member
        // the bag had lost went on as the caller's `uberctx-` header).
        headers.remove_prefixed(jaeger::BAGGAGE_PREFIX);
        let mut left_out = 0;
        for (i, member) in self.iter().enumerate() {
            let key = member.key();
            // The last of a repeated key wins, as in `Baggage::get`.
            if self
                .iter()
                .skip(i + 1)
                .any(|later| later.key().eq_ignore_ascii_case(key))
            {
                left_out += 1;
                continue;
            }
            let mut name = heapless::String::<
                { jaeger::BAGGAGE_PREFIX.len() + jaeger::MAX_BAGGAGE_KEY_LEN },
            >::new();
            // Keys are tokens (ASCII): lowercasing keeps their length.
            let lowered = key.chars().map(|c| c.to_ascii_lowercase());
            if name.push_str(jaeger::BAGGAGE_PREFIX).is_err()
                || lowered.map(|c| name.push(c)).any(|pushed| pushed.is_err())
            {
                left_out += 1;
                continue;
            }
            let raw = member.raw_value();
            // An escape that is not UTF-8 (`%FF`, which W3C baggage keeps as received)
            // is written decoded and escaped again, U+FFFD as `%EF%BF%BD`: Jaeger's
            // readers decode values into UTF-8 (OpenTelemetry JS's `decodeURIComponent`
            // throws, and loses the trace id with them; found by review).
            let mut not_utf8 = false;
            if raw.contains('%') {
                crate::wire::baggage::decode_chars(raw, |c| {
                    not_utf8 |= c == char::REPLACEMENT_CHARACTER;
                    true
                });
            }
            if !raw.contains('+') && !not_utf8 {
                headers.set(&name, raw);
                continue;
            }
            // Decoded, then escaped as Jaeger's clients read it: `+` (a space to them)
            // and `%` as escapes, every other baggage octet as it is.
            let mut value = heapless::String::<{ jaeger::MAX_ESCAPED_BAGGAGE_VALUE_LEN }>::new();
            let fits = crate::wire::baggage::decode_chars(raw, |c| {
                let mut utf8 = [0u8; 4];
                c.encode_utf8(&mut utf8).bytes().all(|b| {
                    let plain = crate::wire::baggage::is_baggage_octet(b) && b != b'%' && b != b'+';
                    if plain {
                        value.push(char::from(b)).is_ok()
                    } else {
                        const HEX: &[u8; 16] = b"0123456789ABCDEF";
                        let escape = [b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]];
                        escape.iter().all(|&e| value.push(char::from(e)).is_ok())
                    }
                })
            });
            if fits {
                headers.set(&name, &value);
            } else {
                left_out += 1;
            }
        }
        left_out
    }
}

/// URL-decodes `value` into `buf` as Jaeger's clients encode it (query escaping: `%XX`,
/// and `+` for a space), each invalid UTF-8 sequence read as U+FFFD, as W3C baggage
/// reads it; a value with a bad escape (`50%`) is taken as it is, as jaeger-client-go
/// takes it (OpenTelemetry's Java propagator writes values unencoded). Found by review:
/// both were dropped, `%FF` too, which W3C baggage keeps. `None` when it does not fit.
fn url_decode<'b>(value: &str, buf: &'b mut [u8]) -> Option<&'b str> {
    let bytes = value.as_bytes();
    let escapes_ok = bytes.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !escapes_ok {
        let out = buf.get_mut(..bytes.len())?;
        out.copy_from_slice(bytes);
        return core::str::from_utf8(out).ok();
    }
    let mut n = 0;
    {
        let mut write = |c: char| {
            let len = c.len_utf8();
            match buf.get_mut(n..n + len) {
                Some(out) => {
                    c.encode_utf8(out);
                    n += len;
                    true
                }
                None => false,
            }
        };
        let mut utf8 = crate::wire::baggage::Utf8Decoder::new();
        let mut i = 0;
        while i < bytes.len() {
            let byte = match bytes[i] {
                b'%' => {
                    let mut out = [0u8; 1];
                    // Checked above: two hex digits follow.
                    let _ = b3::parse_hex_into(&bytes[i + 1..i + 3], 2, &mut out);
                    i += 3;
                    out[0]
                }
                b'+' => {
                    i += 1;
                    b' '
                }
                other => {
                    i += 1;
                    other
                }
            };
            if !utf8.push(byte, &mut write) {
                return None;
            }
        }
        if !utf8.finish(&mut write) {
            return None;
        }
    }
    core::str::from_utf8(&buf[..n]).ok()
}

/// 64-bit FNV-1a of `bytes` in ASCII lowercase: a cheap hash of a header name or key.
fn lowercase_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One propagation format (`OTEL_PROPAGATORS` names in brackets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Propagator {
    /// W3C `traceparent` and `tracestate` (`tracecontext`).
    TraceContext,
    /// W3C `baggage` (`baggage`).
    Baggage,
    /// B3, single `b3` header when injecting; both forms read (`b3`).
    B3,
    /// B3, `X-B3-*` headers when injecting; both forms read (`b3multi`).
    B3Multi,
    /// Jaeger `uber-trace-id` and `uberctx-*` baggage (`jaeger`).
    Jaeger,
}

impl Propagator {
    /// The header names this format writes (OpenTelemetry's propagator `Fields`).
    /// Jaeger's baggage headers, `uberctx-{key}`, are named by their keys and not
    /// listed. Not every name an injection removes: B3's multi-header format also
    /// removes the single `b3` header and `x-b3-parentspanid` (a caller's, forwarded,
    /// would name another parent), through [`Injector::remove`]; an injector that
    /// cannot remove should be given a fresh carrier (found by review: the list was
    /// said to be what a reused carrier should lose).
    ///
    /// ```
    /// use picotrace::Propagator;
    /// assert_eq!(Propagator::TraceContext.fields(), ["traceparent", "tracestate"]);
    /// assert_eq!(Propagator::B3.fields(), ["b3"]);
    /// ```
    pub const fn fields(self) -> &'static [&'static str] {
        match self {
            Self::TraceContext => &[TRACEPARENT, TRACESTATE],
            Self::Baggage => &[BAGGAGE],
            Self::B3 => &[b3::B3],
            Self::B3Multi => &[b3::TRACE_ID, b3::SPAN_ID, b3::SAMPLED, b3::FLAGS],
            Self::Jaeger => &[jaeger::UBER_TRACE_ID],
        }
    }

    /// The propagator an `OTEL_PROPAGATORS` entry names (ASCII case ignored).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            n if n.eq_ignore_ascii_case("tracecontext") => Self::TraceContext,
            n if n.eq_ignore_ascii_case("baggage") => Self::Baggage,
            n if n.eq_ignore_ascii_case("b3") => Self::B3,
            n if n.eq_ignore_ascii_case("b3multi") => Self::B3Multi,
            n if n.eq_ignore_ascii_case("jaeger") => Self::Jaeger,
            _ => return None,
        })
    }

    /// The `OTEL_PROPAGATORS` name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::TraceContext => "tracecontext",
            Self::Baggage => "baggage",
            Self::B3 => "b3",
            Self::B3Multi => "b3multi",
            Self::Jaeger => "jaeger",
        }
    }

    fn extract(
        self,
        headers: &(impl Extractor + ?Sized),
    ) -> Option<Result<TraceContext, ExtractError>> {
        match self {
            Self::TraceContext => Some(TraceContext::from_headers(headers)),
            Self::B3 | Self::B3Multi => Some(TraceContext::from_b3_headers(headers)),
            Self::Jaeger => Some(TraceContext::from_jaeger_headers(headers)),
            Self::Baggage => None,
        }
    }
}

/// A composite of propagators, in order (`OTEL_PROPAGATORS`): extraction runs every
/// one and keeps the context of the *last* that finds a valid one, as OpenTelemetry
/// SDKs do (each extractor overwrites the context of the ones before it); injection
/// writes every one. With `b3,tracecontext`, a request carrying both formats keeps
/// its `tracestate`, which only W3C Trace Context carries; list the format to trust
/// last.
///
/// ```
/// use picotrace::propagation::{Propagator, Propagators};
/// use picotrace::{Baggage, TraceContext};
/// // A B3 hop in a W3C fleet: read either, write both.
/// let p = Propagators::new(&[Propagator::TraceContext, Propagator::B3, Propagator::Baggage]);
/// let incoming = [("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")];
/// let cx = p.extract_context(&incoming)?;
/// let mut out = heapless::Vec::<(heapless::String<16>, heapless::String<64>), 4>::new();
/// p.inject_context(&cx, &mut out);
/// assert_eq!(out[0].0, "traceparent");
/// assert_eq!(out[1].0, "b3");
/// # Ok::<(), picotrace::ExtractError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Propagators {
    order: [Propagator; 5],
    len: u8,
}

impl Propagators {
    /// `tracecontext,baggage`, the OpenTelemetry default.
    pub const DEFAULT: Self = Self {
        order: [
            Propagator::TraceContext,
            Propagator::Baggage,
            Propagator::TraceContext,
            Propagator::TraceContext,
            Propagator::TraceContext,
        ],
        len: 2,
    };
    /// `none`: nothing read, nothing written.
    pub const NONE: Self = Self {
        order: [Propagator::TraceContext; 5],
        len: 0,
    };

    /// The propagators in `list`, in order (a repeated one counts once).
    pub fn new(list: &[Propagator]) -> Self {
        let mut p = Self::NONE;
        for &item in list {
            p.push(item);
        }
        p
    }

    /// Adds `propagator` at the end, unless it is there already.
    pub fn push(&mut self, propagator: Propagator) {
        if !self.contains(propagator) {
            // Five kinds, each at most once: there is room.
            self.order[usize::from(self.len)] = propagator;
            self.len += 1;
        }
    }

    /// The propagators, in order.
    pub fn as_slice(&self) -> &[Propagator] {
        &self.order[..usize::from(self.len)]
    }

    /// The header names the propagators on write, in their order (OpenTelemetry's
    /// composite propagator `Fields`; see [`Propagator::fields`]).
    ///
    /// ```
    /// use picotrace::{Propagator, Propagators};
    /// let p = Propagators::new(&[Propagator::TraceContext, Propagator::Baggage]);
    /// assert!(p.fields().eq(["traceparent", "tracestate", "baggage"]));
    /// ```
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.as_slice()
            .iter()
            .flat_map(|p| p.fields().iter().copied())
    }

    /// Returns `true` when `propagator` is on.
    pub fn contains(&self, propagator: Propagator) -> bool {
        self.as_slice().contains(&propagator)
    }

    /// Extracts the incoming context: every propagator runs, in order, and the last
    /// that finds a valid context wins (a missing or invalid format leaves the one
    /// found before it). When it is the same trace as one found before, it keeps what
    /// only the earlier format could carry: B3's and Jaeger's debug flag (when the
    /// later format says sampled too), W3C's random trace id, and W3C's tracestate when
    /// the later format names the same parent span.
    ///
    /// # Errors
    /// When none finds one: the first error other than [`ExtractError::Missing`], else
    /// `Missing`. Either way the span starts a new trace.
    pub fn extract_context(
        &self,
        headers: &(impl Extractor + ?Sized),
    ) -> Result<TraceContext, ExtractError> {
        let mut found: Result<TraceContext, ExtractError> = Err(ExtractError::Missing);
        for p in self.as_slice() {
            match p.extract(headers) {
                Some(Ok(mut cx)) => {
                    // The same trace from an earlier format: the flags only that format
                    // carries stay (B3's and Jaeger's debug, which OpenTelemetry's B3
                    // propagator must keep, while the later format says sampled too: debug
                    // means sampled; W3C's random trace id).
                    if let Ok(earlier) = &found {
                        if earlier.trace_id() == cx.trace_id() {
                            let debug = if cx.is_sampled() {
                                TraceFlags::DEBUG.bits()
                            } else {
                                0
                            };
                            let only_there = debug | TraceFlags::RANDOM_TRACE_ID.bits();
                            let kept = earlier.flags().bits() & only_there;
                            let flags = &mut cx.span_context.flags;
                            *flags = TraceFlags::from_bits(flags.bits() | kept);
                            // And W3C's tracestate, which B3 and Jaeger cannot carry
                            // (found by review: `tracecontext,b3` from a mesh that
                            // sends both lost it; W3C: it MUST be passed on), when the
                            // later format names the same parent: a tracestate goes
                            // with its `traceparent` (found by review: a stale B3 field
                            // beside a new `traceparent` got its tracestate).
                            if cx.trace_state.is_empty() && earlier.span_id() == cx.span_id() {
                                cx.trace_state = earlier.trace_state.clone();
                            }
                        }
                    }
                    found = Ok(cx);
                }
                Some(Err(e)) if found == Err(ExtractError::Missing) => found = Err(e),
                _ => {}
            }
        }
        found
    }

    /// Writes `cx` in every context format on.
    pub fn inject_context(&self, cx: &TraceContext, headers: &mut (impl Injector + ?Sized)) {
        for p in self.as_slice() {
            match p {
                Propagator::TraceContext => cx.to_headers(headers),
                // With both B3 forms on, each leaves the other's headers alone.
                Propagator::B3 => {
                    cx.write_b3_single(headers, !self.contains(Propagator::B3Multi));
                }
                Propagator::B3Multi => {
                    cx.write_b3_multi(headers, !self.contains(Propagator::B3));
                }
                Propagator::Jaeger => cx.to_jaeger_headers(headers),
                Propagator::Baggage => {}
            }
        }
    }

    /// Extracts baggage: W3C `baggage` when `baggage` is on, Jaeger `uberctx-*` when
    /// `jaeger` is on. Empty when neither is. With both, the W3C members come first
    /// and a Jaeger member whose key one of them has (ignoring case) is left out: a
    /// peer that writes both formats from one bag sends each member twice, and W3C's
    /// copy keeps its properties and the key's case. A [`Baggage`] holds 8 KiB: on a
    /// microcontroller, [`Propagators::extract_baggage_into`] a smaller bag.
    // (Found by review: in list order, `jaeger,baggage` added each member once more at
    // every hop, and `baggage,jaeger` dropped the W3C member's properties and added
    // lowercased keys.)
    pub fn extract_baggage(&self, headers: &(impl Extractor + ?Sized)) -> Baggage {
        let mut bag = Baggage::new();
        self.extract_baggage_into(headers, &mut bag);
        bag
    }

    /// [`Propagators::extract_baggage`] into a bag of another size (firmware keeps
    /// less than the spec's 8 KiB), replacing what `bag` held.
    ///
    /// ```
    /// use picotrace::{BaggageBuf, Propagators};
    /// let mut bag = BaggageBuf::<256>::new();
    /// Propagators::DEFAULT.extract_baggage_into(&[("baggage", "userId=alice")], &mut bag);
    /// assert_eq!(bag.as_str(), "userId=alice");
    /// ```
    pub fn extract_baggage_into<const BYTES: usize>(
        &self,
        headers: &(impl Extractor + ?Sized),
        bag: &mut BaggageBuf<BYTES>,
    ) {
        *bag = BaggageBuf::new();
        let w3c = self.contains(Propagator::Baggage);
        if w3c {
            bag.extend_from_w3c_headers(headers);
        }
        if self.contains(Propagator::Jaeger) {
            bag.extend_from_jaeger_headers_but(headers, w3c);
        }
    }

    /// Writes `baggage` in every baggage format on (W3C `baggage`, Jaeger `uberctx-*`).
    /// Returns how many members a format had to leave out (see
    /// [`Baggage::to_jaeger_headers`]; W3C `baggage` writes every member).
    pub fn inject_baggage<const BYTES: usize>(
        &self,
        baggage: &BaggageBuf<BYTES>,
        headers: &mut (impl Injector + ?Sized),
    ) -> usize {
        let mut left_out = 0;
        for p in self.as_slice() {
            match p {
                Propagator::Baggage => baggage.to_headers(headers),
                Propagator::Jaeger => left_out += baggage.to_jaeger_headers(headers),
                _ => {}
            }
        }
        left_out
    }
}

impl Default for Propagators {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Debug for Propagators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.as_slice().iter().map(|p| p.name()))
            .finish()
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

    /// Regression (found by review): a higher version's flags were read as version
    /// 00's, so its bit 1 claimed a random trace id (which the samplers rely on) and
    /// went out in our version-00 header; the spec reads only its sampled bit.
    #[test]
    fn a_higher_version_gives_only_its_sampled_flag() {
        for (header, sampled) in [
            (
                "cc-12345678901234567890123456789012-1234567890123456-03-x",
                true,
            ),
            (
                "01-12345678901234567890123456789012-1234567890123456-fe",
                false,
            ),
        ] {
            let cx = TraceContext::from_headers(&[("traceparent", header)]).unwrap();
            assert_eq!(cx.is_sampled(), sampled, "{header}");
            assert!(!cx.flags().is_random_trace_id(), "{header}");
            let flags = if sampled { "01" } else { "00" };
            assert!(cx.to_traceparent().unwrap().ends_with(flags), "{header}");
        }
        let cx = TraceContext::from_headers(&[(
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-03",
        )])
        .unwrap();
        assert!(cx.is_sampled() && cx.flags().is_random_trace_id());
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
    fn header_names_match_in_any_case_and_only_when_every_byte_does() {
        for name in [
            "b3",
            "baggage",
            "tracestate",
            "traceparent",
            "uber-trace-id-long-name",
        ] {
            assert!(same_name(name, name));
            assert!(same_name(&name.to_ascii_uppercase(), name));
            for i in 0..name.len() {
                let mut other = String::from(name);
                other.replace_range(i..=i, "_");
                assert!(!same_name(&other, name), "{other} is not {name}");
            }
            assert!(!same_name(&name[1..], name));
        }
        // Letters differ from their other case by 0x20; other bytes must not.
        assert!(!same_name("trace\rstate", "trace|rstate"));
    }

    #[cfg(feature = "tracestate")]
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

    /// Regression (found by review): the `heapless::Vec` injector did not remove, so a
    /// forwarded vector kept the caller's `tracestate` with a new trace's
    /// `traceparent`, and a value too long for it left the caller's in place.
    /// Regression (found by review): `set` gave the first pair of a repeated name the
    /// new value and left the others, so the next hop read the stale ones too (a
    /// baggage member the bag had removed came back; a tracestate split over two
    /// fields was sent twice and went over the 32-member limit).
    #[test]
    fn set_on_a_vector_replaces_every_field_of_the_name() {
        let mut headers: heapless::Vec<(heapless::String<16>, heapless::String<64>), 6> =
            heapless::Vec::new();
        for (k, v) in [
            ("Baggage", "k=1"),
            ("x-other", "1"),
            ("baggage", "j=2"),
            ("BAGGAGE", "i=3"),
        ] {
            let _ = headers.push((k.try_into().unwrap(), v.try_into().unwrap()));
        }
        let mut bag = Baggage::from_headers(&headers);
        assert_eq!(bag.as_str(), "k=1,j=2,i=3");
        bag.remove("j");
        bag.to_headers(&mut headers);
        let pairs: std::vec::Vec<_> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(pairs, [("baggage", "k=1,i=3"), ("x-other", "1")]);
        assert_eq!(Baggage::from_headers(&headers).as_str(), "k=1,i=3");
    }

    #[test]
    fn a_forwarded_vector_keeps_no_stale_header() {
        let mut headers: heapless::Vec<(heapless::String<16>, heapless::String<64>), 4> =
            heapless::Vec::new();
        for (k, v) in [
            (
                "traceparent",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            ),
            ("TraceState", "congo=t61rcWkgMzE"),
            ("baggage", "k=v"),
        ] {
            headers.set(k, v);
        }
        assert!(
            TraceContext::from_headers(&headers).is_err(),
            "uppercase ids"
        );
        let root = TraceContext::new_root(&mut crate::IdGenerator::from_seed([3; 32]), true);
        root.to_headers(&mut headers);
        let names: std::vec::Vec<_> = headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["traceparent", "baggage"]);
        // A value longer than the vector keeps: the caller's goes too.
        headers.set("baggage", &"k=v,".repeat(20));
        assert_eq!(headers.len(), 1);
        // Jaeger baggage: the caller's `uberctx-` headers go.
        headers.set("Uberctx-Old", "1");
        let jaeger = Propagators::new(&[Propagator::Jaeger]);
        jaeger.inject_baggage(&Baggage::parse("new=2"), &mut headers);
        let names: std::vec::Vec<_> = headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["traceparent", "uberctx-new"]);
    }

    #[test]
    fn to_headers_skips_invalid_and_empty() {
        let mut out: heapless::Vec<(heapless::String<16>, heapless::String<64>), 4> =
            heapless::Vec::new();
        TraceContext::default().to_headers(&mut out);
        assert!(out.is_empty());
        // Regression (found by review): an all-zero traceparent, which W3C forbids.
        assert!(TraceContext::default().to_traceparent().is_none());
        let ctx = TraceContext::from_headers(&[("traceparent", TP)]).unwrap();
        ctx.to_headers(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1.as_str(), TP);
        assert_eq!(ctx.to_traceparent().as_deref(), Some(TP));
    }

    #[test]
    fn baggage_round_trip_through_headers() {
        let bag: Baggage = Baggage::from_headers(&[("BAGGAGE", "k=v;p"), ("baggage", "j=%20")]);
        let mut out: heapless::Vec<(heapless::String<16>, heapless::String<64>), 4> =
            heapless::Vec::new();
        bag.to_headers(&mut out);
        assert_eq!(out[0].1.as_str(), "k=v;p,j=%20");
        assert_eq!(BaggageBuf::<64>::from_headers(&out), bag);
        BaggageBuf::<8>::new().to_headers(&mut FnInjector(|_: &str, _: &str| panic!("empty")));
    }

    type Headers = heapless::Vec<(heapless::String<32>, heapless::String<128>), 16>;

    fn sampled_cx() -> TraceContext {
        TraceContext::from(SpanContext {
            trace_id: TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            span_id: SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            flags: TraceFlags::SAMPLED,
            is_remote: false,
        })
    }

    #[test]
    fn every_format_round_trips_through_its_headers() {
        // Sampled and not (found by review: only sampled contexts went through the
        // composite's injection, so a format that always wrote "sampled" passed).
        for sampled in [true, false] {
            let mut cx = sampled_cx();
            cx.span_context.flags = cx.span_context.flags.with_sampled(sampled);
            for p in [
                Propagator::TraceContext,
                Propagator::B3,
                Propagator::B3Multi,
                Propagator::Jaeger,
            ] {
                let one = Propagators::new(&[p]);
                let mut headers = Headers::new();
                one.inject_context(&cx, &mut headers);
                let back = one.extract_context(&headers).unwrap();
                assert_eq!(
                    back.span_context.trace_id, cx.span_context.trace_id,
                    "{p:?}"
                );
                assert_eq!(back.span_context.span_id, cx.span_context.span_id, "{p:?}");
                assert_eq!(back.is_sampled(), sampled, "{p:?}");
                assert!(back.is_remote(), "{p:?}");
            }
            let mut headers = Headers::new();
            Propagators::new(&[Propagator::B3Multi]).inject_context(&cx, &mut headers);
            let names: Vec<_> = headers.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(names, ["x-b3-traceid", "x-b3-spanid", "x-b3-sampled"]);
            let flag = if sampled { "1" } else { "0" };
            assert_eq!(headers[2].1.as_str(), flag);
        }
    }

    /// Regression: extraction stopped at the first propagator with a valid context, so
    /// `b3,tracecontext` on a request from an OpenTelemetry SDK writing both formats
    /// took B3's context, which carries no tracestate: the vendors' entries (and the
    /// `ot` sampling threshold) were dropped. As in OpenTelemetry SDKs, every
    /// propagator runs in order and the last valid context wins.
    #[cfg(feature = "tracestate")]
    #[test]
    fn the_composite_keeps_the_last_valid_context_as_opentelemetry_does() {
        let p = Propagators::new(&[Propagator::B3, Propagator::TraceContext]);
        let both = [
            ("b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"),
            ("traceparent", TP),
            ("tracestate", "congo=t61rcWkgMzE,ot=th:8"),
        ];
        let cx = p.extract_context(&both).unwrap();
        assert_eq!(cx.trace_state.as_str(), "congo=t61rcWkgMzE,ot=th:8");
        // Two formats that disagree (a proxy rewrote one): the later propagator's.
        let rewritten = [
            ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
            ("traceparent", TP),
        ];
        let cx = p.extract_context(&rewritten).unwrap();
        assert_eq!(cx.to_traceparent().as_deref(), Some(TP));
        let reversed = Propagators::new(&[Propagator::TraceContext, Propagator::B3]);
        let cx = reversed.extract_context(&rewritten).unwrap();
        assert_eq!(
            cx.trace_id().to_hex().as_str(),
            "80f198ee56343ba864fe8b2a57d3eff7"
        );
        // A later format that is missing or invalid keeps the earlier context.
        let cx = p
            .extract_context(&[
                ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
                ("traceparent", "00-zz-00f067aa0ba902b7-01"),
            ])
            .unwrap();
        assert_eq!(
            cx.trace_id().to_hex().as_str(),
            "80f198ee56343ba864fe8b2a57d3eff7"
        );
    }

    /// Regression: a later format with the same trace replaced the whole context, so a
    /// B3 or Jaeger debug flag received beside a `traceparent` (listed last) was lost
    /// and passed on as plain sampled (OpenTelemetry B3: a debug flag MUST be kept);
    /// the W3C random-trace-id flag went the same way under a later B3.
    /// Regression (found by review): W3C's tracestate was lost when a later format
    /// (B3, Jaeger: no tracestate) gave the same trace, as a mesh sending both does.
    #[test]
    #[cfg(feature = "tracestate")]
    fn the_composite_keeps_the_tracestate_of_the_same_trace() {
        let p = Propagators::new(&[Propagator::TraceContext, Propagator::B3]);
        let mut headers = [
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("tracestate", "congo=x,ot=th:8"),
            ("b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"),
        ];
        let cx = p.extract_context(&headers).unwrap();
        assert_eq!(cx.trace_state.as_str(), "congo=x,ot=th:8");
        // Another trace in the later format: the earlier tracestate is not its own.
        headers[2].1 = "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1";
        let cx = p.extract_context(&headers).unwrap();
        assert_eq!(cx.trace_state.as_str(), "");
        // Regression (found by review): nor is it another parent's in the same trace (a
        // caller's B3 field left beside a proxy's new `traceparent`).
        headers[2].1 = "4bf92f3577b34da6a3ce929d0e0e4736-e457b5a2e4d86bd1-1";
        let cx = p.extract_context(&headers).unwrap();
        assert_eq!(cx.span_id().to_hex().as_str(), "e457b5a2e4d86bd1");
        assert_eq!(cx.trace_state.as_str(), "");
    }

    #[test]
    fn the_composite_keeps_the_flags_an_earlier_format_gave_the_same_trace() {
        const SAME: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let p = Propagators::new(&[Propagator::B3, Propagator::TraceContext]);
        let headers = [
            ("b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-d"),
            ("traceparent", SAME),
        ];
        let cx = p.extract_context(&headers).unwrap();
        assert!(cx.flags().is_debug() && cx.is_sampled());
        let mut out: heapless::Vec<(heapless::String<16>, heapless::String<64>), 4> =
            heapless::Vec::new();
        p.inject_context(&cx, &mut out);
        assert!(
            out.iter().any(|(k, v)| k == "b3" && v.ends_with("-d")),
            "{out:?}"
        );
        let p = Propagators::new(&[Propagator::Jaeger, Propagator::TraceContext]);
        let headers = [
            (
                "uber-trace-id",
                "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:3",
            ),
            ("traceparent", SAME),
        ];
        assert!(p.extract_context(&headers).unwrap().flags().is_debug());
        // W3C's random flag, then B3 (which cannot carry it) for the same trace.
        let p = Propagators::new(&[Propagator::TraceContext, Propagator::B3]);
        let headers = [
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
            ),
            ("b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"),
        ];
        let flags = p.extract_context(&headers).unwrap().flags();
        assert_eq!(flags.bits() & TraceFlags::RANDOM_TRACE_ID.bits(), 0x02);
        // Another trace in the later format: nothing of the earlier one stays.
        let headers = [
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
            ),
            ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
        ];
        let flags = p.extract_context(&headers).unwrap().flags();
        assert_eq!(flags.bits() & TraceFlags::RANDOM_TRACE_ID.bits(), 0);
        // A later format that says unsampled: no debug flag (debug means sampled).
        let p = Propagators::new(&[Propagator::B3, Propagator::TraceContext]);
        let headers = [
            ("b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-d"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            ),
        ];
        let cx = p.extract_context(&headers).unwrap();
        assert!(!cx.flags().is_debug() && !cx.is_sampled());
    }

    #[test]
    fn the_composite_extracts_any_valid_format_and_injects_all() {
        let p = Propagators::new(&[Propagator::TraceContext, Propagator::B3, Propagator::Jaeger]);
        // An invalid traceparent does not hide a valid B3 context after it.
        let headers = [
            ("traceparent", "00-zz-00f067aa0ba902b7-01"),
            ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0"),
        ];
        let cx = p.extract_context(&headers).unwrap();
        assert_eq!(
            cx.trace_id().to_hex().as_str(),
            "80f198ee56343ba864fe8b2a57d3eff7"
        );
        assert!(!cx.is_sampled());
        // Nothing valid: the first real error, not `Missing`.
        let bad = [("b3", "nonsense-x")];
        assert!(matches!(p.extract_context(&bad), Err(ExtractError::B3(_))));
        assert_eq!(p.extract_context(&[("x", "y")]), Err(ExtractError::Missing));
        assert_eq!(
            Propagators::NONE.extract_context(&headers),
            Err(ExtractError::Missing)
        );
        let mut out = Headers::new();
        p.inject_context(&sampled_cx(), &mut out);
        let names: Vec<_> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["traceparent", "b3", "uber-trace-id"]);
        assert_eq!(
            Propagators::new(&[Propagator::B3, Propagator::B3]).as_slice(),
            [Propagator::B3]
        );
        assert_eq!(Propagator::from_name("B3Multi"), Some(Propagator::B3Multi));
        assert_eq!(Propagator::from_name("xray"), None);
    }

    /// `fields()` names what each propagator writes (the OpenTelemetry B3 requirement:
    /// "Fields MUST return the header names that correspond to the configured
    /// format"): a sampled, a debug and an unsampled context with a tracestate, and
    /// baggage, injected by each; every name written is listed (but Jaeger's
    /// `uberctx-{key}`), and every name listed is written by one of them.
    #[cfg(feature = "tracestate")]
    #[test]
    fn fields_name_the_headers_each_propagator_writes() {
        let mut bag: Baggage = Baggage::new();
        bag.insert("user", "alice").unwrap();
        let mut with_state = sampled_cx();
        with_state.trace_state = crate::TraceState::parse("k=v").unwrap();
        let mut debug = sampled_cx();
        debug.span_context.flags =
            TraceFlags::from_bits(TraceFlags::SAMPLED.bits() | TraceFlags::DEBUG.bits());
        let mut unsampled = sampled_cx();
        unsampled.span_context.flags = TraceFlags::NONE;
        for p in [
            Propagator::TraceContext,
            Propagator::Baggage,
            Propagator::B3,
            Propagator::B3Multi,
            Propagator::Jaeger,
        ] {
            let one = Propagators::new(&[p]);
            let mut written: Vec<std::string::String> = Vec::new();
            for cx in [&with_state, &debug, &unsampled] {
                let mut out = Headers::new();
                one.inject_context(cx, &mut out);
                one.inject_baggage(&bag, &mut out);
                written.extend(out.iter().map(|(k, _)| k.as_str().into()));
            }
            written.retain(|name| !name.starts_with(jaeger::BAGGAGE_PREFIX));
            for name in &written {
                assert!(p.fields().contains(&name.as_str()), "{p:?} wrote {name}");
            }
            for name in p.fields() {
                assert!(written.iter().any(|w| w == name), "{p:?} lists {name}");
            }
        }
        let all = Propagators::new(&[Propagator::Jaeger, Propagator::TraceContext]);
        assert!(all
            .fields()
            .eq(["uber-trace-id", "traceparent", "tracestate"]));
    }

    #[test]
    fn jaeger_baggage_round_trips_and_w3c_baggage_follows_the_list() {
        let mut bag: Baggage = Baggage::new();
        bag.insert("user", "alice smith, jr").unwrap();
        bag.insert("tier", "gold").unwrap();
        let mut out = Headers::new();
        let both = Propagators::new(&[Propagator::Baggage, Propagator::Jaeger]);
        both.inject_baggage(&bag, &mut out);
        let names: Vec<_> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["baggage", "uberctx-user", "uberctx-tier"]);
        let only_jaeger = Propagators::new(&[Propagator::Jaeger]);
        let back: Baggage = only_jaeger.extract_baggage(&[
            ("uberctx-user", "alice%20smith%2C%20jr"),
            ("UberCtx-tier", "gold"),
            ("uberctx-bad", "\u{fffd}"),
            ("other", "x"),
        ]);
        let mut buf = [0u8; 64];
        assert_eq!(back.get_decoded("user", &mut buf), Some("alice smith, jr"));
        assert_eq!(back.get_decoded("tier", &mut buf), Some("gold"));
        assert_eq!(back.dropped(), 1);
        let none: Baggage = Propagators::new(&[Propagator::TraceContext]).extract_baggage(&out);
        assert!(none.is_empty());
    }

    /// Regression (found by review): with both baggage formats on, each member was read
    /// from both: `jaeger,baggage` added it once more at every hop (the W3C header
    /// carried every copy on), and `baggage,jaeger` replaced a W3C member by its Jaeger
    /// copy, losing its properties, and added a lowercased twin of a mixed-case key.
    #[test]
    fn both_baggage_formats_round_trip_each_member_once() {
        let sent: Baggage = Baggage::parse("k=v;p=1,userId=alice,j=2");
        for order in [
            [Propagator::Jaeger, Propagator::Baggage],
            [Propagator::Baggage, Propagator::Jaeger],
        ] {
            let p = Propagators::new(&order);
            let mut bag = sent.clone();
            for hop in 0..3 {
                let mut out = Headers::new();
                p.inject_baggage(&bag, &mut out);
                bag = p.extract_baggage(&out);
                assert_eq!(bag.as_str(), sent.as_str(), "{order:?}, hop {hop}");
                assert_eq!(bag.dropped(), 0, "{order:?}, hop {hop}");
            }
        }
        // A member only Jaeger's header carries is still read beside W3C's.
        let p = Propagators::new(&[Propagator::Baggage, Propagator::Jaeger]);
        let bag: Baggage = p.extract_baggage(&[("baggage", "a=1"), ("uberctx-b", "2")]);
        assert_eq!(bag.as_str(), "a=1,b=2");
    }

    /// Jaeger's clients lowercase `uberctx-` keys and URL-decode values (`+` is a
    /// space); a key used to keep the sender's case and a `+` stayed a `+` both ways.
    #[test]
    fn jaeger_baggage_keys_are_lowercased_and_plus_is_a_space() {
        let jaeger = Propagators::new(&[Propagator::Jaeger]);
        let back: Baggage =
            jaeger.extract_baggage(&[("uberctx-UserId", "alice+smith"), ("uberctx-op", "a%2Bb")]);
        let mut buf = [0u8; 64];
        assert_eq!(back.get_decoded("userid", &mut buf), Some("alice smith"));
        assert_eq!(back.get_decoded("op", &mut buf), Some("a+b"));
        // A `+` goes out escaped, and comes back as a `+`.
        let mut bag: Baggage = Baggage::new();
        bag.insert("sum", "1+1").unwrap();
        let mut out = Headers::new();
        jaeger.inject_baggage(&bag, &mut out);
        assert_eq!(out[0].1.as_str(), "1%2B1");
        let again: Baggage = jaeger.extract_baggage(&out);
        assert_eq!(again.get_decoded("sum", &mut buf), Some("1+1"));
    }

    /// Regression (found by review): a W3C member whose escape is not UTF-8 (`%FF`, kept
    /// as received) went out as it came, which Jaeger's readers cannot decode (OTel JS
    /// throws and loses the whole context); it goes out decoded and escaped again.
    #[test]
    fn jaeger_baggage_values_are_utf8_once_decoded() {
        let jaeger = Propagators::new(&[Propagator::Jaeger]);
        for (w3c, sent) in [
            ("k=%FF", "%EF%BF%BD"),
            ("k=a%C3", "a%EF%BF%BD"),
            ("k=%FF+x%20y", "%EF%BF%BD%2Bx%20y"),
            ("k=ok%20fine", "ok%20fine"),
        ] {
            let bag: Baggage = Baggage::parse(w3c);
            let mut out = Headers::new();
            jaeger.inject_baggage(&bag, &mut out);
            assert_eq!(out[0].1.as_str(), sent, "{w3c}");
        }
    }

    /// Regression (found by review): a `uberctx-` name given twice (or twice but for
    /// case) took its first value, inserted once for each time the carrier listed it,
    /// and the later value was lost uncounted; the W3C `baggage` header keeps the last.
    /// The last value wins now, taken once; one that does not decode is counted once.
    #[test]
    fn a_repeated_jaeger_baggage_header_keeps_its_last_value() {
        let jaeger = Propagators::new(&[Propagator::Jaeger]);
        let mut buf = [0u8; 16];
        for headers in [
            [("uberctx-k", "1"), ("uberctx-k", "2")],
            [("uberctx-K", "1"), ("uberctx-k", "2")],
        ] {
            let bag: Baggage = jaeger.extract_baggage(&headers);
            assert_eq!(bag.get_decoded("k", &mut buf), Some("2"), "{headers:?}");
            assert_eq!((bag.len(), bag.dropped()), (1, 0), "{headers:?}");
        }
        let bag: Baggage = jaeger.extract_baggage(&[("uberctx-k", "1"), ("uberctx-K", "\u{fffd}")]);
        assert_eq!((bag.len(), bag.dropped()), (0, 1));
    }

    /// A slice carrier that counts the fields it walks, whichever method walks them.
    struct Counting<'a>(
        &'a [(std::string::String, std::string::String)],
        core::cell::Cell<usize>,
    );

    impl Extractor for Counting<'_> {
        fn get(&self, name: &str) -> Option<&str> {
            self.1.set(self.1.get() + self.0.len());
            Extractor::get(self.0, name)
        }

        fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
            self.1.set(self.1.get() + self.0.len());
            self.0.get_all(name, f);
        }

        fn keys(&self, f: &mut dyn FnMut(&str)) {
            self.1.set(self.1.get() + self.0.len());
            self.0.keys(f);
        }

        fn for_each_prefixed(&self, prefix: &str, f: &mut dyn FnMut(&str, &str)) {
            self.1.set(self.1.get() + self.0.len());
            self.0.for_each_prefixed(prefix, f);
        }
    }

    /// Regression (found by review): each `uberctx-` name listed every header again (to
    /// find an earlier spelling of it) and then looked its values up, a walk of the
    /// carrier each: quadratic in the number of headers (20,000 of them took 9.7 s in
    /// release, 100 took 0.46 ms). One walk now, whatever their number, and no more than
    /// `MAX_BAGGAGE_FIELDS` of them read; the rest are counted as dropped.
    #[test]
    fn jaeger_baggage_reads_the_carrier_once() {
        use std::format;
        let jaeger = Propagators::new(&[Propagator::Jaeger, Propagator::Baggage]);
        let fields: std::vec::Vec<_> = (0..1000)
            .map(|i| (format!("uberctx-k{i}"), format!("{i}")))
            .chain([(std::string::String::from("baggage"), "w3c=1".into())])
            .collect();
        let carrier = Counting(&fields, core::cell::Cell::new(0));
        let bag: Baggage = jaeger.extract_baggage(&carrier);
        // The W3C header's lookup, and one walk for Jaeger's fields.
        assert_eq!(carrier.1.get(), 2 * fields.len());
        assert_eq!(bag.len(), crate::wire::baggage::MAX_MEMBERS);
        assert_eq!(bag.dropped(), 1000 + 1 - crate::wire::baggage::MAX_MEMBERS);
        let mut buf = [0u8; 8];
        assert_eq!(bag.get_decoded("w3c", &mut buf), Some("1"));
        assert_eq!(bag.get_decoded("k62", &mut buf), Some("62"));
        assert_eq!(bag.get_decoded("k63", &mut buf), None, "the bag was full");
        // Past the fields read, a name given again is not read either: dropped, counted.
        let mut repeated: std::vec::Vec<_> = (0..jaeger::MAX_BAGGAGE_FIELDS)
            .map(|_| ("uberctx-k", "1"))
            .collect();
        repeated.push(("uberctx-k", "2"));
        let bag: Baggage = jaeger.extract_baggage(repeated.as_slice());
        assert_eq!(bag.get_decoded("k", &mut buf), Some("1"));
        assert_eq!((bag.len(), bag.dropped()), (1, 1));
    }

    /// A carrier with only `get_all` and `keys` (listing `uberctx-` names once, as a map
    /// does, or once per field, as a list does) gets Jaeger baggage through the default
    /// `for_each_prefixed`, as from one that walks its fields (found by review: a first
    /// default read each value of a name once per listing, 12 fields of one name 144
    /// times, and kept the 8th value).
    #[test]
    fn jaeger_baggage_from_a_carrier_that_only_lists_its_names() {
        struct Listed<'a>(&'a [(&'a str, &'a str)], bool);
        impl Extractor for Listed<'_> {
            fn get(&self, name: &str) -> Option<&str> {
                Extractor::get(self.0, name)
            }
            fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
                self.0.get_all(name, f);
            }
            fn keys(&self, f: &mut dyn FnMut(&str)) {
                let mut seen = std::vec::Vec::new();
                for (k, _) in self.0 {
                    // `.1`: one name per name, as a map lists it.
                    if !self.1 || !seen.iter().any(|s: &&str| s.eq_ignore_ascii_case(k)) {
                        seen.push(k);
                        f(k);
                    }
                }
            }
        }
        let jaeger = Propagators::new(&[Propagator::Jaeger]);
        let fields = [
            ("uberctx-a", "1"),
            ("Uberctx-B", "x%20y"),
            ("uberctx-a", "3"),
        ];
        for once in [true, false] {
            let bag: Baggage = jaeger.extract_baggage(&Listed(&fields, once));
            // Both values of `a` in order, when it was first listed.
            assert_eq!((bag.as_str(), bag.dropped()), ("a=3,b=x%20y", 0), "{once}");
        }
        let twelve: std::vec::Vec<(&str, std::string::String)> = (1..=12)
            .map(|i| ("uberctx-k", std::format!("v{i}")))
            .collect();
        let twelve: std::vec::Vec<(&str, &str)> =
            twelve.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for once in [true, false] {
            let bag: Baggage = jaeger.extract_baggage(&Listed(&twelve, once));
            assert_eq!((bag.as_str(), bag.dropped()), ("k=v12", 0), "{once}");
            assert_eq!(bag, jaeger.extract_baggage(twelve.as_slice()));
        }
        // Regression (found by review): past 128 names, a name listed once per field
        // was read whole at each listing (k fields, k² values; each past the field
        // limit counted as dropped).
        let names: std::vec::Vec<std::string::String> =
            (0..128).map(|i| std::format!("uberctx-k{i}")).collect();
        let mut many: std::vec::Vec<(&str, &str)> =
            names.iter().map(|n| (n.as_str(), "1")).collect();
        many.extend([("uberctx-x", "v"); 3]);
        let listed: Baggage = jaeger.extract_baggage(&Listed(&many, false));
        let walked: Baggage = jaeger.extract_baggage(many.as_slice());
        assert_eq!(listed.dropped(), walked.dropped());
        assert_eq!(listed, walked);
    }

    /// Which Jaeger baggage fields count as dropped: a member whose last value fails,
    /// once; not one a later value took (found by review: an unreadable value a later
    /// one replaced was counted). A value that fails takes out what this extraction
    /// added for the name, not a member the bag held that no header replaced (found by
    /// review: the caller's `k` went).
    #[test]
    fn jaeger_baggage_counts_each_member_lost_once() {
        let jaeger = Propagators::new(&[Propagator::Jaeger]);
        let mut buf = [0u8; 16];
        /// Fields; the value of `k` kept; the members dropped.
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, usize);
        let cases: [Case; 5] = [
            (
                &[("uberctx-k", "\u{fffd}"), ("uberctx-k", "ok")],
                Some("ok"),
                0,
            ),
            (&[("uberctx-k", "ok"), ("uberctx-k", "\u{fffd}")], None, 1),
            (
                &[("uberctx-k", "\u{fffd}"), ("uberctx-K", "\u{fffd}y")],
                None,
                1,
            ),
            (
                &[
                    ("uberctx-k", "\u{fffd}"),
                    ("uberctx-k", "1"),
                    ("uberctx-k", "\u{fffd}%"),
                ],
                None,
                1,
            ),
            (
                &[
                    ("uberctx-k", "\u{fffd}"),
                    ("uberctx-j", "\u{fffd}"),
                    ("uberctx-k", "2"),
                ],
                Some("2"),
                1,
            ),
        ];
        for (fields, kept, dropped) in cases {
            let bag: Baggage = jaeger.extract_baggage(fields);
            assert_eq!(bag.get_decoded("k", &mut buf), kept, "{fields:?}");
            assert_eq!(bag.dropped(), dropped, "{fields:?}");
        }
        let mut bag: BaggageBuf<256> = BaggageBuf::new();
        bag.insert("k", "orig").unwrap();
        bag.insert("j", "orig").unwrap();
        bag.extend_from_jaeger_headers(&[("uberctx-k", "\u{fffd}"), ("uberctx-j", "new")]);
        assert_eq!((bag.as_str(), bag.dropped()), ("k=orig,j=new", 1));
        bag.extend_from_jaeger_headers(&[("uberctx-j", "again"), ("uberctx-j", "\u{fffd}")]);
        assert_eq!(
            (bag.as_str(), bag.dropped()),
            ("k=orig", 2),
            "the last value counts"
        );
        // A key the W3C header gave is left alone, given twice or not.
        let both = Propagators::new(&[Propagator::Baggage, Propagator::Jaeger]);
        let bag: Baggage = both.extract_baggage(&[
            ("baggage", "k=w3c,k=again"),
            ("uberctx-k", "\u{fffd}"),
            ("uberctx-K", "jaeger"),
        ]);
        assert_eq!((bag.as_str(), bag.dropped()), ("k=w3c,k=again", 0));
    }

    /// More of the same: a name whose value found the bag full, then one that fits; a key
    /// too long for a member, given twice (counted once); a carrier whose
    /// `for_each_prefixed` passes other headers too (found by review: `authorization`
    /// would have become a member `ation`).
    #[test]
    fn jaeger_baggage_failures_by_size_and_a_careless_carrier() {
        let jaeger = Propagators::new(&[Propagator::Jaeger]);
        let mut bag: BaggageBuf<16> = BaggageBuf::new();
        bag.extend_from_jaeger_headers(&[("uberctx-k", "123456789012345"), ("uberctx-k", "1")]);
        assert_eq!((bag.as_str(), bag.dropped()), ("k=1", 0));
        let long = std::format!("uberctx-{}", "k".repeat(200));
        let long_upper = long.to_ascii_uppercase();
        let bag: Baggage = jaeger.extract_baggage(&[
            (long.as_str(), "1"),
            (long_upper.as_str(), "2"),
            ("uberctx-ok", "3"),
        ]);
        assert_eq!((bag.as_str(), bag.dropped()), ("ok=3", 1));
        struct Careless<'a>(&'a [(&'a str, &'a str)]);
        impl Extractor for Careless<'_> {
            fn get(&self, name: &str) -> Option<&str> {
                Extractor::get(self.0, name)
            }
            fn for_each_prefixed(&self, _: &str, f: &mut dyn FnMut(&str, &str)) {
                self.0.iter().for_each(|(k, v)| f(k, v));
            }
        }
        let fields = [
            ("authorization", "Bearer x"),
            ("traceparent", "00-x"),
            ("uberctx-", "empty key"),
            ("Uberctx-User", "alice"),
        ];
        let bag: Baggage = jaeger.extract_baggage(&Careless(&fields));
        assert_eq!((bag.as_str(), bag.dropped()), ("user=alice", 0));
    }

    /// Members Jaeger headers cannot carry are reported, not skipped in silence: a key
    /// longer than the header name's room, a value with `+` too long once escaped.
    #[test]
    fn jaeger_baggage_members_left_out_are_counted() {
        let jaeger = Propagators::new(&[Propagator::Jaeger, Propagator::Baggage]);
        let long_key = "k".repeat(jaeger::MAX_BAGGAGE_KEY_LEN + 1);
        let plus_value = "1+".repeat(400); // 800 bytes, 1,200 escaped
        let plain_value = "1".repeat(1500); // no `+`: written whole
        let mut bag: BaggageBuf<8192> = BaggageBuf::new();
        bag.insert("ok", "1+1").unwrap();
        bag.insert(&long_key, "v").unwrap();
        // As received: `insert` writes `+` as `%2B`, a received member keeps its `+`.
        bag.extend_from_header(&std::format!("sum={plus_value}"));
        bag.insert("plain", &plain_value).unwrap();
        let mut names = std::vec::Vec::new();
        let mut out = FnInjector(|name: &str, _: &str| names.push(std::string::String::from(name)));
        assert_eq!(jaeger.inject_baggage(&bag, &mut out), 2);
        assert_eq!(names, ["uberctx-ok", "uberctx-plain", "baggage"]);
        assert_eq!(
            bag.to_jaeger_headers(&mut FnInjector(|_: &str, _: &str| {})),
            2
        );
    }

    /// Regression (found by review): a Jaeger baggage value that URL-decodes to invalid
    /// UTF-8 was dropped, though W3C baggage keeps `k=%FF` (as U+FFFD), so a member
    /// picotrace kept under W3C went out as `uberctx-k: %FF` and the next hop dropped
    /// it; a value with a bad escape (`50%`, as OpenTelemetry Java writes values
    /// unencoded) was dropped where jaeger-client-go keeps it as it is.
    #[test]
    fn jaeger_baggage_values_are_read_as_the_other_sdks_read_them() {
        let jaeger = Propagators::new(&[Propagator::Jaeger]);
        let mut buf = [0u8; 64];
        let w3c: Baggage = Baggage::parse("k=%FF");
        assert_eq!(w3c.get_decoded("k", &mut buf), Some("\u{fffd}"));
        let mut out = Headers::new();
        jaeger.inject_baggage(&w3c, &mut out);
        let back: Baggage = jaeger.extract_baggage(&out);
        assert_eq!(back.get_decoded("k", &mut buf), Some("\u{fffd}"));
        assert_eq!(back.dropped(), 0);
        let bag: Baggage = jaeger.extract_baggage(&[
            ("uberctx-discount", "50%"),
            ("uberctx-odd", "%zz+%4"),
            ("uberctx-mixed", "a%E2%82%ACb%C3"),
        ]);
        assert_eq!(bag.get_decoded("discount", &mut buf), Some("50%"));
        assert_eq!(bag.get_decoded("odd", &mut buf), Some("%zz+%4"));
        assert_eq!(bag.get_decoded("mixed", &mut buf), Some("a€b\u{fffd}"));
        assert_eq!(bag.dropped(), 0);
    }

    /// Regression (found by review): keys of 121 to 128 bytes were read from `uberctx-`
    /// headers but not written back out: lost on a Jaeger-only hop.
    #[test]
    fn a_jaeger_baggage_key_read_is_written_on() {
        let jaeger = Propagators::new(&[Propagator::Jaeger]);
        let longest = "k".repeat(jaeger::MAX_BAGGAGE_KEY_LEN);
        let too_long = "k".repeat(jaeger::MAX_BAGGAGE_KEY_LEN + 1);
        let name = std::format!("uberctx-{longest}");
        let fields = [
            (name.as_str(), "1"),
            (&*std::format!("uberctx-{too_long}"), "2"),
        ];
        let bag: Baggage = jaeger.extract_baggage(&fields[..]);
        assert_eq!((bag.len(), bag.dropped()), (1, 1));
        let mut out = std::vec::Vec::new();
        let left_out = jaeger.inject_baggage(
            &bag,
            &mut FnInjector(|n: &str, v: &str| {
                out.push((std::string::String::from(n), std::string::String::from(v)));
            }),
        );
        assert_eq!(left_out, 0);
        assert_eq!(out, [(name.clone(), std::string::String::from("1"))]);
    }

    /// Regression: a Jaeger baggage value longer than 512 bytes was written whole but
    /// dropped when read back, picotrace to picotrace.
    #[test]
    fn long_jaeger_baggage_values_round_trip() {
        let jaeger = Propagators::new(&[Propagator::Jaeger]);
        let mut bag: BaggageBuf<8192> = BaggageBuf::new();
        let long = "1".repeat(600);
        bag.insert("plain", &long).unwrap();
        let mut out: std::vec::Vec<(std::string::String, std::string::String)> =
            std::vec::Vec::new();
        assert_eq!(
            jaeger.inject_baggage(
                &bag,
                &mut FnInjector(|k: &str, v: &str| out.push((k.into(), v.into())))
            ),
            0
        );
        let back: BaggageBuf<8192> = jaeger.extract_baggage(out.as_slice());
        let mut buf = [0u8; 1024];
        assert_eq!(back.get_decoded("plain", &mut buf), Some(long.as_str()));
        assert_eq!(back.dropped(), 0);
    }

    /// Regression: `uberctx-` header names kept the key's case (carriers lowercase
    /// names, and Jaeger's clients read them lowercased), so of two keys differing only
    /// in case one replaced the other, and nothing counted it.
    #[test]
    fn jaeger_baggage_names_are_lowercase_and_case_twins_are_counted() {
        let jaeger = Propagators::new(&[Propagator::Jaeger]);
        let bag: Baggage = Baggage::from_headers(&[("baggage", "UserId=a,userid=b,Tier=g")]);
        let mut names = std::vec::Vec::new();
        let left_out = jaeger.inject_baggage(
            &bag,
            &mut FnInjector(|name: &str, value: &str| {
                names.push(std::format!("{name}: {value}"));
            }),
        );
        assert_eq!(names, ["uberctx-userid: b", "uberctx-tier: g"]);
        assert_eq!(left_out, 1);
        // A repeated key: the value the bag reads (the last) goes out.
        let bag: Baggage = Baggage::from_headers(&[("baggage", "k=1,k=2")]);
        assert_eq!(bag.get("k").map(|m| m.raw_value()), Some("2"));
        let mut sent = std::vec::Vec::new();
        let left_out = jaeger.inject_baggage(
            &bag,
            &mut FnInjector(|name: &str, value: &str| {
                sent.push(std::format!("{name}: {value}"));
            }),
        );
        assert_eq!(sent, ["uberctx-k: 2"]);
        assert_eq!(left_out, 1);
    }

    /// An unusable single `b3` header does not hide valid `X-B3-*` headers (it used to
    /// end extraction with its error).
    #[test]
    fn an_invalid_b3_header_falls_back_to_the_multi_headers() {
        let multi = [
            ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
            ("x-b3-spanid", "e457b5a2e4d86bd1"),
            ("x-b3-sampled", "1"),
        ];
        // A sampling state alone in `b3` takes precedence over `X-B3-Sampled` (the B3
        // spec: the single header "takes precedence"; `b3: 0` is an upstream's deny;
        // found by review: the multi headers' accept won).
        // Each single value against an `X-B3-Sampled` that says the opposite where the
        // single header has a say: (single, multi's sampled, sampled, debug).
        for (single, multi_sampled, sampled, debug) in [
            ("garbage", "1", true, false), // unusable: the multi headers' decision
            ("garbage", "0", false, false),
            ("0", "1", false, false), // the upstream's deny wins
            ("1", "0", true, false),
            ("d", "0", true, true),
        ] {
            let mut headers = std::vec![("b3", single)];
            headers.extend(multi);
            headers[3] = ("x-b3-sampled", multi_sampled);
            let cx = TraceContext::from_b3_headers(&headers[..]).unwrap();
            assert_eq!(
                cx.trace_id().to_hex().as_str(),
                "80f198ee56343ba864fe8b2a57d3eff7",
                "{single}"
            );
            assert_eq!(cx.is_sampled(), sampled, "{single} over {multi_sampled}");
            assert_eq!(
                cx.flags().is_debug(),
                debug,
                "{single} over {multi_sampled}"
            );
            // Without the multi headers, the single header's error.
            assert!(matches!(
                TraceContext::from_b3_headers(&[("b3", single)]),
                Err(ExtractError::B3(_))
            ));
        }
    }

    /// Regression (found by review): an empty `X-B3-ParentSpanId`, `X-B3-Sampled` or
    /// `X-B3-Flags` (proxies send empty headers) discarded a valid context; each is
    /// read as absent: no parent, the decision deferred (not sampled).
    #[test]
    fn empty_b3_multi_headers_are_read_as_absent() {
        let ids = [
            ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
            ("x-b3-spanid", "e457b5a2e4d86bd1"),
        ];
        for (extra, sampled) in [
            ([("x-b3-parentspanid", ""), ("x-b3-sampled", "1")], true),
            ([("x-b3-parentspanid", " "), ("x-b3-sampled", "")], false),
            ([("x-b3-flags", ""), ("x-b3-sampled", "true")], true),
        ] {
            let mut headers = std::vec::Vec::from(ids);
            headers.extend(extra);
            let cx = TraceContext::from_b3_headers(&headers[..])
                .unwrap_or_else(|e| panic!("{extra:?}: {e:?}"));
            assert_eq!(cx.span_id().to_hex().as_str(), "e457b5a2e4d86bd1");
            assert_eq!(cx.is_sampled(), sampled, "{extra:?}");
        }
    }

    /// A received debug flag is passed on in B3 and Jaeger even when this hop's span
    /// was dropped (OpenTelemetry, B3 requirements: "MUST preserve a debug trace flag,
    /// if received, and propagate it with subsequent requests"; the Go and Java
    /// propagators do): it was sent as "not sampled". `traceparent` keeps the real
    /// sampled bit.
    #[test]
    fn a_received_debug_flag_is_passed_on_even_when_the_span_was_dropped() {
        let mut cx = sampled_cx();
        cx.span_context.flags = TraceFlags::DEBUG;
        let all = Propagators::new(&[
            Propagator::TraceContext,
            Propagator::B3,
            Propagator::B3Multi,
            Propagator::Jaeger,
        ]);
        let mut out = Headers::new();
        all.inject_context(&cx, &mut out);
        let get = |name: &str| {
            out.iter()
                .find(|(k, _)| k.as_str() == name)
                .map(|(_, v)| v.as_str())
        };
        assert!(get("traceparent").unwrap().ends_with("-00"));
        assert!(get("b3").unwrap().ends_with("-d"));
        assert_eq!(get("x-b3-sampled"), None);
        assert_eq!(get("x-b3-flags"), Some("1"));
        assert!(get("uber-trace-id").unwrap().ends_with(":0:03"));
    }
}
