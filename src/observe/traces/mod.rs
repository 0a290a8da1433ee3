//! OpenTelemetry traces: each request continues the trace of its W3C `traceparent` (or starts
//! one), the gateway records a server span for it and a client span for each attempt of its
//! upstream call, and the attempt carries its own span's `traceparent` to the backend, so the
//! backend's spans join the same trace. Spans leave through the exporter's bounded queue.

mod context;
mod exporter;
mod sampler;
mod span;

use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, HeaderValue};
use tonic::Code;

pub use context::hex;
use context::{Parent, SpanId, TraceId, new_span_id, new_trace_id};
pub use exporter::Tracer;
pub use span::{Kind, SpanRecord, Value};

use crate::errors::code_name;
use crate::upstream::{AttemptSpan, AttemptTracer};

/// A request's place in its trace.
pub struct RequestTrace {
    tracer: Tracer,
    pub trace_id: TraceId,
    /// The request's own (server) span.
    pub span_id: SpanId,
    /// The caller's span, from its `traceparent`.
    pub parent: Option<SpanId>,
    pub sampled: bool,
    trace_state: Option<HeaderValue>,
}

impl RequestTrace {
    /// Continues the trace of the request's `traceparent`, or starts one.
    pub fn begin(tracer: &Tracer, headers: &HeaderMap) -> Self {
        let parent = headers.get("traceparent").and_then(Parent::parse);
        let trace_id = parent.map_or_else(new_trace_id, |p| p.trace_id);
        let sampled = tracer.sampler().sampled(parent.as_ref(), &trace_id);
        Self {
            tracer: tracer.clone(),
            trace_id,
            span_id: new_span_id(),
            parent: parent.map(|p| p.span_id),
            sampled,
            trace_state: parent.and_then(|_| headers.get("tracestate").cloned()),
        }
    }

    /// Records the request's server span, if sampled.
    pub fn finish(&self, span: impl FnOnce() -> ServerSpan) {
        if !self.sampled {
            return;
        }
        let ServerSpan {
            name,
            start,
            attributes,
            error,
        } = span();
        self.tracer.record(SpanRecord {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent: self.parent,
            trace_state: self.trace_state.clone(),
            name,
            kind: Kind::Server,
            start,
            end: SystemTime::now(),
            attributes,
            error,
        });
    }

    /// What starts the spans of the call's attempts, as children of the request's span.
    pub fn attempts(&self, call: CallNames) -> Arc<dyn AttemptTracer> {
        Arc::new(CallTrace {
            tracer: self.tracer.clone(),
            trace_id: self.trace_id,
            parent: self.span_id,
            sampled: self.sampled,
            trace_state: self.trace_state.clone(),
            call,
        })
    }
}

/// A server span's content, built only for sampled requests.
pub struct ServerSpan {
    pub name: String,
    pub start: SystemTime,
    pub attributes: Vec<(&'static str, Value)>,
    pub error: Option<String>,
}

/// How a call's client spans name it.
pub struct CallNames {
    pub rpc_service: String,
    pub rpc_method: String,
    pub upstream: String,
}

struct CallTrace {
    tracer: Tracer,
    trace_id: TraceId,
    parent: SpanId,
    sampled: bool,
    trace_state: Option<HeaderValue>,
    call: CallNames,
}

impl AttemptTracer for CallTrace {
    fn start(
        &self,
        number: u32,
        endpoint: &Arc<str>,
        request_bytes: usize,
    ) -> (HeaderValue, Box<dyn AttemptSpan>) {
        let span_id = new_span_id();
        let traceparent = Parent {
            trace_id: self.trace_id,
            span_id,
            sampled: self.sampled,
        }
        .header();
        let span = ClientSpan {
            trace: self
                .sampled
                .then(|| (self.tracer.clone(), self.trace_state.clone())),
            trace_id: self.trace_id,
            span_id,
            parent: self.parent,
            name: format!("{}/{}", self.call.rpc_service, self.call.rpc_method),
            start: SystemTime::now(),
            attributes: vec![
                ("rpc.system", "grpc".into()),
                ("rpc.service", self.call.rpc_service.as_str().into()),
                ("rpc.method", self.call.rpc_method.as_str().into()),
                ("server.address", (&**endpoint).into()),
                ("h2gate.upstream", self.call.upstream.as_str().into()),
                ("h2gate.attempt", i64::from(number).into()),
                (
                    "h2gate.request.bytes",
                    i64::try_from(request_bytes).unwrap_or(i64::MAX).into(),
                ),
            ],
        };
        (traceparent, Box::new(span))
    }
}

/// One attempt's span, recorded when it ends (if the trace is sampled).
struct ClientSpan {
    /// The tracer and trace state when sampled; None records nothing.
    trace: Option<(Tracer, Option<HeaderValue>)>,
    trace_id: TraceId,
    span_id: SpanId,
    parent: SpanId,
    name: String,
    start: SystemTime,
    attributes: Vec<(&'static str, Value)>,
}

impl AttemptSpan for ClientSpan {
    fn end(self: Box<Self>, code: Code) {
        let ClientSpan {
            trace,
            trace_id,
            span_id,
            parent,
            name,
            start,
            mut attributes,
        } = *self;
        let Some((tracer, trace_state)) = trace else {
            return;
        };
        attributes.push(("rpc.grpc.status_code", i64::from(code as i32).into()));
        tracer.record(SpanRecord {
            trace_id,
            span_id,
            parent: Some(parent),
            trace_state,
            name,
            kind: Kind::Client,
            start,
            end: SystemTime::now(),
            attributes,
            error: (code != Code::Ok).then(|| code_name(code).to_owned()),
        });
    }
}
