//! Header ⇄ metadata translation, observed through the Greeter's echo of the metadata it received
//! and the demo's marker header and trailer.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Reply, TestGateway, parse_grpc_timeout};

/// Calls the Greeter with `headers`; returns the reply and the metadata the backend saw.
async fn echo(client: &crate::support::Client, headers: &[(&str, &str)]) -> (Reply, Value) {
    let reply = client.say_hello(headers, &json!({"name": "meta"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["message"], "Hello, meta!");
    let metadata = body["metadata"].clone();
    assert!(metadata.is_object(), "metadata map in {body}");
    (reply, metadata)
}

#[tokio::test]
async fn grpc_metadata_headers_become_metadata() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let (_, metadata) = echo(
        &client,
        &[
            ("Grpc-Metadata-Tenant", "acme"),
            ("grpc-metadata-x-user", "ada"),
        ],
    )
    .await;
    assert_eq!(metadata["tenant"], "acme", "{metadata}");
    assert_eq!(metadata["x-user"], "ada", "{metadata}");
    // The prefixed names themselves are not sent.
    assert!(metadata.get("grpc-metadata-tenant").is_none(), "{metadata}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn allowlisted_headers_are_forwarded_as_they_are() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (_, metadata) = echo(
        &client,
        &[
            ("authorization", "Bearer t0ken"),
            ("traceparent", traceparent),
            ("tracestate", "vendor=value"),
        ],
    )
    .await;
    assert_eq!(metadata["authorization"], "Bearer t0ken", "{metadata}");
    assert_eq!(metadata["traceparent"], traceparent, "{metadata}");
    assert_eq!(metadata["tracestate"], "vendor=value", "{metadata}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn other_and_reserved_headers_are_not_forwarded() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let (_, metadata) = echo(
        &client,
        &[
            ("cookie", "session=secret"),
            ("x-custom", "not-allowlisted"),
            ("accept-language", "en"),
            ("Grpc-Metadata-Grpc-Timeout", "99S"),
            ("Grpc-Metadata-Grpc-Foo", "bar"),
            ("Grpc-Metadata-Host", "evil.example"),
            ("Grpc-Metadata-Content-Length", "5"),
        ],
    )
    .await;
    for absent in [
        "cookie",
        "x-custom",
        "accept-language",
        "grpc-foo",
        "content-length",
    ] {
        assert!(
            metadata.get(absent).is_none(),
            "{absent} leaked: {metadata}"
        );
    }
    let values: Vec<String> = metadata
        .as_object()
        .map(|m| m.values().map(|v| v.to_string()).collect())
        .unwrap_or_default();
    assert!(
        !values.iter().any(|v| v.contains("evil.example")),
        "a client cannot set host metadata: {metadata}"
    );
    let timeout = metadata["grpc-timeout"].as_str().unwrap_or_default();
    assert!(
        !timeout.contains("99S"),
        "a client cannot inject grpc-timeout through Grpc-Metadata-: {metadata}"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn forward_headers_config_adds_to_the_allowlist() {
    let gateway = TestGateway::start("[metadata]\nforward_headers = [\"X-Tenant-Hint\"]\n").await;
    let client = gateway.client().await;
    let (_, metadata) = echo(
        &client,
        &[
            ("x-tenant-hint", "blue"),
            ("x-other", "no"),
            ("authorization", "Basic x"),
        ],
    )
    .await;
    assert_eq!(metadata["x-tenant-hint"], "blue", "{metadata}");
    assert_eq!(
        metadata["authorization"], "Basic x",
        "defaults kept: {metadata}"
    );
    assert!(metadata.get("x-other").is_none(), "{metadata}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn request_id_is_generated_and_echoed() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let (reply, metadata) = echo(&client, &[]).await;
    let generated = reply
        .header("x-request-id")
        .expect("x-request-id in the response")
        .to_owned();
    assert!(!generated.is_empty());
    assert_eq!(
        metadata["x-request-id"], generated,
        "the backend saw the same id: {metadata}"
    );
    // A new request gets a new id.
    let (second, _) = echo(&client, &[]).await;
    assert_ne!(second.header("x-request-id"), Some(generated.as_str()));
    // Errors carry one too.
    let reply = client.get("/v1/users/404").await;
    assert!(reply.header("x-request-id").is_some_and(|v| !v.is_empty()));
    gateway.shutdown().await;
}

#[tokio::test]
async fn given_request_id_is_kept() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let (reply, metadata) = echo(&client, &[("x-request-id", "req-abc-123")]).await;
    assert_eq!(reply.header("x-request-id"), Some("req-abc-123"));
    assert_eq!(metadata["x-request-id"], "req-abc-123", "{metadata}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn forwarded_headers_are_added_over_http2() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    assert!(client.is_h2());
    let (_, metadata) = echo(&client, &[]).await;
    assert_eq!(metadata["x-forwarded-for"], "127.0.0.1", "{metadata}");
    assert_eq!(metadata["x-forwarded-proto"], "https", "{metadata}");
    // HTTP/2 has no Host header: the host is the :authority.
    assert_eq!(
        metadata["x-forwarded-host"],
        client.authority(),
        "x-forwarded-host from :authority: {metadata}"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn forwarded_headers_are_added_over_http11() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client_h1().await;
    assert!(!client.is_h2());
    let (_, metadata) = echo(
        &client,
        &[
            ("host", "api.example.com"),
            ("x-forwarded-for", "203.0.113.7"),
        ],
    )
    .await;
    assert_eq!(
        metadata["x-forwarded-host"], "api.example.com",
        "{metadata}"
    );
    assert_eq!(
        metadata["x-forwarded-for"], "203.0.113.7, 127.0.0.1",
        "the peer is appended: {metadata}"
    );
    assert_eq!(metadata["x-forwarded-proto"], "https", "{metadata}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn response_headers_and_trailers_come_back_prefixed() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let (reply, _) = echo(&client, &[]).await;
    assert_eq!(
        reply.header("grpc-metadata-x-served-by"),
        Some("h2gate-demo")
    );
    assert_eq!(reply.header("grpc-trailer-x-demo-trailer"), Some("done"));
    // Transport headers are not exposed.
    assert!(reply.header("grpc-metadata-content-type").is_none());
    assert!(reply.header("grpc-trailer-grpc-status").is_none());
    // Same for UserService routes and for raw (HttpBody) responses.
    let reply = client.get("/v1/users/42").await;
    assert_eq!(
        reply.header("grpc-metadata-x-served-by"),
        Some("h2gate-demo")
    );
    assert_eq!(reply.header("grpc-trailer-x-demo-trailer"), Some("done"));
    let reply = client.get("/v1/users/42/avatar").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("grpc-metadata-x-served-by"),
        Some("h2gate-demo")
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn client_grpc_timeout_reaches_the_backend() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let (_, metadata) = echo(&client, &[("grpc-timeout", "5S")]).await;
    let seen = metadata["grpc-timeout"]
        .as_str()
        .unwrap_or_else(|| panic!("backend saw grpc-timeout: {metadata}"));
    let seen = parse_grpc_timeout(seen).expect("well-formed grpc-timeout");
    assert!(
        seen <= Duration::from_secs(5) && seen >= Duration::from_secs(4),
        "the client's 5 s deadline propagates, got {seen:?}"
    );

    // Without a client deadline the upstream's timeout_ms (15 s default) applies.
    let (_, metadata) = echo(&client, &[]).await;
    if let Some(seen) = metadata["grpc-timeout"].as_str() {
        let seen = parse_grpc_timeout(seen).expect("well-formed grpc-timeout");
        assert!(
            seen <= Duration::from_secs(15),
            "capped by timeout_ms: {seen:?}"
        );
        assert!(
            seen > Duration::from_secs(5),
            "not the earlier 5 s: {seen:?}"
        );
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn metadata_reaches_a_separate_backend_too() {
    let gateway = TestGateway::with_separate_backend("").await;
    let client = gateway.client().await;
    let reply = client
        .json_with(
            Method::POST,
            "/v1/greeter:sayHello",
            &[("grpc-metadata-tenant", "acme")],
            &json!({"name": "far"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["metadata"]["tenant"], "acme");
    assert_eq!(reply.header("grpc-trailer-x-demo-trailer"), Some("done"));
    gateway.shutdown().await;
}

#[tokio::test]
async fn grpc_metadata_headers_cannot_set_what_the_gateway_forwards_or_asserts() {
    let gateway = TestGateway::start("[metadata]\nforward_headers = [\"x-tenant\"]\n").await;
    let client = gateway.client().await;
    let forged = [
        ("Grpc-Metadata-Authorization", "Bearer forged"),
        ("Grpc-Metadata-X-Request-Id", "forged-id"),
        ("Grpc-Metadata-Traceparent", "forged"),
        ("Grpc-Metadata-Tracestate", "forged"),
        ("Grpc-Metadata-X-Forwarded-For", "6.6.6.6"),
        ("Grpc-Metadata-X-Forwarded-Host", "evil.example"),
        ("Grpc-Metadata-X-Forwarded-Proto", "gopher"),
        ("Grpc-Metadata-X-Tenant", "forged-tenant"),
    ];
    // Alone: none of them reaches the backend under the name it imitates.
    let (_, metadata) = echo(&client, &forged).await;
    let text = metadata.to_string();
    for value in ["forged", "6.6.6.6", "evil.example", "gopher"] {
        assert!(!text.contains(value), "{value} leaked: {metadata}");
    }
    assert!(metadata.get("authorization").is_none(), "{metadata}");
    assert_eq!(metadata["x-forwarded-for"], "127.0.0.1", "{metadata}");
    assert_eq!(metadata["x-forwarded-proto"], "https", "{metadata}");

    // Next to the real headers, the real values arrive alone.
    let mut both = forged.to_vec();
    both.extend([
        ("Authorization", "Bearer real"),
        ("X-Request-Id", "real-id"),
        ("X-Tenant", "acme"),
    ]);
    let (reply, metadata) = echo(&client, &both).await;
    assert_eq!(metadata["authorization"], "Bearer real", "{metadata}");
    assert_eq!(metadata["x-request-id"], "real-id", "{metadata}");
    assert_eq!(metadata["x-tenant"], "acme", "{metadata}");
    assert_eq!(reply.header("x-request-id"), Some("real-id"));
    gateway.shutdown().await;
}
