//! Lowercase hexadecimal, the only case W3C Trace Context accepts.
//!
//! Decoding rejects uppercase digits (W3C Trace Context § 3.2.2.2: "implementations
//! MUST ignore the traceparent when the trace-id is not lowercase hex").

/// Why a hex string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HexError {
    /// The input does not have exactly twice as many digits as the output has bytes.
    BadLength,
    /// An `A`-`F` digit: valid hex, but not the lowercase form the spec requires.
    Uppercase,
    /// A character that is not a hex digit at all.
    NotHex,
}

impl core::fmt::Display for HexError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            HexError::BadLength => "hex text of the wrong length",
            HexError::Uppercase => "uppercase hex digit (only lowercase is allowed)",
            HexError::NotHex => "not a hex digit",
        })
    }
}

impl core::error::Error for HexError {}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Marks a byte that is not a lowercase hex digit in [`DECODE`].
const INVALID: u8 = 0x10;

/// Each byte's digit value, or [`INVALID`]: one table load per character, and one error
/// check per pair instead of a branch per character.
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Names the rule a rejected character breaks (the slow path, taken once per error).
#[cold]
fn classify(text: &[u8]) -> HexError {
    match text.iter().find(|c| DECODE[usize::from(**c)] == INVALID) {
        Some(b'A'..=b'F') => HexError::Uppercase,
        _ => HexError::NotHex,
    }
}

/// Decodes lowercase hex `src` into `dst`, which must be exactly half as long.
///
/// # Errors
/// [`HexError`] names the first rule `src` breaks; `dst` may be partly written then.
#[inline]
pub fn decode(src: &[u8], dst: &mut [u8]) -> Result<(), HexError> {
    if src.len() != dst.len() * 2 {
        return Err(HexError::BadLength);
    }
    // On 64-bit CPUs eight digits at a time (ids are 16 and 32 digits); the rest, and
    // everything on microcontrollers (where u64 arithmetic costs flash), a pair at a
    // time through the table.
    let mut valid = true;
    let mut words = 0;
    if cfg!(target_pointer_width = "64") {
        for (digits, bytes) in src.chunks_exact(8).zip(dst.chunks_exact_mut(4)) {
            let mut word = [0; 8];
            word.copy_from_slice(digits);
            let (value, ok) = decode8(u64::from_le_bytes(word));
            valid &= ok;
            bytes.copy_from_slice(&value.to_le_bytes());
        }
        words = src.len() / 8;
    }
    let mut bad = 0;
    let (text, out) = (&src[words * 8..], &mut dst[words * 4..]);
    for (pair, out) in text.chunks_exact(2).zip(out.iter_mut()) {
        let (hi, lo) = (DECODE[usize::from(pair[0])], DECODE[usize::from(pair[1])]);
        bad |= hi | lo;
        *out = (hi << 4) | (lo & 0x0f);
    }
    if !valid || bad & INVALID != 0 {
        return Err(classify(src));
    }
    Ok(())
}

/// Decodes exactly `D` lowercase hex digits into `B = D / 2` bytes, and says whether all
/// were such digits (the output is then meaningless). No error is named: callers that
/// need the reason call [`decode`] on the failure path.
///
/// Ids have fixed lengths, so this is the hot path of `traceparent` parsing on servers:
/// a branch-free loop over every digit, then over every pair, which LLVM unrolls and
/// turns into SIMD (SSE2, NEON), with one validity check at the end. Microcontrollers,
/// which have no vector unit, use [`decode`] only.
#[inline(always)]
pub(crate) fn decode_array<const D: usize, const B: usize>(src: &[u8; D]) -> ([u8; B], bool) {
    const { assert!(D == 2 * B) };
    let mut nibbles = [0u8; D];
    let mut bad = false;
    for (nibble, &c) in nibbles.iter_mut().zip(src) {
        let (digit, letter) = (c.wrapping_sub(b'0'), c.wrapping_sub(b'a'));
        let (is_digit, is_letter) = (digit < 10, letter < 6);
        *nibble = if is_digit {
            digit
        } else {
            letter.wrapping_add(10)
        } & 0x0f;
        bad |= !(is_digit | is_letter);
    }
    let mut out = [0; B];
    // Whole vectors of pairs pack in SIMD; a tail of 8 bytes (the span id after the
    // trace id) LLVM packed byte by byte, so it is packed in words (callgrind, W4
    // `traceparent` parse: 206 to 185 instructions).
    let vector = match B / 16 * 16 {
        whole if cfg!(target_pointer_width = "64") && (B - whole).is_multiple_of(4) => whole,
        _ => B,
    };
    for (byte, pair) in out[..vector].iter_mut().zip(nibbles.chunks_exact(2)) {
        *byte = (pair[0] << 4) | pair[1];
    }
    for (bytes, word) in out[vector..]
        .chunks_exact_mut(4)
        .zip(nibbles[2 * vector..].chunks_exact(8))
    {
        let mut eight = [0; 8];
        eight.copy_from_slice(word);
        bytes.copy_from_slice(&pack8(u64::from_le_bytes(eight)).to_le_bytes());
    }
    (out, !bad)
}

/// Packs eight nibbles (one per byte, the first, high one in the lowest byte) into four
/// bytes, the first in the lowest byte.
#[inline(always)]
const fn pack8(nibbles: u64) -> u32 {
    let pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00ff_00ff_00ff_00ff;
    let pairs = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    (pairs | (pairs >> 16)) as u32
}

/// Bytes with only their top bit set, and with only their lowest bit set.
const HIGH: u64 = 0x8080_8080_8080_8080;
const ONES: u64 = 0x0101_0101_0101_0101;

/// Top bit of each byte of `x` (all below 0x80) set where that byte is at least `lo`.
/// Each byte's subtraction starts at 0x80 or more, so none borrows from its neighbour.
#[inline(always)]
const fn at_least(x: u64, lo: u8) -> u64 {
    ((x | HIGH) - lo as u64 * ONES) & HIGH
}

/// Decodes eight lowercase hex digits (the first in the lowest byte) into four bytes
/// (the first in the lowest byte), and says whether all eight were such digits.
#[inline(always)]
const fn decode8(x: u64) -> (u32, bool) {
    let ascii = x & HIGH == 0;
    let digit = at_least(x, b'0') & !at_least(x, b'9' + 1);
    let letter = at_least(x, b'a') & !at_least(x, b'f' + 1);
    let ok = ascii && (digit | letter) == HIGH;
    // '0'..'9' are 0x30..0x39 and 'a'..'f' 0x61..0x66: the low nibble, plus 9 for letters.
    let nibbles = (x & (ONES * 0x0f)) + (letter >> 7) * 9;
    // Byte 2k becomes digit 2k << 4 | digit 2k+1; then bytes 0, 2, 4, 6 close up.
    let pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00ff_00ff_00ff_00ff;
    let pairs = (pairs | (pairs >> 8)) & 0x0000_ffff_0000_ffff;
    let bytes = (pairs | (pairs >> 16)) as u32;
    (bytes, ok)
}

/// Encodes four bytes (the first in the lowest byte) as eight lowercase hex digits (the
/// first in the lowest byte).
#[inline(always)]
const fn encode4(x: u32) -> u64 {
    // Byte k moves to byte 2k, its high nibble staying there and its low one moving up.
    let spread = x as u64;
    let spread = (spread | (spread << 16)) & 0x0000_ffff_0000_ffff;
    let spread = (spread | (spread << 8)) & 0x00ff_00ff_00ff_00ff;
    let nibbles = ((spread >> 4) & (ONES * 0x0f)) | ((spread & (ONES * 0x0f)) << 8);
    // Nibbles of 10 or more reach the top bit when 0x76 is added: they become letters.
    let letters = ((nibbles + ONES * 0x76) & HIGH) >> 7;
    nibbles + ONES * b'0' as u64 + letters * (b'a' - b'0' - 10) as u64
}

/// Encodes `B` bytes as `D = 2 * B` lowercase hex digits: the fixed-size counterpart of
/// [`decode_array`], for ids on servers. High and low digits are made in two arrays and
/// then interleaved: each step is one LLVM turns into SIMD (SSE2: an unpack for the
/// interleave), where splitting into nibbles first did not vectorize. Microcontrollers
/// use [`encode`].
#[inline(always)]
pub(crate) fn encode_array<const B: usize, const D: usize>(src: &[u8; B]) -> [u8; D] {
    const { assert!(D == 2 * B) };
    #[inline(always)]
    fn digit(nibble: u8) -> u8 {
        nibble + b'0' + u8::from(nibble > 9) * (b'a' - b'0' - 10)
    }
    let (mut high, mut low) = ([0u8; B], [0u8; B]);
    for ((h, l), &byte) in high.iter_mut().zip(low.iter_mut()).zip(src) {
        (*h, *l) = (digit(byte >> 4), digit(byte & 0x0f));
    }
    let mut out = [0u8; D];
    for (pair, (&h, &l)) in out.chunks_exact_mut(2).zip(high.iter().zip(&low)) {
        (pair[0], pair[1]) = (h, l);
    }
    out
}

/// Encodes `src` as lowercase hex into `dst`, which must be exactly twice as long.
///
/// # Errors
/// [`HexError::BadLength`] when `dst` is not twice as long as `src`.
#[inline]
pub fn encode(src: &[u8], dst: &mut [u8]) -> Result<(), HexError> {
    if dst.len() != src.len() * 2 {
        return Err(HexError::BadLength);
    }
    // Four bytes at a time on 64-bit CPUs (see `decode`).
    let mut words = 0;
    if cfg!(target_pointer_width = "64") {
        for (four, eight) in src.chunks_exact(4).zip(dst.chunks_exact_mut(8)) {
            let mut word = [0; 4];
            word.copy_from_slice(four);
            eight.copy_from_slice(&encode4(u32::from_le_bytes(word)).to_le_bytes());
        }
        words = src.len() / 4;
    }
    for (byte, pair) in src[words * 4..]
        .iter()
        .zip(dst[words * 8..].chunks_exact_mut(2))
    {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (found by review): `HexError` had no `Display` or `Error`, so
    /// `TraceId::from_hex(s)?` did not compile in a function returning a boxed error.
    #[test]
    fn errors_are_std_errors() {
        fn parse(text: &str) -> Result<crate::TraceId, std::boxed::Box<dyn core::error::Error>> {
            Ok(crate::TraceId::from_hex(text)?)
        }
        let error = parse("4BF92F3577B34DA6A3CE929D0E0E4736").unwrap_err();
        assert_eq!(
            std::string::ToString::to_string(&error),
            "uppercase hex digit (only lowercase is allowed)"
        );
        assert!(parse("4bf92f3577b34da6a3ce929d0e0e4736").is_ok());
    }

    #[test]
    fn round_trips_every_byte() {
        let bytes: [u8; 256] = core::array::from_fn(|i| i as u8);
        let mut text = [0xa5; 512];
        encode(&bytes, &mut text).unwrap();
        assert_eq!(&text[..8], b"00010203");
        assert_eq!(&text[510..], b"ff");
        let mut back = [0; 256];
        decode(&text, &mut back).unwrap();
        assert_eq!(back, bytes);
    }

    /// The table, one character at a time: what the eight-digit path must agree with.
    fn reference(src: &[u8], dst: &mut [u8]) -> Result<(), HexError> {
        if src.len() != dst.len() * 2 {
            return Err(HexError::BadLength);
        }
        for (pair, out) in src.chunks_exact(2).zip(dst.iter_mut()) {
            let (hi, lo) = (DECODE[usize::from(pair[0])], DECODE[usize::from(pair[1])]);
            if (hi | lo) & INVALID != 0 {
                return Err(classify(src));
            }
            *out = (hi << 4) | lo;
        }
        Ok(())
    }

    #[test]
    fn every_byte_value_at_every_position_of_a_long_id_decodes_as_the_table_does() {
        // 32 digits (a trace id) plus 2 (the remainder path): each position takes all
        // 256 byte values, the others stay valid digits of both kinds. The fixed-size
        // decoder reads the first 32.
        each_byte_at_each_position(*b"0123456789abcdef0f1e2d3c4b5a69788a", |text, at| {
            let (mut fast, mut slow) = ([0u8; 17], [0u8; 17]);
            let (a, b) = (decode(text, &mut fast), reference(text, &mut slow));
            assert_eq!(a, b, "{at}");
            if a.is_ok() {
                assert_eq!(fast, slow, "{at}");
            }
            let id: &[u8; 32] = text[..32].try_into().unwrap();
            fixed_size_decode_matches_the_table::<32, 16>(id, at);
        });
    }

    /// Runs `check` on `base` with each position set to each of the 256 byte values
    /// (and a description of the change, for messages).
    fn each_byte_at_each_position<const L: usize>(
        base: [u8; L],
        mut check: impl FnMut(&[u8; L], &str),
    ) {
        for pos in 0..L {
            for c in 0..=255u8 {
                let mut text = base;
                text[pos] = c;
                check(&text, &std::format!("byte {c:#04x} at {pos}"));
            }
        }
    }

    /// [`decode_array`] accepts what the table accepts, with the same bytes.
    fn fixed_size_decode_matches_the_table<const D: usize, const B: usize>(
        text: &[u8; D],
        at: &str,
    ) {
        let mut slow = [0u8; B];
        let expected = reference(text, &mut slow);
        let (fixed, ok) = decode_array::<D, B>(text);
        assert_eq!(ok, expected.is_ok(), "{at}");
        if ok {
            assert_eq!(fixed, slow, "{at}");
        }
    }

    #[test]
    fn the_fixed_size_decoder_reads_both_ids_at_once_as_the_table_does() {
        // 48 digits, as `traceparent` parsing decodes the trace and span ids together:
        // 16 bytes packed as a vector and an 8-byte tail packed in words.
        each_byte_at_each_position(
            *b"4bf92f3577b34da6a3ce929d0e0e473600f067aa0ba902b7",
            fixed_size_decode_matches_the_table::<48, 24>,
        );
        for byte in 0..=255u8 {
            let text = [
                DIGITS[usize::from(byte >> 4)],
                DIGITS[usize::from(byte & 0x0f)],
            ];
            assert_eq!(decode_array::<2, 1>(&text), ([byte], true));
        }
    }

    #[test]
    fn the_fixed_size_decoder_reads_span_ids_and_flags() {
        assert_eq!(
            decode_array::<16, 8>(b"00f067aa0ba902b7").0,
            0x00f0_67aa_0ba9_02b7u64.to_be_bytes()
        );
        assert!(!decode_array::<16, 8>(b"00f067aa0bA902b7").1);
        assert!(!decode_array::<2, 1>(b"F0").1);
    }

    #[test]
    fn encodes_every_length_as_the_table_does() {
        let bytes: [u8; 23] = core::array::from_fn(|i| (i as u8).wrapping_mul(97) ^ 0xa5);
        for n in 0..=bytes.len() {
            let mut text = [0u8; 46];
            encode(&bytes[..n], &mut text[..2 * n]).unwrap();
            for (i, b) in bytes[..n].iter().enumerate() {
                assert_eq!(text[2 * i], DIGITS[usize::from(b >> 4)], "{n} {i}");
                assert_eq!(text[2 * i + 1], DIGITS[usize::from(b & 15)], "{n} {i}");
            }
        }
    }

    #[test]
    fn the_fixed_size_encoder_writes_what_the_table_does() {
        let bytes: [u8; 24] = core::array::from_fn(|i| (i as u8).wrapping_mul(89) ^ 0x5a);
        let fixed: [u8; 48] = encode_array(&bytes);
        let mut table = [0u8; 48];
        encode(&bytes, &mut table).unwrap();
        assert_eq!(fixed, table);
        let every: [u8; 256] = core::array::from_fn(|i| i as u8);
        let fixed: [u8; 512] = encode_array(&every);
        let mut table = [0u8; 512];
        encode(&every, &mut table).unwrap();
        assert_eq!(fixed, table);
    }

    #[test]
    fn rejects_uppercase_and_non_hex() {
        let mut out = [0; 1];
        assert_eq!(decode(b"aF", &mut out), Err(HexError::Uppercase));
        assert_eq!(decode(b"g0", &mut out), Err(HexError::NotHex));
        assert_eq!(decode(b"0", &mut out), Err(HexError::BadLength));
        assert_eq!(decode(b"-1", &mut out), Err(HexError::NotHex));
    }
}
