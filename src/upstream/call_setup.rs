//! How to reach the backend for one request, decided by the gateway from the route and the
//! headers before any call shape (unary, streaming, WebSocket) runs.

use std::sync::Arc;
use std::time::Duration;

use http::uri::PathAndQuery;
use tonic::metadata::MetadataMap;

use super::Balancer;
use crate::listener::ClientConnection;

pub struct CallSetup {
    pub upstream: Balancer,
    pub grpc_path: PathAndQuery,
    pub metadata: MetadataMap,
    /// The method may run twice (retries under `[upstreams.retry]`).
    pub idempotent: bool,
    /// Unary deadline: the upstream's `timeout_ms`, or the client's shorter `Grpc-Timeout`.
    pub deadline: Duration,
    /// Streaming calls end after this long without a message from the backend.
    pub idle_timeout: Duration,
    /// The client's connection (streams pause reading their backend while it is full, and
    /// charge streamed request bytes to it).
    pub client: Option<Arc<ClientConnection>>,
}
