//! Cancelling a young upstream call without tripping the backend's reset guard.
//!
//! A stock h2 server (tonic, hyper) answers more than a handful of streams reset before it
//! accepted them with GOAWAY ENHANCE_YOUR_CALM, which fails every call on the connection. A
//! gateway that passes each client cancellation straight on lets a few clients opening and
//! resetting streams (a rapid-reset pattern under h2's own per-connection guard) take the
//! shared upstream connection down for everyone. So a call cancelled within `GRACE` of being
//! sent keeps its stream until `GRACE` has passed, by which time the backend has accepted it
//! (and a reset of an accepted stream is ordinary). Nothing more is read from it meanwhile.

use std::time::Duration;

use bytes::Bytes;
use h2::{Reason, SendStream};
use tokio::time::Instant;

/// How long after opening an upstream stream its reset may be sent.
pub const GRACE: Duration = Duration::from_millis(500);

/// One upstream stream's request half, kept so the stream is not reset too early.
pub struct StreamHold {
    send: Option<SendStream<Bytes>>,
    opened: Instant,
    finished: bool,
}

impl StreamHold {
    pub fn new(send: SendStream<Bytes>, opened: Instant) -> Self {
        Self {
            send: Some(send),
            opened,
            finished: false,
        }
    }

    /// The call is over (its response ended, or it failed): dropping it resets nothing.
    pub fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for StreamHold {
    fn drop(&mut self) {
        let Some(send) = self.send.take() else {
            return;
        };
        if self.finished {
            return;
        }
        let until = self.opened + GRACE;
        if Instant::now() >= until {
            return; // dropping it resets the stream now
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                tokio::time::sleep_until(until).await;
                drop(send);
            });
        }
    }
}

/// Resets a request stream (the client abandoned the call), once it is old enough.
pub async fn reset_when_old_enough(mut send: SendStream<Bytes>, opened: Instant) {
    tokio::time::sleep_until(opened + GRACE).await;
    send.send_reset(Reason::CANCEL);
}
