//! When and how long to wait before resending an OTLP/HTTP request: pure functions,
//! no I/O, unit-tested.
//!
//! From the OTLP specification (opentelemetry-proto `docs/specification.md`, § OTLP/HTTP
//! Throttling and Failures): 429, 502, 503 and 504 are retryable, "the client SHOULD
//! retry [...] using an exponential backoff strategy with a jitter", and "if the server
//! sends `Retry-After`, the client SHOULD honour the waiting interval". 400 and the other
//! 4xx are not retried, nor is a 200 that reports a partial success. Connection failures
//! and timeouts are retried.
//!
//! The default policy is what opentelemetry-rust recommends (it ships retries off): 3
//! retries, backoff 100 ms doubling up to 1600 ms, plus up to 100 ms of jitter, and a
//! server's `Retry-After` honoured up to 30 s (plus the jitter).
//!
//! ```
//! use std::time::Duration;
//! use picotrace_std::retry::{is_retryable_status, RetryPolicy};
//! let policy = RetryPolicy::default();
//! assert!(is_retryable_status(503) && !is_retryable_status(400));
//! assert_eq!(policy.backoff(0), Duration::from_millis(100));
//! assert_eq!(policy.backoff(9), Duration::from_millis(1600));
//! // A server's Retry-After wins over the backoff, capped at 30 s.
//! let asked = Some(Duration::from_secs(120));
//! assert_eq!(policy.delay(0, asked, 0), Duration::from_secs(30));
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often and how long to retry a failed export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: never retry).
    pub max_retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub initial_backoff: Duration,
    /// Longest backoff (before jitter).
    pub max_backoff: Duration,
    /// Up to this much random time is added to each wait, backoff or `Retry-After`,
    /// so that many clients that failed together do not retry together.
    pub jitter: Duration,
    /// Longest wait a server's `Retry-After` can ask for; longer requests are capped.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// 3 retries, 100 ms doubling to 1600 ms, 100 ms jitter, `Retry-After` up to 30 s.
    pub const DEFAULT: Self = Self {
        max_retries: 3,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(1600),
        jitter: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(30),
    };

    /// Never retries.
    pub const NONE: Self = Self {
        max_retries: 0,
        ..Self::DEFAULT
    };

    /// Sets the number of retries.
    #[must_use]
    pub const fn with_max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Sets the first backoff and the longest one.
    #[must_use]
    pub const fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// Sets the jitter added to each backoff.
    #[must_use]
    pub const fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the cap on a server's `Retry-After`.
    #[must_use]
    pub const fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// Returns the backoff before retry number `retry` (0 for the first retry), without
    /// jitter: `initial_backoff * 2^retry`, at most `max_backoff`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max_backoff)
    }

    /// Returns the jitter for a random sample: `random mod (jitter + 1 ns)`.
    pub fn jitter_for(&self, random: u64) -> Duration {
        let range = u64::try_from(self.jitter.as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        Duration::from_nanos(random % range)
    }

    /// Returns how long to wait before retry number `retry`: the server's `Retry-After`
    /// (capped at `max_retry_after`) when it sent one, else the backoff, plus jitter
    /// drawn from `random` (any `u64`; tests pass fixed values) either way (the OTLP
    /// specification: "the interval between retries must have a random jitter"; found
    /// by review: clients told the same `Retry-After` all came back at once).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, random: u64) -> Duration {
        let d = match retry_after {
            Some(asked) => asked.min(self.max_retry_after),
            None => self.backoff(retry),
        };
        d.saturating_add(self.jitter_for(random)).min(MAX_DURATION)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The longest wait or timeout this crate uses (one year): longer configured durations
/// (`OTEL_BSP_SCHEDULE_DELAY=99999999999999`) are cut to it, so that adding them to
/// the current instant cannot overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// A configured timeout as the limit it sets: zero is none ([`MAX_DURATION`]), as the
/// SDK environment spec reads it ("implementations SHOULD interpret timeout zero values
/// [...] as no limit"), whether it came from the environment or from code (a zero set
/// in code made every export time out before its first request).
pub(crate) fn timeout_limit(timeout: Duration) -> Duration {
    if timeout.is_zero() {
        MAX_DURATION
    } else {
        timeout.min(MAX_DURATION)
    }
}

/// Returns `now + d`, with `d` cut to [`MAX_DURATION`].
pub(crate) fn instant_after(d: Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(d.min(MAX_DURATION)).unwrap_or(now)
}

/// Returns `true` for the HTTP statuses OTLP says to retry: 429, 502, 503 and 504.
pub const fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Parses a `Retry-After` value (RFC 9110 § 10.2.3): delta-seconds (`"120"`) or an
/// HTTP-date (`"Sun, 06 Nov 1994 08:49:37 GMT"`, also the obsolete RFC 850 and asctime
/// forms), returning the wait from `now`. A date in the past means "now" (zero).
/// Returns `None` for anything else.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings saturate (and are capped by the policy anyway).
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let now = i64::try_from(now.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
    // Signed: a date before 1970 is a date in the past too.
    let at = http_date_secs(value, now)?;
    Some(Duration::from_secs(at.saturating_sub(now).max(0) as u64))
}

/// Parses an HTTP-date into Unix seconds (`None` before 1970). RFC 9110 § 5.6.7:
/// recipients accept IMF-fixdate, RFC 850 dates and asctime dates; an RFC 850 date's
/// two-digit year is placed within 50 years of the system clock's time (RFC 9110).
pub fn parse_http_date(value: &str) -> Option<u64> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    u64::try_from(http_date_secs(value, i64::try_from(now).ok()?)?).ok()
}

/// Fifty Gregorian years (of 365.2425 days), in seconds.
const FIFTY_YEARS: i64 = 50 * 31_556_952;

/// The Gregorian year of Unix time `secs` (Howard Hinnant's `civil_from_days`).
fn year_of(secs: i64) -> i64 {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    yoe + era * 400 + i64::from(mp >= 10)
}

/// [`parse_http_date`], in seconds before or after 1970; `now` (Unix seconds) places
/// RFC 850's two-digit years.
fn http_date_secs(value: &str, now: i64) -> Option<i64> {
    let mut words = value.split_ascii_whitespace();
    let first = words.next()?;
    let (year, month, day, time) = if first.ends_with(',') {
        let date = words.next()?;
        if date.contains('-') {
            // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
            let mut parts = date.split('-');
            let day = parts.next()?;
            let month = parts.next()?;
            let yy: u64 = number(parts.next()?, 2)?;
            if parts.next().is_some() {
                return None;
            }
            // RFC 9110: a timestamp that appears to be more than 50 years in the future
            // is in the most recent past year with those two digits; one more than 50
            // years in the past is in the next century. (A fixed pivot at 70 made 2070
            // 1970 in 2026; a window of years, not of time, kept 31-Dec-76 in 2076 on
            // 2026-01-01: both found by review.)
            let time = words.next()?;
            let gmt = words.next() == Some("GMT") && words.next().is_none();
            let at = |year: i64| finish(u64::try_from(year).ok()?, month, day, time, gmt);
            let this_year = year_of(now);
            let year = this_year - this_year.rem_euclid(100) + yy as i64;
            let secs = at(year)?;
            return if secs > now.saturating_add(FIFTY_YEARS) {
                at(year - 100)
            } else if secs <= now.saturating_sub(FIFTY_YEARS) {
                at(year + 100)
            } else {
                Some(secs)
            };
        } else {
            // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
            let month = words.next()?;
            let year = number(words.next()?, 4)?;
            (year, month, date, words.next()?)
        }
    } else {
        // asctime: "Sun Nov  6 08:49:37 1994"
        let month = words.next()?;
        let day = words.next()?;
        let time = words.next()?;
        let year = number(words.next()?, 4)?;
        return finish(year, month, day, time, words.next().is_none());
    };
    let gmt = words.next() == Some("GMT") && words.next().is_none();
    finish(year, month, day, time, gmt)
}

fn finish(year: u64, month: &str, day: &str, time: &str, tail_ok: bool) -> Option<i64> {
    if !tail_ok {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as u64 + 1;
    // IMF-fixdate has two digits, asctime one or two; accept either everywhere.
    let day: u64 = match day.len() {
        1 | 2 => number(day, day.len())?,
        _ => return None,
    };
    let mut hms = time.split(':');
    let h: u64 = number(hms.next()?, 2)?;
    let m: u64 = number(hms.next()?, 2)?;
    let s: u64 = number(hms.next()?, 2)?;
    if hms.next().is_some() || h > 23 || m > 59 || s > 60 || day == 0 || day > 31 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    Some(days * 86_400 + (h * 3600 + m * 60 + s) as i64)
}

/// Parses exactly `len` ASCII digits.
fn number(s: &str, len: usize) -> Option<u64> {
    if s.len() != len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Days since 1970-01-01 (negative before) of a proleptic Gregorian date (Howard
/// Hinnant's algorithm).
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<i64> {
    let y = i64::try_from(year).ok()? - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn statuses_follow_the_otlp_table() {
        #[rustfmt::skip]
        let table: &[(u16, bool, &str)] = &[
            (429, true,  "too many requests: throttled"),
            (502, true,  "bad gateway"),
            (503, true,  "service unavailable"),
            (504, true,  "gateway timeout"),
            (400, false, "bad request: the data is wrong, resending will not help"),
            (401, false, "unauthorized"),
            (403, false, "forbidden"),
            (404, false, "wrong path"),
            (413, false, "payload too large"),
            (500, false, "internal error: not in the OTLP retryable list"),
            (200, false, "success, even with partial_success, is never retried"),
        ];
        for (status, retry, why) in table {
            assert_eq!(is_retryable_status(*status), *retry, "{status}: {why}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::DEFAULT;
        let ms: Vec<u128> = (0..7).map(|i| p.backoff(i).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 1600, 1600]);
        assert_eq!(p.backoff(u32::MAX), Duration::from_millis(1600));
    }

    #[test]
    fn jitter_stays_within_its_range() {
        let p = RetryPolicy::DEFAULT;
        assert_eq!(p.delay(0, None, 0), Duration::from_millis(100));
        assert_eq!(p.delay(0, None, 100_000_000), Duration::from_millis(200));
        assert_eq!(p.delay(0, None, 100_000_001), Duration::from_millis(100));
        for r in [1u64, 7, u64::MAX, 0xdead_beef_cafe] {
            let d = p.delay(2, None, r);
            assert!(d >= Duration::from_millis(400) && d <= Duration::from_millis(500));
        }
        let no_jitter = p.with_jitter(Duration::ZERO);
        assert_eq!(
            no_jitter.delay(1, None, u64::MAX),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn retry_after_overrides_backoff_and_is_capped() {
        let p = RetryPolicy::DEFAULT;
        assert_eq!(
            p.delay(3, Some(Duration::from_secs(2)), 0),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(31)), 0),
            Duration::from_secs(30)
        );
        assert_eq!(p.delay(0, Some(Duration::ZERO), 0), Duration::ZERO);
    }

    /// Regression (found by review): a `Retry-After` was waited exactly, so clients
    /// told the same one all came back at the same instant; the OTLP specification
    /// asks for a random jitter between retries.
    #[test]
    fn retry_after_waits_get_jitter_too() {
        let p = RetryPolicy::DEFAULT;
        let asked = Some(Duration::from_secs(2));
        assert_eq!(p.delay(0, asked, 100_000_000), Duration::from_millis(2100));
        let waits: std::collections::HashSet<_> = [1u64, 7, 0xdead_beef_cafe]
            .map(|r| p.delay(0, asked, r))
            .into();
        assert_eq!(waits.len(), 3);
        assert!(waits
            .iter()
            .all(|d| *d >= Duration::from_secs(2) && *d <= Duration::from_millis(2100)));
    }

    #[test]
    fn parses_delta_seconds() {
        let now = at(1_000);
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for bad in ["", "-1", "1.5", "12s", "+3", "0x10", "soon"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn parses_the_three_http_date_forms() {
        // RFC 9110 § 5.6.7's example instant: 1994-11-06T08:49:37Z = 784111777.
        #[rustfmt::skip]
        let table: &[(&str, Option<i64>, &str)] = &[
            ("Sun, 06 Nov 1994 08:49:37 GMT",  Some(784_111_777), "IMF-fixdate"),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(784_111_777), "RFC 850"),
            ("Sun Nov  6 08:49:37 1994",       Some(784_111_777), "asctime, padded day"),
            ("Thu, 01 Jan 1970 00:00:00 GMT",  Some(0),           "the epoch"),
            ("Tue, 29 Feb 2028 12:00:00 GMT",  Some(1_835_438_400), "leap day"),
            ("Sun, 06 Nov 1994 08:49:37 UTC",  None,              "zone must be GMT"),
            ("Sun, 06 Foo 1994 08:49:37 GMT",  None,              "unknown month"),
            ("Sun, 06 Nov 1994 24:49:37 GMT",  None,              "hour out of range"),
            ("Sun, 6 Nov 1994 08:49:37 GMT",   Some(784_111_777), "one-digit day: lenient"),
            ("Sun, 006 Nov 1994 08:49:37 GMT", None,              "three-digit day"),
            ("Sun, 06 Nov 1994 08:49 GMT",     None,              "missing seconds"),
            ("Sun, 06 Nov 1994 08:49:37 GMT x", None,             "trailing garbage"),
            ("Wed, 31 Dec 1969 23:59:59 GMT",  Some(-1),          "before the epoch"),
            ("",                               None,              "empty"),
            ("Sun,",                           None,              "truncated"),
        ];
        // RFC 850's two-digit year is read near "now": a fixed one keeps the table
        // true in any year (2026-01-01).
        let now = 1_767_225_600;
        for (text, want, why) in table {
            // Compared as read, so that a date before the epoch is told apart from one
            // that does not parse (found by review: both were `None` here).
            assert_eq!(http_date_secs(text, now), *want, "{text:?}: {why}");
        }
    }

    /// Regression (found by review): RFC 850's two-digit years pivoted at 70 whatever
    /// the date, so in 2026 `01-Jan-70` was 1970 (a retry at once) where RFC 9110 makes
    /// it 2070: only a year more than 50 years ahead is in the past century.
    #[test]
    fn rfc_850_years_are_read_within_50_years_of_now() {
        let jan_2026 = at(1_767_225_600); // 2026-01-01T00:00:00Z
        let wait = |text| parse_retry_after(text, jan_2026).unwrap().as_secs();
        // 2070-01-01 and 2075-12-31: ahead, not past.
        assert_eq!(
            wait("Thursday, 01-Jan-70 00:00:00 GMT"),
            3_155_760_000 - 1_767_225_600
        );
        assert!(wait("Tuesday, 31-Dec-75 00:00:00 GMT") > 1_500_000_000);
        // More than 50 years ahead (2076-12-31 is nearly 51): in the past century.
        assert_eq!(wait("Thursday, 31-Dec-76 00:00:00 GMT"), 0);
        assert_eq!(wait("Saturday, 01-Jan-77 00:00:00 GMT"), 0);
        assert_eq!(wait("Sunday, 06-Nov-94 08:49:37 GMT"), 0);
        // In 2090, `10` is 2110 (20 years ahead), `45` is 2045.
        let jan_2090 = at(3_786_912_000); // 2090-01-01T00:00:00Z
        assert!(
            parse_retry_after("Monday, 01-Jan-10 00:00:00 GMT", jan_2090).unwrap() > Duration::ZERO
        );
        assert_eq!(
            parse_retry_after("Sunday, 01-Jan-45 00:00:00 GMT", jan_2090),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn date_retry_after_is_relative_to_now_and_past_dates_mean_now() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(
            parse_retry_after(date, at(784_111_777 - 5)),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after(date, at(784_111_777 + 5)),
            Some(Duration::ZERO)
        );
        // Regression: a valid date before 1970 was no date at all, so the exporter
        // waited its backoff instead of retrying at once.
        for past in [
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Thu, 01 Jan 1960 00:00:00 GMT",
            "Fri Jan  1 00:00:00 1960",
        ] {
            assert_eq!(
                parse_retry_after(past, at(1_000)),
                Some(Duration::ZERO),
                "{past}"
            );
        }
    }
}
