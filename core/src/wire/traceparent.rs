//! The `traceparent` header (W3C Trace Context Level 2, § 3.2 traceparent Header).
//!
//! `traceparent = version "-" trace-id "-" parent-id "-" trace-flags`, lowercase hex,
//! 55 characters for version `00`. [`Repr::parse`] checks the length first, then each
//! field in [`field`] order, and names the broken rule in [`ParseError`]; a caller that
//! gets an error starts a new trace (§ 3.2.2.1). A higher version is read by its first
//! 55 characters, provided the 56th (if any) is a `-` (§ 3.2.4 Versioning).
//! [`Repr::emit`] always writes version `00` and only the flags version `00` defines.
//!
//! ```
//! use picotrace::wire::traceparent::{self, Repr};
//! let repr = Repr::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?;
//! assert!(repr.flags.is_sampled());
//! assert_eq!(repr.parent_id.to_hex().as_str(), "00f067aa0ba902b7");
//!
//! let mut buf = [0; traceparent::LEN];
//! let len = repr.emit(&mut buf).unwrap();
//! assert_eq!(&buf[..len], b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
//! # Ok::<(), picotrace::wire::traceparent::ParseError>(())
//! ```

use core::fmt;

use crate::id::{SpanId, TraceFlags, TraceId};
use crate::text::InlineStr;
use crate::wire::hex::{self, HexError};

/// Byte ranges of the version-00 fields, and of the separators between them.
pub mod field {
    use core::ops::Range;

    /// `version`: 2 lowercase hex digits.
    pub const VERSION: Range<usize> = 0..2;
    /// `trace-id`: 32 lowercase hex digits.
    pub const TRACE_ID: Range<usize> = 3..35;
    /// `parent-id`: 16 lowercase hex digits.
    pub const PARENT_ID: Range<usize> = 36..52;
    /// `trace-flags`: 2 lowercase hex digits.
    pub const FLAGS: Range<usize> = 53..55;
    /// Positions of the three `-` separators.
    pub const SEPARATORS: [usize; 3] = [2, 35, 52];
}

/// Length of a version-00 `traceparent`, and of what [`Repr::emit`] writes.
pub const LEN: usize = 55;

/// The only version this implementation writes.
pub const VERSION: u8 = 0x00;

/// Why a `traceparent` value was rejected; each variant names the rule it broke.
///
/// W3C Trace Context § 3.2.2: on any of these, ignore the header (and `tracestate`
/// with it) and start a new trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ParseError {
    /// Shorter than 55 characters, or version `00` and not exactly 55.
    BadLength,
    /// A field is not followed by `-` where the format puts one.
    BadSeparator,
    /// Version `ff`, which the spec forbids.
    VersionFf,
    /// The version is not two lowercase hex digits.
    BadVersion,
    /// An `A`-`F` digit: only lowercase hex is allowed.
    UppercaseHex,
    /// A character in the trace-id or parent-id that is not a hex digit.
    NotHex,
    /// The trace-id is all zeros.
    TraceIdAllZero,
    /// The parent-id is all zeros.
    ParentIdAllZero,
    /// The trace-flags are not two lowercase hex digits.
    BadFlags,
    /// A higher version with more than 55 characters whose 56th is not `-`.
    BadTrailer,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadLength => "traceparent has the wrong length",
            Self::BadSeparator => "traceparent fields must be separated by '-'",
            Self::VersionFf => "traceparent version ff is forbidden",
            Self::BadVersion => "traceparent version must be two lowercase hex digits",
            Self::UppercaseHex => "traceparent must use lowercase hex",
            Self::NotHex => "traceparent id contains a non-hex character",
            Self::TraceIdAllZero => "traceparent trace-id is all zeros",
            Self::ParentIdAllZero => "traceparent parent-id is all zeros",
            Self::BadFlags => "traceparent trace-flags must be two lowercase hex digits",
            Self::BadTrailer => "traceparent of a higher version must continue with '-'",
        })
    }
}

impl core::error::Error for ParseError {}

/// The output buffer is too small for what an emitter must write; nothing useful was
/// written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BufferTooSmall;

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("output buffer too small")
    }
}

impl core::error::Error for BufferTooSmall {}

/// A parsed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr {
    /// The version received; [`Repr::emit`] always writes `00`.
    pub version: u8,
    /// The trace id (never all zero after a successful parse).
    pub trace_id: TraceId,
    /// The caller's span id (never all zero after a successful parse).
    pub parent_id: SpanId,
    /// The flags as received, unknown bits included; see [`Repr::emit`].
    pub flags: TraceFlags,
}

/// Returns `text` without leading and trailing spaces and tabs (RFC 9110 OWS).
pub(crate) fn trim_ows(text: &[u8]) -> &[u8] {
    let start = text
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |i| i + 1);
    text.get(start..end).unwrap_or(&[])
}

/// Decodes one lowercase-hex byte; `bad` is the error for a non-hex character.
fn hex_byte(text: &[u8], bad: ParseError) -> Result<u8, ParseError> {
    let mut out = [0; 1];
    hex::decode(text, &mut out).map_err(|e| match e {
        HexError::Uppercase => ParseError::UppercaseHex,
        HexError::NotHex | HexError::BadLength => bad,
    })?;
    Ok(out[0])
}

fn map_id_error(e: HexError) -> ParseError {
    match e {
        HexError::Uppercase => ParseError::UppercaseHex,
        HexError::NotHex => ParseError::NotHex,
        HexError::BadLength => ParseError::BadLength,
    }
}

impl Repr {
    /// Parses a `traceparent` value; leading and trailing spaces and tabs are ignored.
    ///
    /// # Errors
    /// [`ParseError`] names the first rule, in field order, that `text` breaks.
    pub fn parse(text: &[u8]) -> Result<Repr, ParseError> {
        // Microcontrollers read field by field: the fast path would be a second copy of
        // the parser in flash.
        if cfg!(target_pointer_width = "64") {
            if let Some(repr) = <&[u8; LEN]>::try_from(text).ok().and_then(Self::parse_v00) {
                return Ok(repr);
            }
        }
        Self::parse_checked(text)
    }

    /// The usual header: exactly 55 characters of version 00, every field valid. Fixed
    /// offsets, fixed-size decodes and one validity check at the end (callgrind: the
    /// W4 parse from 474 instructions to 286). `None` for anything else, which
    /// [`Repr::parse_checked`] then reads or names the rule it breaks.
    #[inline]
    fn parse_v00(text: &[u8; LEN]) -> Option<Repr> {
        let [b'0', b'0', b'-', ..] = *text else {
            return None;
        };
        if text[field::TRACE_ID.end] != b'-' || text[field::PARENT_ID.end] != b'-' {
            return None;
        }
        let (trace_id, parent_id, ids_ok) = if cfg!(target_pointer_width = "64") {
            // Both ids in one 48-digit decode: LLVM vectorizes it whole, where a 16-digit
            // span id on its own stays scalar (callgrind, W4: 140 instructions to 66).
            let mut digits = [0u8; 48];
            digits[..32].copy_from_slice(&text[field::TRACE_ID]);
            digits[32..].copy_from_slice(&text[field::PARENT_ID]);
            let (ids, ok) = hex::decode_array::<48, 24>(&digits);
            let (trace_id, parent_id) = ids.split_first_chunk::<16>()?;
            (*trace_id, parent_id.try_into().ok()?, ok)
        } else {
            let (trace_id, trace_ok) =
                hex::decode_array::<32, 16>(text[field::TRACE_ID].try_into().ok()?);
            let (parent_id, parent_ok) =
                hex::decode_array::<16, 8>(text[field::PARENT_ID].try_into().ok()?);
            (trace_id, parent_id, trace_ok & parent_ok)
        };
        let ([flags], flags_ok) = hex::decode_array::<2, 1>(text[field::FLAGS].try_into().ok()?);
        let (trace_id, parent_id) = (TraceId::from_bytes(trace_id), SpanId::from_bytes(parent_id));
        if !(ids_ok & flags_ok) || !trace_id.is_valid() || !parent_id.is_valid() {
            return None;
        }
        Some(Repr {
            version: VERSION,
            trace_id,
            parent_id,
            flags: TraceFlags::from_bits(flags),
        })
    }

    /// [`Repr::parse`] field by field, for every input: surrounding spaces, higher
    /// versions, and the errors.
    fn parse_checked(text: &[u8]) -> Result<Repr, ParseError> {
        let text = trim_ows(text);
        // From the spec (§ 3.2.4): "When the version prefix cannot be parsed (it's not 2
        // hex characters followed by a dash (-)), the implementation should restart
        // the trace."
        let version = match text.get(field::VERSION) {
            Some(v) => hex_byte(v, ParseError::BadVersion)?,
            None => return Err(ParseError::BadLength),
        };
        if version == 0xff {
            return Err(ParseError::VersionFf);
        }
        if text.len() < LEN {
            return Err(ParseError::BadLength);
        }
        if version == VERSION && text.len() != LEN {
            return Err(ParseError::BadLength);
        }
        // Length is at least LEN from here on, so every range below is in bounds.
        if field::SEPARATORS.iter().any(|&i| text[i] != b'-') {
            return Err(ParseError::BadSeparator);
        }
        if text.get(LEN).is_some_and(|&c| c != b'-') {
            return Err(ParseError::BadTrailer);
        }
        let trace_id = TraceId::from_hex_bytes(&text[field::TRACE_ID]).map_err(map_id_error)?;
        let parent_id = SpanId::from_hex_bytes(&text[field::PARENT_ID]).map_err(map_id_error)?;
        let flags = hex_byte(&text[field::FLAGS], ParseError::BadFlags)?;
        if !trace_id.is_valid() {
            return Err(ParseError::TraceIdAllZero);
        }
        if !parent_id.is_valid() {
            return Err(ParseError::ParentIdAllZero);
        }
        Ok(Repr {
            version,
            trace_id,
            parent_id,
            flags: TraceFlags::from_bits(flags),
        })
    }

    /// Returns the number of bytes [`Repr::emit`] writes: always [`LEN`].
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        LEN
    }

    /// Writes the version-00 form into the front of `out` and returns its length.
    ///
    /// The version written is `00` whatever was received, and the flags are masked to
    /// the bits version 00 defines ([`TraceFlags::KNOWN_V00`]): the spec says other
    /// flags MUST be set to zero.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when `out` is shorter than [`LEN`]; `out` is then untouched.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let out = out.get_mut(..LEN).ok_or(BufferTooSmall)?;
        let flags = self.flags.bits() & TraceFlags::KNOWN_V00;
        // Every sub-slice below has exactly the length its encoder expects.
        let _ = hex::encode(&[VERSION], &mut out[field::VERSION]);
        if cfg!(target_pointer_width = "64") {
            // Both ids in one vectorized 48-digit encode (see `parse_v00`).
            let mut ids = [0u8; 24];
            ids[..16].copy_from_slice(self.trace_id.as_bytes());
            ids[16..].copy_from_slice(self.parent_id.as_bytes());
            let digits: [u8; 48] = hex::encode_array(&ids);
            out[field::TRACE_ID].copy_from_slice(&digits[..32]);
            out[field::PARENT_ID].copy_from_slice(&digits[32..]);
        } else {
            let _ = hex::encode(self.trace_id.as_bytes(), &mut out[field::TRACE_ID]);
            let _ = hex::encode(self.parent_id.as_bytes(), &mut out[field::PARENT_ID]);
        }
        let _ = hex::encode(&[flags], &mut out[field::FLAGS]);
        for i in field::SEPARATORS {
            out[i] = b'-';
        }
        Ok(LEN)
    }

    /// Returns the version-00 header value, as [`Repr::emit`] writes it.
    pub fn to_header(&self) -> InlineStr<LEN> {
        let mut s = heapless::String::new();
        // LEN ASCII bytes into a String of capacity LEN: one copy, not a push per char.
        self.with_header(|text| {
            let _ = s.push_str(text);
        });
        InlineStr::from_heapless(s)
    }

    /// Calls `f` with the version-00 header value, formatted in this call's frame: a
    /// caller that hands it to an injector copies no [`InlineStr`] out (callgrind, W4:
    /// 627 instructions to 610), and on firmware its buffer takes stack only while `f`
    /// runs (inlined, `to_header` held 160 bytes of the caller's frame for the caller's
    /// whole life: thumbv7m, the footprint workload's `traced`).
    #[inline(never)]
    pub fn with_header(&self, f: impl FnOnce(&str)) {
        /// Word-aligned, so that the UTF-8 check takes its ASCII path, two words at a
        /// time (callgrind: 137 instructions to 95), and 64 bytes long, a whole number
        /// of those steps: the zeros after the header are checked in the last step
        /// instead of seven bytes one at a time (95 to 54).
        #[repr(align(16))]
        struct Aligned([u8; 64]);
        let mut buf = Aligned([0; 64]);
        if let (Ok(_), Ok(text)) = (self.emit(&mut buf.0), core::str::from_utf8(&buf.0)) {
            f(text.get(..LEN).unwrap_or_default());
        }
    }
}

impl fmt::Display for Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_header())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::{format, string::String, vec::Vec};

    const TRACE: &str = "12345678901234567890123456789012";
    const PARENT: &str = "1234567890123456";

    fn repr(version: u8, flags: u8) -> Repr {
        Repr {
            version,
            trace_id: TraceId::from_hex(TRACE).unwrap(),
            parent_id: SpanId::from_hex(PARENT).unwrap(),
            flags: TraceFlags::from_bits(flags),
        }
    }

    #[test]
    fn parses_spec_example_and_checks_every_field() {
        let r = Repr::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(r.version, 0);
        assert_eq!(r.trace_id.as_bytes()[0], 0x4b);
        assert_eq!(r.trace_id.as_bytes()[15], 0x36);
        assert_eq!(
            r.parent_id.to_bytes(),
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert_eq!(r.flags, TraceFlags::SAMPLED);
    }

    /// A row: (reason, input, `Ok((version, flags))` with the ids of `TRACE` and
    /// `PARENT`, or the error).
    type Vector = (&'static str, &'static str, Result<(u8, u8), ParseError>);

    #[rustfmt::skip]
    const VECTORS: &[Vector] = &[
        ("traceparent_included_tracestate_missing",
         "00-12345678901234567890123456789012-1234567890123456-01", Ok((0x00, 0x01))),
        ("not sampled",
         "00-12345678901234567890123456789012-1234567890123456-00", Ok((0x00, 0x00))),
        ("level 2 random flag with sampled",
         "00-12345678901234567890123456789012-1234567890123456-03", Ok((0x00, 0x03))),
        ("unknown flags are parsed as received",
         "00-12345678901234567890123456789012-1234567890123456-ff", Ok((0x00, 0xff))),
        ("traceparent_ows_handling: leading space",
         " 00-12345678901234567890123456789012-1234567890123456-01", Ok((0x00, 0x01))),
        ("traceparent_ows_handling: leading tab",
         "\t00-12345678901234567890123456789012-1234567890123456-01", Ok((0x00, 0x01))),
        ("traceparent_ows_handling: trailing space",
         "00-12345678901234567890123456789012-1234567890123456-01 ", Ok((0x00, 0x01))),
        ("traceparent_ows_handling: trailing tab",
         "00-12345678901234567890123456789012-1234567890123456-01\t", Ok((0x00, 0x01))),
        ("traceparent_ows_handling: both sides",
         "\t 00-12345678901234567890123456789012-1234567890123456-01 \t", Ok((0x00, 0x01))),
        ("traceparent_version_0xcc: future version, exactly 55",
         "cc-12345678901234567890123456789012-1234567890123456-01", Ok((0xcc, 0x01))),
        ("traceparent_version_0xcc: future version with extra fields",
         "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
         Ok((0xcc, 0x01))),
        ("traceparent_version_0xcc: 56th character is not '-'",
         "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
         Err(ParseError::BadTrailer)),
        ("traceparent_version_0x00: trailing character",
         "00-12345678901234567890123456789012-1234567890123456-01.", Err(ParseError::BadLength)),
        ("traceparent_version_0x00: extra fields are not allowed in version 00",
         "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
         Err(ParseError::BadLength)),
        ("traceparent_version_0xff",
         "ff-12345678901234567890123456789012-1234567890123456-01", Err(ParseError::VersionFf)),
        ("traceparent_version_illegal_characters: first digit",
         ".0-12345678901234567890123456789012-1234567890123456-01", Err(ParseError::BadVersion)),
        ("traceparent_version_illegal_characters: second digit",
         "0.-12345678901234567890123456789012-1234567890123456-01", Err(ParseError::BadVersion)),
        ("uppercase version",
         "0A-12345678901234567890123456789012-1234567890123456-01", Err(ParseError::UppercaseHex)),
        ("traceparent_version_too_long: 3 digits",
         "000-12345678901234567890123456789012-1234567890123456-01", Err(ParseError::BadLength)),
        ("traceparent_version_too_long: 4 digits",
         "0000-12345678901234567890123456789012-1234567890123456-01", Err(ParseError::BadLength)),
        ("traceparent_version_too_short",
         "0-12345678901234567890123456789012-1234567890123456-01", Err(ParseError::BadVersion)),
        ("traceparent_trace_id_all_zero",
         "00-00000000000000000000000000000000-1234567890123456-01",
         Err(ParseError::TraceIdAllZero)),
        ("traceparent_trace_id_illegal_characters: first",
         "00-.2345678901234567890123456789012-1234567890123456-01", Err(ParseError::NotHex)),
        ("traceparent_trace_id_illegal_characters: last",
         "00-1234567890123456789012345678901.-1234567890123456-01", Err(ParseError::NotHex)),
        ("uppercase trace-id",
         "00-4BF92F3577B34DA6A3CE929D0E0E4736-1234567890123456-01",
         Err(ParseError::UppercaseHex)),
        ("traceparent_trace_id_too_long",
         "00-123456789012345678901234567890123-1234567890123456-01", Err(ParseError::BadLength)),
        ("traceparent_trace_id_too_long in a future version",
         "cc-123456789012345678901234567890123-1234567890123456-01",
         Err(ParseError::BadSeparator)),
        ("traceparent_trace_id_too_short",
         "00-1234567890123456789012345678901-1234567890123456-01", Err(ParseError::BadLength)),
        ("traceparent_parent_id_all_zero",
         "00-12345678901234567890123456789012-0000000000000000-01",
         Err(ParseError::ParentIdAllZero)),
        ("traceparent_parent_id_illegal_characters: first",
         "00-12345678901234567890123456789012-.234567890123456-01", Err(ParseError::NotHex)),
        ("traceparent_parent_id_illegal_characters: last",
         "00-12345678901234567890123456789012-123456789012345.-01", Err(ParseError::NotHex)),
        ("uppercase parent-id",
         "00-12345678901234567890123456789012-00F067AA0BA902B7-01",
         Err(ParseError::UppercaseHex)),
        ("traceparent_parent_id_too_long",
         "00-12345678901234567890123456789012-12345678901234567-01", Err(ParseError::BadLength)),
        ("traceparent_parent_id_too_short",
         "00-12345678901234567890123456789012-123456789012345-01", Err(ParseError::BadLength)),
        ("traceparent_trace_flags_illegal_characters: first",
         "00-12345678901234567890123456789012-1234567890123456-.0", Err(ParseError::BadFlags)),
        ("traceparent_trace_flags_illegal_characters: second",
         "00-12345678901234567890123456789012-1234567890123456-0.", Err(ParseError::BadFlags)),
        ("uppercase trace-flags",
         "00-12345678901234567890123456789012-1234567890123456-0F", Err(ParseError::UppercaseHex)),
        ("traceparent_trace_flags_too_long",
         "00-12345678901234567890123456789012-1234567890123456-001", Err(ParseError::BadLength)),
        ("traceparent_trace_flags_too_short",
         "00-12345678901234567890123456789012-1234567890123456-1", Err(ParseError::BadLength)),
        ("separator is not '-' after the version",
         "00_12345678901234567890123456789012-1234567890123456-01", Err(ParseError::BadSeparator)),
        ("separator is not '-' after the trace-id",
         "00-12345678901234567890123456789012_1234567890123456-01", Err(ParseError::BadSeparator)),
        ("separator is not '-' after the parent-id",
         "00-12345678901234567890123456789012-1234567890123456_01", Err(ParseError::BadSeparator)),
        ("empty header",                   "",       Err(ParseError::BadLength)),
        ("whitespace only",                " \t ",   Err(ParseError::BadLength)),
        ("version alone",                  "00",     Err(ParseError::BadLength)),
        ("inner whitespace is not OWS",
         "00- 2345678901234567890123456789012-1234567890123456-01", Err(ParseError::NotHex)),
    ];

    #[test]
    fn vectors() {
        for &(reason, input, expected) in VECTORS {
            let got = Repr::parse(input.as_bytes());
            match expected {
                Ok((version, flags)) => assert_eq!(got, Ok(repr(version, flags)), "{reason}"),
                Err(e) => assert_eq!(got, Err(e), "{reason}"),
            }
        }
    }

    #[test]
    fn emit_into_a5_buffer_writes_exact_bytes() {
        let mut buf = [0xa5; 60];
        assert_eq!(repr(0x00, 0x01).emit(&mut buf), Ok(LEN));
        assert_eq!(
            &buf[..LEN],
            b"00-12345678901234567890123456789012-1234567890123456-01"
        );
        assert!(buf[LEN..].iter().all(|&b| b == 0xa5), "wrote past LEN");
    }

    #[test]
    fn emit_downgrades_version_and_masks_unknown_flags() {
        let mut buf = [0xa5; LEN];
        repr(0xcc, 0xff).emit(&mut buf).unwrap();
        assert_eq!(
            &buf[..],
            b"00-12345678901234567890123456789012-1234567890123456-03"
        );
    }

    #[test]
    fn emit_rejects_truncated_buffers_without_writing() {
        for len in 0..LEN {
            let mut buf = [0xa5; LEN];
            assert_eq!(
                repr(0, 1).emit(&mut buf[..len]),
                Err(BufferTooSmall),
                "len {len}"
            );
            assert!(buf.iter().all(|&b| b == 0xa5));
        }
    }

    #[test]
    fn parse_rejects_every_truncation() {
        let full = b"00-12345678901234567890123456789012-1234567890123456-01";
        for len in 0..LEN {
            assert!(Repr::parse(&full[..len]).is_err(), "len {len}");
        }
    }

    #[test]
    fn round_trip_and_display() {
        let r = repr(0, 0x02);
        let text = r.to_header();
        assert_eq!(
            text.as_str(),
            "00-12345678901234567890123456789012-1234567890123456-02"
        );
        assert_eq!(Repr::parse(text.as_bytes()), Ok(r));
        assert_eq!(format!("{r}"), text.as_str());
        let mut calls = Vec::new();
        r.with_header(|value| calls.push(String::from(value)));
        assert_eq!(calls, [text.as_str()]);
        assert_eq!(r.buffer_len(), LEN);
    }

    #[test]
    fn errors_display_their_rule() {
        assert_eq!(
            format!("{}", ParseError::VersionFf),
            "traceparent version ff is forbidden"
        );
        assert_eq!(format!("{BufferTooSmall}"), "output buffer too small");
    }

    fn arb_repr() -> impl Strategy<Value = Repr> {
        (any::<[u8; 16]>(), any::<[u8; 8]>(), any::<u8>())
            .prop_filter("ids must be valid", |(t, p, _)| {
                t.iter().any(|&b| b != 0) && p.iter().any(|&b| b != 0)
            })
            .prop_map(|(t, p, f)| Repr {
                version: 0,
                trace_id: TraceId::from_bytes(t),
                parent_id: SpanId::from_bytes(p),
                flags: TraceFlags::from_bits(f & TraceFlags::KNOWN_V00),
            })
    }

    /// W3C Trace Context § 3.2 and its versioning rules (§ 3.2.4), read independently of
    /// the parser: `(version, trace id, parent id, flags)` of a header a receiver
    /// accepts, surrounding spaces and tabs (HTTP's OWS) aside.
    fn spec_accepts(text: &[u8]) -> Option<(u8, [u8; 16], [u8; 8], u8)> {
        let start = text
            .iter()
            .position(|c| !b" \t".contains(c))
            .unwrap_or(text.len());
        let end = text
            .iter()
            .rposition(|c| !b" \t".contains(c))
            .map_or(start, |i| i + 1);
        let text = &text[start..end];
        let lower_hex = |s: &[u8]| s.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        let bytes = |s: &[u8]| -> std::vec::Vec<u8> {
            s.chunks(2)
                .map(|pair| u8::from_str_radix(core::str::from_utf8(pair).unwrap(), 16).unwrap())
                .collect()
        };
        // Version: two lowercase hex digits, never `ff`; 00 is exactly 55 characters, a
        // higher version at least 55, and a 56th one must be a dash.
        let version = text.get(..2)?;
        if !lower_hex(version) || version == b"ff" || text.len() < 55 {
            return None;
        }
        if (version == b"00" && text.len() != 55) || text.get(55).is_some_and(|&c| c != b'-') {
            return None;
        }
        if [2, 35, 52].iter().any(|&i| text[i] != b'-') {
            return None;
        }
        let (trace, parent, flags) = (&text[3..35], &text[36..52], &text[53..55]);
        if !(lower_hex(trace) && lower_hex(parent) && lower_hex(flags)) {
            return None;
        }
        if trace.iter().all(|&c| c == b'0') || parent.iter().all(|&c| c == b'0') {
            return None;
        }
        Some((
            bytes(version)[0],
            bytes(trace).try_into().unwrap(),
            bytes(parent).try_into().unwrap(),
            bytes(flags)[0],
        ))
    }

    /// A header built from fields senders get right and wrong.
    fn near_valid_header() -> impl Strategy<Value = String> {
        let hex_or_not = |n: usize| {
            prop_oneof![
                12 => proptest::string::string_regex(&std::format!("[0-9a-f]{{{n}}}")).unwrap(),
                1 => proptest::string::string_regex(&std::format!("[0-9a-fA-F]{{{n}}}")).unwrap(),
                1 => Just("0".repeat(n)),
                1 => proptest::string::string_regex(&std::format!("[0-9a-f]{{{},{}}}", n - 1, n + 1)).unwrap(),
                1 => proptest::string::string_regex(&std::format!("[0-9a-gx .-]{{{n}}}")).unwrap(),
            ]
        };
        let separator = || prop_oneof![20 => Just("-"), 1 => Just("_"), 1 => Just("")];
        (
            "[ \t]{0,2}",
            prop_oneof![3 => Just(String::from("00")), 1 => Just(String::from("ff")), 3 => hex_or_not(2)],
            separator(),
            hex_or_not(32),
            separator(),
            hex_or_not(16),
            separator(),
            hex_or_not(2),
            prop_oneof![6 => Just(""), 1 => Just("-"), 1 => Just("-what-comes-next"), 1 => Just("x"), 1 => Just("0")],
            "[ \t]{0,2}",
        )
            .prop_map(|(a, v, s1, t, s2, p, s3, f, trailer, b)| {
                std::format!("{a}{v}{s1}{t}{s2}{p}{s3}{f}{trailer}{b}")
            })
    }

    proptest! {
        // Parsing is cheap: enough cases that each rule is met and broken many times.
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Whatever a header holds, the parser accepts exactly what the spec accepts,
        /// with the same fields (an independent reading of the rules, not the fast path
        /// against the slow one).
        #[test]
        fn parse_agrees_with_the_spec(header in near_valid_header()) {
            let parsed = Repr::parse(header.as_bytes()).ok().map(|r| {
                (r.version, r.trace_id.to_bytes(), r.parent_id.to_bytes(), r.flags.bits())
            });
            prop_assert_eq!(parsed, spec_accepts(header.as_bytes()), "{:?}", header);
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Repr::parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_near_valid_text(
            s in "[0-9a-fA-F \t.-]{0,3}-[0-9a-f-]{30,34}-[0-9a-fA-F.-]{14,18}-[0-9a-f.-]{0,6}"
        ) {
            let _ = Repr::parse(s.as_bytes());
        }

        /// The fast path must agree with the field-by-field reading on every input it
        /// accepts, and leave every other input to it: one byte of a valid header (the
        /// all-zero ids included) replaced by any value, at any position.
        #[test]
        fn fast_path_agrees_with_the_checked_path(
            r in arb_repr(), pos in 0..LEN, byte in any::<u8>(), zero_id in 0u8..3
        ) {
            let mut text = [0; LEN];
            r.emit(&mut text).unwrap();
            match zero_id {
                1 => text[field::TRACE_ID].fill(b'0'),
                2 => text[field::PARENT_ID].fill(b'0'),
                _ => {}
            }
            text[pos] = byte;
            prop_assert_eq!(Repr::parse(&text), Repr::parse_checked(&text));
        }

        #[test]
        fn emitted_repr_parses_back_equal(r in arb_repr()) {
            let mut buf = [0xa5; LEN];
            prop_assert_eq!(r.emit(&mut buf), Ok(LEN));
            prop_assert_eq!(Repr::parse(&buf), Ok(r));
            let s: String = r.to_header().as_str().into();
            prop_assert_eq!(s.as_bytes(), &buf[..]);
        }

        #[test]
        fn higher_versions_parse_with_any_dash_suffix(
            r in arb_repr(), version in 1u8..0xff, suffix in "(-[a-z0-9]{0,8}){0,3}"
        ) {
            let mut text: Vec<u8> = Vec::new();
            text.extend_from_slice(r.to_header().as_bytes());
            text[..2].copy_from_slice(format!("{version:02x}").as_bytes());
            text.extend_from_slice(suffix.as_bytes());
            prop_assert_eq!(Repr::parse(&text), Ok(Repr { version, ..r }));
        }
    }
}
