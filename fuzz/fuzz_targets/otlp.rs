//! OTLP protobuf and JSON encoders, fed spans recorded through the public `Tracer` API
//! with hostile names, keys and values (any UTF-8, controls, quotes, huge arrays) under
//! random limits, in a roomy arena and in one whose text pools fill up.
//!
//! Checked: encoding never panics; the protobuf decodes (prost, opentelemetry-proto) to
//! exactly what `SpanData` says was recorded, and the JSON (serde_json, the same types) to
//! the same request; split into requests of a random size, every span arrives once or is
//! reported too large; attribute keys are never empty, never cut and never twice within
//! one span, event or link; and where the pools had room, names, keys, values and
//! dropped counts are exactly what the calls asked for under the limits.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue as PKeyValue,
};
use opentelemetry_proto::tonic::trace::v1 as pt;
use picotrace::export::BatchIter;
use picotrace::wire::otlp::{json, proto, EncodeError, Encoded};
use picotrace::{
    ExportError, IdGenerator, KeyValue, ManualClock, SpanArena, SpanBatch, SpanContext, SpanData,
    SpanExporter, SpanId, SpanKind, SpanLimits, Timestamp, TraceContext, TraceFlags, TraceId,
    TraceState, Tracer, TracerConfig, Value,
};

// The reference model and decoders tests/ checks the encoders with.
#[path = "../../tests/tests/otlp_model/mod.rs"]
mod otlp_model;
use otlp_model::{decode_json, decode_proto, expected_span};
use prost::Message;

const STATIC_KEYS: [&str; 4] = ["http.request.method", "k", "exception.type", "ключ"];
const SPANS: usize = 4;

#[derive(Arbitrary, Debug)]
struct Input {
    tight: bool,
    limits: [u8; 5],
    value_length: Option<u8>,
    spans: Vec<SpanOps>,
    request_size: u16,
}

#[derive(Arbitrary, Debug)]
struct SpanOps {
    name: String,
    kind: u8,
    child: bool,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Attr(Key, Val),
    Event(String, Vec<(String, Val)>),
    Exception(String, String),
    Link([u8; 16], [u8; 8], u8, bool, String, Vec<(String, Val)>),
    Ok,
    Error(String),
    Rename(String),
}

#[derive(Arbitrary, Debug)]
enum Key {
    Static(u8),
    Dyn(String),
}

#[derive(Arbitrary, Debug, Clone)]
enum Val {
    Str(String),
    Bool(bool),
    I64(i64),
    F64(f64),
    Strs(Vec<String>),
    Bools(Vec<bool>),
    I64s(Vec<i64>),
    F64s(Vec<f64>),
}

/// Arrays converted for `Value`.
enum Held<'a> {
    Strs(Vec<&'a str>),
    F64s(Vec<f64>),
    Nothing,
}

impl Key {
    fn as_str(&self) -> &str {
        match self {
            Key::Static(i) => STATIC_KEYS[usize::from(*i) % STATIC_KEYS.len()],
            Key::Dyn(s) => nonempty(s),
        }
    }
}

/// Empty keys are the caller's error (OTel: keys MUST be non-empty); the fuzzer does not
/// make them, so that any empty key on the wire is the library's doing.
fn nonempty(key: &str) -> &str {
    if key.is_empty() {
        "_"
    } else {
        key
    }
}

/// NaN and the infinities are written as strings in OTLP/JSON, which serde_json does not
/// read back as numbers (a unit test covers them); NaN is also never equal to itself.
fn finite(f: f64) -> f64 {
    if f.is_finite() {
        f
    } else {
        0.5
    }
}

impl Val {
    /// Converts what `picotrace` borrows as a slice of another type.
    fn hold(&self) -> Held<'_> {
        match self {
            Val::Strs(v) => Held::Strs(v.iter().map(String::as_str).collect()),
            Val::F64s(v) => Held::F64s(v.iter().copied().map(finite).collect()),
            _ => Held::Nothing,
        }
    }

    /// The value as `picotrace` takes it.
    fn value<'a>(&'a self, held: &'a Held<'a>) -> Value<'a> {
        match (self, held) {
            (Val::Str(s), _) => Value::Str(s),
            (Val::Bool(b), _) => Value::Bool(*b),
            (Val::I64(i), _) => Value::I64(*i),
            (Val::F64(x), _) => Value::F64(finite(*x)),
            (Val::Bools(v), _) => Value::BoolArray(v),
            (Val::I64s(v), _) => Value::I64Array(v),
            (_, Held::Strs(v)) => Value::StrArray(v),
            (_, Held::F64s(v)) => Value::F64Array(v),
            (Val::Strs(_) | Val::F64s(_), Held::Nothing) => unreachable!("held first"),
        }
    }

    /// Bytes the value can take in a span's text pool.
    fn pool_bytes(&self) -> usize {
        match self {
            Val::Str(s) => s.len(),
            Val::Strs(v) => v.iter().map(|s| 2 + s.len()).sum(),
            Val::Bools(v) => v.len(),
            Val::I64s(v) => 8 * v.len(),
            Val::F64s(v) => 8 * v.len(),
            Val::Bool(_) | Val::I64(_) | Val::F64(_) => 0,
        }
    }

    /// The value as it must decode, with strings cut to `limit` characters.
    fn expected(&self, limit: usize) -> AnyValue {
        use any_value::Value as V;
        let array = |values: Vec<V>| {
            let values = values
                .into_iter()
                .map(|v| AnyValue { value: Some(v) })
                .collect();
            V::ArrayValue(ArrayValue { values })
        };
        let value = match self {
            Val::Str(s) => V::StringValue(cut(s, limit, usize::MAX)),
            Val::Bool(b) => V::BoolValue(*b),
            Val::I64(i) => V::IntValue(*i),
            Val::F64(x) => V::DoubleValue(finite(*x)),
            Val::Strs(v) => array(
                v.iter()
                    .map(|s| V::StringValue(cut(s, limit, usize::from(u16::MAX))))
                    .collect(),
            ),
            Val::Bools(v) => array(v.iter().map(|&b| V::BoolValue(b)).collect()),
            Val::I64s(v) => array(v.iter().map(|&i| V::IntValue(i)).collect()),
            Val::F64s(v) => array(v.iter().map(|&x| V::DoubleValue(finite(x))).collect()),
        };
        AnyValue { value: Some(value) }
    }
}

/// Returns `s` cut to at most `chars` characters and `bytes` bytes (at a character
/// boundary), as `picotrace` cuts.
fn cut(s: &str, chars: usize, bytes: usize) -> String {
    let mut i = s
        .char_indices()
        .nth(chars)
        .map_or(s.len(), |(i, _)| i)
        .min(bytes);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    s[..i].into()
}

/// The attributes as `picotrace` takes them; `held` is [`held`] of `attrs`.
fn key_values<'a>(attrs: &'a [(String, Val)], held: &'a [Held<'a>]) -> Vec<KeyValue<'a>> {
    let pairs = attrs.iter().zip(held);
    pairs
        .map(|((k, v), h)| KeyValue {
            key: nonempty(k),
            value: v.value(h),
        })
        .collect()
}

/// Converts the arrays of a list of attributes.
fn held(attrs: &[(String, Val)]) -> Vec<Held<'_>> {
    attrs.iter().map(|(_, v)| v.hold()).collect()
}

// ---- the encoders, checked inside the exporter (spans live only during export) -----

/// Checks every batch it is handed; keeps what was recorded for the checks against
/// the calls made.
struct Capture {
    request_size: usize,
    spans: Vec<pt::Span>,
}

/// Decodes protobuf and checks it is canonical (byte for byte what prost writes).
fn decode_canonical(bytes: &[u8]) -> ExportTraceServiceRequest {
    let request = decode_proto(bytes);
    assert_eq!(request.encode_to_vec(), bytes, "protobuf is canonical");
    request
}

/// The spans of a request with one resource and one scope.
fn spans_of(mut request: ExportTraceServiceRequest) -> Vec<pt::Span> {
    assert_eq!(request.resource_spans.len(), 1);
    let mut rs = request.resource_spans.remove(0);
    assert_eq!(rs.scope_spans.len(), 1);
    rs.scope_spans.remove(0).spans
}

impl SpanExporter for Capture {
    fn export(&mut self, batch: &SpanBatch<'_>) -> Result<(), ExportError> {
        let (resource, scope) = (batch.resource, batch.scope);
        let recorded: Vec<pt::Span> = batch.iter().map(|s| expected_span(&s)).collect();
        let proto = check_encoder(
            batch,
            &recorded,
            self.request_size,
            |spans, out| proto::encode_request(resource, scope, spans, out),
            decode_canonical,
            proto::request_overhead_len(resource, scope),
            (proto::span_len, proto::span_record_len),
        );
        let json = check_encoder(
            batch,
            &recorded,
            self.request_size,
            |spans, out| json::encode_request(resource, scope, spans, out),
            decode_json,
            json::request_overhead_len(resource, scope),
            (json::span_len, json::span_record_len),
        );
        assert_eq!(json, proto, "JSON and protobuf carry the same request");
        self.spans.extend(recorded);
        Ok(())
    }
}

/// Span sizes as an encoder computes them: `span_len` and `span_record_len`.
type Lens = (fn(&SpanData<'_>) -> usize, fn(usize) -> usize);

/// Encodes the batch whole, into the size the length functions promise, and split into
/// requests of `request_size` bytes; returns the whole request, decoded.
fn check_encoder<'a>(
    batch: &SpanBatch<'a>,
    recorded: &[pt::Span],
    request_size: usize,
    encode: impl Fn(BatchIter<'a>, &mut [u8]) -> Result<Encoded, EncodeError>,
    decode: fn(&[u8]) -> ExportTraceServiceRequest,
    overhead: usize,
    (span_len, record_len): Lens,
) -> ExportTraceServiceRequest {
    let size = overhead
        + 1
        + batch
            .iter()
            .map(|s| record_len(span_len(&s)))
            .sum::<usize>();
    let mut buf = vec![0xa5u8; size + 1];
    let done = encode(batch.iter(), &mut buf[..size]).expect("the promised size fits");
    assert_eq!(done.spans, batch.len());
    assert_eq!(buf[size], 0xa5);
    let whole = decode(&buf[..done.bytes]);
    assert_eq!(
        spans_of(whole.clone()),
        recorded,
        "decodes to what was recorded"
    );

    // Split: each span arrives once, in order, or does not fit even alone.
    let mut buf = vec![0xa5u8; request_size];
    let (mut rest, mut index) = (batch.iter(), 0);
    while index < batch.len() {
        match encode(rest.clone(), &mut buf) {
            Ok(done) => {
                assert!(done.spans > 0 && done.bytes <= buf.len());
                let spans = spans_of(decode(&buf[..done.bytes]));
                assert_eq!(spans[..], recorded[index..index + done.spans]);
                index += done.spans;
                rest.nth(done.spans - 1);
            }
            Err(EncodeError::SpanTooLarge { index: 0 }) => {
                let span = batch.get(index).expect("in the batch");
                assert!(overhead + record_len(span_len(&span)) > buf.len());
                index += 1;
                rest.next();
            }
            Err(EncodeError::BufferTooSmall) => {
                assert!(
                    buf.len() < overhead + 1,
                    "{} fits an empty request",
                    buf.len()
                );
                break;
            }
            Err(e) => panic!("{e:?} at {index}"),
        }
    }
    whole
}
// ---- what the calls asked for ------------------------------------------------------

/// An event (its name) or a link (its tracestate), its attributes and how many it
/// dropped.
type Owner = (String, Vec<(String, Val)>, u32);

/// A span as the calls made on it must come out, where its text pool had room.
#[derive(Default)]
struct Want {
    name: String,
    attrs: Vec<(String, Val)>,
    dropped_attrs: u32,
    events: Vec<Owner>,
    dropped_events: u32,
    links: Vec<Owner>,
    dropped_links: u32,
    status: Option<pt::Status>,
    /// The most text the calls can put in the span's pool.
    pool: usize,
    /// Every key given for the span itself, and for its events and links.
    span_keys: Vec<String>,
    owned_keys: Vec<String>,
}

/// Event or link attributes: distinct keys count toward `limit` and the arena, a later
/// duplicate replaces the value.
fn owned(
    attrs: &[(String, Val)],
    limit: u32,
    used: &mut usize,
    cap: usize,
) -> (Vec<(String, Val)>, u32) {
    let (mut kept, mut seen, mut dropped) = (Vec::<(String, Val)>::new(), Vec::new(), 0);
    for (k, v) in attrs {
        let k = nonempty(k);
        if seen.contains(&k) {
            if let Some(e) = kept.iter_mut().find(|(kk, _)| kk == k) {
                e.1 = v.clone();
            }
            continue;
        }
        seen.push(k);
        if (kept.len() as u32) < limit && *used < cap {
            kept.push((k.into(), v.clone()));
            *used += 1;
        } else {
            dropped += 1;
        }
    }
    (kept, dropped)
}

/// Notes the keys given to an event or link.
fn note_owned_keys(w: &mut Want, attrs: &[(String, Val)]) {
    let keys: Vec<&str> = attrs.iter().map(|(k, _)| nonempty(k)).collect();
    w.owned_keys.extend(keys.iter().map(|k| k.to_string()));
}

fn want(span: &SpanOps, limits: &SpanLimits, caps: (usize, usize, usize)) -> Want {
    let (attr_cap, event_cap, link_cap) = caps;
    let mut w = Want {
        name: span.name.clone(),
        pool: span.name.len() + 16,
        ..Want::default()
    };
    let mut used = 0;
    let text = |attrs: &[(String, Val)]| {
        attrs
            .iter()
            .map(|(k, v)| k.len() + v.pool_bytes())
            .sum::<usize>()
    };
    for op in &span.ops {
        match op {
            Op::Attr(k, v) => {
                let k = k.as_str();
                w.pool += k.len() + v.pool_bytes();
                w.span_keys.push(k.into());
                if let Some(e) = w.attrs.iter_mut().find(|(kk, _)| kk == k) {
                    e.1 = v.clone();
                } else if w.attrs.len() as u32 >= limits.attribute_count || used == attr_cap {
                    w.dropped_attrs += 1;
                } else {
                    w.attrs.push((k.into(), v.clone()));
                    used += 1;
                }
            }
            // An exception that says neither type nor message records nothing.
            Op::Exception(t, m) if t.is_empty() && m.is_empty() => {}
            Op::Event(..) | Op::Exception(..) => {
                let (name, attrs) = match op {
                    Op::Event(name, attrs) => (name.clone(), attrs.clone()),
                    // An empty type or message is left out.
                    Op::Exception(t, m) => (
                        "exception".into(),
                        [("exception.type", t), ("exception.message", m)]
                            .into_iter()
                            .filter(|(_, v)| !v.is_empty())
                            .map(|(k, v)| (k.to_string(), Val::Str(v.clone())))
                            .collect(),
                    ),
                    _ => unreachable!(),
                };
                w.pool += name.len() + text(&attrs);
                note_owned_keys(&mut w, &attrs);
                if w.events.len() as u32 >= limits.event_count || w.events.len() == event_cap {
                    w.dropped_events += 1;
                } else {
                    let (kept, dropped) =
                        owned(&attrs, limits.attributes_per_event, &mut used, attr_cap);
                    w.events.push((name, kept, dropped));
                }
            }
            Op::Link(trace_id, span_id, .., trace_state, attrs) => {
                let ts = TraceState::parse(trace_state).unwrap_or_default();
                // A link to an invalid context that says nothing else is not recorded
                // (the API spec), nor counted.
                let invalid = *trace_id == [0; 16] || *span_id == [0; 8];
                if invalid && attrs.is_empty() && ts.is_empty() {
                    continue;
                }
                w.pool += ts.as_str().len() + text(attrs);
                note_owned_keys(&mut w, attrs);
                if w.links.len() as u32 >= limits.link_count || w.links.len() == link_cap {
                    w.dropped_links += 1;
                } else {
                    let (kept, dropped) =
                        owned(attrs, limits.attributes_per_link, &mut used, attr_cap);
                    if invalid && ts.is_empty() && kept.is_empty() {
                        // Its attributes all dropped (empty keys, a limit of zero), an
                        // invalid link says nothing either: dropped, counted as a link
                        // (the core's rule since 8f47101; the model had not followed).
                        w.dropped_links += 1;
                    } else {
                        w.links.push((ts.as_str().into(), kept, dropped));
                    }
                }
            }
            Op::Ok => {
                w.status = Some(pt::Status {
                    message: String::new(),
                    code: 1,
                })
            }
            Op::Error(d) => {
                w.pool += d.len();
                match &w.status {
                    // Ok is final.
                    Some(s) if s.code == 1 => {}
                    // An Error without a description keeps an earlier one's.
                    Some(s) if s.code == 2 && d.is_empty() => {}
                    _ => {
                        w.status = Some(pt::Status {
                            message: d.clone(),
                            code: 2,
                        })
                    }
                }
            }
            Op::Rename(n) => {
                w.pool += n.len();
                w.name = n.clone();
            }
        }
    }
    w
}

fn expected_kvs(attrs: &[(String, Val)], limit: usize) -> Vec<PKeyValue> {
    attrs
        .iter()
        .map(|(k, v)| PKeyValue {
            key: k.clone(),
            value: Some(v.expected(limit)),
        })
        .collect()
}

/// Keys on the wire: never empty, never twice in one list, and given by a call.
fn check_keys(attrs: &[PKeyValue], given: &[String]) {
    for (i, kv) in attrs.iter().enumerate() {
        assert!(!kv.key.is_empty(), "an empty attribute key");
        assert!(
            !attrs[..i].iter().any(|e| e.key == kv.key),
            "key {:?} twice",
            kv.key
        );
        assert!(
            given.contains(&kv.key),
            "key {:?} was never given (cut?)",
            kv.key
        );
    }
}

fn run<const A: usize, const E: usize, const L: usize, const T: usize>(input: &Input) {
    let [attrs, events, links, per_event, per_link] = input.limits.map(u32::from);
    let limits = SpanLimits {
        attribute_count: attrs,
        event_count: events,
        link_count: links,
        attributes_per_event: per_event,
        attributes_per_link: per_link,
        value_length: input.value_length.map_or(u32::MAX, u32::from),
    };
    let clock = ManualClock::new(Timestamp::from_unix_nanos(1_700_000_000_000_000_000));
    let tracer = Tracer::new(
        TracerConfig::new("fuzz").with_limits(limits),
        SpanArena::<SPANS, A, E, L, T>::new(),
        &clock,
        IdGenerator::from_seed([2; 32]),
        Capture {
            request_size: usize::from(input.request_size),
            spans: Vec::new(),
        },
    );
    let kinds = [
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];
    let mut open = Vec::new();
    let mut ids = Vec::new();
    for so in input.spans.iter().take(SPANS) {
        let kind = kinds[usize::from(so.kind) % kinds.len()];
        let mut span = match open.last() {
            Some(parent) if so.child => picotrace::Span::child_with_kind(parent, &so.name, kind),
            _ => tracer.span_builder(&so.name).kind(kind).start(),
        };
        ids.push(span.context().span_id);
        for op in &so.ops {
            clock.advance(core::time::Duration::from_micros(1));
            match op {
                Op::Attr(k, v) => {
                    let h = v.hold();
                    match k {
                        Key::Static(_) => {
                            let key: &'static str = STATIC_KEYS
                                .iter()
                                .find(|s| **s == k.as_str())
                                .expect("static");
                            span.set_attribute(key, v.value(&h));
                        }
                        Key::Dyn(_) => span.set_attribute_dyn(k.as_str(), v.value(&h)),
                    }
                }
                Op::Event(name, attrs) => {
                    let h = held(attrs);
                    let kvs = key_values(attrs, &h);
                    span.add_event_with_attributes(name, &kvs);
                }
                Op::Exception(t, m) => span.record_exception_with_type(t, m),
                Op::Link(trace_id, span_id, flags, remote, trace_state, attrs) => {
                    let h = held(attrs);
                    let kvs = key_values(attrs, &h);
                    let linked = TraceContext {
                        span_context: SpanContext {
                            trace_id: TraceId::from_bytes(*trace_id),
                            span_id: SpanId::from_bytes(*span_id),
                            flags: TraceFlags::from_bits(*flags),
                            is_remote: *remote,
                        },
                        trace_state: TraceState::parse(trace_state).unwrap_or_default(),
                    };
                    span.add_link(&linked, &kvs);
                }
                Op::Ok => span.set_ok(),
                Op::Error(d) => span.set_error(d),
                Op::Rename(n) => span.update_name(n),
            }
        }
        open.push(span);
    }
    while let Some(span) = open.pop() {
        clock.advance(core::time::Duration::from_micros(1));
        span.end();
    }
    tracer.flush();
    let spans = tracer
        .with_exporter(|c| std::mem::take(&mut c.spans))
        .expect("exporter free");
    assert_eq!(spans.len(), ids.len(), "every span exported");

    let value_length = limits.value_length as usize;
    for (so, id) in input.spans.iter().zip(&ids) {
        let got = spans
            .iter()
            .find(|s| s.span_id == id.as_bytes())
            .expect("exported");
        let w = want(so, &limits, (A, E, L));
        let roomy = w.pool <= T;
        check_keys(&got.attributes, &w.span_keys);
        for list in got
            .events
            .iter()
            .map(|e| &e.attributes)
            .chain(got.links.iter().map(|l| &l.attributes))
        {
            check_keys(list, &w.owned_keys);
        }
        if !roomy {
            continue;
        }
        // Names and status descriptions are not attribute values: never cut by the
        // value length limit (only by the span's text room, checked by `roomy`).
        assert_eq!(got.name, w.name);
        assert_eq!(got.attributes, expected_kvs(&w.attrs, value_length));
        assert_eq!(got.dropped_attributes_count, w.dropped_attrs);
        assert_eq!(got.status, w.status);
        assert_eq!(got.events.len(), w.events.len());
        assert_eq!(got.dropped_events_count, w.dropped_events);
        assert_eq!(got.links.len(), w.links.len());
        assert_eq!(got.dropped_links_count, w.dropped_links);
        for (e, (name, attrs, dropped)) in got.events.iter().zip(&w.events) {
            assert_eq!(&e.name, name);
            assert_eq!(
                e.attributes,
                expected_kvs(attrs, value_length),
                "event {name:?}"
            );
            assert_eq!(e.dropped_attributes_count, *dropped, "event {name:?}");
        }
        for (l, (trace_state, attrs, dropped)) in got.links.iter().zip(&w.links) {
            assert_eq!(&l.trace_state, trace_state);
            assert_eq!(l.attributes, expected_kvs(attrs, value_length));
            assert_eq!(l.dropped_attributes_count, *dropped);
        }
    }
}

fuzz_target!(|input: Input| {
    if input.tight {
        // Text pools that fill up, few attribute slots.
        run::<6, 3, 2, 160>(&input);
    } else {
        run::<12, 4, 3, 8192>(&input);
    }
});
