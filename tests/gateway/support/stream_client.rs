//! Clients for streaming tests: a response read chunk by chunk, a request body fed over
//! time, and WebSocket over an HTTP/1.1 upgrade or HTTP/2 extended CONNECT.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{SinkExt, Stream, StreamExt};
use http::{Method, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use super::tls_client::tls_handshake;
use super::waiting::REQUEST_TIMEOUT;

type FrameStream = Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>;
pub type FeedBody = StreamBody<FrameStream>;

/// A request body the test writes to while the request is in flight.
pub struct Feed(mpsc::Sender<Bytes>);

impl Feed {
    pub fn new() -> (Feed, FeedBody) {
        let (tx, mut rx) = mpsc::channel::<Bytes>(4);
        let frames = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
            .map(|bytes| Ok(Frame::data(bytes)));
        (Feed(tx), StreamBody::new(Box::pin(frames) as FrameStream))
    }

    pub fn complete(body: impl Into<Bytes>) -> FeedBody {
        let frame = Ok(Frame::data(body.into()));
        StreamBody::new(Box::pin(futures_util::stream::once(async move { frame })) as FrameStream)
    }

    pub async fn send(&self, bytes: impl Into<Bytes>) {
        self.0
            .send(bytes.into())
            .await
            .expect("request body still open");
    }
}

/// One HTTP/2-over-TLS connection whose requests may stream both ways.
pub struct StreamingClient {
    sender: http2::SendRequest<FeedBody>,
    authority: String,
}

impl StreamingClient {
    pub async fn connect(addr: SocketAddr) -> StreamingClient {
        let tls = tls_handshake(addr, &[b"h2"]).await;
        let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2 handshake");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        StreamingClient {
            sender,
            authority: addr.to_string(),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: FeedBody,
    ) -> Response<Incoming> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("https://{}{path}", self.authority));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut sender = self.sender.clone();
        let exchange = async move {
            sender.ready().await.expect("connection ready");
            sender
                .send_request(request.body(body).expect("request"))
                .await
                .expect("response headers")
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .expect("response headers in time")
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response<Incoming> {
        self.send(Method::GET, path, headers, Feed::complete(Bytes::new()))
            .await
    }

    /// A WebSocket over HTTP/2 (RFC 8441 extended CONNECT) on this connection.
    pub async fn websocket(
        &self,
        path: &str,
    ) -> WebSocketStream<TokioIo<hyper::upgrade::Upgraded>> {
        let mut request = Request::builder()
            .method(Method::CONNECT)
            .uri(format!("https://{}{path}", self.authority))
            .header("sec-websocket-version", "13")
            .body(Feed::complete(Bytes::new()))
            .expect("request");
        request
            .extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        let mut sender = self.sender.clone();
        sender.ready().await.expect("ready");
        let response = sender
            .send_request(request)
            .await
            .expect("CONNECT response");
        assert_eq!(response.status(), 200, "extended CONNECT accepted");
        let upgraded = hyper::upgrade::on(response).await.expect("upgraded stream");
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await
    }
}

/// A WebSocket over TLS + HTTP/1.1 (RFC 6455 upgrade).
pub async fn websocket_h1(
    addr: SocketAddr,
    path: &str,
) -> WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>> {
    let tls = tls_handshake(addr, &[b"http/1.1"]).await;
    let url = format!("wss://{addr}{path}");
    let (socket, response) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("WebSocket handshake");
    assert_eq!(response.status(), 101);
    socket
}

/// Reads a streamed response body chunk by chunk and line by line.
pub struct BodyReader {
    body: Incoming,
    buffer: Vec<u8>,
}

impl BodyReader {
    pub fn new(response: Response<Incoming>) -> BodyReader {
        BodyReader {
            body: response.into_body(),
            buffer: Vec::new(),
        }
    }

    /// The next data chunk, None at the end of the body.
    pub async fn chunk(&mut self) -> Option<Bytes> {
        loop {
            let frame = tokio::time::timeout(REQUEST_TIMEOUT, self.body.frame())
                .await
                .expect("next body frame in time")?
                .expect("body frame");
            if let Ok(data) = frame.into_data() {
                return Some(data);
            }
        }
    }

    /// The next complete line (without its newline).
    pub async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Some(String::from_utf8_lossy(&line[..end]).into_owned());
            }
            match self.chunk().await {
                Some(chunk) => self.buffer.extend_from_slice(&chunk),
                // The body ended: whatever is left is the last, unterminated line.
                None if self.buffer.is_empty() => return None,
                None => {
                    let rest = std::mem::take(&mut self.buffer);
                    return Some(String::from_utf8_lossy(&rest).into_owned());
                }
            }
        }
    }

    /// The next NDJSON line as JSON.
    pub async fn json_line(&mut self) -> Option<Value> {
        let line = self.line().await?;
        Some(
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad NDJSON line {line:?}: {e}")),
        )
    }

    /// A whole (non-streamed) response body as JSON.
    pub async fn json(response: Response<Incoming>) -> Value {
        let text = BodyReader::new(response).rest().await.join("");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text:?}"))
    }

    /// Every remaining line.
    pub async fn rest(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = self.line().await {
            lines.push(line);
        }
        lines
    }
}

/// The next text message of a WebSocket as JSON, or its close frame.
pub async fn ws_next<S>(socket: &mut WebSocketStream<S>) -> Result<Value, Option<CloseFrame>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let message = tokio::time::timeout(REQUEST_TIMEOUT, socket.next())
            .await
            .expect("WebSocket message in time");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Ok(serde_json::from_str(text.as_str()).expect("JSON text frame"));
            }
            Some(Ok(Message::Close(frame))) => return Err(frame),
            Some(Ok(_)) => continue,
            Some(Err(err)) => panic!("WebSocket error: {err}"),
            None => return Err(None),
        }
    }
}

pub async fn ws_send<S>(socket: &mut WebSocketStream<S>, value: &Value)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .expect("send WebSocket message");
}
