//! `balance`: which endpoint each call goes to, counted by the backends themselves. Two
//! endpoints of the same demo, one of them slow (every reply held back before its head, which
//! is what the gateway's latency estimate measures), or both alike.
//!
//! The bounds are statistical where the policy is: each says why it holds with a wide margin,
//! and which policy it tells apart (a random or round-robin pick serves a slow endpoint half
//! the calls).

use std::time::Duration;

use futures_util::future::join_all;

use super::{gateway_for, get_user, h2c, percent, warm_up};
use crate::support::{BackendOptions, Client, CountingBackend, TestGateway};

/// How much slower the slow endpoint answers (the brief's figure).
const SLOWER: Duration = Duration::from_millis(50);

async fn slow_backend(delay: Duration) -> CountingBackend {
    CountingBackend::start_with(BackendOptions {
        reply_delay: delay,
        ..BackendOptions::default()
    })
    .await
}

/// Runs `clients` clients at once, each making `per_client` calls one after another.
/// A backend `delay` slower than the other, both behind a gateway with `balance_keys`, each
/// having taken a call already.
async fn slow_and_fast(
    delay: Duration,
    balance_keys: &str,
) -> (CountingBackend, CountingBackend, TestGateway, Client) {
    let slow = slow_backend(delay).await;
    let fast = CountingBackend::start().await;
    let (slow_uri, fast_uri) = (h2c(slow.addr), h2c(fast.addr));
    let gateway = gateway_for(&[slow_uri.clone(), fast_uri.clone()], balance_keys).await;
    let client = gateway.client().await;
    warm_up(&client, &[&slow_uri, &fast_uri]).await;
    (slow, fast, gateway, client)
}

async fn concurrent_calls(
    gateway: &crate::support::TestGateway,
    clients: usize,
    per_client: usize,
) {
    let clients = join_all((0..clients).map(|_| gateway.client())).await;
    join_all(clients.iter().map(|client| async move {
        for _ in 0..per_client {
            get_user(client).await;
        }
    }))
    .await;
}

#[tokio::test]
async fn latency_balancing_sends_a_slow_endpoint_few_calls() {
    const SEQUENTIAL: usize = 100;
    const CLIENTS: usize = 4;
    const PER_CLIENT: usize = 25;
    const TOTAL: u64 = (SEQUENTIAL + CLIENTS * PER_CLIENT) as u64;

    // `balance` left at its default: latency.
    let (slow, fast, gateway, client) = slow_and_fast(SLOWER, "").await;
    let before = (slow.counts.requests(), fast.counts.requests());

    for _ in 0..SEQUENTIAL {
        get_user(&client).await;
    }
    concurrent_calls(&gateway, CLIENTS, PER_CLIENT).await;

    let slow_calls = slow.counts.requests() - before.0;
    let fast_calls = fast.counts.requests() - before.1;
    assert_eq!(slow_calls + fast_calls, TOTAL, "every call served once");
    eprintln!(
        "latency balancing: the endpoint {SLOWER:?} slower served {slow_calls} of {TOTAL} calls \
         ({:.1} %)",
        percent(slow_calls, TOTAL)
    );
    // Power of two choices over two endpoints always weighs both: the slow one costs at least
    // 50 ms × (its calls in flight + 1) once it has answered once (the peak-EWMA takes a slower
    // sample at once and forgets it with a 10 s time constant), the fast one a few ms × (its
    // calls in flight + 1), with at most 4 in flight here. So after its first answer the slow
    // one is passed over for the rest of this test (a few seconds); a handful of calls is
    // expected, a quarter would take a CPU stall of tens of ms on most fast calls. A random or
    // round-robin pick would give it half.
    assert!(
        slow_calls * 4 < TOTAL,
        "the slow endpoint served {slow_calls} of {TOTAL} calls ({:.1} %), not well under half",
        percent(slow_calls, TOTAL)
    );
    drop(client);
    gateway.shutdown().await;
    slow.stop().await;
    fast.stop().await;
}

#[tokio::test]
async fn round_robin_alternates_between_endpoints() {
    const SEQUENTIAL: usize = 40;
    const CLIENTS: usize = 4;
    const PER_CLIENT: usize = 20;

    let a = CountingBackend::start().await;
    let b = CountingBackend::start().await;
    let (a_uri, b_uri) = (h2c(a.addr), h2c(b.addr));
    let gateway = gateway_for(&[a_uri.clone(), b_uri.clone()], "balance = \"round_robin\"").await;
    let client = gateway.client().await;
    warm_up(&client, &[&a_uri, &b_uri]).await;

    // One call at a time: each goes to the other endpoint than the call before.
    let mut served = String::new();
    for _ in 0..SEQUENTIAL {
        let before = (a.counts.requests(), b.counts.requests());
        get_user(&client).await;
        let after = (a.counts.requests(), b.counts.requests());
        served.push(match (after.0 - before.0, after.1 - before.1) {
            (1, 0) => 'a',
            (0, 1) => 'b',
            other => panic!("one call reached the backends {other:?} times"),
        });
    }
    assert!(
        !served.contains("aa") && !served.contains("bb"),
        "round robin alternates: {served}"
    );

    // Calls at once are picked in turn too: the counts differ by at most one.
    let before = (a.counts.requests(), b.counts.requests());
    concurrent_calls(&gateway, CLIENTS, PER_CLIENT).await;
    let split = (
        a.counts.requests() - before.0,
        b.counts.requests() - before.1,
    );
    assert_eq!(split.0 + split.1, (CLIENTS * PER_CLIENT) as u64);
    assert!(
        split.0.abs_diff(split.1) <= 1,
        "{} concurrent calls split {split:?}",
        CLIENTS * PER_CLIENT
    );
    drop(client);
    gateway.shutdown().await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn least_request_ignores_latency_when_nothing_is_in_flight() {
    const CALLS: u64 = 60;

    let (slow, fast, gateway, client) = slow_and_fast(SLOWER, "balance = \"least_request\"").await;
    let before = slow.counts.requests();
    for _ in 0..CALLS {
        get_user(&client).await;
    }
    let slow_calls = slow.counts.requests() - before;
    eprintln!(
        "least_request, one call at a time: the endpoint {SLOWER:?} slower served {slow_calls} \
         of {CALLS} calls ({:.1} %)",
        percent(slow_calls, CALLS)
    );
    // One call at a time, both endpoints have none in flight when a call is picked: a tie,
    // which the random pair order settles, so each call is a fair coin. 25–75 % of 60 is
    // ±3.9 standard deviations (one run in ~10 000 outside by chance). The latency policy
    // would give the slow endpoint almost none (the test above).
    assert!(
        (CALLS / 4..=CALLS * 3 / 4).contains(&slow_calls),
        "the slow endpoint served {slow_calls} of {CALLS} sequential calls: least_request \
         looked at something besides calls in flight"
    );
    drop(client);
    gateway.shutdown().await;
    slow.stop().await;
    fast.stop().await;
}

#[tokio::test]
async fn least_request_sends_fewer_calls_to_an_endpoint_holding_calls() {
    const HOLD: Duration = Duration::from_millis(200);
    const CLIENTS: usize = 8;
    const PER_CLIENT: usize = 20;
    const TOTAL: u64 = (CLIENTS * PER_CLIENT) as u64;

    let (slow, fast, gateway, client) = slow_and_fast(HOLD, "balance = \"least_request\"").await;
    let before = (slow.counts.requests(), fast.counts.requests());

    concurrent_calls(&gateway, CLIENTS, PER_CLIENT).await;

    let slow_calls = slow.counts.requests() - before.0;
    let fast_calls = fast.counts.requests() - before.1;
    assert_eq!(slow_calls + fast_calls, TOTAL);
    eprintln!(
        "least_request, {CLIENTS} clients at once: the endpoint holding each call {HOLD:?} \
         served {slow_calls} of {TOTAL} calls ({:.1} %); at most {} at once there, {} on the \
         other",
        percent(slow_calls, TOTAL),
        slow.counts.peak_in_flight(),
        fast.counts.peak_in_flight()
    );
    // Each pick goes to the endpoint with fewer calls in flight. The slow one holds each of
    // its calls 200 ms, the fast one answers in a few ms, so the slow one gets another call
    // only while the fast one has as many in flight: of 8 clients, a few are held at the
    // slow endpoint and the rest cycle through the fast one ~50 times faster. A few percent
    // is expected; a quarter would need the fast endpoint's calls to take over 50 ms each.
    assert!(
        slow_calls * 4 < TOTAL,
        "the endpoint holding calls served {slow_calls} of {TOTAL} ({:.1} %)",
        percent(slow_calls, TOTAL)
    );
    drop(client);
    gateway.shutdown().await;
    slow.stop().await;
    fast.stop().await;
}
