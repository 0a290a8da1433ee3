//! What streaming calls need of the gateway they run in: one per worker, shared by its calls,
//! so the streaming paths never reach back into the gateway.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::errors::{BusinessCodes, GatewayError};
use crate::transcoding::Transcoder;

pub struct StreamSettings {
    pub transcoder: Arc<Transcoder>,
    /// For error lines written into a stream already under way.
    pub codes: BusinessCodes,
    /// The largest request message (an NDJSON line, a WebSocket message).
    pub max_body_bytes: usize,
    /// Each streamed request message must arrive within this.
    pub request_timeout: Duration,
    /// Becomes true when the shutdown grace is over: streams still running end now, each
    /// with a last error message, instead of being cut mid-air.
    pub streams_cut: watch::Receiver<bool>,
}

impl StreamSettings {
    /// A backend status as the gateway's error, with the backend's metadata.
    pub fn status_error(&self, status: &tonic::Status) -> GatewayError {
        crate::upstream::status_error(&self.transcoder, status)
    }
}
