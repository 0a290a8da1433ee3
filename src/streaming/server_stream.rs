//! Server streaming (and the response half of bidirectional streaming over HTTP): backend
//! messages become framed chunks of one long HTTP response, flushed as they arrive.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue};
use http_body::Frame;
use http_body_util::StreamBody;
use prost_reflect::MessageDescriptor;
use tonic::codec::Streaming;

use super::Framing;
use super::body_stream::Pump;
use super::message_stream::{Event, next_event};
use crate::errors::GatewayError;
use crate::gateway::{CallSetup, Gateway};
use crate::routing::Route;
use crate::transcoding::RenderedBody;
use crate::upstream::metadata::copy_to_response;
use crate::upstream::{OpenStream, open_stream};

/// Calls a server-streaming method with one request message and streams the replies.
pub async fn server_stream(
    gateway: Arc<Gateway>,
    route: Arc<Route>,
    message: Bytes,
    call: CallSetup,
    framing: Framing,
) -> Result<Response, GatewayError> {
    let requests = futures_util::stream::once(std::future::ready(Ok(message)));
    let open = open_stream(call.channel, call.grpc_path, requests, call.metadata)
        .await
        .map_err(|status| gateway.status_error(&status))?;
    stream_response(gateway, route, open, framing, call.idle_timeout, None).await
}

/// Everything the response body needs to keep pulling messages after the handler returned.
struct Source {
    gateway: Arc<Gateway>,
    route: Arc<Route>,
    output: MessageDescriptor,
    messages: Streaming<Bytes>,
    framing: Framing,
    idle: Duration,
    pump: Option<Pump>,
    finished: bool,
}

/// Waits for the first event, so a stream that fails before its first message is answered
/// with an ordinary ErrorResponse and HTTP status, then streams the rest.
pub(super) async fn stream_response(
    gateway: Arc<Gateway>,
    route: Arc<Route>,
    open: OpenStream,
    framing: Framing,
    idle: Duration,
    pump: Option<Pump>,
) -> Result<Response, GatewayError> {
    let mut source = Source {
        output: route.method.output(),
        gateway,
        route,
        messages: open.messages,
        framing,
        idle,
        pump,
        finished: false,
    };
    let first = source.next().await?;
    let (first_chunk, content_type) = match first {
        Event::Failed(status) => return Err(source.gateway.status_error(&status)),
        Event::End(trailers) => {
            source.finished = true;
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
        match &mut self.pump {
            Some(pump) => tokio::select! {
                event = next_event(&mut self.messages, self.idle) => Ok(event),
                error = pump.failed() => Err(error),
            },
            None => Ok(next_event(&mut self.messages, self.idle).await),
        }
    }

    /// The next body frame, or None when the response is complete.
    async fn next_frame(&mut self) -> Option<Frame<Bytes>> {
        if self.finished {
            return None;
        }
        match self.next().await {
            Err(error) => Some(self.fail(error)),
            Ok(Event::Message(bytes)) => match self.render(&bytes) {
                Ok(rendered) => Some(Frame::data(self.frame(rendered))),
                Err(error) => Some(self.fail(error)),
            },
            Ok(Event::End(trailers)) => {
                self.finished = true;
                let mut headers = HeaderMap::new();
                copy_to_response(&trailers, true, &mut headers);
                (!headers.is_empty()).then(|| Frame::trailers(headers))
            }
            Ok(Event::Failed(status)) => {
                let error = self.gateway.status_error(&status);
                Some(self.fail(error))
            }
        }
    }

    fn fail(&mut self, error: GatewayError) -> Frame<Bytes> {
        self.finished = true;
        let json = error.to_json(&self.gateway.plan.codes);
        Frame::data(self.framing.error(&json))
    }

    /// `google.api.HttpBody` streams are raw bytes (downloads), not framed JSON.
    fn is_raw(&self) -> bool {
        self.route.response_body.is_none() && self.output.full_name() == "google.api.HttpBody"
    }

    fn render(&self, bytes: &[u8]) -> Result<RenderedBody, GatewayError> {
        self.gateway.render(&self.route, bytes)
    }

    fn frame(&self, rendered: RenderedBody) -> Bytes {
        if self.is_raw() {
            rendered.body
        } else {
            self.framing.message(&rendered.body)
        }
    }
}
