//! The gateway's Prometheus metrics, named as OpenTelemetry's semantic conventions come out of
//! its Prometheus exporter (`http.server.request.duration` in seconds becomes
//! `http_server_request_duration_seconds`, attribute dots become underscores), so dashboards
//! built for other OpenTelemetry-instrumented servers fit.
//!
//! Every label has a bounded set of values: HTTP methods outside the standard ones count as
//! `_OTHER`, unmatched paths as `http_route="unmatched"`, never the raw path. Endpoint labels
//! follow the configured and discovered endpoints, and leave when an endpoint does.
//!
//! One `Metrics` per running gateway (tests run several in one process); the request path
//! holds its handles and only touches atomics, except for one label lookup per request.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use super::access_log::DroppedLines;

use crate::errors::Rejection;
use crate::upstream::{Registry as Upstreams, State};

/// OpenTelemetry's advisory buckets for `http.server.request.duration`, in seconds.
const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The labels of `http_server_request_duration_seconds`, in order.
const REQUEST_LABELS: [&str; 6] = [
    "http_request_method",
    "http_route",
    "http_response_status_code",
    "rpc_service",
    "rpc_method",
    "rpc_grpc_status_code",
];

pub struct Metrics {
    registry: Registry,
    pub request_duration: HistogramVec,
    pub active_requests: IntGauge,
    connections: IntGaugeVec,
    tls_handshake_failures: IntCounter,
    rejected: IntCounterVec,
    stream_messages: IntCounterVec,
    config_reloads: IntCounterVec,
    endpoint_state: IntGaugeVec,
    upstream_in_flight: IntGaugeVec,
    call_durations: HistogramVec,
    access_log_dropped: IntCounter,
    pub trace_spans_dropped: IntCounter,
    /// The access log's count of dropped lines, copied into `access_log_dropped` per scrape.
    dropped_lines: OnceLock<DroppedLines>,
    /// Scrapes rebuild the endpoint gauges: one at a time.
    scrape: Mutex<()>,
}

/// What can go wrong building the metrics (a name clash is a bug, caught by the tests).
pub type MetricsError = prometheus::Error;

impl Metrics {
    pub fn new() -> Result<Arc<Self>, MetricsError> {
        let registry = Registry::new();
        let r = &registry;
        let request_duration = histogram_vec(
            r,
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests, until the response (or stream) ended.",
            &REQUEST_LABELS,
        )?;
        let active_requests = registered(
            r,
            IntGauge::new(
                "http_server_active_requests",
                "Number of active HTTP server requests.",
            )?,
        )?;
        let connections = gauge_vec(
            r,
            "h2gate_connections_active",
            "Open client connections, by HTTP version.",
            &["network_protocol_version"],
        )?;
        let tls_handshake_failures = counter(
            r,
            "h2gate_tls_handshake_failures_total",
            "TLS handshakes with clients that failed or timed out.",
        )?;
        let rejected = counter_vec(
            r,
            "h2gate_rejected_total",
            "Requests the gateway itself turned away, by reason.",
            &["reason"],
        )?;
        let stream_messages = counter_vec(
            r,
            "h2gate_stream_messages_total",
            "Messages of streaming calls: in (client to backend), out (backend to client).",
            &["direction"],
        )?;
        let config_reloads = counter_vec(
            r,
            "h2gate_config_reloads_total",
            "Configuration reloads, by result (success, failure).",
            &["result"],
        )?;
        let endpoint_state = gauge_vec(
            r,
            "h2gate_upstream_endpoint_state",
            "1 for the endpoint's current state, 0 for the others.",
            &["upstream", "endpoint", "state"],
        )?;
        let upstream_in_flight = gauge_vec(
            r,
            "h2gate_upstream_in_flight",
            "Calls in flight to the endpoint, across all workers.",
            &["upstream", "endpoint"],
        )?;
        let call_durations = histogram_vec(
            r,
            "h2gate_upstream_call_duration_seconds",
            "Duration of each attempt of an upstream call, until its end.",
            &["upstream", "endpoint", "rpc_grpc_status_code"],
        )?;
        let access_log_dropped = counter(
            r,
            "h2gate_access_log_dropped_total",
            "Access-log lines dropped because stdout could not keep up.",
        )?;
        let trace_spans_dropped = counter(
            r,
            "h2gate_trace_spans_dropped_total",
            "Spans dropped because the OTLP export queue was full.",
        )?;
        let build_info = gauge_vec(
            r,
            "h2gate_build_info",
            "The running build; always 1.",
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for reason in Rejection::ALL {
            // Present from the start, so a rate over them works before the first rejection.
            rejected.with_label_values(&[reason.label()]);
        }
        for direction in ["in", "out"] {
            stream_messages.with_label_values(&[direction]);
        }
        for result in ["success", "failure"] {
            config_reloads.with_label_values(&[result]);
        }
        for version in ["1.1", "2"] {
            connections.with_label_values(&[version]);
        }
        Ok(Arc::new(Self {
            registry,
            request_duration,
            active_requests,
            connections,
            tls_handshake_failures,
            rejected,
            stream_messages,
            config_reloads: config_reloads.clone(),
            endpoint_state,
            upstream_in_flight,
            call_durations,
            access_log_dropped,
            trace_spans_dropped,
            dropped_lines: OnceLock::new(),
            scrape: Mutex::new(()),
        }))
    }

    /// The family the upstream endpoints record their calls' durations in.
    pub fn call_durations(&self) -> &HistogramVec {
        &self.call_durations
    }

    /// Reports the access log's dropped lines from now on.
    pub fn watch_access_log(&self, dropped: DroppedLines) {
        let _ = self.dropped_lines.set(dropped);
    }

    /// What the listener counts of its connections.
    pub fn connection_metrics(&self) -> ConnectionMetrics {
        ConnectionMetrics {
            http1: self.connections.with_label_values(&["1.1"]),
            http2: self.connections.with_label_values(&["2"]),
            tls_handshake_failures: self.tls_handshake_failures.clone(),
        }
    }

    /// A configuration reload's `result` (`success` or `failure`).
    pub fn reloaded(&self, result: &str) {
        self.config_reloads.with_label_values(&[result]).inc();
    }

    /// A streaming call's messages, counted when it ended.
    pub fn streamed(&self, messages_in: u64, messages_out: u64) {
        self.stream_messages
            .with_label_values(&["in"])
            .inc_by(messages_in);
        self.stream_messages
            .with_label_values(&["out"])
            .inc_by(messages_out);
    }

    pub fn rejected(&self, reason: Rejection) {
        self.rejected.with_label_values(&[reason.label()]).inc();
    }

    /// The text exposition of every metric, the upstreams' current endpoint states and calls
    /// in flight read from `upstreams` now.
    pub fn render(&self, upstreams: &Upstreams) -> String {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        self.endpoint_state.reset();
        self.upstream_in_flight.reset();
        for upstream in upstreams.iter() {
            for endpoint in &upstream.endpoints().endpoints {
                let current = endpoint.state();
                for state in State::ALL {
                    let labels = [&*upstream.name, &endpoint.uri, state.label()];
                    let value = i64::from(state == current);
                    self.endpoint_state.with_label_values(&labels).set(value);
                }
                let in_flight = i64::try_from(endpoint.calls_in_flight()).unwrap_or(i64::MAX);
                self.upstream_in_flight
                    .with_label_values(&[&*upstream.name, &endpoint.uri])
                    .set(in_flight);
            }
        }
        if let Some(dropped) = self.dropped_lines.get() {
            let now = dropped.get();
            let seen = self.access_log_dropped.get();
            self.access_log_dropped.inc_by(now.saturating_sub(seen));
        }
        let mut text = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            tracing::warn!(error = %err, "cannot encode the metrics");
        }
        String::from_utf8(text).unwrap_or_default()
    }
}

/// `metric`, registered in `registry`.
fn registered<M: Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> Result<M, MetricsError> {
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

fn counter(registry: &Registry, name: &str, help: &str) -> Result<IntCounter, MetricsError> {
    registered(registry, IntCounter::new(name, help)?)
}

fn counter_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, MetricsError> {
    registered(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
}

fn gauge_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec, MetricsError> {
    registered(registry, IntGaugeVec::new(Opts::new(name, help), labels)?)
}

/// With OpenTelemetry's duration buckets.
fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<HistogramVec, MetricsError> {
    let opts = HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec());
    registered(registry, HistogramVec::new(opts, labels)?)
}

/// The listener's metrics, resolved once.
#[derive(Clone)]
pub struct ConnectionMetrics {
    http1: IntGauge,
    http2: IntGauge,
    pub tls_handshake_failures: IntCounter,
}

impl ConnectionMetrics {
    /// Counts an open connection speaking HTTP/2 (or HTTP/1.1) until the guard is dropped.
    pub fn open(&self, http2: bool) -> OpenConnection {
        let gauge = if http2 { &self.http2 } else { &self.http1 };
        gauge.inc();
        OpenConnection(gauge.clone())
    }
}

/// One open connection in `h2gate_connections_active`.
pub struct OpenConnection(IntGauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The content type of `render`'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
