//! One client can never hurt another: stalled readers, unfinished uploads and dribbled bodies
//! hold back only themselves, within bounds, and are cut when they overstay.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use tokio::net::TcpStream;

use super::support::{Client, Setup, TestGateway};

/// An HTTP/2 (h2c) client that grants no flow-control window: the server can send headers
/// but no data, however long it waits.
async fn zero_window_client(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (sender, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, Bytes>(tcp)
        .await
        .expect("h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
}

/// Opens `count` streams that never read a large server stream.
async fn stalled_streams(
    sender: &h2::client::SendRequest<Bytes>,
    addr: SocketAddr,
    count: usize,
) -> Vec<h2::client::ResponseFuture> {
    let mut stalled = Vec::new();
    for _ in 0..count {
        let mut ready = sender.clone().ready().await.expect("stream slot");
        let request = Request::builder()
            .uri(format!(
                "http://{addr}/v1/users:stream?count=100000&paddingBytes=1000"
            ))
            .body(())
            .expect("request");
        let (response, _) = ready.send_request(request, true).expect("send");
        stalled.push(response);
    }
    stalled
}

#[tokio::test]
async fn stalled_streams_do_not_hold_back_other_clients() {
    // One worker: every stream shares that worker's upstream connection.
    let gateway = TestGateway::start_with(Setup {
        plaintext: true,
        separate_backend: true,
        server: "workers = 1",
        ..Setup::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let sender = zero_window_client(gateway.addr).await;
        let streams = stalled_streams(&sender, gateway.addr, 8).await;
        held.push((sender, streams));
    }
    // Long enough for every stalled stream to fill whatever the backend may send ahead.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = Instant::now();
    let calls = (0..8).map(|_| async {
        let client = Client::h2c(gateway.addr).await;
        let reply = tokio::time::timeout(Duration::from_secs(5), client.get("/v1/users/42"))
            .await
            .expect("answered promptly");
        reply.status
    });
    let statuses = futures_util::future::join_all(calls).await;
    assert!(
        statuses.iter().all(|status| *status == StatusCode::OK),
        "{statuses:?} after {:?}",
        started.elapsed()
    );
    drop(held);
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_a_stream_is_cut() {
    let gateway = TestGateway::start_with(Setup {
        plaintext: true,
        separate_backend: true,
        upstream: "stream_idle_timeout_ms = 700",
        ..Setup::default()
    })
    .await;
    let tcp = TcpStream::connect(gateway.addr).await.expect("connect");
    let (sender, connection) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, Bytes>(tcp)
        .await
        .expect("h2 handshake");
    let connection = tokio::spawn(connection);
    let _stalled = stalled_streams(&sender, gateway.addr, 2).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), connection).await;
    assert!(
        closed.is_ok(),
        "the connection of a client that stopped reading was closed"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_body_dribbled_past_the_request_timeout_is_408() {
    let gateway = TestGateway::plaintext("[limits]\nrequest_timeout_ms = 600\n").await;
    let tcp = TcpStream::connect(gateway.addr).await.expect("connect");
    let (sender, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut ready = sender.ready().await.expect("ready");
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("http://{}/v1/users", gateway.addr))
        .header("content-type", "application/json")
        .body(())
        .expect("request");
    let (response, mut body) = ready.send_request(request, false).expect("send");
    let dribble = tokio::spawn(async move {
        for byte in br#"{"name":"Slow","age":1}"#.iter().cycle().take(100) {
            if body
                .send_data(Bytes::copy_from_slice(&[*byte]), false)
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .expect("answered before the body ends")
        .expect("a response, not a reset");
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    let mut body = response.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = body.data().await {
        text.extend_from_slice(&chunk.expect("body chunk"));
    }
    let error: serde_json::Value = serde_json::from_slice(&text).expect("an ErrorResponse");
    assert_eq!(error["status"], "DEADLINE_EXCEEDED", "{error}");
    dribble.abort();
    let client = Client::h2c(gateway.addr).await;
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn unfinished_uploads_past_the_connection_limit_are_shed() {
    // One body of 150 kB fits in the 200 kB connection limit; a second does not.
    let gateway = TestGateway::start_with(Setup {
        plaintext: true,
        server: "max_body_bytes = 200000",
        extra: "[limits]\nper_connection_buffer_limit_bytes = 65536\n",
        ..Setup::default()
    })
    .await;
    let tcp = TcpStream::connect(gateway.addr).await.expect("connect");
    let (sender, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut uploads = Vec::new();
    for _ in 0..4 {
        let mut ready = sender.clone().ready().await.expect("ready");
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("http://{}/v1/users", gateway.addr))
            .header("content-type", "application/json")
            .body(())
            .expect("request");
        let (response, mut body) = ready.send_request(request, false).expect("send");
        // 120 kB of a body that never ends: the gateway must buffer it to transcode it.
        body.reserve_capacity(120_000);
        let _ = body.send_data(Bytes::from(vec![b' '; 120_000]), false);
        uploads.push((response, body));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut shed = 0;
    for (response, _body) in &mut uploads {
        if let Ok(Ok(response)) = tokio::time::timeout(Duration::from_millis(500), response).await {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                response.headers().get("retry-after").map(|v| v.as_bytes()),
                Some(&b"1"[..])
            );
            shed += 1;
        }
    }
    assert!(
        shed >= 2,
        "uploads beyond what the connection may hold were shed: {shed}"
    );
    let client = Client::h2c(gateway.addr).await;
    client.assert_still_usable().await;
    drop(uploads);
    gateway.shutdown().await;
}

#[tokio::test]
async fn clients_resetting_slow_calls_do_not_cost_others_their_calls() {
    // One worker, so attackers and innocent calls share its one upstream connection to a
    // stock tonic backend (which sends GOAWAY after 20 streams reset before it accepted them).
    let gateway = TestGateway::start_with(Setup {
        plaintext: true,
        separate_backend: true,
        server: "workers = 1",
        ..Setup::default()
    })
    .await;
    let addr = gateway.addr;
    let innocent = (0..8).map(|i| async move {
        let client = Client::h2c(addr).await;
        let body = serde_json::json!({"name": format!("innocent-{i}"), "delayMs": 1500});
        client.say_hello(&[], &body).await
    });
    let innocent = tokio::spawn(futures_util::future::join_all(innocent));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let attackers = (0..20).map(|_| async move {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let (sender, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        for _ in 0..3 {
            let mut batch = Vec::new();
            for _ in 0..90 {
                let Ok(mut ready) = sender.clone().ready().await else {
                    return;
                };
                let request = Request::builder()
                    .uri(format!("http://{addr}/v1/greeter/x?delayMs=1000"))
                    .body(())
                    .expect("request");
                match ready.send_request(request, true) {
                    Ok((response, _)) => batch.push(response),
                    Err(_) => return,
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop(batch);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    futures_util::future::join_all(attackers).await;
    let replies = innocent.await.expect("innocent calls");
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn requests_past_max_in_flight_get_503_at_once() {
    let gateway = TestGateway::start("[limits]\nmax_in_flight = 3\n").await;
    let addr = gateway.addr;
    let slow = (0..3).map(|_| async move {
        let client = Client::tls(addr, &[b"h2"]).await;
        let body = serde_json::json!({"name": "slow", "delayMs": 1500});
        client.say_hello(&[], &body).await
    });
    let slow = tokio::spawn(futures_util::future::join_all(slow));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let client = gateway.client().await;
    let started = Instant::now();
    let reply = client.get("/v1/users/42").await;
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "answered at once"
    );
    let error = super::support::assert_error(&reply, 503, "UNAVAILABLE", 20001);
    assert_eq!(reply.header("retry-after"), Some("1"), "{error}");
    // Health endpoints are not counted.
    assert_eq!(client.get("/healthz").await.status, StatusCode::OK);
    for reply in slow.await.expect("slow calls") {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }
    client.assert_still_usable().await;
    gateway.shutdown().await;
}
