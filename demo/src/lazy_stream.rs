//! Response streams that are produced on demand. Each item is computed only when the transport
//! polls for it, so HTTP/2 flow control (a slow or stalled reader) directly stops production:
//! nothing is pre-built, buffered or spawned, and dropping the stream drops the work in progress
//! (a pending sleep or read) with it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_stream::Stream;
use tonic::Status;

/// What the demo services hand to tonic for server-streaming methods.
pub type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// A stream driven by `step`: each poll for a new item runs `step(state)` to completion, which
/// yields the item plus the next state, or `None` to end the stream.
pub struct Unfold<St, F, Fut> {
    state: Option<St>,
    step: F,
    pending: Option<Pin<Box<Fut>>>,
}

// The step future is boxed and neither `state` nor `step` is ever pinned in place, so moving an
// `Unfold` is fine whatever its parameters are.
impl<St, F, Fut> Unpin for Unfold<St, F, Fut> {}

/// Starts an [`Unfold`] at `initial`.
pub fn unfold<St, F, Fut, T>(initial: St, step: F) -> Unfold<St, F, Fut>
where
    F: FnMut(St) -> Fut,
    Fut: Future<Output = Option<(T, St)>>,
{
    Unfold {
        state: Some(initial),
        step,
        pending: None,
    }
}

impl<St, F, Fut, T> Stream for Unfold<St, F, Fut>
where
    F: FnMut(St) -> Fut,
    Fut: Future<Output = Option<(T, St)>>,
{
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if let Some(state) = this.state.take() {
            this.pending = Some(Box::pin((this.step)(state)));
        }
        let Some(pending) = this.pending.as_mut() else {
            return Poll::Ready(None);
        };
        let next = match pending.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(next) => next,
        };
        this.pending = None;
        Poll::Ready(next.map(|(item, state)| {
            this.state = Some(state);
            item
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio_stream::StreamExt;

    use super::*;

    #[tokio::test]
    async fn yields_until_step_returns_none_then_stays_ended() {
        let mut stream = unfold(0, |n| async move { (n < 3).then_some((n * 10, n + 1)) });
        let mut seen = Vec::new();
        while let Some(item) = stream.next().await {
            seen.push(item);
        }
        assert_eq!(seen, [0, 10, 20]);
        assert_eq!(stream.next().await, None, "fused after the end");
    }

    #[tokio::test]
    async fn steps_run_only_when_polled() {
        let steps = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&steps);
        let mut stream = unfold((), move |()| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Some(((), ())) }
        });
        assert_eq!(
            steps.load(Ordering::SeqCst),
            0,
            "nothing before the first poll"
        );
        stream.next().await;
        stream.next().await;
        assert_eq!(steps.load(Ordering::SeqCst), 2, "one step per item");
    }
}
