//! `tracestate`: header fields parse as the spec says (an invalid member or more than 32
//! discard the whole value; the kept members are the received ones, in order); every
//! state reached by insert, remove and `ot` threshold updates is a valid header within
//! 512 bytes and 32 members that parses back to itself; each operation does what it says
//! and touches nothing else (but truncation from the right).
//!
//! Input: lines of header fields, then a line `--`, then operations, one a line:
//! `+key=value` inserts, `-key` removes, `#` erases the `ot` threshold, `#HEX` sets it,
//! anything else is looked up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picotrace::wire::tracestate::{Error, OtValue};
use picotrace::TraceState;
use picotrace_fuzz::{
    assert_emit, assert_tracestate, is_subsequence, lines, tracestate_member_ok, TRACESTATE_BYTES,
    TRACESTATE_MEMBERS,
};

fn members(ts: &TraceState) -> Vec<(String, String)> {
    ts.iter().map(|(k, v)| (k.into(), v.into())).collect()
}

/// Members other than `key`.
fn without(members: &[(String, String)], key: &str) -> Vec<(String, String)> {
    members.iter().filter(|(k, _)| k != key).cloned().collect()
}

/// Checks everything a trace state must always satisfy.
fn check(ts: &TraceState) {
    let text = ts.as_str();
    assert_tracestate(text);
    let m = members(ts);
    assert_eq!(m.len(), ts.len());
    assert_eq!(m.is_empty(), ts.is_empty());
    let joined: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(joined.join(","), text);
    for (k, v) in &m {
        assert_eq!(ts.get(k), Some(v.as_str()));
    }
    assert_eq!(
        TraceState::parse(text).as_ref(),
        Ok(ts),
        "canonical text reads back"
    );
    assert_emit(text, |out| ts.emit(out));
}

fn threshold(text: &str) -> u64 {
    u64::from_str_radix(text, 16).unwrap_or((text.len() as u64).wrapping_mul(0x0123_4567_89ab_cdef))
}

fuzz_target!(|data: &[u8]| {
    let lines = lines(data);
    let split = lines.iter().position(|l| l == "--").unwrap_or(lines.len());
    let (fields, ops) = lines.split_at(split);

    // Parsing: the spec's rules, computed here independently.
    let received: Vec<&str> = fields
        .iter()
        .flat_map(|f| f.split(','))
        .map(|m| m.trim_matches([' ', '\t']))
        .filter(|m| !m.is_empty())
        .collect();
    let valid = received.len() <= TRACESTATE_MEMBERS
        && received.iter().all(|m| {
            m.split_once('=')
                .is_some_and(|(k, v)| tracestate_member_ok(k, v))
        });
    let parsed = TraceState::parse_values(fields.iter().map(String::as_str));
    assert_eq!(parsed.is_ok(), valid, "{fields:?}: {parsed:?}");
    let mut ts = parsed.unwrap_or_default();
    check(&ts);
    let mut input: Vec<(String, String)> = Vec::new();
    for m in &received {
        let (k, v) = m.split_once('=').unwrap_or_default();
        if !input.iter().any(|(seen, _)| seen == k) {
            input.push((k.into(), v.into()));
        }
    }
    if valid {
        let reference = input.clone();
        assert!(
            is_subsequence(&members(&ts), &reference),
            "{input:?} -> {ts:?}"
        );
        let fits = input
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>()
            <= TRACESTATE_BYTES + 1;
        if fits {
            assert_eq!(members(&ts), input, "nothing needed truncating");
        }
    }

    for op in ops.iter().skip(1) {
        let before = ts.clone();
        let old = members(&ts);
        if let Some(kv) = op.strip_prefix('+') {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let result = ts.insert(k, v);
            match result {
                Ok(()) => {
                    let now = members(&ts);
                    assert_eq!(now.first(), Some(&(k.into(), v.into())), "inserted first");
                    assert!(is_subsequence(&now[1..], &without(&old, k)));
                }
                Err(e) => {
                    assert_eq!(ts, before, "a failed insert changes nothing");
                    let expected = if k.len() + 1 + v.len() > TRACESTATE_BYTES {
                        Error::TooLong
                    } else {
                        Error::InvalidValue
                    };
                    assert!(
                        !tracestate_member_ok(k, v) || e == expected,
                        "{e:?} for {kv:?}"
                    );
                }
            }
            assert_eq!(
                result.is_ok(),
                tracestate_member_ok(k, v) && kv.len() <= TRACESTATE_BYTES
            );
        } else if let Some(k) = op.strip_prefix('-') {
            let had = ts.get(k).is_some();
            assert_eq!(ts.remove(k), had);
            assert_eq!(members(&ts), without(&old, k), "remove takes only that key");
        } else if let Some(th) = op.strip_prefix('#') {
            let th = (!th.is_empty()).then(|| threshold(th));
            match ts.set_ot_threshold(th) {
                Ok(()) => assert_eq!(ts.ot_threshold(), th),
                Err(_) => {
                    assert_eq!(ts, before, "a failed update changes nothing");
                    assert!(
                        th.is_some_and(|t| t > OtValue::MAX_THRESHOLD)
                            || old.iter().any(|(k, _)| k == "ot")
                    );
                }
            }
            assert!(is_subsequence(
                &without(&members(&ts), "ot"),
                &without(&old, "ot")
            ));
        } else {
            assert_eq!(
                ts.get(op),
                old.iter().find(|(k, _)| k == op).map(|(_, v)| v.as_str())
            );
        }
        check(&ts);
    }
});
