//! Test harness: a gateway on an ephemeral port (embedded demo, plaintext, or a separate demo
//! backend behind `[[upstreams]]`), and real HTTP clients that keep one connection each.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use h2gate::config::Config;
use h2gate::server::{RunningGateway, StartError};

/// No single request in this suite may take longer (the slowest legitimate one sleeps ~1 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The Greeter's REST face, as in `config/gateway.toml`.
pub const GREETER_RULES: &str = r#"
[[http_rules]]
selector = "demo.v1.Greeter.SayHello"
post = "/v1/greeter:sayHello"
body = "*"
additional_bindings = [{ get = "/v1/greeter/{name}" }]
"#;

/// How to assemble a gateway's configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Setup<'a> {
    /// Extra keys placed under `[server]` (e.g. `max_body_bytes = 64`).
    pub server: &'a str,
    /// Extra TOML appended after the base config (whole tables: `[json]`, `[[upstreams]]`, ...).
    pub extra: &'a str,
    /// `[server] plaintext = true`.
    pub plaintext: bool,
    /// Run the demo with `h2gate_demo::serve` on its own port and route to it through an
    /// `[[upstreams]]` entry, with `[demo] embedded = false` and the demo protos compiled from
    /// `proto/`.
    pub separate_backend: bool,
    /// Extra keys for the separate backend's `[[upstreams]]` entry (e.g. `timeout_ms = 300`).
    pub upstream: &'a str,
    /// Leave out the Greeter's `[[http_rules]]` (to give it rules another way).
    pub no_greeter_rules: bool,
}

/// The demo backend served on its own listener (`h2gate_demo::serve`).
pub struct DemoBackend {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl DemoBackend {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind demo backend");
        let addr = listener.local_addr().expect("demo backend address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(err) = h2gate_demo::serve(listener, shutdown).await {
                eprintln!("demo backend stopped with an error: {err}");
            }
        });
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }
}

impl Drop for DemoBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A running gateway; shut down explicitly with [`TestGateway::shutdown`] or on drop.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub tls: bool,
    running: Option<RunningGateway>,
    backend: Option<DemoBackend>,
}

impl TestGateway {
    /// TLS (self-signed), embedded demo, Greeter rules, plus `extra`.
    pub async fn start(extra: &str) -> Self {
        Self::start_with(Setup {
            extra,
            ..Setup::default()
        })
        .await
    }

    /// Like [`TestGateway::start`] but `[server] plaintext = true` (HTTP/1.1 and h2c).
    pub async fn plaintext(extra: &str) -> Self {
        Self::start_with(Setup {
            extra,
            plaintext: true,
            ..Setup::default()
        })
        .await
    }

    /// TLS gateway in front of a separately served demo backend (`[[upstreams]]`).
    pub async fn with_separate_backend(extra: &str) -> Self {
        Self::start_with(Setup {
            extra,
            separate_backend: true,
            ..Setup::default()
        })
        .await
    }

    /// A gateway running exactly `text` (which must listen on an ephemeral port).
    pub async fn from_text(text: String) -> Self {
        Self::from_parts(text, None, false).await
    }

    pub async fn start_with(setup: Setup<'_>) -> Self {
        let backend = if setup.separate_backend {
            Some(DemoBackend::start().await)
        } else {
            None
        };
        let text = config_text(&setup, backend.as_ref().map(|b| b.addr));
        Self::from_parts(text, backend, setup.plaintext).await
    }

    async fn from_parts(text: String, backend: Option<DemoBackend>, plaintext: bool) -> Self {
        let config = h2gate::config::parse(&text, "integration test config")
            .unwrap_or_else(|err| panic!("test config does not parse: {err}\n---\n{text}"));
        let running = start_gateway(&config)
            .await
            .unwrap_or_else(|err| panic!("gateway does not start: {err}\n---\n{text}"));
        assert_eq!(running.tls, !plaintext, "TLS mode follows the config");
        Self {
            addr: running.local_addr,
            tls: running.tls,
            running: Some(running),
            backend,
        }
    }

    /// A client on a fresh connection: HTTP/2 (ALPN `h2` under TLS, prior knowledge in plaintext).
    pub async fn client(&self) -> Client {
        if self.tls {
            Client::tls(self.addr, &[b"h2", b"http/1.1"]).await
        } else {
            Client::h2c(self.addr).await
        }
    }

    /// An HTTP/1.1-only client on a fresh connection.
    pub async fn client_h1(&self) -> Client {
        if self.tls {
            Client::tls(self.addr, &[b"http/1.1"]).await
        } else {
            Client::h1_plain(self.addr).await
        }
    }

    /// Graceful shutdown of the gateway and, if any, the separate backend.
    pub async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            tokio::time::timeout(Duration::from_secs(15), running.shutdown())
                .await
                .expect("gateway shuts down within its grace period");
        }
        if let Some(backend) = self.backend.take() {
            backend.stop().await;
        }
    }
}

/// The configuration text for `setup` (with `backend` as the upstream when separate).
/// Starts a gateway as `h2gate serve` does, with the demo services as its embedded backend.
pub async fn start_gateway(config: &Config) -> Result<RunningGateway, StartError> {
    h2gate::server::start(config, Some(&crate::embedded_demo::backend())).await
}

pub fn config_text(setup: &Setup<'_>, backend: Option<SocketAddr>) -> String {
    let mut text = String::from("[server]\nlisten = \"127.0.0.1:0\"\n");
    if setup.plaintext {
        text.push_str("plaintext = true\n");
    }
    text.push_str(setup.server);
    text.push('\n');
    match backend {
        Some(addr) => text.push_str(&demo_upstream_tables(
            &[format!("http://{addr}")],
            setup.upstream,
        )),
        None => text.push_str("\n[demo]\nembedded = true\n"),
    }
    if !setup.no_greeter_rules {
        text.push_str(GREETER_RULES);
        text.push('\n');
    }
    text.push_str(setup.extra);
    text.push('\n');
    text
}

/// `[demo] embedded = false`, the demo protos compiled from `proto/`, and one `[[upstreams]]`
/// entry (`demo-backend`) serving the UserService and the Greeter from `endpoints`, plus the
/// `upstream` keys (e.g. `timeout_ms = 300`).
pub fn demo_upstream_tables(endpoints: &[String], upstream: &str) -> String {
    let proto = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("demo/proto");
    format!(
        concat!(
            "\n[demo]\nembedded = false\n\n",
            "[descriptors]\ninclude = [{proto:?}]\n",
            "protos = [\"demo/v1/user.proto\", \"demo/v1/greeter.proto\"]\n\n",
            "[[upstreams]]\nname = \"demo-backend\"\nendpoints = {endpoints:?}\n",
            "services = [\"demo.v1.UserService\", \"demo.v1.Greeter\"]\n",
            "{upstream}\n",
        ),
        proto = proto.display().to_string(),
        endpoints = endpoints,
        upstream = upstream,
    )
}

/// A loopback port that refuses connections for as long as this value lives.
///
/// The port stays bound (not listening: the kernel answers a SYN with a reset), so nothing else
/// can take it meanwhile: not a parallel test's listener, and not an outgoing connection picking
/// it as its source port (which would connect to itself). A port that was bound and released
/// instead could be either by the time the test uses it. Bound with `SO_REUSEPORT`, so that
/// [`HeldPort::listen`] can open a listener on it while the hold stays: once that listener
/// closes the port refuses connections again, still held.
pub struct HeldPort {
    pub addr: SocketAddr,
    _hold: tokio::net::TcpSocket,
}

impl HeldPort {
    pub fn bind() -> Self {
        let hold = tokio::net::TcpSocket::new_v4().expect("socket");
        hold.set_reuseport(true).expect("SO_REUSEPORT");
        hold.bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind a loopback port");
        let addr = hold.local_addr().expect("held address");
        Self { addr, _hold: hold }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A listener on the held port (a backend coming up there).
    pub fn listen(&self) -> TcpListener {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseport(true).expect("SO_REUSEPORT");
        socket.bind(self.addr).expect("bind the held port");
        socket.listen(1024).expect("listen on the held port")
    }
}

// ---------------------------------------------------------------------------------------------
// Clients

/// Accepts whatever certificate the gateway presents (it generates a self-signed one), but
/// still checks the handshake signatures, so the TLS session is real. Test-only.
#[derive(Debug)]
struct AcceptGatewayCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptGatewayCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
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

pub fn tls_connector(alpn: &[&[u8]]) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptGatewayCert(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

enum Sender {
    H1(Mutex<http1::SendRequest<Full<Bytes>>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// One HTTP connection to the gateway. Every request goes over that same connection, so a test
/// can prove the connection survived an error.
pub struct Client {
    sender: Sender,
    alpn: Option<Vec<u8>>,
    peer_certificate: Option<Vec<u8>>,
    scheme: &'static str,
    authority: String,
    connection: JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON; panics with the raw body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "response ({}) is not JSON ({err}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// A header as text (the first value).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    /// TLS with the given ALPN offer; HTTP/2 when the server picks `h2`, else HTTP/1.1.
    pub async fn tls(addr: SocketAddr, alpn: &[&[u8]]) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect to gateway");
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from("localhost").expect("server name");
        let tls = tokio::time::timeout(REQUEST_TIMEOUT, tls_connector(alpn).connect(name, tcp))
            .await
            .expect("TLS handshake timed out")
            .expect("TLS handshake with the gateway");
        let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let peer_certificate = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|cert| cert.as_ref().to_vec());
        let io = TokioIo::new(tls);
        let authority = addr.to_string();
        if negotiated.as_deref() == Some(b"h2") {
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                .await
                .expect("HTTP/2 handshake");
            let connection = tokio::spawn(async move {
                let _ = connection.await;
            });
            Client {
                sender: Sender::H2(sender),
                alpn: negotiated,
                peer_certificate,
                scheme: "https",
                authority,
                connection,
            }
        } else {
            let (sender, connection) = http1::handshake(io).await.expect("HTTP/1.1 handshake");
            let connection = tokio::spawn(async move {
                let _ = connection.await;
            });
            Client {
                sender: Sender::H1(Mutex::new(sender)),
                alpn: negotiated,
                peer_certificate,
                scheme: "https",
                authority,
                connection,
            }
        }
    }

    /// Plaintext HTTP/2 with prior knowledge (h2c).
    pub async fn h2c(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect to gateway");
        let _ = tcp.set_nodelay(true);
        let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2c handshake");
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        Client {
            sender: Sender::H2(sender),
            alpn: None,
            peer_certificate: None,
            scheme: "http",
            authority: addr.to_string(),
            connection,
        }
    }

    /// Plaintext HTTP/1.1.
    pub async fn h1_plain(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect to gateway");
        let _ = tcp.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(tcp))
            .await
            .expect("HTTP/1.1 handshake");
        let connection = tokio::spawn(async move {
            let _ = connection.await;
        });
        Client {
            sender: Sender::H1(Mutex::new(sender)),
            alpn: None,
            peer_certificate: None,
            scheme: "http",
            authority: addr.to_string(),
            connection,
        }
    }

    /// Whether the server has closed this connection.
    pub async fn is_closed(&self) -> bool {
        match &self.sender {
            Sender::H2(sender) => sender.is_closed(),
            Sender::H1(sender) => sender.lock().await.is_closed(),
        }
    }

    /// Resolves once the server has closed this connection.
    pub async fn closed(&self) {
        while !self.is_closed().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The ALPN protocol the TLS handshake settled on (`None` in plaintext).
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// DER of the certificate the server presented (TLS only).
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.peer_certificate.as_deref()
    }

    pub fn is_h2(&self) -> bool {
        matches!(self.sender, Sender::H2(_))
    }

    /// The `host:port` this client talks to.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Sends one request on this client's connection and reads the whole response.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let body: Bytes = body.into();
        let uri = match self.sender {
            // HTTP/2 carries scheme and authority as pseudo-headers.
            Sender::H2(_) => format!("{}://{}{path}", self.scheme, self.authority),
            // HTTP/1.1 uses the origin form plus a Host header.
            Sender::H1(_) => path.to_owned(),
        };
        let mut builder = Request::builder().method(method.clone()).uri(&uri);
        let map = builder.headers_mut().expect("valid request parts");
        for (name, value) in headers {
            map.append(
                HeaderName::try_from(*name).expect("header name"),
                HeaderValue::try_from(*value).expect("header value"),
            );
        }
        if matches!(self.sender, Sender::H1(_)) && !map.contains_key(http::header::HOST) {
            map.insert(
                http::header::HOST,
                HeaderValue::try_from(self.authority.as_str()).expect("host"),
            );
        }
        let request = builder.body(Full::new(body)).expect("valid request");
        let exchange = async {
            let response = match &self.sender {
                Sender::H2(sender) => {
                    let mut sender = sender.clone();
                    sender.ready().await?;
                    sender.send_request(request).await?
                }
                Sender::H1(sender) => {
                    let mut sender = sender.lock().await;
                    sender.ready().await?;
                    sender.send_request(request).await?
                }
            };
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, hyper::Error>(Reply {
                status: parts.status,
                version: parts.version,
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(err)) => panic!("{method} {path} failed on the connection: {err:?}"),
            Err(_) => panic!("{method} {path} timed out after {REQUEST_TIMEOUT:?}"),
        }
    }

    /// `(status, headers, body)` of one request on this connection.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let reply = self.request(method, path, headers, body).await;
        (reply.status, reply.headers, reply.body)
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, &[], Bytes::new()).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.request(Method::DELETE, path, &[], Bytes::new()).await
    }

    /// A request with a JSON body (`Content-Type: application/json`).
    pub async fn json(&self, method: Method, path: &str, body: &Value) -> Reply {
        self.json_with(method, path, &[], body).await
    }

    pub async fn json_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Reply {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        let bytes = serde_json::to_vec(body).expect("serialize JSON");
        self.request(method, path, &all, bytes).await
    }

    /// A request with a raw (possibly invalid) JSON body.
    pub async fn raw_json(&self, method: Method, path: &str, body: impl Into<Bytes>) -> Reply {
        self.request(method, path, &[("content-type", "application/json")], body)
            .await
    }

    /// GET a path and expect a 200 JSON answer.
    pub async fn get_ok(&self, path: &str) -> Value {
        let reply = self.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "GET {path}: {}", reply.text());
        reply.json()
    }

    /// The Greeter through `POST /v1/greeter:sayHello`; returns the reply.
    pub async fn say_hello(&self, headers: &[(&str, &str)], body: &Value) -> Reply {
        self.json_with(Method::POST, "/v1/greeter:sayHello", headers, body)
            .await
    }

    /// A request known to succeed, proving the connection is still usable.
    pub async fn assert_still_usable(&self) {
        let reply = self.get("/v1/users/42").await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "follow-up request on the same connection: {}",
            reply.text()
        );
        assert_eq!(reply.json()["userId"], "42");
    }
}

// ---------------------------------------------------------------------------------------------
// Assertions and small helpers

/// Checks the one error shape and returns the body.
pub fn assert_error(reply: &Reply, http_status: u16, status: &str, code: i64) -> Value {
    assert_eq!(
        reply.status.as_u16(),
        http_status,
        "HTTP status; body: {}",
        reply.text()
    );
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "error content-type is JSON, got {content_type:?}"
    );
    let body = reply.json();
    assert_eq!(body["status"], status, "status name in {body}");
    assert_eq!(body["code"], code, "business code in {body}");
    assert!(body["message"].is_string(), "message is a string in {body}");
    assert!(body["details"].is_array(), "details is an array in {body}");
    body
}

/// The message of an error body, lower-cased.
pub fn message_of(body: &Value) -> String {
    body["message"].as_str().unwrap_or_default().to_lowercase()
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Polls `check` until it yields `Some` or `timeout` passes.
pub async fn poll_until<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A file under the system temp dir with a unique name, removed on drop.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    pub fn new(stem: &str, extension: &str, contents: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "h2gate-test-{stem}-{}-{unique}-{nanos}.{extension}",
            std::process::id()
        ));
        std::fs::write(&path, contents).expect("write temp file");
        Self { path }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Parses a gRPC timeout value (`100m`, `4999873u`, ...) as the backend saw it, with the
/// gateway's own parser.
pub fn parse_grpc_timeout(text: &str) -> Option<Duration> {
    let mut headers = HeaderMap::new();
    headers.insert("grpc-timeout", HeaderValue::try_from(text).ok()?);
    h2gate::internals::grpc_timeout(&headers).ok().flatten()
}

// ---------------------------------------------------------------------------------------------
// A misbehaving backend

/// What a [`FakeBackend`] answers: HTTP status, headers (a trailers-only answer when they carry
/// `grpc-status`), body.
pub type FakeAnswer = (u16, Vec<(String, String)>, Bytes);

/// An h2c server that answers every request with whatever `answer` returns for the request's
/// path and headers; stands in for backends that are not well-behaved gRPC servers.
pub struct FakeBackend {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl FakeBackend {
    pub async fn start(answer: fn(&str, &HeaderMap) -> FakeAnswer) -> Self {
        use hyper::server::conn::http2 as server_http2;

        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
        let addr = listener.local_addr().expect("fake address");
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| async move {
                        let (status, headers, body) =
                            answer(request.uri().path(), request.headers());
                        // Drain the request so the stream ends cleanly.
                        let _ = request.into_body().collect().await;
                        let mut response = hyper::Response::new(Full::new(body));
                        *response.status_mut() =
                            StatusCode::from_u16(status).expect("valid fake status");
                        for (name, value) in headers {
                            response.headers_mut().append(
                                HeaderName::try_from(name).expect("fake header name"),
                                HeaderValue::try_from(value).expect("fake header value"),
                            );
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    },
                );
                tokio::spawn(async move {
                    let _ = server_http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, task }
    }
}

impl Drop for FakeBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Observed backends

/// A private CA and a server certificate it signed, for backends behind TLS.
pub struct BackendCert {
    /// The CA certificate (what an upstream's `ca_cert` names).
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl BackendCert {
    /// A certificate for `localhost` and `127.0.0.1`.
    pub fn generate() -> Self {
        Self::for_names(&["localhost", "127.0.0.1"])
    }

    /// A certificate for `names` (DNS names or IP addresses).
    pub fn for_names(names: &[&str]) -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose,
        };

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "h2gate test CA");
        let ca_key = KeyPair::generate().expect("generate the CA key");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("self-sign the CA");

        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server certificate parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "h2gate test backend");
        let key = KeyPair::generate().expect("generate the server key");
        let cert = params
            .signed_by(&key, &*ca)
            .expect("sign the server certificate");
        Self {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A tonic server TLS configuration presenting this certificate.
    pub fn server_tls(&self) -> tonic::transport::ServerTlsConfig {
        tonic::transport::ServerTlsConfig::new().identity(tonic::transport::Identity::from_pem(
            &self.cert_pem,
            &self.key_pem,
        ))
    }
}

/// What a [`CountingBackend`] has seen.
#[derive(Debug, Default)]
pub struct BackendCounts {
    requests: AtomicU64,
    accepted: AtomicU64,
    /// Peer addresses of the connections that carried at least one request.
    request_peers: std::sync::Mutex<std::collections::HashSet<SocketAddr>>,
}

impl BackendCounts {
    /// gRPC requests received.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// TCP connections accepted, including ones that never carried a request (such as the
    /// gateway's reachability probes, which connect and hang up).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Distinct connections that carried at least one request.
    pub fn request_connections(&self) -> usize {
        self.request_peers.lock().expect("request peers lock").len()
    }

    fn record<B>(&self, request: &http::Request<B>) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        // tonic puts the TCP connection's addresses in every request (under TLS too).
        let peer = request
            .extensions()
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(|info| info.remote_addr());
        if let Some(peer) = peer {
            self.request_peers
                .lock()
                .expect("request peers lock")
                .insert(peer);
        }
    }
}

/// The demo services (`h2gate_demo::routes`) on their own listener, h2c or TLS, counting the
/// requests they receive and the connections those arrive on.
pub struct CountingBackend {
    pub addr: SocketAddr,
    pub counts: Arc<BackendCounts>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl CountingBackend {
    /// h2c on an ephemeral loopback port.
    pub async fn start() -> Self {
        Self::serve(bind_loopback().await, None)
    }

    /// TLS with `cert` on an ephemeral loopback port.
    pub async fn start_tls(cert: &BackendCert) -> Self {
        Self::serve(bind_loopback().await, Some(cert.server_tls()))
    }

    /// h2c on an ephemeral loopback port, allowing at most `limit` concurrent streams per
    /// connection (`SETTINGS_MAX_CONCURRENT_STREAMS`), as backends protecting themselves do.
    pub async fn start_with_stream_limit(limit: u32) -> Self {
        Self::serve_with(bind_loopback().await, None, Some(limit))
    }

    /// Serves on `listener` (h2c without `tls`).
    pub fn serve(listener: TcpListener, tls: Option<tonic::transport::ServerTlsConfig>) -> Self {
        Self::serve_with(listener, tls, None)
    }

    fn serve_with(
        listener: TcpListener,
        tls: Option<tonic::transport::ServerTlsConfig>,
        max_concurrent_streams: Option<u32>,
    ) -> Self {
        let addr = listener.local_addr().expect("backend address");
        let counts = Arc::new(BackendCounts::default());
        let accepting = Arc::clone(&counts);
        let incoming = futures_util::stream::unfold(listener, move |listener| {
            let counts = Arc::clone(&accepting);
            async move {
                let accepted = listener.accept().await.map(|(stream, _)| {
                    counts.accepted.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.set_nodelay(true);
                    stream
                });
                Some((accepted, listener))
            }
        });
        let seen = Arc::clone(&counts);
        let count_requests =
            tower::util::MapRequestLayer::new(move |request: http::Request<tonic::body::Body>| {
                seen.record(&request);
                request
            });
        let mut server =
            tonic::transport::Server::builder().max_concurrent_streams(max_concurrent_streams);
        if let Some(tls) = tls {
            server = server.tls_config(tls).expect("backend TLS configuration");
        }
        let router = server
            .layer(count_requests)
            .add_routes(h2gate_demo::routes());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(err) = router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
            {
                eprintln!("counting backend stopped with an error: {err}");
            }
        });
        Self {
            addr,
            counts,
            stop: Some(stop),
            task,
        }
    }

    /// Starts a graceful stop without waiting for it: the listener closes at once, open
    /// connections get a GOAWAY and may finish their calls.
    pub fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Graceful stop: the listener closes at once, open connections get a GOAWAY and are
    /// waited for (up to 5 s, then dropped).
    pub async fn stop(mut self) {
        self.begin_stop();
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Drop for CountingBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn bind_loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port")
}
