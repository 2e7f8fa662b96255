//! The fields of an event or of a `Span::record`, read before the span they go to is
//! locked.
//!
//! Reading fields runs user code: `Debug` and `Display` impls, `Error::source`. Run
//! under a span's lock, that code could deadlock with another thread (it waits for a
//! mutex that thread holds, while that thread logs and waits for the span), and the
//! tracing it does itself could not reach its span (an event logged from a `Debug` impl
//! was dropped, a span made there started a new trace). `tracing-opentelemetry` reads
//! fields first for the same reason (tokio-rs/tracing#763). The text is kept in buffers
//! each thread reuses, so reading allocates nothing once a thread's buffers have grown.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::ops::Range;

use picotrace::{KeyValue, Value};

/// The most fields a `tracing` callsite has (`tracing_core::field::FieldSet`).
const MAX_FIELDS: usize = 32;
use tracing_core::field::{Field, Visit};

/// The most causes of an error kept: an error whose `source` never ends (one that
/// returns itself) must not hang the traced code.
const MAX_ERROR_CAUSES: usize = 32;

/// Buffers a thread keeps up to this size between events; larger ones (a huge `Debug`
/// text) are freed after use.
const KEPT_TEXT_BYTES: usize = 64 * 1024;

impl Captured {
    /// The bytes of [`Fields::text`] it uses.
    fn text_len(&self) -> usize {
        match self {
            Captured::Str(range) | Captured::Debug(range) => range.len(),
            _ => 0,
        }
    }
}

/// One field's value, as read.
#[derive(Clone)]
enum Captured {
    I64(i64),
    U64(u64),
    Bool(bool),
    F64(f64),
    /// A `&str` field: its text in [`Fields::text`].
    Str(Range<usize>),
    /// Its `Debug` text (what `?x`, `%x` and messages give) in [`Fields::text`].
    Debug(Range<usize>),
    /// An error: its text and its causes' (see [`StoredError`]).
    Error(StoredError),
}

/// The fields of one event or record, in the order they were visited.
#[derive(Clone, Default)]
pub(super) struct Fields {
    values: Vec<(Field, Captured)>,
    text: String,
}

thread_local! {
    /// This thread's buffers, borrowed while one read runs: a read made inside it, by
    /// a `Debug` impl that traces, gets buffers of its own. (A `RefCell` borrowed in
    /// place: taking the buffers out of a `Cell` and putting them back moved them
    /// twice per event.)
    static SPARE: RefCell<Fields> = const {
        RefCell::new(Fields {
            values: Vec::new(),
            text: String::new(),
        })
    };
}

impl Fields {
    /// Runs `f` with empty buffers, this thread's if they are free. During the
    /// thread's exit, once its buffers are gone (an event logged from another
    /// thread-local's destructor), with new ones: `with` would panic there, and a
    /// panic in a thread-local destructor aborts the process.
    #[inline]
    pub(super) fn with<R>(f: impl FnOnce(&mut Fields) -> R) -> R {
        let mut f = Some(f);
        let mine = SPARE.try_with(|spare| {
            let mut fields = spare.try_borrow_mut().ok()?;
            // Emptied first: a read that panicked left its fields behind.
            fields.clear();
            let result = f.take().map(|f| f(&mut fields));
            fields.clear();
            if fields.text.capacity() > KEPT_TEXT_BYTES {
                fields.text = String::new();
            }
            result
        });
        match (mine, f) {
            (Ok(Some(result)), _) => result,
            (_, Some(f)) => f(&mut Fields::default()),
            // `f` ran and unwound: the unwinding never gets here.
            (_, None) => unreachable!("the thread's read returned or unwound"),
        }
    }

    fn clear(&mut self) {
        self.values.clear();
        self.text.clear();
    }

    /// Hands the fields to `to` in order, as they were read: a `Debug` value as its
    /// text ([`Replay::record_text`]), an error as a [`StoredError`].
    pub(super) fn replay(&self, to: &mut impl Replay) {
        for (field, value) in &self.values {
            match value {
                Captured::I64(v) => to.record_i64(field, *v),
                Captured::U64(v) => to.record_u64(field, *v),
                Captured::Bool(v) => to.record_bool(field, *v),
                Captured::F64(v) => to.record_f64(field, *v),
                Captured::Str(range) => to.record_str(field, self.text_of(range)),
                Captured::Debug(range) => to.record_text(field, self.text_of(range)),
                Captured::Error(error) => to.record_error(field, error),
            }
        }
    }

    /// The fields as attributes (for a sampler), those whose name `keep` refuses left
    /// out: a `Debug` value as its text, an error as its message. On the stack: a
    /// callsite has at most 32 fields (found by review: a `Vec` was allocated for
    /// every span a sampler reads the attributes of).
    pub(super) fn attributes(
        &self,
        keep: impl Fn(&str) -> bool,
    ) -> heapless::Vec<KeyValue<'_>, MAX_FIELDS> {
        self.values
            .iter()
            .filter(|(field, _)| keep(field.name()))
            .take(MAX_FIELDS)
            .map(|(field, captured)| KeyValue {
                key: field.name(),
                value: match captured {
                    Captured::I64(v) => Value::I64(*v),
                    // `Value::I64` up to `i64::MAX`, as `Value::from` gives it: a
                    // `u16` status code reads as the same value to a sampler whether
                    // it came through a `tracing` field or `set_attribute` (found by
                    // review).
                    Captured::U64(v) => Value::from(*v),
                    Captured::Bool(v) => Value::Bool(*v),
                    Captured::F64(v) => Value::F64(*v),
                    Captured::Str(range) | Captured::Debug(range) => {
                        Value::Str(self.text_of(range))
                    }
                    Captured::Error(error) => Value::Str(&error.text),
                },
            })
            .collect()
    }

    /// A copy with each text cut to its first `max` bytes (at a character boundary):
    /// all a span's record could keep of it, for a span kept without one (found by
    /// review: a dropped root held its fields' texts whole until it closed).
    pub(super) fn cut_copy(&self, max: usize) -> Fields {
        let mut copy = Fields {
            values: Vec::with_capacity(self.values.len()),
            text: String::new(),
        };
        copy.record_over(self, max);
        copy
    }

    /// Records `other`'s fields over these, each text cut to `max` bytes (see
    /// [`Fields::cut_copy`]): a field given again takes its new value in place, a new
    /// one goes last (found by review: appended, a field recorded on every read of a
    /// long-lived span grew without end, and a sampler that looked a field up found its
    /// first value). The text of replaced values is let go once it is most of the
    /// buffer.
    pub(super) fn record_over(&mut self, other: &Fields, max: usize) {
        for (field, value) in &other.values {
            let value = match value {
                Captured::Str(range) => {
                    Captured::Str(self.push_text(|t| t.push_str(cut_to(other.text_of(range), max))))
                }
                Captured::Debug(range) => Captured::Debug(
                    self.push_text(|t| t.push_str(cut_to(other.text_of(range), max))),
                ),
                Captured::Error(error) => Captured::Error(error.cut_copy(max)),
                other => other.clone(),
            };
            match self
                .values
                .iter_mut()
                .find(|(f, _)| f.name() == field.name())
            {
                Some((_, old)) => *old = value,
                None => self.values.push((field.clone(), value)),
            }
        }
        let live: usize = self.values.iter().map(|(_, v)| v.text_len()).sum();
        if self.text.len() > 2 * live + 256 {
            self.compact();
        }
    }

    /// Copies the text still in use into a new buffer, in the fields' order.
    fn compact(&mut self) {
        let mut text = String::with_capacity(self.text.len() / 2);
        for (_, value) in &mut self.values {
            if let Captured::Str(range) | Captured::Debug(range) = value {
                let start = text.len();
                text.push_str(self.text.get(range.clone()).unwrap_or_default());
                *range = start..text.len();
            }
        }
        self.text = text;
    }

    /// The text of the last value of field `name`, when it is text (a `&str` or a
    /// `Debug` value).
    pub(super) fn last_text(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(f, _)| f.name() == name)
            .and_then(|(_, v)| match v {
                Captured::Str(range) | Captured::Debug(range) => Some(self.text_of(range)),
                _ => None,
            })
    }

    /// Bytes of text held (tests).
    #[cfg(test)]
    pub(super) fn text_bytes(&self) -> usize {
        let errors: usize = self
            .values
            .iter()
            .map(|(_, v)| match v {
                Captured::Error(e) => e.text_bytes(),
                _ => 0,
            })
            .sum();
        self.text.len() + errors
    }

    fn text_of(&self, range: &Range<usize>) -> &str {
        self.text.get(range.clone()).unwrap_or_default()
    }

    /// Appends what `write` writes to the text; returns where it is.
    fn push_text(&mut self, write: impl FnOnce(&mut String)) -> Range<usize> {
        let start = self.text.len();
        write(&mut self.text);
        start..self.text.len()
    }
}

impl Visit for Fields {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.values.push((field.clone(), Captured::I64(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.values.push((field.clone(), Captured::U64(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.values.push((field.clone(), Captured::Bool(value)));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.values.push((field.clone(), Captured::F64(value)));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        record_wide(self, field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        record_wide(self, field, value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let range = self.push_text(|text| {
            let _ = Capped::new(text).write_str(value);
        });
        self.values.push((field.clone(), Captured::Str(range)));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.values
            .push((field.clone(), Captured::Error(StoredError::of(value))));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let range = self.push_text(|text| write_capped(text, format_args!("{value:?}")));
        self.values.push((field.clone(), Captured::Debug(range)));
    }
}

/// Writes `args` into `text`, at most a span's whole text room of it (cut at a
/// character boundary), and stops the formatting there: no span keeps more of one value
/// (found by review: an event's or `record`'s value was formatted whole, a 10 MB
/// `Debug` into 30 MB of text, and one that writes until its writer fails never
/// ended).
pub(super) fn write_capped(text: &mut String, args: fmt::Arguments<'_>) {
    let _ = fmt::Write::write_fmt(&mut Capped::new(text), args);
}

/// A writer into a `String` that takes at most a span's text room (see
/// [`write_capped`]).
struct Capped<'t> {
    text: &'t mut String,
    left: usize,
}

impl<'t> Capped<'t> {
    fn new(text: &'t mut String) -> Self {
        Capped {
            text,
            left: super::TEXT_PER_SPAN,
        }
    }
}

impl fmt::Write for Capped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() <= self.left {
            self.text.push_str(s);
            self.left -= s.len();
            return Ok(());
        }
        let mut end = self.left;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&s[..end]);
        self.left = 0;
        Err(fmt::Error)
    }
}

/// Reads a new span's fields into [`Fields`], a panic in a value's `Debug` or
/// `Display` contained: that field reads [`super::PANICKED`] (an `otel.*` override is
/// left out). A span's creation must not unwind out of the layer (see
/// [`super::contained`]; found by review: fields read for the sampler, or kept for a
/// root's later parent, let it go on).
pub(super) struct Contained<'f>(pub(super) &'f mut Fields);

impl Contained<'_> {
    fn panicked(&mut self, field: &Field) {
        if !super::is_override(field.name()) {
            self.0.record_str(field, super::PANICKED);
        }
    }
}

impl Visit for Contained<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.record_i64(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.record_u64(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.record_bool(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.record_f64(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.0.record_i128(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.0.record_u128(field, value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.record_str(field, value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !super::contained(|| self.0.record_error(field, value)) {
            self.panicked(field);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !super::contained(|| self.0.record_debug(field, value)) {
            self.panicked(field);
        }
    }
}

/// A 128-bit integer as an integer when it fits in 64 bits, else as its text (as a
/// `u64` above `i64::MAX` is): `tracing`'s default made every one text (found by
/// review).
pub(super) fn record_wide<T>(visitor: &mut impl Visit, field: &Field, value: T)
where
    T: TryInto<i64> + fmt::Debug + Copy,
{
    match value.try_into() {
        Ok(value) => visitor.record_i64(field, value),
        Err(_) => visitor.record_debug(field, &value),
    }
}

/// Where [`Fields::replay`] writes: a [`Visit`]or that can also take a `Debug` value
/// as the text it was formatted to.
pub(super) trait Replay: Visit {
    /// A `Debug` value, already formatted: by default given to `record_debug` as it was.
    fn record_text(&mut self, field: &Field, text: &str) {
        self.record_debug(field, &Formatted(text));
    }
}

/// Text that `Debug`-formats as itself.
pub(super) struct Formatted<'a>(pub(super) &'a str);

impl fmt::Debug for Formatted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// An error as it was read: its text and its causes' texts, as an error again (its
/// `source` is the next cause), so that it is written as the error itself would be.
/// At most [`MAX_ERROR_CAUSES`] causes are kept.
#[derive(Clone, Debug)]
pub(super) struct StoredError {
    text: String,
    cause: Option<Box<StoredError>>,
}

/// What `value`'s `Display` writes, up to an error it returns (`to_string` panics
/// then: a user's error type must not take the program down through a log line).
pub(super) fn text_of(value: &dyn fmt::Display) -> String {
    let mut text = String::new();
    write_capped(&mut text, format_args!("{value}"));
    text
}

/// The texts of `error`'s causes (`source()`, then its source, and so on), outermost
/// first, at most [`MAX_ERROR_CAUSES`].
pub(super) fn causes(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut causes = Vec::new();
    let mut next = error.source();
    while let Some(cause) = next {
        if causes.len() == MAX_ERROR_CAUSES {
            break;
        }
        causes.push(text_of(cause));
        next = cause.source();
    }
    causes
}

/// `text`'s first `max` bytes, cut at a character boundary.
fn cut_to(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

impl StoredError {
    /// A copy with its text and its causes' cut to `max` bytes each.
    fn cut_copy(&self, max: usize) -> Self {
        StoredError {
            text: cut_to(&self.text, max).into(),
            cause: self.cause.as_ref().map(|c| Box::new(c.cut_copy(max))),
        }
    }

    /// Bytes of text held, causes included (tests).
    #[cfg(test)]
    fn text_bytes(&self) -> usize {
        self.text.len() + self.cause.as_ref().map_or(0, |c| c.text_bytes())
    }

    fn of(error: &(dyn std::error::Error + 'static)) -> Self {
        let cause = causes(error).into_iter().rev().fold(None, |cause, text| {
            Some(Box::new(StoredError { text, cause }))
        });
        StoredError {
            text: text_of(error),
            cause,
        }
    }
}

impl fmt::Display for StoredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for StoredError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_deref().map(|cause| cause as _)
    }
}
