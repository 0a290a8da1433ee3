//! `[[traffic]]`: a 90/10 split within statistical tolerance, a header override, and a hash
//! header that keeps each user on one side.

use super::{gateway, upstream, user_42};
use crate::support::CountingBackend;

const SERVICES: &[&str] = &["demo.v1.UserService", "demo.v1.Greeter"];

async fn canary() -> (
    crate::support::TestGateway,
    CountingBackend,
    CountingBackend,
) {
    let (stable, canary) = (
        CountingBackend::start().await,
        CountingBackend::start().await,
    );
    let upstreams = upstream(
        "users-v1",
        &[format!("http://{}", stable.addr)],
        SERVICES,
        "",
    ) + &upstream("users-v2", &[format!("http://{}", canary.addr)], &[], "");
    let traffic = concat!(
        "[[traffic]]\n",
        "methods = [\"demo.v1.UserService/*\"]\n",
        "weights = { users-v1 = 90, users-v2 = 10 }\n",
        "hash_header = \"x-user-id\"\n",
        "[[traffic.overrides]]\n",
        "header = \"x-canary\"\n",
        "value = \"true\"\n",
        "upstream = \"users-v2\"\n",
    );
    (gateway(&upstreams, traffic).await, stable, canary)
}

#[tokio::test]
async fn weights_split_calls_within_tolerance() {
    let (gateway, stable, canary) = canary().await;
    let client = gateway.client().await;
    const CALLS: u64 = 1_000;
    for _ in 0..CALLS {
        user_42(&client.get("/v1/users/42").await);
    }
    let (v1, v2) = (stable.counts.requests(), canary.counts.requests());
    assert_eq!(v1 + v2, CALLS);
    // Binomial: mean 100, standard deviation 9.5; ±45 is beyond 4.5 deviations.
    assert!(
        (55..=145).contains(&v2),
        "users-v2 took {v2} of {CALLS} calls"
    );
    eprintln!("90/10 split over {CALLS} calls: users-v1 {v1}, users-v2 {v2}");
}

#[tokio::test]
async fn a_header_override_goes_first_and_other_methods_keep_their_upstream() {
    let (gateway, stable, canary) = canary().await;
    let client = gateway.client().await;
    for _ in 0..30 {
        let reply = client
            .request(
                http::Method::GET,
                "/v1/users/42",
                &[("x-canary", "true")],
                "",
            )
            .await;
        user_42(&reply);
    }
    assert_eq!(canary.counts.requests(), 30);
    assert_eq!(stable.counts.requests(), 0);
    // A value other than the configured one does not match.
    for _ in 0..20 {
        let reply = client
            .request(
                http::Method::GET,
                "/v1/users/42",
                &[("x-canary", "no"), ("x-user-id", "stable-user")],
                "",
            )
            .await;
        user_42(&reply);
    }
    let moved = stable.counts.requests() + canary.counts.requests() - 30;
    assert_eq!(moved, 20);
    // The Greeter is not in the rule: it stays on users-v1.
    let before = stable.counts.requests();
    let reply = client
        .say_hello(&[("x-canary", "true")], &serde_json::json!({"name": "x"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(stable.counts.requests(), before + 1);
}

#[tokio::test]
async fn the_same_hash_value_always_lands_on_the_same_upstream() {
    let (gateway, stable, canary) = canary().await;
    let client = gateway.client().await;
    let mut on_canary = 0;
    for user in 0..60 {
        let id = format!("user-{user}");
        let mut sides = Vec::new();
        for _ in 0..5 {
            let before = canary.counts.requests();
            let reply = client
                .request(
                    http::Method::GET,
                    "/v1/users/42",
                    &[("x-user-id", id.as_str())],
                    "",
                )
                .await;
            user_42(&reply);
            sides.push(canary.counts.requests() > before);
        }
        assert!(
            sides.iter().all(|&s| s == sides[0]),
            "{id} moved between upstreams: {sides:?}"
        );
        on_canary += usize::from(sides[0]);
    }
    assert_eq!(stable.counts.requests() + canary.counts.requests(), 300);
    // Some users on each side (10 % of 60 is 6; the chance of none is 0.2 %).
    assert!(
        (1..=20).contains(&on_canary),
        "{on_canary} of 60 users on users-v2"
    );
}
