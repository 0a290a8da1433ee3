//! Server streaming (and the response half of bidirectional streaming over HTTP): backend
//! messages become framed chunks of one long HTTP response, flushed as they arrive.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, StreamExt};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};
use http_body::Frame;
use http_body_util::StreamBody;
use tokio::sync::watch;
use tonic::codec::Streaming;

use super::message_stream::{Event, next_event, silent_for};
use super::pump::Pump;
use super::shutdown::{shutting_down, streams_cut};
use super::{Framing, StreamSettings};
use crate::errors::GatewayError;
use crate::listener::{ClientConnection, ClientPaced};
use crate::observe::Exchange;
use crate::routing::Route;
use crate::transcoding::RenderedBody;
use crate::upstream::metadata::copy_to_response;
use crate::upstream::{
    Attempts, CallSetup, OpenStream, error_with_attempts, open_single_retrying, with_attempts,
};

/// Calls a server-streaming method with one request message and streams the replies.
pub async fn server_stream(
    settings: Arc<StreamSettings>,
    route: Arc<Route>,
    message: Bytes,
    call: CallSetup,
    (framing, exchange): (Framing, Option<Arc<Exchange>>),
) -> Result<Response, GatewayError> {
    let mut attempts = Attempts::traced(exchange.as_deref().and_then(Exchange::attempt_tracer));
    let opening = open_single_retrying(
        &call.upstream,
        (call.grpc_path, message),
        call.metadata,
        (call.idempotent, call.idle_timeout),
        &mut attempts,
    );
    // A backend that takes the call but never answers is cut like a silent stream.
    let open = match tokio::time::timeout(call.idle_timeout, opening).await {
        Ok(opened) => opened.map_err(|status| settings.status_error(&status)),
        Err(_) => Err(settings.status_error(&silent_for(call.idle_timeout))),
    };
    if let Some(exchange) = &exchange {
        exchange.set_sent(attempts.last_endpoint(), attempts.count);
    }
    let open = open.map_err(|error| error_with_attempts(error, &attempts))?;
    let client = call.client;
    let response = stream_response(
        settings,
        route,
        open,
        (framing, exchange),
        (call.idle_timeout, client),
        None,
    );
    Ok(with_attempts(response.await?, &attempts))
}

/// Everything the response body needs to keep pulling messages after the handler returned.
struct Source {
    settings: Arc<StreamSettings>,
    /// The client's connection: while its chunks fill its buffer, nothing more is read.
    client: Option<Arc<ClientConnection>>,
    route: Arc<Route>,
    messages: Streaming<Bytes>,
    framing: Framing,
    idle: Duration,
    pump: Option<Pump>,
    /// The gateway's shutdown, which ends the stream with an error line.
    cut: watch::Receiver<bool>,
    /// How the stream ended, found while coalescing; reported with the next frame.
    deferred: Option<Deferred>,
    finished: bool,
    /// The request as observed; recorded once the stream is over.
    exchange: Option<Arc<Exchange>>,
}

enum Deferred {
    Failed(GatewayError),
    Ended,
}

/// How often a stream held back by its connection's full buffer looks again.
const BACKPRESSURE_POLL: Duration = Duration::from_millis(20);

/// Coalesced messages stop growing a chunk at this size (one HTTP/2 DATA frame's default).
const COALESCE_BYTES: usize = 16 * 1024;

/// Waits for the first event, so a stream that fails before its first message is answered
/// with an ordinary ErrorResponse and HTTP status, then streams the rest.
pub(super) async fn stream_response(
    settings: Arc<StreamSettings>,
    route: Arc<Route>,
    open: OpenStream,
    (framing, exchange): (Framing, Option<Arc<Exchange>>),
    (idle, client): (Duration, Option<Arc<ClientConnection>>),
    pump: Option<Pump>,
) -> Result<Response, GatewayError> {
    let mut source = Source {
        exchange,
        client,
        cut: settings.streams_cut.clone(),
        settings,
        route,
        messages: open.messages,
        framing,
        idle,
        pump,
        deferred: None,
        finished: false,
    };
    let first = source.next().await?;
    let (first_chunk, content_type) = match first {
        Event::Failed(status) => return Err(source.settings.status_error(&status)),
        Event::End(trailers) => {
            source.ended();
            let mut frame_trailers = HeaderMap::new();
            copy_to_response(&trailers, true, &mut frame_trailers);
            let frame = (!frame_trailers.is_empty()).then(|| Frame::trailers(frame_trailers));
            (frame, framing.content_type())
        }
        Event::Message(bytes) => match source.render(&bytes) {
            Ok(rendered) => {
                let content_type = if source.is_raw() {
                    rendered.content_type.clone()
                } else {
                    framing.content_type()
                };
                (Some(Frame::data(source.frame(rendered))), content_type)
            }
            Err(error) => return Err(error),
        },
    };

    let body_stream =
        futures_util::stream::unfold((source, first_chunk), |(mut source, pending)| async move {
            if let Some(frame) = pending {
                return Some((Ok::<_, Infallible>(frame), (source, None)));
            }
            let frame = source.next_frame().await?;
            Some((Ok(frame), (source, None)))
        });
    let mut response = Response::new(Body::new(StreamBody::new(body_stream)));
    response.extensions_mut().insert(ClientPaced {
        idle_timeout: idle,
        prepaid: super::CHUNK_ALLOWANCE,
    });
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    copy_to_response(&open.headers, false, headers);
    Ok(response)
}

impl Source {
    /// The backend's next event, or the client's failure (a bad request line) if the
    /// request body is still being pumped upstream.
    async fn next(&mut self) -> Result<Event, GatewayError> {
        // The client has not taken what its other streams were given: read nothing more from
        // the backend (which then waits on flow control) until it does.
        while let Some(client) = &self.client
            && client.buffer().chunks_full()
        {
            tokio::select! {
                () = tokio::time::sleep(BACKPRESSURE_POLL) => {}
                () = streams_cut(&mut self.cut) => return Err(shutting_down()),
            }
        }
        let (messages, idle) = (&mut self.messages, self.idle);
        let event = async {
            match &mut self.pump {
                Some(pump) => tokio::select! {
                    // The client's own error explains a call that failed because of it.
                    biased;
                    error = pump.failed() => Err(error),
                    event = next_event(messages, idle) => Ok(event),
                },
                None => Ok(next_event(messages, idle).await),
            }
        };
        tokio::select! {
            biased;
            event = event => event,
            () = streams_cut(&mut self.cut) => Err(shutting_down()),
        }
    }

    /// The next body frame, or None when the response is complete.
    async fn next_frame(&mut self) -> Option<Frame<Bytes>> {
        if self.finished {
            return None;
        }
        let event = match self.deferred.take() {
            Some(Deferred::Failed(error)) => return Some(self.fail(error)),
            Some(Deferred::Ended) => match self.messages.trailers().await {
                Ok(trailers) => Ok(Event::End(trailers.unwrap_or_default())),
                Err(status) => Ok(Event::Failed(status)),
            },
            None => self.next().await,
        };
        match event {
            Err(error) => Some(self.fail(error)),
            Ok(Event::Message(bytes)) => match self.render(&bytes) {
                Ok(rendered) => Some(Frame::data(self.coalesce(self.frame(rendered)))),
                Err(error) => Some(self.fail(error)),
            },
            Ok(Event::End(trailers)) => {
                self.ended();
                let mut headers = HeaderMap::new();
                copy_to_response(&trailers, true, &mut headers);
                (!headers.is_empty()).then(|| Frame::trailers(headers))
            }
            Ok(Event::Failed(status)) => {
                let error = self.settings.status_error(&status);
                Some(self.fail(error))
            }
        }
    }

    /// Appends the messages the backend has already delivered to `first`, up to a frame's
    /// worth: one HTTP/2 DATA frame (and one write) per small message costs more than the
    /// message itself. Never waits; whatever ends the stream is kept for the next frame.
    fn coalesce(&mut self, first: Bytes) -> Bytes {
        let mut out: Option<BytesMut> = None;
        while out.as_ref().map_or(first.len(), BytesMut::len) < COALESCE_BYTES {
            let next = match self.messages.next().now_or_never() {
                None => break,
                Some(Some(Ok(message))) => self.render(&message).map(|r| self.frame(r)),
                Some(Some(Err(status))) => Err(self.settings.status_error(&status)),
                Some(None) => {
                    self.deferred = Some(Deferred::Ended);
                    break;
                }
            };
            match next {
                Ok(framed) => out
                    .get_or_insert_with(|| BytesMut::from(first.as_ref()))
                    .extend_from_slice(&framed),
                Err(error) => {
                    self.deferred = Some(Deferred::Failed(error));
                    break;
                }
            }
        }
        out.map_or(first, BytesMut::freeze)
    }

    /// The backend ended the stream with OK.
    fn ended(&mut self) {
        self.finished = true;
        if let Some(exchange) = &self.exchange {
            exchange.set_grpc_code(tonic::Code::Ok);
        }
    }

    fn fail(&mut self, error: GatewayError) -> Frame<Bytes> {
        self.finished = true;
        if let Some(exchange) = &self.exchange {
            exchange.note_error(&error);
        }
        let json = error.to_json(&self.settings.codes);
        Frame::data(self.framing.error(&json))
    }

    /// `google.api.HttpBody` streams are raw bytes (downloads), not framed JSON.
    fn is_raw(&self) -> bool {
        self.route.rules.is_raw_reply()
    }

    /// One backend message for the client (counted as it goes out).
    fn render(&self, bytes: &[u8]) -> Result<RenderedBody, GatewayError> {
        if let Some(exchange) = &self.exchange {
            exchange.message_out();
        }
        self.settings.transcoder.render(&self.route.rules, bytes)
    }

    fn frame(&self, rendered: RenderedBody) -> Bytes {
        if self.is_raw() {
            rendered.body
        } else {
            self.framing.message(&rendered.body)
        }
    }
}
