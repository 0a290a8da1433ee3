//! Cancelling an upstream call without tripping the backend's reset guard.
//!
//! A stock h2 server (tonic, hyper) answers more than 20 streams reset before it accepted
//! them with GOAWAY ENHANCE_YOUR_CALM, which fails every call on the connection. A gateway
//! that passes each client cancellation straight on lets a few clients that open and reset
//! streams (a rapid-reset pattern kept under h2's own per-connection guard) take the shared
//! upstream connection down for everyone, all the more when the backend is busy and its
//! queue of streams not yet accepted is long.
//!
//! So a call abandoned before the backend answered keeps its stream until the backend's
//! response head arrives (proof the backend accepted the stream: resetting it then is
//! ordinary) or `HOLD_MAX` has passed; nothing is read from it meanwhile. A call abandoned
//! after its response head is reset at once.

use std::time::Duration;

use bytes::Bytes;
use h2::client::ResponseFuture;
use h2::{Reason, RecvStream, SendStream};
use tokio::time::Instant;

/// The longest an abandoned call waits for its response head before it is reset anyway.
pub const HOLD_MAX: Duration = Duration::from_secs(5);

/// A call waiting for its response head. Dropped before the head arrived, it keeps the stream
/// open (in a small task) until it does, or until `HOLD_MAX`.
pub struct PendingHead {
    response: Option<ResponseFuture>,
    /// The request half, when the call holds it (single-message calls).
    send: Option<SendStream<Bytes>>,
    opened: Instant,
}

impl PendingHead {
    pub fn new(response: ResponseFuture, send: Option<SendStream<Bytes>>, opened: Instant) -> Self {
        Self {
            response: Some(response),
            send,
            opened,
        }
    }

    /// The response head; once it has arrived the stream may be reset at any time.
    pub async fn arrived(&mut self) -> Result<http::Response<RecvStream>, h2::Error> {
        let Some(response) = &mut self.response else {
            return Err(h2::Error::from(Reason::INTERNAL_ERROR));
        };
        let head = response.await;
        self.response = None;
        self.send = None;
        head
    }
}

impl Drop for PendingHead {
    fn drop(&mut self) {
        let Some(response) = self.response.take() else {
            return;
        };
        let send = self.send.take();
        let until = self.opened + HOLD_MAX;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                // Whatever the answer, it is not wanted: dropping both halves then resets the
                // stream, which the backend has accepted by now.
                let _ = tokio::time::timeout_at(until, response).await;
                drop(send);
            });
        }
    }
}

/// How long an abandoned streaming call's request half waits before its reset, when nothing
/// tells it whether the backend has accepted the stream.
pub const STREAM_RESET_GRACE: Duration = Duration::from_millis(500);

/// Resets a request stream (the client abandoned the call), once it is old enough.
pub async fn reset_when_old_enough(mut send: SendStream<Bytes>, opened: Instant) {
    tokio::time::sleep_until(opened + STREAM_RESET_GRACE).await;
    send.send_reset(Reason::CANCEL);
}
