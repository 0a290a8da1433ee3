//! The gateway's connections to its backends, observed from both ends: `https://` endpoints
//! verified with `ca_cert`, requests spread over every endpoint of an upstream, a dead endpoint
//! next to a live one, a backend restarting on the same port, and few long-lived connections
//! carrying many requests.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::support::{
    BackendCert, Client, CountingBackend, GREETER_RULES, HeldPort, Reply, TempFile, TestGateway,
    assert_error, bind_loopback, demo_upstream_tables,
};

/// Serving threads of every gateway here: each may hold its own upstream connections.
const WORKERS: usize = 2;

/// A single request that takes longer than this counts as a hang.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// A TLS gateway with [`WORKERS`] workers whose UserService and Greeter live at `endpoints`.
async fn gateway_for(endpoints: &[String], upstream: &str) -> TestGateway {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nworkers = {WORKERS}\n{}{GREETER_RULES}\n",
        demo_upstream_tables(endpoints, upstream)
    );
    TestGateway::from_text(text).await
}

fn h2c(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

fn ca_cert_key(file: &TempFile) -> String {
    format!("ca_cert = {:?}", file.path.display().to_string())
}

/// GET `path`, failing the test if no answer comes within [`ATTEMPT_TIMEOUT`].
async fn get_within(client: &Client, path: &str) -> Reply {
    tokio::time::timeout(ATTEMPT_TIMEOUT, client.get(path))
        .await
        .unwrap_or_else(|_| panic!("GET {path}: no answer within {ATTEMPT_TIMEOUT:?}"))
}

/// A reply that is either the user 42 or the clean UNAVAILABLE error; true for the user.
fn user_or_unavailable(reply: &Reply) -> bool {
    if reply.status == StatusCode::OK {
        assert_eq!(reply.json()["userId"], "42", "{}", reply.text());
        true
    } else {
        assert_error(reply, 503, "UNAVAILABLE", 20001);
        false
    }
}

/// Binds `addr` again once its previous owner let go (retrying for up to 5 s).
async fn rebind(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(err) if Instant::now() < deadline => {
                eprintln!("rebinding {addr}: {err}; retrying");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => panic!("cannot bind {addr} again: {err}"),
        }
    }
}

fn ndjson_lines(reply: &Reply) -> Vec<Value> {
    reply
        .text()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("NDJSON line {line:?}: {err}"))
        })
        .collect()
}

#[tokio::test]
async fn upstream_over_tls_with_ca_cert() {
    let cert = BackendCert::generate();
    let ca = TempFile::new("upstream-ca", "pem", &cert.ca_pem);
    // The certificate names both: an IP address and a DNS name are each verified.
    for host in ["127.0.0.1", "localhost"] {
        let backend = CountingBackend::start_tls(&cert).await;
        let endpoint = format!("https://{host}:{}", backend.addr.port());
        let gateway = gateway_for(&[endpoint], &ca_cert_key(&ca)).await;
        let client = gateway.client().await;

        let user = client.get_ok("/v1/users/42").await;
        assert_eq!(user["userId"], "42", "via {host}");
        assert_eq!(user["name"], "Ada Lovelace", "via {host}");

        let reply = client.get("/v1/greeter/tls").await;
        assert_eq!(reply.status, StatusCode::OK, "via {host}: {}", reply.text());
        assert_eq!(reply.json()["message"], "Hello, tls!");
        assert_eq!(
            reply.header("grpc-metadata-x-served-by"),
            Some(h2gate_demo::SERVED_BY_VALUE),
            "the backend's response headers come through"
        );

        // A server stream over the same TLS upstream, as NDJSON.
        let reply = client.get("/v1/users:stream?count=5").await;
        assert_eq!(reply.status, StatusCode::OK, "via {host}: {}", reply.text());
        assert_eq!(
            reply.header("content-type"),
            Some("application/x-ndjson"),
            "{:?}",
            reply.headers
        );
        let lines = ndjson_lines(&reply);
        assert_eq!(lines.len(), 5, "{}", reply.text());
        for line in &lines {
            assert!(line["result"]["userId"].is_string(), "{line}");
        }

        // The backend only speaks TLS, so all of that went through the verified connection.
        assert_eq!(backend.counts.requests(), 3, "via {host}");
        gateway.shutdown().await;
        backend.stop().await;
    }
}

#[tokio::test]
async fn upstream_tls_with_an_untrusted_certificate_is_503() {
    let cert = BackendCert::generate();
    let unrelated = BackendCert::generate();
    let ca = TempFile::new("unrelated-ca", "pem", &unrelated.ca_pem);
    let backend = CountingBackend::start_tls(&cert).await;
    let endpoint = format!("https://127.0.0.1:{}", backend.addr.port());
    let gateway = gateway_for(&[endpoint], &ca_cert_key(&ca)).await;
    let client = gateway.client().await;

    for _ in 0..3 {
        let reply = get_within(&client, "/v1/users/42").await;
        assert_error(&reply, 503, "UNAVAILABLE", 20001);
    }
    let reply = get_within(&client, "/v1/users:stream?count=2").await;
    assert_error(&reply, 503, "UNAVAILABLE", 20001);
    assert_eq!(
        backend.counts.requests(),
        0,
        "nothing reaches a backend whose certificate is not trusted"
    );
    gateway.shutdown().await;
    backend.stop().await;
}

#[tokio::test]
async fn upstream_tls_with_a_certificate_for_another_name_is_503() {
    // Signed by the trusted CA, but for another host.
    let cert = BackendCert::for_names(&["backend.example.com", "10.1.2.3"]);
    let ca = TempFile::new("upstream-ca", "pem", &cert.ca_pem);
    let backend = CountingBackend::start_tls(&cert).await;
    for host in ["127.0.0.1", "localhost"] {
        let endpoint = format!("https://{host}:{}", backend.addr.port());
        let gateway = gateway_for(&[endpoint], &ca_cert_key(&ca)).await;
        let client = gateway.client().await;
        let reply = get_within(&client, "/v1/users/42").await;
        assert_error(&reply, 503, "UNAVAILABLE", 20001);
        gateway.shutdown().await;
    }
    assert_eq!(backend.counts.requests(), 0);
    backend.stop().await;
}

#[tokio::test]
async fn requests_are_spread_over_every_endpoint() {
    const CLIENTS: usize = 8;
    const PER_CLIENT: usize = 25;
    const TOTAL: u64 = (CLIENTS * PER_CLIENT) as u64;

    let first = CountingBackend::start().await;
    let second = CountingBackend::start().await;
    let gateway = gateway_for(&[h2c(first.addr), h2c(second.addr)], "").await;
    let clients = futures_util::future::join_all((0..CLIENTS).map(|_| gateway.client())).await;
    futures_util::future::join_all(clients.iter().map(|client| async move {
        for _ in 0..PER_CLIENT {
            let user = client.get_ok("/v1/users/42").await;
            assert_eq!(user["userId"], "42");
        }
    }))
    .await;

    let served = [first.counts.requests(), second.counts.requests()];
    assert_eq!(
        served.iter().sum::<u64>(),
        TOTAL,
        "served per endpoint: {served:?}"
    );
    // Balancing by load is not round-robin; each endpoint must still get a real share.
    for count in served {
        assert!(
            count * 5 >= TOTAL,
            "each endpoint serves at least 20% of {TOTAL} requests; served {served:?}"
        );
    }
    drop(clients);
    gateway.shutdown().await;
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_dead_endpoint_fails_requests_fast_and_cleanly_if_at_all() {
    const REQUESTS: usize = 30;

    let live = CountingBackend::start().await;
    let dead_port = HeldPort::bind();
    let dead = h2c(dead_port.addr);
    let gateway = gateway_for(&[dead, h2c(live.addr)], "").await;
    let client = gateway.client().await;
    let mut served = 0;
    for _ in 0..REQUESTS {
        // Never a hang, never anything but the user or the one error shape.
        if user_or_unavailable(&get_within(&client, "/v1/users/42").await) {
            served += 1;
        }
    }
    assert!(
        served > 0,
        "the live endpoint served none of {REQUESTS} requests"
    );
    assert_eq!(live.counts.requests(), served);
    gateway.shutdown().await;
    live.stop().await;
}

#[tokio::test]
async fn a_dead_endpoint_does_not_fail_requests() {
    const WARM_UP: usize = 10;
    const STEADY: u64 = 50;

    for dead_first in [true, false] {
        let live = CountingBackend::start().await;
        let dead_port = HeldPort::bind();
        let dead = h2c(dead_port.addr);
        let endpoints = if dead_first {
            [dead, h2c(live.addr)]
        } else {
            [h2c(live.addr), dead]
        };
        let gateway = gateway_for(&endpoints, "").await;
        let client = gateway.client().await;

        // A call whose first pick cannot be reached goes to the other pick (nothing was sent
        // yet), so even finding out that an endpoint is down costs no request.
        let mut warm_up_failures = 0;
        for _ in 0..WARM_UP {
            if !user_or_unavailable(&get_within(&client, "/v1/users/42").await) {
                warm_up_failures += 1;
            }
        }
        assert_eq!(warm_up_failures, 0, "endpoints {endpoints:?}");
        let before = live.counts.requests();
        for i in 0..STEADY {
            let reply = get_within(&client, "/v1/users/42").await;
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "request {i} after the warm-up (endpoints {endpoints:?}, {warm_up_failures} \
                 warm-up failures): {}",
                reply.text()
            );
            assert_eq!(reply.json()["userId"], "42");
        }
        assert_eq!(
            live.counts.requests() - before,
            STEADY,
            "all on the live endpoint"
        );
        gateway.shutdown().await;
        live.stop().await;
    }
}

#[tokio::test]
async fn backend_restart_is_survived() {
    let port = HeldPort::bind();
    let backend = CountingBackend::serve(port.listen(), None);
    let addr = backend.addr;
    let gateway = gateway_for(&[h2c(addr)], "").await;
    let client = gateway.client().await;
    assert_eq!(client.get_ok("/v1/users/42").await["userId"], "42");

    backend.stop().await;
    // Nothing listens now: a clean UNAVAILABLE, not a hang.
    let reply = get_within(&client, "/v1/users/42").await;
    assert_error(&reply, 503, "UNAVAILABLE", 20001);

    let restarted = CountingBackend::serve(port.listen(), None);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut attempts = 0;
    loop {
        attempts += 1;
        if user_or_unavailable(&get_within(&client, "/v1/users/42").await) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still no answer from the restarted backend after {attempts} attempts"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Back to normal, on the same client connection.
    for _ in 0..10 {
        assert_eq!(client.get_ok("/v1/users/42").await["userId"], "42");
    }
    assert!(
        restarted.counts.requests() >= 11,
        "the restarted backend served them: {}",
        restarted.counts.requests()
    );
    gateway.shutdown().await;
    restarted.stop().await;
}

#[tokio::test]
async fn upstream_connection_is_reused_and_every_worker_serves() {
    // Workers take turns accepting (the one with the fewest open connections), so 16
    // connections are spread over both.
    const CLIENTS: usize = 16;
    const PER_CLIENT: usize = 10;

    let backend = CountingBackend::start().await;
    let gateway = gateway_for(&[h2c(backend.addr)], "").await;
    let clients = futures_util::future::join_all((0..CLIENTS).map(|_| gateway.client())).await;
    futures_util::future::join_all(clients.iter().enumerate().map(|(c, client)| async move {
        for i in 0..PER_CLIENT {
            let name = format!("c{c}r{i}");
            let reply = client.get_ok(&format!("/v1/greeter/{name}")).await;
            assert_eq!(reply["message"], format!("Hello, {name}!"));
        }
    }))
    .await;

    let counts = &backend.counts;
    assert_eq!(counts.requests(), (CLIENTS * PER_CLIENT) as u64);
    let connections = counts.request_connections();
    assert_eq!(
        connections,
        WORKERS,
        "{} requests from {CLIENTS} client connections arrived on {connections} upstream \
         connections; exactly one per worker ({WORKERS}) expected ({} TCP connections accepted \
         in all, reachability probes included)",
        counts.requests(),
        counts.accepted()
    );
    drop(clients);
    gateway.shutdown().await;
    backend.stop().await;
}

#[tokio::test]
async fn an_endpoint_that_comes_back_gets_calls_again() {
    let live = CountingBackend::start().await;
    let returning = HeldPort::bind();
    let gateway = gateway_for(&[h2c(live.addr), h2c(returning.addr)], "").await;
    let client = gateway.client().await;
    for _ in 0..10 {
        assert_eq!(client.get_ok("/v1/users/42").await["userId"], "42");
    }
    assert_eq!(
        live.counts.requests(),
        10,
        "the dead endpoint served nothing"
    );

    // The balancer passes over an endpoint it could not reach for a while (backing off for
    // up to about 3 s after the failures so far), then connects it again in the background
    // and, since it rejoins at its peer's latency estimate, sends it calls.
    let returned = CountingBackend::serve(returning.listen(), None);
    let deadline = Instant::now() + Duration::from_secs(10);
    while returned.counts.requests() == 0 {
        assert!(
            Instant::now() < deadline,
            "the endpoint that came back got no call within 10 s"
        );
        assert_eq!(client.get_ok("/v1/users/42").await["userId"], "42");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.shutdown().await;
    live.stop().await;
    returned.stop().await;
}

#[tokio::test]
async fn calls_during_a_backend_drain_go_to_its_replacement() {
    let mut old = CountingBackend::start().await;
    let addr = old.addr;
    let gateway = gateway_for(&[h2c(addr)], "").await;
    let client = gateway.client().await;
    assert_eq!(client.get_ok("/v1/users/42").await["userId"], "42");

    // A slow call keeps the old backend's connection open while it drains.
    let slow_body = json!({"name": "slow", "delayMs": 1500});
    let slow = client.say_hello(&[], &slow_body);
    let replace = async {
        let deadline = Instant::now() + Duration::from_secs(5);
        while old.counts.requests() < 2 {
            assert!(
                Instant::now() < deadline,
                "the slow call never reached the backend"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // GOAWAY on the gateway's connection, listener closed; a new backend takes the port.
        old.begin_stop();
        let new = CountingBackend::serve(rebind(addr).await, None);
        // A new call must not be sent on the connection that is going away.
        let reply = get_within(&client, "/v1/users/42").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(new.counts.requests(), 1, "served by the replacement");
        new
    };
    let (slow_reply, new) = tokio::join!(slow, replace);
    assert_eq!(slow_reply.status, StatusCode::OK, "{}", slow_reply.text());
    assert_eq!(slow_reply.json()["message"], "Hello, slow!");
    gateway.shutdown().await;
    new.stop().await;
    old.stop().await;
}

/// An HTTP/2 server that takes every call and never answers it.
async fn mute_backend() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = bind_loopback().await;
    let addr = listener.local_addr().expect("address");
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut connection) = h2::server::handshake(socket).await else {
                    return;
                };
                let mut held = Vec::new();
                while let Some(Ok(call)) = connection.accept().await {
                    held.push(call);
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_backend_that_never_answers_is_cut_at_the_deadline() {
    let (addr, backend) = mute_backend().await;
    let gateway = gateway_for(
        &[h2c(addr)],
        "timeout_ms = 300\nstream_idle_timeout_ms = 300",
    )
    .await;
    let client = gateway.client().await;
    // Unary: the call's deadline; server streaming: the idle timeout, headers included.
    for path in ["/v1/users/42", "/v1/users:stream?count=5"] {
        let reply = get_within(&client, path).await;
        assert_error(&reply, 504, "DEADLINE_EXCEEDED", 20001);
    }
    gateway.shutdown().await;
    backend.abort();
}
