//! `baggage`: header fields parse into valid canonical members (each received member is
//! kept whole, in order, or dropped and counted); every state within its byte capacity
//! and 64 members, reading back to itself; any value inserted decodes to exactly what was
//! inserted; insert and remove change only their key. Run at the default 8192-byte
//! capacity and at 128 bytes, where members overflow.
//!
//! Input: lines of header fields, then a line `--`, then operations, one a line:
//! `+key<TAB>value[<TAB>property[=value]]...` inserts, `-key` removes, anything else is
//! looked up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picotrace::wire::baggage::{Member, MAX_MEMBER_BYTES};
use picotrace::BaggageBuf;
use picotrace_fuzz::{assert_baggage, assert_emit, is_subsequence, lines, BAGGAGE_MEMBERS};

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

fn is_octet(c: u8) -> bool {
    (0x21..0x7f).contains(&c) && !b"\",;\\".contains(&c)
}

fn trim(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// The canonical text of a received member (OWS trimmed around key, value and
/// properties), and whether it is valid with a value that decodes to UTF-8.
fn canonical(member: &str) -> (String, bool) {
    let mut parts = member.split(';');
    let head = parts.next().unwrap_or_default();
    let (k, v) = head.split_once('=').unwrap_or((head, ""));
    let (k, v) = (trim(k), trim(v));
    let mut text = format!("{k}={v}");
    let mut ok = head.contains('=') && is_token(k) && v.bytes().all(is_octet);
    ok &= percent_decode(v).is_some_and(|d| String::from_utf8(d).is_ok());
    for p in parts {
        let (pk, pv) = match p.split_once('=') {
            Some((pk, pv)) => (trim(pk), Some(trim(pv))),
            None => (trim(p), None),
        };
        ok &= is_token(pk) && pv.is_none_or(is_property_value);
        text.push(';');
        text.push_str(pk);
        if let Some(pv) = pv {
            text.push('=');
            text.push_str(pv);
        }
    }
    // A longer member is dropped: OpenTelemetry Go refuses a header with one.
    ok &= text.len() <= MAX_MEMBER_BYTES;
    (text, ok)
}

/// A property value picotrace keeps: baggage-octets whose `%` escapes decode.
fn is_property_value(v: &str) -> bool {
    v.bytes().all(is_octet) && percent_decode(v).is_some()
}

fn percent_decode(raw: &str) -> Option<Vec<u8>> {
    let b = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(
                u8::from_str_radix(hex, 16)
                    .ok()
                    .filter(|_| !hex.starts_with('+'))?,
            );
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

fn texts<const B: usize>(bag: &BaggageBuf<B>) -> Vec<String> {
    bag.iter().map(|m| m.as_str().into()).collect()
}

fn decoded(m: &Member<'_>) -> Option<String> {
    let mut buf = vec![0u8; m.decoded_len()];
    let value = m.decode_value(&mut buf).ok()?.to_owned();
    assert_eq!(
        value,
        m.decoded_value().to_string(),
        "Display decodes the same"
    );
    if !buf.is_empty() {
        let short = buf.len() - 1;
        assert!(m.decode_value(&mut buf[..short]).is_err());
    }
    Some(value)
}

fn check<const B: usize>(bag: &BaggageBuf<B>) {
    let text = bag.as_str();
    assert_baggage(text, B);
    let members = texts(bag);
    assert_eq!(members.len(), bag.len());
    assert_eq!(members.join(","), text);
    let again = BaggageBuf::<B>::parse(text);
    assert_eq!(&again, bag, "canonical text reads back");
    assert_eq!(again.dropped(), 0);
    for m in bag.iter() {
        decoded(&m);
        assert_eq!(bag.get(m.key()).map(|f| f.key()), Some(m.key()));
    }
    assert_emit(text, |out| bag.emit(out));
}

fn run<const B: usize>(fields: &[String], ops: &[String]) {
    let received: Vec<&str> = fields
        .iter()
        .flat_map(|f| f.split(','))
        .map(trim)
        .filter(|m| !m.is_empty())
        .collect();
    let mut bag = BaggageBuf::<B>::parse_values(fields.iter().map(String::as_str));
    check(&bag);
    assert_eq!(
        bag.dropped() + bag.len(),
        received.len(),
        "every member kept or counted"
    );
    let canon: Vec<(String, bool)> = received.iter().map(|m| canonical(m)).collect();
    let all: Vec<String> = canon.iter().map(|(t, _)| t.clone()).collect();
    assert!(is_subsequence(&texts(&bag), &all), "{all:?} -> {bag:?}");
    let size = all.iter().map(|t| t.len() + 1).sum::<usize>();
    if canon.iter().all(|(_, ok)| *ok) && all.len() <= BAGGAGE_MEMBERS && size <= B + 1 {
        assert_eq!(texts(&bag), all, "valid members that fit are all kept");
    }

    for op in ops.iter().skip(1) {
        let before = bag.clone();
        if let Some(rest) = op.strip_prefix('+') {
            let mut parts = rest.split('\t');
            let key = parts.next().unwrap_or_default();
            let value = parts.next().unwrap_or_default();
            let props: Vec<(&str, Option<&str>)> = parts
                .map(|p| p.split_once('=').map_or((p, None), |(k, v)| (k, Some(v))))
                .collect();
            let others: Vec<String> = bag
                .iter()
                .filter(|m| m.key() != key)
                .map(|m| m.as_str().into())
                .collect();
            let encoded: usize = value
                .bytes()
                // `%` and `+` are written escaped (`+` as `%2B`: form decoders read a
                // bare one as a space).
                .map(|c| {
                    if is_octet(c) && c != b'%' && c != b'+' {
                        1
                    } else {
                        3
                    }
                })
                .sum();
            let props_len: usize = props
                .iter()
                .map(|(k, v)| 1 + k.len() + v.map_or(0, |v| 1 + v.len()))
                .sum();
            let new_len = key.len() + 1 + encoded + props_len;
            let props_ok = props
                .iter()
                .all(|(k, v)| is_token(k) && v.is_none_or(is_property_value));
            let fits = others.len() < BAGGAGE_MEMBERS
                && new_len <= MAX_MEMBER_BYTES
                && others.iter().map(|t| t.len() + 1).sum::<usize>() + new_len <= B;
            let result = bag.insert_with_properties(key, value, &props);
            assert_eq!(
                result.is_ok(),
                is_token(key) && props_ok && fits,
                "{rest:?}: {result:?}"
            );
            if result.is_ok() {
                let last = bag.iter().last().expect("inserted");
                assert_eq!(last.key(), key);
                assert_eq!(decoded(&last).as_deref(), Some(value), "value round trip");
                assert_eq!(last.properties().collect::<Vec<_>>(), props);
                let now = texts(&bag);
                assert_eq!(now[..now.len() - 1], others[..], "only the key moved");
            } else {
                assert_eq!(bag, before, "a failed insert changes nothing");
            }
        } else if let Some(key) = op.strip_prefix('-') {
            let had = bag.get(key).is_some();
            assert_eq!(bag.remove(key), had);
            let kept: Vec<String> = before
                .iter()
                .filter(|m| m.key() != key)
                .map(|m| m.as_str().into())
                .collect();
            assert_eq!(texts(&bag), kept);
        } else {
            let last = before.iter().filter(|m| m.key() == op.as_str()).last();
            assert_eq!(
                bag.get(op),
                last,
                "get finds the last member with the key (a later pair takes precedence)"
            );
        }
        check(&bag);
    }
}

fuzz_target!(|data: &[u8]| {
    let lines = lines(data);
    let split = lines.iter().position(|l| l == "--").unwrap_or(lines.len());
    let (fields, ops) = lines.split_at(split);
    run::<{ picotrace::wire::baggage::DEFAULT_BYTES }>(fields, ops);
    run::<128>(fields, ops);
});
