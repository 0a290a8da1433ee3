//! `dns://name:port` endpoints: every A and AAAA record of the name is an endpoint (how a
//! Kubernetes headless Service is consumed), resolved before the gateway serves and again
//! every `dns_refresh_ms`. Endpoints that appear join the upstream's set (and start taking
//! calls once connected); those that disappear take no new calls, and their connections close
//! once their calls end. A failed resolution (an error, or no records at all) keeps the last
//! known set and is logged: DNS trouble must not empty an upstream that still works.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::registry::{DnsName, Registry, UpstreamEntry};
use crate::config::DiscoveryConfig;

/// How long start-up waits for the first answers before serving with what it has.
const FIRST_RESOLUTION: Duration = Duration::from_secs(5);

/// The resolver `[discovery]` describes: its `nameservers` (UDP, then TCP for long answers),
/// else the system's configuration. Answers are not cached: every refresh asks again.
pub fn resolver(config: &DiscoveryConfig) -> Result<TokioResolver, String> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = if config.nameservers.is_empty() {
        TokioResolver::builder(provider)
            .map_err(|err| format!("cannot read the system's DNS configuration: {err}"))?
    } else {
        let servers = config
            .nameservers
            .iter()
            .map(|address| {
                let connection = |mut connection: ConnectionConfig| {
                    connection.port = address.port();
                    connection
                };
                NameServerConfig::new(
                    address.ip(),
                    true,
                    vec![
                        connection(ConnectionConfig::udp()),
                        connection(ConnectionConfig::tcp()),
                    ],
                )
            })
            .collect();
        TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
    };
    let options = builder.options_mut();
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options.cache_size = 0;
    builder
        .build()
        .map_err(|err| format!("cannot set up the DNS resolver: {err}"))
}

/// Resolves every `dns://` endpoint once (waiting at most `FIRST_RESOLUTION`), then keeps
/// them fresh in the background; the handles stop it when aborted.
pub async fn start_discovery(
    registry: &Registry,
    config: &DiscoveryConfig,
) -> Result<Vec<JoinHandle<()>>, String> {
    let discovered: Vec<&Arc<UpstreamEntry>> = registry
        .iter()
        .filter(|entry| !entry.dns_names.is_empty())
        .collect();
    if discovered.is_empty() {
        return Ok(Vec::new());
    }
    let resolver = Arc::new(resolver(config)?);
    let first = join_all(discovered.iter().map(|entry| refresh(&resolver, entry)));
    if tokio::time::timeout(FIRST_RESOLUTION, first).await.is_err() {
        tracing::warn!(
            "DNS discovery: no answer within 5 s; serving with what is known, resolving on"
        );
    }
    Ok(discovered
        .into_iter()
        .map(|entry| {
            let (resolver, entry) = (Arc::clone(&resolver), Arc::clone(entry));
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(entry.dns_refresh);
                ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
                // The first tick is immediate, and start-up has just resolved.
                ticker.tick().await;
                loop {
                    ticker.tick().await;
                    refresh(&resolver, &entry).await;
                }
            })
        })
        .collect())
}

/// Resolves every name of `entry` and replaces its discovered endpoints, unless a name fails:
/// then nothing changes (that name's last addresses must not vanish).
async fn refresh(resolver: &TokioResolver, entry: &UpstreamEntry) {
    let lookups = entry.dns_names.iter().map(|name| async move {
        let found = resolver.lookup_ip(name.host.as_str()).await;
        (name, found)
    });
    let mut addresses: Vec<(SocketAddr, &DnsName)> = Vec::new();
    for (name, found) in join_all(lookups).await {
        match found {
            Ok(ips) => {
                addresses.extend(ips.iter().map(|ip| (SocketAddr::new(ip, name.port), name)))
            }
            Err(err) => {
                tracing::warn!(
                    upstream = &*entry.name,
                    endpoint = %name.uri,
                    error = %err,
                    "DNS resolution failed; keeping the last known endpoints"
                );
                return;
            }
        }
    }
    let before = entry.endpoints().endpoints.len();
    entry.set_discovered(&addresses);
    let after = entry.endpoints().endpoints.len();
    if before != after {
        tracing::info!(
            upstream = &*entry.name,
            endpoints = after,
            "DNS discovery changed the endpoint set"
        );
    }
}
