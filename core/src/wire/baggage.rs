//! The `baggage` header (W3C Baggage, § 3.3 Header Content: baggage/HTTP_HEADER_FORMAT.md).
//!
//! `baggage: key1=value1;prop1=x;prop2,key2=value2`. Keys are RFC 7230 tokens, values
//! percent-encoded UTF-8, properties opaque but for their values' `%` escapes, which must
//! decode as a value's must. A [`Baggage`] keeps canonical header text
//! (whitespace trimmed, values as received) in `BYTES` bytes, 8192 by default, the
//! least the spec says a platform MUST propagate, and at most [`MAX_MEMBERS`] (64)
//! members of at most [`MAX_MEMBER_BYTES`] (4096) each. Members are read with the borrowing [`Iter`] as [`Member`] views.
//!
//! Parsing never fails. The spec lets a receiver remove an entry "not in the format
//! defined in this specification" (§ 4 Mutating baggage); we skip each invalid member
//! alone rather than the whole header, and count it in [`Baggage::dropped`], along with
//! whole members that did not fit (a member is never cut). OpenTelemetry's baggage API
//! says an `extract` that is "unable to parse the `baggage` header" MUST return no
//! entries; a header with some valid members is read here as parsed in part, and a
//! caller that wants the strict reading checks [`Baggage::dropped`]. A value whose escapes decode
//! to invalid UTF-8 is kept as received and decodes with U+FFFD in place of each invalid
//! sequence, as the spec requires.
//!
//! ```
//! use picotrace::Baggage;
//! let mut bag: Baggage = Baggage::parse("userId=alice, serverNode = DF%2028;prio=1");
//! let mut buf = [0; 16];
//! assert_eq!(bag.get_decoded("serverNode", &mut buf), Some("DF 28"));
//!
//! bag.insert("region", "eu west")?;
//! assert_eq!(bag.as_str(), "userId=alice,serverNode=DF%2028;prio=1,region=eu%20west");
//! # Ok::<(), picotrace::wire::baggage::Error>(())
//! ```

use core::fmt;

pub use super::traceparent::BufferTooSmall;

/// Most list members a [`Baggage`] holds (W3C: "a platform MUST propagate at least 64
/// list-members").
pub const MAX_MEMBERS: usize = 64;
/// The default byte capacity (W3C: "at least 8192 bytes").
pub const DEFAULT_BYTES: usize = 8192;
/// Longest member kept, in canonical bytes (key, value and properties): OpenTelemetry
/// Go refuses a whole `baggage` header that holds a longer one (its
/// `maxBytesPerMembers`, the limit of earlier W3C drafts), so passing one on would
/// lose every member at such a hop.
pub const MAX_MEMBER_BYTES: usize = 4096;

/// Why [`Baggage::insert`] refused a member; the baggage is then unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The key is empty or not an RFC 7230 token.
    InvalidKey,
    /// A property key is not a token, or a property value has a character outside the
    /// baggage-octet set or a `%` escape that does not decode.
    InvalidProperty,
    /// The baggage already holds [`MAX_MEMBERS`] other members.
    TooManyMembers,
    /// The encoded member does not fit in the remaining bytes, or is longer than
    /// [`MAX_MEMBER_BYTES`].
    Full,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidKey => "baggage key is not a token",
            Self::InvalidProperty => "baggage property is invalid",
            Self::TooManyMembers => "baggage already holds the most members it can",
            Self::Full => "baggage member does not fit",
        })
    }
}

impl core::error::Error for Error {}

/// Returns whether `c` is an RFC 7230 `tchar`.
const fn is_tchar(c: u8) -> bool {
    matches!(c,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// Returns whether `s` is a non-empty RFC 7230 token.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Returns whether `c` is a `baggage-octet`: printable US-ASCII except space, `"`,
/// `,`, `;` and `\`.
pub(crate) const fn is_baggage_octet(c: u8) -> bool {
    matches!(c, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

fn is_octets(s: &str) -> bool {
    s.bytes().all(is_baggage_octet)
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `raw`, handing each byte to `sink`; `false` on a bad `%` escape.
fn percent_decode(raw: &[u8], mut sink: impl FnMut(u8) -> bool) -> bool {
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        let byte = if c == b'%' {
            let hi = raw.get(i + 1).copied().and_then(hex_value);
            let lo = raw.get(i + 2).copied().and_then(hex_value);
            match (hi, lo) {
                (Some(hi), Some(lo)) => {
                    i += 3;
                    (hi << 4) | lo
                }
                _ => return false,
            }
        } else {
            i += 1;
            c
        };
        if !sink(byte) {
            return false;
        }
    }
    true
}

/// A streaming UTF-8 decoder (the WHATWG decoder's rules, as `String::from_utf8_lossy`):
/// each invalid sequence becomes one U+FFFD.
pub(crate) struct Utf8Decoder {
    code_point: u32,
    needed: u8,
    lower: u8,
    upper: u8,
}

impl Utf8Decoder {
    pub(crate) const fn new() -> Self {
        Self {
            code_point: 0,
            needed: 0,
            lower: 0x80,
            upper: 0xbf,
        }
    }

    /// Takes one byte, handing each finished character to `out`; stops when `out`
    /// returns `false`, and returns that.
    pub(crate) fn push(&mut self, b: u8, out: &mut impl FnMut(char) -> bool) -> bool {
        if self.needed == 0 {
            let (needed, lead_bits) = match b {
                0x00..=0x7f => return out(char::from(b)),
                0xc2..=0xdf => (1, b & 0x1f),
                0xe0..=0xef => (2, b & 0x0f),
                0xf0..=0xf4 => (3, b & 0x07),
                _ => return out(char::REPLACEMENT_CHARACTER),
            };
            match b {
                0xe0 => self.lower = 0xa0,
                0xed => self.upper = 0x9f,
                0xf0 => self.lower = 0x90,
                0xf4 => self.upper = 0x8f,
                _ => {}
            }
            (self.needed, self.code_point) = (needed, u32::from(lead_bits));
            return true;
        }
        if b < self.lower || b > self.upper {
            // The sequence so far is one error; `b` starts afresh (at most one level
            // deep: `needed` is now 0).
            *self = Self::new();
            return out(char::REPLACEMENT_CHARACTER) && self.push(b, out);
        }
        self.code_point = (self.code_point << 6) | u32::from(b & 0x3f);
        (self.needed, self.lower, self.upper) = (self.needed - 1, 0x80, 0xbf);
        if self.needed > 0 {
            return true;
        }
        // The bounds above admit only scalar values.
        out(char::from_u32(self.code_point).unwrap_or(char::REPLACEMENT_CHARACTER))
    }

    /// Ends the input: an unfinished sequence becomes one U+FFFD.
    pub(crate) fn finish(&mut self, out: &mut impl FnMut(char) -> bool) -> bool {
        let unfinished = self.needed > 0;
        *self = Self::new();
        !unfinished || out(char::REPLACEMENT_CHARACTER)
    }
}

/// Percent-decodes a checked value and decodes the bytes as UTF-8, replacing invalid
/// sequences with U+FFFD (W3C Baggage, `value`: they "MUST be replaced with the
/// replacement code point"); hands each character to `out`, and
/// stops with `false` when `out` does.
pub(crate) fn decode_chars(raw: &str, mut out: impl FnMut(char) -> bool) -> bool {
    let mut utf8 = Utf8Decoder::new();
    percent_decode(raw.as_bytes(), |b| utf8.push(b, &mut out)) && utf8.finish(&mut out)
}

/// Returns whether `raw` is baggage-octets with well-formed `%` escapes. What the
/// escapes decode to is not checked: invalid UTF-8 decodes to U+FFFD.
fn is_valid_value(raw: &str) -> bool {
    is_octets(raw) && percent_decode(raw.as_bytes(), |_| true)
}

/// Returns whether `c` is written as is by [`Baggage::insert`]. `+` is a
/// baggage-octet, but peers that decode values as HTML forms do (OpenTelemetry Python's
/// `unquote_plus` reads `a+b` as `a b`): `%2B` reads as `+` everywhere.
const fn is_unencoded(c: u8) -> bool {
    is_baggage_octet(c) && c != b'%' && c != b'+'
}

fn encoded_len(value: &str) -> usize {
    value
        .bytes()
        .map(|c| if is_unencoded(c) { 1 } else { 3 })
        .sum()
}

/// Checks one trimmed, non-empty list member; returns its key, value and raw
/// properties, and the length of its canonical form.
fn check_member(member: &str) -> Option<(&str, &str, &str, usize)> {
    let (head, props) = split_once_ascii(member, b';').unwrap_or((member, ""));
    let (key, value) = split_once_ascii(head, b'=')?;
    let (key, value) = (trim_ows(key), trim_ows(value));
    if !is_token(key) || !is_valid_value(value) {
        return None;
    }
    let mut len = key.len() + 1 + value.len();
    if member.contains(';') {
        for prop in props.split(';') {
            let (pk, pv) = split_property(prop);
            // Escapes checked as a value's are: OpenTelemetry Go refuses the whole
            // header for a property value that does not percent-decode (found by
            // review: `k=v;p=%zz` was passed on).
            if !is_token(pk) || !pv.is_none_or(is_valid_value) {
                return None;
            }
            len += 1 + pk.len() + pv.map_or(0, |v| 1 + v.len());
        }
    }
    Some((key, value, props, len))
}

/// Splits a raw property into its trimmed key and optional trimmed value.
fn split_property(prop: &str) -> (&str, Option<&str>) {
    match split_once_ascii(prop, b'=') {
        Some((k, v)) => (trim_ows(k), Some(trim_ows(v))),
        None => (trim_ows(prop), None),
    }
}

/// W3C baggage of up to [`DEFAULT_BYTES`] bytes: a [`BaggageBuf`] of the size the spec
/// asks every system to pass on. A type of its own, not a default parameter, so that
/// `Baggage::from_headers(..)` and `Baggage::new()` need no annotation (a default
/// parameter is not applied in expressions: E0284).
///
/// ```
/// use picotrace::Baggage;
/// let bag = Baggage::from_headers(&[("baggage", "userId=alice")]);
/// assert_eq!(bag.as_str(), "userId=alice");
/// ```
pub type Baggage = BaggageBuf<DEFAULT_BYTES>;

/// W3C baggage: list members with percent-encoded values, in at most `BYTES` bytes of
/// canonical header text and [`MAX_MEMBERS`] members ([`Baggage`] is the spec's
/// 8192 bytes; a smaller `BYTES` saves memory where headers are known to be short).
///
/// Equality compares the members only, not the [`BaggageBuf::dropped`] count.
/// Duplicated keys are kept as received and passed on (W3C: their order SHOULD be
/// preserved); [`BaggageBuf::get`] returns the last, the one OpenTelemetry's baggage
/// holds (a name has exactly one value, and a later pair takes precedence: the Go and
/// Java SDKs keep the last).
#[derive(Clone, Debug, Default)]
pub struct BaggageBuf<const BYTES: usize> {
    text: heapless::String<BYTES>,
    dropped: usize,
}

impl<const A: usize, const B: usize> PartialEq<BaggageBuf<B>> for BaggageBuf<A> {
    fn eq(&self, other: &BaggageBuf<B>) -> bool {
        self.as_str() == other.as_str()
    }
}

impl<const BYTES: usize> Eq for BaggageBuf<BYTES> {}

#[cfg(feature = "defmt")]
impl<const BYTES: usize> defmt::Format for BaggageBuf<BYTES> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str())
    }
}

impl<const BYTES: usize> BaggageBuf<BYTES> {
    /// Returns an empty baggage.
    pub const fn new() -> Self {
        Self {
            text: heapless::String::new(),
            dropped: 0,
        }
    }

    /// Parses one `baggage` header value; invalid members are skipped and counted.
    pub fn parse(header: &str) -> Self {
        Self::parse_values([header])
    }

    /// Parses several `baggage` header fields as one list, in order (RFC 9110 § 5.3).
    pub fn parse_values<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut bag = Self::new();
        let mut members = 0;
        for v in values {
            members = bag.extend_counted(v, members);
        }
        bag
    }

    /// Appends the members of one header field. Empty members are skipped; invalid
    /// members, and members beyond [`MAX_MEMBERS`] or `BYTES`, are dropped and counted.
    pub fn extend_from_header(&mut self, header: &str) {
        // Counted once here, not for every member: counting scans the stored text, so a
        // header of many small members past the limits cost members x 8 KB of scanning.
        self.extend_counted(header, self.len());
    }

    /// [`Baggage::extend_from_header`] for a bag of `members` members; returns how many
    /// it holds after. Callers reading several fields carry the count from one to the
    /// next (found by review: counted again for each field, many small `baggage`
    /// fields cost fields x 8 KB of scanning).
    pub(crate) fn extend_counted(&mut self, header: &str, mut members: usize) -> usize {
        for member in header.split(',').map(trim_ows).filter(|m| !m.is_empty()) {
            let Some((key, value, props, len)) = check_member(member) else {
                self.count_drop();
                continue;
            };
            if !self.has_room(members, len) {
                self.count_drop();
                continue;
            }
            members += 1;
            self.push_sep();
            let _ = self.text.push_str(key);
            let _ = self.text.push('=');
            let _ = self.text.push_str(value);
            if member.contains(';') {
                for prop in props.split(';') {
                    let (pk, pv) = split_property(prop);
                    self.push_property(pk, pv);
                }
            }
        }
        members
    }

    /// Returns the canonical header text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Returns `true` when there are no members.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Returns the number of members.
    pub fn len(&self) -> usize {
        if self.text.is_empty() {
            0
        } else {
            #[cfg(test)]
            tests::SCANNED.with(|n| n.set(n.get() + self.text.len()));
            // Neither tokens nor baggage-octets include a comma.
            self.text.bytes().filter(|&c| c == b',').count() + 1
        }
    }

    /// Returns the byte capacity, `BYTES`.
    pub const fn capacity(&self) -> usize {
        BYTES
    }

    /// Returns how many members were dropped while parsing: invalid ones, and whole
    /// members beyond [`MAX_MEMBERS`] or `BYTES`.
    pub const fn dropped(&self) -> usize {
        self.dropped
    }

    /// Counts one member dropped by a reader outside this module (Jaeger's headers).
    pub(crate) fn count_dropped(&mut self) {
        self.dropped = self.dropped.saturating_add(1);
    }

    /// Takes back a [`Self::count_dropped`] of a member taken after all.
    pub(crate) fn uncount_dropped(&mut self) {
        self.dropped = self.dropped.saturating_sub(1);
    }

    /// Returns an iterator over the members, left to right, as on the wire: a repeated
    /// key comes as often as it was given (see [`Baggage::entries`]).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            rest: self.as_str(),
        }
    }

    /// Returns the members with each key once, the last given (what [`Baggage::get`]
    /// returns), left to right: the name/value pairs of OpenTelemetry's Baggage API,
    /// which holds one value per name (`iter` yields a key given twice twice: turning
    /// its members into attributes would make duplicates).
    ///
    /// ```
    /// use picotrace::Baggage;
    /// let bag: Baggage = Baggage::parse("k=1,j=2,k=3");
    /// let pairs: Vec<_> = bag.entries().map(|m| (m.key(), m.raw_value())).collect();
    /// assert_eq!(pairs, [("j", "2"), ("k", "3")]);
    /// assert_eq!(bag.len(), 3); // members on the wire
    /// ```
    pub fn entries(&self) -> impl Iterator<Item = Member<'_>> + '_ {
        self.iter()
            .enumerate()
            .filter(|(i, m)| !self.iter().skip(i + 1).any(|later| later.key() == m.key()))
            .map(|(_, m)| m)
    }

    /// Returns the member with `key`: the last one when the key is repeated.
    pub fn get(&self, key: &str) -> Option<Member<'_>> {
        self.iter().filter(|m| m.key() == key).last()
    }

    /// Decodes the value of the member with `key` (the last, if repeated) into `buf`.
    ///
    /// `None` when there is no such member or its value does not fit in `buf`; use
    /// [`Baggage::get`] and [`Member::decode_value`] to tell the two apart.
    pub fn get_decoded<'b>(&self, key: &str, buf: &'b mut [u8]) -> Option<&'b str> {
        self.get(key)?.decode_value(buf).ok()
    }

    /// Sets `key` to `value`, percent-encoding it; see [`Baggage::insert_with_properties`].
    ///
    /// # Errors
    /// As [`Baggage::insert_with_properties`].
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), Error> {
        self.insert_with_properties(key, value, &[])
    }

    /// Sets `key` to `value` with `properties` (`(key, Some(value))` or `(key, None)`).
    ///
    /// The value is percent-encoded: every byte outside the baggage-octet set, and `%`,
    /// is written `%XX`. Property values are opaque and must already be baggage-octets,
    /// their `%` escapes well formed.
    /// Existing members with `key` are removed, and the new one goes at the end.
    ///
    /// # Errors
    /// [`Error`] names the problem; the baggage is then unchanged.
    pub fn insert_with_properties(
        &mut self,
        key: &str,
        value: &str,
        properties: &[(&str, Option<&str>)],
    ) -> Result<(), Error> {
        if !is_token(key) {
            return Err(Error::InvalidKey);
        }
        let mut len = key.len() + 1 + encoded_len(value);
        for &(pk, pv) in properties {
            if !is_token(pk) || !pv.is_none_or(is_valid_value) {
                return Err(Error::InvalidProperty);
            }
            len += 1 + pk.len() + pv.map_or(0, |v| 1 + v.len());
        }
        // One walk of the members: what stays, and whether one is replaced.
        let (mut kept, mut kept_len, mut replaces) = (0, 0, false);
        for m in self.iter() {
            if m.key() == key {
                replaces = true;
            } else {
                kept += 1;
                kept_len += m.as_str().len();
            }
        }
        if kept >= MAX_MEMBERS {
            return Err(Error::TooManyMembers);
        }
        // Kept members, the commas between them and before the new one, the new one.
        if kept_len + kept + len > BYTES || len > MAX_MEMBER_BYTES {
            return Err(Error::Full);
        }
        if replaces {
            self.remove(key);
        }
        self.push_sep();
        let _ = self.text.push_str(key);
        let _ = self.text.push('=');
        for c in value.bytes() {
            if is_unencoded(c) {
                let _ = self.text.push(char::from(c));
            } else {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                let _ = self.text.push('%');
                let _ = self.text.push(char::from(HEX[usize::from(c >> 4)]));
                let _ = self.text.push(char::from(HEX[usize::from(c & 0xf)]));
            }
        }
        for &(pk, pv) in properties {
            self.push_property(pk, pv);
        }
        Ok(())
    }

    /// Removes every member with `key`; returns whether there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        let mut removed = false;
        loop {
            let found = self
                .spans()
                .find(|&(_, m)| Member::new(m).key() == key)
                .map(|(s, m)| (s, m.len()));
            let Some((start, len)) = found else {
                break;
            };
            let text_len = self.text.len();
            let end = start + len;
            let range = if end < text_len {
                start..end + 1
            } else if start > 0 {
                start - 1..end
            } else {
                start..end
            };
            // Offsets come from `spans`: in bounds and on ASCII boundaries.
            if range.end > text_len {
                break;
            }
            self.text.drain(range);
            removed = true;
        }
        removed
    }

    /// Removes every member; the dropped count is kept.
    pub fn clear(&mut self) {
        self.text.clear();
    }

    /// Writes the header text into the front of `out`; returns its length.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when `out` is shorter than [`Baggage::as_str`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let bytes = self.text.as_bytes();
        out.get_mut(..bytes.len())
            .ok_or(BufferTooSmall)?
            .copy_from_slice(bytes);
        Ok(bytes.len())
    }

    fn count_drop(&mut self) {
        self.dropped = self.dropped.saturating_add(1);
    }

    /// Returns whether a member of `len` canonical bytes fits beside `members` others,
    /// by count and by size.
    fn has_room(&self, members: usize, len: usize) -> bool {
        let sep = usize::from(!self.text.is_empty());
        members < MAX_MEMBERS && len <= MAX_MEMBER_BYTES && self.text.len() + sep + len <= BYTES
    }

    fn push_sep(&mut self) {
        if !self.text.is_empty() {
            let _ = self.text.push(',');
        }
    }

    fn push_property(&mut self, key: &str, value: Option<&str>) {
        let _ = self.text.push(';');
        let _ = self.text.push_str(key);
        if let Some(v) = value {
            let _ = self.text.push('=');
            let _ = self.text.push_str(v);
        }
    }

    /// Returns each member's text with its byte offset.
    fn spans(&self) -> impl Iterator<Item = (usize, &str)> {
        let (mut offset, mut rest) = (0, Some(self.as_str()));
        core::iter::from_fn(move || {
            let text = rest?;
            let (m, after) =
                split_once_ascii(text, b',').map_or((text, None), |(m, r)| (m, Some(r)));
            rest = after;
            let start = offset;
            offset += m.len() + 1;
            Some((start, m))
        })
        .filter(|(_, m)| !m.is_empty())
    }
}

impl<const BYTES: usize> fmt::Display for BaggageBuf<BYTES> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'a, const BYTES: usize> IntoIterator for &'a BaggageBuf<BYTES> {
    type Item = Member<'a>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Borrowing iterator over the members of a [`Baggage`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        let (member, rest) = split_once_ascii(self.rest, b',').unwrap_or((self.rest, ""));
        self.rest = rest;
        Some(Member::new(member))
    }
}

/// `text.split_once(sep)` for an ASCII `sep`, by a plain byte scan: members are
/// short, and `str::split_once`'s searcher cost more to set up than the scan (callgrind:
/// most of a `uberctx-` extraction's time went there, through `insert`'s and `remove`'s
/// walks of the stored members). An ASCII byte is always a char boundary.
#[inline]
fn split_once_ascii(text: &str, sep: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|b| b == sep)?;
    Some((text.get(..at)?, text.get(at + 1..)?))
}

/// One list member of a [`Baggage`], borrowed from its canonical text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Member<'a> {
    text: &'a str,
    key: &'a str,
    value: &'a str,
    properties: &'a str,
}

impl<'a> Member<'a> {
    fn new(text: &'a str) -> Self {
        let (head, properties) = split_once_ascii(text, b';').unwrap_or((text, ""));
        let (key, value) = split_once_ascii(head, b'=').unwrap_or((head, ""));
        Self {
            text,
            key,
            value,
            properties,
        }
    }

    /// Returns the member's canonical text, properties included.
    pub const fn as_str(&self) -> &'a str {
        self.text
    }

    /// Returns the key.
    pub const fn key(&self) -> &'a str {
        self.key
    }

    /// Returns the value as on the wire, still percent-encoded.
    pub const fn raw_value(&self) -> &'a str {
        self.value
    }

    /// Returns the length of the decoded value in bytes (invalid UTF-8 counted as the
    /// U+FFFD it decodes to).
    pub fn decoded_len(&self) -> usize {
        let mut n = 0;
        decode_chars(self.value, |c| {
            n += c.len_utf8();
            true
        });
        n
    }

    /// Decodes the value into the front of `buf`.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when `buf` is shorter than [`Member::decoded_len`].
    pub fn decode_value<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, BufferTooSmall> {
        let mut n = 0;
        let fits = decode_chars(self.value, |c| match buf.get_mut(n..n + c.len_utf8()) {
            Some(slot) => {
                n += c.encode_utf8(slot).len();
                true
            }
            None => false,
        });
        if !fits {
            return Err(BufferTooSmall);
        }
        // Whole characters were written, so this is UTF-8.
        core::str::from_utf8(buf.get(..n).unwrap_or(&[])).map_err(|_| BufferTooSmall)
    }

    /// Returns the decoded value as something to format, without a buffer.
    pub const fn decoded_value(&self) -> Decoded<'a> {
        Decoded(self.value)
    }

    /// Returns an iterator over the properties: `(key, Some(value))` or `(key, None)`.
    pub fn properties(&self) -> Properties<'a> {
        Properties {
            rest: self.properties,
        }
    }
}

/// Iterator over the properties of a [`Member`].
#[derive(Debug, Clone)]
pub struct Properties<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Properties<'a> {
    type Item = (&'a str, Option<&'a str>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let (prop, rest) = split_once_ascii(self.rest, b';').unwrap_or((self.rest, ""));
        self.rest = rest;
        Some(match split_once_ascii(prop, b'=') {
            Some((k, v)) => (k, Some(v)),
            None => (prop, None),
        })
    }
}

/// A percent-encoded value that formats as its decoded text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a>(&'a str);

impl fmt::Display for Decoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut result = Ok(());
        decode_chars(self.0, |c| {
            result = fmt::Write::write_char(f, c);
            result.is_ok()
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::{format, string::String, vec::Vec};

    /// A `+` is written as `%2B`: peers that decode values as HTML forms (OpenTelemetry
    /// Python) read a bare `+` as a space. It was written as is, so `a+b` arrived there as
    /// `a b`. It still decodes to `+`, and a received `+` is kept (and read) as a `+`.
    #[test]
    fn insert_writes_a_plus_as_percent_2b() {
        let mut bag: BaggageBuf<128> = BaggageBuf::new();
        bag.insert("q", "a+b c").unwrap();
        assert_eq!(bag.as_str(), "q=a%2Bb%20c");
        let mut buf = [0u8; 16];
        assert_eq!(bag.get_decoded("q", &mut buf), Some("a+b c"));
        let received: BaggageBuf<128> = BaggageBuf::parse("q=a+b");
        assert_eq!(received.as_str(), "q=a+b");
        assert_eq!(received.get_decoded("q", &mut buf), Some("a+b"));
    }

    std::thread_local! {
        /// Bytes of stored text `len` scanned on this thread (a test's own count: each
        /// test runs on a thread of its own).
        pub(super) static SCANNED: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    }

    /// Parses `fields` as one list and returns the bag and the stored bytes scanned to
    /// count its members.
    fn parse_scanning(fields: &[&str]) -> (BaggageBuf<8192>, usize) {
        SCANNED.with(|n| n.set(0));
        let bag = BaggageBuf::parse_values(fields.iter().copied());
        let scanned = SCANNED.with(|n| n.get());
        (bag, scanned)
    }

    /// 64 members of 120-byte values: a full bag's worth of text to scan.
    fn long_members() -> String {
        (0..MAX_MEMBERS)
            .map(|i| format!("k{i:02}={}", "v".repeat(120)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The cost of a member past the limits does not grow with what is stored. Each one
    /// counted the stored members again by scanning the stored text: 64 long members
    /// then 50,000 `a=1` took members x 8 KB of scanning (400 MB; a 1 MB header, 2.8 GB).
    /// Counted, not timed (found by review: a ratio of times failed on a loaded machine).
    #[test]
    fn members_past_the_limits_cost_the_same_whatever_is_stored() {
        let header = long_members() + &",a=1".repeat(50_000);
        let (bag, scanned) = parse_scanning(&[&header]);
        assert_eq!((bag.len(), bag.dropped()), (MAX_MEMBERS, 50_000));
        assert_eq!(scanned, 0, "parsed from an empty bag: nothing to count");
        let mut bag = bag;
        let before = bag.as_str().len();
        SCANNED.with(|n| n.set(0));
        bag.extend_from_header(&",a=1".repeat(1000));
        assert_eq!(
            SCANNED.with(|n| n.get()),
            before,
            "one count for the header"
        );
    }

    /// Regression (found by review): each `baggage` field counted the stored members
    /// again, a scan of up to 8 KB per field: 1,000 fields after a full bag scanned
    /// 8 MB. The count is carried from field to field now.
    #[test]
    fn many_baggage_fields_count_the_members_once() {
        let long = long_members();
        let mut fields = std::vec![long.as_str()];
        fields.extend(core::iter::repeat_n("a=1", 1000));
        let (bag, scanned) = parse_scanning(&fields);
        assert_eq!((bag.len(), bag.dropped()), (MAX_MEMBERS, 1000));
        assert_eq!(scanned, 0);
        // Through a carrier, as a server extracts them.
        let headers: Vec<(&str, &str)> = fields.iter().map(|f| ("baggage", *f)).collect();
        SCANNED.with(|n| n.set(0));
        let bag = crate::Baggage::from_headers(headers.as_slice());
        let mut into = BaggageBuf::<8192>::new();
        crate::Propagators::DEFAULT.extract_baggage_into(headers.as_slice(), &mut into);
        assert_eq!(SCANNED.with(|n| n.get()), 0);
        assert_eq!((bag.len(), bag.dropped()), (MAX_MEMBERS, 1000));
        assert_eq!((into.as_str(), into.dropped()), (bag.as_str(), 1000));
    }

    /// Rows: (reason, header, canonical text, members dropped).
    #[rustfmt::skip]
    const VECTORS: &[(&str, &str, &str, usize)] = &[
        ("spec example: properties and OWS",
         "key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue",
         "key1=value1;property1;property2,key2=value2,key3=value3;propertyKey=propertyValue", 0),
        ("spec example: percent-encoded space",
         "userId=alice,serverNode=DF%2028,isProduction=false",
         "userId=alice,serverNode=DF%2028,isProduction=false", 0),
        ("spec example: names and values padded with spaces",
         "userId =   alice", "userId=alice", 0),
        ("tabs are OWS too",               "\tk\t=\tv\t;\tp\t=\tx\t",  "k=v;p=x", 0),
        ("empty header",                   "",                          "", 0),
        ("empty members are skipped, not counted", " , k=v ,, ",       "k=v", 0),
        ("empty value",                    "k=",                        "k=", 0),
        ("value may contain '='",          "k=a=b==",                   "k=a=b==", 0),
        ("property value may contain '='", "k=v;p=a=b",                 "k=v;p=a=b", 0),
        ("empty property value",           "k=v;p=",                    "k=v;p=", 0),
        ("duplicated keys are kept in order", "k=1,j=2,k=3",            "k=1,j=2,k=3", 0),
        ("token characters in keys",       "!#$%&'*+-.^_`|~Az09=1",     "!#$%&'*+-.^_`|~Az09=1", 0),
        ("encoded UTF-8",                  "k=caf%C3%A9",               "k=caf%C3%A9", 0),
        ("lowercase escapes decode too",   "k=caf%c3%a9",               "k=caf%c3%a9", 0),
        ("member without '='",             "k,j=2",                     "j=2", 1),
        ("empty key",                      "=v,j=2",                    "j=2", 1),
        ("key with a space inside",        "k k=v,j=2",                 "j=2", 1),
        ("key with a separator",           "k(1)=v,j=2",                "j=2", 1),
        ("key with a non-ASCII character", "k\u{e9}=v,j=2",             "j=2", 1),
        ("value with a space inside",      "k=a b,j=2",                 "j=2", 1),
        ("value with a double quote",      "k=a\"b,j=2",                "j=2", 1),
        ("value with a backslash",         "k=a\\b,j=2",                "j=2", 1),
        ("value with a raw non-ASCII character", "k=\u{e9},j=2",        "j=2", 1),
        ("bad escape: not hex",            "k=%zz,j=2",                 "j=2", 1),
        ("bad escape: truncated",          "k=%4,j=2",                  "j=2", 1),
        ("bad escape in a property",       "k=v;p=%zz,user=alice",      "user=alice", 1),
        ("good escape in a property",      "k=v;p=%41,user=alice",      "k=v;p=%41,user=alice", 0),
        ("invalid UTF-8 is kept (decodes to U+FFFD)", "k=%FF,j=2",     "k=%FF,j=2", 0),
        ("a lone continuation is kept",    "k=%A9,j=2",                 "k=%A9,j=2", 0),
        ("an encoded surrogate is kept",   "k=%ED%A0%80,j=2",           "k=%ED%A0%80,j=2", 0),
        ("a truncated UTF-8 sequence is kept", "k=%C3,j=2",             "k=%C3,j=2", 0),
        ("empty property",                 "k=v;,j=2",                  "j=2", 1),
        ("property key not a token",       "k=v;p q=1,j=2",             "j=2", 1),
        ("property value with a space",    "k=v;p=a b,j=2",             "j=2", 1),
        ("every member bad",               "a,b c=1,=",                 "", 3),
    ];

    #[test]
    fn vectors() {
        for &(reason, header, text, dropped) in VECTORS {
            let bag: Baggage = Baggage::parse(header);
            assert_eq!(bag.as_str(), text, "{reason}");
            assert_eq!(bag.dropped(), dropped, "{reason}");
        }
    }

    #[test]
    fn members_fields_and_properties() {
        let bag: Baggage = Baggage::parse("k1=v1;p1;p2=x, k2 = DF%2028");
        let members: Vec<Member<'_>> = bag.iter().collect();
        assert_eq!(members.len(), 2);
        assert_eq!(bag.len(), 2);
        assert_eq!(members[0].key(), "k1");
        assert_eq!(members[0].raw_value(), "v1");
        let props: Vec<_> = members[0].properties().collect();
        assert_eq!(props, [("p1", None), ("p2", Some("x"))]);
        assert_eq!(members[1].as_str(), "k2=DF%2028");
        assert_eq!(members[1].properties().count(), 0);
        assert_eq!(members[1].decoded_len(), 5);
        let mut buf = [0; 5];
        assert_eq!(members[1].decode_value(&mut buf), Ok("DF 28"));
        assert_eq!(members[1].decode_value(&mut buf[..4]), Err(BufferTooSmall));
        assert_eq!(format!("{}", members[1].decoded_value()), "DF 28");
    }

    #[test]
    fn multiple_fields_combine_in_order() {
        let bag: Baggage =
            Baggage::parse_values(["userId=alice", "serverNode=DF%2028,isProduction=false"]);
        assert_eq!(
            bag.as_str(),
            "userId=alice,serverNode=DF%2028,isProduction=false"
        );
    }

    /// Regression (found by review): members of any length were kept, and
    /// OpenTelemetry Go refuses a whole header with one over 4096 bytes.
    #[test]
    fn members_over_4096_bytes_are_dropped() {
        let at_limit = format!("a={}", "x".repeat(MAX_MEMBER_BYTES - 2));
        let over = format!("b={}", "x".repeat(MAX_MEMBER_BYTES - 1));
        let bag: Baggage = Baggage::parse(&format!("{at_limit},{over},user=alice"));
        assert_eq!(bag.as_str(), format!("{at_limit},user=alice"));
        assert_eq!(bag.dropped(), 1);
        // With properties counted in.
        let bag: Baggage = Baggage::parse(&format!("k=v;p={},user=alice", "x".repeat(4091)));
        assert_eq!((bag.as_str(), bag.dropped()), ("user=alice", 1));
        let mut bag: Baggage = Baggage::new();
        assert_eq!(
            bag.insert("b", &"x".repeat(MAX_MEMBER_BYTES - 1)),
            Err(Error::Full)
        );
        assert_eq!(bag.insert("a", &"x".repeat(MAX_MEMBER_BYTES - 2)), Ok(()));
        // Encoded length: 1,400 spaces are 4,200 bytes.
        assert_eq!(bag.insert("c", &" ".repeat(1400)), Err(Error::Full));
        assert_eq!(
            bag.insert_with_properties("d", "v", &[("p", Some("%zz"))]),
            Err(Error::InvalidProperty)
        );
        assert_eq!(bag.len(), 1);
    }

    #[test]
    fn the_65th_member_is_dropped() {
        let header: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
        let bag: Baggage = Baggage::parse(&header.join(","));
        assert_eq!(bag.len(), MAX_MEMBERS);
        assert_eq!(bag.dropped(), 1);
        assert!(bag.get("k63").is_some());
        assert!(bag.get("k64").is_none());
    }

    #[test]
    fn whole_members_are_dropped_beyond_8192_bytes() {
        let big = |c: char| format!("{c}={}", "v".repeat(2998));
        let header = [big('a'), big('b'), big('c'), String::from("d=1")].join(",");
        let bag: Baggage = Baggage::parse(&header);
        // a and b make 6001 bytes; c would make 9002; d still fits.
        assert_eq!(
            bag.iter().map(|m| m.key()).collect::<Vec<_>>(),
            ["a", "b", "d"]
        );
        assert_eq!(bag.dropped(), 1);
        assert!(bag.as_str().len() <= DEFAULT_BYTES);
    }

    #[test]
    fn small_capacity_fits_exactly() {
        let bag = BaggageBuf::<7>::parse("abc=1,d=2,e=3");
        // "abc=1,d" would be 7 but "abc=1,d=2" is 9: d goes, then e=3 does not fit either.
        assert_eq!(bag.as_str(), "abc=1");
        assert_eq!(bag.dropped(), 2);
        let bag = BaggageBuf::<9>::parse("abc=1,d=2,e=3");
        assert_eq!((bag.as_str(), bag.dropped()), ("abc=1,d=2", 1));
        assert_eq!(bag.capacity(), 9);
    }

    /// Rows: (reason, value, encoded form).
    #[rustfmt::skip]
    const ENCODINGS: &[(&str, &str, &str)] = &[
        ("plain text stays",                    "alice",          "alice"),
        ("space",                               "DF 28",          "DF%2028"),
        ("comma, semicolon, percent",           ",;%",            "%2C%3B%25"),
        ("'=' is a baggage-octet",              "a=b",            "a=b"),
        ("double quote and backslash",          "\"\\",           "%22%5C"),
        ("two-byte UTF-8",                      "\u{e9}",         "%C3%A9"),
        ("four-byte UTF-8",                     "\u{1f600}",      "%F0%9F%98%80"),
        ("control characters",                  "\t\n",           "%09%0A"),
        ("empty",                               "",               ""),
    ];

    #[test]
    fn insert_percent_encodes_and_get_decodes() {
        for &(reason, value, encoded) in ENCODINGS {
            let mut bag: Baggage = Baggage::new();
            bag.insert("k", value).unwrap();
            assert_eq!(
                bag.get("k").map(|m| m.raw_value()),
                Some(encoded),
                "{reason}"
            );
            let mut buf = [0; 16];
            assert_eq!(bag.get_decoded("k", &mut buf), Some(value), "{reason}");
            assert_eq!(
                format!("{}", bag.get("k").unwrap().decoded_value()),
                value,
                "{reason}"
            );
        }
    }

    #[test]
    fn a_repeated_key_reads_as_its_last_value_and_is_passed_on_whole() {
        // OpenTelemetry: one value per name, a later pair taking precedence (as the Go
        // and Java SDKs read `k=1,k=3`); W3C: the members are forwarded in order.
        let bag: Baggage = Baggage::parse("k=1,j=2,k=3");
        let mut buf = [0; 8];
        assert_eq!(bag.get_decoded("k", &mut buf), Some("3"));
        assert_eq!(bag.get_decoded("j", &mut buf), Some("2"));
        assert_eq!(bag.as_str(), "k=1,j=2,k=3");
    }

    #[test]
    fn insert_replaces_every_member_with_the_key() {
        let mut bag: Baggage = Baggage::parse("k=1,j=2,k=3");
        bag.insert_with_properties("k", "4", &[("p", None), ("q", Some("x"))])
            .unwrap();
        assert_eq!(bag.as_str(), "j=2,k=4;p;q=x");
        assert!(bag.remove("j"));
        assert!(!bag.remove("j"));
        assert!(bag.remove("k"));
        assert!(bag.is_empty());
    }

    #[test]
    fn insert_rejects_without_change() {
        let mut bag = BaggageBuf::<16>::parse("a=1");
        assert_eq!(bag.insert("b c", "1"), Err(Error::InvalidKey));
        assert_eq!(bag.insert("", "1"), Err(Error::InvalidKey));
        assert_eq!(
            bag.insert_with_properties("b", "1", &[("p q", None)]),
            Err(Error::InvalidProperty)
        );
        assert_eq!(
            bag.insert_with_properties("b", "1", &[("p", Some("a b"))]),
            Err(Error::InvalidProperty)
        );
        // "a=1" + "," + "b=0123456789a" is 17 bytes.
        assert_eq!(bag.insert("b", "0123456789a"), Err(Error::Full));
        assert_eq!(bag.as_str(), "a=1");
        // Replacing frees the old member's bytes first: 16 bytes fit alone.
        bag.insert("a", "0123456789abcd").unwrap();
        assert_eq!(bag.as_str(), "a=0123456789abcd");

        let header: Vec<String> = (0..64).map(|i| format!("k{i}=v")).collect();
        let mut bag: Baggage = Baggage::parse(&header.join(","));
        assert_eq!(bag.insert("new", "1"), Err(Error::TooManyMembers));
        bag.insert("k0", "replaced").unwrap();
        assert_eq!(bag.len(), 64);
    }

    #[test]
    fn emit_into_a5_buffer_and_round_trip() {
        let bag: Baggage = Baggage::parse("k1 = v1 ;p, k2=%20");
        let text = b"k1=v1;p,k2=%20";
        let mut buf = [0xa5; 32];
        assert_eq!(bag.emit(&mut buf), Ok(text.len()));
        assert_eq!(&buf[..text.len()], text);
        assert!(buf[text.len()..].iter().all(|&b| b == 0xa5));
        for len in 0..text.len() {
            assert_eq!(bag.emit(&mut buf[..len]), Err(BufferTooSmall));
        }
        assert_eq!(format!("{bag}"), "k1=v1;p,k2=%20");
        assert_eq!(BaggageBuf::<64>::parse(bag.as_str()), bag);
    }

    #[test]
    fn invalid_utf8_after_decoding_keeps_the_member_with_replacement_characters() {
        // W3C Baggage (`value`): invalid UTF-8 in a decoded value is replaced by
        // U+FFFD; the member stays (and is forwarded as received).
        let bag: Baggage = Baggage::parse("userId=alice,name=Jos%E9,tag=%FF%FE");
        assert_eq!(bag.as_str(), "userId=alice,name=Jos%E9,tag=%FF%FE");
        assert_eq!(bag.dropped(), 0);
        let mut buf = [0; 16];
        assert_eq!(bag.get_decoded("name", &mut buf), Some("Jos\u{fffd}"));
        assert_eq!(bag.get_decoded("tag", &mut buf), Some("\u{fffd}\u{fffd}"));
        let tag = bag.get("tag").unwrap();
        assert_eq!(tag.decoded_len(), 6);
        assert_eq!(format!("{}", tag.decoded_value()), "\u{fffd}\u{fffd}");
        // Exactly the room the replacement needs, and one byte short of it.
        assert_eq!(tag.decode_value(&mut buf[..6]), Ok("\u{fffd}\u{fffd}"));
        assert_eq!(tag.decode_value(&mut buf[..5]), Err(BufferTooSmall));
    }

    proptest! {
        #[test]
        fn utf8_decoder_agrees_with_std_lossy(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            let encoded: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
            let mut decoded = String::new();
            let done = decode_chars(&encoded, |c| {
                decoded.push(c);
                true
            });
            prop_assert!(done);
            prop_assert_eq!(&decoded, &String::from_utf8_lossy(&bytes));
            let member = format!("k={encoded}");
            let m2 = Member::new(&member);
            prop_assert_eq!(m2.decoded_len(), decoded.len());
            prop_assert_eq!(format!("{}", m2.decoded_value()), decoded.clone());
            let mut buf = [0; 64];
            prop_assert_eq!(m2.decode_value(&mut buf), Ok(decoded.as_str()));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,300}") {
            let bag: BaggageBuf<256> = BaggageBuf::parse(&s);
            prop_assert!(bag.as_str().len() <= 256);
            prop_assert_eq!(BaggageBuf::<256>::parse(bag.as_str()), bag.clone());
            let mut buf = [0; 256];
            for m in &bag {
                prop_assert!(m.decode_value(&mut buf).is_ok());
            }
        }

        #[test]
        fn parse_never_panics_on_baggage_like_text(s in "[a-z%0-9A-F=;, \t]{0,300}") {
            let bag: BaggageBuf<128> = BaggageBuf::parse(&s);
            prop_assert!(bag.len() <= MAX_MEMBERS);
            prop_assert_eq!(BaggageBuf::<128>::parse(bag.as_str()), bag);
        }

        #[test]
        fn insert_then_get_round_trips(key in "[a-zA-Z0-9._~-]{1,10}", value in any::<String>()) {
            let mut bag: Baggage = Baggage::parse("other=1");
            bag.insert(&key, &value).unwrap();
            let mut buf = [0; 1024];
            prop_assert_eq!(bag.get_decoded(&key, &mut buf), Some(value.as_str()));
            let m = bag.get(&key).unwrap();
            prop_assert_eq!(m.decoded_len(), value.len());
            prop_assert_eq!(format!("{}", m.decoded_value()), value);
            let back: Baggage = Baggage::parse(bag.as_str());
            prop_assert_eq!(back.dropped(), 0);
            prop_assert_eq!(back, bag);
        }
    }
}
