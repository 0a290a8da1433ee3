//! A response body that keeps its request counted on the connection until the body is
//! finished or dropped, and tells the two apart: a response dropped before its end was
//! abandoned by the client (a reset), which is what premature-reset counting needs.

use std::cell::Cell;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::client_connection::RequestGuard;

pub struct TrackedBody {
    inner: Body,
    guard: RequestGuard,
    /// Set once the inner body said it has ended (checked through `&self` by hyper).
    ended: Cell<bool>,
}

impl TrackedBody {
    pub fn new(inner: Body, guard: RequestGuard) -> Self {
        Self {
            inner,
            guard,
            ended: Cell::new(false),
        }
    }
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.guard.complete();
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

impl Drop for TrackedBody {
    fn drop(&mut self) {
        if self.ended.get() {
            self.guard.complete();
        }
    }
}
