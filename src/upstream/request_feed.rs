//! The request side of a streaming call, fed message by message while the call runs.
//!
//! Ending the feed with `finish` half-closes the call (the client said it is done); dropping
//! the sender without `finish` makes the stream fail, which resets the HTTP/2 stream so the
//! backend sees a cancellation and never mistakes an abandoned upload for a complete one.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;
use tonic::Status;

/// The gateway's end of the feed.
pub struct RequestSender {
    tx: mpsc::Sender<Bytes>,
    finished: Arc<AtomicBool>,
}

/// The upstream call's end of the feed.
pub struct RequestStream {
    rx: mpsc::Receiver<Bytes>,
    finished: Arc<AtomicBool>,
    done: bool,
}

/// The call is over; nothing more can be sent.
#[derive(Debug)]
pub struct CallEnded;

/// A feed holding at most `capacity` messages in flight.
pub fn request_feed(capacity: usize) -> (RequestSender, RequestStream) {
    let (tx, rx) = mpsc::channel(capacity);
    let finished = Arc::new(AtomicBool::new(false));
    let sender = RequestSender {
        tx,
        finished: Arc::clone(&finished),
    };
    let stream = RequestStream {
        rx,
        finished,
        done: false,
    };
    (sender, stream)
}

impl RequestSender {
    /// Waits for room (backpressure from the backend), then queues `message`.
    pub async fn send(&self, message: Bytes) -> Result<(), CallEnded> {
        self.tx.send(message).await.map_err(|_| CallEnded)
    }

    /// Waits for room for one message without giving one up: cancelling the wait loses
    /// nothing, so the caller can keep doing other work meanwhile.
    pub async fn reserve(&self) -> Result<mpsc::Permit<'_, Bytes>, CallEnded> {
        self.tx.reserve().await.map_err(|_| CallEnded)
    }

    /// Half-closes the call after the messages already queued.
    pub fn finish(self) {
        self.finished.store(true, Ordering::Release);
    }
}

impl Stream for RequestStream {
    type Item = Result<Bytes, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(message)) => Poll::Ready(Some(Ok(message))),
            Poll::Ready(None) => {
                self.done = true;
                if self.finished.load(Ordering::Acquire) {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(Status::cancelled("the client went away"))))
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[tokio::test]
    async fn finish_ends_cleanly_and_drop_fails() {
        let (sender, mut stream) = request_feed(2);
        sender.send(Bytes::from_static(b"a")).await.unwrap();
        sender.finish();
        assert_eq!(stream.next().await.unwrap().unwrap(), "a");
        assert!(stream.next().await.is_none());

        let (sender, mut stream) = request_feed(2);
        drop(sender);
        let failed = stream.next().await.unwrap().unwrap_err();
        assert_eq!(failed.code(), tonic::Code::Cancelled);
        assert!(stream.next().await.is_none());
    }
}
