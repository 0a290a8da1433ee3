//! The HTTP client of most tests: [`Client`] keeps one connection to the gateway (HTTP/2 over
//! TLS with ALPN, h2c, or HTTP/1.1 either way) and sends every request on it, so a test can
//! prove that connection survived an error; [`Reply`] is a whole response. Beside them, the
//! checks of the one error shape ([`assert_error`]) and small helpers for reading and writing
//! what goes over the wire.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::tls_client::tls_handshake_over;
use super::waiting::REQUEST_TIMEOUT;

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

/// A request the connection did not answer.
#[derive(Debug)]
pub enum RequestFailed {
    Connection(hyper::Error),
    TimedOut,
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
        let tls = tls_handshake_over(tcp, alpn).await;
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
    /// One request on this connection: its reply, or how the connection failed it.
    pub async fn try_request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Reply, RequestFailed> {
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
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(err)) => Err(RequestFailed::Connection(err)),
            Err(_) => Err(RequestFailed::TimedOut),
        }
    }

    /// One request on this connection; panics if the connection fails it or it times out.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        match self.try_request(method.clone(), path, headers, body).await {
            Ok(reply) => reply,
            Err(RequestFailed::Connection(err)) => {
                panic!("{method} {path} failed on the connection: {err:?}")
            }
            Err(RequestFailed::TimedOut) => {
                panic!("{method} {path} timed out after {REQUEST_TIMEOUT:?}")
            }
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
