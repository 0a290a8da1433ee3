//! What a [`super::CountingBackend`] sees of the gateway, counted inside the backend: the
//! connections it accepts, the calls that reach it and how many it holds at once, with the
//! gateway's `grpc.health.v1` checks counted apart (they are not the client's calls). The
//! [`Observed`] layer that counts can also hold every reply back for a while before its head,
//! which is how a slow backend looks to the gateway's latency estimate.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service};

const HEALTH_PATH_PREFIX: &str = "/grpc.health.v1.Health/";

/// What a [`super::CountingBackend`] has seen.
#[derive(Debug, Default)]
pub struct BackendCounts {
    requests: AtomicU64,
    pub(super) accepted: AtomicU64,
    health_checks: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    /// Peer addresses of the connections that carried at least one request.
    request_peers: Mutex<HashSet<SocketAddr>>,
}

impl BackendCounts {
    /// gRPC requests received, health checks apart.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// TCP connections accepted, including ones that never carried a request (such as the
    /// gateway's reachability probes, which connect and hang up).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// `grpc.health.v1.Health` calls received.
    pub fn health_checks(&self) -> u64 {
        self.health_checks.load(Ordering::SeqCst)
    }

    /// Requests (health checks apart) received and not yet answered with a response head.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// The most requests [`BackendCounts::in_flight`] ever was.
    pub fn peak_in_flight(&self) -> u64 {
        self.peak_in_flight.load(Ordering::SeqCst)
    }

    /// Distinct connections that carried at least one request.
    pub fn request_connections(&self) -> usize {
        self.request_peers.lock().expect("request peers lock").len()
    }

    /// Counts `request`; a call (not a health check) is in flight until the returned guard
    /// drops.
    fn record<B>(self: &Arc<Self>, request: &http::Request<B>) -> Option<Answering> {
        if request.uri().path().starts_with(HEALTH_PATH_PREFIX) {
            self.health_checks.fetch_add(1, Ordering::SeqCst);
            return None;
        }
        self.requests.fetch_add(1, Ordering::SeqCst);
        // tonic puts the TCP connection's addresses in every request (under TLS too).
        let peer = request
            .extensions()
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(|info| info.remote_addr());
        if let Some(peer) = peer {
            self.request_peers
                .lock()
                .expect("request peers lock")
                .insert(peer);
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        Some(Answering(Arc::clone(self)))
    }
}

/// One call in flight at the backend.
struct Answering(Arc<BackendCounts>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts every request into `counts` and holds each reply back by `delay` before its head.
#[derive(Clone)]
pub(super) struct Observed<S> {
    pub inner: S,
    pub counts: Arc<BackendCounts>,
    pub delay: Duration,
}

impl<S> Service<http::Request<Body>> for Observed<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let answering = self.counts.record(&request);
        let delay = self.delay;
        let response = self.inner.call(request);
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let response = response.await;
            drop(answering);
            response
        })
    }
}
