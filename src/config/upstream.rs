//! `[[upstreams]]`: where a service's backends are and how calls reach them (balancing,
//! health checks, outlier ejection, the circuit breaker).

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::errors::code_from_name;

#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub name: String,
    /// `http://host:port` (h2c), `https://host:port` (TLS), or `dns://name:port` (every A and
    /// AAAA record of the name, re-resolved every `dns_refresh_ms`, spoken to as h2c).
    pub endpoints: Vec<String>,
    /// Full service names, or `"*"` for every service no other upstream names; may be empty
    /// when only `[[traffic]]` rules send calls to the upstream.
    #[serde(default)]
    pub services: Vec<Spanned<String>>,
    /// Deadline of a unary call (a shorter client `Grpc-Timeout` wins).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// A connection attempt (TCP, TLS, HTTP/2 handshake) must succeed within this.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Streaming calls have no overall deadline; they end when the backend sends nothing for
    /// this long (and, for client streams, takes this long to answer after the upload ends).
    #[serde(default = "default_stream_idle_timeout_ms")]
    pub stream_idle_timeout_ms: u64,
    /// PEM CA bundle to verify `https://` endpoints; the system roots when absent.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    #[serde(default)]
    pub balance: Balance,
    /// Calls in flight on the upstream (all workers together) beyond which new ones get 503
    /// at once; unlimited when absent.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// How often `dns://` endpoints are resolved again.
    #[serde(default = "default_dns_refresh_ms")]
    pub dns_refresh_ms: u64,
    /// Active `grpc.health.v1` checks; none when absent.
    #[serde(default)]
    pub health_check: Option<HealthCheckConfig>,
    #[serde(default)]
    pub outlier: OutlierConfig,
    /// Retries beyond the always-safe ones; none when absent.
    #[serde(default)]
    pub retry: Option<RetryConfig>,
}

/// How a call picks among an upstream's endpoints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Power of two choices by peak-EWMA latency times calls in flight.
    #[default]
    Latency,
    RoundRobin,
    /// Power of two choices by calls in flight.
    LeastRequest,
}

#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub unhealthy_threshold: u32,
    pub healthy_threshold: u32,
    /// The `service` asked about in `grpc.health.v1.HealthCheckRequest` ("": the server).
    pub service: String,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            interval_ms: 5_000,
            timeout_ms: 1_000,
            unhealthy_threshold: 3,
            healthy_threshold: 2,
            service: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutlierConfig {
    pub enabled: bool,
    pub consecutive_failures: u32,
    pub base_ejection_ms: u64,
    pub max_ejection_percent: u32,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            consecutive_failures: 5,
            base_ejection_ms: 30_000,
            max_ejection_percent: 50,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Extra attempts after the first.
    pub attempts: u32,
    /// gRPC code names that are retried.
    pub on: Vec<String>,
    /// Wait before the first retry (with jitter), doubling for each further one.
    pub backoff_ms: u64,
    /// Retries are at most this share of calls (plus 10 per second).
    pub budget_percent: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: 0,
            on: vec!["UNAVAILABLE".into()],
            backoff_ms: 25,
            budget_percent: 20,
        }
    }
}

fn default_timeout_ms() -> u64 {
    15_000
}

fn default_connect_timeout_ms() -> u64 {
    1_000
}

fn default_stream_idle_timeout_ms() -> u64 {
    300_000
}

fn default_dns_refresh_ms() -> u64 {
    5_000
}

impl UpstreamConfig {
    /// An upstream with every optional key at its default, as a config file without them
    /// gives.
    pub fn new(name: &str, endpoints: Vec<String>, services: Vec<String>) -> Self {
        Self {
            name: name.to_owned(),
            endpoints,
            services: services
                .into_iter()
                .map(|service| Spanned::new(0..0, service))
                .collect(),
            timeout_ms: default_timeout_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
            stream_idle_timeout_ms: default_stream_idle_timeout_ms(),
            ca_cert: None,
            balance: Balance::default(),
            max_in_flight: None,
            dns_refresh_ms: default_dns_refresh_ms(),
            health_check: None,
            outlier: OutlierConfig::default(),
            retry: None,
        }
    }

    /// Checks of one upstream that serde cannot express. Returns the first problem found.
    pub(super) fn validate(&self) -> Result<(), String> {
        let name = &self.name;
        if self.endpoints.is_empty() {
            return Err(format!("upstream {name:?} has no endpoints"));
        }
        if let Some(bad) = self.endpoints.iter().find(|e| {
            !["http://", "https://", "dns://"]
                .iter()
                .any(|scheme| e.starts_with(scheme))
        }) {
            return Err(format!(
                "upstream {name:?}: endpoint {bad:?} must start with http:// (h2c), https:// (TLS) \
                 or dns:// (discovered by DNS, h2c)"
            ));
        }
        let timeouts = [
            self.timeout_ms,
            self.connect_timeout_ms,
            self.stream_idle_timeout_ms,
            self.dns_refresh_ms,
        ];
        if timeouts.contains(&0) {
            return Err(format!(
                "upstream {name:?}: timeout_ms, connect_timeout_ms, stream_idle_timeout_ms and \
                 dns_refresh_ms must be > 0"
            ));
        }
        if self.max_in_flight == Some(0) {
            return Err(format!("upstream {name:?}: max_in_flight must be > 0"));
        }
        if let Some(check) = &self.health_check {
            let positive = [check.interval_ms, check.timeout_ms];
            let thresholds = [check.unhealthy_threshold, check.healthy_threshold];
            if positive.contains(&0) || thresholds.contains(&0) {
                return Err(format!(
                    "upstream {name:?}: [upstreams.health_check] intervals, timeouts and \
                     thresholds must be > 0"
                ));
            }
        }
        let outlier = &self.outlier;
        if outlier.consecutive_failures == 0 || outlier.base_ejection_ms == 0 {
            return Err(format!(
                "upstream {name:?}: [upstreams.outlier] consecutive_failures and \
                 base_ejection_ms must be > 0"
            ));
        }
        if outlier.max_ejection_percent > 100 {
            return Err(format!(
                "upstream {name:?}: [upstreams.outlier] max_ejection_percent is at most 100"
            ));
        }
        if let Some(retry) = &self.retry {
            if let Some(bad) = retry.on.iter().find(|name| code_from_name(name).is_none()) {
                return Err(format!(
                    "upstream {name:?}: [upstreams.retry] on: {bad:?} is not a gRPC code name \
                     (UNAVAILABLE, DEADLINE_EXCEEDED, ...)"
                ));
            }
            if retry.budget_percent > 100 {
                return Err(format!(
                    "upstream {name:?}: [upstreams.retry] budget_percent is at most 100"
                ));
            }
        }
        Ok(())
    }
}
