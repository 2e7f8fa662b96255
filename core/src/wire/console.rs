//! Human-readable span output for terminals and logs (the idea of smoltcp's
//! `pretty_print`): one line per span, or one tree per trace with a duration waterfall.
//!
//! Writes into any [`core::fmt::Write`] and allocates nothing; timestamps are UTC
//! RFC 3339, computed without a date library. The tree is built by scanning the batch
//! (quadratic in its size, fine for console use: parent lookups are remembered for
//! the few parents most spans of a batch share), never loops (span ids that repeat
//! or form a cycle cannot make it run away), and stops nesting at [`MAX_DEPTH`].
//!
//! ```
//! use picotrace::wire::console::write_timestamp;
//! use picotrace::Timestamp;
//! let mut s = heapless::String::<32>::new();
//! write_timestamp(Timestamp::from_unix_nanos(1_700_000_000_123_000_000), &mut s)?;
//! assert_eq!(s, "2023-11-14T22:13:20.123Z");
//! # Ok::<(), core::fmt::Error>(())
//! ```

use core::fmt::{self, Write};

use crate::id::SpanId;
use crate::span::attributes::AttributeValue;
use crate::span::record::SpanData;
use crate::span::{SpanKind, Status};
use crate::time::Timestamp;

/// The deepest nesting [`write_trace_tree`] draws; deeper spans are listed after the tree.
pub const MAX_DEPTH: usize = 24;
/// Width of the name column of the tree, indentation included.
const NAME_WIDTH: usize = 30;
/// Width of the waterfall bar in characters.
const BAR_WIDTH: usize = 32;

/// Writes one line for a span (no newline):
/// `2023-11-14T22:13:20.000Z <trace id> <span id> ← <parent id> SERVER "GET /users"
/// 15.200 ms OK {http.request.method="GET"} events=[cache_miss, exception "timed out"]`.
///
/// A root span shows `(root)` instead of the parent; a parent from another process is
/// followed by `(remote)`. Events are listed by name, an exception with its message;
/// counters (`links=`, `dropped_*=`, `truncated=`) appear only when not zero.
///
/// # Errors
/// Only those of `w`.
pub fn write_span_line<W: Write + ?Sized>(span: &SpanData<'_>, w: &mut W) -> fmt::Result {
    let cx = span.span_context();
    write_timestamp(span.start_time(), w)?;
    write!(w, " {} {} ", cx.trace_id, cx.span_id)?;
    match span.parent_span_id() {
        Some(parent) if span.parent_is_remote() => write!(w, "← {parent} (remote)")?,
        Some(parent) => write!(w, "← {parent}")?,
        None => w.write_str("(root)")?,
    }
    write!(w, " {} {:?} ", kind_label(span.kind()), span.name())?;
    write_duration(duration_nanos(span), 3, w)?;
    match span.status() {
        Status::Unset => w.write_str(" UNSET")?,
        Status::Ok => w.write_str(" OK")?,
        // An HTTP span's error is its status code, with no description (the semantic
        // conventions): ` ERROR` alone, not ` ERROR ""`.
        Status::Error { description: "" } => w.write_str(" ERROR")?,
        Status::Error { description } => write!(w, " ERROR {description:?}")?,
    }
    let mut attributes = span.attributes().peekable();
    if attributes.peek().is_some() {
        w.write_str(" {")?;
        for (i, (key, value)) in attributes.enumerate() {
            if i > 0 {
                w.write_str(", ")?;
            }
            // Keys may come from anywhere (`set_attribute_dyn`): a newline or an
            // escape sequence in one must not break the line or reach the terminal,
            // and one holding `"`, `=` or `, ` must not read as several attributes.
            write_key(key, w)?;
            w.write_str("=")?;
            write_value(value, w)?;
        }
        w.write_str("}")?;
    }
    // Each event by its name, an exception with its message: what went wrong is read
    // from the line (found by a new user: `events=1` said nothing of it).
    let mut events = span.events().peekable();
    if events.peek().is_some() {
        w.write_str(" events=[")?;
        for (i, event) in events.enumerate() {
            if i > 0 {
                w.write_str(", ")?;
            }
            write_clean(event.name(), Marks::Listed, w)?;
            write_exception_message(&event, w)?;
        }
        w.write_str("]")?;
    }
    let links = span.links().count();
    if links > 0 {
        write!(w, " links={links}")?;
    }
    write_losses(span, w)
}

/// Writes ` "message"` for an exception event (its `exception.message`), nothing for
/// another.
fn write_exception_message<W: Write + ?Sized>(
    event: &crate::span::record::EventData<'_>,
    w: &mut W,
) -> fmt::Result {
    let message = event
        .attributes()
        .find(|(k, _)| *k == crate::semconv::EXCEPTION_MESSAGE);
    if let Some((_, AttributeValue::Str(message))) = message {
        w.write_char(' ')?;
        write_quoted(message, w)?;
    }
    Ok(())
}

/// Writes what `span` lost, as ` name=n` for each count that is not zero: attributes,
/// events and links over the limits (the span's own, and its events' and links'
/// attributes), and values cut.
fn write_losses<W: Write + ?Sized>(span: &SpanData<'_>, w: &mut W) -> fmt::Result {
    let losses = [
        ("dropped_attributes", span.dropped_attributes_count()),
        ("dropped_events", span.dropped_events_count()),
        ("dropped_links", span.dropped_links_count()),
        (
            "dropped_event_attributes",
            span.events()
                .fold(0u32, |n, e| n.saturating_add(e.dropped_attributes_count())),
        ),
        (
            "dropped_link_attributes",
            span.links()
                .fold(0u32, |n, l| n.saturating_add(l.dropped_attributes_count())),
        ),
        ("truncated", span.truncated_values_count()),
    ];
    for (name, n) in losses {
        if n > 0 {
            write!(w, " {name}={n}")?;
        }
    }
    Ok(())
}

/// Writes every trace of `spans` as a tree: a header line, then one row per span
/// (children under their parent, ordered by start time) with its kind, duration and a
/// bar placed on the trace's time line, and one row per event with a `^` marker.
///
/// ```text
/// trace 4bf92f3577b34da6a3ce929d0e0e4736  (3 spans, 15.2 ms)
/// GET /users                     SERVER      15.2 ms |████████████████████████████████|
///   query_database               CLIENT       9.8 ms |  █████████████████████         | ERROR "timeout"
///                                                    |       ^                        | exception "timed out"
///   render                       INTERNAL     3.0 ms |                       ███████  | dropped_attributes=2
/// ```
///
/// What a span lost follows its row, as in [`write_span_line`]: `dropped_attributes=`,
/// `dropped_events=`, `dropped_links=`, `dropped_event_attributes=`,
/// `dropped_link_attributes=`, `truncated=`, each only when not zero.
///
/// Spans whose parent is not in the batch are drawn at the top level. Spans that
/// cannot be reached from a top-level span within [`MAX_DEPTH`] levels (a parent
/// cycle, or nesting that deep) are listed after the tree. Traces are separated by an
/// empty line.
///
/// # Errors
/// Only those of `w`.
pub fn write_trace_tree<'a, W, I>(spans: I, w: &mut W) -> fmt::Result
where
    W: Write + ?Sized,
    I: Iterator<Item = SpanData<'a>> + Clone,
{
    let mut first = true;
    for (i, span) in spans.clone().enumerate() {
        let trace_id = span.span_context().trace_id;
        let seen = spans
            .clone()
            .take(i)
            .any(|s| s.span_context().trace_id == trace_id);
        if seen {
            continue;
        }
        if !first {
            w.write_str("\n")?;
        }
        first = false;
        let tree = Tree::new(spans.clone(), trace_id);
        tree.write(w)?;
    }
    Ok(())
}

/// Writes a timestamp as UTC RFC 3339 with milliseconds: `2023-11-14T22:13:20.000Z`.
///
/// # Errors
/// Only those of `w`.
pub fn write_timestamp<W: Write + ?Sized>(t: Timestamp, w: &mut W) -> fmt::Result {
    let nanos = t.as_unix_nanos();
    let secs = nanos / 1_000_000_000;
    let millis = (nanos % 1_000_000_000) / 1_000_000;
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    write!(
        w,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Returns the proleptic Gregorian `(year, month, day)` of a day count since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`, for non-negative days).
const fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so that leap days end each 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097; // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year from March 1
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// Writes a duration in the largest unit that keeps it at least 1 (`ns`, `µs`, `ms`,
/// `s`), with `decimals` digits after the point (cut, not rounded; at most 9).
///
/// # Errors
/// Only those of `w`.
pub fn write_duration<W: Write + ?Sized>(nanos: u64, decimals: u32, w: &mut W) -> fmt::Result {
    let (unit, name) = match nanos {
        0..=999 => return write!(w, "{nanos} ns"),
        1_000..=999_999 => (1_000, "µs"),
        1_000_000..=999_999_999 => (1_000_000, "ms"),
        _ => (1_000_000_000, "s"),
    };
    write!(w, "{}", nanos / unit)?;
    let decimals = decimals.min(9);
    if decimals > 0 {
        // `unit` has 3, 6 or 9 zeros; keep the first `decimals` digits of the rest.
        let digits = unit.ilog10();
        let frac = nanos % unit;
        let shown = if decimals <= digits {
            frac / 10u64.pow(digits - decimals)
        } else {
            frac * 10u64.pow(decimals - digits)
        };
        write!(w, ".{shown:0width$}", width = decimals as usize)?;
    }
    write!(w, " {name}")
}

fn duration_nanos(span: &SpanData<'_>) -> u64 {
    span.end_time()
        .as_unix_nanos()
        .saturating_sub(span.start_time().as_unix_nanos())
}

fn kind_label(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal => "INTERNAL",
        SpanKind::Server => "SERVER",
        SpanKind::Client => "CLIENT",
        SpanKind::Producer => "PRODUCER",
        SpanKind::Consumer => "CONSUMER",
    }
}

fn write_value<W: Write + ?Sized>(value: AttributeValue<'_>, w: &mut W) -> fmt::Result {
    match value {
        AttributeValue::Str(s) => write!(w, "{s:?}"),
        AttributeValue::Bool(b) => write!(w, "{b}"),
        AttributeValue::I64(i) => write!(w, "{i}"),
        // `Debug`: a whole double keeps its `.0` (`1.0`, not the integer `1`), and a
        // huge or tiny one takes an exponent (`1e300`, not 301 digits).
        AttributeValue::F64(f) => write!(w, "{f:?}"),
        AttributeValue::Array(items) => {
            w.write_str("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    w.write_str(", ")?;
                }
                write_value(item, w)?;
            }
            w.write_str("]")
        }
    }
}

/// Writes an attribute key: as it is when plain (ASCII letters, digits and `._-/:@`,
/// as semantic-convention keys are), else quoted and escaped as `{:?}` writes it.
fn write_key<W: Write + ?Sized>(key: &str, w: &mut W) -> fmt::Result {
    let plain =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@');
    if !key.is_empty() && key.chars().all(plain) {
        w.write_str(key)
    } else {
        write!(w, "{key:?}")
    }
}

/// Whether [`write_clean`] escapes `c`: what `{:?}` escapes (control characters, line
/// and paragraph separators, bidi overrides and isolates, zero-width and other
/// characters that do not show), and a backslash, so that an escape cannot be faked;
/// not quotes (the text is not quoted).
fn escaped(c: char) -> bool {
    !matches!(c, '"' | '\'') && c.escape_debug().len() > 1
}

/// The terminal columns `c` takes: 2 for Unicode's East Asian Width W and F characters
/// (CJK, Hangul, fullwidth forms, emoji), else 1 (found by review: every character was
/// counted as one column, and a row named in Chinese pushed its bar right; then the
/// outline of the ranges missed ✅, ⚡ and 🟢 and counted 🖥 as wide).
fn columns_of(c: char) -> usize {
    let c = c as u32;
    // Binary search of the sorted, disjoint ranges.
    let wide = WIDE
        .binary_search_by(|&(first, last)| {
            if last < c {
                core::cmp::Ordering::Less
            } else if first > c {
                core::cmp::Ordering::Greater
            } else {
                core::cmp::Ordering::Equal
            }
        })
        .is_ok();
    if wide {
        2
    } else {
        1
    }
}

/// The characters of East Asian Width W or F (Unicode 14.0, `EastAsianWidth.txt`), as
/// inclusive ranges; ranges apart by unassigned code points only are joined. Generated
/// with Python's `unicodedata` (`east_asian_width(c) in ("W", "F")` for assigned `c`).
#[rustfmt::skip]
const WIDE: &[(u32, u32)] = &[
    (0x1100, 0x115F), (0x231A, 0x231B), (0x2329, 0x232A), (0x23E9, 0x23EC),
    (0x23F0, 0x23F0), (0x23F3, 0x23F3), (0x25FD, 0x25FE), (0x2614, 0x2615),
    (0x2648, 0x2653), (0x267F, 0x267F), (0x2693, 0x2693), (0x26A1, 0x26A1),
    (0x26AA, 0x26AB), (0x26BD, 0x26BE), (0x26C4, 0x26C5), (0x26CE, 0x26CE),
    (0x26D4, 0x26D4), (0x26EA, 0x26EA), (0x26F2, 0x26F3), (0x26F5, 0x26F5),
    (0x26FA, 0x26FA), (0x26FD, 0x26FD), (0x2705, 0x2705), (0x270A, 0x270B),
    (0x2728, 0x2728), (0x274C, 0x274C), (0x274E, 0x274E), (0x2753, 0x2755),
    (0x2757, 0x2757), (0x2795, 0x2797), (0x27B0, 0x27B0), (0x27BF, 0x27BF),
    (0x2B1B, 0x2B1C), (0x2B50, 0x2B50), (0x2B55, 0x2B55), (0x2E80, 0x303E),
    (0x3041, 0x3247), (0x3250, 0x4DBF), (0x4E00, 0xA4C6), (0xA960, 0xA97C),
    (0xAC00, 0xD7A3), (0xF900, 0xFAD9), (0xFE10, 0xFE19), (0xFE30, 0xFE6B),
    (0xFF01, 0xFF60), (0xFFE0, 0xFFE6), (0x16FE0, 0x1B2FB), (0x1F004, 0x1F004),
    (0x1F0CF, 0x1F0CF), (0x1F18E, 0x1F18E), (0x1F191, 0x1F19A), (0x1F200, 0x1F320),
    (0x1F32D, 0x1F335), (0x1F337, 0x1F37C), (0x1F37E, 0x1F393), (0x1F3A0, 0x1F3CA),
    (0x1F3CF, 0x1F3D3), (0x1F3E0, 0x1F3F0), (0x1F3F4, 0x1F3F4), (0x1F3F8, 0x1F43E),
    (0x1F440, 0x1F440), (0x1F442, 0x1F4FC), (0x1F4FF, 0x1F53D), (0x1F54B, 0x1F54E),
    (0x1F550, 0x1F567), (0x1F57A, 0x1F57A), (0x1F595, 0x1F596), (0x1F5A4, 0x1F5A4),
    (0x1F5FB, 0x1F64F), (0x1F680, 0x1F6C5), (0x1F6CC, 0x1F6CC), (0x1F6D0, 0x1F6D2),
    (0x1F6D5, 0x1F6DF), (0x1F6EB, 0x1F6EC), (0x1F6F4, 0x1F6FC), (0x1F7E0, 0x1F7F0),
    (0x1F90C, 0x1F93A), (0x1F93C, 0x1F945), (0x1F947, 0x1F9FF), (0x1FA70, 0x1FAF6),
    (0x20000, 0x3134A),
];

/// Characters a tree row escapes besides those [`escaped`] picks, where they could pass
/// for the row's own marks (found by review).
#[derive(Clone, Copy)]
enum Marks {
    /// A span's name: a leading space, or a character that shows as blank, would pass
    /// for one more level of nesting.
    Name,
    /// An event's label: a quote would pass for the quoted exception message after it.
    Label,
    /// An event's label in a line's list: a quote, a comma or a closing bracket would
    /// pass for the list's own.
    Listed,
}

impl Marks {
    /// Whether `c`, the text's first character when `first`, is written escaped.
    fn escapes(self, first: bool, c: char) -> bool {
        escaped(c)
            || match self {
                Marks::Name => first && shows_blank(c),
                Marks::Label => c == '"',
                Marks::Listed => matches!(c, '"' | ',' | ']'),
            }
    }
}

/// Whether `c` shows as blank where `{:?}` leaves it as it is: a space of any width,
/// and the printable characters drawn empty (found by review: a name starting with
/// U+2800 BRAILLE PATTERN BLANK passed for a nested child in the tree).
fn shows_blank(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{2800}' | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'
        )
}

/// The columns `c` takes when written escaped (`escape_debug`, or `\u{..}` for a
/// character `escape_debug` leaves as it is, a space say).
fn escaped_columns(c: char) -> usize {
    match c.escape_debug().len() {
        1 => c.escape_unicode().len(),
        n => n,
    }
}

/// Writes `c`, escaped or not; returns the terminal columns written.
fn write_char_clean<W: Write + ?Sized>(
    c: char,
    escape: bool,
    w: &mut W,
) -> Result<usize, fmt::Error> {
    if !escape {
        w.write_char(c)?;
        return Ok(columns_of(c));
    }
    if c.escape_debug().len() == 1 {
        for e in c.escape_unicode() {
            w.write_char(e)?;
        }
    } else {
        for e in c.escape_debug() {
            w.write_char(e)?;
        }
    }
    Ok(escaped_columns(c))
}

/// Writes `text` with the characters [`escaped`] and `marks` pick escaped; returns the
/// terminal columns written.
fn write_clean<W: Write + ?Sized>(
    text: &str,
    marks: Marks,
    w: &mut W,
) -> Result<usize, fmt::Error> {
    let mut width = 0;
    for (i, c) in text.chars().enumerate() {
        width += write_char_clean(c, marks.escapes(i == 0, c), w)?;
    }
    Ok(width)
}

/// [`write_clean`] in at most `max` columns: a longer text is cut, its last column `…`.
fn write_clean_cut<W: Write + ?Sized>(
    text: &str,
    max: usize,
    marks: Marks,
    w: &mut W,
) -> Result<usize, fmt::Error> {
    let columns = |(i, c): (usize, char)| {
        if marks.escapes(i == 0, c) {
            escaped_columns(c)
        } else {
            columns_of(c)
        }
    };
    if text.chars().enumerate().map(columns).sum::<usize>() <= max {
        return write_clean(text, marks, w);
    }
    let mut width = 0;
    for (i, c) in text.chars().enumerate() {
        if width + columns((i, c)) + 1 > max {
            break;
        }
        width += write_char_clean(c, marks.escapes(i == 0, c), w)?;
    }
    w.write_char('…')?;
    Ok(width + 1)
}

fn write_spaces<W: Write + ?Sized>(n: usize, w: &mut W) -> fmt::Result {
    for _ in 0..n {
        w.write_char(' ')?;
    }
    Ok(())
}

/// A place in a trace's sibling order: start time, then position in the batch.
type Key = (Timestamp, usize);

/// How many parent lookups [`Tree`] remembers.
const PARENT_MEMO: usize = 4;

/// One trace of a batch, read by scanning the batch.
struct Tree<I> {
    spans: I,
    trace_id: crate::id::TraceId,
    /// The last parent ids looked up, and whether the batch holds them: most spans of a
    /// batch share a few parents (one missing parent of a thousand orphans), and each
    /// lookup is a scan of the batch.
    parents: core::cell::Cell<[Option<(SpanId, bool)>; PARENT_MEMO]>,
    /// Where the next lookup goes in `parents`.
    next_memo: core::cell::Cell<usize>,
}

impl<'a, I: Iterator<Item = SpanData<'a>> + Clone> Tree<I> {
    /// The spans of this trace with their positions in the batch.
    fn members(&self) -> impl Iterator<Item = (usize, SpanData<'a>)> + Clone + '_ {
        self.spans
            .clone()
            .enumerate()
            .filter(move |(_, s)| s.span_context().trace_id == self.trace_id)
    }

    fn find(&self, id: SpanId) -> Option<(usize, SpanData<'a>)> {
        self.members().find(|(_, s)| s.span_context().span_id == id)
    }

    fn new(spans: I, trace_id: crate::id::TraceId) -> Self {
        Self {
            spans,
            trace_id,
            parents: core::cell::Cell::new([None; PARENT_MEMO]),
            next_memo: core::cell::Cell::new(0),
        }
    }

    /// A span is drawn at the top level when its parent is not in the batch.
    fn is_top(&self, span: &SpanData<'a>) -> bool {
        span.parent_span_id()
            .is_none_or(|parent| !self.holds(parent))
    }

    /// Whether a span of this trace in the batch has the id `id` (remembered for the
    /// last [`PARENT_MEMO`] ids asked about).
    fn holds(&self, id: SpanId) -> bool {
        let mut memo = self.parents.get();
        if let Some((_, held)) = memo.iter().flatten().find(|(known, _)| *known == id) {
            return *held;
        }
        let held = self.find(id).is_some();
        let at = self.next_memo.get();
        memo[at % PARENT_MEMO] = Some((id, held));
        self.parents.set(memo);
        self.next_memo.set(at.wrapping_add(1));
        held
    }

    /// Returns the first span after `after` among the children of `parent` (or among
    /// the top-level spans). Whether a span is at the top level (a lookup of its
    /// parent) is asked only of spans that would come before the best one so far.
    fn next_among(
        &self,
        parent: Option<SpanId>,
        after: Option<Key>,
    ) -> Option<(usize, SpanData<'a>)> {
        let mut best: Option<(Key, SpanData<'a>)> = None;
        for (i, span) in self.members() {
            let key = (span.start_time(), i);
            if after.is_some_and(|a| key <= a) || best.as_ref().is_some_and(|(b, _)| key >= *b) {
                continue;
            }
            let fits = match parent {
                Some(p) => span.parent_span_id() == Some(p),
                None => self.is_top(&span),
            };
            if fits {
                best = Some((key, span));
            }
        }
        best.map(|((_, i), span)| (i, span))
    }

    /// Returns the depth the tree draws `span` at, or `None` if it is not drawn.
    fn depth_of(&self, span: SpanData<'a>) -> Option<usize> {
        let mut current = span;
        for depth in 0..MAX_DEPTH {
            if self.is_top(&current) {
                return Some(depth);
            }
            current = self.find(current.parent_span_id()?)?.1;
        }
        None
    }

    fn write<W: Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        let count = self.members().count();
        let start = self
            .members()
            .map(|(_, s)| s.start_time())
            .min()
            .unwrap_or_default();
        let end = self
            .members()
            .map(|(_, s)| s.end_time().max(s.start_time()))
            .max()
            .unwrap_or_default();
        let scale = Scale {
            start: start.as_unix_nanos(),
            total: end.as_unix_nanos().saturating_sub(start.as_unix_nanos()),
        };
        write!(
            w,
            "trace {}  ({count} span{}, ",
            self.trace_id,
            if count == 1 { "" } else { "s" }
        )?;
        write_duration(scale.total, 1, w)?;
        w.write_str(")\n")?;

        // Pre-order walk; the stack holds the ancestors of the current span.
        let mut stack: heapless::Vec<(SpanId, Key), MAX_DEPTH> = heapless::Vec::new();
        let mut current = self.next_among(None, None);
        let mut rows = 0;
        while let Some((index, span)) = current {
            if rows == count {
                // Only repeated span ids can make a tree longer than its trace.
                w.write_str("… (span ids repeat; tree cut short)\n")?;
                break;
            }
            rows += 1;
            write_span_row(&span, stack.len(), &scale, w)?;
            let key = (span.start_time(), index);
            let id = span.span_context().span_id;
            if stack.len() + 1 < MAX_DEPTH {
                if let Some(child) = self.next_among(Some(id), None) {
                    // Cannot fail: the stack is shorter than its capacity.
                    let _ = stack.push((id, key));
                    current = Some(child);
                    continue;
                }
            }
            // No child to descend into: the next sibling, or an ancestor's.
            let mut after = key;
            current = loop {
                let parent = stack.last().map(|&(id, _)| id);
                if let Some(next) = self.next_among(parent, Some(after)) {
                    break Some(next);
                }
                match stack.pop() {
                    Some((_, parent_key)) => after = parent_key,
                    None => break None,
                }
            };
        }

        let mut noted = false;
        for (_, span) in self.members() {
            if self.depth_of(span).is_none() {
                if !noted {
                    writeln!(
                        w,
                        "(not in the tree: a parent cycle, or nesting deeper than {MAX_DEPTH})"
                    )?;
                    noted = true;
                }
                write_span_row(&span, 0, &scale, w)?;
            }
        }
        Ok(())
    }
}

/// Maps times onto the bar.
struct Scale {
    start: u64,
    total: u64,
}

impl Scale {
    /// Returns the bar cell of `t`, rounded down (`up`: rounded up), in `0..=BAR_WIDTH`.
    fn cell(&self, t: u64, up: bool) -> usize {
        if self.total == 0 {
            return if up { BAR_WIDTH } else { 0 };
        }
        let offset = u128::from(t.saturating_sub(self.start).min(self.total));
        let scaled = offset * BAR_WIDTH as u128;
        let total = u128::from(self.total);
        let cell = if up {
            scaled.div_ceil(total)
        } else {
            scaled / total
        };
        cell as usize
    }
}

fn write_span_row<W: Write + ?Sized>(
    span: &SpanData<'_>,
    depth: usize,
    scale: &Scale,
    w: &mut W,
) -> fmt::Result {
    // The name column is NAME_WIDTH wide: a longer name is cut with `…` (keeping at
    // least four columns of it: only trees nested 14 deep or more outgrow the column).
    let indent = 2 * depth;
    write_spaces(indent, w)?;
    let room = NAME_WIDTH.saturating_sub(indent).max(4);
    let width = indent + write_clean_cut(span.name(), room, Marks::Name, w)?;
    write_spaces(NAME_WIDTH.saturating_sub(width) + 1, w)?;
    let mut duration = heapless::String::<24>::new();
    write_duration(duration_nanos(span), 1, &mut duration)?;
    write!(w, "{:<8} {duration:>10} |", kind_label(span.kind()))?;
    // A duration wider than its column (11.6 days and more) moves this row's bar: its
    // event markers move with it.
    let duration_width = duration.chars().count().max(10);
    let start = span.start_time().as_unix_nanos();
    let first = scale.cell(start, false).min(BAR_WIDTH - 1);
    let last = scale
        .cell(span.end_time().as_unix_nanos().max(start), true)
        .max(first + 1);
    for cell in 0..BAR_WIDTH {
        w.write_char(if (first..last).contains(&cell) {
            '█'
        } else {
            ' '
        })?;
    }
    w.write_char('|')?;
    if let Status::Error { description } = span.status() {
        w.write_str(" ERROR")?;
        if !description.is_empty() {
            write!(w, " {description:?}")?;
        }
    }
    write_losses(span, w)?;
    w.write_char('\n')?;

    for event in span.events() {
        // The marker under the bar first, the label after it: a long label cannot push
        // the time line out of its column. Under the row's own bar, which a name nested
        // 14 deep or more moves right (found by review: the marker stayed in the column).
        write_spaces(NAME_WIDTH.max(width) + 1 + 8 + 1 + duration_width, w)?;
        w.write_str(" |")?;
        let at = scale
            .cell(event.time().as_unix_nanos(), false)
            .min(BAR_WIDTH - 1);
        for cell in 0..BAR_WIDTH {
            w.write_char(if cell == at { '^' } else { ' ' })?;
        }
        w.write_str("| ")?;
        write_clean(event.name(), Marks::Label, w)?;
        write_exception_message(&event, w)?;
        w.write_char('\n')?;
    }
    Ok(())
}

/// Writes `text` quoted and escaped as `{:?}` does; returns the characters written.
fn write_quoted<W: Write + ?Sized>(text: &str, w: &mut W) -> Result<usize, fmt::Error> {
    struct Counting<'w, W: ?Sized> {
        inner: &'w mut W,
        chars: usize,
    }
    impl<W: Write + ?Sized> Write for Counting<'_, W> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.chars += s.chars().count();
            self.inner.write_str(s)
        }
    }
    let mut c = Counting { inner: w, chars: 0 };
    write!(c, "{text:?}")?;
    Ok(c.chars)
}

#[cfg(test)]
mod tests {
    use std::string::String;

    use super::*;
    use crate::wire::otlp::test_support::{hand_span, with_sample_batch, TestSlot, T0};

    #[rustfmt::skip]
    const DATES: &[(u64, &str, &str)] = &[
        (0, "1970-01-01T00:00:00.000Z", "the epoch"),
        (T0, "2023-11-14T22:13:20.000Z", "1.7e9 seconds"),
        (951_782_400_000_000_000, "2000-02-29T00:00:00.000Z", "leap day of a year divisible by 400"),
        (4_107_542_399_999_000_000, "2100-02-28T23:59:59.999Z", "2100 is not a leap year"),
        (4_107_542_400_000_000_000, "2100-03-01T00:00:00.000Z", "so March follows February 28"),
        (1_709_164_800_000_000_000, "2024-02-29T00:00:00.000Z", "leap day of an ordinary leap year"),
        (1_735_689_599_999_999_999, "2024-12-31T23:59:59.999Z", "last millisecond of a year, cut not rounded"),
        (u64::MAX, "2554-07-21T23:34:33.709Z", "the last representable time"),
    ];

    #[test]
    fn timestamps_are_utc_rfc3339() {
        for &(nanos, want, why) in DATES {
            let mut s = String::new();
            write_timestamp(Timestamp::from_unix_nanos(nanos), &mut s).unwrap();
            assert_eq!(s, want, "{why}");
        }
    }

    #[test]
    fn civil_from_days_round_trips_every_day_for_four_centuries() {
        // Walk day by day from 1970 and check the calendar advances as it should.
        let (mut y, mut m, mut d) = (1970, 1, 1);
        for days in 0..146_097 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            d += 1;
            if d > len[m as usize - 1] {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn durations_pick_a_unit() {
        let show = |n: u64, decimals: u32| {
            let mut s = String::new();
            write_duration(n, decimals, &mut s).unwrap();
            s
        };
        assert_eq!(show(0, 3), "0 ns");
        assert_eq!(show(999, 3), "999 ns");
        assert_eq!(show(12_345, 3), "12.345 µs");
        assert_eq!(show(15_200_000, 1), "15.2 ms");
        assert_eq!(show(9_899_999, 1), "9.8 ms");
        assert_eq!(show(1_500_000_000, 0), "1 s");
        assert_eq!(show(1_500_000_000, 12), "1.500000000 s");
        assert_eq!(show(u64::MAX, 3), "18446744073.709 s");
    }

    #[test]
    fn span_lines_snapshot() {
        with_sample_batch(|batch| {
            let mut out = String::new();
            for span in batch.iter() {
                write_span_line(&span, &mut out).unwrap();
                out.push('\n');
            }
            std::println!("{out}");
            assert_eq!(out, SPAN_LINES);
        });
    }

    #[test]
    fn trace_tree_snapshot() {
        with_sample_batch(|batch| {
            let mut out = String::new();
            write_trace_tree(batch.iter(), &mut out).unwrap();
            std::println!("{out}");
            assert_eq!(out, TREE);
        });
    }

    fn tree_of(slots: &[TestSlot]) -> String {
        let mut out = String::new();
        write_trace_tree(slots.iter().map(|s| s.data()), &mut out).unwrap();
        out
    }

    fn names_in_order(tree: &str) -> std::vec::Vec<(usize, &str)> {
        tree.lines()
            .filter(|l| l.contains('|') && !l.trim_start().starts_with('e'))
            .map(|l| {
                let indent = l.len() - l.trim_start().len();
                (indent / 2, l.split_whitespace().next().unwrap())
            })
            .collect()
    }

    #[test]
    fn orphans_go_to_the_top_level_and_traces_are_separate() {
        let slots = [
            hand_span(1, 2, Some(9), "orphan_b", (5, 6), |_| {}),
            hand_span(2, 1, None, "other_trace", (0, 1), |_| {}),
            hand_span(1, 3, Some(2), "child_of_b", (5, 6), |_| {}),
            hand_span(1, 4, Some(8), "orphan_a", (1, 2), |_| {}),
        ];
        let out = tree_of(&slots);
        let traces: std::vec::Vec<_> = out.split("\n\n").collect();
        assert_eq!(traces.len(), 2, "{out}");
        assert!(traces[0].starts_with("trace 01010101010101010101010101010101  (3 spans, 5.0 ms)"));
        assert_eq!(
            names_in_order(traces[0]),
            [(0, "orphan_a"), (0, "orphan_b"), (1, "child_of_b")],
            "{out}"
        );
        assert!(traces[1].starts_with("trace 02020202020202020202020202020202  (1 span, 1.0 ms)"));
    }

    #[test]
    fn parent_cycles_and_self_parents_are_listed_not_followed() {
        let slots = [
            hand_span(1, 1, None, "root", (0, 10), |_| {}),
            hand_span(1, 2, Some(3), "cycle_a", (1, 2), |_| {}),
            hand_span(1, 3, Some(2), "cycle_b", (1, 2), |_| {}),
            hand_span(1, 4, Some(4), "own_parent", (1, 2), |_| {}),
        ];
        let out = tree_of(&slots);
        assert_eq!(
            names_in_order(&out),
            [
                (0, "root"),
                (0, "cycle_a"),
                (0, "cycle_b"),
                (0, "own_parent")
            ],
            "{out}"
        );
        assert!(out.contains("(not in the tree: a parent cycle"), "{out}");
    }

    /// Regression: a name wider than its column (30 characters with its indent) pushed
    /// its row's bar to the right, off its event markers' column. It is cut, with `…`.
    #[test]
    fn long_names_are_cut_and_the_bars_stay_in_their_column() {
        let long = "GET /api/v1/users/{id}/orders/{order_id}";
        let slots = [
            hand_span(1, 1, None, "root", (0, 10), |_| {}),
            hand_span(1, 2, Some(1), long, (1, 9), |_| {}),
            hand_span(1, 3, Some(2), "leaf", (2, 3), |_| {}),
        ];
        let out = tree_of(&slots);
        let bars: std::vec::Vec<usize> = out
            .lines()
            .filter(|l| l.contains('|'))
            .map(|l| l.chars().position(|c| c == '|').unwrap())
            .collect();
        assert_eq!(bars.len(), 3, "{out}");
        assert!(bars.iter().all(|&b| b == bars[0]), "{out}");
        assert!(out.contains("  GET /api/v1/users/{id}/orde…"), "{out}");
    }

    /// Regression (found by review): a name of wide characters (CJK, emoji: two
    /// terminal columns each) was counted one column a character, and its row's bar
    /// stood right of the others'; cut names too.
    #[test]
    fn wide_characters_keep_the_bars_in_their_column() {
        let cut = "查询用户订单查询用户订单查询用户订单"; // 36 columns: cut
        let slots = [
            hand_span(1, 1, None, "render", (0, 10), |_| {}),
            hand_span(1, 2, Some(1), "查询用户", (1, 9), |_| {}),
            hand_span(1, 3, Some(1), "🚀 deploy", (2, 8), |_| {}),
            hand_span(1, 4, Some(1), cut, (3, 7), |_| {}),
            hand_span(1, 5, Some(1), "✅ done", (4, 6), |_| {}),
        ];
        let out = tree_of(&slots);
        // Display columns before the bar: CJK and the rocket take two.
        let column = |l: &str| {
            let end = l.find('|').unwrap();
            l[..end]
                .chars()
                .map(|c| {
                    if c.len_utf8() >= 3 && c != '…' {
                        2
                    } else {
                        1
                    }
                })
                .sum::<usize>()
        };
        let bars: std::vec::Vec<usize> = out
            .lines()
            .filter(|l| l.contains('|'))
            .map(column)
            .collect();
        assert_eq!(bars.len(), 5, "{out}");
        assert!(bars.iter().all(|&b| b == bars[0]), "{bars:?}\n{out}");
        assert!(out.contains('…'), "{out}");
    }

    /// Regression (found by review): the event label was written unquoted and with `"`
    /// as it is, so an event named `exception "timed out"` printed as an exception event
    /// whose message is "timed out".
    #[test]
    fn an_event_name_cannot_pass_for_an_exception_message() {
        let limits = crate::SpanLimits::DEFAULT;
        let at = Timestamp::from_unix_nanos(T0);
        let real = hand_span(1, 2, None, "s", (0, 1), |w| {
            let message = crate::KeyValue::new(crate::semconv::EXCEPTION_MESSAGE, "timed out");
            w.add_event("exception", at, &[message], &limits);
        });
        let fake = hand_span(1, 2, None, "s", (0, 1), |w| {
            w.add_event("exception \"timed out\"", at, &[], &limits);
        });
        let (real, fake) = (tree_of(&[real]), tree_of(&[fake]));
        assert!(real.contains("| exception \"timed out\"\n"), "{real}");
        assert_ne!(real, fake);
        assert!(fake.contains("| exception \\\"timed out\\\"\n"), "{fake}");
    }

    /// A line lists its events by name (an exception with its message); a name holding
    /// the list's own marks cannot pass for two events or end the list.
    #[test]
    fn a_line_lists_its_events_and_their_names_cannot_pass_for_marks() {
        let limits = crate::SpanLimits::DEFAULT;
        let at = Timestamp::from_unix_nanos(T0);
        let span = hand_span(1, 2, None, "s", (0, 1), |w| {
            w.add_event("cache_miss", at, &[], &limits);
            w.add_event("a, b] c", at, &[], &limits);
            let message = crate::KeyValue::new(crate::semconv::EXCEPTION_MESSAGE, "x, y]");
            w.add_event("exception", at, &[message], &limits);
        });
        let mut line = String::new();
        write_span_line(&span.data(), &mut line).unwrap();
        assert!(
            line.ends_with(r#" events=[cache_miss, a\u{2c} b\u{5d} c, exception "x, y]"]"#),
            "{line}"
        );
    }

    /// Regression (found by review): nesting is shown by leading spaces, and a top-level
    /// span named "  render" printed as a child named "render".
    #[test]
    fn a_leading_space_cannot_pass_for_nesting() {
        let child = [
            hand_span(1, 1, None, "GET /users", (0, 10), |_| {}),
            hand_span(1, 2, Some(1), "render", (1, 9), |_| {}),
        ];
        let top_level = [
            hand_span(1, 1, None, "GET /users", (0, 10), |_| {}),
            hand_span(1, 2, Some(9), "  render", (1, 9), |_| {}),
        ];
        let (child, top_level) = (tree_of(&child), tree_of(&top_level));
        assert!(child.contains("\n  render "), "{child}");
        assert_ne!(child, top_level);
        assert!(top_level.contains("\n\\u{20} render "), "{top_level}");
        // Nor a character drawn blank (found by review: U+2800 and the Hangul fillers).
        for blank in ['\u{2800}', '\u{3164}', '\u{3000}', '\u{A0}'] {
            let name = std::format!("{blank}{blank}render");
            let top_level = [
                hand_span(1, 1, None, "GET /users", (0, 10), |_| {}),
                hand_span(1, 2, Some(9), &name, (1, 9), |_| {}),
            ];
            let top_level = tree_of(&top_level);
            let escaped = std::format!("\n\\u{{{:x}}}", blank as u32);
            assert!(top_level.contains(&escaped), "{blank:?}: {top_level}");
        }
    }

    /// The width table against Unicode's East Asian Width (found by review: the outline
    /// of the ranges counted ✅, ⚡, 🟢 and 🪐 as one column and 🖥 as two).
    #[test]
    fn columns_follow_east_asian_width() {
        for wide in [
            '查', '한', '🚀', '✅', '⚡', '❌', '⭐', '⌚', '🟢', '🪐', 'Ａ',
        ] {
            assert_eq!(columns_of(wide), 2, "{wide}");
        }
        for narrow in ['a', 'é', '…', '🖥', '🌡', '█', '\u{2E7F}', '\u{FF61}'] {
            assert_eq!(columns_of(narrow), 1, "{narrow}");
        }
        assert!(WIDE.windows(2).all(|w| w[0].0 <= w[0].1 && w[0].1 < w[1].0));
    }

    /// Regression: with many spans whose parent is not in the batch (a root still
    /// running while its children export, or a remote parent), each top-level row
    /// looked up the parent of every later span in the whole batch: N^3 / 6 span reads
    /// (1.3 million for 200 spans, seconds of an export thread for 2,000). Counted here
    /// as reads of the batch.
    #[test]
    fn a_batch_of_orphans_is_drawn_in_quadratic_time() {
        #[derive(Clone)]
        struct Counted<'c, I> {
            spans: I,
            reads: &'c core::cell::Cell<usize>,
        }
        impl<I: Iterator> Iterator for Counted<'_, I> {
            type Item = I::Item;
            fn next(&mut self) -> Option<I::Item> {
                let span = self.spans.next();
                self.reads
                    .set(self.reads.get() + usize::from(span.is_some()));
                span
            }
        }
        const N: usize = 200;
        let slots: std::vec::Vec<_> = (1..=N as u8)
            .map(|id| hand_span(1, id, Some(255), "orphan", (u64::from(id), 300), |_| {}))
            .collect();
        let reads = core::cell::Cell::new(0);
        let spans = Counted {
            spans: slots.iter().map(|s| s.data()),
            reads: &reads,
        };
        let mut out = String::new();
        write_trace_tree(spans, &mut out).unwrap();
        let rows = names_in_order(&out);
        assert_eq!(rows.len(), N, "{out}");
        assert!(rows
            .iter()
            .all(|&(depth, name)| depth == 0 && name == "orphan"));
        assert!(
            reads.get() < 4 * N * N,
            "{} reads for {N} spans",
            reads.get()
        );
    }

    /// Regression: the tree wrote Unicode line and paragraph separators, bidi
    /// overrides and isolates, and zero-width characters raw (only control characters
    /// were escaped), where the line view's `{:?}` escapes them: a name or key could
    /// break a log line or reverse how it reads. Escaped as `{:?}` does in both views;
    /// a backslash too, so that an escape cannot be faked.
    #[test]
    fn invisible_and_line_breaking_characters_are_escaped_in_both_views() {
        let raw = [
            '\u{2028}', '\u{2029}', '\u{202e}', '\u{2066}', '\u{200b}', '\u{feff}',
        ];
        let slot = hand_span(1, 2, None, "a\u{2028}b\u{202e}c\\u{41}", (0, 1), |w| {
            let limits = crate::SpanLimits::DEFAULT;
            w.set_attribute(
                "k\u{2029}\u{2066}",
                None,
                &crate::Value::Bool(true),
                &limits,
            );
            w.add_event(
                "e\u{200b}\u{feff}",
                Timestamp::from_unix_nanos(T0),
                &[],
                &limits,
            );
        });
        let tree = tree_of(core::slice::from_ref(&slot));
        let mut line = String::new();
        write_span_line(&slot.data(), &mut line).unwrap();
        for text in [&tree, &line] {
            assert!(!text.contains(raw), "{text:?}");
        }
        assert!(tree.contains("\na\\u{2028}b\\u{202e}c\\\\u{41}"), "{tree}");
        assert!(tree.contains("| e\\u{200b}\\u{feff}\n"), "{tree}");
        assert!(line.contains("{\"k\\u{2029}\\u{2066}\"=true}"), "{line}");
    }

    /// Regression: keys were written unquoted with only control characters escaped, so
    /// one attribute whose key holds `"`, `=` or `, ` printed exactly as two attributes
    /// would. A key that is not plain (letters, digits, `._-/:@`) is quoted.
    #[test]
    fn a_key_cannot_pass_for_several_attributes() {
        let limits = crate::SpanLimits::DEFAULT;
        let one = hand_span(1, 2, None, "s", (0, 1), |w| {
            w.set_attribute(
                "role=\"user\", admin",
                None,
                &crate::Value::Bool(true),
                &limits,
            );
        });
        let two = hand_span(1, 3, None, "s", (0, 1), |w| {
            w.set_attribute("role", None, &crate::Value::Str("user"), &limits);
            w.set_attribute("admin", None, &crate::Value::Bool(true), &limits);
        });
        let attributes = |slot: &TestSlot| {
            let mut line = String::new();
            write_span_line(&slot.data(), &mut line).unwrap();
            line[line.find('{').unwrap()..].into()
        };
        let (one, two): (String, String) = (attributes(&one), attributes(&two));
        assert_eq!(two, "{role=\"user\", admin=true}");
        assert_eq!(one, "{\"role=\\\"user\\\", admin\"=true}");
    }

    /// Regression: a duration wider than its column (a span of 11.6 days or more: 11
    /// characters) pushed its row's bar right, off its event markers' column.
    #[test]
    fn long_durations_keep_the_bars_in_their_column() {
        let days = 2_000_000_000; // ms: 23 days
        let slot = hand_span(1, 2, None, "long", (0, days), |w| {
            let at = Timestamp::from_unix_nanos(T0 + 1_000_000);
            w.add_event("e", at, &[], &crate::SpanLimits::DEFAULT);
        });
        let tree = tree_of(core::slice::from_ref(&slot));
        let bars: std::vec::Vec<usize> = tree
            .lines()
            .filter(|l| l.contains('|'))
            .map(|l| l.chars().position(|c| c == '|').unwrap())
            .collect();
        assert_eq!(bars.len(), 2, "{tree}");
        assert_eq!(bars[0], bars[1], "{tree}");
    }

    /// Regression (found by review): a row nested 14 deep or more, whose name keeps four
    /// columns past the name column, moves its bar right; its event markers stayed in
    /// the column, two to the left of their bar.
    #[test]
    fn deep_rows_keep_their_event_markers_under_their_bar() {
        let mut slots = std::vec::Vec::new();
        for id in 1..=15u8 {
            let parent = (id > 1).then(|| id - 1);
            let name = if id == 15 { "abcdefghij" } else { "n" };
            slots.push(hand_span(1, id, parent, name, (u64::from(id), 100), |w| {
                if id == 15 {
                    let at = Timestamp::from_unix_nanos(T0 + 50_000_000);
                    w.add_event("e", at, &[], &crate::SpanLimits::DEFAULT);
                }
            }));
        }
        let tree = tree_of(&slots);
        let lines: std::vec::Vec<&str> = tree.lines().collect();
        let row = lines
            .iter()
            .position(|l| l.contains("abc"))
            .expect("the deep row");
        let bar = |l: &str| l.chars().position(|c| c == '|');
        assert_eq!(bar(lines[row]), bar(lines[row + 1]), "{tree}");
    }

    /// An error with no description (an HTTP span's: its status code says it) reads
    /// ` ERROR`, not ` ERROR ""`, in both views; one with a description keeps it.
    #[test]
    fn an_error_without_a_description_is_shown_bare() {
        let bare = hand_span(1, 2, None, "GET /rank", (0, 1), |w| {
            w.set_status(&Status::Error { description: "" });
        });
        let told = hand_span(1, 3, Some(2), "told", (0, 1), |w| {
            w.set_status(&Status::Error {
                description: "ranker timeout",
            });
        });
        let mut line = String::new();
        write_span_line(&bare.data(), &mut line).unwrap();
        assert!(
            line.contains(" ERROR") && !line.contains("ERROR \""),
            "{line}"
        );
        let tree = tree_of(&[bare, told]);
        let rows: std::vec::Vec<&str> = tree.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(rows.len(), 2, "{tree}");
        assert!(rows[0].trim_end().ends_with("| ERROR"), "{tree}");
        assert!(rows[1].ends_with("| ERROR \"ranker timeout\""), "{tree}");
    }

    #[test]
    fn repeated_span_ids_cannot_blow_up_the_tree() {
        // Two spans share id 1 and each has the other's id as a child: without a
        // budget the walk would draw 2^depth rows.
        let slots = [
            hand_span(1, 1, None, "root", (0, 10), |_| {}),
            hand_span(1, 1, Some(1), "twin", (1, 9), |_| {}),
            hand_span(1, 2, Some(1), "leaf", (2, 3), |_| {}),
        ];
        let out = tree_of(&slots);
        assert!(out.lines().count() <= 8, "{out}");
        assert!(out.contains("tree cut short"), "{out}");
    }

    #[test]
    fn nesting_stops_at_max_depth_and_the_rest_is_listed() {
        let slots: std::vec::Vec<_> = (1..=30u8)
            .map(|id| {
                let parent = (id > 1).then(|| id - 1);
                hand_span(1, id, parent, "level", (u64::from(id), 40), |_| {})
            })
            .collect();
        let out = tree_of(&slots);
        let rows = names_in_order(&out);
        assert_eq!(rows.len(), 30);
        assert_eq!(rows[MAX_DEPTH - 1].0, MAX_DEPTH - 1);
        assert!(
            rows[MAX_DEPTH..].iter().all(|&(depth, _)| depth == 0),
            "{out}"
        );
    }

    #[test]
    fn zero_length_traces_and_running_spans_draw_without_dividing_by_zero() {
        let slots = [
            hand_span(1, 1, None, "instant", (5, 5), |_| {}),
            hand_span(1, 2, Some(1), "same_instant", (5, 5), |_| {}),
        ];
        let out = tree_of(&slots);
        assert!(out.contains("(2 spans, 0 ns)"), "{out}");
        assert!(out.contains(&"█".repeat(BAR_WIDTH)), "{out}");

        // A span that has not ended yet reads end = 0: a zero-length trace of its own.
        let mut running = TestSlot::new();
        running.writer().init(&crate::span::record::NewRecord {
            context: crate::SpanContext::INVALID,
            parent: None,
            parent_is_remote: false,
            kind: SpanKind::Consumer,
            name: "running",
            start: Timestamp::from_unix_nanos(T0),
            trace_state: "",
        });
        let mut out = String::new();
        write_trace_tree(core::iter::once(running.data()), &mut out).unwrap();
        assert!(out.contains("CONSUMER       0 ns |█████"), "{out}");
        let mut line = String::new();
        write_span_line(&running.data(), &mut line).unwrap();
        assert!(
            line.contains("(root) CONSUMER \"running\" 0 ns UNSET"),
            "{line}"
        );
    }

    #[test]
    fn span_lines_escape_names_and_keys_and_show_remote_parents_and_drops() {
        let slot = hand_span(1, 2, Some(3), "bad\nname\u{7}", (0, 1), |w| {
            w.header.parent_is_remote = true;
            let limits = crate::SpanLimits {
                attribute_count: 1,
                ..crate::SpanLimits::DEFAULT
            };
            w.set_attribute("k\n\u{1b}[2J", None, &crate::Value::F64(f64::NAN), &limits);
            w.set_attribute("dropped", None, &crate::Value::Bool(true), &limits);
        });
        let mut line = String::new();
        write_span_line(&slot.data(), &mut line).unwrap();
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line}");
        assert!(
            line.ends_with(
                "← 0303030303030303 (remote) INTERNAL \"bad\\nname\\u{7}\" 1.000 ms UNSET {\"k\\n\\u{1b}[2J\"=NaN} dropped_attributes=1"
            ),
            "{line}"
        );
        let tree = tree_of(core::slice::from_ref(&slot));
        assert!(tree.contains("\nbad\\nname\\u{7}   "), "{tree}");
        assert!(tree.contains("| dropped_attributes=1\n"), "{tree}");
    }

    /// Regression (found by review): doubles printed with `Display`, so `1.0` showed as
    /// the integer `1` and `1e300` as 301 digits.
    #[test]
    fn doubles_read_as_doubles_and_stay_short() {
        let slot = hand_span(1, 2, None, "n", (0, 1), |w| {
            let limits = crate::SpanLimits::DEFAULT;
            w.set_attribute("whole", None, &crate::Value::F64(1.0), &limits);
            w.set_attribute("int", None, &crate::Value::I64(1), &limits);
            w.set_attribute("huge", None, &crate::Value::F64(1e300), &limits);
            w.set_attribute("tiny", None, &crate::Value::F64(-2.5e-12), &limits);
            w.set_attribute("ratio", None, &crate::Value::F64(0.25), &limits);
        });
        let mut line = String::new();
        write_span_line(&slot.data(), &mut line).unwrap();
        assert!(
            line.ends_with("{whole=1.0, int=1, huge=1e300, tiny=-2.5e-12, ratio=0.25}"),
            "{line}"
        );
    }

    /// What events and links lost shows too, in both views (the tree showed no
    /// counts at all, the line only the span's own).
    #[test]
    fn both_views_show_what_events_and_links_dropped() {
        let slot = hand_span(1, 2, None, "s", (0, 1), |w| {
            let limits = crate::SpanLimits {
                attributes_per_event: 0,
                attributes_per_link: 1,
                ..crate::SpanLimits::DEFAULT
            };
            let one = [crate::KeyValue::new("x", 1)];
            let two = [crate::KeyValue::new("x", 1), crate::KeyValue::new("y", 2)];
            w.add_event("e", Timestamp::from_unix_nanos(T0), &one, &limits);
            let linked = crate::SpanContext {
                trace_id: crate::TraceId::from_bytes([7; 16]),
                span_id: crate::SpanId::from_bytes([8; 8]),
                flags: crate::TraceFlags::SAMPLED,
                is_remote: true,
            };
            w.add_link(linked, "", &two, &limits);
        });
        let mut line = String::new();
        write_span_line(&slot.data(), &mut line).unwrap();
        assert!(
            line.ends_with(
                "events=[e] links=1 dropped_event_attributes=1 dropped_link_attributes=1"
            ),
            "{line}"
        );
        let tree = tree_of(core::slice::from_ref(&slot));
        assert!(
            tree.contains("| dropped_event_attributes=1 dropped_link_attributes=1\n"),
            "{tree}"
        );
    }

    #[rustfmt::skip]
    const SPAN_LINES: &str = concat!(
        "2023-11-14T22:13:20.001Z e0c8423b42fbc59cfdc08fefca0e5a58 517839c2055d0c57 ← da3194f97e21cb3f CLIENT \"query_database\" 9.800 ms ERROR \"timeout\" {db.system.name=\"postgresql\", db.rows=[3, -1]} events=[exception \"timed out\"]\n",
        "2023-11-14T22:13:20.011Z e0c8423b42fbc59cfdc08fefca0e5a58 e8befb97e58c1b1c ← da3194f97e21cb3f INTERNAL \"render\" 3.000 ms UNSET {tags=[\"a\", \"b\"]} links=1\n",
        "2023-11-14T22:13:20.000Z e0c8423b42fbc59cfdc08fefca0e5a58 da3194f97e21cb3f (root) SERVER \"GET /users\" 15.200 ms OK {http.request.method=\"GET\", http.response.status_code=200, user_agent.original=\"curl/8 \\\"quoted\\\"\", retry=false, sample.ratio=0.25}\n",
    );
    #[rustfmt::skip]
    const TREE: &str = concat!(
        "trace e0c8423b42fbc59cfdc08fefca0e5a58  (3 spans, 15.2 ms)\n",
        "GET /users                     SERVER      15.2 ms |████████████████████████████████|\n",
        "  query_database               CLIENT       9.8 ms |  █████████████████████         | ERROR \"timeout\"\n",
        "                                                   |       ^                        | exception \"timed out\"\n",
        "  render                       INTERNAL     3.0 ms |                       ███████  |\n",
    );
}
