//! An error's text with its causes: `outer: cause: root cause`, as `anyhow` prints an
//! error with `{:#}`, for `exception.message`. Many errors say little themselves and
//! keep what went wrong in `source()` (reqwest's "error sending request" over hyper's
//! "client error (Connect)" over "Connection refused"); a cause whose text the error
//! already ends with (an error that repeats its source's text, which the standard
//! library's guidelines advise against and many do) is not written again.

use core::error::Error;
use core::fmt::{self, Display, Write};

/// Causes followed at most: a chain that loops, or a very deep one, stops here.
const MAX_CAUSES: usize = 8;

/// Bytes of the text written so far kept to compare causes with: a cause longer than
/// this is written even when the text ends with it.
const TAIL: usize = 128;

/// Displays an error and its causes, outermost first, joined by `": "`.
pub(crate) struct ErrorChain<'a, E: ?Sized>(pub(crate) &'a E);

impl<E: Error + ?Sized> Display for ErrorChain<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Tail {
            out: f,
            last: [0; TAIL],
            len: 0,
        };
        write!(out, "{}", self.0)?;
        let mut cause = self.0.source();
        for _ in 0..MAX_CAUSES {
            let Some(error) = cause else { break };
            if !out.ends_with(error) {
                write!(out, ": {error}")?;
            }
            cause = error.source();
        }
        Ok(())
    }
}

/// Writes to `out`, keeping the last [`TAIL`] bytes written.
struct Tail<'f, 'o> {
    out: &'f mut fmt::Formatter<'o>,
    last: [u8; TAIL],
    /// Bytes written in all (the kept ones are the last `len.min(TAIL)`).
    len: usize,
}

impl Tail<'_, '_> {
    /// The kept bytes, oldest first, as two slices of the ring.
    fn kept(&self) -> (&[u8], &[u8]) {
        let at = self.len % TAIL;
        if self.len < TAIL {
            (&self.last[..at], &[])
        } else {
            (&self.last[at..], &self.last[..at])
        }
    }

    /// Whether what was written ends with `value`'s text (and it has some): known only
    /// when that text is no longer than the kept bytes.
    fn ends_with(&self, value: &dyn Display) -> bool {
        let mut length = Length(0);
        if write!(length, "{value}").is_err() || length.0 == 0 {
            // Says nothing (or fails to say it): nothing to add either.
            return length.0 == 0;
        }
        let (first, second) = self.kept();
        let kept = first.len() + second.len();
        if length.0 > kept {
            return false;
        }
        let mut same = Same {
            expected: first.iter().chain(second).skip(kept - length.0),
        };
        write!(same, "{value}").is_ok() && same.expected.next().is_none()
    }
}

impl Write for Tail<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.out.write_str(s)?;
        for &b in s.as_bytes() {
            self.last[self.len % TAIL] = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// Counts the bytes written.
struct Length(usize);

impl Write for Length {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// Compares what is written with `expected`, failing at the first difference.
struct Same<I> {
    expected: I,
}

impl<'a, I: Iterator<Item = &'a u8>> Write for Same<I> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.as_bytes() {
            if self.expected.next() != Some(b) {
                return Err(fmt::Error);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::{String, ToString};

    /// An error with a text and an optional cause.
    #[derive(Debug)]
    struct E(String, Option<std::boxed::Box<E>>);

    impl Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl Error for E {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    fn chain(texts: &[&str]) -> E {
        let mut error: Option<E> = None;
        for text in texts.iter().rev() {
            error = Some(E(text.to_string(), error.map(std::boxed::Box::new)));
        }
        error.unwrap()
    }

    #[test]
    fn causes_follow_the_error_outermost_first() {
        let e = chain(&[
            "error sending request",
            "client error (Connect)",
            "tcp connect error",
            "Connection refused (os error 111)",
        ]);
        assert_eq!(
            format!("{}", ErrorChain(&e)),
            "error sending request: client error (Connect): tcp connect error: \
             Connection refused (os error 111)"
        );
        assert_eq!(format!("{}", ErrorChain(&chain(&["alone"]))), "alone");
    }

    #[test]
    fn a_cause_the_text_already_ends_with_is_not_repeated() {
        let e = chain(&["reading config: No such file", "No such file"]);
        assert_eq!(
            format!("{}", ErrorChain(&e)),
            "reading config: No such file"
        );
        // Only at the end: the same words earlier are another matter.
        let e = chain(&["No such file, reading config", "No such file"]);
        assert_eq!(
            format!("{}", ErrorChain(&e)),
            "No such file, reading config: No such file"
        );
        // Silent causes add nothing.
        let e = chain(&["outer", "", "root"]);
        assert_eq!(format!("{}", ErrorChain(&e)), "outer: root");
    }

    #[test]
    fn long_texts_and_deep_chains_stay_bounded() {
        let long = "x".repeat(300);
        let e = chain(&[&format!("outer {long}"), &long]);
        // Longer than the kept tail: not known to repeat, written again.
        assert_eq!(
            format!("{}", ErrorChain(&e)),
            format!("outer {long}: {long}")
        );
        let texts: std::vec::Vec<String> = (0..20).map(|i| format!("e{i}")).collect();
        let refs: std::vec::Vec<&str> = texts.iter().map(String::as_str).collect();
        let shown = format!("{}", ErrorChain(&chain(&refs)));
        assert_eq!(shown.matches(": ").count(), MAX_CAUSES, "{shown}");
        // Repeats across the ring's wrap are found.
        let tail = "y".repeat(100);
        let e = chain(&[&format!("{}{tail}", "z".repeat(150)), &tail]);
        assert_eq!(
            format!("{}", ErrorChain(&e)),
            format!("{}{tail}", "z".repeat(150))
        );
    }
}
