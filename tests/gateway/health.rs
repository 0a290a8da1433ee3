//! `/healthz` and `/readyz`.

use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Client, HeldPort, TestGateway};

fn upstream<'a>(ready: &'a Value, name: &str) -> &'a Value {
    ready["upstreams"]
        .as_array()
        .unwrap_or_else(|| panic!("upstreams array in {ready}"))
        .iter()
        .find(|u| u["name"] == name)
        .unwrap_or_else(|| panic!("upstream {name:?} listed in {ready}"))
}

fn endpoint_reachability(upstream: &Value) -> Vec<String> {
    upstream["endpoints"]
        .as_array()
        .unwrap_or_else(|| panic!("endpoints array in {upstream}"))
        .iter()
        .map(|e| e["reachability"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Polls `/readyz` (always expecting 200) until `done` holds for the body (at most ~3 s).
async fn wait_for_ready(client: &Client, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let reply = client.get("/readyz").await;
        assert_eq!(reply.status, StatusCode::OK, "/readyz: {}", reply.text());
        let body = reply.json();
        if done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never reached the expected state; last: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn healthz_is_ok() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let reply = client.get("/healthz").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );
    assert_eq!(reply.json(), json!({"status": "ok"}));
    // Over HTTP/1.1 too.
    let h1 = gateway.client_h1().await;
    assert_eq!(h1.get("/healthz").await.json(), json!({"status": "ok"}));
    gateway.shutdown().await;
}

#[tokio::test]
async fn readyz_lists_upstreams_and_their_reachability() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let ready = wait_for_ready(&client, |body| {
        body["upstreams"].as_array().is_some_and(|list| {
            list.iter()
                .any(|u| u["name"] == "demo" && endpoint_reachability(u) == ["reachable"])
        })
    })
    .await;
    let demo = upstream(&ready, "demo");
    assert_eq!(demo["reachable"], true, "{ready}");
    assert_eq!(
        ready["status"], "ready",
        "a serving gateway says ready: {ready}"
    );
    let endpoint = demo["endpoints"][0]["endpoint"]
        .as_str()
        .unwrap_or_default();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{ready}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn readyz_stays_200_with_a_dead_upstream() {
    let dead_port = HeldPort::bind();
    let port = dead_port.port();
    let extra = format!(
        "[[upstreams]]\nname = \"dead\"\nendpoints = [\"http://127.0.0.1:{port}\"]\nservices = [\"demo.v1.Greeter\"]\n"
    );
    let gateway = TestGateway::start(&extra).await;
    let client = gateway.client().await;
    let ready = wait_for_ready(&client, |body| {
        body["upstreams"].as_array().is_some_and(|list| {
            list.iter()
                .any(|u| u["name"] == "dead" && endpoint_reachability(u) == ["unreachable"])
        })
    })
    .await;
    let dead = upstream(&ready, "dead");
    assert_eq!(dead["reachable"], false, "{ready}");
    assert_eq!(
        dead["endpoints"][0]["endpoint"],
        format!("http://127.0.0.1:{port}")
    );
    assert_eq!(ready["status"], "ready", "{ready}");
    // The healthy upstream is still listed, and its routes work.
    upstream(&ready, "demo");
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn readyz_with_a_separate_backend() {
    let gateway = TestGateway::with_separate_backend("").await;
    let client = gateway.client().await;
    let ready = wait_for_ready(&client, |body| {
        body["upstreams"].as_array().is_some_and(|list| {
            list.iter()
                .any(|u| u["name"] == "demo-backend" && u["reachable"] == true)
        })
    })
    .await;
    assert_eq!(
        ready["upstreams"].as_array().map(Vec::len),
        Some(1),
        "no embedded demo upstream: {ready}"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn readyz_learns_of_a_dead_backend_from_the_first_call_that_finds_it() {
    let mut backend = crate::support::BackendProcess::start().await;
    let endpoints = [format!("http://{}", backend.addr)];
    let mut text = String::from("[server]\nlisten = \"127.0.0.1:0\"\n");
    text.push_str(&crate::support::demo_upstream_tables(&endpoints, ""));
    let gateway = TestGateway::from_text(text).await;
    let client = gateway.client().await;
    client.assert_still_usable().await;
    let reachable = |body: &Value| endpoint_reachability(upstream(body, "demo-backend"));
    let ready = wait_for_ready(&client, |body| reachable(body) == ["reachable"]).await;
    assert_eq!(reachable(&ready), ["reachable"], "{ready}");
    backend.kill();
    // The call that finds the backend dead tells /readyz at once, not at the prober's next
    // round (every 5 s).
    let reply = client.get("/v1/users/42").await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    let ready = client.get("/readyz").await.json();
    assert_eq!(reachable(&ready), ["unreachable"], "{ready}");
    gateway.shutdown().await;
}
