//! An endpoint whose connection attempts get no answer at all costs calls at most one
//! connect timeout per backoff period: after the first attempt times out, the endpoint backs
//! off, and later attempts are made in the background while calls go to the endpoint that
//! answers.

use std::time::{Duration, Instant};

use super::{gateway, upstream, user_42, wait_for_endpoints};
use crate::support::{BlackHole, CountingBackend};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);

#[tokio::test]
async fn a_black_holed_endpoint_costs_at_most_one_connect_timeout_per_backoff() {
    let hole = BlackHole::open().await;
    let live = CountingBackend::start().await;
    let endpoints = [
        format!("http://{}", hole.addr),
        format!("http://{}", live.addr),
    ];
    let keys = format!(
        "connect_timeout_ms = {}\n[upstreams.outlier]\nenabled = false\n",
        CONNECT_TIMEOUT.as_millis()
    );
    let services = ["demo.v1.UserService", "demo.v1.Greeter"];
    let gateway = gateway(&upstream("users", &endpoints, &services, &keys), "").await;
    let client = gateway.client().await;
    let started = Instant::now();
    let mut slow = 0;
    let mut calls = 0;
    while started.elapsed() < Duration::from_secs(4) {
        let sent = Instant::now();
        user_42(&client.get("/v1/users/42").await);
        calls += 1;
        if sent.elapsed() >= CONNECT_TIMEOUT {
            slow += 1;
        }
    }
    // Backoff starts at 1 s (±20 %) and grows: in 4 s at most 4 periods, and the background
    // reconnects cost calls nothing, so in practice one slow call at most.
    assert!(
        slow <= 4,
        "{slow} of {calls} calls waited for a connect timeout"
    );
    assert!(calls > 20, "{calls} calls in 4 s");
    eprintln!("black hole: {slow} of {calls} calls waited for a connect timeout");
    let hole_uri = format!("http://{}", hole.addr);
    let states = wait_for_endpoints(&client, "users", |states| {
        states
            .iter()
            .any(|(e, s)| *e == hole_uri && (s == "backing_off" || s == "connecting"))
    })
    .await;
    assert!(states.iter().any(|(_, s)| s == "ready"), "{states:?}");
}
