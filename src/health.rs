//! `/healthz` (liveness) and `/readyz` (readiness) for orchestrators and load balancers.
//!
//! Readiness is about the gateway, not its backends: it is 503 while starting or draining,
//! and 200 otherwise even if some upstream is down (that upstream's routes fail with 503 on
//! their own), so one dead backend does not take the whole gateway out of rotation. The body
//! still lists every endpoint's reachability for operators.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::upstream::HealthTable;

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
    upstreams: HealthTable,
}

impl Readiness {
    pub fn new(upstreams: HealthTable) -> Arc<Self> {
        Arc::new(Self {
            phase: AtomicU8::new(Phase::Starting as u8),
            upstreams,
        })
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

pub async fn live() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

pub async fn ready(State(readiness): State<Arc<Readiness>>) -> Response {
    let phase = readiness.phase();
    let upstreams: Vec<_> = readiness
        .upstreams
        .iter()
        .map(|upstream| {
            let endpoints: Vec<_> = upstream
                .endpoints
                .iter()
                .map(|e| json!({"endpoint": e.uri, "reachability": e.reachability()}))
                .collect();
            let reachable = upstream
                .endpoints
                .iter()
                .any(|e| e.reachability() == crate::upstream::Reachability::Reachable);
            json!({"name": upstream.name, "reachable": reachable, "endpoints": endpoints})
        })
        .collect();
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
