//! What the fuzz targets share: the W3C limits, written down here from the specs (not
//! taken from `picotrace`, so that a wrong constant there is caught), checks of every
//! header value we write, and the readable input formats the corpora use.

use picotrace::{BufferTooSmall, Injector};

/// W3C Trace Context: a version-00 `traceparent` is 55 characters.
pub const TRACEPARENT_LEN: usize = 55;
/// W3C Trace Context Level 2: the `trace-flags` bits a version-00 `traceparent` defines,
/// sampled (bit 0) and random (bit 1); the others are not passed on.
pub const TRACE_FLAGS_KNOWN_V00: u8 = 0x03;
/// W3C Trace Context: at most 32 `tracestate` list members...
pub const TRACESTATE_MEMBERS: usize = 32;
/// ...and vendors propagate 512 characters of it.
pub const TRACESTATE_BYTES: usize = 512;
/// W3C Baggage: at most 64 list members...
pub const BAGGAGE_MEMBERS: usize = 64;
/// ...in at most 8192 bytes.
pub const BAGGAGE_BYTES: usize = 8192;

/// Panics unless `value` can go on the wire as header `name`: printable ASCII (no CR,
/// LF, NUL or other control), no leading or trailing space, at most `max` bytes.
pub fn assert_header_value(name: &str, value: &str, max: usize) {
    assert!(
        value.len() <= max,
        "{name}: {} bytes > {max}: {value:?}",
        value.len()
    );
    assert!(
        value.bytes().all(|c| (0x20..0x7f).contains(&c)),
        "{name}: not printable ASCII: {value:?}"
    );
    assert!(
        !value.starts_with(' ') && !value.ends_with(' '),
        "{name}: leading or trailing space: {value:?}"
    );
}

/// Panics unless `value` is a version-00 `traceparent` as we must write it.
pub fn assert_traceparent(value: &str) {
    assert_header_value("traceparent", value, TRACEPARENT_LEN);
    assert_eq!(value.len(), TRACEPARENT_LEN, "traceparent: {value:?}");
    for (i, c) in value.bytes().enumerate() {
        let ok = match i {
            2 | 35 | 52 => c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
        };
        assert!(ok, "traceparent: byte {i} of {value:?}");
    }
    assert!(value.starts_with("00-"), "traceparent version: {value:?}");
    assert!(
        !value[3..35].bytes().all(|c| c == b'0') && !value[36..52].bytes().all(|c| c == b'0'),
        "traceparent with an all-zero id: {value:?}"
    );
    assert!(
        value.ends_with('0')
            || value.ends_with('1')
            || value.ends_with('2')
            || value.ends_with('3'),
        "traceparent flags version 00 does not define: {value:?}"
    );
}

/// Panics unless `value` is a `tracestate` we may write: within the W3C limits, and
/// each member a valid key (`a-z0-9_-*/@`, starting with `a-z0-9`, up to 256) and value
/// (1 to 256 of 0x20-0x7e except `,` and `=`, not ending in space), keys unique.
pub fn assert_tracestate(value: &str) {
    assert_header_value("tracestate", value, TRACESTATE_BYTES);
    if value.is_empty() {
        return;
    }
    let members: Vec<&str> = value.split(',').collect();
    assert!(
        members.len() <= TRACESTATE_MEMBERS,
        "tracestate: {} members",
        members.len()
    );
    let mut keys = Vec::new();
    for m in members {
        let (k, v) = m
            .split_once('=')
            .unwrap_or_else(|| panic!("member without '=': {value:?}"));
        assert!(
            tracestate_member_ok(k, v),
            "tracestate member {m:?} in {value:?}"
        );
        assert!(
            !keys.contains(&k),
            "tracestate key {k:?} twice in {value:?}"
        );
        keys.push(k);
    }
}

/// Returns whether `key=value` is a valid `tracestate` member (W3C § 3.3.1.3).
pub fn tracestate_member_ok(key: &str, value: &str) -> bool {
    let k = key.as_bytes();
    let key_ok = !k.is_empty()
        && k.len() <= 256
        && (k[0].is_ascii_lowercase() || k[0].is_ascii_digit())
        && k.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/@".contains(&c));
    let value_ok = !value.is_empty()
        && value.len() <= 256
        && !value.ends_with(' ')
        && value
            .bytes()
            .all(|c| (0x20..0x7f).contains(&c) && c != b',' && c != b'=');
    key_ok && value_ok
}

/// Returns whether `sub` is `all` with some items left out, order kept.
pub fn is_subsequence<T: PartialEq>(sub: &[T], all: &[T]) -> bool {
    let mut rest = all.iter();
    sub.iter().all(|x| rest.any(|y| y == x))
}

/// Panics unless `value` is a `baggage` we may write: within `max` bytes and the W3C
/// member limit, each member `token=octets` with well-formed `%XX` escapes and properties
/// `;token` or `;token=octets`.
pub fn assert_baggage(value: &str, max: usize) {
    assert_header_value("baggage", value, max.min(BAGGAGE_BYTES));
    if value.is_empty() {
        return;
    }
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
    };
    // baggage-octet: printable ASCII except space, '"', ',', ';' and '\'.
    let octets = |s: &str| {
        s.bytes()
            .all(|c| (0x21..0x7f).contains(&c) && !b"\",;\\".contains(&c))
    };
    let members: Vec<&str> = value.split(',').collect();
    assert!(
        members.len() <= BAGGAGE_MEMBERS,
        "baggage: {} members",
        members.len()
    );
    for m in members {
        let mut parts = m.split(';');
        let head = parts.next().unwrap_or_default();
        let (k, v) = head
            .split_once('=')
            .unwrap_or_else(|| panic!("member without '=': {value:?}"));
        assert!(token(k) && octets(v), "baggage member {m:?}");
        let mut rest = v;
        while let Some(i) = rest.find('%') {
            let hex = rest.as_bytes().get(i + 1..i + 3);
            assert!(
                hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)),
                "baggage escape in {v:?}"
            );
            rest = &rest[i + 3..];
        }
        for p in parts {
            let (pk, pv) = p.split_once('=').unwrap_or((p, ""));
            assert!(token(pk) && octets(pv), "baggage property {p:?} in {m:?}");
        }
    }
}

/// Outgoing headers: every `Injector::set`, kept in order (a later set of the same name
/// replaces the earlier value, as the trait asks).
#[derive(Debug, Default)]
pub struct Headers(pub Vec<(String, String)>);

impl Injector for Headers {
    fn set(&mut self, name: &str, value: &str) {
        assert_eq!(
            name,
            name.to_ascii_lowercase(),
            "header names are written in lowercase"
        );
        match self
            .0
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(pair) => pair.1 = value.into(),
            None => self.0.push((name.into(), value.into())),
        }
    }
}

/// Splits fuzz input into lines of text (invalid UTF-8 replaced), the readable format
/// of the tracestate, baggage and propagation corpora. `\n` and `\0` written as escapes
/// inside a line stand for those bytes, so a line can still carry them.
pub fn lines(data: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(data)
        .split('\n')
        .map(|l| l.replace("\\n", "\n").replace("\\0", "\0"))
        .collect()
}

/// Checks an `emit` that copies `text`: exact bytes into a big enough buffer, nothing past
/// them, and `BufferTooSmall` one byte short.
pub fn assert_emit(text: &str, emit: impl Fn(&mut [u8]) -> Result<usize, BufferTooSmall>) {
    let mut buf = vec![0xa5u8; text.len() + 1];
    assert_eq!(emit(&mut buf), Ok(text.len()));
    assert_eq!(&buf[..text.len()], text.as_bytes());
    assert_eq!(buf[text.len()], 0xa5, "emit wrote past the text");
    if !text.is_empty() {
        assert_eq!(emit(&mut buf[..text.len() - 1]), Err(BufferTooSmall));
    }
}

/// An incoming header set from fuzz input, in order, names in whatever case they came:
/// one header a line, `name:value` (see [`lines`]).
#[derive(Debug)]
pub struct HeaderLines(pub Vec<(String, String)>);

impl<'a> arbitrary::Arbitrary<'a> for HeaderLines {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let data = u.bytes(u.len())?;
        let pairs = lines(data)
            .into_iter()
            .filter_map(|l| l.split_once(':').map(|(n, v)| (n.to_owned(), v.to_owned())))
            .collect();
        Ok(HeaderLines(pairs))
    }
}
