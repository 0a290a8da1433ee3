//! `[upstreams.outlier]`: an endpoint whose calls fail `consecutive_failures` times in a row
//! (connections refused, or UNAVAILABLE and the like from the backend) is taken out for
//! `base_ejection_ms` × its ejections, while the others serve; never more than
//! `max_ejection_percent` of the upstream's endpoints at once, and never when `enabled = false`.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::{gateway_for, get_user, h2c, readyz, state_of, wait_for_readyz, warm_up};
use crate::support::{
    Client, CountingBackend, FakeAnswer, FakeBackend, HeldPort, Reply, assert_error,
};

/// A backend that answers every call UNAVAILABLE (trailers-only), as one shutting down does.
fn unavailable(_: &str, _: &HeaderMap) -> FakeAnswer {
    let headers = [
        ("content-type", "application/grpc"),
        ("grpc-status", "14"),
        ("grpc-message", "shutting down"),
    ];
    let headers = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    (200, headers, Bytes::new())
}

/// Whether `reply` is user 42 (`true`) or the UNAVAILABLE error (`false`); nothing else.
fn served(reply: &Reply) -> bool {
    if reply.status == StatusCode::OK {
        assert_eq!(reply.json()["userId"], "42", "{}", reply.text());
        return true;
    }
    assert_error(reply, 503, "UNAVAILABLE", 20001);
    false
}

/// Makes `calls` calls one after another; returns how many failed, and the states `endpoint`
/// was seen in after each.
async fn failures_and_states(
    client: &Client,
    calls: usize,
    endpoint: &str,
) -> (usize, Vec<String>) {
    let mut failed = 0;
    let mut states = Vec::new();
    for _ in 0..calls {
        if !served(&client.get("/v1/users/42").await) {
            failed += 1;
        }
        states.push(state_of(&readyz(client).await, endpoint).to_owned());
    }
    (failed, states)
}

#[tokio::test]
async fn a_dead_endpoint_is_ejected_while_calls_succeed_and_comes_back_after() {
    const OUTLIER: &str =
        "[upstreams.outlier]\nconsecutive_failures = 2\nbase_ejection_ms = 3000\n";

    let live = CountingBackend::start().await;
    let port = HeldPort::bind();
    let dying = CountingBackend::serve(port.listen(), None);
    let (live_uri, dying_uri) = (h2c(live.addr), h2c(dying.addr));
    let gateway = gateway_for(&[dying_uri.clone(), live_uri.clone()], OUTLIER).await;
    let client = gateway.client().await;
    warm_up(&client, &[&dying_uri, &live_uri]).await;

    // Killed: its port refuses connections from now on. Every call still succeeds (one whose
    // first pick cannot be connected goes to the other), and the refused connection attempts
    // count as failures in a row.
    dying.stop().await;
    let ejected = wait_for_readyz(
        &client,
        "the dead endpoint ejected",
        async || get_user(&client).await,
        |ready| state_of(ready, &dying_uri) == "ejected",
    )
    .await;
    assert_eq!(state_of(&ejected, &live_uri), "ready", "{ejected}");

    // It comes back up while ejected: no call goes to it before the ejection is over.
    let restarted = CountingBackend::serve(port.listen(), None);
    for _ in 0..10 {
        get_user(&client).await;
    }
    let ready = readyz(&client).await;
    assert_eq!(
        (state_of(&ready, &dying_uri), restarted.counts.requests()),
        ("ejected", 0),
        "still ejected (for 3 s), so no calls: {ready}"
    );

    // The ejection ends by itself; the endpoint is connected again and takes calls.
    wait_for_readyz(
        &client,
        "the endpoint back and serving",
        async || get_user(&client).await,
        |ready| state_of(ready, &dying_uri) == "ready" && restarted.counts.requests() > 0,
    )
    .await;
    drop(client);
    gateway.shutdown().await;
    live.stop().await;
    restarted.stop().await;
}

#[tokio::test]
async fn an_endpoint_answering_unavailable_is_ejected_after_the_threshold() {
    // Round robin, so the failing endpoint gets its turn whatever its latency.
    const POLICY: &str = "balance = \"round_robin\"\n[upstreams.outlier]\n\
                          consecutive_failures = 2\nbase_ejection_ms = 30000\n";

    let failing = FakeBackend::start(unavailable).await;
    let healthy = CountingBackend::start().await;
    let (failing_uri, healthy_uri) = (h2c(failing.addr), h2c(healthy.addr));
    let gateway = gateway_for(&[failing_uri.clone(), healthy_uri.clone()], POLICY).await;
    let client = gateway.client().await;

    let (failed, states) = failures_and_states(&client, 20, &failing_uri).await;
    assert_eq!(
        failed, 2,
        "exactly consecutive_failures calls fail before the ejection; states {states:?}"
    );
    assert_eq!(
        states.last().map(String::as_str),
        Some("ejected"),
        "{states:?}"
    );
    assert_eq!(
        healthy.counts.requests(),
        18,
        "the healthy endpoint served the rest"
    );

    // Out for 30 s: every call goes to the healthy endpoint.
    for _ in 0..20 {
        get_user(&client).await;
    }
    assert_eq!(healthy.counts.requests(), 38);
    let ready = readyz(&client).await;
    assert_eq!(
        (
            state_of(&ready, &failing_uri),
            state_of(&ready, &healthy_uri)
        ),
        ("ejected", "ready"),
        "{ready}"
    );
    drop(client);
    gateway.shutdown().await;
    healthy.stop().await;
}

#[tokio::test]
async fn with_outlier_detection_disabled_a_failing_endpoint_is_never_ejected() {
    const CALLS: usize = 30;
    const POLICY: &str = "balance = \"round_robin\"\n[upstreams.outlier]\nenabled = false\n\
                          consecutive_failures = 2\n";

    let failing = FakeBackend::start(unavailable).await;
    let healthy = CountingBackend::start().await;
    let (failing_uri, healthy_uri) = (h2c(failing.addr), h2c(healthy.addr));
    let gateway = gateway_for(&[failing_uri.clone(), healthy_uri], POLICY).await;
    let client = gateway.client().await;

    let (failed, states) = failures_and_states(&client, CALLS, &failing_uri).await;
    assert!(
        !states.iter().any(|state| state == "ejected"),
        "never ejected: {states:?}"
    );
    // Round robin gives it every other call once both are connected (~15 of 30).
    assert!(
        failed >= CALLS / 3,
        "the failing endpoint kept its turn: {failed} of {CALLS} calls failed; states {states:?}"
    );
    drop(client);
    gateway.shutdown().await;
    healthy.stop().await;
}

#[tokio::test]
async fn the_only_endpoint_is_never_ejected() {
    // 50 % of one endpoint is none: ejecting it would leave nothing to call.
    const POLICY: &str = "[upstreams.outlier]\nconsecutive_failures = 2\n\
                          max_ejection_percent = 50\n";

    let failing = FakeBackend::start(unavailable).await;
    let failing_uri = h2c(failing.addr);
    let gateway = gateway_for(std::slice::from_ref(&failing_uri), POLICY).await;
    let client = gateway.client().await;

    let (failed, states) = failures_and_states(&client, 10, &failing_uri).await;
    assert_eq!(
        failed, 10,
        "every call reaches the failing endpoint and fails"
    );
    assert!(
        !states.iter().any(|state| state == "ejected"),
        "never ejected: {states:?}"
    );
    drop(client);
    gateway.shutdown().await;
}
