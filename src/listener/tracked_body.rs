//! A response body that keeps its request counted on the connection until the body is
//! finished or dropped, and tells the two apart: a response dropped before its end was
//! abandoned by the client (a reset), which is what premature-reset counting needs.
//!
//! It also accounts for what the client has not taken yet: a chunk handed to hyper stays
//! charged to the connection's buffer until hyper asks for the next one (hyper asks only once
//! the client's flow-control window has room). For a streaming response (`ClientPaced`) the
//! chunk's waiting time is on the stream's clock: a client that takes nothing for the
//! stream's idle timeout gets its connection closed (`StallClock`).

use std::cell::Cell;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::client_connection::{ClientConnection, RequestGuard, StallClock};

/// Marks a streaming response: the client's reading sets its pace.
#[derive(Debug, Clone, Copy)]
pub struct ClientPaced {
    /// How long a client may leave a chunk unread before its connection is closed.
    pub idle_timeout: Duration,
    /// What a chunk may weigh without a charge of its own (the call reserved it up front).
    pub prepaid: usize,
}

/// Something a response keeps alive until it has been sent whole, or abandoned (a permit that
/// counts the request against a limit).
/// (Response extensions must be `Clone`, hence the `Arc`.)
#[derive(Clone)]
pub struct HeldUntilSent {
    _held: Arc<dyn std::any::Any + Send + Sync>,
}

impl HeldUntilSent {
    pub fn new(held: impl std::any::Any + Send + Sync) -> Self {
        Self {
            _held: Arc::new(held),
        }
    }
}

pub struct TrackedBody<B = Body> {
    inner: B,
    _held: Option<HeldUntilSent>,
    guard: RequestGuard,
    connection: Arc<ClientConnection>,
    /// Bytes charged for the chunk hyper holds now.
    charged: usize,
    paced: Option<(ClientPaced, Arc<StallClock>)>,
    /// Set once the inner body said it has ended (checked through `&self` by hyper).
    ended: Cell<bool>,
}

impl<B> TrackedBody<B> {
    pub fn new(
        inner: B,
        guard: RequestGuard,
        connection: Arc<ClientConnection>,
        (paced, held): (Option<ClientPaced>, Option<HeldUntilSent>),
    ) -> Self {
        let paced = paced.map(|paced| (paced, connection.watch_stall(paced.idle_timeout)));
        Self {
            inner,
            _held: held,
            guard,
            connection,
            charged: 0,
            paced,
            ended: Cell::new(false),
        }
    }

    fn settle(&mut self) {
        if self.charged > 0 {
            self.connection.buffer().release_chunk(self.charged);
            self.charged = 0;
        }
    }
}

impl<B> http_body::Body for TrackedBody<B>
where
    B: http_body::Body<Data = Bytes, Error = axum::Error> + Unpin,
{
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        // Asked again: the previous chunk has gone on towards the client.
        self.settle();
        if let Some((_, clock)) = &self.paced {
            clock.taken();
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let mut charge = data.len();
                    if let Some((paced, clock)) = &self.paced {
                        clock.handed_over();
                        charge = charge.saturating_sub(paced.prepaid);
                    }
                    self.connection.buffer().charge_chunk(charge);
                    self.charged = charge;
                }
            }
            Poll::Ready(None) => self.guard.complete(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let ended = self.inner.is_end_stream();
        if ended {
            self.ended.set(true);
        }
        ended
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for TrackedBody<B> {
    fn drop(&mut self) {
        self.settle();
        if let Some((_, clock)) = &self.paced {
            clock.taken();
        }
        if self.ended.get() {
            self.guard.complete();
        }
    }
}
