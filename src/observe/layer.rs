//! The tower layer that observes every request on the public listener. It opens the
//! request's `Exchange` (counted in `http_server_active_requests` from then on), counts the
//! body bytes both ways, and notes the response's status and request id; the exchange is
//! recorded once everyone who served it has let it go (see `exchange`).
//!
//! It sits outermost, so the duration covers every other layer, and a request turned away by
//! one of them (a header check, a panic caught) is counted too.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Instant, SystemTime};

use bytes::Buf;
use http::{HeaderName, Request, Response};
use http_body::{Frame, SizeHint};
use tower::{Layer, Service};

use super::exchange::{Arrival, Exchange};
use super::record::Recorder;
use super::traces::RequestTrace;
use crate::listener::ClientConnection;

#[derive(Clone)]
pub struct ObserveLayer {
    recorder: Recorder,
    /// The built-in endpoints' paths (`/healthz`, ...): the route of a request for one of
    /// them is its path; any other path without a route is `unmatched`.
    builtin: Arc<[&'static str]>,
    /// The header the request id travels in.
    request_id: HeaderName,
}

impl ObserveLayer {
    pub fn new(recorder: Recorder, builtin: Vec<&'static str>, request_id: HeaderName) -> Self {
        Self {
            recorder,
            builtin: builtin.into(),
            request_id,
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    layer: ObserveLayer,
}

impl<S, B, ResBody> Service<Request<B>> for Observe<S>
where
    S: Service<Request<CountedBody<B>>, Response = Response<ResBody>>,
{
    type Response = Response<CountedBody<ResBody>>;
    type Error = S::Error;
    type Future = ObservedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let layer = &self.layer;
        let (mut parts, body) = request.into_parts();
        let path = parts.uri.path();
        let logs = layer.recorder.logs();
        let arrived = Arrival {
            started: Instant::now(),
            time: SystemTime::now(),
            method: parts.method.clone(),
            path: logs.then(|| path.into()),
            // The exchange carries the connection from here on (one extension fewer per
            // request: four outgrow the extension map's first allocation).
            connection: parts.extensions.remove::<Arc<ClientConnection>>(),
            builtin: layer.builtin.iter().find(|known| **known == path).copied(),
        };
        let trace = layer
            .recorder
            .tracer()
            .map(|tracer| RequestTrace::begin(tracer, &parts.headers));
        layer.recorder.metrics().active_requests.inc();
        let exchange = Exchange::new(Some(layer.recorder.clone()), arrived, trace);
        parts.extensions.insert(Arc::clone(&exchange));
        let body = CountedBody {
            inner: body,
            exchange: Arc::clone(&exchange),
            incoming: true,
        };
        ObservedFuture {
            inner: self.inner.call(Request::from_parts(parts, body)),
            exchange,
            // Only the access log and traces show it.
            request_id: (logs || layer.recorder.tracer().is_some())
                .then(|| layer.request_id.clone()),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct ObservedFuture<F> {
        #[pin]
        inner: F,
        exchange: Arc<Exchange>,
        // The header the request id travels in, when it is recorded.
        request_id: Option<HeaderName>,
    }
}

impl<F, E, B> Future for ObservedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<CountedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        // An error closes the connection (axum's services never fail): the exchange goes,
        // and is recorded, without a status.
        Poll::Ready(result.map(|response| {
            let request_id = this
                .request_id
                .as_ref()
                .and_then(|name| response.headers().get(name));
            this.exchange.set_response(response.status(), request_id);
            response.map(|body| CountedBody {
                inner: body,
                exchange: Arc::clone(this.exchange),
                incoming: false,
            })
        }))
    }
}

pin_project_lite::pin_project! {
    /// A body counted into its exchange as it flows (the request's or the response's), which
    /// it keeps alive until dropped.
    pub struct CountedBody<B> {
        #[pin]
        inner: B,
        exchange: Arc<Exchange>,
        incoming: bool,
    }
}

impl<B: http_body::Body> http_body::Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            if *this.incoming {
                this.exchange.add_bytes_in(data.remaining());
            } else {
                this.exchange.add_bytes_out(data.remaining());
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
