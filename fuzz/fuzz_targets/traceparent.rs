//! `traceparent`: any bytes parse without panicking; whatever parses is written back as a
//! valid version-00 header that parses to the same ids; ids and flags taken from the
//! input survive emit then parse; emit never writes past its 55 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picotrace::wire::traceparent::{BufferTooSmall, Repr};
use picotrace::{SpanId, TraceFlags, TraceId};
use picotrace_fuzz::{assert_traceparent, TRACEPARENT_LEN, TRACE_FLAGS_KNOWN_V00};

/// Emits `repr` into buffers of every interesting size and returns the header.
fn emit_checked(repr: &Repr) -> String {
    let mut buf = [0xa5u8; TRACEPARENT_LEN + 9];
    assert_eq!(repr.emit(&mut buf), Ok(TRACEPARENT_LEN));
    assert!(
        buf[TRACEPARENT_LEN..].iter().all(|&b| b == 0xa5),
        "wrote past 55 bytes"
    );
    let mut short = [0xa5u8; TRACEPARENT_LEN - 1];
    for len in [0, 1, TRACEPARENT_LEN - 1] {
        assert_eq!(repr.emit(&mut short[..len]), Err(BufferTooSmall));
    }
    assert!(short.iter().all(|&b| b == 0xa5), "a failed emit wrote");
    let text = String::from_utf8(buf[..TRACEPARENT_LEN].to_vec()).expect("ASCII");
    assert_traceparent(&text);
    assert_eq!(repr.to_header().as_str(), text);
    text
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fuzz_target!(|data: &[u8]| {
    if let Ok(repr) = Repr::parse(data) {
        assert!(repr.trace_id.is_valid() && repr.parent_id.is_valid());
        assert_ne!(repr.version, 0xff);
        let text = emit_checked(&repr);
        let known = repr.flags.bits() & TRACE_FLAGS_KNOWN_V00;
        let written = Repr {
            version: 0,
            flags: TraceFlags::from_bits(known),
            ..repr
        };
        assert_eq!(Repr::parse(text.as_bytes()), Ok(written));
        if repr.version == 0 && known == repr.flags.bits() {
            // Nothing was dropped, so what we write is what we read.
            assert_eq!(trim_ows(data), text.as_bytes());
        }
    }
    // The first 25 bytes as the fields: what we write reads back the same.
    if let Some(f) = data.get(..25) {
        let repr = Repr {
            version: 0,
            trace_id: TraceId::from_bytes(f[..16].try_into().unwrap()),
            parent_id: SpanId::from_bytes(f[16..24].try_into().unwrap()),
            flags: TraceFlags::from_bits(f[24] & TRACE_FLAGS_KNOWN_V00),
        };
        if repr.trace_id.is_valid() && repr.parent_id.is_valid() {
            let text = emit_checked(&repr);
            assert_eq!(Repr::parse(text.as_bytes()), Ok(repr));
        }
    }
});
