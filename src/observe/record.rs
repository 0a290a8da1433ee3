//! Recording a finished exchange: its duration under its labels, its rejection and streamed
//! messages in their counters, and its access-log line.

use std::sync::Arc;

use tonic::Code;

use super::access_log::AccessLog;
use super::exchange::Exchange;
use super::metrics::Metrics;
use crate::errors::code_number;

/// What the observe layer records every exchange into; one per gateway, shared.
#[derive(Clone)]
pub struct Recorder(Arc<Sinks>);

struct Sinks {
    metrics: Arc<Metrics>,
    access_log: Option<AccessLog>,
}

/// What `http_route` says for a request no route matched.
const UNMATCHED: &str = "unmatched";

impl Recorder {
    pub fn new(metrics: Arc<Metrics>, access_log: Option<AccessLog>) -> Self {
        Self(Arc::new(Sinks {
            metrics,
            access_log,
        }))
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
        let (http_route, rpc_service, rpc_method) = match exchange.route() {
            Some(route) => (
                &*route.names.http_route,
                &*route.names.rpc_service,
                &*route.names.rpc_method,
            ),
            None => (exchange.arrived.builtin.unwrap_or(UNMATCHED), "", ""),
        };
        let status = exchange.status();
        let labels = [
            method_label(&exchange.arrived.method),
            http_route,
            status.as_ref().map_or("", http::StatusCode::as_str),
            rpc_service,
            rpc_method,
            exchange
                .grpc_code()
                .map_or("", |code| code_number(Code::from(i32::from(code)))),
        ];
        metrics
            .request_duration
            .with_label_values(&labels)
            .observe(exchange.arrived.started.elapsed().as_secs_f64());
        if let Some(log) = &self.0.access_log {
            log.write(exchange);
        }
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
