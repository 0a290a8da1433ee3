//! The admin listener: what operators and their tools read off a running gateway, on an
//! address of its own (`[admin] listen`), in plaintext, never on the public listener.
//!
//! - `GET /metrics`: the Prometheus text exposition;
//! - `GET /config`: the effective configuration as JSON;
//! - `GET /routes`: the route table as JSON;
//! - `GET /upstreams`: every upstream's endpoints with their state and calls in flight;
//! - `GET /healthz`, `GET /readyz`: as on the public listener.
//!
//! Bind it to loopback or a private network: it shows the whole configuration.

mod views;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::CONTENT_TYPE;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::Config;
use crate::gateway::Plan;
use crate::health::{self, Readiness};
use crate::observe::{self, Metrics};
use crate::upstream::Registry;

/// What the admin endpoints read.
pub struct AdminState {
    pub config: Arc<Config>,
    pub plan: Arc<Plan>,
    pub metrics: Arc<Metrics>,
    pub upstreams: Registry,
}

/// How long a client may take to send a request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

pub fn router(state: Arc<AdminState>, readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/config", get(config))
        .route("/routes", get(routes))
        .route("/upstreams", get(upstreams))
        .with_state(state)
        .merge(health::router(readiness))
}

async fn metrics(State(state): State<Arc<AdminState>>) -> Response {
    let text = state.metrics.render(&state.upstreams);
    ([(CONTENT_TYPE, observe::CONTENT_TYPE)], text).into_response()
}

async fn config(State(state): State<Arc<AdminState>>) -> Response {
    Json(views::config(&state.config, &state.plan)).into_response()
}

async fn routes(State(state): State<Arc<AdminState>>) -> Response {
    Json(serde_json::json!({ "routes": views::routes(&state.plan) })).into_response()
}

async fn upstreams(State(state): State<Arc<AdminState>>) -> Response {
    let upstreams = health::upstream_views(&state.upstreams);
    Json(serde_json::json!({ "upstreams": upstreams })).into_response()
}

/// Serves `app` on `listener` until the returned task is aborted (which ends every open
/// admin connection with it).
pub fn serve(listener: TcpListener, app: Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT);
        let mut connections = JoinSet::new();
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %err, "admin listener cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            // Finished connections leave the set as new ones come.
            while connections.try_join_next().is_some() {}
            let service = TowerToHyperService::new(app.clone());
            let builder = builder.clone();
            connections.spawn(async move {
                let io = TokioIo::new(stream);
                if let Err(err) = builder.serve_connection(io, service).await {
                    tracing::debug!(error = %err, "admin connection ended with an error");
                }
            });
        }
    })
}

/// Binds the admin address (before anything else starts, like the public listener).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = std::net::TcpListener::bind(addr)?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket)
}
