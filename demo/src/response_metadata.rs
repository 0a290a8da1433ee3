//! Stamps every demo gRPC response with a marker header and a marker trailer.
//!
//! tonic cannot attach custom trailers to a *successful* unary response (its encoder always ends
//! the body with a bare `grpc-status: 0` trailer block), so this works one level down, on the
//! HTTP response: the header goes into the response head, and the trailer is added to the body's
//! trailers frame. For trailers-only responses (tonic's error path: `grpc-status` in the head and
//! no body) the head *is* the trailer block, so the trailer goes there.

use std::convert::Infallible;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::BodyExt;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service};
use tonic::server::NamedService;

/// Response header naming the server (lets tests see backend headers pass through the gateway).
pub const SERVED_BY_HEADER: &str = "x-served-by";
/// Value of [`SERVED_BY_HEADER`] (v1's; see [`super::DemoVersion::served_by`]).
pub const SERVED_BY_VALUE: &str = "h2gate-demo";
/// Trailer sent after every demo response.
pub const TRAILER_NAME: &str = "x-demo-trailer";
/// Value of [`TRAILER_NAME`].
pub const TRAILER_VALUE: &str = "done";

const GRPC_STATUS: &str = "grpc-status";

/// Wraps a generated tonic server (`UserServiceServer`, `GreeterServer`) and adds the markers.
#[derive(Debug, Clone)]
pub struct DemoResponseMetadata<S> {
    inner: S,
    served_by: &'static str,
}

impl<S> DemoResponseMetadata<S> {
    /// Wraps `inner`, naming the server [`SERVED_BY_VALUE`].
    pub fn new(inner: S) -> Self {
        Self::served_by(inner, SERVED_BY_VALUE)
    }

    /// Wraps `inner`, naming the server `served_by`.
    pub fn served_by(inner: S, served_by: &'static str) -> Self {
        Self { inner, served_by }
    }
}

impl<S: NamedService> NamedService for DemoResponseMetadata<S> {
    const NAME: &'static str = S::NAME;
}

fn add_trailer(map: &mut HeaderMap) {
    map.insert(
        HeaderName::from_static(TRAILER_NAME),
        HeaderValue::from_static(TRAILER_VALUE),
    );
}

impl<S> Service<http::Request<Body>> for DemoResponseMetadata<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let response = self.inner.call(request);
        let served_by = self.served_by;
        Box::pin(async move {
            let mut response = response.await?;
            response.headers_mut().insert(
                HeaderName::from_static(SERVED_BY_HEADER),
                HeaderValue::from_static(served_by),
            );
            if response.headers().contains_key(GRPC_STATUS) {
                add_trailer(response.headers_mut());
                return Ok(response);
            }
            Ok(response.map(|body| {
                Body::new(body.map_frame(|mut frame| {
                    if let Some(trailers) = frame.trailers_mut() {
                        add_trailer(trailers);
                    }
                    frame
                }))
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::future::{Ready, ready};

    use bytes::Bytes;
    use http_body_util::Full;

    use super::*;

    /// Stands in for a generated server: answers every call with `make()`.
    #[derive(Clone)]
    struct Fixed(fn() -> http::Response<Body>);

    impl Service<http::Request<Body>> for Fixed {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = Ready<Result<Self::Response, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<Body>) -> Self::Future {
            ready(Ok((self.0)()))
        }
    }

    async fn run(make: fn() -> http::Response<Body>) -> (HeaderMap, Bytes, Option<HeaderMap>) {
        let mut svc = DemoResponseMetadata::new(Fixed(make));
        let response = svc
            .call(http::Request::new(Body::empty()))
            .await
            .unwrap_or_else(|never| match never {});
        let (parts, body) = response.into_parts();
        let collected = body.collect().await.expect("body");
        let trailers = collected.trailers().cloned();
        (parts.headers, collected.to_bytes(), trailers)
    }

    #[tokio::test]
    async fn body_with_trailers_gets_header_and_trailer() {
        let (headers, data, trailers) = run(|| {
            let mut status = HeaderMap::new();
            status.insert(GRPC_STATUS, HeaderValue::from_static("0"));
            let body = Full::new(Bytes::from_static(b"msg"))
                .with_trailers(std::future::ready(Some(Ok(status))));
            http::Response::new(Body::new(body))
        })
        .await;
        assert_eq!(
            headers.get(SERVED_BY_HEADER),
            Some(&HeaderValue::from_static(SERVED_BY_VALUE))
        );
        assert_eq!(
            headers.get(TRAILER_NAME),
            None,
            "trailer stays out of the head"
        );
        assert_eq!(data, Bytes::from_static(b"msg"));
        let trailers = trailers.expect("trailers frame");
        assert_eq!(
            trailers.get(TRAILER_NAME),
            Some(&HeaderValue::from_static(TRAILER_VALUE))
        );
        assert_eq!(
            trailers.get(GRPC_STATUS),
            Some(&HeaderValue::from_static("0"))
        );
    }

    #[tokio::test]
    async fn trailers_only_response_gets_both_in_the_head() {
        let (headers, data, trailers) = run(|| {
            let mut response = http::Response::new(Body::empty());
            response
                .headers_mut()
                .insert(GRPC_STATUS, HeaderValue::from_static("5"));
            response
        })
        .await;
        assert_eq!(
            headers.get(SERVED_BY_HEADER),
            Some(&HeaderValue::from_static(SERVED_BY_VALUE))
        );
        assert_eq!(
            headers.get(TRAILER_NAME),
            Some(&HeaderValue::from_static(TRAILER_VALUE))
        );
        assert!(data.is_empty());
        assert_eq!(trailers, None);
    }
}
