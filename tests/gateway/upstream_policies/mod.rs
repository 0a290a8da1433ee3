//! The policies of an `[[upstreams]]` entry, each seen from both ends (the client's replies
//! and `/readyz` on one side, what every backend counted on the other): how `balance` spreads
//! calls (`balancing`), `max_in_flight` (`circuit_breaker`), `[upstreams.outlier]`
//! (`outlier_ejection`) and `[upstreams.health_check]` (`health_checks`).
//!
//! Every gateway here runs one worker: the balancer is per worker, so with one the picks are
//! the gateway's, and counts can be exact.

mod balancing;
mod circuit_breaker;
mod health_checks;
mod outlier_ejection;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::Value;

use crate::support::{Client, GREETER_RULES, TestGateway, demo_upstream_tables};

/// The upstream every gateway here routes the demo to (`demo_upstream_tables`).
const UPSTREAM: &str = "demo-backend";

/// How long a state may take to show in `/readyz`. Generous: the policies act within a few
/// hundred milliseconds, but the machine is shared with other test binaries, and an endpoint
/// back from an ejection may still wait out its connection backoff (up to a few seconds).
const STATE_TIMEOUT: Duration = Duration::from_secs(20);

/// A TLS gateway with one worker whose UserService and Greeter live at `endpoints`, with
/// `upstream` (keys, then sub-tables) added to their `[[upstreams]]` entry.
async fn gateway_for(endpoints: &[String], upstream: &str) -> TestGateway {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n{}{GREETER_RULES}\n",
        demo_upstream_tables(endpoints, upstream)
    );
    TestGateway::from_text(text).await
}

fn h2c(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// GET user 42, which must succeed.
async fn get_user(client: &Client) {
    let user = client.get_ok("/v1/users/42").await;
    assert_eq!(user["userId"], "42", "{user}");
}

async fn readyz(client: &Client) -> Value {
    let reply = client.get("/readyz").await;
    assert_eq!(reply.status, StatusCode::OK, "/readyz: {}", reply.text());
    reply.json()
}

/// The demo upstream's entry in a `/readyz` body.
fn upstream_of(ready: &Value) -> &Value {
    ready["upstreams"]
        .as_array()
        .and_then(|list| list.iter().find(|u| u["name"] == UPSTREAM))
        .unwrap_or_else(|| panic!("upstream {UPSTREAM:?} in {ready}"))
}

/// The state `/readyz` shows for `endpoint` (as configured).
fn state_of<'a>(ready: &'a Value, endpoint: &str) -> &'a str {
    upstream_of(ready)["endpoints"]
        .as_array()
        .and_then(|list| list.iter().find(|e| e["endpoint"] == endpoint))
        .and_then(|e| e["state"].as_str())
        .unwrap_or_else(|| panic!("state of {endpoint} in {ready}"))
}

/// Polls `/readyz` until `done` holds, between `step`s (calls that move the balancer, or
/// nothing); fails naming `what` and the last body after [`STATE_TIMEOUT`].
async fn wait_for_readyz(
    client: &Client,
    what: &str,
    step: impl AsyncFn(),
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + STATE_TIMEOUT;
    loop {
        step().await;
        let ready = readyz(client).await;
        if done(&ready) {
            return ready;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never showed {what} within {STATE_TIMEOUT:?}; last: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Calls until `/readyz` shows every one of `endpoints` ready (an endpoint idle beside a
/// ready one is connected in the background), so that the balancer chooses among them all.
async fn warm_up(client: &Client, endpoints: &[&str]) {
    wait_for_readyz(
        client,
        &format!("{endpoints:?} all ready"),
        async || get_user(client).await,
        |ready| endpoints.iter().all(|e| state_of(ready, e) == "ready"),
    )
    .await;
}

/// `part` of `total` in percent, for the messages.
fn percent(part: u64, total: u64) -> f64 {
    // Counts of a few hundred: no precision is lost.
    #[allow(clippy::cast_precision_loss)]
    let share = 100.0 * part as f64 / total.max(1) as f64;
    share
}
