//! The tower layer that observes every request on the public listener: it counts the request
//! as active from its head until its response body has ended (or was dropped: a client that
//! went away), then records its duration under the route's labels.
//!
//! It sits outermost, so the duration covers every other layer, and a request turned away by
//! one of them (a header check, a panic caught) is counted too.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::{Method, Request, Response};
use http_body::{Frame, SizeHint};
use tower::{Layer, Service};

use super::exchange::Exchange;
use super::metrics::Metrics;

/// What `http_route` says for a request no route matched.
const UNMATCHED: &str = "unmatched";

#[derive(Clone)]
pub struct ObserveLayer {
    metrics: Arc<Metrics>,
    /// The built-in endpoints' paths (`/healthz`, ...): the route of a request for one of
    /// them is its path; any other path without a route is `unmatched`.
    builtin: Arc<[&'static str]>,
}

impl ObserveLayer {
    pub fn new(metrics: Arc<Metrics>, builtin: Vec<&'static str>) -> Self {
        Self {
            metrics,
            builtin: builtin.into(),
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
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = ObservedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let exchange = Exchange::new();
        request.extensions_mut().insert(Arc::clone(&exchange));
        self.layer.metrics.active_requests.inc();
        let builtin_path = self
            .layer
            .builtin
            .iter()
            .find(|path| **path == request.uri().path())
            .copied();
        let record = Record {
            metrics: Arc::clone(&self.layer.metrics),
            exchange,
            started: Instant::now(),
            method: method_label(request.method()),
            builtin_path,
            status: None,
        };
        ObservedFuture {
            inner: self.inner.call(request),
            record: Some(record),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct ObservedFuture<F> {
        #[pin]
        inner: F,
        record: Option<Record>,
    }
}

impl<F, E, B> Future for ObservedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ObservedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        // An error here closes the connection (axum's services never fail); the record is
        // dropped, and counts, with no status.
        let mut record = this.record.take();
        Poll::Ready(result.map(|response| {
            if let Some(record) = &mut record {
                record.status = Some(response.status());
            }
            response.map(|body| ObservedBody {
                inner: body,
                _record: record,
            })
        }))
    }
}

pin_project_lite::pin_project! {
    /// The response body, carrying the request's record until it has been sent or dropped.
    pub struct ObservedBody<B> {
        #[pin]
        inner: B,
        _record: Option<Record>,
    }
}

impl<B: http_body::Body> http_body::Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One request as observed; recorded when dropped (with its response body, or with the
/// request if no response came).
struct Record {
    metrics: Arc<Metrics>,
    exchange: Arc<Exchange>,
    started: Instant,
    method: &'static str,
    builtin_path: Option<&'static str>,
    status: Option<http::StatusCode>,
}

impl Drop for Record {
    fn drop(&mut self) {
        let metrics = &self.metrics;
        metrics.active_requests.dec();
        if let Some(reason) = self.exchange.rejection() {
            metrics.rejected(reason);
        }
        let (http_route, rpc_service, rpc_method) = match self.exchange.route() {
            Some(route) => (
                &*route.names.http_route,
                &*route.names.rpc_service,
                &*route.names.rpc_method,
            ),
            None => (self.builtin_path.unwrap_or(UNMATCHED), "", ""),
        };
        let status = self.status.as_ref().map_or("", http::StatusCode::as_str);
        let grpc_code = self.exchange.grpc_code().map_or("", grpc_code_label);
        let labels = [
            self.method,
            http_route,
            status,
            rpc_service,
            rpc_method,
            grpc_code,
        ];
        metrics
            .request_duration
            .with_label_values(&labels)
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// The method as the semantic conventions label it: the standard ones by name, any other as
/// `_OTHER` (clients choose methods, and labels must stay a bounded set).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
    ];
    let name = method.as_str();
    KNOWN
        .iter()
        .find(|known| **known == name)
        .copied()
        .unwrap_or("_OTHER")
}

/// A gRPC status code as its number, without formatting.
fn grpc_code_label(code: u8) -> &'static str {
    const LABELS: [&str; 17] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    LABELS.get(usize::from(code)).copied().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_ones_are_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::TRACE), "TRACE");
        let custom = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(method_label(&custom), "_OTHER");
    }

    #[test]
    fn grpc_codes_label_as_numbers() {
        assert_eq!(grpc_code_label(0), "0");
        assert_eq!(grpc_code_label(16), "16");
        assert_eq!(grpc_code_label(17), "");
    }
}
