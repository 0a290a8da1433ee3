//! Backends that fail under a call: each fault gives the ErrorResponse (or `{"error"}` line)
//! it must, and the client's connection stays usable.

use std::time::Duration;

use serde_json::json;

use super::backend_process::BackendProcess;
use super::stream_client::{BodyReader, StreamingClient};
use super::support::{TestGateway, assert_error, demo_upstream_tables};

/// A TLS gateway whose demo services are the given backend process.
async fn gateway_for(backend: &BackendProcess) -> TestGateway {
    let endpoints = [format!("http://{}", backend.addr)];
    let mut text = String::from("[server]\nlisten = \"127.0.0.1:0\"\n");
    text.push_str(&demo_upstream_tables(&endpoints, ""));
    text.push_str(super::support::GREETER_RULES);
    TestGateway::from_text(text).await
}

#[tokio::test]
async fn a_backend_killed_mid_unary_is_unavailable() {
    let mut backend = BackendProcess::start();
    let gateway = gateway_for(&backend).await;
    let client = gateway.client().await;
    assert_eq!(client.get_ok("/v1/users/42").await["userId"], "42");
    let body = json!({"name": "slow", "delayMs": 3000});
    let slow = client.say_hello(&[], &body);
    let kill = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        backend.kill();
    };
    let (reply, ()) = tokio::join!(slow, kill);
    let body = assert_error(&reply, 503, "UNAVAILABLE", 20001);
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no internal address reaches the client: {body}"
    );
    let after = client.get("/v1/users/42").await;
    assert_error(&after, 503, "UNAVAILABLE", 20001);
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_backend_killed_mid_stream_ends_the_stream_with_unavailable() {
    let mut backend = BackendProcess::start();
    let gateway = gateway_for(&backend).await;
    let client = StreamingClient::connect(gateway.addr).await;
    let response = client
        .get("/v1/users:stream?count=1000&intervalMs=20", &[])
        .await;
    assert_eq!(response.status(), 200);
    let mut reader = BodyReader::new(response);
    let first = reader.json_line().await.expect("a first message");
    assert!(first["result"]["userId"].is_string(), "{first}");
    backend.kill();
    let mut last = first;
    while let Some(line) = reader.json_line().await {
        last = line;
    }
    let error = &last["error"];
    assert_eq!(error["status"], "UNAVAILABLE", "{last}");
    assert_eq!(error["code"], 20001, "{last}");
    assert!(
        !last.to_string().contains("127.0.0.1"),
        "no internal address reaches the client: {last}"
    );
    gateway.shutdown().await;
}
