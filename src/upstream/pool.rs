//! The configured upstreams: per worker, one lazily-connected, long-lived tonic channel each,
//! balanced across the upstream's endpoints (power of two choices), multiplexing every
//! request; and, shared by all workers, each endpoint's reachability.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::config::UpstreamConfig;
use crate::net::CoalescingStream;
use crate::routing::UpstreamId;

const UPSTREAM_STREAM_WINDOW: u32 = 256 * 1024;
const UPSTREAM_CONNECTION_WINDOW: u32 = 1024 * 1024;

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

/// One upstream's endpoints as the prober sees them; shared by every worker.
#[derive(Debug)]
pub struct UpstreamHealth {
    pub name: String,
    pub endpoints: Vec<EndpointState>,
}

/// Every upstream's reachability, for the prober and `/readyz`.
pub type HealthTable = Arc<[UpstreamHealth]>;

#[derive(Debug)]
pub struct Upstream {
    pub channel: Channel,
    pub timeout: Duration,
    pub stream_idle_timeout: Duration,
}

/// One worker's channels to every upstream. Channels live on the runtime that created them,
/// so each worker connects its own: no request ever hops to another thread.
#[derive(Debug, Clone)]
pub struct Upstreams {
    list: Arc<[Upstream]>,
}

impl Upstreams {
    /// Creates the channels without connecting: the gateway starts while backends are down.
    /// Must run inside the tokio runtime that will use them.
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

/// The endpoints of every upstream, all of unknown reachability.
pub fn health_table(configs: &[UpstreamConfig]) -> Result<HealthTable, UpstreamError> {
    configs
        .iter()
        .map(|config| {
            let endpoints = config
                .endpoints
                .iter()
                .map(|uri| {
                    Ok(EndpointState {
                        uri: uri.clone(),
                        authority: authority(uri)
                            .map_err(|message| endpoint_error(config, uri, message))?,
                        state: AtomicU8::new(0),
                    })
                })
                .collect::<Result<_, UpstreamError>>()?;
            Ok(UpstreamHealth {
                name: config.name.clone(),
                endpoints,
            })
        })
        .collect()
}

/// `host:port` of an endpoint URI, with the scheme's default port.
fn authority(uri: &str) -> Result<String, String> {
    let parsed: http::Uri = uri
        .parse()
        .map_err(|err: http::uri::InvalidUri| err.to_string())?;
    let authority = parsed.authority().ok_or("has no host")?;
    let default_port = if parsed.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    Ok(format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(default_port)
    ))
}

fn endpoint_error(config: &UpstreamConfig, endpoint: &str, message: String) -> UpstreamError {
    UpstreamError::Endpoint {
        upstream: config.name.clone(),
        endpoint: endpoint.to_owned(),
        message,
    }
}

fn upstream(config: &UpstreamConfig) -> Result<Upstream, UpstreamError> {
    let tls = match &config.ca_cert {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|err| {
                endpoint_error(
                    config,
                    "*",
                    format!("reading ca_cert {}: {err}", path.display()),
                )
            })?;
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem))
        }
        None => ClientTlsConfig::new().with_native_roots(),
    };
    let mut endpoints = Vec::new();
    for uri in &config.endpoints {
        let mut endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|err| endpoint_error(config, uri, err.to_string()))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true)
            // What a backend may send ahead of the client reading it, per stream and per
            // connection (hyper's defaults, 2 and 5 MiB, are held in memory by every worker).
            .initial_stream_window_size(UPSTREAM_STREAM_WINDOW)
            .initial_connection_window_size(UPSTREAM_CONNECTION_WINDOW);
        if uri.starts_with("https://") {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|err| endpoint_error(config, uri, err.to_string()))?;
        }
        endpoints.push(endpoint);
    }
    let channel = match endpoints.as_slice() {
        [single] => single.connect_with_connector_lazy(tower::service_fn(connect_tcp)),
        _ => Channel::balance_list(endpoints.into_iter()),
    };
    Ok(Upstream {
        channel,
        timeout: Duration::from_millis(config.timeout_ms),
        stream_idle_timeout: Duration::from_millis(config.stream_idle_timeout_ms),
    })
}

/// A plain TCP connection to the endpoint (tonic layers TLS on top for `https://`), with
/// writes coalesced across the calls multiplexed on it.
async fn connect_tcp(uri: Uri) -> std::io::Result<TokioIo<CoalescingStream<TcpStream>>> {
    let host = uri.host().unwrap_or_default();
    // An IPv6 literal comes bracketed in a URI.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let default_port = if uri.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    let stream = TcpStream::connect((host, uri.port_u16().unwrap_or(default_port))).await?;
    stream.set_nodelay(true)?;
    Ok(TokioIo::new(CoalescingStream::new(stream)))
}
