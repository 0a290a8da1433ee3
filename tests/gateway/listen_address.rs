//! Who may listen on the gateway's address: by default the gateway alone (a second gateway, or
//! any other listener, makes start-up fail); with `reuse_port = true` on both, two gateways
//! share it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::StatusCode;

use crate::support::{Client, Setup, TestGateway, config_text};

/// Start-up that is refused must be refused at once, not after a timeout.
const FAIL_FAST: Duration = Duration::from_secs(5);

/// A plaintext gateway (embedded demo) with `server` keys, on an ephemeral port.
async fn plaintext_gateway(server: &str) -> TestGateway {
    TestGateway::start_with(Setup {
        server,
        plaintext: true,
        ..Setup::default()
    })
    .await
}

/// A plaintext gateway config (embedded demo) with `server` keys, listening on `addr`.
fn config_on(addr: SocketAddr, server: &str) -> h2gate::config::Config {
    let setup = Setup {
        server,
        plaintext: true,
        ..Setup::default()
    };
    let text = config_text(&setup, None).replacen("127.0.0.1:0", &addr.to_string(), 1);
    h2gate::config::parse(&text, "listen address test").expect("config parses")
}

/// Starts a gateway on `addr` that must be refused; returns the error message.
async fn start_refused(addr: SocketAddr, server: &str) -> String {
    let started = Instant::now();
    let outcome = crate::support::start_gateway(&config_on(addr, server)).await;
    let Err(err) = outcome else {
        panic!("a gateway started on {addr}, which is already taken ({server:?})");
    };
    assert!(
        started.elapsed() < FAIL_FAST,
        "refused after {:?}",
        started.elapsed()
    );
    err.to_string()
}

/// The error names the address, the cause, and the key that shares an address on purpose.
pub fn assert_names_address_in_use(message: &str, addr: SocketAddr) {
    for needle in [&addr.to_string(), "address already in use", "reuse_port"] {
        assert!(message.contains(needle), "{needle:?} in {message}");
    }
}

#[tokio::test]
async fn a_second_gateway_on_the_same_address_does_not_start() {
    let first = plaintext_gateway("workers = 2").await;
    let message = start_refused(first.addr, "workers = 2").await;
    assert_names_address_in_use(&message, first.addr);
    // A second gateway asking to share cannot join one that did not ask.
    let message = start_refused(first.addr, "reuse_port = true").await;
    assert_names_address_in_use(&message, first.addr);
    // The first one is unharmed.
    let client = Client::h2c(first.addr).await;
    assert_eq!(client.get("/healthz").await.status, StatusCode::OK);
    drop(client);
    first.shutdown().await;
}

#[tokio::test]
async fn another_listener_on_the_address_stops_the_gateway() {
    let other = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = other.local_addr().expect("address");
    for server in ["", "reuse_port = true"] {
        let message = start_refused(addr, server).await;
        assert_names_address_in_use(&message, addr);
    }
    drop(other);
}

#[tokio::test]
async fn a_listener_that_sets_reuse_port_does_not_get_a_share() {
    // Another server that sets SO_REUSEPORT itself (as nginx and envoy can).
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_reuseport(true).expect("SO_REUSEPORT");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let other = socket.listen(16).expect("listen");
    let addr = other.local_addr().expect("address");
    let message = start_refused(addr, "").await;
    assert_names_address_in_use(&message, addr);
    drop(other);
}

#[tokio::test]
async fn gateways_that_both_set_reuse_port_share_the_address() {
    let first = plaintext_gateway("reuse_port = true\nshutdown_grace_secs = 1").await;
    let second = crate::support::start_gateway(&config_on(first.addr, "reuse_port = true"))
        .await
        .unwrap_or_else(|err| panic!("the second gateway shares {}: {err}", first.addr));
    assert_eq!(second.local_addr, first.addr);
    // With the first one gone, the address is still served: by the second.
    let addr = first.addr;
    first.shutdown().await;
    let client = Client::h2c(addr).await;
    assert_eq!(client.get_ok("/v1/users/42").await["userId"], "42");
    drop(client);
    second.shutdown().await;
}
