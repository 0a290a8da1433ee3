//! Tests for `GatewayError`: construction, backend status conversion and HTTP rendering.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde_json::json;

use super::*;
use crate::errors::details::BAD_REQUEST_TYPE_URL;
use crate::errors::details::tests::{bad_request_bytes, status_bytes, test_pool};
use crate::errors::status_map::ALL_CODES;

/// Status, headers and parsed JSON body of a rendered error.
fn render(error: GatewayError, codes: &BusinessCodes) -> (StatusCode, HeaderMap, Value) {
    let (parts, body) = error.into_response(codes).into_parts();
    // A body built from bytes is complete on the first poll, so no runtime is needed.
    let mut collect = pin!(axum::body::to_bytes(body, usize::MAX));
    let bytes = match collect
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Ok(bytes)) => bytes,
        other => panic!("body not immediately available: {other:?}"),
    };
    let json = serde_json::from_slice(&bytes).expect("body is JSON");
    (parts.status, parts.headers, json)
}

fn render_default(error: GatewayError) -> (StatusCode, HeaderMap, Value) {
    render(error, &BusinessCodes::default())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .map(|value| value.to_str().expect("ascii header"))
        .collect()
}

#[test]
fn every_code_renders_its_status_business_code_and_name() {
    let codes = BusinessCodes::default();
    for row in codes.table() {
        let (status, headers, body) = render(GatewayError::new(row.code, "boom"), &codes);
        assert_eq!(status, row.http_status, "{}", row.name);
        assert_eq!(header(&headers, "content-type"), ["application/json"]);
        assert_eq!(
            body,
            json!({"code": row.business_code, "message": "boom", "status": row.name, "details": []}),
            "{}",
            row.name
        );
    }
    assert_eq!(codes.table().len(), ALL_CODES.len());
}

#[test]
fn spec_example_body() {
    let error = GatewayError::not_found("user 42 not found")
        .with_detail("optional text")
        .with_details(vec![
            json!({"@type": BAD_REQUEST_TYPE_URL, "fieldViolations": []}),
        ]);
    let (status, _, body) = render_default(error);
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({
            "code": 10002,
            "message": "user 42 not found",
            "status": "NOT_FOUND",
            "detail": "optional text",
            "details": [{"@type": BAD_REQUEST_TYPE_URL, "fieldViolations": []}]
        })
    );
}

#[test]
fn overridden_business_code_is_rendered() {
    let codes = BusinessCodes::with_overrides([("NOT_FOUND".to_string(), 4040)]).expect("valid");
    let (_, _, body) = render(GatewayError::not_found("x"), &codes);
    assert_eq!(body["code"], 4040);
}

#[test]
fn constructors_pick_their_codes() {
    let cases = [
        (
            GatewayError::invalid_argument("m"),
            Code::InvalidArgument,
            400,
        ),
        (GatewayError::not_found("m"), Code::NotFound, 404),
        (
            GatewayError::route_not_found("/v1/nope"),
            Code::NotFound,
            404,
        ),
        (GatewayError::unavailable("m"), Code::Unavailable, 503),
        (
            GatewayError::deadline_exceeded("m"),
            Code::DeadlineExceeded,
            504,
        ),
        (GatewayError::internal("m"), Code::Internal, 500),
        (
            GatewayError::method_not_allowed(&[Method::GET]),
            Code::Unimplemented,
            405,
        ),
        (
            GatewayError::payload_too_large(10),
            Code::InvalidArgument,
            413,
        ),
        (
            GatewayError::bad_request(Vec::new()),
            Code::InvalidArgument,
            400,
        ),
    ];
    for (error, code, http) in cases {
        assert_eq!(error.code(), code, "{error}");
        assert_eq!(error.http_status().as_u16(), http, "{error}");
    }
}

#[test]
fn route_not_found_names_the_path() {
    let error = GatewayError::route_not_found("/v1/nope");
    assert_eq!(error.message(), r#"no route matches path "/v1/nope""#);
}

#[test]
fn method_not_allowed_is_405_with_allow_header() {
    let error = GatewayError::method_not_allowed(&[Method::GET, Method::POST, Method::GET]);
    let (status, headers, body) = render_default(error);
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&headers, "allow"), ["GET, POST"]);
    assert_eq!(body["status"], "UNIMPLEMENTED");
    assert_eq!(body["code"], 10009);
    assert_eq!(
        body["message"],
        "method not allowed for this path; allowed: GET, POST"
    );
}

#[test]
fn method_not_allowed_with_no_methods_sends_empty_allow() {
    let (status, headers, _) = render_default(GatewayError::method_not_allowed(&[]));
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&headers, "allow"), [""]);
}

#[test]
fn payload_too_large_is_413_invalid_argument() {
    let (status, _, body) = render_default(GatewayError::payload_too_large(1_048_576));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["status"], "INVALID_ARGUMENT");
    assert_eq!(body["code"], 10001);
    assert_eq!(
        body["message"],
        "request body exceeds the limit of 1048576 bytes"
    );
}

#[test]
fn unauthenticated_gets_default_www_authenticate() {
    let (status, headers, _) = render_default(GatewayError::new(Code::Unauthenticated, "no token"));
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&headers, "www-authenticate"),
        [r#"Bearer realm="h2gate""#]
    );
}

#[test]
fn backend_www_authenticate_wins() {
    let error = GatewayError::new(Code::Unauthenticated, "expired").with_header(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer error="invalid_token""#),
    );
    let (_, headers, _) = render_default(error);
    assert_eq!(
        header(&headers, "www-authenticate"),
        [r#"Bearer error="invalid_token""#]
    );
}

#[test]
fn other_codes_get_no_www_authenticate() {
    let (_, headers, _) = render_default(GatewayError::new(Code::PermissionDenied, "no"));
    assert!(headers.get(WWW_AUTHENTICATE).is_none());
}

#[test]
fn extra_headers_are_sent_but_cannot_replace_content_type() {
    let error = GatewayError::internal("x")
        .with_header(
            HeaderName::from_static("grpc-metadata-request-id"),
            HeaderValue::from_static("a"),
        )
        .with_header(
            HeaderName::from_static("grpc-metadata-request-id"),
            HeaderValue::from_static("b"),
        )
        .with_header(CONTENT_TYPE, HeaderValue::from_static("text/html"));
    let (_, headers, _) = render_default(error);
    assert_eq!(header(&headers, "grpc-metadata-request-id"), ["a", "b"]);
    assert_eq!(header(&headers, "content-type"), ["application/json"]);
}

#[test]
fn bad_request_carries_field_violations() {
    let error = GatewayError::bad_request(vec![
        ("user_id".to_string(), "not a valid int64".to_string()),
        ("name".to_string(), "required".to_string()),
    ]);
    let (status, _, body) = render_default(error);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({
            "code": 10001,
            "message": "invalid request: user_id: not a valid int64; name: required",
            "status": "INVALID_ARGUMENT",
            "details": [{
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [
                    {"field": "user_id", "description": "not a valid int64"},
                    {"field": "name", "description": "required"}
                ]
            }]
        })
    );
}

/// A status as tonic builds it from backend trailers, so the test also pins tonic's behaviour.
fn status_from_trailers(code: &str, message: &str, details: Option<&str>) -> tonic::Status {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_str(code).expect("ascii"));
    trailers.insert(
        "grpc-message",
        HeaderValue::from_str(message).expect("ascii"),
    );
    if let Some(details) = details {
        trailers.insert(
            "grpc-status-details-bin",
            HeaderValue::from_str(details).expect("ascii"),
        );
    }
    tonic::Status::from_header_map(&trailers).expect("grpc-status present")
}

#[test]
fn from_status_uses_tonics_percent_decoded_message() {
    let status = status_from_trailers("5", "user%2042%20not%20found%3A%20%E2%9C%93", None);
    let error = GatewayError::from_status(&status, &test_pool(), &SerializeOptions::new());
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(error.message(), "user 42 not found: \u{2713}");
    assert!(error.details().is_empty());
}

#[test]
fn from_status_decodes_known_and_keeps_unknown_details() {
    let raw = status_bytes(&[
        (
            BAD_REQUEST_TYPE_URL,
            bad_request_bytes("page_size", "must be <= 100"),
        ),
        ("type.googleapis.com/acme.Secret", vec![0xde, 0xad]),
    ]);
    // gRPC allows binary headers unpadded; tonic must accept both.
    for encoded in [STANDARD.encode(&raw), STANDARD_NO_PAD.encode(&raw)] {
        let status = status_from_trailers("3", "bad", Some(&encoded));
        let error = GatewayError::from_status(&status, &test_pool(), &SerializeOptions::new());
        let (status, _, body) = render_default(error);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({
                "code": 10001,
                "message": "bad",
                "status": "INVALID_ARGUMENT",
                "details": [
                    {
                        "@type": BAD_REQUEST_TYPE_URL,
                        "fieldViolations": [{"field": "page_size", "description": "must be <= 100"}]
                    },
                    {"@type": "type.googleapis.com/acme.Secret", "value": "3q0="}
                ]
            })
        );
    }
}

#[test]
fn from_status_with_unknown_numeric_code_is_unknown_500() {
    let status = tonic::Status::new(Code::from_i32(99), "odd");
    let error = GatewayError::from_status(&status, &test_pool(), &SerializeOptions::new());
    let (status, _, body) = render_default(error);
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["status"], "UNKNOWN");
    assert_eq!(body["code"], 50000);
}

#[test]
fn display_for_logs() {
    let error = GatewayError::unavailable("backend down").with_detail("connect refused");
    assert_eq!(
        error.to_string(),
        "UNAVAILABLE: backend down (connect refused)"
    );
    assert_eq!(GatewayError::internal("x").to_string(), "INTERNAL: x");
    let _: &dyn std::error::Error = &error;
}
