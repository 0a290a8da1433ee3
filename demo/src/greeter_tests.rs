//! End-to-end tests of Greeter over a real loopback HTTP/2 connection.

use std::time::{Duration, Instant};

use super::super::errors::decode_bad_request;
use super::super::response_metadata::{
    SERVED_BY_HEADER, SERVED_BY_VALUE, TRAILER_NAME, TRAILER_VALUE,
};
use super::super::test_support::TestServer;
use super::*;

fn hello(name: &str) -> HelloRequest {
    HelloRequest {
        name: name.into(),
        ..HelloRequest::default()
    }
}

fn ascii(metadata: &MetadataMap, key: &str) -> Option<String> {
    metadata
        .get(key)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[test]
fn transport_headers_table() {
    let cases = [
        ("content-type", true),
        ("te", true),
        ("user-agent", true),
        ("grpc-accept-encoding", true),
        ("grpc-encoding", true),
        ("grpc-timeout", false),
        ("authorization", false),
        ("x-request-id", false),
        ("grpcx", false),
    ];
    for (key, transport) in cases {
        assert_eq!(is_transport_header(key), transport, "{key}");
    }
}

#[test]
fn greeting_defaults_to_world() {
    assert_eq!(greeting("Ada"), "Hello, Ada!");
    assert_eq!(greeting("  "), "Hello, world!");
}

#[tokio::test]
async fn greets_and_echoes_caller_metadata() {
    let server = TestServer::start().await;
    let mut client = server.greeter().await;
    let mut request = tonic::Request::new(hello("Ada"));
    let md = request.metadata_mut();
    md.insert("x-request-id", "req-1".parse().expect("ascii"));
    md.append("x-multi", "a".parse().expect("ascii"));
    md.append("x-multi", "b".parse().expect("ascii"));
    md.insert("authorization", "Bearer t0k3n".parse().expect("ascii"));
    md.insert_bin(
        "x-blob-bin",
        tonic::metadata::MetadataValue::from_bytes(b"\x00\x01"),
    );
    request.set_timeout(Duration::from_secs(30));

    let response = client.say_hello(request).await.expect("say hello");
    assert_eq!(
        ascii(response.metadata(), SERVED_BY_HEADER).as_deref(),
        Some(SERVED_BY_VALUE)
    );
    assert_eq!(
        ascii(response.metadata(), TRAILER_NAME).as_deref(),
        Some(TRAILER_VALUE),
        "unary client merges trailers into the response metadata"
    );
    let reply = response.into_inner();
    assert_eq!(reply.message, "Hello, Ada!");
    let echoed = &reply.metadata;
    assert_eq!(
        echoed.get("x-request-id").map(String::as_str),
        Some("req-1")
    );
    assert_eq!(echoed.get("x-multi").map(String::as_str), Some("a, b"));
    assert_eq!(
        echoed.get("authorization").map(String::as_str),
        Some("Bearer t0k3n")
    );
    let timeout = echoed.get("grpc-timeout").expect("deadline is visible");
    assert!(
        timeout.ends_with(['H', 'M', 'S', 'm', 'u', 'n']),
        "{timeout}"
    );
    for hidden in ["content-type", "te", "user-agent", "x-blob-bin"] {
        assert!(!echoed.contains_key(hidden), "{hidden} leaked: {echoed:?}");
    }
}

#[tokio::test]
async fn fail_code_returns_that_status_with_markers() {
    let server = TestServer::start().await;
    let mut client = server.greeter().await;
    let cases = [
        (5, "no such greeting", Code::NotFound),
        (14, "try later", Code::Unavailable),
        (16, "", Code::Unauthenticated),
    ];
    for (fail_code, fail_message, code) in cases {
        let err = client
            .say_hello(HelloRequest {
                fail_code,
                fail_message: fail_message.into(),
                ..hello("x")
            })
            .await
            .expect_err("requested failure");
        assert_eq!(err.code(), code);
        assert_eq!(err.message(), fail_message);
        assert_eq!(
            ascii(err.metadata(), SERVED_BY_HEADER).as_deref(),
            Some(SERVED_BY_VALUE)
        );
        assert_eq!(
            ascii(err.metadata(), TRAILER_NAME).as_deref(),
            Some(TRAILER_VALUE)
        );
    }
}

#[tokio::test]
async fn invalid_knobs_are_rejected_with_bad_request() {
    let server = TestServer::start().await;
    let mut client = server.greeter().await;
    let err = client
        .say_hello(HelloRequest {
            delay_ms: MAX_DELAY_MS + 1,
            fail_code: 17,
            ..hello("x")
        })
        .await
        .expect_err("invalid knobs");
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<String> = decode_bad_request(&err)
        .expect("BadRequest")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["delay_ms", "fail_code"]);
}

#[tokio::test]
async fn delay_is_applied_and_bounded_by_the_deadline() {
    let server = TestServer::start().await;
    let mut client = server.greeter().await;

    let started = Instant::now();
    client
        .say_hello(HelloRequest {
            delay_ms: 150,
            ..hello("slow")
        })
        .await
        .expect("delayed reply");
    assert!(started.elapsed() >= Duration::from_millis(150));

    let mut request = tonic::Request::new(HelloRequest {
        delay_ms: 10_000,
        ..hello("too slow")
    });
    request.set_timeout(Duration::from_millis(100));
    let started = Instant::now();
    let err = client.say_hello(request).await.expect_err("deadline");
    // tonic (client and server side alike) reports an expired grpc-timeout as
    // CANCELLED "Timeout expired", not DEADLINE_EXCEEDED.
    assert!(
        matches!(err.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
