//! The configured upstreams: one lazily-connected, long-lived tonic channel each, balanced
//! across the upstream's endpoints (power of two choices), multiplexing every request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::config::UpstreamConfig;
use crate::routing::UpstreamId;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream {upstream:?}: endpoint {endpoint:?}: {message}")]
    Endpoint {
        upstream: String,
        endpoint: String,
        message: String,
    },
}

/// Reachability as last seen by the prober.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reachability {
    Unknown,
    Reachable,
    Unreachable,
}

#[derive(Debug)]
pub struct EndpointState {
    pub uri: String,
    /// `host:port` the prober connects to.
    pub authority: String,
    state: AtomicU8,
}

impl EndpointState {
    pub fn reachability(&self) -> Reachability {
        match self.state.load(Ordering::Relaxed) {
            1 => Reachability::Reachable,
            2 => Reachability::Unreachable,
            _ => Reachability::Unknown,
        }
    }

    pub fn set_reachable(&self, reachable: bool) {
        self.state
            .store(if reachable { 1 } else { 2 }, Ordering::Relaxed);
    }
}

#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    pub channel: Channel,
    pub timeout: Duration,
    pub stream_idle_timeout: Duration,
    pub endpoints: Vec<EndpointState>,
}

#[derive(Debug, Clone)]
pub struct Upstreams {
    list: Arc<[Upstream]>,
}

impl Upstreams {
    /// Creates the channels without connecting: the gateway starts while backends are down.
    /// Must run inside a tokio runtime (balanced channels spawn a worker).
    pub fn connect(configs: &[UpstreamConfig]) -> Result<Self, UpstreamError> {
        let list = configs
            .iter()
            .map(upstream)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { list: list.into() })
    }

    pub fn get(&self, id: UpstreamId) -> Option<&Upstream> {
        self.list.get(id.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Upstream> {
        self.list.iter()
    }

    /// The upstream serving `service`: one that names it, else one with `"*"`.
    pub fn resolve(configs: &[UpstreamConfig], service: &str) -> Option<UpstreamId> {
        let named = configs
            .iter()
            .position(|u| u.services.iter().any(|s| s == service));
        named
            .or_else(|| {
                configs
                    .iter()
                    .position(|u| u.services.iter().any(|s| s == "*"))
            })
            .map(UpstreamId)
    }
}

fn upstream(config: &UpstreamConfig) -> Result<Upstream, UpstreamError> {
    let endpoint_error = |endpoint: &str, message: String| UpstreamError::Endpoint {
        upstream: config.name.clone(),
        endpoint: endpoint.to_owned(),
        message,
    };
    let tls = match &config.ca_cert {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|err| {
                endpoint_error("*", format!("reading ca_cert {}: {err}", path.display()))
            })?;
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem))
        }
        None => ClientTlsConfig::new().with_native_roots(),
    };
    let mut endpoints = Vec::new();
    let mut states = Vec::new();
    for uri in &config.endpoints {
        let mut endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|err| endpoint_error(uri, err.to_string()))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if uri.starts_with("https://") {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|err| endpoint_error(uri, err.to_string()))?;
        }
        let authority = endpoint
            .uri()
            .authority()
            .map(|a| {
                let port =
                    a.port_u16()
                        .unwrap_or(if uri.starts_with("https://") { 443 } else { 80 });
                format!("{}:{port}", a.host())
            })
            .ok_or_else(|| endpoint_error(uri, "has no host".into()))?;
        states.push(EndpointState {
            uri: uri.clone(),
            authority,
            state: AtomicU8::new(0),
        });
        endpoints.push(endpoint);
    }
    let channel = match endpoints.as_slice() {
        [single] => single.connect_lazy(),
        _ => Channel::balance_list(endpoints.into_iter()),
    };
    Ok(Upstream {
        name: config.name.clone(),
        channel,
        timeout: Duration::from_millis(config.timeout_ms),
        stream_idle_timeout: Duration::from_millis(config.stream_idle_timeout_ms),
        endpoints: states,
    })
}
