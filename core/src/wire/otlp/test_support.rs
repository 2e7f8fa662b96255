//! A fixed set of recorded spans for the encoder and console tests.

use core::time::Duration;

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
