//! COBS + CRC-32 frames: the stream decoder takes any bytes without panicking, the same
//! way whole or byte by byte, and accounts for every frame it ends; an encoded payload
//! has no zero but its delimiter, fits `max_encoded_len` and decodes to itself (or is
//! reported oversize when the buffer is too small); after garbage and a delimiter, the
//! next frame comes through intact.
//!
//! Input: byte 0 picks the decoder's buffer size, the rest is the stream or payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use picotrace::wire::frame::{self, Decoder, FrameError, CRC_LEN, DELIMITER};

type Verdict = Result<Vec<u8>, FrameError>;

/// Decodes a stream fed whole; returns the verdicts and the decoder's counters.
fn decode_whole(stream: &[u8], cap: usize) -> (Vec<Verdict>, frame::DecoderStats) {
    let mut buf = vec![0u8; cap];
    let mut decoder = Decoder::new(&mut buf);
    let mut input = stream;
    let mut out = Vec::new();
    while let Some(v) = decoder.feed(&mut input) {
        out.push(v.map(<[u8]>::to_vec));
    }
    assert!(
        input.is_empty(),
        "feed returns None only at the end of the input"
    );
    (out, decoder.stats())
}

fn decode_bytewise(stream: &[u8], cap: usize) -> Vec<Verdict> {
    let mut buf = vec![0u8; cap];
    let mut decoder = Decoder::new(&mut buf);
    stream
        .iter()
        .filter_map(|&b| decoder.push(b).map(|v| v.map(<[u8]>::to_vec)))
        .collect()
}

fn encode(payload: &[u8]) -> Vec<u8> {
    let max = frame::max_encoded_len(payload.len());
    let mut out = vec![0xa5u8; max + 1];
    let n = frame::encode(payload, &mut out).expect("max_encoded_len always fits");
    assert!(n <= max);
    assert_eq!(out[max], 0xa5, "wrote past max_encoded_len");
    out.truncate(n);
    assert_eq!(out.last(), Some(&DELIMITER));
    assert!(!out[..n - 1].contains(&DELIMITER), "a zero inside a frame");
    let mut streamed = Vec::new();
    assert_eq!(
        frame::encode_with(payload, |c| streamed.extend_from_slice(c)),
        n
    );
    assert_eq!(streamed, out);
    if n > 1 {
        assert!(frame::encode(payload, &mut vec![0u8; n - 1]).is_err());
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, rest)) = data.split_first() else {
        return;
    };
    let cap = usize::from(size) * 4;

    // Any stream: whole or byte by byte, the same verdicts, all counted.
    let (verdicts, stats) = decode_whole(rest, cap);
    assert_eq!(decode_bytewise(rest, cap), verdicts);
    assert_eq!(stats.bytes, rest.len() as u64);
    assert_eq!(stats.frames + stats.dropped(), verdicts.len() as u64);
    assert!(verdicts.len() <= rest.iter().filter(|&&b| b == DELIMITER).count());
    for v in verdicts.iter().flatten() {
        assert!(v.len() + CRC_LEN <= cap);
    }

    // The rest as a payload: it comes back, whole, or is reported oversize.
    let wire = encode(rest);
    let (verdicts, _) = decode_whole(&wire, cap);
    let expected = if rest.len() + CRC_LEN <= cap {
        Ok(rest.to_vec())
    } else {
        Err(FrameError::Oversize)
    };
    assert_eq!(verdicts, [expected]);

    // A frame, the input as line noise, a delimiter, a frame: both frames come through.
    let first: &[u8] = b"first";
    let mut stream = encode(first);
    stream.extend_from_slice(rest);
    stream.push(DELIMITER);
    stream.extend_from_slice(&encode(b"last"));
    let (verdicts, _) = decode_whole(&stream, 64);
    assert_eq!(verdicts.first(), Some(&Ok(first.to_vec())));
    assert_eq!(verdicts.last(), Some(&Ok(b"last".to_vec())));
});
