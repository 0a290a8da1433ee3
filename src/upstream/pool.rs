//! One worker's side of every upstream: a balancer over its own connections to each
//! endpoint of the shared registry, and the upstream's call settings.

use std::sync::Arc;
use std::time::Duration;

use super::balance::Balancer;
use super::registry::{Registry, UpstreamEntry};
use crate::config::UpstreamConfig;
use crate::routing::UpstreamId;

pub struct Upstream {
    /// This worker's connections to the upstream's endpoints.
    pub balancer: Balancer,
    pub timeout: Duration,
    pub stream_idle_timeout: Duration,
}

impl Upstream {
    pub fn entry(&self) -> &Arc<UpstreamEntry> {
        self.balancer.entry()
    }
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
    pub fn new(registry: &Registry, max_response_bytes: usize) -> Self {
        let list: Vec<_> = registry
            .iter()
            .map(|entry| Upstream {
                balancer: Balancer::new(Arc::clone(entry), max_response_bytes),
                timeout: entry.timeout,
                stream_idle_timeout: entry.stream_idle_timeout,
            })
            .collect();
        Self { list: list.into() }
    }

    /// This worker's side of `registry` after a reload: the balancers (and connections) of
    /// the upstreams it kept, new ones for the rest.
    pub fn follow(&self, registry: &Registry, max_response_bytes: usize) -> Self {
        let list: Vec<_> = registry
            .iter()
            .map(|entry| {
                let kept = self
                    .list
                    .iter()
                    .find(|upstream| Arc::ptr_eq(upstream.entry(), entry));
                Upstream {
                    balancer: match kept {
                        Some(kept) => kept.balancer.with_max_response_bytes(max_response_bytes),
                        None => Balancer::new(Arc::clone(entry), max_response_bytes),
                    },
                    timeout: entry.timeout,
                    stream_idle_timeout: entry.stream_idle_timeout,
                }
            })
            .collect();
        Self { list: list.into() }
    }

    pub fn get(&self, id: UpstreamId) -> Option<&Upstream> {
        self.list.get(id.0)
    }

    /// The upstream serving `service`: one that names it, else one with `"*"`.
    pub fn resolve(configs: &[UpstreamConfig], service: &str) -> Option<UpstreamId> {
        let named = configs
            .iter()
            .position(|u| u.services.iter().any(|s| s.get_ref() == service));
        named
            .or_else(|| {
                configs
                    .iter()
                    .position(|u| u.services.iter().any(|s| s.get_ref() == "*"))
            })
            .map(UpstreamId)
    }
}
