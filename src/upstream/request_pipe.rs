//! The request half of a streaming call: messages fed to the backend as its flow control
//! allows, then a half-close; a failing request stream (the client abandoned the upload)
//! resets the call instead, so the backend never mistakes a partial upload for a whole one.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use h2::{Reason, SendStream};
use tokio::time::Instant;
use tonic::Status;

use super::cancel_grace::reset_when_old_enough;
use super::framing::grpc_frame;

/// Feeds `requests` to the backend on `send` (opened at `opened`). Stops early when the
/// backend ends or resets the stream.
pub async fn pipe_requests<S>(requests: S, mut send: SendStream<Bytes>, opened: Instant)
where
    S: Stream<Item = Result<Bytes, Status>> + Send + 'static,
{
    let mut requests = std::pin::pin!(requests);
    loop {
        let next = tokio::select! {
            next = requests.next() => next,
            _ = std::future::poll_fn(|cx| send.poll_reset(cx)) => return,
        };
        match next {
            Some(Ok(message)) => {
                // Wait until the backend grants some window, like hyper's body pipe: at most
                // one message per stream is held beyond what the backend asked for.
                send.reserve_capacity(1);
                while send.capacity() == 0 {
                    match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => return,
                    }
                }
                let Ok(frame) = grpc_frame(&message) else {
                    send.send_reset(Reason::CANCEL);
                    return;
                };
                if send.send_data(frame, false).is_err() {
                    return;
                }
            }
            Some(Err(_)) => return reset_when_old_enough(send, opened).await,
            None => {
                let _ = send.send_data(Bytes::new(), true);
                return;
            }
        }
    }
}
