//! A fixed set of recorded spans for the encoder and console tests.

use core::time::Duration;
use std::vec::Vec;

use crate::context::{SpanContext, TraceContext};
use crate::export::{ExportError, SpanBatch, SpanExporter};
use crate::id::{SpanId, TraceFlags, TraceId};
use crate::span::attributes::KeyValue;
use crate::span::SpanKind;
use crate::time::{ManualClock, Timestamp};
use crate::{IdGenerator, SpanArena, Tracer, TracerConfig};

/// 2023-11-14T22:13:20Z.
pub(crate) const T0: u64 = 1_700_000_000_000_000_000;

/// An exporter that hands each batch to a closure.
pub(crate) struct FnExporter<F>(pub F);

impl<F: FnMut(&SpanBatch<'_>)> SpanExporter for FnExporter<F> {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        (self.0)(batch);
        Ok(())
    }
}

/// Records one small trace (a server span, a failing client child with an exception
/// event, an internal child with a link) and calls `f` with the batch, children first.
///
/// `f` is called exactly once, with all three spans: the tests' assertions live in it
/// (found by review: had the flush exported nothing, they would have passed unrun).
pub(crate) fn with_sample_batch(mut f: impl FnMut(&SpanBatch<'_>) + Send) {
    let calls = core::sync::atomic::AtomicUsize::new(0);
    let clock = ManualClock::new(Timestamp::from_unix_nanos(T0));
    let tracer = Tracer::new(
        TracerConfig::new("checkout").with_scope("shop.http", "1.4.0"),
        SpanArena::<8>::new(),
        &clock,
        IdGenerator::from_seed([7; 32]),
        FnExporter(|batch: &SpanBatch<'_>| {
            assert_eq!(batch.len(), 3, "the sample trace in one batch");
            calls.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            f(batch);
        }),
    );
    let mut root = tracer.start_server_span("GET /users", None);
    root.set_attribute("http.request.method", "GET");
    root.set_attribute("http.response.status_code", 200);
    root.set_attribute("user_agent.original", "curl/8 \"quoted\"");
    root.set_attribute("retry", false);
    root.set_attribute("sample.ratio", 0.25);
    clock.advance(Duration::from_micros(1_000));
    let mut db = root.child_with_kind("query_database", SpanKind::Client);
    db.set_attribute("db.system.name", "postgresql");
    db.set_attribute("db.rows", crate::Value::from(&[3i64, -1][..]));
    clock.advance(Duration::from_micros(2_500));
    db.record_exception("timed out");
    db.set_error("timeout");
    clock.advance(Duration::from_micros(7_300));
    db.end();
    clock.advance(Duration::from_micros(200));
    let mut render = root.child("render");
    let linked = TraceContext {
        span_context: SpanContext {
            trace_id: TraceId::from_bytes([0x11; 16]),
            span_id: SpanId::from_bytes([0x22; 8]),
            flags: TraceFlags::SAMPLED,
            is_remote: true,
        },
        trace_state: crate::TraceState::parse("vendor=abc").unwrap_or_default(),
    };
    render.add_link(&linked, &[KeyValue::new("link.kind", "cause")]);
    render.set_attribute("tags", crate::Value::from(&["a", "b"][..]));
    clock.advance(Duration::from_micros(3_000));
    render.end();
    clock.advance(Duration::from_micros(1_200));
    root.set_ok();
    root.end();
    tracer.flush();
    assert_eq!(calls.load(core::sync::atomic::Ordering::Relaxed), 1);
}

/// A slot for hand-made spans (ids, parents and times the tracer would never produce).
pub(crate) type TestSlot = crate::span::record::Slot<16, 4, 2, 512>;

/// Makes a span of trace `[trace; 16]` with id `[id; 8]`, optional parent `[p; 8]`,
/// from `start_ms` to `end_ms` after [`T0`]; `more` may record further data.
pub(crate) fn hand_span(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    name: &str,
    (start_ms, end_ms): (u64, u64),
    more: impl FnOnce(&mut crate::span::record::RecordMut<'_>),
) -> TestSlot {
    use crate::span::record::NewRecord;
    let mut slot = TestSlot::new();
    let mut w = slot.writer();
    w.init(&NewRecord {
        context: SpanContext {
            trace_id: TraceId::from_bytes([trace; 16]),
            span_id: SpanId::from_bytes([id; 8]),
            flags: TraceFlags::SAMPLED,
            is_remote: false,
        },
        parent: parent.map(|p| SpanId::from_bytes([p; 8])),
        parent_is_remote: false,
        kind: SpanKind::Internal,
        name,
        start: Timestamp::from_unix_nanos(T0 + start_ms * 1_000_000),
        trace_state: "",
    });
    more(&mut w);
    w.end(Timestamp::from_unix_nanos(T0 + end_ms * 1_000_000));
    slot
}

/// A protobuf field as a test sees it: number and payload.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Field<'a> {
    Varint(u32, u64),
    Fixed64(u32, u64),
    Fixed32(u32, u32),
    Len(u32, &'a [u8]),
}

fn read_varint(buf: &mut &[u8]) -> u64 {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let (&b, rest) = buf.split_first().expect("truncated varint");
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return v;
        }
    }
    panic!("varint too long")
}

/// Splits a message into its fields (test-only reader; core has no decoder).
pub(crate) fn fields(mut buf: &[u8]) -> Vec<Field<'_>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let tag = read_varint(&mut buf);
        let number = (tag >> 3) as u32;
        let f = match tag & 7 {
            0 => Field::Varint(number, read_varint(&mut buf)),
            1 => {
                let (b, rest) = buf.split_first_chunk::<8>().expect("fixed64");
                buf = rest;
                Field::Fixed64(number, u64::from_le_bytes(*b))
            }
            5 => {
                let (b, rest) = buf.split_first_chunk::<4>().expect("fixed32");
                buf = rest;
                Field::Fixed32(number, u32::from_le_bytes(*b))
            }
            2 => {
                let len = read_varint(&mut buf) as usize;
                let (body, rest) = buf.split_at(len);
                buf = rest;
                Field::Len(number, body)
            }
            t => panic!("wire type {t}"),
        };
        out.push(f);
    }
    out
}

pub(crate) fn len_field<'a>(f: &Field<'a>, want: u32) -> Option<&'a [u8]> {
    match *f {
        Field::Len(n, body) if n == want => Some(body),
        _ => None,
    }
}

/// Returns the `Span` bodies of a request, checking its envelope on the way.
pub(crate) fn span_bodies(request: &[u8]) -> Vec<Vec<u8>> {
    let top = fields(request);
    assert_eq!(top.len(), 1, "one ResourceSpans");
    let resource_spans = fields(len_field(&top[0], 1).unwrap());
    assert!(len_field(&resource_spans[0], 1).is_some(), "resource first");
    let scope_spans = fields(len_field(&resource_spans[1], 2).unwrap());
    assert!(len_field(&scope_spans[0], 1).is_some(), "scope first");
    scope_spans[1..]
        .iter()
        .map(|f| len_field(f, 2).expect("span record").to_vec())
        .collect()
}
