//! Checks on a request's head that hyper leaves to the application, answered in the one
//! error shape: an HTTP/1.1 request must carry exactly one `Host` (RFC 9112 §3.2: 400
//! otherwise, and the connection closes, since two parties could disagree on the target);
//! headers larger than `[limits] max_header_bytes` get 431 and a URI longer than it 414, with
//! an ErrorResponse body. (hyper refuses heads beyond twice the limit itself, without a body.)

use std::task::{Context, Poll};

use axum::body::Body;
use futures_util::future::Either;
use http::header::{CONNECTION, HOST};
use http::{HeaderValue, Request, Response, StatusCode, Version};
use tower::{Layer, Service};

use crate::errors::{BusinessCodes, GatewayError};

/// The per-field overhead HTTP/2 counts in a header list's size (RFC 9113 §6.5.2).
const FIELD_OVERHEAD: usize = 32;

#[derive(Debug, Clone, Copy)]
pub struct HeadChecksLayer {
    max_header_bytes: usize,
    codes: BusinessCodes,
}

impl HeadChecksLayer {
    pub fn new(max_header_bytes: u32, codes: BusinessCodes) -> Self {
        Self {
            max_header_bytes: max_header_bytes as usize,
            codes,
        }
    }
}

impl<S> Layer<S> for HeadChecksLayer {
    type Service = HeadChecks<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HeadChecks {
            inner,
            config: *self,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HeadChecks<S> {
    inner: S,
    config: HeadChecksLayer,
}

impl<S> Service<Request<Body>> for HeadChecks<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<std::future::Ready<Result<Response<Body>, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        match self.config.problem(&request) {
            Some(problem) => Either::Left(std::future::ready(Ok(problem))),
            None => Either::Right(self.inner.call(request)),
        }
    }
}

impl HeadChecksLayer {
    fn problem<B>(&self, request: &Request<B>) -> Option<Response<Body>> {
        if request.version() == Version::HTTP_11 {
            let hosts = request.headers().get_all(HOST).iter().count();
            if hosts != 1 {
                let message = if hosts == 0 {
                    "an HTTP/1.1 request needs a Host header"
                } else {
                    "an HTTP/1.1 request may carry only one Host header"
                };
                let mut response =
                    GatewayError::invalid_argument(message).into_response(&self.codes);
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                return Some(response);
            }
        }
        let uri = request
            .uri()
            .path_and_query()
            .map_or(0, |p| p.as_str().len());
        if uri > self.max_header_bytes {
            let error = GatewayError::invalid_argument(format!(
                "the request URI is longer than {} bytes",
                self.max_header_bytes
            ))
            .with_http_status(StatusCode::URI_TOO_LONG);
            return Some(error.into_response(&self.codes));
        }
        let headers: usize = request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + FIELD_OVERHEAD)
            .sum();
        if headers > self.max_header_bytes {
            let error = GatewayError::invalid_argument(format!(
                "the request headers are larger than {} bytes",
                self.max_header_bytes
            ))
            .with_http_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
            return Some(error.into_response(&self.codes));
        }
        None
    }
}
