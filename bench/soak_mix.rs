//! Mixed-traffic soak client for `bench/run.sh` (`SOAK_MIX=1`): every shape of call the gateway
//! serves, at once, for a bounded time, against a gateway on loopback; prints what each shape
//! got. The script samples the gateway's RSS and open descriptors meanwhile.
//!
//! `cargo run --release --example soak_mix -- ADDR SECONDS TASKS`, ADDR a TLS gateway in front
//! of the demo services (users, greeter, chat).
//!
//! Each task cycles through: a unary GET and a POST (HTTP/2, its own long-lived connection), a
//! server stream read to its end, a client stream, a WebSocket chat (HTTP/1.1 upgrade, fresh
//! connection), malformed JSON (expects 400), and a client that vanishes mid-stream (fresh
//! connection dropped after the first chunk).

// Test and benchmark code: a failure should panic loudly (the workspace denies these lints
// for library code).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

const SHAPES: [&str; 7] = [
    "unary_get",
    "unary_post",
    "server_stream",
    "client_stream",
    "websocket",
    "bad_input",
    "vanishing_client",
];
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Default)]
struct Tally {
    ok: [AtomicU64; 7],
    failed: [AtomicU64; 7],
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(addr), Some(secs), Some(tasks)) = (
        args.get(1).and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(2).and_then(|s| s.parse::<u64>().ok()),
        args.get(3).and_then(|t| t.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: soak_mix ADDR SECONDS TASKS");
        std::process::exit(2);
    };
    let deadline = Instant::now() + Duration::from_secs(secs);
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..tasks)
        .map(|task| tokio::spawn(run_task(addr, deadline, task, Arc::clone(&tally))))
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    let mut failed_total = 0;
    for (i, shape) in SHAPES.iter().enumerate() {
        let ok = tally.ok[i].load(Ordering::Relaxed);
        let failed = tally.failed[i].load(Ordering::Relaxed);
        failed_total += failed;
        println!("  {shape:17} ok {ok:9}  failed {failed}");
    }
    println!("  failed in all: {failed_total}");
}

async fn run_task(addr: SocketAddr, deadline: Instant, task: usize, tally: Arc<Tally>) {
    let mut client = None;
    let mut turn = task;
    while Instant::now() < deadline {
        let shape = turn % SHAPES.len();
        turn += 1;
        if client.is_none() {
            client = h2_client(addr).await;
        }
        let ok = match (shape, &client) {
            (0..=3 | 5, Some(sender)) => {
                tokio::time::timeout(CALL_TIMEOUT, call(sender.clone(), addr, shape))
                    .await
                    .unwrap_or(false)
            }
            (4, _) => tokio::time::timeout(CALL_TIMEOUT, websocket(addr))
                .await
                .unwrap_or(false),
            (6, _) => tokio::time::timeout(CALL_TIMEOUT, vanish(addr))
                .await
                .unwrap_or(false),
            _ => false,
        };
        let counter = if ok { &tally.ok } else { &tally.failed };
        if let Some(counter) = counter.get(shape) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if !ok && shape != 4 && shape != 6 {
            client = None; // a fresh connection next time
        }
    }
}

/// One call on the task's HTTP/2 connection; whether it got what it should.
async fn call(mut sender: http2::SendRequest<Full<Bytes>>, addr: SocketAddr, shape: usize) -> bool {
    let (method, path, body, expect) = match shape {
        0 => (Method::GET, "/v1/users/42", String::new(), StatusCode::OK),
        1 => (
            Method::POST,
            "/v1/greeter:sayHello",
            r#"{"name":"soak"}"#.to_owned(),
            StatusCode::OK,
        ),
        2 => (
            Method::GET,
            "/v1/users:stream?count=20",
            String::new(),
            StatusCode::OK,
        ),
        3 => (
            Method::POST,
            "/v1/users:import",
            (0..5)
                .map(|i| format!("{{\"name\":\"soak {i}\",\"age\":{i}}}\n"))
                .collect(),
            StatusCode::OK,
        ),
        _ => (
            Method::POST,
            "/v1/users",
            "{not json".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
    };
    let request = Request::builder()
        .method(method)
        .uri(format!("https://{addr}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)));
    let Ok(request) = request else { return false };
    if sender.ready().await.is_err() {
        return false;
    }
    let Ok(response) = sender.send_request(request).await else {
        return false;
    };
    let status = response.status();
    let Ok(body) = response.into_body().collect().await else {
        return false;
    };
    let body = body.to_bytes();
    status == expect
        && !(shape == 2
            && body
                .split(|&b| b == b'\n')
                .filter(|l| l.starts_with(b"{\"result\""))
                .count()
                != 20)
}

/// A chat over a fresh HTTP/1.1 connection: five messages, five echoes, a clean close.
async fn websocket(addr: SocketAddr) -> bool {
    let Some(tls) = tls_stream(addr, b"http/1.1").await else {
        return false;
    };
    let url = format!("wss://{addr}/v1/rooms/soak:chat");
    let Ok((mut socket, _)) = tokio_tungstenite::client_async(url, tls).await else {
        return false;
    };
    for i in 0..5 {
        let text = format!("{{\"user\":\"soak\",\"text\":\"hello {i}\"}}");
        if socket.send(Message::Text(text.into())).await.is_err() {
            return false;
        }
        match socket.next().await {
            Some(Ok(Message::Text(_))) => {}
            _ => return false,
        }
    }
    let _ = socket.close(None).await;
    true
}

/// A client that opens a long stream, takes its first chunk and vanishes.
async fn vanish(addr: SocketAddr) -> bool {
    let Some(mut sender) = h2_client(addr).await else {
        return false;
    };
    let request = Request::builder()
        .uri(format!(
            "https://{addr}/v1/users:stream?count=1000&intervalMs=5"
        ))
        .body(Full::new(Bytes::new()));
    let Ok(request) = request else { return false };
    if sender.ready().await.is_err() {
        return false;
    }
    let Ok(response) = sender.send_request(request).await else {
        return false;
    };
    let mut body = response.into_body();
    let got_first = matches!(body.frame().await, Some(Ok(_)));
    drop((body, sender)); // the connection goes with the sender
    got_first
}

async fn h2_client(addr: SocketAddr) -> Option<http2::SendRequest<Full<Bytes>>> {
    let tls = tls_stream(addr, b"h2").await?;
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
        .await
        .ok()?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Some(sender)
}

async fn tls_stream(
    addr: SocketAddr,
    alpn: &[u8],
) -> Option<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await.ok()?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from("localhost").ok()?;
    connector(alpn).connect(name, tcp).await.ok()
}

fn connector(alpn: &[u8]) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map(|builder| {
            let mut config = builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
                .with_no_client_auth();
            config.alpn_protocols = vec![alpn.to_vec()];
            config
        });
    match config {
        Ok(config) => TlsConnector::from(Arc::new(config)),
        Err(err) => panic!("TLS client configuration: {err}"),
    }
}

/// The gateway presents a generated self-signed certificate: accepted as is, with the
/// handshake's signatures still checked.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
