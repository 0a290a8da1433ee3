//! The admin listener: what operators and their tools read off a running gateway, on an
//! address of its own (`[admin] listen`), in plaintext, never on the public listener.
//!
//! - `GET /metrics`: the Prometheus text exposition;
//! - `GET /config`: the effective configuration as JSON;
//! - `GET /routes`: the route table as JSON;
//! - `GET /upstreams`: every upstream's endpoints with their state and calls in flight;
//! - `POST /reload`: re-reads the configuration (as SIGHUP does) and answers how it went;
//! - `GET /healthz`, `GET /readyz`: as on the public listener.
//!
//! Bind it to loopback or a private network: it shows the whole configuration.

mod views;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use http::header::CONTENT_TYPE;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::Config;
use crate::gateway::Plan;
use crate::health::{self, Readiness};
use crate::observe::{self, Metrics};
use crate::upstream::Registry;

/// What the gateway runs now; a reload replaces it whole.
pub struct Running {
    pub config: Config,
    pub plan: Arc<Plan>,
    pub upstreams: Registry,
}

/// What `POST /reload` does: re-read and apply the configuration, or say why not.
pub trait Reload: Send + Sync {
    fn reload(&self) -> Pin<Box<dyn Future<Output = Result<Value, Vec<String>>> + Send + '_>>;
}

/// What the admin endpoints read.
pub struct AdminState {
    pub running: Arc<ArcSwap<Running>>,
    pub metrics: Arc<Metrics>,
    pub reload: Arc<dyn Reload>,
}

/// How long a client may take to send a request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

pub fn router(state: Arc<AdminState>, readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/config", get(config))
        .route("/routes", get(routes))
        .route("/upstreams", get(upstreams))
        .route("/reload", post(reload))
        .with_state(state)
        .merge(health::router(readiness))
}

async fn metrics(State(state): State<Arc<AdminState>>) -> Response {
    let text = state.metrics.render(&state.running.load().upstreams);
    ([(CONTENT_TYPE, observe::CONTENT_TYPE)], text).into_response()
}

async fn config(State(state): State<Arc<AdminState>>) -> Response {
    let running = state.running.load();
    Json(views::config(&running.config, &running.plan)).into_response()
}

async fn routes(State(state): State<Arc<AdminState>>) -> Response {
    let running = state.running.load();
    Json(json!({ "routes": views::routes(&running.plan) })).into_response()
}

async fn upstreams(State(state): State<Arc<AdminState>>) -> Response {
    let upstreams = health::upstream_views(&state.running.load().upstreams);
    Json(json!({ "upstreams": upstreams })).into_response()
}

/// 200 with what was applied, or 422 with every problem (the running configuration stays).
async fn reload(State(state): State<Arc<AdminState>>) -> Response {
    match state.reload.reload().await {
        Ok(applied) => Json(json!({ "result": "success", "applied": applied })).into_response(),
        Err(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "result": "failure", "problems": problems })),
        )
            .into_response(),
    }
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
