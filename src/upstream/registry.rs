//! Every configured upstream as the whole gateway shares it (workers, health checker, DNS
//! discovery, `/readyz`): its policy, its current endpoint set (which discovery may replace
//! while calls flow), and its gateway-wide count of calls in flight (the circuit breaker).
//! Each worker keeps its own connections to these endpoints (`pool`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use http::Uri;
use http::uri::{Authority, Scheme};
use prometheus::HistogramVec;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::endpoint_life::State;
use super::retry::RetryPolicy;
use super::shared_endpoint::SharedEndpoint;
use super::target::Target;
use crate::config::{Balance, HealthCheckConfig, OutlierConfig, UpstreamConfig};

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

/// Every upstream, indexed by `UpstreamId`.
pub type Registry = Arc<[Arc<UpstreamEntry>]>;

pub struct UpstreamEntry {
    pub name: Arc<str>,
    pub balance: Balance,
    pub outlier: Option<OutlierConfig>,
    pub health_check: Option<HealthCheckConfig>,
    pub max_in_flight: Option<usize>,
    pub retry: Option<RetryPolicy>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub stream_idle_timeout: Duration,
    /// The `dns://` endpoints, resolved by discovery into `set`.
    pub dns_names: Vec<DnsName>,
    pub dns_refresh: Duration,
    /// The configured `http(s)://` endpoints, always part of the set.
    fixed: Vec<Arc<SharedEndpoint>>,
    set: RwLock<Arc<EndpointSet>>,
    /// Bumped whenever `set` is replaced; workers compare it on every call.
    generation: AtomicU64,
    in_flight: AtomicUsize,
    /// The gateway's `h2gate_upstream_call_duration_seconds`, for endpoints found later.
    call_durations: Option<HistogramVec>,
    /// What it was built from: a reload keeps the entry (its endpoints' state and
    /// connections) when its configuration is the same.
    config: UpstreamConfig,
}

impl std::fmt::Debug for UpstreamEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamEntry")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// An upstream's endpoints at one moment.
#[derive(Debug, Default)]
pub struct EndpointSet {
    pub generation: u64,
    pub endpoints: Vec<Arc<SharedEndpoint>>,
}

/// A `dns://name:port` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsName {
    pub uri: String,
    pub host: String,
    pub port: u16,
}

impl UpstreamEntry {
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn endpoints(&self) -> Arc<EndpointSet> {
        Arc::clone(&self.set.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the discovered endpoints: `discovered` (address, and the name it came from)
    /// joins the fixed ones. Endpoints that stay keep their state and connections.
    pub fn set_discovered(&self, discovered: &[(std::net::SocketAddr, &DnsName)]) {
        let current = self.endpoints();
        let mut endpoints = self.fixed.clone();
        // DNS servers rotate their answers: in a fixed order, the same answer changes nothing.
        let mut discovered = discovered.to_vec();
        discovered.sort_by(|(a, x), (b, y)| (&x.uri, a).cmp(&(&y.uri, b)));
        for (address, name) in &discovered {
            let uri = format!("http://{address}");
            let kept = current
                .endpoints
                .iter()
                .find(|e| *e.uri == *uri && e.discovered_by.as_deref() == Some(&name.uri));
            let endpoint = match kept {
                Some(kept) => Arc::clone(kept),
                None => Arc::new(SharedEndpoint::new(
                    uri,
                    Some(name.uri.clone()),
                    self.discovered_target(*address, name),
                    self.call_durations.clone(),
                )),
            };
            if !endpoints.iter().any(|e| Arc::ptr_eq(e, &endpoint)) {
                endpoints.push(endpoint);
            }
        }
        let unchanged = endpoints.len() == current.endpoints.len()
            && endpoints
                .iter()
                .zip(&current.endpoints)
                .all(|(a, b)| Arc::ptr_eq(a, b));
        if unchanged {
            return;
        }
        let mut slot = self.set.write().unwrap_or_else(PoisonError::into_inner);
        let generation = slot.generation + 1;
        *slot = Arc::new(EndpointSet {
            generation,
            endpoints,
        });
        self.generation.store(generation, Ordering::Release);
    }

    fn discovered_target(&self, address: std::net::SocketAddr, name: &DnsName) -> Target {
        let authority = format!("{}:{}", name.host, name.port);
        Target {
            scheme: Scheme::HTTP,
            authority: authority
                .parse()
                .unwrap_or_else(|_| Authority::from_static("localhost")),
            host: address.ip().to_string().into(),
            port: address.port(),
            tls: None,
            upstream: Arc::clone(&self.name),
        }
    }

    /// Takes a place for one call on the upstream (`None`: no `max_in_flight`, nothing to
    /// count), or `Err(max_in_flight)` when that many are in flight: the circuit is open.
    pub fn admit(self: &Arc<Self>) -> Result<Option<CallPermit>, usize> {
        let Some(max) = self.max_in_flight else {
            return Ok(None);
        };
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map(|_| Some(CallPermit(Arc::clone(self))))
            .map_err(|_| max)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether one more endpoint may be ejected: at most `max_ejection_percent` of the
    /// upstream's endpoints are out at once.
    pub fn may_eject(&self, percent: u32) -> bool {
        let set = self.endpoints();
        let total = set.endpoints.len();
        let ejected = set
            .endpoints
            .iter()
            .filter(|e| e.state() == State::Ejected)
            .count();
        let allowed = total.saturating_mul(usize::try_from(percent).unwrap_or(0)) / 100;
        ejected < allowed
    }
}

/// One call counted against its upstream's `max_in_flight` until dropped.
pub struct CallPermit(Arc<UpstreamEntry>);

impl Drop for CallPermit {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every upstream `configs` describe, their fixed endpoints parsed and their TLS set up;
/// `dns://` endpoints are added by discovery.
/// `call_durations`: where calls' durations are measured (`None`: nowhere, as in `check`).
pub fn registry(
    configs: &[UpstreamConfig],
    call_durations: Option<&HistogramVec>,
) -> Result<Registry, UpstreamError> {
    configs
        .iter()
        .map(|config| entry(config, call_durations).map(Arc::new))
        .collect()
}

fn entry(
    config: &UpstreamConfig,
    call_durations: Option<&HistogramVec>,
) -> Result<UpstreamEntry, UpstreamError> {
    // A configured `ca_cert` is read even when no endpoint is `https://` (yet), so that a bad
    // one fails `check` and start-up rather than the day an endpoint changes scheme.
    let mut tls = match config.ca_cert {
        Some(_) => Some(tls_connector(config)?),
        None => None,
    };
    let name: Arc<str> = config.name.as_str().into();
    let mut fixed = Vec::new();
    let mut dns_names = Vec::new();
    for uri in &config.endpoints {
        if let Some(rest) = uri.strip_prefix("dns://") {
            dns_names.push(dns_name(uri, rest).map_err(|m| endpoint_error(config, uri, m))?);
            continue;
        }
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
        let durations = call_durations.cloned();
        fixed.push(Arc::new(SharedEndpoint::new(
            uri.clone(),
            None,
            target,
            durations,
        )));
    }
    if fixed.is_empty() && dns_names.is_empty() {
        return Err(endpoint_error(config, "*", "no endpoints".into()));
    }
    Ok(UpstreamEntry {
        name,
        balance: config.balance,
        outlier: config.outlier.enabled.then(|| config.outlier.clone()),
        health_check: config.health_check.clone(),
        max_in_flight: config.max_in_flight,
        retry: config.retry.as_ref().map(RetryPolicy::new),
        connect_timeout: Duration::from_millis(config.connect_timeout_ms),
        timeout: Duration::from_millis(config.timeout_ms),
        stream_idle_timeout: Duration::from_millis(config.stream_idle_timeout_ms),
        dns_names,
        dns_refresh: Duration::from_millis(config.dns_refresh_ms),
        set: RwLock::new(Arc::new(EndpointSet {
            generation: 0,
            endpoints: fixed.clone(),
        })),
        fixed,
        generation: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        call_durations: call_durations.cloned(),
        config: config.clone(),
    })
}

/// The registry for `configs` after a reload: the entries of `previous` whose configuration
/// did not change are kept as they are (endpoint states, discovered endpoints, connections);
/// the others are new.
pub fn registry_after(
    configs: &[UpstreamConfig],
    previous: &Registry,
    call_durations: Option<&HistogramVec>,
) -> Result<Registry, UpstreamError> {
    configs
        .iter()
        .map(
            |config| match previous.iter().find(|e| e.config == *config) {
                Some(kept) => Ok(Arc::clone(kept)),
                None => entry(config, call_durations).map(Arc::new),
            },
        )
        .collect()
}

/// `name:port` of a `dns://` endpoint.
fn dns_name(uri: &str, rest: &str) -> Result<DnsName, String> {
    let authority: Authority = rest
        .parse()
        .map_err(|err: http::uri::InvalidUri| err.to_string())?;
    if authority.as_str() != rest {
        return Err("a dns:// endpoint is a name and a port, nothing else".into());
    }
    let port = authority
        .port_u16()
        .ok_or("a dns:// endpoint needs a port (dns://name:port)")?;
    Ok(DnsName {
        uri: uri.to_owned(),
        host: authority.host().to_owned(),
        port,
    })
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
        _ => return Err("scheme must be http, https or dns".into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoints: &[&str]) -> UpstreamConfig {
        let endpoints = endpoints.iter().map(|&e| e.to_owned()).collect();
        UpstreamConfig::new("u", endpoints, vec!["*".into()])
    }

    #[test]
    fn dns_endpoints_need_a_name_and_a_port() {
        let ok = registry(&[config(&["dns://users.svc:50051"])], None).unwrap();
        let names = &ok.first().unwrap().dns_names;
        assert_eq!(names.first().unwrap().host, "users.svc");
        assert_eq!(names.first().unwrap().port, 50051);
        for bad in ["dns://users.svc", "dns://users.svc:1/x"] {
            assert!(registry(&[config(&[bad])], None).is_err(), "{bad}");
        }
    }

    #[test]
    fn discovery_keeps_endpoints_that_stay_and_bumps_the_generation() {
        let registry = registry(&[config(&["http://127.0.0.1:1", "dns://n:7"])], None).unwrap();
        let entry = registry.first().unwrap();
        let name = entry.dns_names.first().unwrap().clone();
        let a: std::net::SocketAddr = "10.0.0.1:7".parse().unwrap();
        let b: std::net::SocketAddr = "10.0.0.2:7".parse().unwrap();
        entry.set_discovered(&[(a, &name), (b, &name)]);
        let first = entry.endpoints();
        assert_eq!(first.endpoints.len(), 3);
        assert_eq!(entry.generation(), 1);
        entry.set_discovered(&[(b, &name), (a, &name)]);
        assert_eq!(entry.generation(), 1, "the same addresses change nothing");
        entry.set_discovered(&[(b, &name)]);
        let second = entry.endpoints();
        assert_eq!(entry.generation(), 2);
        let uris: Vec<_> = second.endpoints.iter().map(|e| &*e.uri).collect();
        assert_eq!(uris, ["http://127.0.0.1:1", "http://10.0.0.2:7"]);
        assert!(Arc::ptr_eq(
            second.endpoints.get(1).unwrap(),
            first.endpoints.get(2).unwrap()
        ));
        let target = &second.endpoints.get(1).unwrap().target;
        assert_eq!(target.authority.as_str(), "n:7");
    }

    #[test]
    fn the_circuit_breaker_admits_up_to_max_in_flight() {
        let mut limited = config(&["http://127.0.0.1:1"]);
        limited.max_in_flight = Some(2);
        let registry = registry(&[limited], None).unwrap();
        let entry = registry.first().unwrap();
        let a = entry.admit().unwrap();
        let _b = entry.admit().unwrap();
        assert_eq!(entry.admit().err(), Some(2));
        drop(a);
        assert!(entry.admit().unwrap().is_some());
        let unlimited = super::registry(&[config(&["http://127.0.0.1:1"])], None).unwrap();
        assert!(unlimited.first().unwrap().admit().unwrap().is_none());
    }

    #[test]
    fn at_most_the_percentage_is_ejected() {
        let endpoints = [
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            "http://127.0.0.1:3",
        ];
        let registry = registry(&[config(&endpoints)], None).unwrap();
        let entry = registry.first().unwrap();
        assert!(!entry.may_eject(33), "a third of three is below one");
        assert!(entry.may_eject(50));
        let set = entry.endpoints();
        set.endpoints
            .first()
            .unwrap()
            .eject(Duration::from_secs(30), 5);
        assert!(!entry.may_eject(50));
        assert!(entry.may_eject(100));
    }
}
