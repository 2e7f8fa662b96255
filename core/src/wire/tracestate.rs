//! The `tracestate` header (W3C Trace Context Level 2, § 3.3 tracestate Header), and
//! OpenTelemetry's `ot` member (OTel specification, trace/tracestate-handling.md).
//!
//! A [`TraceState`] keeps its members as canonical header text (`key=value,key=value`,
//! no whitespace) in a fixed [`CAPACITY`] of 512 bytes, the amount the spec says
//! vendors SHOULD propagate. Members are read with the borrowing [`Iter`]. Parsing
//! follows § 3.3.1: empty members are skipped, an invalid member or more than 32
//! members discards the whole value ([`Error`]), and of duplicated keys the first is
//! kept, before truncating. What does not fit is then dropped by § 3.3.1.5's rule
//! (entries over 128 characters first, then from the right) and counted in
//! [`TraceState::truncated`]. Updates move the member to the left (§ 3.5).
//!
//! ```
//! use picotrace::TraceState;
//! let mut ts = TraceState::parse("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE")?;
//! ts.insert("congo", "ucfJifl5GOE")?;
//! assert_eq!(ts.as_str(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
//! assert_eq!(ts.get("rojo"), Some("00f067aa0ba902b7"));
//!
//! ts.set_ot_threshold(Some(1 << 55))?; // 50 % probability sampling
//! assert_eq!(ts.get("ot"), Some("th:8"));
//! assert_eq!(ts.ot_threshold(), Some(1 << 55));
//! # Ok::<(), picotrace::wire::tracestate::Error>(())
//! ```

use core::fmt;

use crate::span::record::key_bit;

pub use super::traceparent::BufferTooSmall;

/// Bytes of canonical header text a [`TraceState`] holds (W3C: "vendors SHOULD
/// propagate at least 512 characters of a combined header").
#[cfg(feature = "tracestate")]
pub const CAPACITY: usize = 512;
/// Bytes of canonical header text a [`TraceState`] holds: none without the
/// `tracestate` feature, so a [`crate::TraceContext`] is little more than its 26-byte
/// span context (48 bytes on 64-bit targets, against 568 with the feature).
#[cfg(not(feature = "tracestate"))]
pub const CAPACITY: usize = 0;

/// The stored text. Its length is a `usize` with the feature (heapless converts a
/// `u16` length on every write: W4 with a tracestate took 230 more instructions) and a
/// `u16` without it, where the text is always empty and the context stays 48 bytes.
#[cfg(feature = "tracestate")]
type Text = heapless::String<CAPACITY>;
#[cfg(not(feature = "tracestate"))]
type Text = heapless::String<CAPACITY, u16>;
/// Most list members a `tracestate` may have.
pub const MAX_MEMBERS: usize = 32;
/// Longest key, in characters.
pub const MAX_KEY_LEN: usize = 256;
/// Longest value, in characters.
pub const MAX_VALUE_LEN: usize = 256;
/// Members longer than this (`key=value`) are the first to go when truncating.
pub const LONG_MEMBER: usize = 128;
/// The key of OpenTelemetry's member.
pub const OT_KEY: &str = "ot";

/// Why a `tracestate` (or a member given to [`TraceState::insert`]) was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// More than 32 list members (§ 3.3.1.1: the whole header is then discarded).
    TooManyMembers,
    /// A key that does not start with `a`-`z` or `0`-`9`, has a character outside
    /// `a-z 0-9 _ - * / @`, or is longer than 256 characters.
    InvalidKey,
    /// A value that is empty, longer than 256 characters, has a character outside
    /// 0x20-0x7E or a `,` or `=`, or ends in a space.
    InvalidValue,
    /// A non-empty list member without `=`.
    MissingEquals,
    /// The member alone is longer than [`CAPACITY`].
    TooLong,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooManyMembers => "tracestate has more than 32 list members",
            Self::InvalidKey => "tracestate key is invalid",
            Self::InvalidValue => "tracestate value is invalid",
            Self::MissingEquals => "tracestate list member has no '='",
            Self::TooLong => "tracestate list member is longer than the capacity",
        })
    }
}

impl core::error::Error for Error {}

/// Byte classes of the grammar (§ 3.3.1.3): one table load per character checks it.
const KEY_FIRST: u8 = 1; // lcalpha / DIGIT
const KEY_CHAR: u8 = 2; // lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"
const VALUE_CHAR: u8 = 4; // %x20-2B / %x2D-3C / %x3E-7E
const CLASSES: [u8; 256] = {
    let mut table = [0; 256];
    let mut c = 0x20;
    while c <= 0x7e {
        if c != b',' && c != b'=' {
            table[c as usize] = VALUE_CHAR;
        }
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            table[c as usize] |= KEY_FIRST | KEY_CHAR;
        }
        if matches!(c, b'_' | b'-' | b'*' | b'/' | b'@') {
            table[c as usize] |= KEY_CHAR;
        }
        c += 1;
    }
    table
};

/// Returns whether all eight bytes of `word` are value characters (`%x20-2B /
/// %x2D-3C / %x3E-7E`), with a few word-wide operations instead of eight table loads:
/// a byte below `0x20`, above `0x7e`, a `,` or a `=` sets its top bit in one of the
/// four masks. (A borrow or carry that crosses into the next byte starts only at a
/// byte that is itself caught, so a word of value characters is never refused.)
#[inline]
const fn all_value_chars(word: u64) -> bool {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const TOPS: u64 = ONES << 7;
    const fn zero_bytes(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x
    }
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    // 0x7f + 1 = 0x80: a byte above 0x7e has its top bit set after adding one, or had.
    let above_tilde = word.wrapping_add(ONES) | word;
    let comma = zero_bytes(word ^ (ONES * b',' as u64));
    let equals = zero_bytes(word ^ (ONES * b'=' as u64));
    (below_space | above_tilde | comma | equals) & TOPS == 0
}

/// Returns the index of the first byte of `b` at or after `i` that is not a value
/// character (or `b.len()`): eight bytes at a time while all are, then byte by byte.
#[inline]
fn skip_value_chars(b: &[u8], mut i: usize) -> usize {
    while let Some(word) = b.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        if !all_value_chars(u64::from_le_bytes(*word)) {
            break;
        }
        i += 8;
    }
    while b
        .get(i)
        .is_some_and(|&c| CLASSES[usize::from(c)] & VALUE_CHAR != 0)
    {
        i += 1;
    }
    i
}

/// Returns whether every byte of `bytes` is in `class`.
#[inline]
fn all_in(bytes: &[u8], class: u8) -> bool {
    bytes.iter().all(|&c| CLASSES[usize::from(c)] & class != 0)
}

/// Returns whether `key` follows `(lcalpha / DIGIT) 0*255(keychar)`.
pub fn is_valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    match b.first() {
        Some(&c) if CLASSES[usize::from(c)] & KEY_FIRST != 0 => {
            b.len() <= MAX_KEY_LEN && all_in(b, KEY_CHAR)
        }
        _ => false,
    }
}

/// Returns whether `value` follows `0*255(chr) nblk-chr`: 1 to 256 characters of
/// 0x20-0x7E except `,` and `=`, not ending in a space.
pub fn is_valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    !b.is_empty() && b.len() <= MAX_VALUE_LEN && b.last() != Some(&b' ') && all_in(b, VALUE_CHAR)
}

/// `s` without leading and trailing spaces and tabs (OWS).
fn trim_ows(s: &str) -> &str {
    let ows = |c: &u8| *c == b' ' || *c == b'\t';
    let b = s.as_bytes();
    let start = b.iter().position(|c| !ows(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !ows(c)).map_or(start, |i| i + 1);
    // Both ends are next to an ASCII byte (or the string's ends): char boundaries.
    s.get(start..end).unwrap_or("")
}

/// `s` split at its first `separator` (an ASCII byte), which is left out.
#[inline]
fn split_at_byte(s: &str, separator: u8) -> Option<(&str, &str)> {
    let i = s.as_bytes().iter().position(|&c| c == separator)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// Splits one trimmed, non-empty list member into a checked key and value.
fn parse_member(member: &str) -> Result<(&str, &str), Error> {
    let (key, value) = split_at_byte(member, b'=').ok_or(Error::MissingEquals)?;
    if !is_valid_key(key) {
        return Err(Error::InvalidKey);
    }
    if !is_valid_value(value) {
        return Err(Error::InvalidValue);
    }
    Ok((key, value))
}

/// Vendor trace state: the `tracestate` list members, in order, as canonical text.
///
/// Equality compares the members only, not the [`TraceState::truncated`] count.
#[derive(Clone, Default)]
pub struct TraceState {
    /// `None` until a member is stored. An empty `heapless::String` is not free to make:
    /// LLVM writes its whole buffer (a 528-byte memset per extracted context, callgrind
    /// W4), where `None` is one store.
    text: Option<Text>,
    truncated: usize,
}

impl PartialEq for TraceState {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TraceState {}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceState")
            .field("text", &self.as_str())
            .field("truncated", &self.truncated)
            .finish()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for TraceState {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str())
    }
}

/// Returns the trimmed, non-empty list members of one header field.
fn members(field: &str) -> impl Iterator<Item = &str> {
    // A byte loop rather than `str::split`: members are a few dozen bytes, shorter than
    // `memchr`'s set-up pays for.
    let mut rest = Some(field);
    core::iter::from_fn(move || loop {
        let text = rest?;
        let (member, after) = match split_at_byte(text, b',') {
            Some((member, after)) => (member, Some(after)),
            None => (text, None),
        };
        rest = after;
        #[cfg(test)]
        tests::SPLIT.with(|n| n.set(n.get() + member.len() + 1));
        let member = trim_ows(member);
        if !member.is_empty() {
            return Some(member);
        }
    })
}

/// Returns the checked `(key, value)` members of one header field, left to right, up to
/// and including the first invalid one.
///
/// The usual member is split and checked in one walk over its bytes; anything that walk
/// does not accept (an invalid member, or a rare valid shape such as a 257-byte key)
/// goes through [`members`] and [`parse_member`], which decide it, so both give the
/// same answer.
fn checked_members(field: &str) -> impl Iterator<Item = Result<Member, Error>> + '_ {
    let b = field.as_bytes();
    let ows = |c: u8| c == b' ' || c == b'\t';
    let class = |i: usize, class: u8| {
        b.get(i)
            .is_some_and(|&c| CLASSES[usize::from(c)] & class != 0)
    };
    let mut i = 0;
    let mut failed = false;
    core::iter::from_fn(move || {
        if failed {
            return None;
        }
        // Spaces, tabs and empty members before the next member.
        while b.get(i).is_some_and(|&c| ows(c) || c == b',') {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let key_start = i;
        if class(i, KEY_FIRST) {
            while class(i, KEY_CHAR) {
                i += 1;
            }
            let key_end = i;
            if b.get(i) == Some(&b'=') {
                i += 1;
                let value_start = i;
                i = skip_value_chars(b, i);
                let mut value_end = i;
                while value_end > value_start && b[value_end - 1] == b' ' {
                    value_end -= 1;
                }
                while b.get(i).is_some_and(|&c| ows(c)) {
                    i += 1;
                }
                let ends = matches!(b.get(i), None | Some(b','));
                let (key_len, value_len) = (key_end - key_start, value_end - value_start);
                if ends && key_len <= MAX_KEY_LEN && (1..=MAX_VALUE_LEN).contains(&value_len) {
                    return Some(Ok(Member {
                        start: key_start,
                        equals: key_end,
                        end: value_end,
                    }));
                }
            }
        }
        // Not the usual shape: the member from its start to the next comma, decided by
        // the general split and check.
        let rest = field.get(key_start..).unwrap_or("");
        let member = members(rest).next().unwrap_or("");
        let end = rest
            .as_bytes()
            .iter()
            .position(|&c| c == b',')
            .unwrap_or(rest.len());
        i = key_start + end;
        let parsed = parse_member(member).map(|kv| Member::of(field, kv));
        failed = parsed.is_err();
        Some(parsed)
    })
}

/// A checked member, by byte offsets in its header field: the key is
/// `start..equals`, the value `equals + 1..end`. (Offsets, not `&str`s: slicing a `str`
/// checks char boundaries in a call, six per usual header.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Member {
    start: usize,
    equals: usize,
    end: usize,
}

impl Member {
    /// The offsets of `key` and `value`, parts of `field`.
    fn of(field: &str, (key, value): (&str, &str)) -> Self {
        let offset = |part: &str| part.as_ptr() as usize - field.as_ptr() as usize;
        Self {
            start: offset(key),
            equals: offset(key) + key.len(),
            end: offset(value) + value.len(),
        }
    }

    /// The key and the value (empty if the offsets are not `field`'s).
    #[cfg(test)]
    fn key_value(self, field: &str) -> (&str, &str) {
        (
            field.get(self.start..self.equals).unwrap_or(""),
            field.get(self.equals + 1..self.end).unwrap_or(""),
        )
    }
}

/// Hands every header field, in order, to the callback it is given.
pub(crate) type Fields<'a> = &'a dyn Fn(&mut dyn FnMut(&str));

/// Parses the `tracestate` fields that `fields` hands to its callback, in order.
///
/// Members are checked and stored in one pass; the first error empties the result (the
/// whole value is discarded). Of duplicated keys the first is kept, and duplicates are
/// removed before truncating, so a later duplicate cannot take the place of a first
/// member that truncation dropped: a 64-bit filter of the keys seen proves most keys
/// new, and only a key whose bit is set is looked for among the earlier members (which
/// calls `fields` again: it must give the same fields each time).
pub(crate) fn parse_fields(fields: Fields<'_>) -> Result<TraceState, Error> {
    let mut state = TraceState::new();
    parse_fields_into(fields, &mut state)?;
    Ok(state)
}

/// As [`parse_fields`], appending to `state` (empty) in place: a `TraceState` is half a
/// kilobyte, and a context built around it should not copy it out of a `Result`. On an
/// error `state` is left empty.
pub(crate) fn parse_fields_into(fields: Fields<'_>, state: &mut TraceState) -> Result<(), Error> {
    let mut index = 0usize;
    let mut seen = 0u64;
    let mut error = None;
    // Set once a member that is not long found no room: truncation then goes on from
    // the right, so every member after it goes too (W3C: "then entries SHOULD be
    // removed starting from the end"), even one short enough to fit in what is left.
    let mut cut = false;
    // Where each member taken so far has its key (field number, start, end in that
    // field), from the first key whose hash bit was taken on: a look back for a
    // repeated key then reads those bytes alone (found by review: each look back split
    // every field from the start again, 60 KB of empty members before 31 keys 31
    // times). The usual header, without such a key, records none.
    let mut keys_at: Option<KeyPlaces> = None;
    let mut field_no = 0usize;
    fields(&mut |field| {
        let this_field = field_no;
        field_no = field_no.saturating_add(1);
        if error.is_some() {
            return;
        }
        // Members that stand in the field as they go in the text (one comma apart, none
        // a duplicate), not yet written: the usual header is one such run, written with
        // one copy instead of four per member (key, `=`, value, `,`). Byte offsets in
        // `field`.
        let mut run: Option<(usize, usize)> = None;
        // Takes one member (and, from the general split microcontrollers use, its key
        // and value); returns whether to go on.
        let mut take = |member: Result<Member, Error>, kv: Option<(&str, &str)>| {
            let member = match member {
                Ok(_) if index >= MAX_MEMBERS => {
                    error = Some(Error::TooManyMembers);
                    return false;
                }
                Ok(kv) => kv,
                Err(e) => {
                    error = Some(e);
                    return false;
                }
            };
            // Duplicated keys: the spec allows keeping them or reducing them to one; we
            // keep the first, which is the most recent position of that vendor.
            let key = field
                .as_bytes()
                .get(member.start..member.equals)
                .unwrap_or_default();
            let bit = key_bit(key);
            let new = seen & bit == 0 || {
                let places = keys_at.get_or_insert_with(|| key_places(fields, index));
                let repeated = key_before(fields, key, places);
                // Room for every member: more than `MAX_MEMBERS` is an error above.
                let place = (
                    offset(this_field),
                    offset(member.start),
                    offset(member.equals),
                );
                let _ = places.push(place);
                // Every later member comes here too, to have its place recorded.
                seen = u64::MAX;
                !repeated
            };
            if cfg!(target_os = "none") {
                // Microcontrollers write member by member (the runs cost flash).
                if new {
                    if cut {
                        state.truncated = state.truncated.saturating_add(1);
                    } else if let Some((key, value)) = kv {
                        cut = !state.push_back(key, value);
                    }
                }
            } else {
                // `key=value` is one slice of the field (the parsers split at the `=`).
                let (start, end) = (member.start, member.end);
                run = match run {
                    Some((first, last))
                        if new
                            && start == last + 1
                            && field.as_bytes().get(last) == Some(&b',') =>
                    {
                        Some((first, end))
                    }
                    _ => {
                        if let Some((first, last)) = run {
                            push_run(state, field.get(first..last).unwrap_or(""), &mut cut);
                        }
                        new.then_some((start, end))
                    }
                };
            }
            seen |= bit;
            index += 1;
            true
        };
        // Microcontrollers keep the general split alone: the one-walk split would cost
        // them ~470 bytes of flash.
        if cfg!(target_os = "none") {
            for member in members(field) {
                let parsed = parse_member(member);
                if !take(parsed.map(|kv| Member::of(field, kv)), parsed.ok()) {
                    return;
                }
            }
        } else {
            for member in checked_members(field) {
                if !take(member, None) {
                    return;
                }
            }
        }
        if let Some((first, last)) = run {
            push_run(state, field.get(first..last).unwrap_or(""), &mut cut);
        }
    });
    match error {
        Some(e) => {
            *state = TraceState::new();
            Err(e)
        }
        None => Ok(()),
    }
}

/// Appends `run`, checked members that are not duplicates joined by commas, at the
/// right: one copy when all fit, else member by member under the truncation rule (as
/// [`TraceState::push_back`] of each would). `cut` as in [`parse_fields_into`].
fn push_run(state: &mut TraceState, run: &str, cut: &mut bool) {
    let sep = usize::from(!state.as_str().is_empty());
    if !*cut && CAPACITY.saturating_sub(state.as_str().len() + sep) >= run.len() {
        let text = state.text_mut();
        if sep == 1 {
            let _ = text.push_str(",");
        }
        let _ = text.push_str(run);
        return;
    }
    for member in run.split(',') {
        if *cut {
            state.truncated = state.truncated.saturating_add(1);
        } else if let Some((key, value)) = split_at_byte(member, b'=') {
            *cut = !state.push_back(key, value);
        }
    }
}

/// Where members' keys are: field number, start and end in that field.
/// (`u16`s: 192 bytes of stack for 32 members, on microcontrollers too.)
type KeyPlaces = heapless::Vec<(u16, u16, u16), MAX_MEMBERS>;

/// An offset or field number as a [`KeyPlaces`] entry. Past `u16` (a field of more
/// than 64 KiB, or more than 65,535 fields) it is none: such a key is not found
/// again, and a repeat of it is kept, which the spec allows.
fn offset(at: usize) -> u16 {
    u16::try_from(at).unwrap_or(u16::MAX)
}

/// The places of the keys of the first `n` members of `fields` (the one walk over
/// them a parse makes again, at its first repeated hash bit).
fn key_places(fields: Fields<'_>, n: usize) -> KeyPlaces {
    let mut places = KeyPlaces::new();
    let mut field_no = 0usize;
    fields(&mut |field| {
        for member in members(field) {
            if places.len() >= n.min(MAX_MEMBERS) {
                return;
            }
            let start = member.as_ptr() as usize - field.as_ptr() as usize;
            let key_len = member
                .split_once('=')
                .map_or(member.len(), |(k, _)| k.len());
            let _ = places.push((offset(field_no), offset(start), offset(start + key_len)));
        }
        field_no = field_no.saturating_add(1);
    });
    places
}

/// Returns whether `key` is the key at one of `earlier`'s places (field number, start
/// and end of the key in that field): fields after the last of them are not read, and
/// no field is split again.
fn key_before(fields: Fields<'_>, key: &[u8], earlier: &[(u16, u16, u16)]) -> bool {
    let Some(&(last_field, ..)) = earlier.last() else {
        return false;
    };
    let mut field_no = 0u16;
    let mut found = false;
    fields(&mut |field| {
        if !found && field_no <= last_field {
            found = earlier
                .iter()
                // A saturated place (see `offset`) matches nothing.
                .filter(|&&(at, _, end)| at == field_no && at != u16::MAX && end != u16::MAX)
                .any(|&(_, start, end)| {
                    field.as_bytes().get(start as usize..end as usize) == Some(key)
                });
        }
        field_no = field_no.saturating_add(1);
    });
    found
}

impl TraceState {
    /// Returns an empty trace state.
    pub const fn new() -> Self {
        Self {
            text: None,
            truncated: 0,
        }
    }

    /// The text to write into, made on first use.
    fn text_mut(&mut self) -> &mut Text {
        self.text.get_or_insert_with(heapless::String::new)
    }

    /// Parses one `tracestate` header value.
    ///
    /// # Errors
    /// [`Error`] when any member is invalid or there are more than 32 members: the
    /// spec discards the whole value then (and keeps the `traceparent`).
    pub fn parse(header: &str) -> Result<Self, Error> {
        Self::parse_values([header])
    }

    /// Parses several `tracestate` header fields as one list, in order (RFC 9110
    /// § 5.3; W3C § 3.3.1.1).
    ///
    /// # Errors
    /// As [`TraceState::parse`], counting members across all fields.
    pub fn parse_values<'a, I>(values: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = &'a str>,
        I::IntoIter: Clone,
    {
        let values = values.into_iter();
        parse_fields(&|f| values.clone().for_each(&mut *f))
    }

    /// Returns the canonical header text, `key=value` members joined by `,`.
    pub fn as_str(&self) -> &str {
        self.text.as_deref().unwrap_or_default()
    }

    /// Returns `true` when there are no members.
    pub fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }

    /// Returns the number of members.
    pub fn len(&self) -> usize {
        if self.as_str().is_empty() {
            0
        } else {
            // Neither keys nor values may contain a comma.
            self.as_str().bytes().filter(|&c| c == b',').count() + 1
        }
    }

    /// Returns how many valid members were dropped to stay within [`CAPACITY`] and
    /// [`MAX_MEMBERS`] since this value was created.
    pub const fn truncated(&self) -> usize {
        self.truncated
    }

    /// Returns an iterator over the `(key, value)` members, left to right.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            rest: self.as_str(),
        }
    }

    /// Returns the value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|&(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` to `value` and moves the member to the front (left), as the spec
    /// requires of every update (§ 3.5).
    ///
    /// If the result has more than 32 members, the rightmost are dropped. If it is
    /// longer than [`CAPACITY`], members longer than 128 characters are dropped first
    /// (rightmost first), then members from the right. Drops are counted in
    /// [`TraceState::truncated`].
    ///
    /// # Errors
    /// [`Error::InvalidKey`], [`Error::InvalidValue`], or [`Error::TooLong`] when the
    /// member alone exceeds [`CAPACITY`]; the trace state is then unchanged.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), Error> {
        if !is_valid_key(key) {
            return Err(Error::InvalidKey);
        }
        if !is_valid_value(value) {
            return Err(Error::InvalidValue);
        }
        let member_len = key.len() + 1 + value.len();
        if member_len > CAPACITY {
            return Err(Error::TooLong);
        }
        self.remove(key);
        while self.len() >= MAX_MEMBERS {
            self.drop_rightmost(false);
        }
        while !self.as_str().is_empty() && self.as_str().len() + 1 + member_len > CAPACITY {
            self.drop_rightmost(true);
        }
        // Room was made above, so none of these can fail.
        if !self.as_str().is_empty() {
            let _ = self.text_mut().insert_str(0, ",");
        }
        let _ = self.text_mut().insert_str(0, value);
        let _ = self.text_mut().insert_str(0, "=");
        let _ = self.text_mut().insert_str(0, key);
        Ok(())
    }

    /// Removes the member with `key` (every one: a header may repeat a key where the
    /// parser could not check it, past 64 KiB); returns whether there was one. (Found by
    /// review: only the first went, so erasing the `ot` threshold brought back an older
    /// `ot` member, whose threshold was then read as the span's probability.)
    pub fn remove(&mut self, key: &str) -> bool {
        let mut removed = false;
        loop {
            let found = self
                .spans()
                .find(|&(_, m)| m.split('=').next() == Some(key))
                .map(|(start, m)| (start, start + m.len()));
            let Some((start, end)) = found else {
                return removed;
            };
            self.remove_span(start, end);
            removed = true;
        }
    }

    /// Removes every member.
    pub fn clear(&mut self) {
        self.text = None;
    }

    /// Writes the header text into the front of `out`; returns its length.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when `out` is shorter than [`TraceState::as_str`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let bytes = self.as_str().as_bytes();
        out.get_mut(..bytes.len())
            .ok_or(BufferTooSmall)?
            .copy_from_slice(bytes);
        Ok(bytes.len())
    }

    /// Returns the sampling threshold `th` of the `ot` member (OTEP 235), a 56-bit
    /// rejection threshold; `None` when absent or when the `ot` value is malformed.
    pub fn ot_threshold(&self) -> Option<u64> {
        OtValue::parse(self.get(OT_KEY)?)?.threshold()
    }

    /// Returns the explicit randomness `rv` of the `ot` member (14 hex digits, 56
    /// bits); `None` when absent. In an `ot` value that breaks the grammar elsewhere,
    /// the first `rv` whose value keeps to it counts (such a value is passed on as it
    /// came, `rv` with it), as the built-in samplers read it.
    pub fn ot_randomness(&self) -> Option<u64> {
        ot_rv(self.get(OT_KEY)?)
    }

    /// Writes (`Some`) or erases (`None`) the `th` sub-key of the `ot` member.
    ///
    /// Other sub-keys keep their text and order; a new `th` goes first. A change moves
    /// `ot` to the front; erasing the last sub-key removes `ot`. A malformed `ot` value
    /// is left alone (its `rv` is never erased).
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when `th` is not below 2^56, when the `ot` value would
    /// exceed 256 characters, or when it is malformed (writing only: erasing leaves it
    /// and succeeds); the trace state is then unchanged.
    pub fn set_ot_threshold(&mut self, th: Option<u64>) -> Result<(), Error> {
        let mut digits = [0; 14];
        let th_text = match th {
            Some(t) if t > OtValue::MAX_THRESHOLD => return Err(Error::InvalidValue),
            Some(t) => {
                let n = format_threshold(t, &mut digits);
                Some(core::str::from_utf8(&digits[..n]).unwrap_or("0"))
            }
            None => None,
        };
        let raw = self.get(OT_KEY);
        let old = raw.and_then(OtValue::parse);
        let mut new: heapless::String<MAX_VALUE_LEN> = heapless::String::new();
        // Appends one sub-key, given in pieces.
        let mut push = |parts: &[&str]| -> Result<(), Error> {
            if !new.is_empty() {
                new.push(';').map_err(|_| Error::InvalidValue)?;
            }
            for part in parts {
                new.push_str(part).map_err(|_| Error::InvalidValue)?;
            }
            Ok(())
        };
        match (old, raw) {
            // A malformed value is passed on as it came: its `rv`, which may be
            // well-formed, is never erased (replacing the value by `th` alone lost it),
            // and what cannot be parsed cannot take a threshold. Erasing takes its `th`
            // sub-keys out, though: one left there would tell a reader that accepts it a
            // probability the span no longer has.
            (None, Some(raw)) => {
                if th_text.is_some() {
                    return Err(Error::InvalidValue);
                }
                let mut erased = false;
                for sub in raw.split(';') {
                    match sub.split_once(':') {
                        Some(("th", _)) => erased = true,
                        _ => push(&[sub])?,
                    }
                }
                if !erased {
                    return Ok(());
                }
                // The sub-key that now ends the value may end in a space, which a value
                // may not (found by review: the erase failed, and the tracer then
                // removed `ot` whole, its `rv` with it).
                while new.ends_with(' ') {
                    new.pop();
                }
            }
            _ => {
                if th_text.is_none() && old.is_none_or(|o| o.get("th").is_none()) {
                    return Ok(());
                }
                let had_th = old.is_some_and(|o| o.get("th").is_some());
                if let (Some(t), false) = (th_text, had_th) {
                    push(&["th:", t])?;
                }
                for (k, v) in old.iter().flat_map(|o| o.iter()) {
                    match (k, th_text) {
                        ("th", Some(t)) => push(&["th:", t])?,
                        ("th", None) => {}
                        _ => push(&[k, ":", v])?,
                    }
                }
            }
        }
        if new.is_empty() {
            self.remove(OT_KEY);
            Ok(())
        } else {
            self.insert(OT_KEY, &new)
        }
    }

    /// Appends a checked member at the right, applying the truncation rule; returns
    /// `false` when a member that is not long was dropped for want of room (the members
    /// after it must go as well).
    fn push_back(&mut self, key: &str, value: &str) -> bool {
        let member_len = key.len() + 1 + value.len();
        loop {
            let sep = usize::from(!self.as_str().is_empty());
            // Room left, as a subtraction: without the feature `CAPACITY` is 0.
            if CAPACITY.saturating_sub(self.as_str().len() + sep) >= member_len {
                break;
            }
            // The new member is the rightmost: it goes first if it is long, or if no
            // earlier member is long.
            if member_len > LONG_MEMBER || !self.drop_rightmost_long() {
                self.truncated = self.truncated.saturating_add(1);
                return member_len > LONG_MEMBER;
            }
        }
        // Room was made above: none of these can fail. The separators as `str`: one
        // copy each, where `push(char)` encodes UTF-8.
        let text = self.text_mut();
        if !text.is_empty() {
            let _ = text.push_str(",");
        }
        let _ = text.push_str(key);
        let _ = text.push_str("=");
        let _ = text.push_str(value);
        true
    }

    /// Drops members by § 3.3.1.5's rule (members longer than 128 characters first,
    /// rightmost first; then members from the right) until the text is at most
    /// `max_len` bytes, counting each in [`TraceState::truncated`]. For a place that
    /// holds less than [`CAPACITY`], such as a span's text pool.
    pub(crate) fn truncate_to(&mut self, max_len: usize) {
        while self.as_str().len() > max_len {
            self.drop_rightmost(true);
        }
    }

    /// Drops the rightmost member (the rightmost long one first if `long_first`).
    fn drop_rightmost(&mut self, long_first: bool) {
        if long_first && self.drop_rightmost_long() {
            return;
        }
        let last = self
            .spans()
            .last()
            .map(|(start, m)| (start, start + m.len()));
        if let Some((start, end)) = last {
            self.remove_span(start, end);
            self.truncated = self.truncated.saturating_add(1);
        }
    }

    /// Drops the rightmost member longer than [`LONG_MEMBER`]; returns whether any.
    fn drop_rightmost_long(&mut self) -> bool {
        let long = self
            .spans()
            .filter(|(_, m)| m.len() > LONG_MEMBER)
            .last()
            .map(|(start, m)| (start, start + m.len()));
        match long {
            Some((start, end)) => {
                self.remove_span(start, end);
                self.truncated = self.truncated.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// Returns each member with its byte offset in the text.
    fn spans(&self) -> impl Iterator<Item = (usize, &str)> {
        let mut offset = 0;
        self.as_str()
            .split(',')
            .filter(|m| !m.is_empty())
            .map(move |m| {
                let start = offset;
                offset += m.len() + 1;
                (start, m)
            })
    }

    /// Removes the member at `start..end` and one adjoining comma.
    fn remove_span(&mut self, start: usize, end: usize) {
        let len = self.as_str().len();
        let range = if end < len {
            start..end + 1
        } else if start > 0 {
            start - 1..end
        } else {
            start..end
        };
        // Offsets come from `spans`, so they are in bounds and on ASCII boundaries.
        if range.end <= len {
            self.text_mut().drain(range);
        }
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'a> IntoIterator for &'a TraceState {
    type Item = (&'a str, &'a str);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Borrowing iterator over the `(key, value)` members of a [`TraceState`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() {
            let (member, rest) = self.rest.split_once(',').unwrap_or((self.rest, ""));
            self.rest = rest;
            if let Some(kv) = member.split_once('=') {
                return Some(kv);
            }
        }
        None
    }
}

/// The randomness of an `ot` value: its first `rv` sub-key whose value keeps to the
/// grammar, decoded, even where another sub-key breaks it (a malformed value is passed
/// on unchanged, `rv` with it, so the next hop that reads it this way agrees).
pub(crate) fn ot_rv(value: &str) -> Option<u64> {
    for entry in value.split(';') {
        if let Some(("rv", rv)) = entry.split_once(':') {
            if ot_sub_value_ok(rv) {
                return parse_randomness(rv);
            }
        }
    }
    None
}

/// `lcalpha *(lcalpha / DIGIT)`.
fn ot_sub_key_ok(key: &str) -> bool {
    let kb = key.as_bytes();
    kb.first().is_some_and(u8::is_ascii_lowercase)
        && kb
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// `A-Z a-z 0-9 . _ -`.
fn ot_sub_value_ok(value: &str) -> bool {
    value
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// A checked view of an `ot` member value: `k1:v1;k2:v2` with unique sub-keys
/// `lcalpha *(lcalpha / DIGIT)` and values of `A-Z a-z 0-9 . _ -`, at most 256
/// characters (OTel trace/tracestate-handling.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OtValue<'a>(&'a str);

impl<'a> OtValue<'a> {
    /// Largest valid threshold and randomness: 2^56 - 1.
    pub const MAX_THRESHOLD: u64 = (1 << 56) - 1;

    /// Checks `value`; `None` when it breaks the `ot` grammar or repeats a sub-key.
    pub fn parse(value: &'a str) -> Option<Self> {
        if value.len() > MAX_VALUE_LEN {
            return None;
        }
        let candidate = OtValue(value);
        for (i, entry) in value.split(';').enumerate() {
            let (k, v) = entry.split_once(':')?;
            if !ot_sub_key_ok(k)
                || !ot_sub_value_ok(v)
                || candidate.iter().take(i).any(|(pk, _)| pk == k)
            {
                return None;
            }
        }
        Some(candidate)
    }

    /// Returns the text of the value.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// Returns an iterator over the `(sub-key, value)` entries.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.0.split(';').filter_map(|e| e.split_once(':'))
    }

    /// Returns the value of `sub_key`.
    pub fn get(&self, sub_key: &str) -> Option<&'a str> {
        self.iter().find(|&(k, _)| k == sub_key).map(|(_, v)| v)
    }

    /// Returns the decoded `th` (see [`parse_threshold`]).
    pub fn threshold(&self) -> Option<u64> {
        parse_threshold(self.get("th")?)
    }

    /// Returns the decoded `rv` (see [`parse_randomness`]).
    pub fn randomness(&self) -> Option<u64> {
        parse_randomness(self.get("rv")?)
    }
}

fn hex_digit(c: u8) -> Option<u64> {
    match c {
        b'0'..=b'9' => Some(u64::from(c - b'0')),
        b'a'..=b'f' => Some(u64::from(c - b'a' + 10)),
        _ => None,
    }
}

/// Decodes a `th` value: 1 to 14 lowercase hex digits, right-padded with zeros to 14
/// and read as a 56-bit rejection threshold (`8` → 2^55, `0` → 0).
pub fn parse_threshold(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.is_empty() || b.len() > 14 {
        return None;
    }
    let mut th = 0;
    for &c in b {
        th = (th << 4) | hex_digit(c)?;
    }
    Some(th << (4 * (14 - b.len())))
}

/// Decodes an `rv` value: exactly 14 lowercase hex digits, a 56-bit number.
pub fn parse_randomness(text: &str) -> Option<u64> {
    if text.len() != 14 {
        return None;
    }
    text.bytes()
        .try_fold(0, |acc, c| Some((acc << 4) | hex_digit(c)?))
}

/// Encodes a threshold as `th` wants it: 14 lowercase hex digits with trailing zeros
/// stripped, at least one digit. Returns the number of digits written to `out`.
///
/// Only the low 56 bits of `th` are used. `0` → `0`, 2^55 → `8`, 0.75 × 2^56 → `c`.
pub fn format_threshold(th: u64, out: &mut [u8; 14]) -> usize {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 4 * (13 - i);
        *slot = DIGITS[((th >> shift) & 0xf) as usize];
    }
    out.iter().rposition(|&c| c != b'0').map_or(1, |i| i + 1)
}

#[cfg(test)]
// Without the `tracestate` feature CAPACITY is 0 and the bound checks below are trivially true.
#[allow(clippy::absurd_extreme_comparisons)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::{format, string::String, vec::Vec};

    std::thread_local! {
        /// Bytes of fields `members` split on this thread.
        pub(super) static SPLIT: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    }

    /// Regression (found by review): a key that looked like an earlier one (same
    /// length, first and last byte) looked back through the fields, and split every
    /// later field up to its first comma on the way: 31 such keys and a 60 KB second
    /// field split 1.9 MB. The look back stops at the member it was looking for now.
    #[test]
    fn a_look_back_for_a_repeated_key_reads_no_later_field() {
        let first: String = (0..31)
            .map(|i| format!("a{i:02}a=1"))
            .collect::<Vec<_>>()
            .join(",");
        let second = String::from("b=") + &"x".repeat(60_000);
        SPLIT.with(|n| n.set(0));
        let parsed = TraceState::parse_values([first.as_str(), second.as_str()]);
        let split = SPLIT.with(|n| n.get());
        assert!(parsed.is_err(), "a 60 KB member is invalid");
        assert!(
            split < 2 * (first.len() + second.len()),
            "{split} bytes split"
        );
    }

    /// Regression (found by review): a look back for a key whose hash bit was taken
    /// walked every field from the start, empty members included, so 60 KB of commas
    /// before 31 such keys were split 31 times. It now reads where the earlier keys are.
    #[cfg(feature = "tracestate")]
    #[test]
    fn a_look_back_does_not_read_the_padding_before_the_keys_again() {
        let keys: String = (0..31)
            .map(|i| format!("a{i:02}a=1"))
            .collect::<Vec<_>>()
            .join(",");
        let padding = ",".repeat(60_000);
        for fields in [
            std::vec![padding.clone() + &keys],
            std::vec![padding.clone(), keys.clone()],
            std::vec![String::from("z=1") + &padding + "," + &keys],
        ] {
            SPLIT.with(|n| n.set(0));
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            let parsed = TraceState::parse_values(fields.iter().copied()).unwrap();
            let split = SPLIT.with(|n| n.get());
            assert_eq!(parsed.len(), 31 + usize::from(fields[0].starts_with('z')));
            let input: usize = fields.iter().map(|f| f.len()).sum();
            assert!(split < 2 * input, "{split} bytes split of {input}");
        }
    }

    /// Past 64 KiB into a field a key's place is not recorded: a repeat of it is then
    /// kept (the spec allows keeping duplicates), and nothing else changes.
    #[cfg(feature = "tracestate")]
    #[test]
    fn a_repeated_key_past_64_kib_is_kept() {
        let field = ",".repeat(70_000) + "a00a=1,a01a=1,a00a=2";
        let parsed = TraceState::parse_values([field.as_str()]).unwrap();
        assert_eq!(parsed.as_str(), "a00a=1,a01a=1,a00a=2");
        let near = ",".repeat(60_000) + "a00a=1,a01a=1,a00a=2";
        let parsed = TraceState::parse_values([near.as_str()]).unwrap();
        assert_eq!(parsed.as_str(), "a00a=1,a01a=1");
    }

    /// Regression (found by review): with a duplicate `ot` kept past 64 KiB, erasing
    /// the threshold removed the first `ot` only, and the kept one's `th:c` (25 %) was
    /// then read as the span's probability.
    #[cfg(feature = "tracestate")]
    #[test]
    fn erasing_th_does_not_bring_back_a_kept_duplicate_ot() {
        let field = ",".repeat(70_000) + "ot=th:8,a=1,ot=th:c";
        let mut ts = TraceState::parse(&field).unwrap();
        assert_eq!(ts.as_str(), "ot=th:8,a=1,ot=th:c");
        ts.set_ot_threshold(None).unwrap();
        assert_eq!(ts.ot_threshold(), None);
        assert_eq!(ts.get("ot"), None);
        assert_eq!(ts.as_str(), "a=1");
        let mut ts = TraceState::parse(&field).unwrap();
        assert!(ts.remove("ot"));
        assert_eq!(ts.get("ot"), None);
        assert!(!ts.remove("ot"));
    }

    fn repeat(c: char, n: usize) -> String {
        core::iter::repeat_n(c, n).collect()
    }

    /// A row: (reason, header fields, expected canonical text or error).
    #[cfg(feature = "tracestate")]
    type Vector = (
        &'static str,
        &'static [&'static str],
        Result<&'static str, Error>,
    );

    #[rustfmt::skip]
    #[cfg(feature = "tracestate")]
    const VECTORS: &[Vector] = &[
        ("tracestate_included_traceparent_included",
            &["foo=1,bar=2"],                            Ok("foo=1,bar=2")),
        ("spec example, two vendors",
            &["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"],
            Ok("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")),
        ("tracestate_empty_header",
            &[""],                                       Ok("")),
        ("tracestate_empty_header: whitespace only",
            &[" \t "],                                   Ok("")),
        ("tracestate_empty_header: then a value",
            &["", "foo=1"],                              Ok("foo=1")),
        ("tracestate_empty_header: after a value",
            &["foo=1", ""],                              Ok("foo=1")),
        ("empty members between commas are skipped",
            &[",foo=1, ,\t,bar=2,"],                     Ok("foo=1,bar=2")),
        ("tracestate_multiple_headers_different_keys",
            &["foo=1,bar=2", "rojo=1,congo=2", "baz=3"], Ok("foo=1,bar=2,rojo=1,congo=2,baz=3")),
        ("tracestate_ows_handling: around commas",
            &["foo=1 \t , \t bar=2, \t baz=3"],          Ok("foo=1,bar=2,baz=3")),
        ("tracestate_ows_handling: tabs and spaces",
            &["foo=1\t \t,\t \tbar=2,\t \tbaz=3"],       Ok("foo=1,bar=2,baz=3")),
        ("tracestate_ows_handling: leading",
            &["\t foo=1"],                               Ok("foo=1")),
        ("tracestate_ows_handling: trailing",
            &["foo=1 \t"],                               Ok("foo=1")),
        ("a value may start with spaces",
            &["foo=  1"],                                Ok("foo=  1")),
        ("a value may contain spaces",
            &["foo=a b"],                                Ok("foo=a b")),
        ("tracestate_duplicated_keys: the first is kept",
            &["foo=1,foo=2"],                            Ok("foo=1")),
        ("tracestate_duplicated_keys: across fields",
            &["foo=1", "bar=3,foo=2"],                   Ok("foo=1,bar=3")),
        ("multi-tenant key",
            &["tenant@system=1"],                        Ok("tenant@system=1")),
        ("key may start with a digit",
            &["1vendor=x"],                              Ok("1vendor=x")),
        ("Level 2 keys: trailing @ is valid",
            &["foo@=1,bar=2"],                           Ok("foo@=1,bar=2")),
        ("Level 2 keys: @@ is valid",
            &["foo@@bar=1"],                             Ok("foo@@bar=1")),
        ("Level 2 keys: several @ are valid",
            &["a@b@c=1"],                                Ok("a@b@c=1")),
        ("tracestate_key_illegal_vendor_format: leading @",
            &["@foo=1,bar=2"],                           Err(Error::InvalidKey)),
        ("tracestate_key_illegal_characters: space before =",
            &["foo =1"],                                 Err(Error::InvalidKey)),
        ("tracestate_key_illegal_characters: uppercase",
            &["FOO=1"],                                  Err(Error::InvalidKey)),
        ("tracestate_key_illegal_characters: dot",
            &["foo.bar=1"],                              Err(Error::InvalidKey)),
        ("key may not start with _",
            &["_foo=1"],                                 Err(Error::InvalidKey)),
        ("empty key",
            &["=1"],                                     Err(Error::InvalidKey)),
        ("tracestate_value_illegal_characters: second =",
            &["foo=bar=baz"],                            Err(Error::InvalidValue)),
        ("tracestate_value_illegal_characters: empty value",
            &["foo=,bar=3"],                             Err(Error::InvalidValue)),
        ("value with a tab inside",
            &["foo=a\tb"],                               Err(Error::InvalidValue)),
        ("value with a non-ASCII character",
            &["foo=caf\u{e9}"],                          Err(Error::InvalidValue)),
        ("value with DEL",
            &["foo=a\x7f"],                              Err(Error::InvalidValue)),
        ("member without =",
            &["foo"],                                    Err(Error::MissingEquals)),
        ("one bad member discards all fields",
            &["foo=1", "bar"],                           Err(Error::MissingEquals)),
    ];

    #[cfg(feature = "tracestate")]
    #[test]
    fn vectors() {
        for &(reason, fields, expected) in VECTORS {
            let got = TraceState::parse_values(fields.iter().copied());
            match expected {
                Ok(text) => {
                    let ts = got.unwrap_or_else(|e| panic!("{reason}: {e:?}"));
                    assert_eq!(ts.as_str(), text, "{reason}");
                    assert_eq!(ts.truncated(), 0, "{reason}");
                }
                Err(e) => assert_eq!(got, Err(e), "{reason}"),
            }
        }
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn tracestate_all_allowed_characters() {
        let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
        let value: String = (0x20u8..=0x7e)
            .filter(|&c| c != b',' && c != b'=')
            .map(char::from)
            .collect();
        for key in [String::from(key), format!("{key}@a-z0-9_-*/")] {
            let header = format!("{key}={value}");
            let ts = TraceState::parse(&header).unwrap();
            assert_eq!(ts.get(&key), Some(value.as_str()));
        }
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn tracestate_key_length_limit() {
        let ok = format!("{}=1", repeat('z', 256));
        assert_eq!(TraceState::parse(&ok).unwrap().len(), 1);
        let too_long = format!("{}=1", repeat('z', 257));
        assert_eq!(TraceState::parse(&too_long), Err(Error::InvalidKey));
        // Level 2 dropped the tenant/system split: only the 256 total counts.
        let tenant = format!("{}@{}=1", repeat('t', 241), repeat('v', 14));
        assert!(TraceState::parse(&tenant).is_ok());
        let long_system = format!("t@{}=1", repeat('v', 15));
        assert!(TraceState::parse(&long_system).is_ok());
    }

    #[test]
    fn tracestate_value_length_limit() {
        assert!(TraceState::parse(&format!("k={}", repeat('v', 256))).is_ok());
        assert_eq!(
            TraceState::parse(&format!("k={}", repeat('v', 257))),
            Err(Error::InvalidValue)
        );
    }

    #[cfg(feature = "tracestate")]
    fn members(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("bar{i:02}={i:02}")).collect()
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn tracestate_member_count_limit() {
        let m = members(33);
        let fields = [m[..10].join(","), m[10..20].join(","), m[20..30].join(",")];
        let ok = TraceState::parse_values(
            fields
                .iter()
                .map(String::as_str)
                .chain([m[30..32].join(",").as_str()]),
        )
        .unwrap();
        assert_eq!(ok.len(), 32);
        assert_eq!(ok.get("bar01"), Some("01"));
        let too_many = TraceState::parse_values(
            fields
                .iter()
                .map(String::as_str)
                .chain([m[30..33].join(",").as_str()]),
        );
        assert_eq!(too_many, Err(Error::TooManyMembers));
    }

    #[test]
    fn duplicates_count_towards_the_member_limit() {
        let header = core::iter::repeat_n("foo=1", 33)
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(TraceState::parse(&header), Err(Error::TooManyMembers));
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn insert_moves_the_member_to_the_front() {
        let mut ts = TraceState::parse("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").unwrap();
        ts.insert("congo", "ucfJifl5GOE").unwrap();
        assert_eq!(ts.as_str(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
        ts.insert("new", "1").unwrap();
        assert_eq!(ts.as_str(), "new=1,congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
        assert!(ts.remove("congo"));
        assert!(!ts.remove("congo"));
        assert_eq!(ts.as_str(), "new=1,rojo=00f067aa0ba902b7");
        assert!(ts.remove("rojo"));
        assert!(ts.remove("new"));
        assert!(ts.is_empty());
        ts.insert("only", "x").unwrap();
        assert_eq!(ts.as_str(), "only=x");
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn remove_does_not_match_key_prefixes() {
        let mut ts = TraceState::parse("foobar=1,foo=2").unwrap();
        assert!(ts.remove("foo"));
        assert_eq!(ts.as_str(), "foobar=1");
        assert_eq!(ts.get("foo"), None);
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn insert_rejects_bad_members_without_change() {
        let mut ts = TraceState::parse("a=1").unwrap();
        assert_eq!(ts.insert("A", "1"), Err(Error::InvalidKey));
        assert_eq!(ts.insert("b", ""), Err(Error::InvalidValue));
        assert_eq!(ts.insert("b", "x,y"), Err(Error::InvalidValue));
        assert_eq!(ts.insert("b", "x "), Err(Error::InvalidValue));
        assert_eq!(
            ts.insert(&repeat('k', 256), &repeat('v', 256)),
            Err(Error::TooLong)
        );
        assert_eq!(ts.as_str(), "a=1");
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn the_33rd_member_drops_the_rightmost() {
        let m = members(32);
        let mut ts = TraceState::parse(&m.join(",")).unwrap();
        ts.insert("new", "1").unwrap();
        assert_eq!(ts.len(), 32);
        assert_eq!(ts.iter().next(), Some(("new", "1")));
        assert_eq!(ts.get("bar32"), None);
        assert_eq!(ts.get("bar31"), Some("31"));
        assert_eq!(ts.truncated(), 1);
        // Updating an existing key of a full list drops nothing.
        ts.insert("bar05", "x").unwrap();
        assert_eq!((ts.len(), ts.truncated()), (32, 1));
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn parse_truncates_long_members_first_then_from_the_right() {
        // 4 short members of 100 characters, a long one of 150, one more short one.
        let short = |c: char| format!("{c}={}", repeat('v', 98));
        let long = format!("l={}", repeat('v', 148));
        let fields = [
            short('a'),
            short('b'),
            long.clone(),
            short('c'),
            short('d'),
            short('e'),
        ];
        let ts = TraceState::parse_values(fields.iter().map(String::as_str)).unwrap();
        // Without the long member: 5 × 100 + 4 commas = 504 ≤ 512.
        let keys: Vec<&str> = ts.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e"]);
        assert_eq!(ts.truncated(), 1);
        assert_eq!(ts.as_str().len(), 504);

        // Only short members: drop from the right.
        let fields = ['a', 'b', 'c', 'd', 'e', 'f'].map(short);
        let ts = TraceState::parse_values(fields.iter().map(String::as_str)).unwrap();
        let keys: Vec<&str> = ts.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e"]);
        assert_eq!(ts.truncated(), 1);

        // From the right means no gaps: once `f` (short) is dropped, the shorter `g`
        // after it goes too, though it would fit where `f` did not. A long member after
        // the cut goes as well; one before it that does not fit is dropped alone.
        let mut fields: Vec<String> = ['a', 'b', 'c', 'd', 'e'].map(short).into();
        fields.extend(["f=12345678", "g=1"].map(String::from));
        let ts = TraceState::parse_values(fields.iter().map(String::as_str)).unwrap();
        let keys: Vec<&str> = ts.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e"]);
        assert_eq!(ts.truncated(), 2);
        let mut fields: Vec<String> = ['a', 'b', 'c', 'd'].map(short).into();
        fields.extend([long.clone(), "g=1".into()]);
        let ts = TraceState::parse_values(fields.iter().map(String::as_str)).unwrap();
        let keys: Vec<&str> = ts.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "g"]);
        assert_eq!(ts.truncated(), 1);
    }

    /// `k=<200 a>`, eight 44-byte members, then `k=stale`: 570 bytes. Duplicates go
    /// first (the first `k` is the one kept), then truncation drops the long `k`; the
    /// stale later duplicate must not come back in its place.
    #[cfg(feature = "tracestate")]
    fn stale_duplicate_fields() -> Vec<String> {
        let mut fields = std::vec![format!("k={}", repeat('a', 200))];
        fields.extend((0..8).map(|i| format!("m{i}={}", repeat('v', 41))));
        fields.push("k=stale".into());
        assert_eq!(fields.iter().map(|f| f.len() + 1).sum::<usize>() - 1, 570);
        fields
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn a_later_duplicate_does_not_survive_truncation_of_the_first() {
        let fields = stale_duplicate_fields();
        let ts = TraceState::parse_values(fields.iter().map(String::as_str)).unwrap();
        assert_eq!(ts.get("k"), None, "{ts}");
        assert_eq!(ts.len(), 8);
        assert_eq!(ts.truncated(), 1);
        // The same in one header field, and through the propagation path.
        let one = fields.join(",");
        assert_eq!(TraceState::parse(&one).unwrap(), ts);
        let headers: Vec<(&str, &str)> = core::iter::once(("traceparent", TRACEPARENT))
            .chain(fields.iter().map(|f| ("tracestate", f.as_str())))
            .collect();
        let ctx = crate::TraceContext::from_headers(&headers[..]).unwrap();
        assert_eq!(ctx.trace_state, ts);
    }

    #[cfg(feature = "tracestate")]
    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[cfg(feature = "tracestate")]
    #[test]
    fn truncation_at_512_keeps_an_exact_fit() {
        // Two members of 255 characters and a comma: exactly 511; a third of 1 does not
        // fit with its comma (513), and it is the rightmost, so it goes.
        let a = format!("a={}", repeat('v', 253));
        let b = format!("b={}", repeat('v', 253));
        let ts = TraceState::parse(&format!("{a},{b}")).unwrap();
        assert_eq!(ts.as_str().len(), 511);
        let ts = TraceState::parse(&format!("{a},{b},c=1")).unwrap();
        // Both a and b are long (> 128), so the rightmost long member (b) goes first.
        assert_eq!(ts.as_str(), format!("{a},c=1"));
        assert_eq!(ts.truncated(), 1);
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn insert_over_capacity_drops_long_members_first() {
        let l = format!("l={}", repeat('v', 200));
        let m = format!("m={}", repeat('v', 200));
        let mut ts = TraceState::parse_values([l.as_str(), "s1=1", m.as_str(), "s2=2"]).unwrap();
        // 417 + 1 + 252 > 512: the rightmost long member (m) goes, and that is enough.
        ts.insert("n", &repeat('w', 250)).unwrap();
        let keys: Vec<&str> = ts.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["n", "l", "s1", "s2"]);
        assert_eq!(ts.truncated(), 1);
        assert!(ts.as_str().len() <= CAPACITY);
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn emit_into_a5_buffer_and_display() {
        let ts = TraceState::parse("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE").unwrap();
        let text = b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
        let mut buf = [0xa5; 64];
        assert_eq!(ts.emit(&mut buf), Ok(text.len()));
        assert_eq!(&buf[..text.len()], text);
        assert!(buf[text.len()..].iter().all(|&b| b == 0xa5));
        for len in 0..text.len() {
            assert_eq!(ts.emit(&mut buf[..len]), Err(BufferTooSmall));
        }
        assert_eq!(format!("{ts}"), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
        assert_eq!(TraceState::parse(&format!("{ts}")), Ok(ts));
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn equality_ignores_the_truncated_count() {
        let a = TraceState::parse("a=1").unwrap();
        let mut b = TraceState::parse(&members(32).join(",")).unwrap();
        b.insert("new", "1").unwrap();
        assert_eq!(b.truncated(), 1);
        b.clear();
        b.insert("a", "1").unwrap();
        assert_eq!(a, b);
    }

    /// Rows: (reason, `th` text, threshold).
    #[rustfmt::skip]
    const THRESHOLDS: &[(&str, &str, u64)] = &[
        ("100 %: nothing rejected",            "0",              0),
        ("50 %",                               "8",              1 << 55),
        ("25 %: (1 - 0.25) × 2^56",            "c",              0xc << 52),
        ("1 % at 4-digit precision (spec)",    "fd70a",          0xfd70a << 36),
        ("1/3 at 4 digits",                    "aaab",           0xaaab << 40),
        ("smallest probability 2^-56",         "ffffffffffffff", (1 << 56) - 1),
        ("one digit short of 14",              "0000000000001",  1 << 4),
    ];

    #[test]
    fn threshold_vectors() {
        for &(reason, text, th) in THRESHOLDS {
            assert_eq!(parse_threshold(text), Some(th), "{reason}");
            let mut out = [0; 14];
            let n = format_threshold(th, &mut out);
            assert_eq!(&out[..n], text.as_bytes(), "{reason}");
        }
        for bad in ["", "000000000000000", "C", "g", "-1", " 8"] {
            assert_eq!(parse_threshold(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn randomness_is_exactly_14_hex_digits() {
        assert_eq!(parse_randomness("6e6d1a75832a2f"), Some(0x6e6d1a75832a2f));
        assert_eq!(parse_randomness("ffffffffffffff"), Some((1 << 56) - 1));
        assert_eq!(parse_randomness("6e6d1a75832a2"), None);
        assert_eq!(parse_randomness("6e6d1a75832a2f0"), None);
        assert_eq!(parse_randomness("6E6D1A75832A2F"), None);
    }

    /// Rows: (reason, `ot` value, th, rv).
    #[rustfmt::skip]
    #[cfg(feature = "tracestate")]
    const OT_VALUES: &[(&str, &str, Option<u64>, Option<u64>)] = &[
        ("th only",                  "th:8",                       Some(1 << 55), None),
        ("rv then th",               "rv:6e6d1a75832a2f;th:c",
         Some(0xc << 52), Some(0x6e6d1a75832a2f)),
        ("unknown sub-keys are fine", "p:8;th:0;k1:13",            Some(0), None),
        ("values may use . _ - A-Z", "x:A.b_C-1;th:8",             Some(1 << 55), None),
        ("empty values are allowed", "x:;th:8",                    Some(1 << 55), None),
        ("th too long is absent",    "th:000000000000001",         None, None),
        ("rv too short is absent",   "rv:6e6d",                    None, None),
        ("duplicate sub-key",        "th:8;th:c",                  None, None),
        ("sub-key with uppercase",   "Th:8",                       None, None),
        ("sub-key starting with a digit", "1th:8",                 None, None),
        ("bad value character",      "th:8;x:a/b",                 None, None),
        ("entry without ':'",        "th:8;x",                     None, None),
        ("empty entry",              "th:8;",                      None, None),
        ("malformed elsewhere: rv still read", "rv:6e6d1a75832a2f;th:8;th:c", None,
         Some(0x6e6d1a75832a2f)),
    ];

    #[cfg(feature = "tracestate")]
    #[test]
    fn ot_value_vectors() {
        for &(reason, value, th, rv) in OT_VALUES {
            let ts = TraceState::parse(&format!("ot={value}")).unwrap();
            assert_eq!(ts.ot_threshold(), th, "{reason}");
            assert_eq!(ts.ot_randomness(), rv, "{reason}");
        }
        assert_eq!(TraceState::new().ot_threshold(), None);
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn set_ot_threshold_keeps_other_sub_keys_and_moves_ot_first() {
        let mut ts = TraceState::parse("congo=1,ot=rv:6e6d1a75832a2f;p:8").unwrap();
        ts.set_ot_threshold(Some(0xc << 52)).unwrap();
        assert_eq!(ts.as_str(), "ot=th:c;rv:6e6d1a75832a2f;p:8,congo=1");
        // Replacing keeps th in its place.
        ts.set_ot_threshold(Some(0)).unwrap();
        assert_eq!(ts.as_str(), "ot=th:0;rv:6e6d1a75832a2f;p:8,congo=1");
        ts.set_ot_threshold(None).unwrap();
        assert_eq!(ts.as_str(), "ot=rv:6e6d1a75832a2f;p:8,congo=1");
        assert_eq!(ts.ot_randomness(), Some(0x6e6d1a75832a2f));
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn erasing_the_last_sub_key_removes_ot() {
        let mut ts = TraceState::parse("congo=1,ot=th:8").unwrap();
        ts.set_ot_threshold(None).unwrap();
        assert_eq!(ts.as_str(), "congo=1");
        // Erasing an absent th changes nothing, and does not reorder.
        let mut ts = TraceState::parse("congo=1,ot=rv:6e6d1a75832a2f").unwrap();
        ts.set_ot_threshold(None).unwrap();
        assert_eq!(ts.as_str(), "congo=1,ot=rv:6e6d1a75832a2f");
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn set_ot_threshold_on_empty_and_malformed_values() {
        let mut ts = TraceState::new();
        ts.set_ot_threshold(Some(0xfd70a << 36)).unwrap();
        assert_eq!(ts.as_str(), "ot=th:fd70a");
        assert_eq!(ts.set_ot_threshold(Some(1 << 56)), Err(Error::InvalidValue));
        assert_eq!(ts.as_str(), "ot=th:fd70a");

        let mut ts = TraceState::parse("ot=th:8;th:c,a=1").unwrap();
        assert_eq!(ts.set_ot_threshold(Some(1 << 55)), Err(Error::InvalidValue));
        assert_eq!(
            ts.as_str(),
            "ot=th:8;th:c,a=1",
            "malformed ot is left alone on write"
        );
        // Regression (found by review): erasing left a malformed value's `th` in place.
        ts.set_ot_threshold(None).unwrap();
        assert_eq!(
            ts.as_str(),
            "a=1",
            "its th sub-keys go on erase: nothing is left"
        );
        let mut ts = TraceState::parse("a=1,ot=rv:6e6d1a75832a2f;X:1;th:0").unwrap();
        ts.set_ot_threshold(None).unwrap();
        assert_eq!(
            ts.as_str(),
            "ot=rv:6e6d1a75832a2f;X:1,a=1",
            "the rest stays as it came"
        );
        let mut ts = TraceState::parse("ot=rv:6e6d1a75832a2f;X:1").unwrap();
        ts.set_ot_threshold(None).unwrap();
        assert_eq!(ts.as_str(), "ot=rv:6e6d1a75832a2f;X:1", "no th: unchanged");
        let mut ts = TraceState::parse("ot=odd;th:8").unwrap();
        ts.set_ot_threshold(None).unwrap();
        assert_eq!(ts.as_str(), "ot=odd", "a sub-key without a colon stays too");
    }

    /// Regression (found by review): erasing `th` from a malformed value whose
    /// sub-key before it ends in a space left a value ending in a space, which the
    /// grammar refuses: the erase failed, and the tracer then removed `ot` whole, its
    /// `rv` with it.
    #[cfg(feature = "tracestate")]
    #[test]
    fn erasing_th_after_a_sub_key_ending_in_a_space_keeps_the_rest() {
        let mut ts = TraceState::parse("ot=rv:0123456789abcd;x:y ;th:8,a=1").unwrap();
        assert_eq!(ts.set_ot_threshold(None), Ok(()));
        assert_eq!(ts.as_str(), "ot=rv:0123456789abcd;x:y,a=1");
        assert_eq!(ts.ot_randomness(), Some(0x0123456789abcd));
        // Nothing but spaces left: `ot` goes.
        let mut ts = TraceState::parse("ot=th:8; ;th:c,a=1").unwrap();
        assert_eq!(ts.set_ot_threshold(None), Ok(()));
        assert_eq!(ts.as_str(), "a=1");
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn writing_th_into_a_malformed_ot_leaves_it_and_its_rv_alone() {
        // `x:a!b` breaks the value grammar and `th` repeats: the value is malformed, but
        // its `rv` is never erased (OTel: the same `rv` goes out). It was replaced by
        // `th` alone.
        let text = "ot=rv:6e6d1a75832a2f;x:a!b;th:c;th:8,a=1";
        let mut ts = TraceState::parse(text).unwrap();
        assert_eq!(ts.set_ot_threshold(Some(1 << 55)), Err(Error::InvalidValue));
        assert_eq!(ts.as_str(), text);
        assert_eq!(ts.ot_randomness(), Some(0x6e6d1a75832a2f));
        assert_eq!(ts.ot_threshold(), None, "malformed: no threshold read");
        assert_eq!(
            ot_rv("rv:6e6d1a75832a2f;x:a!b;th:c;th:8"),
            Some(0x6e6d1a75832a2f)
        );
        assert_eq!(ot_rv("rv:x!;rv:6e6d1a75832a2f"), Some(0x6e6d1a75832a2f));
        assert_eq!(
            ot_rv("rv:zz;rv:6e6d1a75832a2f"),
            None,
            "the first well-formed rv"
        );
    }

    #[cfg(feature = "tracestate")]
    #[test]
    fn set_ot_threshold_refuses_values_over_256() {
        let other = format!("x:{}", repeat('a', 250));
        let mut ts = TraceState::parse(&format!("ot={other}")).unwrap();
        assert_eq!(ts.set_ot_threshold(Some(0)), Err(Error::InvalidValue));
        assert_eq!(ts.get("ot"), Some(other.as_str()));
    }

    #[cfg(feature = "tracestate")]
    fn arb_key() -> impl Strategy<Value = String> {
        "[a-z0-9][a-z0-9_*/@-]{0,20}"
    }

    #[cfg(feature = "tracestate")]
    fn arb_value() -> impl Strategy<Value = String> {
        "[ -+\\--<>-~]{0,30}[!-+\\--<>-~]"
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,600}") {
            if let Ok(ts) = TraceState::parse(&s) {
                prop_assert!(ts.as_str().len() <= CAPACITY);
                prop_assert!(ts.len() <= MAX_MEMBERS);
            }
        }

        #[test]
        fn parse_never_panics_on_tracestate_like_text(s in "[a-z0-9@=, \t;:]{0,700}") {
            if let Ok(ts) = TraceState::parse(&s) {
                prop_assert_eq!(TraceState::parse(ts.as_str()), Ok(ts));
            }
        }

        #[cfg(feature = "tracestate")]

        #[test]
        fn round_trip(kvs in proptest::collection::vec((arb_key(), arb_value()), 0..40)) {
            let mut ts = TraceState::new();
            for (k, v) in &kvs {
                ts.insert(k, v).unwrap();
                prop_assert_eq!(ts.iter().next(), Some((k.as_str(), v.as_str())));
                prop_assert_eq!(ts.get(k), Some(v.as_str()));
                prop_assert!(ts.len() <= MAX_MEMBERS);
                prop_assert!(ts.as_str().len() <= CAPACITY);
            }
            let back = TraceState::parse(ts.as_str()).unwrap();
            prop_assert_eq!(back.as_str(), ts.as_str());
            prop_assert_eq!(back.iter().count(), ts.len());
        }

        #[test]
        fn threshold_round_trip(th in 0u64..(1 << 56)) {
            let mut out = [0; 14];
            let n = format_threshold(th, &mut out);
            let text = core::str::from_utf8(&out[..n]).unwrap();
            prop_assert_eq!(parse_threshold(text), Some(th));
        }

        #[cfg(feature = "tracestate")]

        #[test]
        fn set_ot_threshold_round_trip(th in 0u64..(1 << 56), rv in 0u64..(1 << 56)) {
            let mut ts = TraceState::parse(&format!("a=1,ot=rv:{rv:014x}")).unwrap();
            ts.set_ot_threshold(Some(th)).unwrap();
            prop_assert_eq!(ts.ot_threshold(), Some(th));
            prop_assert_eq!(ts.ot_randomness(), Some(rv));
            prop_assert_eq!(ts.iter().next().map(|(k, _)| k), Some("ot"));
        }
    }

    /// What [`checked_members`] must give: the general split and check, up to and
    /// including the first invalid member.
    fn checked_members_reference(field: &str) -> Vec<Result<(&str, &str), Error>> {
        let mut out = Vec::new();
        for member in super::members(field) {
            let parsed = parse_member(member);
            out.push(parsed);
            if parsed.is_err() {
                break;
            }
        }
        out
    }

    /// The word-wide check agrees with the table for every byte at every position of
    /// a word, and for every pair of bytes at two positions (a borrow or carry from one
    /// byte must not hide or fake another).
    #[test]
    fn eight_bytes_at_a_time_agree_with_the_table() {
        let is_value = |c: u8| CLASSES[usize::from(c)] & VALUE_CHAR != 0;
        for at in 0..8 {
            for c in 0..=255u8 {
                let mut word = *b"a b~ !x}";
                word[at] = c;
                let expected = word.iter().all(|&c| is_value(c));
                assert_eq!(
                    all_value_chars(u64::from_le_bytes(word)),
                    expected,
                    "{word:?}"
                );
            }
        }
        for (first, second) in [(0, 1), (3, 4), (6, 7), (0, 7)] {
            for a in 0..=255u8 {
                for b in 0..=255u8 {
                    let mut word = [b'~'; 8];
                    word[first] = a;
                    word[second] = b;
                    assert_eq!(
                        all_value_chars(u64::from_le_bytes(word)),
                        is_value(a) && is_value(b),
                        "{word:?}"
                    );
                }
            }
        }
        let field = b"k=0123456789abcdef ghij,x";
        assert_eq!(skip_value_chars(field, 2), 23);
        assert_eq!(skip_value_chars(field, 25), 25);
        assert_eq!(skip_value_chars(b"k=v\x00", 2), 3);
    }

    #[test]
    fn the_one_walk_member_split_agrees_with_the_general_one_on_edge_shapes() {
        let long_key = format!("{}=v", repeat('k', MAX_KEY_LEN + 1));
        let max_key = format!("{}=v", repeat('k', MAX_KEY_LEN));
        let long_value = format!("k={}", repeat('v', MAX_VALUE_LEN + 1));
        let max_value = format!("k={}", repeat('v', MAX_VALUE_LEN));
        for field in [
            "",
            ",",
            " , ,\t",
            "a=1",
            " a=1 ,b=2\t",
            "a=1 2 ",
            "a=1\t2",
            "a =1",
            "a= 1",
            "=1",
            "a=",
            "a",
            "a==1",
            "a=1=2",
            "A=1",
            "a=1,B=2",
            "a@b=1",
            "_a=1",
            "a=\u{7f}",
            "a=é",
            "é=1",
            "a=1,,b=2",
            "a=1, ,b=2",
            "a=1 ,",
            "a=1,b",
            &long_key,
            &max_key,
            &long_value,
            &max_value,
        ] {
            let fast: Vec<_> = checked_members(field)
                .map(|m| m.map(|m| m.key_value(field)))
                .collect();
            assert_eq!(fast, checked_members_reference(field), "{field:?}");
        }
    }

    /// What [`parse_fields`] must give: each member checked, counted and written on
    /// its own by [`TraceState::push_back`], as before members were written in runs.
    fn parse_reference(fields: &[String]) -> Result<TraceState, Error> {
        let mut state = TraceState::new();
        let (mut cut, mut keys) = (false, Vec::new());
        for field in fields {
            for member in super::members(field) {
                let (key, value) = parse_member(member)?;
                if keys.len() >= MAX_MEMBERS {
                    return Err(Error::TooManyMembers);
                }
                if !keys.contains(&key) {
                    if cut {
                        state.truncated += 1;
                    } else {
                        cut = !state.push_back(key, value);
                    }
                }
                keys.push(key);
            }
        }
        Ok(state)
    }

    /// A header field: members with few keys (duplicates), values short and long
    /// (truncation drops long members first), and separators with spaces and empty
    /// members between some.
    fn arb_field() -> impl Strategy<Value = String> {
        // Short, not long (a member of at most 128 characters), long.
        let len = prop_oneof![1usize..=8, 100usize..=120, 129usize..=MAX_VALUE_LEN];
        let member = ("[a-d]{1,2}", len, "[a-z]");
        let separator = proptest::sample::select(&[",", ",", ",", " ,", ", ", ",,", ",\t"][..]);
        proptest::collection::vec((member, separator), 0..12).prop_map(|members| {
            let mut field = String::new();
            for ((key, len, fill), separator) in members {
                field.push_str(&key);
                field.push('=');
                field.push_str(&fill.repeat(len));
                field.push_str(separator);
            }
            field
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        #[test]
        fn members_written_in_runs_give_what_one_by_one_gives(
            fields in proptest::collection::vec(arb_field(), 1..4)
        ) {
            let got = parse_fields(&|f| fields.iter().for_each(|field| f(field)));
            let want = parse_reference(&fields);
            prop_assert_eq!(
                got.as_ref().map(|s| (s.as_str(), s.truncated())),
                want.as_ref().map(|s| (s.as_str(), s.truncated()))
            );
        }

        #[test]
        fn the_one_walk_member_split_agrees_with_the_general_one(
            field in "[a-c0-9_*/@=, \t\x7f~é-]{0,24}"
        ) {
            let fast: Vec<_> = checked_members(&field)
                .map(|m| m.map(|m| m.key_value(&field)))
                .collect();
            prop_assert_eq!(fast, checked_members_reference(&field));
        }
    }
}
