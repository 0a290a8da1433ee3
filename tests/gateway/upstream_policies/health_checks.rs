//! `[upstreams.health_check]`: `grpc.health.v1.Health/Check` to every endpoint each
//! `interval_ms`. An endpoint failing `unhealthy_threshold` checks in a row is taken out
//! (`unhealthy` in `/readyz`) and gets no calls until `healthy_threshold` checks pass again;
//! when every endpoint is out, calls go to all of them (panic mode) rather than fail.
//!
//! The demo backends answer the checks from a [`DemoHealth`] the test keeps and flips.
//! Round robin, so that an endpoint in service gets its turn whatever its latency.

use h2gate_demo::{DemoHealth, ServeOptions};

use super::{gateway_for, get_user, h2c, state_of, wait_for_readyz, warm_up};
use crate::support::{BackendOptions, CountingBackend};

const POLICY: &str = "balance = \"round_robin\"\n[upstreams.health_check]\ninterval_ms = 200\n\
                      unhealthy_threshold = 2\nhealthy_threshold = 2\n";

/// A counting demo backend whose health the returned handle flips.
async fn checked_backend() -> (CountingBackend, DemoHealth) {
    let health = DemoHealth::new();
    let backend = CountingBackend::start_with(BackendOptions {
        demo: ServeOptions {
            health: health.clone(),
            ..ServeOptions::default()
        },
        ..BackendOptions::default()
    })
    .await;
    (backend, health)
}

#[tokio::test]
async fn an_endpoint_failing_its_checks_gets_no_calls_until_they_pass_again() {
    let (a, _a_health) = checked_backend().await;
    let (b, b_health) = checked_backend().await;
    let (a_uri, b_uri) = (h2c(a.addr), h2c(b.addr));
    let gateway = gateway_for(&[a_uri.clone(), b_uri.clone()], POLICY).await;
    let client = gateway.client().await;
    warm_up(&client, &[&a_uri, &b_uri]).await;

    b_health.set_serving(false).await;
    let ready = wait_for_readyz(
        &client,
        "b unhealthy",
        async || {},
        |ready| state_of(ready, &b_uri) == "unhealthy",
    )
    .await;
    assert_eq!(state_of(&ready, &a_uri), "ready", "{ready}");
    let before = (a.counts.requests(), b.counts.requests());
    for _ in 0..20 {
        get_user(&client).await;
    }
    assert_eq!(
        (
            a.counts.requests() - before.0,
            b.counts.requests() - before.1
        ),
        (20, 0),
        "every call to the endpoint in service"
    );
    assert!(b.counts.health_checks() > 0, "b was checked all along");

    b_health.set_serving(true).await;
    wait_for_readyz(
        &client,
        "b back in service",
        async || {},
        |ready| matches!(state_of(ready, &b_uri), "ready" | "idle"),
    )
    .await;
    let before = b.counts.requests();
    for _ in 0..10 {
        get_user(&client).await;
    }
    let b_calls = b.counts.requests() - before;
    assert!(
        (4..=6).contains(&b_calls),
        "back in service, b takes its turn: {b_calls} of 10 calls"
    );
    drop(client);
    gateway.shutdown().await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn when_every_endpoint_fails_its_checks_calls_go_to_all_of_them() {
    const CALLS: u64 = 20;

    let (a, a_health) = checked_backend().await;
    let (b, b_health) = checked_backend().await;
    let (a_uri, b_uri) = (h2c(a.addr), h2c(b.addr));
    let gateway = gateway_for(&[a_uri.clone(), b_uri.clone()], POLICY).await;
    let client = gateway.client().await;
    warm_up(&client, &[&a_uri, &b_uri]).await;

    a_health.set_serving(false).await;
    b_health.set_serving(false).await;
    wait_for_readyz(
        &client,
        "both unhealthy",
        async || {},
        |ready| state_of(ready, &a_uri) == "unhealthy" && state_of(ready, &b_uri) == "unhealthy",
    )
    .await;
    // Panic mode: better the calls reach backends that say they are not serving than fail.
    let before = (a.counts.requests(), b.counts.requests());
    for _ in 0..CALLS {
        get_user(&client).await;
    }
    let split = (
        a.counts.requests() - before.0,
        b.counts.requests() - before.1,
    );
    assert_eq!(split.0 + split.1, CALLS);
    assert!(
        split.0.abs_diff(split.1) <= 2,
        "in panic mode, round robin over both: {split:?}"
    );
    drop(client);
    gateway.shutdown().await;
    a.stop().await;
    b.stop().await;
}
