//! Backends that are not the well-behaved demo, each on its own loopback port: an h2c server
//! answering every request with whatever a test function returns ([`FakeBackend`]); TCP
//! servers that answer bytes that are not HTTP/2 or nothing at all ([`RawBackend`]); an address
//! that black-holes connection attempts ([`BlackHole`]); and the demo services with one method
//! answering a scripted, malformed reply, so every other call on the same backend stays
//! healthy ([`PatchedDemo`]). All are stopped, with their connections, when dropped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::rt::bounds::Http2ServerConnExec;
use hyper::service::HttpService;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tower::ServiceExt;

use super::ports::bind_loopback;

// ---------------------------------------------------------------------------------------------
// A scripted h2c server

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
        let listener = bind_loopback().await;
        let addr = listener.local_addr().expect("fake address");
        let task = serve_h2c(listener, move || {
            hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| async move {
                    let (status, headers, body) = answer(request.uri().path(), request.headers());
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
            )
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
// Raw TCP backends

/// What a [`RawBackend`] does with each connection it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawBehaviour {
    /// Reads the client's first bytes, answers `HTTP/1.1 400 Bad Request` (what an HTTP/1.1-only
    /// server says to an HTTP/2 preface) and closes the connection.
    Http1Answer,
    /// Writes noise at once and keeps the socket open, discarding whatever arrives.
    Noise,
    /// Accepts and never writes a byte, not even HTTP/2 SETTINGS: a wedged process, or a
    /// proxy whose own upstream hangs.
    Mute,
}

/// A TCP server that speaks no HTTP/2.
pub struct RawBackend {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RawBackend {
    pub async fn start(behaviour: RawBehaviour) -> Self {
        let listener = bind_loopback().await;
        let addr = listener.local_addr().expect("raw backend address");
        let task = tokio::spawn(async move {
            // Owned by this task, so aborting it closes every connection it accepted.
            let mut connections = JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                connections.spawn(serve_raw(socket, behaviour));
            }
        });
        Self { addr, task }
    }
}

impl Drop for RawBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_raw(mut socket: TcpStream, behaviour: RawBehaviour) {
    let mut buffer = [0u8; 4096];
    match behaviour {
        RawBehaviour::Http1Answer => {
            let _ = socket.read(&mut buffer).await;
            let page = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n\
                        Content-Length: 11\r\nConnection: close\r\n\r\nBad Request";
            let _ = socket.write_all(page.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
        RawBehaviour::Noise => {
            let _ = socket.write_all(&noise(4096)).await;
            while matches!(socket.read(&mut buffer).await, Ok(n) if n > 0) {}
        }
        RawBehaviour::Mute => while matches!(socket.read(&mut buffer).await, Ok(n) if n > 0) {},
    }
}

/// Pseudo-random bytes (fixed seed, so every run sends the same). The first byte is forced
/// high so the first "frame header" declares a frame of several MiB, beyond any frame size an
/// HTTP/2 client allows: the noise is a protocol error at its very first frame. (Noise that
/// happened to parse as frames of unknown types would rightly be skipped, and then look like
/// [`RawBehaviour::Mute`].)
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    if let Some(first) = bytes.first_mut() {
        *first |= 0x80;
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// A black hole

/// An address whose connection attempts get no answer at all, like a host behind a firewall
/// that drops SYNs: a listening socket with the smallest backlog that never accepts, its
/// queue filled first. Linux then drops further SYNs (with `net.ipv4.tcp_abort_on_overflow`
/// at its default, 0), so `connect` hangs until the caller gives up. No network namespace
/// needed.
pub struct BlackHole {
    pub addr: SocketAddr,
    _listener: TcpListener,
    /// The connections that fill the accept queue; kept open for as long as the hole exists.
    _fillers: Vec<TcpStream>,
}

impl BlackHole {
    pub async fn open() -> Self {
        /// A connection attempt pending longer than this is taken as dropped.
        const SETTLE: Duration = Duration::from_millis(300);
        let socket = TcpSocket::new_v4().expect("black hole socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind black hole");
        let addr = socket.local_addr().expect("black hole address");
        let listener = socket.listen(0).expect("listen with the smallest backlog");
        let mut fillers = Vec::new();
        // Backlog 0 is full after one connection; a few more rounds allow for kernels that
        // round it up.
        for _ in 0..8 {
            match tokio::time::timeout(SETTLE, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => fillers.push(stream),
                Ok(Err(err)) => panic!(
                    "connecting to the black hole failed ({err}) instead of hanging: is \
                     net.ipv4.tcp_abort_on_overflow set?"
                ),
                Err(_) => {
                    return Self {
                        addr,
                        _listener: listener,
                        _fillers: fillers,
                    };
                }
            }
        }
        panic!(
            "the accept queue never filled after {} connections: cannot black-hole {addr}",
            fillers.len()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The demo with one broken method

/// A reply a [`PatchedDemo`] sends instead of the demo's: HTTP status, headers, the body in
/// pieces, and trailers (none: the body simply ends).
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(&'static str, &'static str)>,
    /// Each piece after the first is sent [`Scripted::PAUSE`] after the one before, so it
    /// travels in a DATA frame of its own, as a backend's later messages do.
    pub body: Vec<Bytes>,
    pub trailers: Vec<(&'static str, &'static str)>,
}

impl Scripted {
    const PAUSE: Duration = Duration::from_millis(100);

    /// An HTML error page, as a proxy or load balancer in front of a backend sends.
    pub fn html_page(status: u16) -> Self {
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("Error");
        let page = format!(
            "<html><head><title>{status} {reason}</title></head><body><center>\
             <h1>{status} {reason}</h1></center><hr><center>nginx</center></body></html>\n"
        );
        Self {
            status,
            headers: vec![("content-type", "text/html")],
            body: vec![Bytes::from(page)],
            trailers: Vec::new(),
        }
    }

    /// A gRPC answer with `pieces` as its data and an OK status in the trailers.
    pub fn grpc(pieces: Vec<Vec<u8>>) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type", "application/grpc")],
            body: pieces.into_iter().map(Bytes::from).collect(),
            trailers: vec![("grpc-status", "0")],
        }
    }

    fn response(self) -> http::Response<tonic::body::Body> {
        let mut frames: Vec<Frame<Bytes>> = self.body.into_iter().map(Frame::data).collect();
        if !self.trailers.is_empty() {
            let mut trailers = http::HeaderMap::new();
            for (name, value) in self.trailers {
                trailers.append(
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            frames.push(Frame::trailers(trailers));
        }
        let paced = futures_util::stream::iter(frames.into_iter().enumerate()).then(
            |(i, frame)| async move {
                if i > 0 {
                    tokio::time::sleep(Self::PAUSE).await;
                }
                Ok::<_, Infallible>(frame)
            },
        );
        let body = StreamBody::new(paced);
        let mut response = http::Response::new(tonic::body::Body::new(body));
        *response.status_mut() = StatusCode::from_u16(self.status).expect("scripted status");
        for (name, value) in self.headers {
            response.headers_mut().append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        response
    }
}

/// The demo services over h2c, except that the gRPC methods in `patches` (by path, e.g.
/// `/demo.v1.Greeter/SayHello`) answer their scripted reply.
pub struct PatchedDemo {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl PatchedDemo {
    pub async fn start(patches: Vec<(&'static str, Scripted)>) -> Self {
        let listener = bind_loopback().await;
        let addr = listener.local_addr().expect("patched demo address");
        let patches = Arc::new(patches);
        let routes = h2gate_demo::routes();
        let task = serve_h2c(listener, move || {
            let patches = Arc::clone(&patches);
            let routes = routes.clone();
            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let scripted = patches
                    .iter()
                    .find(|(path, _)| *path == request.uri().path())
                    .map(|(_, reply)| reply.clone());
                let routes = routes.clone();
                async move {
                    match scripted {
                        Some(reply) => {
                            // Drained first, so the exchange ends as a real one would.
                            let _ = request.into_body().collect().await;
                            Ok::<_, Infallible>(reply.response())
                        }
                        None => routes.oneshot(request).await,
                    }
                }
            })
        });
        Self { addr, task }
    }
}

impl Drop for PatchedDemo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections on `listener` and serves each over h2c (hyper's HTTP/2 server, no gRPC
/// framework) with a service `service` makes for it, until the returned task is aborted.
fn serve_h2c<S, B>(
    listener: TcpListener,
    service: impl Fn() -> S + Send + 'static,
) -> JoinHandle<()>
where
    S: HttpService<Incoming, ResBody = B> + Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    TokioExecutor: Http2ServerConnExec<S::Future, B>,
{
    tokio::spawn(async move {
        // Owned by this task, so aborting it closes every connection it accepted.
        let mut connections = JoinSet::new();
        while let Ok((socket, _)) = listener.accept().await {
            let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(socket), service());
            connections.spawn(async move {
                let _ = connection.await;
            });
        }
    })
}
