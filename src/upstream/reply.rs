//! A backend's answer as the HTTP answer: a reply message's rendered body with the backend's
//! headers and trailers as `Grpc-Metadata-*` / `Grpc-Trailer-*`, or a non-OK status as the
//! gateway's error with the backend's metadata. Shared by the unary and streaming paths.

use axum::body::Body;
use axum::response::Response;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue};
use tonic::metadata::MetadataMap;

use super::call::Attempts;
use super::metadata::copy_to_response;
use crate::errors::GatewayError;
use crate::transcoding::{RenderedBody, Transcoder};

/// One reply message as the HTTP response, with its metadata as headers.
pub fn reply_response(
    rendered: RenderedBody,
    headers: &MetadataMap,
    trailers: &MetadataMap,
) -> Response {
    let mut response = Response::new(Body::from(rendered.body));
    let out = response.headers_mut();
    out.insert(CONTENT_TYPE, rendered.content_type);
    copy_to_response(headers, false, out);
    copy_to_response(trailers, true, out);
    response
}

/// A backend status as the gateway's error, with its metadata as `Grpc-Metadata-*`.
pub fn status_error(transcoder: &Transcoder, status: &tonic::Status) -> GatewayError {
    let mut headers = HeaderMap::new();
    copy_to_response(status.metadata(), false, &mut headers);
    let mut error = transcoder.status_error(status);
    for (name, value) in &headers {
        error = error.with_header(name.clone(), value.clone());
    }
    error
}

/// How many times the call was sent, when more than once (a retry, or a call the backend left
/// unprocessed), for clients and operators.
pub const ATTEMPTS_HEADER: HeaderName = HeaderName::from_static("x-h2gate-attempts");

/// `x-h2gate-attempts` for `attempts`, if the call took more than one.
pub fn attempts_header(attempts: &Attempts) -> Option<(HeaderName, HeaderValue)> {
    (attempts.count > 1).then(|| (ATTEMPTS_HEADER, HeaderValue::from(attempts.count)))
}

/// `response` with `x-h2gate-attempts` when the call took more than one attempt.
pub fn with_attempts(mut response: Response, attempts: &Attempts) -> Response {
    if let Some((name, value)) = attempts_header(attempts) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// `error` with `x-h2gate-attempts` when the call took more than one attempt.
pub fn error_with_attempts(error: GatewayError, attempts: &Attempts) -> GatewayError {
    match attempts_header(attempts) {
        Some((name, value)) => error.with_header(name, value),
        None => error,
    }
}
