//! Streaming methods over WebSocket (RFC 6455 upgrade on HTTP/1.1, RFC 8441 extended CONNECT
//! on HTTP/2): each text (or binary) frame from the client is one JSON message upstream, each
//! backend message one text frame back.
//!
//! Contract: the URL's path and query variables fill the first message; a client Close frame
//! half-closes the upstream call; a client that vanishes cancels it; a gRPC error is sent as a
//! last `{"error": <ErrorResponse>}` text frame followed by a Close frame (1008 for client
//! errors, 1011 otherwise) whose reason is the gRPC status name; a client message over
//! `max_body_bytes` gets Close 1009. A server-streaming binding without a body starts at once
//! from the URL; otherwise the first frame is awaited. The backend's silence for the upstream's
//! `stream_idle_timeout_ms` ends the call with DEADLINE_EXCEEDED, and a client that takes no
//! message for as long loses its socket.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use http::Method;
use http::header::UPGRADE;
use http::request::Parts;
use tonic::Status;
use tonic::codec::Streaming;

use super::StreamSettings;
use super::message_stream::silent_for;
use super::shutdown::{shutting_down, streams_cut};
use crate::errors::GatewayError;
use crate::listener::StreamReservation;
use crate::observe::Exchange;
use crate::routing::{CallKind, Route};
use crate::transcoding::{BodyRule, RequestSide};
use crate::upstream::{Attempts, CallSetup, OpenStream, RequestSender, open_stream, request_feed};

/// Frames in flight from the client to the upstream call.
const FRAME_BUFFER: usize = 8;
const CLOSE_NORMAL: u16 = 1000;
/// How long a closing client gets to answer our Close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(5);
const CLOSE_POLICY: u16 = 1008;
const CLOSE_INTERNAL: u16 = 1011;
/// RFC 6455: a message too big to process.
const CLOSE_TOO_BIG: u16 = 1009;

/// An HTTP/1.1 `Upgrade: websocket` or an HTTP/2 extended CONNECT with `:protocol websocket`.
pub fn is_websocket_handshake(parts: &Parts) -> bool {
    if parts.method == Method::CONNECT {
        return parts
            .extensions
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"));
    }
    parts
        .headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Accepts the handshake; the bridge runs on the upgraded connection.
pub async fn websocket(
    settings: Arc<StreamSettings>,
    parts: &mut Parts,
    (route, context): (Arc<Route>, RequestSide),
    call: CallSetup,
    (reservation, exchange): (Option<StreamReservation>, Option<Arc<Exchange>>),
) -> Result<Response, GatewayError> {
    let upgrade = WebSocketUpgrade::from_request_parts(parts, &())
        .await
        .map_err(|rejection| {
            GatewayError::invalid_argument(format!(
                "invalid WebSocket handshake: {}",
                rejection.body_text()
            ))
        })?;
    let limit = settings.max_body_bytes;
    Ok(upgrade
        .max_message_size(limit)
        .on_upgrade(move |socket| async move {
            // The call's share of its connection's buffer, held while the bridge runs.
            let _reservation = reservation;
            Bridge::new(socket, settings, (route, context), exchange)
                .run(call)
                .await;
        }))
}

struct Bridge {
    socket: WebSocket,
    settings: Arc<StreamSettings>,
    route: Arc<Route>,
    context: RequestSide,
    /// Frames to the upstream call; None once half-closed.
    requests: Option<RequestSender>,
    /// A client message waiting for room upstream. While one waits, the client is not read
    /// (backpressure), but the backend still is: replies never wait on requests.
    outbound: Option<Bytes>,
    sent_first: bool,
    /// The request as observed; recorded once the bridge is done with it.
    exchange: Option<Arc<Exchange>>,
}

impl Bridge {
    fn new(
        socket: WebSocket,
        settings: Arc<StreamSettings>,
        (route, context): (Arc<Route>, RequestSide),
        exchange: Option<Arc<Exchange>>,
    ) -> Self {
        Self {
            exchange,
            socket,
            settings,
            route,
            context,
            requests: None,
            outbound: None,
            sent_first: false,
        }
    }

    async fn run(mut self, call: CallSetup) {
        let (sender, requests) = request_feed(FRAME_BUFFER);
        self.requests = Some(sender);
        let idle = call.idle_timeout;
        let starts_from_url = self.route.kind == CallKind::ServerStreaming
            && matches!(self.route.rules.body, BodyRule::None);
        if starts_from_url && let Err(error) = self.forward(b"") {
            return self.close_with_error(error).await;
        }
        let upstream_call = &call.upstream;
        let tracer = self.exchange.as_deref().and_then(Exchange::attempt_tracer);
        let opening = async move {
            let mut attempts = Attempts::traced(tracer);
            let opened = open_stream(
                upstream_call,
                call.grpc_path,
                requests,
                call.metadata,
                &mut attempts,
            )
            .await;
            (opened, attempts.last_endpoint(), attempts.count)
        };
        tokio::pin!(opening);
        let mut upstream: Option<Streaming<Bytes>> = None;
        // The backend's silence, the wait for its response headers included.
        let silence = tokio::time::sleep(idle);
        tokio::pin!(silence);
        let mut cut = self.settings.streams_cut.clone();
        // After the client's Close frame the socket is still read: that is what lets the
        // WebSocket library send its Close reply, completing the handshake cleanly.
        let mut client_open = true;
        let mut client_closing = false;
        loop {
            let step = tokio::select! {
                (opened, endpoint, attempts) = &mut opening, if upstream.is_none() => {
                    if let Some(exchange) = &self.exchange {
                        exchange.set_sent(endpoint, attempts);
                    }
                    Step::Opened(Box::new(opened))
                }
                room = reserve(self.requests.as_ref()), if self.outbound.is_some() => {
                    // A call that already ended reports its outcome upstream-side.
                    if let (Some(permit), Some(message)) = (room, self.outbound.take()) {
                        permit.send(message);
                    }
                    Step::Forwarded
                }
                incoming = self.socket.recv(), if client_open && self.outbound.is_none() => {
                    Step::Incoming(incoming)
                }
                reply = next_message(&mut upstream) => Step::Reply(reply),
                () = &mut silence => Step::Silent,
                () = streams_cut(&mut cut) => Step::Cut,
            };
            match step {
                Step::Opened(opened) => match *opened {
                    Ok(open) => upstream = Some(open.messages),
                    Err(status) => return self.close_with_status(&status).await,
                },
                Step::Forwarded => self.half_close_if_single(),
                Step::Incoming(incoming) => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if let Err(error) = self.forward(text.as_bytes()) {
                            return self.close_with_error(error).await;
                        }
                    }
                    Some(Ok(Message::Binary(data))) => {
                        if let Err(error) = self.forward(&data) {
                            return self.close_with_error(error).await;
                        }
                    }
                    Some(Ok(Message::Close(_))) => {
                        client_closing = true;
                        if let Some(requests) = self.requests.take() {
                            requests.finish();
                        }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Err(err)) if is_too_big(&err) => {
                        return self.close(CLOSE_TOO_BIG, "message too big").await;
                    }
                    // Closed after its Close frame: let the half-closed call finish upstream.
                    Some(Err(_)) | None if client_closing => client_open = false,
                    // The client vanished: returning drops the call, which cancels it.
                    Some(Err(_)) | None => return,
                },
                Step::Reply(Ok(Some(message))) => {
                    silence.as_mut().reset(tokio::time::Instant::now() + idle);
                    match self.send_message(&message, idle).await {
                        Ok(true) => {}
                        // The client took nothing for the whole idle timeout: give up on it.
                        Ok(false) => return,
                        Err(error) => return self.close_with_error(error).await,
                    }
                }
                Step::Reply(Ok(None)) => {
                    if let Some(exchange) = &self.exchange {
                        exchange.set_grpc_code(tonic::Code::Ok);
                    }
                    return self.close(CLOSE_NORMAL, "OK").await;
                }
                Step::Reply(Err(status)) => return self.close_with_status(&status).await,
                Step::Silent => return self.close_with_status(&silent_for(idle)).await,
                Step::Cut => return self.close_with_error(shutting_down()).await,
            }
        }
    }

    /// Transcodes one client frame into the message waiting to go upstream.
    fn forward(&mut self, frame: &[u8]) -> Result<(), GatewayError> {
        if self.requests.is_none() {
            return Ok(());
        }
        let message = self.context.encode_with(frame, !self.sent_first)?;
        self.sent_first = true;
        if let Some(exchange) = &self.exchange {
            exchange.message_in();
        }
        self.outbound = Some(message);
        Ok(())
    }

    /// Server-streaming methods take one request message: the call is half-closed after it,
    /// and later frames are ignored.
    fn half_close_if_single(&mut self) {
        if self.route.kind == CallKind::ServerStreaming
            && let Some(requests) = self.requests.take()
        {
            requests.finish();
        }
    }

    /// Sends one backend message to the client; `Ok(false)` if the client did not take it
    /// within `patience`.
    async fn send_message(
        &mut self,
        message: &[u8],
        patience: Duration,
    ) -> Result<bool, GatewayError> {
        let rendered = self
            .settings
            .transcoder
            .render(&self.route.rules, message)?;
        let text = Utf8Bytes::try_from(rendered.body)
            .map_err(|_| GatewayError::internal("a rendered message is not UTF-8"))?;
        if let Some(exchange) = &self.exchange {
            exchange.message_out();
        }
        // A failed send means the client is gone; the loop ends on its next read.
        let sent = tokio::time::timeout(patience, self.socket.send(Message::Text(text))).await;
        Ok(sent.is_ok())
    }

    async fn close_with_status(self, status: &Status) {
        let error = self.settings.status_error(status);
        self.close_with_error(error).await;
    }

    async fn close_with_error(mut self, error: GatewayError) {
        if let Some(exchange) = &self.exchange {
            exchange.note_error(&error);
        }
        let json = error.to_json(&self.settings.codes);
        let mut framed = BytesMut::with_capacity(json.len() + 10);
        framed.put_slice(b"{\"error\":");
        framed.put_slice(&json);
        framed.put_u8(b'}');
        if let Ok(text) = Utf8Bytes::try_from(framed.freeze()) {
            let _ = self.socket.send(Message::Text(text)).await;
        }
        let code = if error.http_status().is_client_error() {
            CLOSE_POLICY
        } else {
            CLOSE_INTERNAL
        };
        let reason = crate::errors::code_name(error.code());
        self.close(code, reason).await;
    }

    /// Sends our Close frame and waits (briefly) for the client's, so the handshake completes.
    async fn close(mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        };
        if self.socket.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        let drain = async { while let Some(Ok(_)) = self.socket.recv().await {} };
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, drain).await;
    }
}

/// What one turn of the bridge's loop brought.
enum Step {
    Opened(Box<Result<OpenStream, Status>>),
    /// The waiting client message went upstream (or the call had ended).
    Forwarded,
    Incoming(Option<Result<Message, axum::Error>>),
    Reply(Result<Option<Bytes>, Status>),
    /// The backend said nothing for the idle timeout.
    Silent,
    /// The gateway is shutting down.
    Cut,
}

/// Room for one message in the call's request feed; `None` once the call has ended.
async fn reserve(requests: Option<&RequestSender>) -> Option<tokio::sync::mpsc::Permit<'_, Bytes>> {
    requests?.reserve().await.ok()
}

/// Whether a read failed because the client's message exceeded the size limit.
fn is_too_big(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(error) = source {
        if let Some(tungstenite::Error::Capacity(_)) = error.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// The next backend message once the call is open; pending before that.
async fn next_message(upstream: &mut Option<Streaming<Bytes>>) -> Result<Option<Bytes>, Status> {
    match upstream {
        Some(messages) => messages.message().await,
        None => std::future::pending().await,
    }
}
