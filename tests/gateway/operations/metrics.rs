//! `/metrics` after real traffic: request durations under the route template (never the raw
//! path), rejections by reason, connections by HTTP version, TLS handshake failures, endpoint
//! states; and the whole exposition passes `promtool check metrics`.

use http::Method;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{ADMIN, scrape};
use crate::support::{TestGateway, promtool_check};

const DURATION: &str = "http_server_request_duration_seconds";

#[tokio::test]
async fn requests_are_measured_by_route_and_the_exposition_passes_promtool() {
    let gateway = TestGateway::with_separate_backend(ADMIN).await;
    let client = gateway.client().await;
    for id in ["1", "2", "42"] {
        assert_eq!(
            client.get_ok(&format!("/v1/users/{id}")).await["userId"],
            id
        );
    }
    // The backend's NOT_FOUND.
    assert_eq!(client.get("/v1/users/3").await.status, 404);
    // A server stream of two messages, measured once it ended.
    let stream = client.get("/v1/users:stream?count=2&intervalMs=5").await;
    assert_eq!(stream.status, 200);
    assert_eq!(client.get("/no/such/route/9f2c").await.status, 404);
    let bad = client
        .raw_json(Method::POST, "/v1/greeter:sayHello", "{not json")
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    // A client that is not speaking TLS at all.
    let mut plain = TcpStream::connect(gateway.addr).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    drop(plain);

    let metrics = crate::support::poll_until(std::time::Duration::from_secs(5), || async {
        let metrics = scrape(&gateway).await;
        (metrics.value("h2gate_tls_handshake_failures_total", &[]) >= 1.0).then_some(metrics)
    })
    .await
    .expect("the failed handshake is counted");

    let get_user = [
        ("http_request_method", "GET"),
        ("http_route", "/v1/users/{user_id}"),
        ("http_response_status_code", "200"),
        ("rpc_service", "demo.v1.UserService"),
        ("rpc_method", "GetUser"),
        ("rpc_grpc_status_code", "0"),
    ];
    assert_eq!(metrics.value(&format!("{DURATION}_count"), &get_user), 3.0);
    let mut all = get_user.to_vec();
    all.push(("le", "+Inf"));
    assert_eq!(metrics.value(&format!("{DURATION}_bucket"), &all), 3.0);
    assert!(metrics.value(&format!("{DURATION}_sum"), &get_user) > 0.0);
    // No sample carries a raw path.
    assert!(
        metrics
            .find(
                &format!("{DURATION}_count"),
                &[("http_route", "/v1/users/1")]
            )
            .is_empty()
    );

    let not_found = [
        ("http_route", "/v1/users/{user_id}"),
        ("http_response_status_code", "404"),
        ("rpc_grpc_status_code", "5"),
    ];
    assert_eq!(metrics.value(&format!("{DURATION}_count"), &not_found), 1.0);
    let not_found = [
        ("http_route", "/v1/users/{user_id}"),
        ("http_response_status_code", "404"),
        ("rpc_grpc_status_code", "5"),
    ];
    assert_eq!(metrics.value(&format!("{DURATION}_count"), &not_found), 1.0);
    let unmatched = [
        ("http_route", "unmatched"),
        ("http_response_status_code", "404"),
        ("rpc_grpc_status_code", ""),
    ];
    assert_eq!(metrics.value(&format!("{DURATION}_count"), &unmatched), 1.0);
    let say_hello = [
        ("http_route", "/v1/greeter:sayHello"),
        ("http_response_status_code", "400"),
        // The request never became a call.
        ("rpc_grpc_status_code", ""),
    ];
    assert_eq!(metrics.value(&format!("{DURATION}_count"), &say_hello), 1.0);

    let stream = [
        ("http_route", "/v1/users:stream"),
        ("rpc_method", "StreamUsers"),
        ("rpc_grpc_status_code", "0"),
    ];
    assert_eq!(metrics.value(&format!("{DURATION}_count"), &stream), 1.0);
    let messages = "h2gate_stream_messages_total";
    assert_eq!(metrics.value(messages, &[("direction", "out")]), 2.0);
    assert_eq!(metrics.value(messages, &[("direction", "in")]), 0.0);

    // Each call's attempt, by how it ended: three users found and the stream, one not found.
    let calls = "h2gate_upstream_call_duration_seconds_count";
    let ok = [("upstream", "demo-backend"), ("rpc_grpc_status_code", "0")];
    assert_eq!(metrics.value(calls, &ok), 4.0);
    let not_found = [("upstream", "demo-backend"), ("rpc_grpc_status_code", "5")];
    assert_eq!(metrics.value(calls, &not_found), 1.0);
    let endpoint = &metrics.find(calls, &ok)[0].labels["endpoint"];
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");

    let rejected = "h2gate_rejected_total";
    assert_eq!(metrics.value(rejected, &[("reason", "bad_request")]), 1.0);
    for reason in ["body_too_large", "rate_limited", "circuit_open", "overload"] {
        assert_eq!(
            metrics.value(rejected, &[("reason", reason)]),
            0.0,
            "{reason}"
        );
    }
    assert_eq!(
        metrics.value("h2gate_tls_handshake_failures_total", &[]),
        1.0
    );
    let connections = "h2gate_connections_active";
    assert_eq!(
        metrics.value(connections, &[("network_protocol_version", "2")]),
        1.0
    );
    assert_eq!(
        metrics.value(connections, &[("network_protocol_version", "1.1")]),
        0.0
    );
    assert_eq!(metrics.value("http_server_active_requests", &[]), 0.0);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        metrics.value("h2gate_build_info", &[("version", version)]),
        1.0
    );

    let state = "h2gate_upstream_endpoint_state";
    let upstream = ("upstream", "demo-backend");
    assert_eq!(metrics.value(state, &[upstream, ("state", "ready")]), 1.0);
    assert_eq!(metrics.sum(state, &[upstream]), 1.0, "one state at a time");
    assert_eq!(
        metrics.find(state, &[upstream]).len(),
        6,
        "every state listed"
    );
    assert_eq!(metrics.value("h2gate_upstream_in_flight", &[upstream]), 0.0);

    if let Some(complaints) = promtool_check(&metrics.text) {
        panic!(
            "promtool check metrics rejects the exposition:\n{complaints}\n---\n{}",
            metrics.text
        );
    }

    // Closing the client's connection takes it off the gauge.
    drop(client);
    crate::support::poll_until(std::time::Duration::from_secs(5), || async {
        let metrics = scrape(&gateway).await;
        let open = metrics.value(connections, &[("network_protocol_version", "2")]);
        (open == 0.0).then_some(())
    })
    .await
    .expect("a closed connection leaves the gauge");
    gateway.shutdown().await;
}

#[tokio::test]
async fn plaintext_connections_count_by_the_version_they_speak() {
    let gateway = TestGateway::plaintext(ADMIN).await;
    let h1 = gateway.client_h1().await;
    let h2 = gateway.client().await;
    assert_eq!(h1.get("/healthz").await.status, 200);
    assert_eq!(h2.get("/healthz").await.status, 200);
    let metrics = scrape(&gateway).await;
    let connections = "h2gate_connections_active";
    assert_eq!(
        metrics.value(connections, &[("network_protocol_version", "1.1")]),
        1.0
    );
    assert_eq!(
        metrics.value(connections, &[("network_protocol_version", "2")]),
        1.0
    );
    // Built-in endpoints are their own routes.
    let healthz = [
        ("http_route", "/healthz"),
        ("http_response_status_code", "200"),
    ];
    assert_eq!(metrics.sum(&format!("{DURATION}_count"), &healthz), 2.0);
    gateway.shutdown().await;
}
