//! The gateway proper: everything loaded at start-up (`Plan`, built offline, shared by
//! `serve`, `check` and `routes`) plus the live upstream channels, and the request handler
//! that walks a request through routing, transcoding, the upstream call and error mapping.

mod handler;
mod in_flight;
mod input;
mod plan;
mod request_body;
mod unary;

use std::sync::Arc;

use tokio::sync::watch;

pub use handler::{CallSetup, handle};
pub use in_flight::InFlightLimit;
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
    /// `max_in_flight`, shared by every worker; `worker` is this one's index.
    pub in_flight: Arc<InFlightLimit>,
    pub worker: usize,
}

impl Gateway {
    pub fn new(
        plan: Arc<Plan>,
        upstreams: Upstreams,
        tls: bool,
        streams_cut: watch::Receiver<bool>,
        (in_flight, worker): (Arc<InFlightLimit>, usize),
    ) -> Arc<Self> {
        Arc::new(Self {
            plan,
            upstreams,
            tls,
            streams_cut,
            in_flight,
            worker,
        })
    }
}
