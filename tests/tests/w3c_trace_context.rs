//! The W3C Trace Context test suite (w3c/trace-context `test/test.py`), case by case,
//! run in-process against the service behaviour it expects: extract the parent from the
//! request headers, continue it (or start a new trace when extraction fails), and
//! inject the child into the callback's headers.
//!
//! Where the suite predates Level 2 we follow the current spec: keys such as `foo@` and
//! `foo@@bar` are valid now, and of duplicated `tracestate` keys we keep the first.

use picotrace::propagation::{TRACEPARENT, TRACESTATE};
use picotrace::wire::traceparent::Repr;
use picotrace::{
    ExtractError, Extractor, IdGenerator, Injector, TraceContext, TraceState, TraceparentError,
};
use proptest::prelude::*;

/// Owned headers: what the harness sends and what the service calls back with.
#[derive(Debug, Default)]
struct Headers(Vec<(String, String)>);

impl Headers {
    fn from(pairs: &[(&str, &str)]) -> Self {
        Self(pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect())
    }
}

impl Extractor for Headers {
    fn get(&self, name: &str) -> Option<&str> {
        // Spelled out: the slice's inherent `get(index)` would win over the trait.
        Extractor::get(self.0.as_slice(), name)
    }

    fn get_all(&self, name: &str, f: &mut dyn FnMut(&str)) {
        self.0.as_slice().get_all(name, f);
    }
}

impl Injector for Headers {
    fn set(&mut self, name: &str, value: &str) {
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.0.push((name.into(), value.into()));
    }
}

/// The test service: one request in, one callback's headers out.
struct Service {
    ids: IdGenerator,
}

impl Service {
    fn new() -> Self {
        Self {
            ids: IdGenerator::from_seed([42; 32]),
        }
    }

    fn handle(&mut self, request: &[(&str, &str)]) -> Headers {
        let ctx = match TraceContext::from_headers(&Headers::from(request)) {
            Ok(parent) => parent.child(&mut self.ids),
            Err(_) => TraceContext::new_root(&mut self.ids, true),
        };
        let mut out = Headers::default();
        ctx.to_headers(&mut out);
        out
    }
}

/// What the harness reads back: exactly one valid traceparent, and the tracestate.
fn callback(request: &[(&str, &str)]) -> (Repr, TraceState) {
    let out = Service::new().handle(request);
    let mut traceparents = Vec::new();
    out.get_all("TRACEPARENT", &mut |v| traceparents.push(v.to_owned()));
    assert_eq!(traceparents.len(), 1, "expect one traceparent header");
    // The form checked apart from our parser (found by review: a bug shared by the
    // parser and the writer would pass it): 00-{32 hex}-{16 hex}-{00..03}.
    let tp = traceparents[0].as_bytes();
    assert_eq!(tp.len(), 55, "{:?}", traceparents[0]);
    for (i, &c) in tp.iter().enumerate() {
        let dash = matches!(i, 2 | 35 | 52);
        assert!(
            if dash {
                c == b'-'
            } else {
                matches!(c, b'0'..=b'9' | b'a'..=b'f')
            },
            "lowercase hex and dashes: {:?}",
            traceparents[0]
        );
    }
    assert!(tp.starts_with(b"00-"), "version 00");
    assert!(
        matches!(&tp[53..], b"00" | b"01" | b"02" | b"03"),
        "known flags"
    );
    let tp = Repr::parse(traceparents[0].as_bytes()).expect("service sends a valid traceparent");
    assert_eq!(tp.version, 0);
    let mut fields = Vec::new();
    out.get_all(TRACESTATE, &mut |v| fields.push(v.to_owned()));
    let ts = TraceState::parse_values(fields.iter().map(String::as_str)).expect("valid tracestate");
    for (name, _) in &out.0 {
        assert_eq!(
            name,
            &name.to_ascii_lowercase(),
            "header names are sent lowercase"
        );
    }
    (tp, ts)
}

const TRACE: &str = "12345678901234567890123456789012";
const PARENT: &str = "1234567890123456";
const TP01: &str = "00-12345678901234567890123456789012-1234567890123456-01";
const TP00: &str = "00-12345678901234567890123456789012-1234567890123456-00";

fn trace_hex(tp: &Repr) -> String {
    tp.trace_id.to_hex().as_str().to_owned()
}

/// Asserts the callback continues trace `TRACE` with a new parent id.
fn continues(request: &[(&str, &str)]) -> TraceState {
    let (tp, ts) = callback(request);
    assert_eq!(trace_hex(&tp), TRACE, "{request:?}");
    assert_ne!(tp.parent_id.to_hex().as_str(), PARENT, "{request:?}");
    ts
}

/// Asserts the callback starts a new trace and drops any tracestate.
fn restarts(request: &[(&str, &str)]) {
    let (tp, ts) = callback(request);
    assert_ne!(trace_hex(&tp), TRACE, "{request:?}");
    assert!(ts.is_empty(), "{request:?}");
}

#[test]
fn both_traceparent_and_tracestate_missing() {
    let (tp, ts) = callback(&[]);
    assert!(tp.trace_id.is_valid() && tp.flags.is_random_trace_id());
    assert!(ts.is_empty());
}

#[test]
fn traceparent_included_tracestate_missing() {
    assert!(continues(&[("traceparent", TP01)]).is_empty());
}

#[test]
fn traceparent_duplicated() {
    let (tp, _) = callback(&[
        (
            "traceparent",
            "00-12345678901234567890123456789011-1234567890123456-01",
        ),
        ("traceparent", TP01),
    ]);
    assert_ne!(trace_hex(&tp), "12345678901234567890123456789011");
    assert_ne!(trace_hex(&tp), TRACE);
}

#[test]
fn traceparent_header_name() {
    restarts(&[("trace-parent", TP01)]);
    restarts(&[("trace.parent", TP01)]);
}

#[test]
fn traceparent_header_name_valid_casing() {
    for name in ["TraceParent", "TrAcEpArEnT", "TRACEPARENT"] {
        continues(&[(name, TP01)]);
    }
}

/// Rows: (W3C case, traceparent sent, whether the service continues the trace).
#[rustfmt::skip]
const TRACEPARENT_CASES: &[(&str, &str, bool)] = &[
    ("traceparent_version_0x00",
     "00-12345678901234567890123456789012-1234567890123456-01.", false),
    ("traceparent_version_0x00",
     "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like", false),
    ("traceparent_version_0xcc",
     "cc-12345678901234567890123456789012-1234567890123456-01", true),
    ("traceparent_version_0xcc",
     "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like", true),
    ("traceparent_version_0xcc",
     "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like", false),
    ("traceparent_version_0xff",
     "ff-12345678901234567890123456789012-1234567890123456-01", false),
    ("traceparent_version_illegal_characters",
     ".0-12345678901234567890123456789012-1234567890123456-01", false),
    ("traceparent_version_illegal_characters",
     "0.-12345678901234567890123456789012-1234567890123456-01", false),
    ("traceparent_version_too_long",
     "000-12345678901234567890123456789012-1234567890123456-01", false),
    ("traceparent_version_too_long",
     "0000-12345678901234567890123456789012-1234567890123456-01", false),
    ("traceparent_version_too_short",
     "0-12345678901234567890123456789012-1234567890123456-01", false),
    ("traceparent_trace_id_all_zero",
     "00-00000000000000000000000000000000-1234567890123456-01", false),
    ("traceparent_trace_id_illegal_characters",
     "00-.2345678901234567890123456789012-1234567890123456-01", false),
    ("traceparent_trace_id_illegal_characters",
     "00-1234567890123456789012345678901.-1234567890123456-01", false),
    ("traceparent_trace_id_too_long",
     "00-123456789012345678901234567890123-1234567890123456-01", false),
    ("traceparent_trace_id_too_short",
     "00-1234567890123456789012345678901-1234567890123456-01", false),
    ("traceparent_parent_id_all_zero",
     "00-12345678901234567890123456789012-0000000000000000-01", false),
    ("traceparent_parent_id_illegal_characters",
     "00-12345678901234567890123456789012-.234567890123456-01", false),
    ("traceparent_parent_id_illegal_characters",
     "00-12345678901234567890123456789012-123456789012345.-01", false),
    ("traceparent_parent_id_too_long",
     "00-12345678901234567890123456789012-12345678901234567-01", false),
    ("traceparent_parent_id_too_short",
     "00-12345678901234567890123456789012-123456789012345-01", false),
    ("traceparent_trace_flags_illegal_characters",
     "00-12345678901234567890123456789012-1234567890123456-.0", false),
    ("traceparent_trace_flags_illegal_characters",
     "00-12345678901234567890123456789012-1234567890123456-0.", false),
    ("traceparent_trace_flags_too_long",
     "00-12345678901234567890123456789012-1234567890123456-001", false),
    ("traceparent_trace_flags_too_short",
     "00-12345678901234567890123456789012-1234567890123456-1", false),
    ("traceparent_ows_handling",
     " 00-12345678901234567890123456789012-1234567890123456-01", true),
    ("traceparent_ows_handling",
     "\t00-12345678901234567890123456789012-1234567890123456-01", true),
    ("traceparent_ows_handling",
     "00-12345678901234567890123456789012-1234567890123456-01 ", true),
    ("traceparent_ows_handling",
     "00-12345678901234567890123456789012-1234567890123456-01\t", true),
    ("traceparent_ows_handling",
     "\t 00-12345678901234567890123456789012-1234567890123456-01 \t", true),
    ("uppercase trace-id (spec: MUST ignore)",
     "00-1234567890ABCDEF1234567890123456-1234567890123456-01", false),
];

#[test]
fn traceparent_cases() {
    for &(case, traceparent, continued) in TRACEPARENT_CASES {
        let headers = [("traceparent", traceparent), ("tracestate", "foo=1")];
        let extracted = TraceContext::from_headers(&headers);
        assert_eq!(extracted.is_ok(), continued, "{case}: {traceparent:?}");
        if continued {
            assert_eq!(continues(&headers).get("foo"), Some("1"), "{case}");
        } else {
            restarts(&headers);
        }
    }
}

#[test]
fn traceparent_errors_name_the_rule() {
    let err = |tp: &str| TraceContext::from_headers(&[("traceparent", tp)]).unwrap_err();
    assert_eq!(
        err("ff-12345678901234567890123456789012-1234567890123456-01"),
        ExtractError::Traceparent(TraceparentError::VersionFf)
    );
    assert_eq!(
        err("00-00000000000000000000000000000000-1234567890123456-01"),
        ExtractError::Traceparent(TraceparentError::TraceIdAllZero)
    );
    let none: [(&str, &str); 0] = [];
    assert_eq!(
        TraceContext::from_headers(&none),
        Err(ExtractError::Missing)
    );
}

#[test]
fn sampled_and_random_flags_are_propagated_unchanged() {
    for (flags, sampled, random) in [
        ("00", false, false),
        ("01", true, false),
        ("03", true, true),
    ] {
        let tp = format!("00-{TRACE}-{PARENT}-{flags}");
        let (out, _) = callback(&[("traceparent", &tp)]);
        assert_eq!(out.flags.is_sampled(), sampled, "{flags}");
        assert_eq!(out.flags.is_random_trace_id(), random, "{flags}");
    }
    // Unknown flags are received but not sent in version 00.
    let (out, _) = callback(&[("traceparent", &format!("00-{TRACE}-{PARENT}-ff"))]);
    assert_eq!(out.flags.bits(), 0x03);
}

#[test]
fn tracestate_included_traceparent_missing() {
    let (_, ts1) = callback(&[("tracestate", "foo=1")]);
    let (_, ts2) = callback(&[("tracestate", "foo=1,bar=2")]);
    assert_eq!(ts1.len(), ts2.len());
    assert!(ts1.is_empty());
}

#[test]
fn tracestate_included_traceparent_included() {
    let ts = continues(&[("traceparent", TP00), ("tracestate", "foo=1,bar=2")]);
    assert_eq!(ts.get("foo"), Some("1"));
    assert_eq!(ts.get("bar"), Some("2"));
}

#[test]
fn tracestate_header_name() {
    for name in ["trace-state", "trace.state"] {
        let ts = continues(&[("traceparent", TP00), (name, "foo=1")]);
        assert_eq!(ts.get("foo"), None);
    }
}

#[test]
fn tracestate_header_name_valid_casing() {
    for name in ["TraceState", "TrAcEsTaTe", "TRACESTATE"] {
        let ts = continues(&[("traceparent", TP00), (name, "foo=1")]);
        assert_eq!(ts.get("foo"), Some("1"), "{name}");
    }
}

#[test]
fn tracestate_empty_header() {
    let (_, ts) = callback(&[("traceparent", TP00), ("tracestate", "")]);
    assert!(ts.is_empty());
    let ts = continues(&[
        ("traceparent", TP00),
        ("tracestate", "foo=1"),
        ("tracestate", ""),
    ]);
    assert_eq!(ts.get("foo"), Some("1"));
    let ts = continues(&[
        ("traceparent", TP00),
        ("tracestate", ""),
        ("tracestate", "foo=1"),
    ]);
    assert_eq!(ts.get("foo"), Some("1"));
    // The service does not send an empty tracestate header.
    let out = Service::new().handle(&[("traceparent", TP00), ("tracestate", " , ")]);
    assert_eq!(out.get(TRACESTATE), None);
}

#[test]
fn tracestate_multiple_headers_different_keys() {
    let ts = continues(&[
        ("traceparent", TP00),
        ("tracestate", "foo=1,bar=2"),
        ("Tracestate", "rojo=1,congo=2"),
        ("TRACESTATE", "baz=3"),
    ]);
    assert_eq!(ts.as_str(), "foo=1,bar=2,rojo=1,congo=2,baz=3");
}

#[test]
fn tracestate_duplicated_keys() {
    // The suite's strict level wants the whole tracestate dropped; the spec allows
    // keeping or reducing duplicates, and we keep the first.
    for fields in [
        &["foo=1,foo=1"][..],
        &["foo=1,foo=2"],
        &["foo=1", "foo=1"],
        &["foo=1", "foo=2"],
    ] {
        let mut request = vec![("traceparent", TP00)];
        request.extend(fields.iter().map(|&f| ("tracestate", f)));
        let ts = continues(&request);
        assert_eq!(ts.as_str(), "foo=1", "{fields:?}");
    }
}

#[test]
fn tracestate_all_allowed_characters() {
    let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    let value: String = (0x20u8..=0x7e)
        .filter(|&c| c != b',' && c != b'=')
        .map(char::from)
        .collect();
    for key in [key.to_owned(), format!("{key}@a-z0-9_-*/")] {
        let member = format!("{key}={value}");
        let ts = continues(&[("traceparent", TP00), ("tracestate", &member)]);
        assert_eq!(ts.get(&key), Some(value.as_str()));
    }
}

#[test]
fn tracestate_ows_handling() {
    for header in [
        "foo=1 \t , \t bar=2, \t baz=3",
        "foo=1\t \t,\t \tbar=2,\t \tbaz=3",
    ] {
        let ts = continues(&[("traceparent", TP00), ("tracestate", header)]);
        assert_eq!(ts.as_str(), "foo=1,bar=2,baz=3");
    }
    for header in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
        let ts = continues(&[("traceparent", TP00), ("tracestate", header)]);
        assert_eq!(ts.get("foo"), Some("1"), "{header:?}");
    }
}

#[test]
fn tracestate_key_illegal_characters() {
    for header in ["foo =1", "FOO=1", "foo.bar=1"] {
        let ts = continues(&[("traceparent", TP00), ("tracestate", header)]);
        assert!(ts.is_empty(), "{header:?}");
    }
}

#[test]
fn tracestate_key_illegal_vendor_format() {
    // Level 2 simplified the key grammar: only a leading '@' is still illegal.
    let ts = continues(&[("traceparent", TP00), ("tracestate", "@foo=1,bar=2")]);
    assert_eq!(ts.get("bar"), None);
    for header in ["foo@=1,bar=2", "foo@@bar=1,bar=2", "foo@bar@baz=1,bar=2"] {
        let ts = continues(&[("traceparent", TP00), ("tracestate", header)]);
        assert_eq!(ts.get("bar"), Some("2"), "{header:?}");
    }
}

#[test]
fn tracestate_member_count_limit() {
    let members: Vec<String> = (1..=33).map(|i| format!("bar{i:02}={i:02}")).collect();
    let fields = [
        members[..10].join(","),
        members[10..20].join(","),
        members[20..30].join(","),
    ];
    let mut request: Vec<(&str, &str)> = vec![("traceparent", TP00)];
    request.extend(fields.iter().map(|f| ("tracestate", f.as_str())));

    let last_32 = members[30..32].join(",");
    let mut ok = request.clone();
    ok.push(("tracestate", &last_32));
    let ts = continues(&ok);
    assert_eq!(ts.get("bar01"), Some("01"));
    assert_eq!(ts.len(), 32);

    let last_33 = members[30..33].join(",");
    request.push(("tracestate", &last_33));
    assert!(continues(&request).is_empty());
}

#[test]
fn tracestate_key_length_limit() {
    let cases = [
        ("z".repeat(256), true),
        ("z".repeat(257), false),
        (format!("{}@{}", "t".repeat(241), "v".repeat(14)), true),
    ];
    for (key, valid) in cases {
        let member = format!("{key}=1");
        let request = [
            ("traceparent", TP00),
            ("tracestate", "foo=1"),
            ("tracestate", &member),
        ];
        let ts = continues(&request);
        assert_eq!(ts.get("foo").is_some(), valid, "{} characters", key.len());
    }
}

#[test]
fn tracestate_value_illegal_characters() {
    for header in ["foo=bar=baz", "foo=,bar=3"] {
        let ts = continues(&[("traceparent", TP00), ("tracestate", header)]);
        assert!(
            ts.get("foo").is_none() && ts.get("bar").is_none(),
            "{header:?}"
        );
    }
}

#[test]
fn multiple_requests_with_valid_traceparent() {
    let mut service = Service::new();
    let mut parents = Vec::new();
    for _ in 0..3 {
        let out = service.handle(&[("traceparent", TP01)]);
        let tp = Repr::parse(out.get(TRACEPARENT).unwrap().as_bytes()).unwrap();
        assert_eq!(trace_hex(&tp), TRACE);
        parents.push(tp.parent_id);
    }
    // Distinct, not merely not adjacent-equal (`dedup` would pass [a, b, a]).
    let distinct: std::collections::HashSet<_> = parents.iter().collect();
    assert_eq!(distinct.len(), 3, "{parents:?}");
}

#[test]
fn multiple_requests_without_traceparent() {
    let mut service = Service::new();
    let parents: Vec<_> = (0..3)
        .map(|_| {
            let out = service.handle(&[]);
            Repr::parse(out.get(TRACEPARENT).unwrap().as_bytes())
                .unwrap()
                .parent_id
        })
        .collect();
    let distinct: std::collections::HashSet<_> = parents.iter().collect();
    assert_eq!(distinct.len(), 3, "{parents:?}");
}

#[test]
fn multiple_requests_with_illegal_traceparent() {
    let mut service = Service::new();
    let mut parents = Vec::new();
    for _ in 0..3 {
        let out = service.handle(&[(
            "traceparent",
            "00-00000000000000000000000000000000-1234567890123456-01",
        )]);
        let tp = Repr::parse(out.get(TRACEPARENT).unwrap().as_bytes()).unwrap();
        assert!(tp.trace_id.is_valid());
        parents.push(tp.parent_id);
    }
    // As the suite's AdvancedTest does (found by review: left out, one span id reused
    // for every new root passed).
    let distinct: std::collections::HashSet<_> = parents.iter().collect();
    assert_eq!(distinct.len(), 3, "{parents:?}");
}

#[test]
fn injected_child_parses_back_and_keeps_the_vendor_order() {
    let mut ids = IdGenerator::from_seed([9; 32]);
    let parent = TraceContext::from_headers(&[
        ("traceparent", TP01),
        ("tracestate", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"),
    ])
    .unwrap();
    let mut child = parent.child(&mut ids);
    child.trace_state.insert("congo", "ucfJifl5GOE").unwrap();
    let mut out = Headers::default();
    child.to_headers(&mut out);
    let back = TraceContext::from_headers(&out).unwrap();
    assert_eq!(back.span_context.trace_id, child.trace_id());
    assert_eq!(back.span_id(), child.span_id());
    assert_eq!(back.flags(), child.flags());
    assert!(back.is_remote());
    assert_eq!(
        back.trace_state.as_str(),
        "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7"
    );
}

proptest! {
    #[test]
    fn arbitrary_headers_never_panic(
        tp in "\\PC{0,70}",
        ts in proptest::collection::vec("\\PC{0,80}", 0..4),
    ) {
        let mut request: Vec<(&str, &str)> = vec![("traceparent", &tp)];
        request.extend(ts.iter().map(|t| ("tracestate", t.as_str())));
        let (out, _) = callback(&request);
        prop_assert!(out.trace_id.is_valid());
    }

    /// Mostly valid headers (arbitrary text above seldom makes a valid traceparent): a
    /// valid one is continued, its ids kept, and anything else starts a new trace with
    /// no tracestate. (Found by review: the ids were random hex only, so an invalid
    /// header was never generated and the restart half never ran.)
    #[test]
    fn near_valid_headers_continue_or_restart(
        version in prop_oneof![4 => "0[0-9a-f]", 1 => Just("ff".to_owned())],
        trace_hex in prop_oneof![4 => "[0-9a-f]{32}", 1 => Just("0".repeat(32))],
        parent_hex in prop_oneof![4 => "[0-9a-f]{16}", 1 => Just("0".repeat(16))],
        flags in "0[0-3]",
        ts in proptest::collection::vec("[a-z0-9=, @*/_-]{0,40}", 0..3),
    ) {
        let tp = format!("{version}-{trace_hex}-{parent_hex}-{flags}");
        let mut request: Vec<(&str, &str)> = vec![("traceparent", &tp)];
        request.extend(ts.iter().map(|t| ("tracestate", t.as_str())));
        let (out, state) = callback(&request);
        prop_assert!(out.trace_id.is_valid());
        // Version ff and ids of all zeros are invalid.
        let valid = version != "ff" && trace_hex != "0".repeat(32) && parent_hex != "0".repeat(16);
        let hex = out.trace_id.to_hex();
        if valid {
            prop_assert_eq!(hex.as_str(), trace_hex.as_str());
        } else {
            prop_assert_ne!(hex.as_str(), trace_hex.as_str(), "a new trace");
            prop_assert!(state.is_empty(), "no tracestate without a valid traceparent");
        }
    }

    #[test]
    fn injected_context_round_trips(
        trace in any::<[u8; 16]>(), span in any::<[u8; 8]>(), flags in 0u8..4,
        vendor in "[a-z][a-z0-9_*/@-]{0,10}", value in "[!-+\\--<>-~]{1,20}",
    ) {
        let tp = Repr {
            version: 0,
            trace_id: picotrace::TraceId::from_bytes(trace),
            parent_id: picotrace::SpanId::from_bytes(span),
            flags: picotrace::TraceFlags::from_bits(flags),
        };
        prop_assume!(tp.trace_id.is_valid() && tp.parent_id.is_valid());
        let member = format!("{vendor}={value}");
        let request = [("traceparent", tp.to_header().as_str().to_owned()), ("tracestate", member)];
        let ctx = TraceContext::from_headers(&request).unwrap();
        let mut out = Headers::default();
        ctx.to_headers(&mut out);
        prop_assert_eq!(out.get("traceparent"), Some(request[0].1.as_str()));
        prop_assert_eq!(out.get("tracestate"), Some(request[1].1.as_str()));
    }
}
