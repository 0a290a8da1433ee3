//! Counters that let gateway tests observe the demo's response streams from the backend side:
//! how many messages tonic actually pulled (backpressure: a stalled HTTP client must stop
//! production), and whether each stream ran to its end or was dropped early (cancellation must
//! reach the backend).
//!
//! A stream counts as *completed* once it has handed out its final item (the end of the stream,
//! or the error status that ends it); a stream dropped before that counts as *cancelled*. Every
//! tracked stream ends up in exactly one of the two.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio_stream::Stream;
use tonic::Status;

#[derive(Default)]
struct Counters {
    messages_sent: AtomicU64,
    streams_started: AtomicU64,
    streams_cancelled: AtomicU64,
    streams_completed: AtomicU64,
}

/// Shared view of the demo's response streams (StreamUsers, Download and Chat). Clones observe
/// the same counters.
#[derive(Clone, Default)]
pub struct StreamProbe {
    counters: Arc<Counters>,
}

impl fmt::Debug for StreamProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamProbe")
            .field("messages_sent", &self.messages_sent())
            .field("streams_started", &self.streams_started())
            .field("streams_cancelled", &self.streams_cancelled())
            .field("streams_completed", &self.streams_completed())
            .finish()
    }
}

impl StreamProbe {
    /// All counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Messages handed to the transport, counted when tonic pulls them from a stream.
    pub fn messages_sent(&self) -> u64 {
        self.counters.messages_sent.load(Ordering::SeqCst)
    }

    /// Response streams created by a successful call.
    pub fn streams_started(&self) -> u64 {
        self.counters.streams_started.load(Ordering::SeqCst)
    }

    /// Streams dropped before handing out their final item (client cancel, reset, disconnect).
    pub fn streams_cancelled(&self) -> u64 {
        self.counters.streams_cancelled.load(Ordering::SeqCst)
    }

    /// Streams that handed out their final item (normal end or terminal error status).
    pub fn streams_completed(&self) -> u64 {
        self.counters.streams_completed.load(Ordering::SeqCst)
    }

    /// Counts `inner` as started and tracks its messages and its end.
    pub(super) fn track<T>(
        &self,
        inner: impl Stream<Item = Result<T, Status>> + Send + 'static,
    ) -> ProbedStream<T> {
        self.counters.streams_started.fetch_add(1, Ordering::SeqCst);
        ProbedStream {
            inner: Box::pin(inner),
            probe: self.clone(),
            finished: false,
        }
    }
}

/// A response stream reporting to a [`StreamProbe`]; its `Drop` is the cancellation guard.
pub(super) struct ProbedStream<T> {
    inner: Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>,
    probe: StreamProbe,
    finished: bool,
}

impl<T> ProbedStream<T> {
    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.probe
                .counters
                .streams_completed
                .fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl<T> Stream for ProbedStream<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        let next = match this.inner.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(next) => next,
        };
        match &next {
            Some(Ok(_)) => {
                this.probe
                    .counters
                    .messages_sent
                    .fetch_add(1, Ordering::SeqCst);
            }
            // tonic stops polling after an error: it is the stream's last item.
            Some(Err(_)) | None => this.finish(),
        }
        Poll::Ready(next)
    }
}

impl<T> Drop for ProbedStream<T> {
    fn drop(&mut self) {
        if !self.finished {
            self.probe
                .counters
                .streams_cancelled
                .fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;

    use super::*;

    fn counts(probe: &StreamProbe) -> [u64; 4] {
        [
            probe.messages_sent(),
            probe.streams_started(),
            probe.streams_completed(),
            probe.streams_cancelled(),
        ]
    }

    fn items(n: u32, then_fail: bool) -> impl Stream<Item = Result<u32, Status>> + Send + 'static {
        let fail = then_fail.then(|| Err(Status::internal("boom")));
        tokio_stream::iter((0..n).map(Ok).chain(fail))
    }

    #[tokio::test]
    async fn stream_read_to_the_end_completes() {
        let probe = StreamProbe::new();
        let mut stream = probe.track(items(3, false));
        assert_eq!(counts(&probe), [0, 1, 0, 0]);
        while stream.next().await.is_some() {}
        drop(stream);
        assert_eq!(counts(&probe), [3, 1, 1, 0]);
    }

    #[tokio::test]
    async fn terminal_error_completes_without_counting_a_message() {
        let probe = StreamProbe::new();
        let mut stream = probe.track(items(2, true));
        let mut results = Vec::new();
        while let Some(item) = stream.next().await {
            results.push(item.is_ok());
        }
        assert_eq!(results, [true, true, false]);
        drop(stream);
        assert_eq!(counts(&probe), [2, 1, 1, 0]);
    }

    #[tokio::test]
    async fn dropping_early_cancels_and_clones_share_counters() {
        let probe = StreamProbe::new();
        let observer = probe.clone();
        let mut stream = probe.track(items(5, false));
        assert!(matches!(stream.next().await, Some(Ok(0))));
        drop(stream);
        assert_eq!(counts(&observer), [1, 1, 0, 1]);
        drop(probe.track(items(1, false)));
        assert_eq!(
            counts(&observer),
            [1, 2, 0, 2],
            "never polled is cancelled too"
        );
    }
}
