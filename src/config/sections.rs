//! The typed sections of the config file, with their defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::routing::{HttpRuleSpec, MultiSegmentDecoding};
use crate::transcoding::JsonOptions;

use super::traffic::{DiscoveryConfig, Source, TrafficConfig};
use super::upstream::UpstreamConfig;

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub descriptors: DescriptorsConfig,
    #[serde(default)]
    pub json: JsonOptions,
    #[serde(default)]
    pub routing: RoutingConfig,
    #[serde(default)]
    pub metadata: MetadataConfig,
    #[serde(default)]
    pub upstreams: Vec<UpstreamConfig>,
    #[serde(default)]
    pub http_rules: Vec<HttpRuleSpec>,
    #[serde(default)]
    pub errors: ErrorsConfig,
    #[serde(default)]
    pub demo: DemoConfig,
    #[serde(default)]
    pub traffic: Vec<TrafficConfig>,
    #[serde(default)]
    pub discovery: DiscoveryConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub access_log: AccessLogConfig,
    #[serde(default)]
    pub tracing: TracingConfig,
    /// Where the text came from (for `origin:line` in messages); set by `parse`.
    #[serde(skip)]
    pub source: Source,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// No TLS: HTTP/1.1 and h2c with prior knowledge, for use behind a TLS-terminating balancer.
    pub plaintext: bool,
    pub max_body_bytes: usize,
    /// Seconds in-flight requests get to finish after SIGTERM/ctrl-c before connections close.
    pub shutdown_grace_secs: u64,
    /// Serving threads, each with its own event loop and upstream connections; 0 = one per
    /// CPU core.
    pub workers: usize,
    /// Share the listening address with other processes that set `SO_REUSEPORT` too (a new
    /// binary taking over without downtime); by default the address is the gateway's alone.
    pub reuse_port: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            tls_cert: None,
            tls_key: None,
            plaintext: false,
            max_body_bytes: 4 * 1024 * 1024,
            shutdown_grace_secs: 10,
            workers: 0,
            reuse_port: false,
        }
    }
}

/// The operators' listener: metrics, the effective configuration, routes, upstreams.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Plaintext, separate from the public listener; absent: no admin listener.
    pub listen: Option<SocketAddr>,
}

/// OpenTelemetry traces, exported over OTLP/gRPC.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// The collector, `http://host:port` (or `https://`); absent: no export.
    pub otlp_endpoint: Option<String>,
    /// Head sampling for requests without a sampled parent, 0.0 to 1.0.
    pub sample_ratio: f64,
    pub service_name: String,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            sample_ratio: 1.0,
            service_name: "h2gate".into(),
        }
    }
}

/// One line per request on stdout.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessLogConfig {
    pub format: AccessLogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLogFormat {
    /// One JSON object per line.
    Json,
    /// `key=value` pairs (logfmt), for people reading a terminal.
    #[default]
    Text,
    Off,
}

/// Limits that protect the gateway, and every other client, from any single client.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Total size of request headers (HTTP/1.1 buffer and HTTP/2 header list).
    pub max_header_bytes: u32,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// Open client connections, gateway-wide; `None`: the open-file limit less headroom.
    pub max_connections: Option<usize>,
    /// TLS handshake, then the first request's headers (and every HTTP/1.1 request head).
    pub request_headers_timeout_ms: u64,
    /// A connection with no request running for this long is closed.
    pub idle_timeout_ms: u64,
    /// A request body read whole (or one streamed message) must arrive within this.
    pub request_timeout_ms: u64,
    /// Request body bytes a client may have in flight over one connection (the HTTP/2
    /// connection window).
    pub per_connection_buffer_limit_bytes: u32,
    /// Request and response bytes the gateway holds for its clients, all connections
    /// together; above it new requests are shed with 503.
    pub memory_budget_bytes: usize,
    /// The largest reply message accepted from a backend.
    pub max_response_bytes: usize,
    /// Requests in progress gateway-wide; beyond it new ones get 503 at once.
    pub max_in_flight: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_header_bytes: 16 * 1024,
            max_concurrent_streams: 100,
            max_connections: None,
            request_headers_timeout_ms: 10_000,
            idle_timeout_ms: 3_600_000,
            request_timeout_ms: 300_000,
            per_connection_buffer_limit_bytes: 1024 * 1024,
            memory_budget_bytes: 256 * 1024 * 1024,
            max_response_bytes: 16 * 1024 * 1024,
            max_in_flight: 10_000,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DescriptorsConfig {
    /// Import roots for `protos`.
    pub include: Vec<PathBuf>,
    /// `.proto` files compiled at start-up, relative to an include root.
    pub protos: Vec<PathBuf>,
    /// FileDescriptorSet files (`protoc --include_imports -o api.pb`).
    pub descriptor_sets: Vec<PathBuf>,
    /// grpc-gateway style YAML files (`http: rules: [...]`).
    pub http_rule_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// How variables spanning several segments are percent-decoded.
    pub multi_segment_decoding: MultiSegmentDecoding,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    /// Request headers forwarded as gRPC metadata as they are, on top of the built-in
    /// allowlist (authorization, x-request-id, traceparent, tracestate).
    pub forward_headers: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorsConfig {
    /// Business code per gRPC code name (`NOT_FOUND = 10002`).
    pub codes: BTreeMap<String, i32>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Start the demo services in-process and route their services to them.
    pub embedded: bool,
    /// Serve the demo's page (`/demo/`) also when the demo runs elsewhere (as under
    /// docker-compose); with `embedded = true` it is always served.
    pub page: bool,
}

impl Config {
    /// Cross-field checks serde cannot express. Returns the first problem found.
    pub(super) fn validate(&self) -> Result<(), String> {
        let server = &self.server;
        match (&server.tls_cert, &server.tls_key) {
            (Some(_), None) => return Err("[server] tls_cert is set but tls_key is not".into()),
            (None, Some(_)) => return Err("[server] tls_key is set but tls_cert is not".into()),
            _ => {}
        }
        if server.plaintext && server.tls_cert.is_some() {
            return Err("[server] plaintext = true conflicts with tls_cert/tls_key".into());
        }
        if server.max_body_bytes == 0 {
            return Err("[server] max_body_bytes must be greater than 0".into());
        }
        let limits = &self.limits;
        if limits.max_concurrent_streams == 0 || limits.max_header_bytes < 1024 {
            return Err(
                "[limits] max_concurrent_streams must be > 0 and max_header_bytes >= 1024".into(),
            );
        }
        if limits.max_connections == Some(0) || limits.max_in_flight == 0 {
            return Err("[limits] max_connections and max_in_flight must be > 0".into());
        }
        if limits.request_headers_timeout_ms == 0
            || limits.idle_timeout_ms == 0
            || limits.request_timeout_ms == 0
        {
            return Err("[limits] timeouts must be > 0".into());
        }
        if limits.per_connection_buffer_limit_bytes < 65_535 {
            return Err("[limits] per_connection_buffer_limit_bytes must be >= 65535 (the smallest HTTP/2 window)".into());
        }
        if let Some(admin) = self.admin.listen
            && admin == server.listen
            && admin.port() != 0
        {
            return Err(format!(
                "[admin] listen is [server] listen ({admin}): the admin listener needs an address of its own"
            ));
        }
        let tracing = &self.tracing;
        if !(0.0..=1.0).contains(&tracing.sample_ratio) {
            return Err(format!(
                "[tracing] sample_ratio must be between 0.0 and 1.0, not {}",
                tracing.sample_ratio
            ));
        }
        if let Some(endpoint) = &tracing.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(format!(
                "[tracing] otlp_endpoint must be an http:// or https:// URL, not {endpoint:?}"
            ));
        }
        if tracing.service_name.is_empty() {
            return Err("[tracing] service_name must not be empty".into());
        }
        let mut names = std::collections::HashSet::new();
        for upstream in &self.upstreams {
            let name = &upstream.name;
            if !names.insert(name) {
                return Err(format!("upstream {name:?} is defined twice"));
            }
            upstream.validate()?;
        }
        Ok(())
    }
}
