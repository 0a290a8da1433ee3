//! `max_in_flight`: past that many calls in flight on the upstream (all workers together), a
//! new call is answered 503 at once, without reaching a backend, with `Retry-After: 1`; and
//! as soon as calls end, new ones pass again.

use std::time::Duration;

use serde_json::json;

use super::{gateway_for, get_user, h2c, readyz, upstream_of, wait_for_readyz};
use crate::support::{CountingBackend, assert_error, poll_until};

/// How long the held calls sleep in the backend: far longer than the refused call takes.
const HOLD_MS: u64 = 3000;

#[tokio::test]
async fn past_max_in_flight_calls_get_503_at_once_then_pass_again() {
    let backend = CountingBackend::start().await;
    let gateway = gateway_for(&[h2c(backend.addr)], "max_in_flight = 2").await;
    let client = gateway.client().await;
    get_user(&client).await;
    let ready = readyz(&client).await;
    let upstream = upstream_of(&ready);
    assert_eq!(
        (&upstream["in_flight"], &upstream["max_in_flight"]),
        (&json!(0), &json!(2)),
        "{ready}"
    );

    // Two calls that hold both places, each on a client of its own.
    let mut held = Vec::new();
    for name in ["first", "second"] {
        let holder = gateway.client().await;
        held.push(tokio::spawn(async move {
            holder
                .say_hello(&[], &json!({"name": name, "delayMs": HOLD_MS}))
                .await
        }));
    }
    let arrived = poll_until(Duration::from_secs(10), || {
        std::future::ready((backend.counts.in_flight() == 2).then_some(()))
    })
    .await;
    assert!(
        arrived.is_some(),
        "the two held calls never reached the backend ({} in flight there)",
        backend.counts.in_flight()
    );
    let ready = readyz(&client).await;
    let upstream = upstream_of(&ready);
    assert_eq!(
        (&upstream["in_flight"], &upstream["max_in_flight"]),
        (&json!(2), &json!(2)),
        "{ready}"
    );

    let requests_before = backend.counts.requests();
    let reply = client.get("/v1/users/42").await;
    // Answered while both held calls still sleep in the backend: refused, not queued.
    assert!(
        held.iter().all(|call| !call.is_finished()),
        "the third call was answered only after a held call ended"
    );
    let body = assert_error(&reply, 503, "UNAVAILABLE", 20001);
    assert_eq!(
        reply.header("retry-after"),
        Some("1"),
        "{:?}",
        reply.headers
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("max_in_flight")),
        "{body}"
    );
    assert_eq!(
        backend.counts.requests(),
        requests_before,
        "the refused call never reached the backend"
    );

    for call in held {
        let reply = call.await.expect("held call task");
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(reply.json()["message"].is_string(), "{}", reply.text());
    }
    // The places are given back when the calls end.
    wait_for_readyz(
        &client,
        "in_flight back to 0",
        async || {},
        |ready| upstream_of(ready)["in_flight"] == 0,
    )
    .await;
    for _ in 0..3 {
        get_user(&client).await;
    }
    drop(client);
    gateway.shutdown().await;
    backend.stop().await;
}
