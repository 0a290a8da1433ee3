//! The gateway proper: everything loaded at start-up (`Plan`, built offline, shared by
//! `serve`, `check` and `routes`) plus the live upstream channels, and the request handler
//! that walks a request through routing, transcoding, the upstream call and error mapping.

mod handler;
mod in_flight;
mod plan;
mod request_body;
mod unary;

use std::sync::Arc;

use tokio::sync::watch;

pub use handler::handle;
pub use in_flight::InFlightLimit;
pub use plan::{Plan, problem_list};

use crate::streaming::StreamSettings;
use crate::upstream::Upstreams;

/// The state one worker serves with: the shared plan and that worker's own upstream
/// connections.
pub struct Gateway {
    pub plan: Arc<Plan>,
    pub upstreams: Upstreams,
    /// Whether the listener terminates TLS (for `x-forwarded-proto`).
    pub tls: bool,
    /// What this worker's streaming calls share (the plan's parts they use, and the
    /// shutdown's cut).
    pub streaming: Arc<StreamSettings>,
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
        let streaming = Arc::new(StreamSettings {
            transcoder: Arc::clone(&plan.transcoder),
            codes: plan.codes,
            max_body_bytes: plan.max_body_bytes,
            request_timeout: plan.request_timeout,
            streams_cut,
        });
        Arc::new(Self {
            plan,
            upstreams,
            tls,
            streaming,
            in_flight,
            worker,
        })
    }
}
