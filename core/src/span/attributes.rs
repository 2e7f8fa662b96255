//! Attribute values: [`Value`] as callers pass them in, [`AttributeValue`] as exporters
//! read them back out of a finished span.
//!
//! Strings and arrays are copied into the span's bounded text storage, so callers may pass
//! borrowed data that does not outlive the call.
//!
//! ```
//! use picotrace::Value;
//! assert_eq!(Value::from("GET"), Value::Str("GET"));
//! assert_eq!(Value::from(200u16), Value::I64(200));
//! assert_eq!(Value::from(&[1i64, 2][..]), Value::I64Array(&[1, 2]));
//! ```

/// An attribute value as passed to `set_attribute` (OTLP `AnyValue`, minus maps and bytes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// A UTF-8 string.
    Str(&'a str),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// An unsigned integer above `i64::MAX` (`Value::from` a `u64` or `usize` gives
    /// [`Value::I64`] up to it). OTLP has no unsigned integers: up to `i64::MAX` it is
    /// stored as an integer, above as its decimal text (a string attribute), stored
    /// whole or, when the span's text has no room for it, dropped and counted; never
    /// cut.
    U64(u64),
    /// A 64-bit float.
    F64(f64),
    /// An array of strings.
    StrArray(&'a [&'a str]),
    /// An array of booleans.
    BoolArray(&'a [bool]),
    /// An array of integers.
    I64Array(&'a [i64]),
    /// An array of floats.
    F64Array(&'a [f64]),
}

macro_rules! value_from {
    ($($t:ty => $variant:ident $(as $cast:ty)?),* $(,)?) => {$(
        impl<'a> From<$t> for Value<'a> {
            #[inline]
            fn from(v: $t) -> Self {
                Value::$variant(v $(as $cast)?)
            }
        }
    )*};
}

value_from!(
    &'a str => Str,
    bool => Bool,
    i64 => I64,
    i32 => I64 as i64,
    i16 => I64 as i64,
    i8 => I64 as i64,
    u32 => I64 as i64,
    u16 => I64 as i64,
    u8 => I64 as i64,
    isize => I64 as i64,
    f64 => F64,
    f32 => F64 as f64,
    &'a [&'a str] => StrArray,
    &'a [bool] => BoolArray,
    &'a [i64] => I64Array,
    &'a [f64] => F64Array,
);

/// An integer, as [`Value::I64`] up to `i64::MAX` (so that `200usize` and `200i64` are
/// the same value to a sampler, as they are once stored; found by review), above as
/// [`Value::U64`].
impl From<u64> for Value<'_> {
    #[inline]
    fn from(v: u64) -> Self {
        match i64::try_from(v) {
            Ok(v) => Value::I64(v),
            Err(_) => Value::U64(v),
        }
    }
}

/// As `u64`.
impl From<usize> for Value<'_> {
    #[inline]
    fn from(v: usize) -> Self {
        Value::from(v as u64)
    }
}

impl<'a, const N: usize> From<&'a heapless::String<N>> for Value<'a> {
    #[inline]
    fn from(v: &'a heapless::String<N>) -> Self {
        Value::Str(v.as_str())
    }
}

/// What [`KeyValue::new`] takes as a value (a key-value pair borrows its value;
/// [`Span::set_attribute`](crate::Span::set_attribute) also takes owned strings, see
/// [`AttributeArg`]):
///
/// - any string by reference: `&str`, `&String`, `&Cow<str>`, `&Box<str>`,
///   `&heapless::String` (anything `AsRef<str>`);
/// - integers of every width (`i8` to `i64`, `u8` to `u64`, `isize`, `usize`; see
///   [`Value::U64`] for values above `i64::MAX`), `f32`, `f64`, `bool`;
/// - a [`Value`] itself, which is how arrays are passed:
///   `Value::from(&[200, 404][..])`.
///
/// ```
/// # use picotrace::{Span, Value};
/// fn tag(span: &mut Span<'_>, user: &String, bytes: usize) {
///     span.set_attribute("user.name", user);
///     span.set_attribute("http.response.body.size", bytes);
///     span.set_attribute("retry.codes", Value::from(&[502i64, 503][..]));
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an attribute value",
    note = "strings go by reference (`&s` for a `String`); arrays as `Value::from(&[1, 2][..])`"
)]
pub trait IntoValue<'a> {
    /// Converts into a [`Value`].
    fn into_value(self) -> Value<'a>;
}

impl<'a, T: AsRef<str> + ?Sized> IntoValue<'a> for &'a T {
    #[inline]
    fn into_value(self) -> Value<'a> {
        Value::Str(self.as_ref())
    }
}

impl<'a> IntoValue<'a> for Value<'a> {
    #[inline]
    fn into_value(self) -> Value<'a> {
        self
    }
}

/// What [`Span::set_attribute`](crate::Span::set_attribute) takes as a value: the
/// value is copied into the span during the call, so it may be owned or borrowed.
///
/// - any string, owned or borrowed: `String`, `&String`, `&str`, `Cow<str>`,
///   `Box<str>`, `Arc<str>`, `heapless::String` (anything `AsRef<str>`);
/// - integers of every width (`i8` to `i64`, `u8` to `u64`, `isize`, `usize`; see
///   [`Value::U64`] for values above `i64::MAX`), `f32`, `f64`, `bool`;
/// - a [`Value`], which is how arrays are passed: `Value::from(&[200, 404][..])`.
///
/// `M` ([`StrArg`], [`ScalarArg`] or [`ValueArg`]) only keeps these three groups apart;
/// the compiler infers it, callers never name it.
///
/// ```
/// # use picotrace::{Span, Value};
/// fn tag(span: &mut Span<'_>, user: String, route: &String, bytes: usize) {
///     span.set_attribute("user.name", user);
///     span.set_attribute("http.route", route);
///     span.set_attribute("http.response.body.size", bytes);
///     span.set_attribute("retry.codes", Value::from(&[502i64, 503][..]));
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an attribute value",
    note = "strings (owned or borrowed), integers, floats and bools are; arrays as `Value::from(&[1, 2][..])`"
)]
pub trait AttributeArg<M> {
    /// The value, borrowed from `self` for the call.
    fn as_value(&self) -> Value<'_>;
}

/// [`AttributeArg`]'s marker for strings (`AsRef<str>`).
#[derive(Debug)]
pub enum StrArg {}
/// [`AttributeArg`]'s marker for integers, floats and bools.
#[derive(Debug)]
pub enum ScalarArg {}
/// [`AttributeArg`]'s marker for a [`Value`].
#[derive(Debug)]
pub enum ValueArg {}

impl<T: AsRef<str>> AttributeArg<StrArg> for T {
    #[inline]
    fn as_value(&self) -> Value<'_> {
        Value::Str(self.as_ref())
    }
}

impl AttributeArg<ValueArg> for Value<'_> {
    #[inline]
    fn as_value(&self) -> Value<'_> {
        *self
    }
}

/// Scalars are values both for [`KeyValue::new`] and for `set_attribute`.
macro_rules! scalar_value {
    ($($t:ty),*) => {$(
        impl<'a> IntoValue<'a> for $t {
            #[inline]
            fn into_value(self) -> Value<'a> {
                Value::from(self)
            }
        }
        impl AttributeArg<ScalarArg> for $t {
            #[inline]
            fn as_value(&self) -> Value<'_> {
                Value::from(*self)
            }
        }
        /// A scalar by reference (an iterator's item), as by value.
        impl AttributeArg<ScalarArg> for &$t {
            #[inline]
            fn as_value(&self) -> Value<'_> {
                Value::from(**self)
            }
        }
    )*};
}

scalar_value!(bool, i64, i32, i16, i8, isize, u64, u32, u16, u8, usize, f64, f32);

/// An attribute value read from a recorded span; borrows the span's storage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttributeValue<'a> {
    /// A string.
    Str(&'a str),
    /// A boolean.
    Bool(bool),
    /// An integer.
    I64(i64),
    /// A float.
    F64(f64),
    /// An array of scalars, all of one type.
    Array(ArrayValue<'a>),
}

/// The element type of an [`ArrayValue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArrayKind {
    Str,
    Bool,
    I64,
    F64,
}

/// An array attribute stored packed in a span's text storage: strings as a 2-byte
/// little-endian length and the bytes, numbers as 8 little-endian bytes, booleans as one.
#[derive(Clone, Copy, Debug)]
pub struct ArrayValue<'a> {
    pub(crate) kind: ArrayKind,
    pub(crate) packed: &'a [u8],
}

/// Element by element, as the elements themselves compare (found by review: the
/// packed bytes were compared, so `[0.0] != [-0.0]` and `[NaN] == [NaN]`, unlike
/// `F64(0.0) == F64(-0.0)` and `F64(NaN) != F64(NaN)`).
impl PartialEq for ArrayValue<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<'a> ArrayValue<'a> {
    /// Returns the elements in order.
    pub fn iter(&self) -> ArrayIter<'a> {
        ArrayIter {
            kind: self.kind,
            rest: self.packed,
        }
    }

    /// Returns the number of elements.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Returns `true` for an empty array.
    pub fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }
}

impl<'a> IntoIterator for ArrayValue<'a> {
    type Item = AttributeValue<'a>;
    type IntoIter = ArrayIter<'a>;
    fn into_iter(self) -> ArrayIter<'a> {
        self.iter()
    }
}

/// Iterator over the elements of an [`ArrayValue`].
#[derive(Clone, Debug)]
pub struct ArrayIter<'a> {
    kind: ArrayKind,
    rest: &'a [u8],
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = AttributeValue<'a>;

    fn next(&mut self) -> Option<AttributeValue<'a>> {
        let take8 = |rest: &mut &'a [u8]| -> Option<[u8; 8]> {
            let (head, tail) = rest.split_first_chunk::<8>()?;
            *rest = tail;
            Some(*head)
        };
        match self.kind {
            ArrayKind::Bool => {
                let (&b, tail) = self.rest.split_first()?;
                self.rest = tail;
                Some(AttributeValue::Bool(b != 0))
            }
            ArrayKind::I64 => {
                take8(&mut self.rest).map(|b| AttributeValue::I64(i64::from_le_bytes(b)))
            }
            ArrayKind::F64 => {
                take8(&mut self.rest).map(|b| AttributeValue::F64(f64::from_le_bytes(b)))
            }
            ArrayKind::Str => {
                let (len, tail) = self.rest.split_first_chunk::<2>()?;
                let len = usize::from(u16::from_le_bytes(*len));
                let bytes = tail.get(..len)?;
                self.rest = &tail[len..];
                // Written from `&str` cut at char boundaries, so this is valid UTF-8.
                Some(AttributeValue::Str(
                    core::str::from_utf8(bytes).unwrap_or(""),
                ))
            }
        }
    }
}

/// A key and a value, as passed to events, links and span builders.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KeyValue<'a> {
    /// The attribute key.
    pub key: &'a str,
    /// The attribute value.
    pub value: Value<'a>,
}

impl<'a> KeyValue<'a> {
    /// Creates a key-value pair.
    #[inline]
    pub fn new(key: &'a str, value: impl IntoValue<'a>) -> Self {
        Self {
            key,
            value: value.into_value(),
        }
    }
}

impl<'a, V: IntoValue<'a>> From<(&'a str, V)> for KeyValue<'a> {
    #[inline]
    fn from((key, value): (&'a str, V)) -> Self {
        Self::new(key, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_widen_losslessly() {
        assert_eq!(Value::from(u32::MAX), Value::I64(4_294_967_295));
        assert_eq!(Value::from(-3i8), Value::I64(-3));
        assert_eq!(Value::from(1.5f32), Value::F64(1.5));
        let kv: KeyValue = ("http.response.status_code", 404u16).into();
        assert_eq!(kv.value, Value::I64(404));
        // Regression (found by review): a `usize` or `u64` was `U64` to a sampler
        // where the same number as `i64` was `I64`.
        assert_eq!(Value::from(200usize), Value::I64(200));
        assert_eq!(Value::from(i64::MAX as u64), Value::I64(i64::MAX));
        assert_eq!(Value::from(u64::MAX), Value::U64(u64::MAX));
        // Scalars by reference, as an iterator gives them.
        let n = 7u16;
        assert_eq!(AttributeArg::as_value(&&n), Value::I64(7));
    }

    /// Regression (found by review): arrays compared their packed bytes.
    #[test]
    fn arrays_compare_as_their_elements_do() {
        let (zero, minus_zero, nan) = (
            0.0f64.to_le_bytes(),
            (-0.0f64).to_le_bytes(),
            f64::NAN.to_le_bytes(),
        );
        let f64s = |packed| ArrayValue {
            kind: ArrayKind::F64,
            packed,
        };
        assert_eq!(AttributeValue::F64(0.0), AttributeValue::F64(-0.0));
        assert_eq!(f64s(&zero), f64s(&minus_zero));
        assert_ne!(f64s(&nan), f64s(&nan));
        assert_ne!(f64s(&zero), f64s(&nan));
        assert_eq!(
            f64s(&[]),
            ArrayValue {
                kind: ArrayKind::Str,
                packed: &[]
            }
        );
    }

    #[test]
    fn packed_arrays_decode_and_stop_at_truncation() {
        let mut packed = [0u8; 20];
        packed[..8].copy_from_slice(&7i64.to_le_bytes());
        packed[8..16].copy_from_slice(&(-1i64).to_le_bytes());
        let arr = ArrayValue {
            kind: ArrayKind::I64,
            packed: &packed[..19],
        };
        let items: std::vec::Vec<_> = arr.iter().collect();
        assert_eq!(items, [AttributeValue::I64(7), AttributeValue::I64(-1)]);

        let strs = [2, 0, b'h', b'i', 5, 0, b'x'];
        let arr = ArrayValue {
            kind: ArrayKind::Str,
            packed: &strs,
        };
        let items: std::vec::Vec<_> = arr.iter().collect();
        assert_eq!(items, [AttributeValue::Str("hi")]);
    }
}
