//! Recording a finished exchange: its duration under its labels, its rejection and streamed
//! messages in their counters, and its access-log line.

use std::sync::Arc;

use tonic::Code;

use super::access_log::AccessLog;
use super::duration_cache::{self, Labels};
use super::exchange::{Exchange, Learned};
use super::metrics::Metrics;
use super::traces::{ServerSpan, Tracer, Value};
use crate::errors::code_number;

/// What the observe layer records every exchange into; one per gateway, shared.
#[derive(Clone)]
pub struct Recorder(Arc<Sinks>);

struct Sinks {
    metrics: Arc<Metrics>,
    access_log: Option<AccessLog>,
    tracer: Option<Tracer>,
}

/// What `http_route` says for a request no route matched.
const UNMATCHED: &str = "unmatched";

impl Recorder {
    pub fn new(
        metrics: Arc<Metrics>,
        access_log: Option<AccessLog>,
        tracer: Option<Tracer>,
    ) -> Self {
        Self(Arc::new(Sinks {
            metrics,
            access_log,
            tracer,
        }))
    }

    /// Where spans go, when tracing is on.
    pub fn tracer(&self) -> Option<&Tracer> {
        self.0.tracer.as_ref()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.0.metrics
    }

    /// Whether lines are written (the request's path is then kept for them).
    pub fn logs(&self) -> bool {
        self.0.access_log.is_some()
    }

    pub fn record(&self, exchange: &Exchange) {
        let metrics = &self.0.metrics;
        metrics.active_requests.dec();
        if let Some(reason) = exchange.rejection() {
            metrics.rejected(reason);
        }
        let (messages_in, messages_out) = exchange.messages();
        if messages_in > 0 || messages_out > 0 {
            metrics.streamed(messages_in, messages_out);
        }
        let learned = exchange.learned();
        let route = learned.route.as_ref();
        let (http_route, rpc_service, rpc_method) = match route {
            Some(route) => (
                &*route.names.http_route,
                &*route.names.rpc_service,
                &*route.names.rpc_method,
            ),
            None => (exchange.arrived.builtin.unwrap_or(UNMATCHED), "", ""),
        };
        let status = exchange.status();
        let grpc = exchange.grpc_code();
        let method = method_label(&exchange.arrived.method);
        let labels = Labels {
            route,
            unrouted: exchange.arrived.builtin.unwrap_or(UNMATCHED),
            method,
            status: status.map_or(0, |s| s.as_u16()),
            grpc: grpc.unwrap_or(u8::MAX),
        };
        let values = [
            method,
            http_route,
            status.as_ref().map_or("", http::StatusCode::as_str),
            rpc_service,
            rpc_method,
            grpc.map_or("", |code| code_number(Code::from(i32::from(code)))),
        ];
        let took = exchange.arrived.started.elapsed();
        duration_cache::observe(
            &metrics.request_duration,
            &labels,
            values,
            took.as_secs_f64(),
        );
        if let Some(log) = &self.0.access_log {
            log.write(exchange, &learned, took);
        }
        if let Some(trace) = &exchange.trace {
            trace.finish(|| server_span(exchange, &learned, http_route));
        }
    }
}

/// The request's span: named `METHOD route` (the semantic conventions' HTTP server span), an
/// error when the gateway answered 5xx.
fn server_span(exchange: &Exchange, learned: &Learned, http_route: &str) -> ServerSpan {
    let arrived = &exchange.arrived;
    let method = arrived.method.as_str();
    let mut attributes: Vec<(&'static str, Value)> = vec![
        ("http.request.method", method.into()),
        ("http.route", http_route.into()),
    ];
    let status = exchange.status();
    if let Some(status) = status {
        attributes.push((
            "http.response.status_code",
            i64::from(status.as_u16()).into(),
        ));
    }
    if let Some(path) = &arrived.path {
        attributes.push(("url.path", (&**path).into()));
    }
    if let Some(route) = &learned.route {
        attributes.push(("rpc.system", "grpc".into()));
        attributes.push(("rpc.service", (&*route.names.rpc_service).into()));
        attributes.push(("rpc.method", (&*route.names.rpc_method).into()));
    }
    if let Some(code) = exchange.grpc_code() {
        attributes.push(("rpc.grpc.status_code", i64::from(code).into()));
    }
    if let Some(id) = learned.request_id() {
        attributes.push(("h2gate.request_id", id.into()));
    }
    ServerSpan {
        name: format!("{method} {http_route}"),
        start: arrived.time,
        attributes,
        error: status
            .filter(http::StatusCode::is_server_error)
            .map(|s| s.to_string()),
    }
}

/// The method as the semantic conventions label it: the standard ones by name, any other as
/// `_OTHER` (clients choose methods, and labels must stay a bounded set).
fn method_label(method: &http::Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
    ];
    let name = method.as_str();
    KNOWN
        .iter()
        .find(|known| **known == name)
        .copied()
        .unwrap_or("_OTHER")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_ones_are_other() {
        assert_eq!(method_label(&http::Method::GET), "GET");
        assert_eq!(method_label(&http::Method::TRACE), "TRACE");
        let custom = http::Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method_label(&custom), "_OTHER");
    }
}
