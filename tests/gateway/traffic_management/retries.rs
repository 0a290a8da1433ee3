//! Retries: an idempotent call that gets UNAVAILABLE is retried on another endpoint (and says
//! how many attempts it took), a POST is not, the budget stops retries, and a backend killed
//! while calls flow costs no idempotent call.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method};
use serde_json::json;

use super::{CallFlow, TestGateway, gateway, upstream, user_42, wait_for_endpoints};
use crate::support::{
    BackendProcess, CountingBackend, FakeAnswer, FakeBackend, Reply, assert_error,
};

const SERVICES: &[&str] = &["demo.v1.UserService", "demo.v1.Greeter"];

/// A backend that answers every call UNAVAILABLE (trailers-only, as grpc-go does).
fn unavailable(_path: &str, _headers: &HeaderMap) -> FakeAnswer {
    let headers = [
        ("content-type", "application/grpc"),
        ("grpc-status", "14"),
        ("grpc-message", "shedding load"),
    ];
    let headers = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()));
    (200, headers.collect(), bytes::Bytes::new())
}

fn attempts(reply: &Reply) -> Option<&str> {
    reply.header("x-h2gate-attempts")
}

const NO_OUTLIERS: &str = "[upstreams.outlier]\nenabled = false\n";

/// A gateway over an endpoint that answers UNAVAILABLE and a healthy one, taken in turn, with
/// two retries and no outlier ejection.
async fn failing_beside_healthy() -> (TestGateway, FakeBackend, CountingBackend) {
    let (failing, healthy) = (
        FakeBackend::start(unavailable).await,
        CountingBackend::start().await,
    );
    let endpoints = [
        format!("http://{}", failing.addr),
        format!("http://{}", healthy.addr),
    ];
    let keys = format!("balance = \"round_robin\"\n{NO_OUTLIERS}[upstreams.retry]\nattempts = 2\n");
    let gateway = gateway(&upstream("users", &endpoints, SERVICES, &keys), "").await;
    (gateway, failing, healthy)
}

#[tokio::test]
async fn an_idempotent_call_is_retried_on_another_endpoint() {
    let (gateway, _failing, healthy) = failing_beside_healthy().await;
    let client = gateway.client().await;
    let mut retried = 0;
    for _ in 0..20 {
        let reply = client.get("/v1/users/42").await;
        user_42(&reply);
        match attempts(&reply) {
            Some("2") => retried += 1,
            None => {}
            other => panic!("unexpected x-h2gate-attempts {other:?}"),
        }
    }
    // Round robin: every other call starts at the failing endpoint.
    assert!(
        (5..=15).contains(&retried),
        "{retried} of 20 calls were retried"
    );
    assert_eq!(healthy.counts.requests(), 20);
}

#[tokio::test]
async fn a_post_is_never_retried() {
    let (gateway, _failing, healthy) = failing_beside_healthy().await;
    let client = gateway.client().await;
    let mut failed = 0;
    for n in 0..20 {
        let user =
            json!({"name": format!("retry {n}"), "email": format!("r{n}@example.com"), "age": 30});
        let reply = client.json(Method::POST, "/v1/users", &user).await;
        assert_eq!(attempts(&reply), None, "{}", reply.text());
        if reply.status != 200 {
            assert_error(&reply, 503, "UNAVAILABLE", 20001);
            failed += 1;
        }
    }
    assert!((5..=15).contains(&failed), "{failed} of 20 POSTs failed");
    assert_eq!(healthy.counts.requests(), 20 - failed);
}

#[tokio::test]
async fn retries_stop_when_the_budget_is_spent() {
    let failing = FakeBackend::start(unavailable).await;
    let endpoints = [format!("http://{}", failing.addr)];
    // No share of calls: only the reserve of 10 retries a second over the 10 s window.
    let keys = format!(
        "{NO_OUTLIERS}[upstreams.retry]\nattempts = 1\nbackoff_ms = 1\nbudget_percent = 0\n"
    );
    let gateway = gateway(&upstream("users", &endpoints, SERVICES, &keys), "").await;
    let client = gateway.client().await;
    let (mut retried, mut single) = (0, 0);
    for _ in 0..140 {
        let reply = client.get("/v1/users/42").await;
        assert_error(&reply, 503, "UNAVAILABLE", 20001);
        match attempts(&reply) {
            Some("2") => retried += 1,
            None => single += 1,
            other => panic!("unexpected x-h2gate-attempts {other:?}"),
        }
    }
    // 100 within the window (a slow run may see a little of the next window's reserve).
    assert!((100..=110).contains(&retried), "{retried} retries");
    assert!(single >= 30, "{single} calls without a retry");
}

#[tokio::test]
async fn a_killed_backend_costs_no_idempotent_call() {
    let mut doomed = BackendProcess::start().await;
    let survivor = CountingBackend::start().await;
    let endpoints = [
        format!("http://{}", doomed.addr),
        format!("http://{}", survivor.addr),
    ];
    let keys = "[upstreams.retry]\nattempts = 2\n\
                [upstreams.outlier]\nconsecutive_failures = 2\nbase_ejection_ms = 60000\n";
    let gateway = gateway(&upstream("users", &endpoints, SERVICES, keys), "").await;
    let client = Arc::new(gateway.client().await);
    user_42(&client.get("/v1/users/42").await);

    let flow = CallFlow::start(&client, 4);
    tokio::time::sleep(Duration::from_millis(500)).await;
    doomed.kill();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    flow.stop_without_failures().await;
    let dead = format!("http://{}", doomed.addr);
    wait_for_endpoints(&client, "users", |states| {
        states.iter().any(|(e, s)| *e == dead && s == "ejected")
    })
    .await;
}
