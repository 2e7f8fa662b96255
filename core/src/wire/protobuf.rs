//! A minimal protocol buffers writer over a caller's `&mut [u8]` (encoding only).
//!
//! Implements the parts of the [protobuf wire format] that OTLP needs: varints, field
//! tags, length-delimited fields, `fixed64`, `fixed32` and `double`. Nested messages are
//! written in two passes: a [`Message`] computes its exact [`Message::encoded_len`]
//! first (with a [`Counter`]), then the [`Writer`] emits the tag, the minimal length
//! prefix and the body, so the output is the canonical (shortest) encoding.
//!
//! Every write checks the room left before touching the buffer: a write that does not
//! fit returns [`BufferTooSmall`] and leaves the buffer as it was before that write.
//!
//! [protobuf wire format]: https://protobuf.dev/programming-guides/encoding/
//!
//! ```
//! use picotrace::wire::protobuf::{Sink, Writer};
//! let mut buf = [0u8; 8];
//! let mut w = Writer::new(&mut buf);
//! w.uint64_field(1, 150)?; // the protobuf guide's example: 08 96 01
//! assert_eq!(w.written(), &[0x08, 0x96, 0x01]);
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

/// Returns the size of a length-delimited field: tag, length prefix and `body_len`.
#[inline]
pub const fn len_field_len(field: u32, body_len: usize) -> usize {
    tag_len(field) + varint_len(body_len as u64) + body_len
}

/// Where encoded bytes go: a [`Writer`] stores them, a [`Counter`] only counts them.
///
/// Encoders are written once, generic over `Sink`, so that the length they report and
/// the bytes they write cannot disagree.
pub trait Sink {
    /// Appends raw bytes.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when they do not fit; nothing is written then.
    fn raw(&mut self, bytes: &[u8]) -> Result<(), BufferTooSmall>;

    /// Appends a length-delimited field holding `message`.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when the field does not fit.
    fn message<M: Message + ?Sized>(
        &mut self,
        field: u32,
        message: &M,
    ) -> Result<(), BufferTooSmall>;

    /// Appends `v` as a varint.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when it does not fit; nothing is written then.
    fn varint(&mut self, v: u64) -> Result<(), BufferTooSmall> {
        let mut bytes = [0u8; 10];
        let len = varint_len(v);
        let mut rest = v;
        for b in bytes.iter_mut().take(len) {
            *b = (rest as u8 & 0x7f) | 0x80;
            rest >>= 7;
        }
        // `len` is between 1 and 10, so this index is in range; clear the last
        // byte's continuation bit.
        bytes[len - 1] &= 0x7f;
        self.raw(&bytes[..len])
    }

    /// Appends a field tag.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when it does not fit.
    #[inline]
    fn tag(&mut self, field: u32, wire_type: WireType) -> Result<(), BufferTooSmall> {
        self.varint((u64::from(field) << 3) | wire_type as u64)
    }

    /// Appends a `uint64`/`uint32`/`enum` field (always, even when zero).
    ///
    /// # Errors
    /// [`BufferTooSmall`] when it does not fit.
    #[inline]
    fn uint64_field(&mut self, field: u32, v: u64) -> Result<(), BufferTooSmall> {
        self.tag(field, WireType::Varint)?;
        self.varint(v)
    }

    /// Appends an `int64` field: negative values take ten bytes (two's complement).
    ///
    /// # Errors
    /// [`BufferTooSmall`] when it does not fit.
    #[inline]
    fn int64_field(&mut self, field: u32, v: i64) -> Result<(), BufferTooSmall> {
        self.uint64_field(field, v as u64)
    }

    /// Appends a `bool` field.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when it does not fit.
    #[inline]
    fn bool_field(&mut self, field: u32, v: bool) -> Result<(), BufferTooSmall> {
        self.uint64_field(field, u64::from(v))
    }

    /// Appends a `fixed64` field (little-endian).
    ///
    /// # Errors
    /// [`BufferTooSmall`] when it does not fit.
    #[inline]
    fn fixed64_field(&mut self, field: u32, v: u64) -> Result<(), BufferTooSmall> {
        self.tag(field, WireType::I64)?;
        self.raw(&v.to_le_bytes())
    }

    /// Appends a `fixed32` field (little-endian).
    ///
    /// # Errors
    /// [`BufferTooSmall`] when it does not fit.
    #[inline]
    fn fixed32_field(&mut self, field: u32, v: u32) -> Result<(), BufferTooSmall> {
        self.tag(field, WireType::I32)?;
        self.raw(&v.to_le_bytes())
    }

    /// Appends a `double` field (IEEE 754, little-endian; NaN and infinities as they are).
    ///
    /// # Errors
    /// [`BufferTooSmall`] when it does not fit.
    #[inline]
    fn double_field(&mut self, field: u32, v: f64) -> Result<(), BufferTooSmall> {
        self.fixed64_field(field, v.to_bits())
    }

    /// Appends a `bytes` field.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when it does not fit.
    #[inline]
    fn bytes_field(&mut self, field: u32, v: &[u8]) -> Result<(), BufferTooSmall> {
        self.tag(field, WireType::Len)?;
        self.varint(v.len() as u64)?;
        self.raw(v)
    }

    /// Appends a `string` field.
    ///
    /// # Errors
    /// [`BufferTooSmall`] when it does not fit.
    #[inline]
    fn string_field(&mut self, field: u32, v: &str) -> Result<(), BufferTooSmall> {
        self.bytes_field(field, v.as_bytes())
    }
}

/// A protobuf message body that can be measured and written.
pub trait Message {
    /// Writes the message body (its fields, without tag or length prefix).
    ///
    /// # Errors
    /// [`BufferTooSmall`] when the sink runs out of room.
    fn encode<S: Sink>(&self, sink: &mut S) -> Result<(), BufferTooSmall>;

    /// Returns the exact number of bytes [`Message::encode`] writes.
    ///
    /// Implementors may override it with a cheaper computation that gives the same result.
    fn encoded_len(&self) -> usize {
        let mut counter = Counter::new();
        // A counter never runs out of room.
        let _ = self.encode(&mut counter);
        counter.len()
    }
}

impl<M: Message + ?Sized> Message for &M {
    #[inline]
    fn encode<S: Sink>(&self, sink: &mut S) -> Result<(), BufferTooSmall> {
        (**self).encode(sink)
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
    fn encode<S: Sink>(&self, sink: &mut S) -> Result<(), BufferTooSmall> {
        sink.raw(self.0)
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
}

/// A [`Sink`] that only counts bytes; it never fails.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counter {
    len: usize,
}

impl Counter {
    /// Creates a counter at zero.
    pub const fn new() -> Self {
        Self { len: 0 }
    }

    /// Returns the bytes counted so far.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Returns `true` when nothing was counted.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Sink for Counter {
    #[inline]
    fn raw(&mut self, bytes: &[u8]) -> Result<(), BufferTooSmall> {
        self.len = self.len.saturating_add(bytes.len());
        Ok(())
    }

    #[inline]
    fn varint(&mut self, v: u64) -> Result<(), BufferTooSmall> {
        self.len = self.len.saturating_add(varint_len(v));
        Ok(())
    }

    #[inline]
    fn message<M: Message + ?Sized>(
        &mut self,
        field: u32,
        message: &M,
    ) -> Result<(), BufferTooSmall> {
        self.len = self
            .len
            .saturating_add(len_field_len(field, message.encoded_len()));
        Ok(())
    }
}

/// A [`Sink`] that writes into a caller's buffer, never past its end.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// Creates a writer at the start of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Returns how many bytes were written.
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// Returns how many bytes are left.
    pub const fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Returns the bytes written so far.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.pos]
    }
}

impl Sink for Writer<'_> {
    #[inline]
    fn raw(&mut self, bytes: &[u8]) -> Result<(), BufferTooSmall> {
        let end = self.pos.checked_add(bytes.len()).ok_or(BufferTooSmall)?;
        let dst = self.buf.get_mut(self.pos..end).ok_or(BufferTooSmall)?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    fn message<M: Message + ?Sized>(
        &mut self,
        field: u32,
        message: &M,
    ) -> Result<(), BufferTooSmall> {
        let len = message.encoded_len();
        if len_field_len(field, len) > self.remaining() {
            return Err(BufferTooSmall);
        }
        self.tag(field, WireType::Len)?;
        self.varint(len as u64)?;
        let start = self.pos;
        message.encode(self)?;
        // A message whose `encoded_len` disagrees with `encode` would make the output
        // unreadable; catch it in tests.
        debug_assert_eq!(self.pos - start, len, "encoded_len disagrees with encode");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
            w.varint(v).unwrap();
            assert_eq!(w.written(), bytes, "{why}");
            assert_eq!(varint_len(v), bytes.len(), "{why}");
            assert!(buf[bytes.len()..].iter().all(|&b| b == 0xa5), "{why}");
        }
    }

    #[test]
    fn varint_that_does_not_fit_leaves_the_buffer_untouched() {
        for &(v, bytes, why) in VARINTS {
            for len in 0..bytes.len() {
                let mut buf = [0xa5; 12];
                let mut w = Writer::new(&mut buf[..len]);
                assert_eq!(w.varint(v), Err(BufferTooSmall), "{why}");
                assert_eq!(w.position(), 0);
                assert!(buf.iter().all(|&b| b == 0xa5), "{why}");
            }
        }
    }

    #[test]
    fn scalar_fields_match_known_bytes() {
        let mut buf = [0xa5; 64];
        let mut w = Writer::new(&mut buf);
        w.uint64_field(1, 150).unwrap();
        w.int64_field(3, -2).unwrap();
        w.bool_field(2, true).unwrap();
        w.fixed64_field(7, 0x0102_0304_0506_0708).unwrap();
        w.fixed32_field(16, 0x0000_0301).unwrap();
        w.double_field(4, 1.5).unwrap();
        w.string_field(5, "hi").unwrap();
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
        assert_eq!(w.written(), expected);
        let n = expected.len();
        assert!(buf[n..].iter().all(|&b| b == 0xa5));
    }

    struct Pair(u64, &'static str);
    impl Message for Pair {
        fn encode<S: Sink>(&self, sink: &mut S) -> Result<(), BufferTooSmall> {
            sink.uint64_field(1, self.0)?;
            sink.string_field(2, self.1)
        }
    }
    struct Outer(Pair, Pair);
    impl Message for Outer {
        fn encode<S: Sink>(&self, sink: &mut S) -> Result<(), BufferTooSmall> {
            sink.message(1, &self.0)?;
            sink.message(1, &self.1)
        }
    }

    #[test]
    fn nested_messages_get_minimal_length_prefixes() {
        let msg = Outer(Pair(1, "a"), Pair(300, ""));
        let mut buf = [0xa5; 32];
        let mut w = Writer::new(&mut buf);
        w.message(3, &msg).unwrap();
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x1a, 0x0e,                               // field 3, 14 bytes
            0x0a, 0x05, 0x08, 0x01, 0x12, 0x01, b'a', // Pair(1, "a")
            0x0a, 0x05, 0x08, 0xac, 0x02, 0x12, 0x00, // Pair(300, "")
        ];
        assert_eq!(w.written(), expected);
        assert_eq!(msg.encoded_len(), 14);
        assert_eq!(len_field_len(3, 14), expected.len());
        assert!(buf[expected.len()..].iter().all(|&b| b == 0xa5));
    }

    #[test]
    fn message_that_does_not_fit_writes_nothing() {
        let msg = Outer(Pair(1, "a"), Pair(300, ""));
        for len in 0..16 {
            let mut buf = [0xa5; 32];
            let mut w = Writer::new(&mut buf[..len]);
            assert_eq!(w.message(3, &msg), Err(BufferTooSmall), "len {len}");
            assert!(buf.iter().all(|&b| b == 0xa5), "len {len}");
        }
    }

    #[test]
    fn long_length_prefixes_and_tags() {
        assert_eq!(tag_len(15), 1);
        assert_eq!(tag_len(16), 2);
        assert_eq!(len_field_len(1, 127), 129);
        assert_eq!(len_field_len(1, 128), 131);
        let body = [7u8; 200];
        let mut buf = [0xa5; 256];
        let mut w = Writer::new(&mut buf);
        w.message(2, &RawMessage(&body)).unwrap();
        assert_eq!(&buf[..3], &[0x12, 0xc8, 0x01]);
        assert_eq!(&buf[3..203], &body[..]);
        assert_eq!(buf[203], 0xa5);
    }

    proptest::proptest! {
        #[test]
        fn counter_agrees_with_writer(v in proptest::num::u64::ANY, field in 1u32..(1 << 29)) {
            let mut buf = [0u8; 32];
            let mut w = Writer::new(&mut buf);
            w.uint64_field(field, v).unwrap();
            let mut c = Counter::new();
            c.uint64_field(field, v).unwrap();
            proptest::prop_assert_eq!(w.position(), c.len());
            proptest::prop_assert_eq!(c.len(), tag_len(field) + varint_len(v));
        }
    }
}
