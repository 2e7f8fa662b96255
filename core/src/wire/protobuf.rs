//! A minimal protocol buffers writer over a caller's `&mut [u8]` (encoding only).
//!
//! Implements the parts of the [protobuf wire format] that OTLP needs: varints, field
//! tags, length-delimited fields, `fixed64`, `fixed32` and `double`.
//!
//! One concrete [`Writer`] both measures and writes: it always advances its
//! [`position`](Writer::position) and stores the bytes when they fit in its buffer. A
//! writer over an empty buffer ([`Writer::counter`]) thus only counts, and the same
//! encoding code gives both the length and the bytes, which cannot disagree. A write
//! that does not fit is dropped whole (the buffer keeps what it held there), and so is
//! every write after it; [`Writer::written`] then reports [`BufferTooSmall`]. Callers
//! that must leave the buffer untouched when the output does not fit measure first.
//!
//! A nested message ([`Writer::message`]) is written in one pass: its tag, one byte
//! reserved for its length, its body, then its length; a body of 128 bytes or more,
//! whose length takes more than one byte, is moved up to make room. The output is the
//! canonical encoding (minimal length prefixes), and every nested message is encoded
//! once however deep it sits.
//!
//! On bare-metal targets (`target_os = "none"`) the field writers stay out of line, to
//! save flash; elsewhere they are inlined, for speed.
//!
//! [protobuf wire format]: https://protobuf.dev/programming-guides/encoding/
//!
//! ```
//! use picotrace::wire::protobuf::Writer;
//! let mut buf = [0u8; 8];
//! let mut w = Writer::new(&mut buf);
//! w.uint64_field(1, 150); // the protobuf guide's example: 08 96 01
//! assert_eq!(w.written()?, &[0x08, 0x96, 0x01]);
//! # Ok::<(), picotrace::BufferTooSmall>(())
//! ```

pub use crate::wire::traceparent::BufferTooSmall;

/// The wire type of a field, the low three bits of its tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WireType {
    /// `int32`, `int64`, `uint32`, `uint64`, `bool`, `enum`.
    Varint = 0,
    /// `fixed64`, `sfixed64`, `double`.
    I64 = 1,
    /// `string`, `bytes`, embedded messages, packed repeated fields.
    Len = 2,
    /// `fixed32`, `sfixed32`, `float`.
    I32 = 5,
}

/// Returns the number of bytes the varint encoding of `v` takes (1 to 10).
#[inline]
pub const fn varint_len(v: u64) -> usize {
    // Each byte carries 7 bits; zero still takes one byte.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Returns the number of bytes the tag of field number `field` takes.
#[inline]
pub const fn tag_len(field: u32) -> usize {
    varint_len((field as u64) << 3)
}

/// Returns the number of bytes the varint encoding of a length takes: [`varint_len`]
/// in `usize` arithmetic, which is cheaper on 32-bit targets.
#[inline]
pub const fn len_varint_len(len: usize) -> usize {
    let bits = usize::BITS - (len | 1).leading_zeros();
    bits.div_ceil(7) as usize
}

/// Returns the size of a length-delimited field: tag, length prefix and `body_len`.
#[inline]
pub const fn len_field_len(field: u32, body_len: usize) -> usize {
    tag_len(field) + len_varint_len(body_len) + body_len
}

/// A protobuf message body that can be measured and written.
pub trait Message {
    /// Writes the message body (its fields, without tag or length prefix).
    fn encode(&self, w: &mut Writer<'_>);

    /// Returns the exact number of bytes [`Message::encode`] writes.
    ///
    /// Implementors may override it with a cheaper computation that gives the same result.
    fn encoded_len(&self) -> usize {
        let mut counter = Writer::counter();
        self.encode(&mut counter);
        counter.position()
    }
}

impl<M: Message + ?Sized> Message for &M {
    #[inline]
    fn encode(&self, w: &mut Writer<'_>) {
        (**self).encode(w)
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
}

/// Bytes that already are an encoded message body (for example a pre-encoded span).
#[derive(Clone, Copy, Debug)]
pub struct RawMessage<'a>(pub &'a [u8]);

impl Message for RawMessage<'_> {
    #[inline]
    fn encode(&self, w: &mut Writer<'_>) {
        w.raw(self.0)
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
}

/// Writes `v` as a varint that fills `dst`, whose length is `varint_len(v)`.
#[inline]
pub(crate) fn put_varint(dst: &mut [u8], mut v: u64) {
    if let Some((last, init)) = dst.split_last_mut() {
        for b in init {
            *b = v as u8 | 0x80;
            v >>= 7;
        }
        *last = v as u8;
    }
}

/// Measures and writes protobuf into a caller's buffer, never past its end.
///
/// Every write advances [`position`](Self::position); its bytes are stored only when
/// they fit. Once a write does not fit, it and every later one are dropped and
/// [`written`](Self::written) reports [`BufferTooSmall`], while `position` keeps
/// counting: over an empty buffer ([`Writer::counter`]) a writer only measures.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'static> {
    /// Creates a writer that only counts bytes (it has no buffer).
    pub fn counter() -> Self {
        Self {
            buf: &mut [],
            pos: 0,
        }
    }
}

impl<'a> Writer<'a> {
    /// Creates a writer at the start of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }
}

impl Writer<'_> {
    /// Forgets what was produced after `position` (a field that did not fit).
    pub(crate) fn rewind(&mut self, position: usize) {
        self.pos = self.pos.min(position);
    }

    /// Returns how many bytes were produced, stored or not: the room the output needs.
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// Returns `true` when every byte produced so far was stored.
    pub const fn fits(&self) -> bool {
        self.pos <= self.buf.len()
    }

    /// Returns how many bytes are left (zero once a write did not fit).
    pub const fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Returns the bytes written so far.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when a write did not fit (for a counter: when anything was
    /// counted).
    pub fn written(&self) -> Result<&[u8], BufferTooSmall> {
        self.buf.get(..self.pos).ok_or(BufferTooSmall)
    }

    /// Appends raw bytes.
    #[inline]
    pub fn raw(&mut self, bytes: &[u8]) {
        match self.room(bytes.len()) {
            Some(dst) => {
                copy_short(dst, bytes);
                self.pos += bytes.len(); // within the buffer: no overflow
            }
            None => self.pos = self.pos.saturating_add(bytes.len()),
        }
    }

    /// Appends `v` as a varint.
    pub fn varint(&mut self, v: u64) {
        // Most varints (tags, lengths, small integers) are one byte.
        if v < 0x80 {
            return self.byte(v as u8);
        }
        let len = varint_len(v);
        match self.room(len) {
            Some(dst) => {
                put_varint(dst, v);
                self.pos += len; // within the buffer: no overflow
            }
            None => self.pos = self.pos.saturating_add(len),
        }
    }

    /// Appends `len` bytes that `fill` writes into the slice it is given (exactly `len`
    /// long): several fields of known length with one bounds check. When they do not
    /// fit, `fill` is not called and the position only counts them.
    #[inline]
    pub(crate) fn fill(&mut self, len: usize, fill: impl FnOnce(&mut [u8])) {
        match self.room(len) {
            Some(dst) => {
                fill(dst);
                self.pos += len; // within the buffer: no overflow
            }
            None => self.pos = self.pos.saturating_add(len),
        }
    }

    /// Returns the next `len` bytes of the buffer, when they are there.
    #[inline]
    fn room(&mut self, len: usize) -> Option<&mut [u8]> {
        self.buf.get_mut(self.pos..)?.get_mut(..len)
    }

    /// Appends one byte.
    #[cfg_attr(target_os = "none", inline(never))]
    pub fn byte(&mut self, b: u8) {
        match self.buf.get_mut(self.pos) {
            Some(dst) => {
                *dst = b;
                self.pos += 1; // within the buffer: no overflow
            }
            None => self.pos = self.pos.saturating_add(1),
        }
    }

    /// Appends a field tag.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    #[cfg_attr(target_os = "none", inline)]
    pub fn tag(&mut self, field: u32, wire_type: WireType) {
        let tag = (u64::from(field) << 3) | wire_type as u64;
        // Field numbers are constants: this picks the branch at compile time.
        if tag < 0x80 {
            self.byte(tag as u8)
        } else {
            self.varint(tag)
        }
    }

    /// Appends a `uint64`/`uint32`/`enum` field (always, even when zero).
    #[cfg_attr(not(target_os = "none"), inline)]
    pub fn uint64_field(&mut self, field: u32, v: u64) {
        self.tag(field, WireType::Varint);
        self.varint(v)
    }

    /// Appends an `int64` field: negative values take ten bytes (two's complement).
    #[cfg_attr(not(target_os = "none"), inline)]
    pub fn int64_field(&mut self, field: u32, v: i64) {
        self.uint64_field(field, v as u64)
    }

    /// Appends a `bool` field.
    #[cfg_attr(not(target_os = "none"), inline)]
    pub fn bool_field(&mut self, field: u32, v: bool) {
        self.uint64_field(field, u64::from(v))
    }

    /// Appends a `fixed64` field (little-endian).
    #[cfg_attr(not(target_os = "none"), inline)]
    pub fn fixed64_field(&mut self, field: u32, v: u64) {
        self.tag(field, WireType::I64);
        self.raw(&v.to_le_bytes())
    }

    /// Appends a `fixed32` field (little-endian).
    #[cfg_attr(not(target_os = "none"), inline)]
    pub fn fixed32_field(&mut self, field: u32, v: u32) {
        self.tag(field, WireType::I32);
        self.raw(&v.to_le_bytes())
    }

    /// Appends a `double` field (IEEE 754, little-endian; NaN and infinities as they are).
    #[cfg_attr(not(target_os = "none"), inline)]
    pub fn double_field(&mut self, field: u32, v: f64) {
        self.fixed64_field(field, v.to_bits())
    }

    /// Appends a `bytes` field.
    #[cfg_attr(not(target_os = "none"), inline)]
    pub fn bytes_field(&mut self, field: u32, v: &[u8]) {
        self.len_prefix(field, v.len());
        self.raw(v)
    }

    /// Appends a `string` field.
    #[cfg_attr(not(target_os = "none"), inline)]
    pub fn string_field(&mut self, field: u32, v: &str) {
        self.bytes_field(field, v.as_bytes())
    }

    /// Appends the tag and length prefix of a length-delimited field; the caller writes
    /// its `len`-byte body next.
    #[inline]
    pub fn len_prefix(&mut self, field: u32, len: usize) {
        let tag = (u64::from(field) << 3) | WireType::Len as u64;
        // The usual case, a short field: tag and length are a byte each, stored at once.
        if tag < 0x80 && len < 0x80 {
            match self.room(2) {
                Some(dst) => {
                    dst.copy_from_slice(&[tag as u8, len as u8]);
                    self.pos += 2; // within the buffer: no overflow
                }
                None => self.pos = self.pos.saturating_add(2),
            }
            return;
        }
        self.tag(field, WireType::Len);
        self.varint(len as u64)
    }

    /// Appends a length-delimited field holding `message`, encoded once (see the module
    /// docs).
    #[cfg_attr(not(target_os = "none"), inline)]
    pub fn message<M: Message + ?Sized>(&mut self, field: u32, message: &M) {
        let at = self.begin_message(field);
        message.encode(self);
        self.end_message(at);
    }

    /// As [`Writer::message`], for a message that usually takes 128 to 16,383 bytes (a
    /// span): two bytes are kept for its length, so its body moves only when it turns
    /// out shorter (by one byte, a short move) or longer. The output is the same.
    #[cfg_attr(not(target_os = "none"), inline)]
    pub fn large_message<M: Message + ?Sized>(&mut self, field: u32, message: &M) {
        self.tag(field, WireType::Len);
        let at = self.pos;
        self.byte(0);
        self.byte(0);
        message.encode(self);
        // `pos` never goes back, and it counted the two reserved bytes.
        let len = (self.pos - at).saturating_sub(2);
        let prefix = len_varint_len(len);
        // Patched (and moved) only when the whole message was stored; the position
        // counts the field either way.
        let stored = self.pos <= self.buf.len();
        let end = (at + prefix).saturating_add(len);
        if !stored && prefix == 1 && end <= self.buf.len() {
            // The spare reserved byte was the one that did not fit (a short message at
            // the very end of the buffer): write it again with one byte reserved.
            self.pos = at;
            self.byte(0);
            message.encode(self);
            return self.end_message(at);
        }
        if prefix == 2 {
            if let (true, Some(dst)) = (stored, self.buf.get_mut(at..at + 2)) {
                put_varint(dst, len as u64);
            }
            return;
        }
        // Move the body to just after a prefix of the right length: down by one, or up.
        if let (true, Some(field)) = (stored, self.buf.get_mut(at..end.max(at + 2 + len))) {
            field.copy_within(2..2 + len, prefix);
            if let Some(dst) = field.get_mut(..prefix) {
                put_varint(dst, len as u64);
            }
        }
        self.pos = end;
    }

    /// Writes the tag of a nested message and reserves one byte for its length; returns
    /// the position of that byte.
    fn begin_message(&mut self, field: u32) -> usize {
        self.tag(field, WireType::Len);
        let at = self.pos;
        self.byte(0);
        at
    }

    /// Writes the length of the nested message whose reserved length byte is at `at`,
    /// moving its body up when the length takes more than that byte.
    fn end_message(&mut self, at: usize) {
        // `pos` never goes back, and it counted the reserved byte.
        let len = (self.pos - at).saturating_sub(1);
        if len < 0x80 {
            // The usual case: the length fits the reserved byte (patched only when the
            // whole message was stored).
            if let Some(b) = self.buf.get_mut(at..self.pos).and_then(<[u8]>::first_mut) {
                *b = len as u8;
            }
            return;
        }
        let prefix = len_varint_len(len);
        let end = self.pos.saturating_add(prefix - 1);
        if let Some(field) = self.buf.get_mut(at..end) {
            if prefix > 1 {
                field.copy_within(1..=len, prefix);
            }
            if let Some(dst) = field.get_mut(..prefix) {
                put_varint(dst, len as u64);
            }
        }
        self.pos = end;
    }
}

/// Copies `src` into `dst` (of the same length) without a call where that is cheaper:
/// on 32-bit Arm CPUs that load and store words at any address (those with 32-bit
/// atomics: ARMv7-M and up; ARMv6-M has neither) in words, on x86-64 and AArch64 in two
/// overlapping moves (the C library's `memcpy` is a call of about 15 instructions for
/// the 2 to 40 bytes of a key or value: callgrind, W5 protobuf 1,375 to 1,254
/// instructions per span), elsewhere with `memcpy` (on ARMv6-M and RISC-V, where the
/// word moves would be byte moves, a call is smaller).
#[inline]
pub(crate) fn copy_short(dst: &mut [u8], src: &[u8]) {
    if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        copy_in_moves::<true>(dst, src);
    } else if cfg!(all(
        target_arch = "arm",
        target_pointer_width = "32",
        target_has_atomic = "32"
    )) {
        copy_in_moves::<false>(dst, src);
    } else {
        dst.copy_from_slice(src);
    }
}

/// Copies `src` into `dst` (of the same length; nothing is written otherwise). Up to 64
/// bytes (ids, keys, most values) go in fixed-size moves, the last one overlapping the
/// one before: with `WIDE` (64-bit CPUs, which move 16 bytes at any address) two moves
/// of 8, 16 or 32 bytes, else moves of 8 bytes in a loop, 4 or 1; instead of a `memcpy`
/// call, whose generic loop went a byte at a time to an unaligned place on Cortex-M
/// (Cortex-M3 W5: 3,709 to 2,980 instructions per encoded span).
#[inline]
fn copy_in_moves<const WIDE: bool>(dst: &mut [u8], src: &[u8]) {
    let len = src.len();
    if dst.len() != len {
        return;
    }
    match len {
        0 => {}
        1..=3 => {
            dst[0] = src[0];
            dst[len / 2] = src[len / 2];
            dst[len - 1] = src[len - 1];
        }
        4..=7 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[len - 4..].copy_from_slice(&src[len - 4..]);
        }
        8..=16 if WIDE => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[len - 8..].copy_from_slice(&src[len - 8..]);
        }
        17..=32 if WIDE => {
            dst[..16].copy_from_slice(&src[..16]);
            dst[len - 16..].copy_from_slice(&src[len - 16..]);
        }
        33..=64 if WIDE => {
            dst[..32].copy_from_slice(&src[..32]);
            dst[len - 32..].copy_from_slice(&src[len - 32..]);
        }
        8..=64 => {
            let mut at = 0;
            while at + 8 < len {
                dst[at..at + 8].copy_from_slice(&src[at..at + 8]);
                at += 8;
            }
            dst[len - 8..].copy_from_slice(&src[len - 8..]);
        }
        _ => dst.copy_from_slice(src),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn short_copies_match_memcpy_for_every_length_and_offset() {
        let src: std::vec::Vec<u8> = (0..=255u8).cycle().take(300).collect();
        type Copy = fn(&mut [u8], &[u8]);
        for copy in [copy_in_moves::<false> as Copy, copy_in_moves::<true>] {
            for len in 0..=80 {
                for offset in 0..8 {
                    let mut dst = [0xa5u8; 100];
                    copy(&mut dst[offset..offset + len], &src[3..3 + len]);
                    assert_eq!(&dst[offset..offset + len], &src[3..3 + len], "len {len}");
                    assert!(
                        dst[..offset].iter().all(|&b| b == 0xa5),
                        "before, len {len}"
                    );
                    assert!(
                        dst[offset + len..].iter().all(|&b| b == 0xa5),
                        "after, len {len}"
                    );
                }
            }
            // Slices of different lengths: nothing is written.
            let mut dst = [0u8; 4];
            copy(&mut dst, &[1, 2, 3]);
            assert_eq!(dst, [0; 4]);
        }
    }

    use std::vec::Vec;

    use super::*;

    #[rustfmt::skip]
    const VARINTS: &[(u64, &[u8], &str)] = &[
        (0, &[0x00], "zero still takes a byte"),
        (1, &[0x01], "one byte"),
        (127, &[0x7f], "largest one-byte value"),
        (128, &[0x80, 0x01], "smallest two-byte value"),
        (150, &[0x96, 0x01], "the protobuf guide's example"),
        (300, &[0xac, 0x02], "another two-byte value"),
        (16_383, &[0xff, 0x7f], "largest two-byte value"),
        (16_384, &[0x80, 0x80, 0x01], "smallest three-byte value"),
        (u32::MAX as u64, &[0xff, 0xff, 0xff, 0xff, 0x0f], "u32::MAX takes five"),
        (u64::MAX, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], "u64::MAX takes ten"),
        (-1i64 as u64, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], "int64 -1 is ten bytes"),
    ];

    #[test]
    fn varints_match_known_bytes() {
        for &(v, bytes, why) in VARINTS {
            let mut buf = [0xa5; 12];
            let mut w = Writer::new(&mut buf);
            w.varint(v);
            assert_eq!(w.written(), Ok(bytes), "{why}");
            assert_eq!(varint_len(v), bytes.len(), "{why}");
            if let Ok(len) = usize::try_from(v) {
                assert_eq!(len_varint_len(len), bytes.len(), "{why}");
            }
            assert!(buf[bytes.len()..].iter().all(|&b| b == 0xa5), "{why}");
        }
    }

    #[test]
    fn varint_that_does_not_fit_leaves_the_buffer_untouched() {
        for &(v, bytes, why) in VARINTS {
            for len in 0..bytes.len() {
                let mut buf = [0xa5; 12];
                let mut w = Writer::new(&mut buf[..len]);
                w.varint(v);
                assert_eq!(w.written(), Err(BufferTooSmall), "{why}");
                assert_eq!(w.position(), bytes.len(), "{why}: still counted");
                assert!(!w.fits(), "{why}");
                assert_eq!(w.remaining(), 0, "{why}");
                // Later writes are dropped too, even ones that would have fit.
                w.raw(&[]);
                w.varint(0);
                assert_eq!(w.position(), bytes.len() + 1, "{why}");
                assert!(buf.iter().all(|&b| b == 0xa5), "{why}");
            }
        }
    }

    #[test]
    fn scalar_fields_match_known_bytes() {
        let mut buf = [0xa5; 64];
        let mut w = Writer::new(&mut buf);
        w.uint64_field(1, 150);
        w.int64_field(3, -2);
        w.bool_field(2, true);
        w.fixed64_field(7, 0x0102_0304_0506_0708);
        w.fixed32_field(16, 0x0000_0301);
        w.double_field(4, 1.5);
        w.string_field(5, "hi");
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x08, 0x96, 0x01,                                   // field 1 varint 150
            0x18, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, // field 3 int64 -2
            0x10, 0x01,                                         // field 2 bool true
            0x39, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // field 7 fixed64
            0x85, 0x01, 0x01, 0x03, 0x00, 0x00,                 // field 16 fixed32: two-byte tag
            0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f, // field 4 double 1.5
            0x2a, 0x02, b'h', b'i',                             // field 5 string
        ];
        assert_eq!(w.written(), Ok(expected));
        assert_eq!(w.remaining(), 64 - expected.len());
        let n = expected.len();
        assert!(buf[n..].iter().all(|&b| b == 0xa5));
    }

    struct Pair(u64, &'static str);
    impl Message for Pair {
        fn encode(&self, w: &mut Writer<'_>) {
            w.uint64_field(1, self.0);
            w.string_field(2, self.1)
        }
    }
    struct Outer(Pair, Pair);
    impl Message for Outer {
        fn encode(&self, w: &mut Writer<'_>) {
            w.message(1, &self.0);
            w.message(1, &self.1)
        }
    }

    #[test]
    fn nested_messages_get_minimal_length_prefixes() {
        let msg = Outer(Pair(1, "a"), Pair(300, ""));
        let mut buf = [0xa5; 32];
        let mut w = Writer::new(&mut buf);
        w.message(3, &msg);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x1a, 0x0e,                               // field 3, 14 bytes
            0x0a, 0x05, 0x08, 0x01, 0x12, 0x01, b'a', // Pair(1, "a")
            0x0a, 0x05, 0x08, 0xac, 0x02, 0x12, 0x00, // Pair(300, "")
        ];
        assert_eq!(w.written(), Ok(expected));
        assert_eq!(msg.encoded_len(), 14);
        assert_eq!(len_field_len(3, 14), expected.len());
        assert!(buf[expected.len()..].iter().all(|&b| b == 0xa5));
    }

    #[test]
    fn message_that_does_not_fit_is_counted_and_reported() {
        let msg = Outer(Pair(1, "a"), Pair(300, ""));
        for len in 0..16 {
            let mut buf = [0xa5; 32];
            let mut w = Writer::new(&mut buf[..len]);
            w.message(3, &msg);
            assert_eq!(w.written(), Err(BufferTooSmall), "len {len}");
            assert_eq!(w.position(), 16, "len {len}");
            assert!(buf[len..].iter().all(|&b| b == 0xa5), "len {len}");
        }
    }

    #[test]
    fn counter_only_counts() {
        let mut c = Writer::counter();
        assert!(c.fits());
        assert_eq!(c.written(), Ok(&[][..]));
        c.message(3, &Outer(Pair(1, "a"), Pair(300, "")));
        assert_eq!(c.position(), 16);
        assert_eq!(c.written(), Err(BufferTooSmall));
    }

    /// A message body of raw bytes, written through `Writer::message`'s one-pass path
    /// (`RawMessage` is the same, but this one does not tell its length up front).
    struct Body<'a>(&'a [u8]);
    impl Message for Body<'_> {
        fn encode(&self, w: &mut Writer<'_>) {
            w.raw(self.0)
        }
    }

    /// A field holding `body`, with its length known up front.
    fn known_len_field(field: u32, body: &[u8]) -> Vec<u8> {
        let mut out = std::vec![0u8; len_field_len(field, body.len())];
        let mut w = Writer::new(&mut out);
        w.bytes_field(field, body);
        assert!(w.fits());
        out
    }

    #[test]
    fn long_length_prefixes_and_tags() {
        assert_eq!(tag_len(15), 1);
        assert_eq!(tag_len(16), 2);
        assert_eq!(len_field_len(1, 127), 129);
        assert_eq!(len_field_len(1, 128), 131);
        let mut buf = [0xa5; 256];
        let mut w = Writer::new(&mut buf);
        w.message(2, &Body(&[7u8; 200]));
        assert_eq!(&buf[..3], &[0x12, 0xc8, 0x01]);
        assert_eq!(&buf[3..203], &[7u8; 200][..]);
        assert_eq!(buf[203], 0xa5);

        let body: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        for n in [0, 1, 127, 128, 200, 16_383, 16_384, 20_000] {
            let body = &body[..n];
            let want = known_len_field(2, body);
            let mut buf = std::vec![0xa5; want.len() + 3];
            let mut w = Writer::new(&mut buf);
            w.message(2, &Body(body));
            assert_eq!(w.written(), Ok(&want[..]), "n {n}");
            assert!(buf[want.len()..].iter().all(|&b| b == 0xa5), "n {n}");
            let mut w = Writer::new(&mut buf);
            w.message(2, &RawMessage(body));
            assert_eq!(w.written(), Ok(&want[..]), "n {n}");
            // Exactly enough room, and a byte short.
            let mut buf = std::vec![0xa5; want.len()];
            let mut w = Writer::new(&mut buf);
            w.message(2, &Body(body));
            assert_eq!(w.written(), Ok(&want[..]), "n {n}");
            let mut w = Writer::new(&mut buf[..want.len() - 1]);
            w.message(2, &Body(body));
            assert_eq!(w.written(), Err(BufferTooSmall), "n {n}");
            assert_eq!(w.position(), want.len(), "n {n}");
        }
    }

    /// An outer message of raw bodies, each written through the one-pass path.
    struct Many<'a>(&'a [usize]);
    impl Message for Many<'_> {
        fn encode(&self, w: &mut Writer<'_>) {
            for &n in self.0 {
                w.message(1, &Body(&[0x5a; 300][..n]));
            }
        }
    }

    #[test]
    fn large_messages_encode_as_messages_do_at_every_prefix_length() {
        // Bodies whose length prefix takes 1, 2 and 3 bytes, at the edges.
        for len in [0, 1, 127, 128, 129, 300, 16_383, 16_384, 16_385] {
            let body = std::vec![0x5a; len];
            let want = known_len_field(12, &body);
            // The field between 2 bytes before and 2 after: a byte short, exact, and
            // with room to spare (found by review: both rooms were short, so the
            // written-after path was never checked).
            let mut fitted = 0;
            for room in [want.len() + 3, want.len() + 4, want.len() + 7] {
                let mut buf = std::vec![0xa5; room];
                let mut w = Writer::new(&mut buf);
                w.raw(&[0x08, 0x01]);
                w.large_message(12, &Body(&body));
                w.raw(&[0x10, 0x02]);
                let mut expected = std::vec![0x08, 0x01];
                expected.extend_from_slice(&want);
                expected.extend_from_slice(&[0x10, 0x02]);
                let written = w.written().map(<[u8]>::to_vec);
                if room >= expected.len() {
                    fitted += 1;
                    assert_eq!(written, Ok(expected.clone()), "len {len}");
                    assert!(
                        buf[expected.len()..].iter().all(|&b| b == 0xa5),
                        "len {len}"
                    );
                } else {
                    assert_eq!(written, Err(BufferTooSmall), "len {len}, room {room}");
                    assert_eq!(w.position(), expected.len(), "len {len}: still counted");
                }
            }
            assert_eq!(fitted, 2, "len {len}");
            // Exactly the field's room, then one byte short of it.
            let mut buf = std::vec![0xa5; want.len()];
            let mut w = Writer::new(&mut buf);
            w.large_message(12, &Body(&body));
            assert_eq!(w.written(), Ok(&want[..]), "len {len}: exact room");
            let mut buf = std::vec![0xa5; want.len() - 1];
            let mut w = Writer::new(&mut buf);
            w.large_message(12, &Body(&body));
            assert_eq!(w.written(), Err(BufferTooSmall), "len {len}");
            assert_eq!(w.position(), want.len(), "len {len}");
        }
    }

    proptest::proptest! {
        #[test]
        fn counter_agrees_with_writer(v in proptest::num::u64::ANY, field in 1u32..(1 << 29)) {
            let mut buf = [0u8; 32];
            let mut w = Writer::new(&mut buf);
            w.uint64_field(field, v);
            let mut c = Writer::counter();
            c.uint64_field(field, v);
            proptest::prop_assert_eq!(w.position(), c.position());
            proptest::prop_assert_eq!(c.position(), tag_len(field) + varint_len(v));
        }

        #[test]
        fn nested_messages_equal_known_length_encoding(
            sizes in proptest::collection::vec(0usize..300, 0..6),
        ) {
            let msg = Many(&sizes);
            let inner: Vec<u8> = sizes
                .iter()
                .flat_map(|&n| known_len_field(1, &[0x5a; 300][..n]))
                .collect();
            let want = known_len_field(9, &inner);
            proptest::prop_assert_eq!(msg.encoded_len(), inner.len());
            let mut buf = std::vec![0u8; want.len()];
            let mut w = Writer::new(&mut buf);
            w.message(9, &msg);
            proptest::prop_assert_eq!(w.written(), Ok(&want[..]));
        }
    }
}
