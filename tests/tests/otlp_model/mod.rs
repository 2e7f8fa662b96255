//! The reference model of what a recorded span must decode to, built from the
//! `SpanData` accessors with opentelemetry-proto's own types and enums, and the
//! reference decoders. Shared by `otlp_decode.rs` and the OTLP fuzz target
//! (`fuzz/fuzz_targets/otlp.rs` includes this file by path).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue as PKeyValue,
};
use opentelemetry_proto::tonic::trace::v1 as pt;
use picotrace::{AttributeValue, SpanData, SpanKind, Status, TraceFlags};
use prost::Message;

/// Returns the OTLP value of a recorded attribute value.
pub fn model_value(v: AttributeValue<'_>) -> AnyValue {
    let value = match v {
        AttributeValue::Str(s) => any_value::Value::StringValue(s.into()),
        AttributeValue::Bool(b) => any_value::Value::BoolValue(b),
        AttributeValue::I64(i) => any_value::Value::IntValue(i),
        AttributeValue::F64(f) => any_value::Value::DoubleValue(f),
        AttributeValue::Array(items) => any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(model_value).collect(),
        }),
    };
    AnyValue { value: Some(value) }
}

/// Returns recorded attributes as OTLP key-values.
pub fn key_values<'a>(
    attrs: impl Iterator<Item = (&'a str, AttributeValue<'a>)>,
) -> Vec<PKeyValue> {
    attrs
        .map(|(k, v)| PKeyValue {
            key: k.into(),
            value: Some(model_value(v)),
        })
        .collect()
}

/// Returns OTLP `flags`: the trace flags W3C's version 00 defines (sampled, random: not
/// B3's debug marker, `TraceFlags::DEBUG`, nor any other bit, as `traceparent` carries
/// them), bit 8 always, bit 9 when remote.
pub fn flags(trace_flags: TraceFlags, remote: bool) -> u32 {
    let w3c = trace_flags.bits() & TraceFlags::KNOWN_V00;
    let mut f = u32::from(w3c) | pt::SpanFlags::ContextHasIsRemoteMask as u32;
    if remote {
        f |= pt::SpanFlags::ContextIsRemoteMask as u32;
    }
    f
}

/// Returns the span as it must decode.
pub fn expected_span(s: &SpanData<'_>) -> pt::Span {
    let cx = s.span_context();
    let kind = match s.kind() {
        SpanKind::Internal => pt::span::SpanKind::Internal,
        SpanKind::Server => pt::span::SpanKind::Server,
        SpanKind::Client => pt::span::SpanKind::Client,
        SpanKind::Producer => pt::span::SpanKind::Producer,
        SpanKind::Consumer => pt::span::SpanKind::Consumer,
    };
    let status = match s.status() {
        Status::Unset => None,
        Status::Ok => Some(pt::Status {
            message: String::new(),
            code: pt::status::StatusCode::Ok as i32,
        }),
        Status::Error { description } => Some(pt::Status {
            message: description.into(),
            code: pt::status::StatusCode::Error as i32,
        }),
    };
    pt::Span {
        trace_id: cx.trace_id.as_bytes().to_vec(),
        span_id: cx.span_id.as_bytes().to_vec(),
        trace_state: s.trace_state().into(),
        parent_span_id: s
            .parent_span_id()
            .map(|p| p.as_bytes().to_vec())
            .unwrap_or_default(),
        flags: flags(cx.flags, s.parent_is_remote()),
        name: s.name().into(),
        kind: kind as i32,
        start_time_unix_nano: s.start_time().as_unix_nanos(),
        end_time_unix_nano: s.end_time().as_unix_nanos(),
        attributes: key_values(s.attributes()),
        dropped_attributes_count: s.dropped_attributes_count(),
        events: s
            .events()
            .map(|e| pt::span::Event {
                time_unix_nano: e.time().as_unix_nanos(),
                name: e.name().into(),
                attributes: key_values(e.attributes()),
                dropped_attributes_count: e.dropped_attributes_count(),
            })
            .collect(),
        dropped_events_count: s.dropped_events_count(),
        links: s
            .links()
            .map(|l| pt::span::Link {
                trace_id: l.span_context().trace_id.as_bytes().to_vec(),
                span_id: l.span_context().span_id.as_bytes().to_vec(),
                trace_state: l.trace_state().into(),
                attributes: key_values(l.attributes()),
                dropped_attributes_count: l.dropped_attributes_count(),
                flags: flags(l.span_context().flags, l.span_context().is_remote),
            })
            .collect(),
        dropped_links_count: s.dropped_links_count(),
        status,
    }
}

/// Decodes a protobuf request (prost).
pub fn decode_proto(bytes: &[u8]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(bytes).expect("valid protobuf")
}

/// Decodes an OTLP/JSON request (serde_json, opentelemetry-proto's serde mapping).
pub fn decode_json(bytes: &[u8]) -> ExportTraceServiceRequest {
    serde_json::from_slice(bytes).unwrap_or_else(|e| {
        panic!(
            "invalid OTLP/JSON ({e}): {}",
            String::from_utf8_lossy(bytes)
        )
    })
}
