//! A finished span as the gateway records it: compact, with static attribute keys, so the
//! request path only moves a few values; it becomes OTLP's `Span` on the exporter's task.

use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, Status, span, status};

use super::context::{SpanId, TraceId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request the gateway served.
    Server,
    /// One attempt of its upstream call.
    Client,
}

#[derive(Debug, Clone)]
pub enum Value {
    Text(String),
    Int(i64),
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Text(text.to_owned())
    }
}

impl From<i64> for Value {
    fn from(number: i64) -> Self {
        Value::Int(number)
    }
}

#[derive(Debug, Clone)]
pub struct SpanRecord {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent: Option<SpanId>,
    pub trace_state: Option<HeaderValue>,
    pub name: String,
    pub kind: Kind,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<(&'static str, Value)>,
    /// Set when the span failed (OTLP status ERROR), with its description.
    pub error: Option<String>,
}

impl SpanRecord {
    pub fn into_otlp(self) -> Span {
        let kind = match self.kind {
            Kind::Server => span::SpanKind::Server,
            Kind::Client => span::SpanKind::Client,
        };
        let status = match self.error {
            Some(message) => Status {
                message,
                code: status::StatusCode::Error as i32,
            },
            None => Status::default(),
        };
        Span {
            trace_id: self.trace_id.to_vec(),
            span_id: self.span_id.to_vec(),
            parent_span_id: self.parent.map(|p| p.to_vec()).unwrap_or_default(),
            trace_state: self
                .trace_state
                .and_then(|state| state.to_str().ok().map(str::to_owned))
                .unwrap_or_default(),
            // Sampled (only sampled spans are recorded), with the W3C trace flags known.
            flags: 0x101,
            name: self.name,
            kind: kind as i32,
            start_time_unix_nano: unix_nanos(self.start),
            end_time_unix_nano: unix_nanos(self.end),
            attributes: self
                .attributes
                .into_iter()
                .map(|(key, value)| attribute(key, value))
                .collect(),
            status: Some(status),
            ..Span::default()
        }
    }
}

pub fn attribute(key: &str, value: Value) -> KeyValue {
    let value = match value {
        Value::Text(text) => any_value::Value::StringValue(text),
        Value::Int(number) => any_value::Value::IntValue(number),
    };
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}
