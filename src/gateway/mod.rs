//! The gateway proper: everything loaded at start-up (`Plan`, built offline, shared by
//! `serve`, `check` and `routes`) plus the live upstream channels, and the request handler
//! that walks a request through routing, transcoding, the upstream call and error mapping.

mod handler;
mod input;
mod plan;
mod request_body;
mod unary;

use std::sync::Arc;

use tokio::sync::watch;

pub use handler::{CallSetup, handle};
pub use input::RequestContext;
pub use plan::{Plan, problem_list};
pub use request_body::request_timed_out;

use crate::upstream::Upstreams;

/// The state one worker serves with: the shared plan and that worker's own upstream
/// connections.
pub struct Gateway {
    pub plan: Arc<Plan>,
    pub upstreams: Upstreams,
    /// Whether the listener terminates TLS (for `x-forwarded-proto`).
    pub tls: bool,
    /// Becomes true when the shutdown grace is over: streams still running end now, each
    /// with a last error message, instead of being cut mid-air.
    pub streams_cut: watch::Receiver<bool>,
}

impl Gateway {
    pub fn new(
        plan: Arc<Plan>,
        upstreams: Upstreams,
        tls: bool,
        streams_cut: watch::Receiver<bool>,
    ) -> Arc<Self> {
        Arc::new(Self {
            plan,
            upstreams,
            tls,
            streams_cut,
        })
    }
}
