//! Lowercase hexadecimal, the only case W3C Trace Context accepts.
//!
//! Decoding rejects uppercase digits (W3C Trace Context § 3.2.2.2: "implementations
//! MUST ignore the traceparent when the trace-id is not lowercase hex").

/// Why a hex string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HexError {
    /// The input does not have exactly twice as many digits as the output has bytes.
    BadLength,
    /// An `A`-`F` digit: valid hex, but not the lowercase form the spec requires.
    Uppercase,
    /// A character that is not a hex digit at all.
    NotHex,
}

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
    let mut bad = 0;
    for (pair, out) in src.chunks_exact(2).zip(dst.iter_mut()) {
        let (hi, lo) = (DECODE[usize::from(pair[0])], DECODE[usize::from(pair[1])]);
        bad |= hi | lo;
        *out = (hi << 4) | (lo & 0x0f);
    }
    if bad & INVALID != 0 {
        return Err(classify(src));
    }
    Ok(())
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
    for (byte, pair) in src.iter().zip(dst.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn rejects_uppercase_and_non_hex() {
        let mut out = [0; 1];
        assert_eq!(decode(b"aF", &mut out), Err(HexError::Uppercase));
        assert_eq!(decode(b"g0", &mut out), Err(HexError::NotHex));
        assert_eq!(decode(b"0", &mut out), Err(HexError::BadLength));
        assert_eq!(decode(b"-1", &mut out), Err(HexError::NotHex));
    }
}
