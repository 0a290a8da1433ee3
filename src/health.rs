//! `/healthz` (liveness) and `/readyz` (readiness) for orchestrators and load balancers.
//!
//! Readiness is about the gateway, not its backends: it is 503 while starting or draining,
//! and 200 otherwise even if some upstream is down (that upstream's routes fail with 503 on
//! their own), so one dead backend does not take the whole gateway out of rotation. The body
//! still lists every upstream's endpoints for operators: each one's state (idle, connecting,
//! ready, backing_off, ejected, unhealthy), its reachability as the probe last saw it, and the
//! `dns://` name it was discovered by.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use arc_swap::ArcSwap;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::upstream::{Reachability, Registry, State as EndpointState, UpstreamEntry};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Serving,
    Draining,
}

/// Shared readiness state, flipped by the server as it starts and drains.
#[derive(Debug)]
pub struct Readiness {
    phase: AtomicU8,
    /// The upstreams as they are now (a reload replaces them).
    upstreams: ArcSwap<Registry>,
}

impl Readiness {
    pub fn new(upstreams: Registry) -> Arc<Self> {
        Arc::new(Self {
            phase: AtomicU8::new(Phase::Starting as u8),
            upstreams: ArcSwap::from_pointee(upstreams),
        })
    }

    /// A reload replaced the upstreams.
    pub fn set_upstreams(&self, upstreams: Registry) {
        self.upstreams.store(Arc::new(upstreams));
    }

    pub fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            1 => Phase::Serving,
            2 => Phase::Draining,
            _ => Phase::Starting,
        }
    }
}

pub const LIVE: &str = "/healthz";
pub const READY: &str = "/readyz";

/// `/healthz` and `/readyz`, served on the public listener and the admin listener alike.
pub fn router<S>(readiness: Arc<Readiness>) -> axum::Router<S> {
    axum::Router::new()
        .route(LIVE, axum::routing::get(live))
        .route(READY, axum::routing::get(ready))
        .with_state(readiness)
}

pub async fn live() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

pub async fn ready(State(readiness): State<Arc<Readiness>>) -> Response {
    let phase = readiness.phase();
    let upstreams = upstream_views(&readiness.upstreams.load());
    let (status, label) = match phase {
        Phase::Serving => (StatusCode::OK, "ready"),
        Phase::Starting => (StatusCode::SERVICE_UNAVAILABLE, "starting"),
        Phase::Draining => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
    };
    (
        status,
        Json(json!({"status": label, "upstreams": upstreams})),
    )
        .into_response()
}

/// Every upstream as `/readyz` and the admin listener's `/upstreams` show it.
pub fn upstream_views(upstreams: &Registry) -> Vec<UpstreamView> {
    upstreams.iter().map(|u| upstream_view(u)).collect()
}

#[derive(serde::Serialize)]
pub struct UpstreamView {
    name: String,
    /// Whether any endpoint answered the reachability probe or a connection attempt.
    reachable: bool,
    /// Counted only where a circuit breaker (`max_in_flight`) needs the count.
    #[serde(skip_serializing_if = "Option::is_none")]
    in_flight: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_in_flight: Option<usize>,
    endpoints: Vec<EndpointView>,
}

#[derive(serde::Serialize)]
struct EndpointView {
    endpoint: String,
    state: EndpointState,
    reachability: Reachability,
    /// Calls sent to it and not ended, across all workers.
    in_flight: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    discovered_by: Option<String>,
}

fn upstream_view(upstream: &UpstreamEntry) -> UpstreamView {
    let set = upstream.endpoints();
    let endpoints: Vec<_> = set
        .endpoints
        .iter()
        .map(|e| EndpointView {
            endpoint: e.uri.to_string(),
            state: e.state(),
            reachability: e.reachability(),
            in_flight: e.calls_in_flight(),
            discovered_by: e.discovered_by.clone(),
        })
        .collect();
    UpstreamView {
        name: upstream.name.to_string(),
        reachable: endpoints
            .iter()
            .any(|e| e.reachability == Reachability::Reachable),
        in_flight: upstream.max_in_flight.map(|_| upstream.in_flight()),
        max_in_flight: upstream.max_in_flight,
        endpoints,
    }
}
