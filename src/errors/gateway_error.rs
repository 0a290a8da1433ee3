//! `GatewayError`: the one error type request handling returns, gateway-side or from the
//! gRPC backend, and its rendering into the gateway's single JSON error response.
//!
//! Guarantees:
//! - the HTTP status is the gRPC code's (see `status_map`) unless explicitly overridden
//!   (405 and 413 are the only built-in overrides);
//! - the body is always `application/json` in the `error_body` shape; extra headers can never
//!   replace the `Content-Type`;
//! - UNAUTHENTICATED responses carry `WWW-Authenticate: Bearer realm="h2gate"` unless the error
//!   already carries a `WWW-Authenticate` (e.g. copied from the backend), which then wins;
//! - rendering never panics.

use std::fmt;

use axum::body::Body;
use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use prost_reflect::{DescriptorPool, SerializeOptions};
use serde_json::Value;
use tonic::Code;

use super::business_codes::BusinessCodes;
use super::details::{bad_request_detail, decode_status_details};
use super::error_body::ErrorBody;
use super::rejection::Rejection;
use super::status_map::{code_name, http_status_for_code};

const DEFAULT_WWW_AUTHENTICATE: &str = r#"Bearer realm="h2gate""#;

/// An error on its way to the client. Build with a constructor, refine with `with_*`, render
/// with [`GatewayError::into_response`]. Boxed: it travels in every `Result` of the request
/// path, and the happy path should not pay for moving its headers around.
#[derive(Debug, Clone)]
pub struct GatewayError(Box<ErrorParts>);

#[derive(Debug, Clone)]
struct ErrorParts {
    code: Code,
    message: String,
    detail: Option<String>,
    details: Vec<Value>,
    http_status: Option<StatusCode>,
    headers: HeaderMap,
    /// Set when a limit or check of the gateway's own turned the request away.
    rejection: Option<Rejection>,
    /// The code is how the gRPC call ended (the backend's status, or the call's failure to
    /// reach it), not a failure before or after the call.
    call_status: bool,
}

impl GatewayError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        GatewayError(Box::new(ErrorParts {
            code,
            message: message.into(),
            detail: None,
            details: Vec::new(),
            http_status: None,
            headers: HeaderMap::new(),
            rejection: None,
            call_status: false,
        }))
    }

    /// The client's request is malformed (a backend's INVALID_ARGUMENT comes through
    /// `from_status` instead, and is not the gateway's rejection).
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message).rejected(Rejection::BadRequest)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// No configured route matches the request path.
    pub fn route_not_found(path: &str) -> Self {
        Self::not_found(format!("no route matches path {path:?}"))
    }

    /// A route matches the path but not the method: UNIMPLEMENTED rendered as HTTP 405, with an
    /// `Allow` header listing `allowed` (deduplicated, in the given order).
    pub fn method_not_allowed(allowed: &[Method]) -> Self {
        let mut names: Vec<&str> = Vec::with_capacity(allowed.len());
        for method in allowed {
            if !names.contains(&method.as_str()) {
                names.push(method.as_str());
            }
        }
        let list = names.join(", ");
        let message = if list.is_empty() {
            "method not allowed for this path".to_string()
        } else {
            format!("method not allowed for this path; allowed: {list}")
        };
        let error = Self::new(Code::Unimplemented, message)
            .with_http_status(StatusCode::METHOD_NOT_ALLOWED);
        // Method names are HTTP tokens, so this only fails for a malformed extension method;
        // the header is then left out rather than failing the response.
        match HeaderValue::from_str(&list) {
            Ok(value) => error.with_header(ALLOW, value),
            Err(_) => error,
        }
    }

    /// The request body exceeds the configured limit: INVALID_ARGUMENT rendered as HTTP 413.
    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::invalid_argument(format!(
            "request body exceeds the limit of {limit_bytes} bytes"
        ))
        .with_http_status(StatusCode::PAYLOAD_TOO_LARGE)
        .rejected(Rejection::BodyTooLarge)
    }

    /// 408 for a request (or a streamed message) that did not arrive within `timeout`.
    pub fn request_timed_out(timeout: std::time::Duration) -> Self {
        Self::new(
            Code::DeadlineExceeded,
            format!(
                "the request did not arrive within {} ms",
                timeout.as_millis()
            ),
        )
        .with_http_status(StatusCode::REQUEST_TIMEOUT)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Code::Unavailable, message)
    }

    /// Shed for load (a limit of the gateway's own): UNAVAILABLE with `Retry-After: 1`, so
    /// clients back off briefly and try again.
    pub fn overloaded(message: impl Into<String>) -> Self {
        Self::unavailable(message)
            .with_header(RETRY_AFTER, HeaderValue::from_static("1"))
            .rejected(Rejection::Overload)
    }

    /// An upstream's circuit breaker (`max_in_flight`) is open: shed like `overloaded`.
    pub fn circuit_open(message: impl Into<String>) -> Self {
        Self::overloaded(message).rejected(Rejection::CircuitOpen)
    }

    /// Marks the error as the gateway's own rejection of the request, for `reason`.
    pub fn rejected(mut self, reason: Rejection) -> Self {
        self.0.rejection = Some(reason);
        self
    }

    pub fn rejection(&self) -> Option<Rejection> {
        self.0.rejection
    }

    pub fn deadline_exceeded(message: impl Into<String>) -> Self {
        Self::new(Code::DeadlineExceeded, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }

    /// INVALID_ARGUMENT with one `google.rpc.BadRequest` detail listing every
    /// `(field, description)` violation; the message summarises them for humans.
    pub fn bad_request(violations: Vec<(String, String)>) -> Self {
        let summary = violations
            .iter()
            .map(|(field, description)| format!("{field}: {description}"))
            .collect::<Vec<_>>()
            .join("; ");
        let message = if summary.is_empty() {
            "invalid request".to_string()
        } else {
            format!("invalid request: {summary}")
        };
        let detail = bad_request_detail(&violations);
        Self::invalid_argument(message).with_details(vec![detail])
    }

    /// A backend's non-OK status: its code, its (already percent-decoded by tonic) message and
    /// the details decoded from `grpc-status-details-bin` (see `details`). Backend metadata is
    /// not copied here; the handler adds the headers it wants with [`Self::with_header`].
    pub fn from_status(
        status: &tonic::Status,
        pool: &DescriptorPool,
        json: &SerializeOptions,
    ) -> Self {
        let mut error = Self::new(status.code(), status.message())
            .with_details(decode_status_details(status.details(), pool, json));
        error.0.call_status = true;
        error
    }

    /// The gRPC call's status code, when this error is how the call ended.
    pub fn call_status(&self) -> Option<Code> {
        self.0.call_status.then_some(self.0.code)
    }

    /// Free-text explanation, rendered as `"detail"`.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(detail.into());
        self
    }

    /// Appends structured details (each normally an object with `"@type"`).
    pub fn with_details(mut self, details: Vec<Value>) -> Self {
        self.0.details.extend(details);
        self
    }

    /// Adds a response header (appended, so repeated names keep every value). A `Content-Type`
    /// added here is ignored at rendering: the body is always JSON.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.append(name, value);
        self
    }

    /// Renders with `status` instead of the gRPC code's HTTP status.
    pub fn with_http_status(mut self, status: StatusCode) -> Self {
        self.0.http_status = Some(status);
        self
    }

    pub fn code(&self) -> Code {
        self.0.code
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }

    pub fn details(&self) -> &[Value] {
        &self.0.details
    }

    /// The HTTP status the response will have (override, else the gRPC code's).
    pub fn http_status(&self) -> StatusCode {
        self.0
            .http_status
            .unwrap_or_else(|| http_status_for_code(self.0.code))
    }

    /// The JSON error response. Never panics.
    pub fn into_response(mut self, codes: &BusinessCodes) -> Response<Body> {
        let status = self.http_status();
        let body = self.to_json(codes);

        let code = self.0.code;
        let mut headers = std::mem::take(&mut self.0.headers);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if code == Code::Unauthenticated && !headers.contains_key(WWW_AUTHENTICATE) {
            headers.insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(DEFAULT_WWW_AUTHENTICATE),
            );
        }

        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

impl GatewayError {
    /// The `ErrorResponse` JSON alone, for errors that travel inside a stream (an NDJSON
    /// `{"error": ...}` line, an SSE `error` event, a WebSocket message).
    pub fn to_json(&self, codes: &BusinessCodes) -> Vec<u8> {
        ErrorBody {
            code: codes.get(self.0.code),
            message: &self.0.message,
            status: code_name(self.0.code),
            detail: self.0.detail.as_deref(),
            details: &self.0.details,
        }
        .to_json()
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", code_name(self.0.code), self.0.message)?;
        if let Some(detail) = &self.0.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl std::error::Error for GatewayError {}

#[cfg(test)]
#[path = "gateway_error_tests.rs"]
mod tests;
