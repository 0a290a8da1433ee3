//! The configured upstreams: per worker, lazily-opened, long-lived HTTP/2 connections per
//! endpoint, balanced across the endpoints (power of two choices), multiplexing every call;
//! their endpoints taken apart once, and the TLS settings for `https://` ones.

use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use http::uri::{Authority, Scheme};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::balance::Balancer;
use super::endpoint::Endpoint;
use super::reachability::{EndpointState, HealthTable, UpstreamHealth};
use super::target::Target;
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
    #[error("upstream {upstream:?}: ca_cert {path}: {message}")]
    CaCert {
        upstream: String,
        path: std::path::PathBuf,
        message: String,
    },
}

pub struct Upstream {
    /// This worker's connections to the upstream's endpoints.
    pub balancer: Balancer,
    pub timeout: Duration,
    pub stream_idle_timeout: Duration,
}

/// One worker's connections to every upstream. Connections live on the runtime that opened
/// them, so each worker has its own: no request ever hops to another thread.
#[derive(Clone)]
pub struct Upstreams {
    list: Arc<[Upstream]>,
}

impl Upstreams {
    /// Sets up the connections without connecting: the gateway starts while backends are
    /// down. Each connection opens on first use, on the runtime of the call that uses it.
    pub fn connect(
        configs: &[UpstreamConfig],
        health: &HealthTable,
        max_response_bytes: usize,
    ) -> Result<Self, UpstreamError> {
        let list = configs
            .iter()
            .zip(health.iter())
            .map(|(config, health)| upstream(config, health, max_response_bytes))
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
                    let endpoint = parse_endpoint(uri)
                        .map_err(|message| endpoint_error(config, uri, message))?;
                    let authority = format!("{}:{}", endpoint.authority.host(), endpoint.port);
                    Ok(Arc::new(EndpointState::new(uri.clone(), authority)))
                })
                .collect::<Result<_, UpstreamError>>()?;
            Ok(UpstreamHealth {
                name: config.name.clone(),
                endpoints,
            })
        })
        .collect()
}

/// An endpoint URI taken apart once.
struct EndpointUri {
    scheme: Scheme,
    authority: Authority,
    /// The host without IPv6 brackets (to connect to, and the TLS server name).
    host: String,
    /// The URI's port, or the scheme's default.
    port: u16,
}

fn parse_endpoint(uri: &str) -> Result<EndpointUri, String> {
    let parsed: Uri = uri
        .parse()
        .map_err(|err: http::uri::InvalidUri| err.to_string())?;
    let authority = parsed.authority().cloned().ok_or("has no host")?;
    let scheme = parsed.scheme().cloned().unwrap_or(Scheme::HTTP);
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err("scheme must be http or https".into()),
    };
    let host = authority.host();
    // An IPv6 literal comes bracketed in a URI.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .to_owned();
    let port = authority.port_u16().unwrap_or(default_port);
    Ok(EndpointUri {
        scheme,
        authority,
        host,
        port,
    })
}

fn endpoint_error(config: &UpstreamConfig, endpoint: &str, message: String) -> UpstreamError {
    UpstreamError::Endpoint {
        upstream: config.name.clone(),
        endpoint: endpoint.to_owned(),
        message,
    }
}

fn upstream(
    config: &UpstreamConfig,
    health: &UpstreamHealth,
    max_response_bytes: usize,
) -> Result<Upstream, UpstreamError> {
    // A configured `ca_cert` is read even when no endpoint is `https://` (yet), so that a bad
    // one fails `check` and start-up rather than the day an endpoint changes scheme.
    let mut tls = match config.ca_cert {
        Some(_) => Some(tls_connector(config)?),
        None => None,
    };
    let mut endpoints = Vec::with_capacity(config.endpoints.len());
    let name: Arc<str> = config.name.as_str().into();
    for (uri, state) in config.endpoints.iter().zip(&health.endpoints) {
        let endpoint =
            parse_endpoint(uri).map_err(|message| endpoint_error(config, uri, message))?;
        let tls = if endpoint.scheme == Scheme::HTTPS {
            let connector = match &tls {
                Some(connector) => connector,
                None => tls.insert(tls_connector(config)?),
            };
            let name = ServerName::try_from(endpoint.host.clone())
                .map_err(|err| endpoint_error(config, uri, format!("TLS server name: {err}")))?;
            Some((connector.clone(), name))
        } else {
            None
        };
        let target = Target {
            scheme: endpoint.scheme,
            authority: endpoint.authority,
            host: endpoint.host.into(),
            port: endpoint.port,
            tls,
            upstream: Arc::clone(&name),
        };
        endpoints.push(Endpoint::new(target, Arc::clone(state)));
    }
    if endpoints.is_empty() {
        return Err(endpoint_error(config, "*", "no endpoints".into()));
    }
    Ok(Upstream {
        balancer: Balancer::new(endpoints, max_response_bytes),
        timeout: Duration::from_millis(config.timeout_ms),
        stream_idle_timeout: Duration::from_millis(config.stream_idle_timeout_ms),
    })
}

/// TLS towards `https://` endpoints: the upstream's `ca_cert`, else the system roots; ALPN h2.
fn tls_connector(config: &UpstreamConfig) -> Result<TlsConnector, UpstreamError> {
    let mut roots = RootCertStore::empty();
    match &config.ca_cert {
        Some(path) => {
            let err = |message: String| UpstreamError::CaCert {
                upstream: config.name.clone(),
                path: path.clone(),
                message,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| match e {
                    rustls::pki_types::pem::Error::Io(io) => err(io.to_string()),
                    other => err(other.to_string()),
                })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(err("holds no usable CERTIFICATE block".into()));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    let mut client =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|err| endpoint_error(config, "*", format!("TLS: {err}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsConnector::from(Arc::new(client)))
}
