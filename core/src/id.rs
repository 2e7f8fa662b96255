//! Trace and span identifiers and trace flags (W3C Trace Context § 3.2.2).
//!
//! Ids are plain byte arrays: `const fn` constructors, lowercase hex in and out, and
//! `is_valid()` for the spec's "all zeroes is invalid" rule.
//!
//! ```
//! use picotrace::{SpanId, TraceId};
//! let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")?;
//! assert!(id.is_valid());
//! assert_eq!(id.to_hex().as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert!(!SpanId::INVALID.is_valid());
//! # Ok::<(), picotrace::wire::HexError>(())
//! ```

use core::fmt;

use crate::text::InlineStr;
use crate::wire::hex::{self, HexError};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $len:literal, $hex_len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name([u8; $len]);

        /// Lowercase hex, as `Display` and the `traceparent` header write it (a derive
        /// would print a list of decimal bytes): the device sends the id as 64-bit words,
        /// the host formats them.
        #[cfg(feature = "defmt")]
        impl defmt::Format for $name {
            fn format(&self, f: defmt::Formatter<'_>) {
                for word in self.0.chunks_exact(8) {
                    let mut bytes = [0; 8];
                    bytes.copy_from_slice(word);
                    defmt::write!(f, "{=u64:016x}", u64::from_be_bytes(bytes));
                }
            }
        }

        impl $name {
            /// The all-zero id, which the spec declares invalid.
            pub const INVALID: Self = Self([0; $len]);
            /// Length in bytes.
            pub const LEN: usize = $len;
            /// Length of the lowercase hex form.
            pub const HEX_LEN: usize = $hex_len;

            /// Creates an id from its bytes (big-endian, as on the wire).
            #[inline]
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// Returns the id's bytes.
            #[inline]
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }

            /// Returns the id's bytes by reference.
            #[inline]
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Returns `true` unless every byte is zero.
            #[inline]
            pub const fn is_valid(&self) -> bool {
                // Every byte OR-ed, without an early exit: one or two word compares
                // once optimized, where a loop that returns at the first non-zero byte
                // stays a loop.
                let (mut i, mut any) = (0, 0);
                while i < $len {
                    any |= self.0[i];
                    i += 1;
                }
                any != 0
            }

            /// Parses lowercase hex of exactly the right length.
            ///
            /// An all-zero id parses (it is well-formed); check [`Self::is_valid`].
            ///
            /// # Errors
            /// [`HexError`] for a wrong length, uppercase or non-hex characters.
            #[inline]
            pub fn from_hex(text: &str) -> Result<Self, HexError> {
                Self::from_hex_bytes(text.as_bytes())
            }

            /// Parses lowercase hex given as bytes; see [`Self::from_hex`].
            ///
            /// # Errors
            /// [`HexError`] for a wrong length, uppercase or non-hex characters.
            #[inline]
            pub fn from_hex_bytes(text: &[u8]) -> Result<Self, HexError> {
                // The fixed-size decoder when the length is right; the general one names
                // what is wrong otherwise (and is the only one on microcontrollers,
                // where a second decoder would cost flash).
                if cfg!(target_pointer_width = "64") {
                    if let Ok(digits) = <&[u8; $hex_len]>::try_from(text) {
                        if let (bytes, true) = hex::decode_array::<$hex_len, $len>(digits) {
                            return Ok(Self(bytes));
                        }
                    }
                }
                let mut bytes = [0; $len];
                hex::decode(text, &mut bytes)?;
                Ok(Self(bytes))
            }

            /// Writes the lowercase hex form into `out`.
            #[inline]
            pub fn write_hex(&self, out: &mut [u8; $hex_len]) {
                // Lengths match by construction, so this cannot fail.
                let _ = hex::encode(&self.0, out);
            }

            /// Returns the lowercase hex form.
            pub fn to_hex(&self) -> InlineStr<$hex_len> {
                let mut buf = [0; $hex_len];
                self.write_hex(&mut buf);
                let mut s = heapless::String::new();
                // Capacity is exactly the hex length; hex digits are ASCII.
                if let Ok(text) = core::str::from_utf8(&buf) {
                    let _ = s.push_str(text);
                }
                InlineStr::from_heapless(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buf = [0; $hex_len];
                self.write_hex(&mut buf);
                // Hex digits are ASCII, so this is valid UTF-8.
                f.write_str(core::str::from_utf8(&buf).unwrap_or(""))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

id_type!(
    /// A 16-byte trace id, shared by every span of one trace.
    TraceId, 16, 32
);
id_type!(
    /// An 8-byte span id, unique within its trace.
    SpanId, 8, 16
);

impl TraceId {
    /// Creates an id from its high and low 64 bits.
    #[inline]
    pub const fn from_u64_pair(high: u64, low: u64) -> Self {
        // One 128-bit value, not sixteen bytes: the compiler keeps it in words (built
        // byte by byte, it was stored a byte at a time on a Cortex-M3).
        Self(((high as u128) << 64 | low as u128).to_be_bytes())
    }

    /// Returns the rightmost 7 bytes as a 56-bit number: the randomness that W3C
    /// Level 2 guarantees when the random flag is set, and that OpenTelemetry's
    /// probability samplers compare against their threshold.
    #[inline]
    pub const fn random_part(&self) -> u64 {
        let b = &self.0;
        u64::from_be_bytes([0, b[9], b[10], b[11], b[12], b[13], b[14], b[15]])
    }
}

impl SpanId {
    /// Creates an id from a 64-bit number (big-endian on the wire).
    #[inline]
    pub const fn from_u64(id: u64) -> Self {
        Self(id.to_be_bytes())
    }
}

/// The 8-bit trace flags of a `traceparent` (W3C Trace Context § 3.2.2.5).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(u8);

/// Two hex digits, as in `traceparent` (`01` = sampled).
#[cfg(feature = "defmt")]
impl defmt::Format for TraceFlags {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=u8:02x}", self.0)
    }
}

impl TraceFlags {
    /// Bit 0: the caller may have recorded the trace (it was sampled).
    pub const SAMPLED: Self = Self(0x01);
    /// Bit 1 (Level 2): at least the rightmost 7 bytes of the trace id are random.
    pub const RANDOM_TRACE_ID: Self = Self(0x02);
    /// No flags set.
    pub const NONE: Self = Self(0);
    /// The flags version 00 defines; other bits are not propagated in version 00 output.
    pub const KNOWN_V00: u8 = 0x03;
    /// Not a W3C flag: B3's and Jaeger's *debug* flag, kept from extraction (it also
    /// sets sampled) so that injecting B3 or Jaeger headers from the context, or from
    /// its spans' contexts, passes it on, as OpenTelemetry's B3 rules ask. Never
    /// written in `traceparent` (masked by [`TraceFlags::KNOWN_V00`]) nor in OTLP.
    pub const DEBUG: Self = Self(0x80);

    /// Creates flags from their byte.
    #[inline]
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits)
    }

    /// Returns the flags byte.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Returns whether the sampled bit is set.
    #[inline]
    pub const fn is_sampled(self) -> bool {
        self.0 & Self::SAMPLED.0 != 0
    }

    /// Returns whether the B3 / Jaeger debug flag ([`TraceFlags::DEBUG`]) is set.
    #[inline]
    pub const fn is_debug(self) -> bool {
        self.0 & Self::DEBUG.0 != 0
    }

    /// Returns whether the random-trace-id bit is set.
    #[inline]
    pub const fn is_random_trace_id(self) -> bool {
        self.0 & Self::RANDOM_TRACE_ID.0 != 0
    }

    /// Returns these flags with the sampled bit set or cleared.
    #[inline]
    #[must_use]
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            Self(self.0 | Self::SAMPLED.0)
        } else {
            Self(self.0 & !Self::SAMPLED.0)
        }
    }

    /// Returns these flags with the random-trace-id bit set or cleared.
    #[inline]
    #[must_use]
    pub const fn with_random_trace_id(self, random: bool) -> Self {
        if random {
            Self(self.0 | Self::RANDOM_TRACE_ID.0)
        } else {
            Self(self.0 & !Self::RANDOM_TRACE_ID.0)
        }
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_hex_round_trip() {
        let id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        assert_eq!(id.as_bytes()[0], 0x0a);
        assert_eq!(id.as_bytes()[15], 0x9c);
        assert_eq!(id.to_hex().as_str(), "0af7651916cd43dd8448eb211c80319c");
        extern crate std;
        assert_eq!(std::format!("{id}"), "0af7651916cd43dd8448eb211c80319c");
    }

    #[test]
    fn all_zero_ids_are_invalid() {
        assert!(!TraceId::from_hex("00000000000000000000000000000000")
            .unwrap()
            .is_valid());
        assert!(!SpanId::from_hex("0000000000000000").unwrap().is_valid());
        assert!(SpanId::from_hex("0000000000000001").unwrap().is_valid());
    }

    #[test]
    fn rejects_uppercase_and_wrong_length() {
        assert_eq!(
            SpanId::from_hex("00F067AA0BA902B7"),
            Err(HexError::Uppercase)
        );
        assert_eq!(
            SpanId::from_hex("00f067aa0ba902b"),
            Err(HexError::BadLength)
        );
    }

    #[test]
    fn random_part_is_rightmost_seven_bytes() {
        let id = TraceId::from_hex("ffffffffffffffffff0123456789abcd").unwrap();
        assert_eq!(id.random_part(), 0x0123456789abcd);
    }

    #[test]
    fn flags_bits() {
        let f = TraceFlags::NONE
            .with_sampled(true)
            .with_random_trace_id(true);
        assert_eq!(f.bits(), 0x03);
        assert!(f.is_sampled() && f.is_random_trace_id());
        assert!(!f.with_sampled(false).is_sampled());
    }
}
