//! Connections that overstay: silent after connecting, idle, dribbling their headers, too
//! many at once, abandoning streams as fast as they open them, or racing the shutdown.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::support::{
    BodyReader, Client, Setup, StreamingClient, TestGateway, tls_connector, tls_handshake,
};

/// Short limits, so the tests see them act.
const LIMITS: &str = "[limits]\nrequest_headers_timeout_ms = 600\nidle_timeout_ms = 800\n";

/// Reads until the peer closes; how long that took (None: still open after `within`).
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(
    io: &mut S,
    within: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    let reading = async {
        loop {
            match io.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, reading)
        .await
        .ok()
        .map(|()| started.elapsed())
}

#[tokio::test]
async fn a_connection_that_never_sends_a_request_is_closed() {
    let gateway = TestGateway::start(LIMITS).await;
    for alpn in [&b"h2"[..], b"http/1.1"] {
        let mut tls = tls_handshake(gateway.addr, &[alpn]).await;
        let closed = closed_within(&mut tls, Duration::from_secs(10)).await;
        assert!(
            closed.is_some(),
            "{alpn:?}: a silent TLS connection is closed"
        );
    }
    gateway.shutdown().await;

    let gateway = TestGateway::plaintext(LIMITS).await;
    let mut tcp = TcpStream::connect(gateway.addr).await.expect("connect");
    let closed = closed_within(&mut tcp, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "a silent plaintext connection is closed");
    // A first request that never finishes its headers (HTTP/2 prior knowledge, preface only).
    let mut tcp = TcpStream::connect(gateway.addr).await.expect("connect");
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("preface");
    let closed = closed_within(&mut tcp, Duration::from_secs(10)).await;
    assert!(
        closed.is_some(),
        "a connection that sends only the preface is closed"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn headers_dribbled_byte_by_byte_are_cut() {
    let gateway = TestGateway::plaintext(LIMITS).await;
    let mut tcp = TcpStream::connect(gateway.addr).await.expect("connect");
    let head = b"GET /v1/users/42 HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    let started = Instant::now();
    let mut cut = false;
    'dribble: for byte in head.iter().chain(std::iter::repeat(&b'a')).take(200) {
        if tcp.write_all(&[*byte]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut buffer = [0u8; 512];
        // The gateway may answer (408/431) or just close: either way it stops listening.
        if let Ok(read) =
            tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut buffer)).await
        {
            match read {
                Ok(_) | Err(_) => {
                    cut = true;
                    break 'dribble;
                }
            }
        }
    }
    assert!(cut, "the dribbling client was cut off");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "cut near the 600 ms header timeout, took {:?}",
        started.elapsed()
    );
    let client = Client::h2c(gateway.addr).await;
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn an_idle_connection_is_closed_and_a_busy_one_is_not() {
    let gateway = TestGateway::start(LIMITS).await;
    let idle = gateway.client().await;
    idle.assert_still_usable().await;
    let busy = StreamingClient::connect(gateway.addr).await;
    // A stream that runs past the idle timeout keeps its connection open.
    let response = busy
        .get("/v1/users:stream?count=12&intervalMs=200", &[])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let lines = BodyReader::new(response).rest().await;
    assert_eq!(lines.len(), 12, "the whole stream arrived: {lines:?}");
    // The first connection was idle all along: closed by now.
    let closed = tokio::time::timeout(Duration::from_secs(5), idle.closed()).await;
    assert!(closed.is_ok(), "the idle connection was closed");
    gateway.shutdown().await;
}

#[tokio::test]
async fn connections_past_max_connections_are_refused_and_the_others_keep_working() {
    let gateway = TestGateway::start("[limits]\nmax_connections = 3\n").await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let client = gateway.client().await;
        client.assert_still_usable().await;
        open.push(client);
    }
    // The fourth is closed at accept: its TLS handshake cannot complete.
    let tcp = TcpStream::connect(gateway.addr)
        .await
        .expect("TCP connect still succeeds");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let handshake = tokio::time::timeout(
        Duration::from_secs(10),
        tls_connector(&[b"h2"]).connect(name, tcp),
    )
    .await
    .expect("refused promptly");
    assert!(
        handshake.is_err(),
        "the connection over the limit was closed"
    );
    for client in &open {
        client.assert_still_usable().await;
    }
    // A slot frees when a connection closes.
    drop(open.pop());
    let again = super::support::poll_until(Duration::from_secs(10), || async {
        let tcp = TcpStream::connect(gateway.addr).await.ok()?;
        let name = rustls::pki_types::ServerName::try_from("localhost").ok()?;
        tls_connector(&[b"h2"]).connect(name, tcp).await.ok()
    })
    .await;
    assert!(
        again.is_some(),
        "a new connection is accepted once one closed"
    );
    drop(again);
    drop(open);
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_connection_that_abandons_its_streams_is_closed() {
    let gateway = TestGateway::plaintext("").await;
    let tcp = TcpStream::connect(gateway.addr).await.expect("connect");
    let (sender, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    let connection = tokio::spawn(connection);
    let started = Instant::now();
    let mut abandoned = 0;
    // Slow calls, each reset a few milliseconds after it started (after the gateway took
    // it, so h2's own pending-reset guard does not see it).
    'attack: for _ in 0..20 {
        let mut batch = Vec::new();
        for _ in 0..50 {
            let Ok(mut ready) = sender.clone().ready().await else {
                break 'attack;
            };
            let request = Request::builder()
                .uri(format!("http://{}/v1/greeter/x?delayMs=2000", gateway.addr))
                .body(())
                .expect("request");
            match ready.send_request(request, true) {
                Ok((response, _)) => batch.push(response),
                Err(_) => break 'attack,
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        abandoned += batch.len();
        drop(batch);
    }
    let ended = tokio::time::timeout(Duration::from_secs(10), connection).await;
    assert!(
        ended.is_ok(),
        "the abusive connection was closed after {abandoned} resets"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        (250..1000).contains(&abandoned),
        "closed once half of its first 500 streams were abandoned, after {abandoned}"
    );
    let client = Client::h2c(gateway.addr).await;
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_request_that_races_the_shutdown_is_served() {
    let gateway = TestGateway::start_with(Setup {
        plaintext: true,
        server: "shutdown_grace_secs = 5",
        ..Setup::default()
    })
    .await;
    let addr = gateway.addr;
    // Connected (and accepted) before the drain, but nothing sent yet.
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let shutdown = tokio::spawn(gateway.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("the HTTP/2 preface is answered during the drain");
    tokio::spawn(connection);
    let request = Request::builder()
        .method(Method::GET)
        .uri(format!("http://{addr}/v1/users/42"))
        .body(http_body_util::Full::new(Bytes::new()))
        .expect("request");
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .expect("answered in time")
        .expect("answered, not reset");
    assert_eq!(response.status(), StatusCode::OK);
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("the drain ends")
        .expect("shutdown task");
}

#[tokio::test]
async fn streams_running_when_the_grace_ends_get_a_last_error_line() {
    let gateway = TestGateway::start_with(Setup {
        server: "shutdown_grace_secs = 1",
        ..Setup::default()
    })
    .await;
    let client = StreamingClient::connect(gateway.addr).await;
    let response = client
        .get("/v1/users:stream?count=1000&intervalMs=50", &[])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut reader = BodyReader::new(response);
    reader.json_line().await.expect("a first message");
    let shutdown = tokio::spawn(gateway.shutdown());
    let mut last = serde_json::Value::Null;
    while let Some(line) = reader.json_line().await {
        last = line;
    }
    assert_eq!(last["error"]["status"], "UNAVAILABLE", "{last}");
    assert_eq!(last["error"]["code"], 20001, "{last}");
    shutdown.await.expect("shutdown task");
}

#[tokio::test]
async fn a_thousand_connections_at_once_are_capped_at_max_connections() {
    let gateway = TestGateway::plaintext("[limits]\nmax_connections = 100\n").await;
    let served = Client::h2c(gateway.addr).await;
    served.assert_still_usable().await;
    let connects = (0..1000).map(|_| TcpStream::connect(gateway.addr));
    let sockets: Vec<TcpStream> = futures_util::future::join_all(connects)
        .await
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    // Those past the limit are closed as soon as they are accepted; the rest stay open
    // (until their first-request timeout).
    let closes = sockets.into_iter().map(|mut socket| async move {
        closed_within(&mut socket, Duration::from_secs(3))
            .await
            .is_some()
    });
    let closed = futures_util::future::join_all(closes)
        .await
        .into_iter()
        .filter(|closed| *closed)
        .count();
    assert!(
        (850..=1000).contains(&closed),
        "about 900 of 1000 refused at once with 99 slots left, got {closed}"
    );
    served.assert_still_usable().await;
    gateway.shutdown().await;
}
