//! `dns://` endpoints resolved by a real DNS server on loopback whose answer changes while
//! calls flow: an endpoint added starts taking calls, one removed stops, a failed resolution
//! keeps the last known set.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::{CallFlow, TestGateway, gateway, upstream, user_42, wait_for_endpoints};
use crate::support::{CountingBackend, DnsServer};

const NAME: &str = "users.h2gate.test";

/// Demo backends on 127.0.0.2 and 127.0.0.3, on the same port (a DNS answer names addresses;
/// the port is the endpoint's).
async fn two_backends_one_port() -> (CountingBackend, CountingBackend, u16) {
    for _ in 0..20 {
        let first = TcpListener::bind("127.0.0.2:0")
            .await
            .expect("bind 127.0.0.2");
        let port = first.local_addr().unwrap().port();
        if let Ok(second) = TcpListener::bind(("127.0.0.3", port)).await {
            return (
                CountingBackend::serve(first, None),
                CountingBackend::serve(second, None),
                port,
            );
        }
    }
    panic!("no port free on both 127.0.0.2 and 127.0.0.3");
}

/// A gateway whose upstream is `dns://NAME:port`, resolved by `dns` every 100 ms.
async fn discovering_gateway(dns: &DnsServer, port: u16) -> TestGateway {
    let endpoints = [format!("dns://{NAME}:{port}")];
    let services = ["demo.v1.UserService", "demo.v1.Greeter"];
    let upstreams = upstream("users", &endpoints, &services, "dns_refresh_ms = 100\n");
    let discovery = format!("[discovery]\nnameservers = [\"{}\"]\n", dns.addr);
    gateway(&upstreams, &discovery).await
}

fn addr(ip: [u8; 4], port: u16) -> String {
    format!("http://{}", SocketAddr::from((ip, port)))
}

#[tokio::test]
async fn endpoints_follow_the_dns_answer_while_calls_flow() {
    let dns = DnsServer::start().await;
    let (a, b, port) = two_backends_one_port().await;
    dns.set(NAME, &[Ipv4Addr::new(127, 0, 0, 2)]);
    let gateway = discovering_gateway(&dns, port).await;
    let client = Arc::new(gateway.client().await);

    // Resolved before serving: the first call already finds the endpoint.
    user_42(&client.get("/v1/users/42").await);
    let states = wait_for_endpoints(&client, "users", |s| s.len() == 1).await;
    assert_eq!(states[0].0, addr([127, 0, 0, 2], port));

    // Calls flow the whole time; none may fail.
    let flow = CallFlow::start(&client, 1);

    // An endpoint added: it starts taking calls.
    dns.set(
        NAME,
        &[Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)],
    );
    wait_for_endpoints(&client, "users", |s| s.len() == 2).await;
    let b_before = b.counts.requests();
    crate::support::poll_until(Duration::from_secs(10), || async {
        (b.counts.requests() > b_before + 20).then_some(())
    })
    .await
    .expect("the added endpoint never took calls");

    // One removed: it stops taking calls (after those already on their way).
    dns.set(NAME, &[Ipv4Addr::new(127, 0, 0, 3)]);
    let states = wait_for_endpoints(&client, "users", |s| s.len() == 1).await;
    assert_eq!(states[0].0, addr([127, 0, 0, 3], port));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let a_after = a.counts.requests();
    let b_after = b.counts.requests();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        a.counts.requests(),
        a_after,
        "the removed endpoint still gets calls"
    );
    assert!(
        b.counts.requests() > b_after,
        "the remaining endpoint gets the calls"
    );

    // The DNS server goes silent: the last known set stays.
    dns.stop();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let states = wait_for_endpoints(&client, "users", |s| s.len() == 1).await;
    assert_eq!(states[0].0, addr([127, 0, 0, 3], port));

    flow.stop_without_failures().await;
}

#[tokio::test]
async fn a_name_that_does_not_resolve_at_start_leaves_the_upstream_empty_until_it_does() {
    let dns = DnsServer::start().await;
    let (a, _b, port) = two_backends_one_port().await;
    let gateway = discovering_gateway(&dns, port).await;
    let client = gateway.client().await;
    let reply = client.get("/v1/users/42").await;
    crate::support::assert_error(&reply, 503, "UNAVAILABLE", 20001);
    dns.set(NAME, &[Ipv4Addr::new(127, 0, 0, 2)]);
    wait_for_endpoints(&client, "users", |s| s.len() == 1).await;
    user_42(&client.get("/v1/users/42").await);
    assert!(a.counts.requests() >= 1);
    assert!(dns.queries() >= 2);
}
