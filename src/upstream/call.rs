//! gRPC calls over a shared channel, framed by the gateway itself.
//!
//! tonic's `Grpc` client is not used for the exchange because the gateway needs three things
//! it does not give: response headers and trailers kept apart (its unary helper merges them);
//! a request stream that can *fail* (dropping a stream only half-closes it, so a client that
//! vanished mid-upload would look like a finished upload; a failing body resets the HTTP/2
//! stream, which the backend sees as a cancellation); and a backend answering plain HTTP
//! (an error page from a proxy) mapped by its status code instead of decoded as gRPC frames.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::header::{CONTENT_TYPE, TE};
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, StatusCode, Uri};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use tonic::codec::Streaming;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tower::ServiceExt;

use super::BytesCodec;
use crate::errors::code_for_http_status;

/// The largest single message accepted from a backend (a 4 MiB chunk plus framing fits).
const MAX_RESPONSE_MESSAGE: usize = 16 * 1024 * 1024;

/// A successful unary reply.
#[derive(Debug)]
pub struct UnaryReply {
    pub headers: MetadataMap,
    pub message: Bytes,
    pub trailers: MetadataMap,
}

/// An open streaming call: the backend's response headers and its message stream, whose
/// trailers (or error status) arrive at its end. Dropping it cancels the call upstream.
pub struct OpenStream {
    pub headers: MetadataMap,
    pub messages: Streaming<Bytes>,
}

/// Calls `path` with one encoded `message`. The deadline covers the whole exchange and is
/// also sent to the backend as `grpc-timeout`.
pub async fn call_unary(
    channel: Channel,
    path: PathAndQuery,
    message: Bytes,
    mut metadata: MetadataMap,
    deadline: Duration,
) -> Result<UnaryReply, Status> {
    if let Ok(value) = format!("{}m", deadline.as_millis().max(1)).parse() {
        metadata.insert("grpc-timeout", value);
    }
    let exchange = async move {
        let requests = futures_util::stream::once(std::future::ready(Ok(message)));
        let OpenStream {
            headers,
            mut messages,
        } = open_stream(channel, path, requests, metadata).await?;
        let message = messages
            .message()
            .await?
            .ok_or_else(|| Status::internal("the backend sent no response message"))?;
        if messages.message().await?.is_some() {
            return Err(Status::internal(
                "the backend sent more than one message for a unary call",
            ));
        }
        let trailers = messages.trailers().await?.unwrap_or_default();
        Ok(UnaryReply {
            headers,
            message,
            trailers,
        })
    };
    let started = Instant::now();
    let expired = || {
        Status::deadline_exceeded(format!(
            "the backend did not answer within {} ms",
            deadline.as_millis()
        ))
    };
    match tokio::time::timeout(deadline, exchange).await {
        // tonic's channel enforces `grpc-timeout` too, and reports it as CANCELLED.
        Ok(Err(status)) if status.code() == Code::Cancelled && started.elapsed() >= deadline => {
            Err(expired())
        }
        Ok(result) => result,
        Err(_) => Err(expired()),
    }
}

/// Opens a call fed by `requests`; resolves when the backend's response headers arrive.
/// The request stream ending is the client's half-close; an `Err` item resets the call.
pub async fn open_stream<S>(
    channel: Channel,
    path: PathAndQuery,
    requests: S,
    metadata: MetadataMap,
) -> Result<OpenStream, Status>
where
    S: Stream<Item = Result<Bytes, Status>> + Send + 'static,
{
    let frames = requests.map(|item| item.map(|message| Frame::data(grpc_frame(&message))));
    let body = tonic::body::Body::new(StreamBody::new(frames));
    let mut request = http::Request::new(body);
    *request.method_mut() = Method::POST;
    *request.uri_mut() = Uri::from(path);
    *request.headers_mut() = metadata.into_headers();
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(TE, HeaderValue::from_static("trailers"));

    let response = channel.oneshot(request).await.map_err(transport_status)?;
    let (mut parts, body) = response.into_parts();
    drop_malformed_details(&mut parts.headers);
    if let Some(status) = Status::from_header_map(&parts.headers) {
        // Trailers-only response: the status came with the headers.
        if status.code() != Code::Ok {
            return Err(status);
        }
    }
    let is_grpc = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if parts.status != StatusCode::OK || !is_grpc {
        return Err(Status::new(
            code_for_http_status(parts.status),
            format!(
                "the backend answered HTTP {} ({}) instead of gRPC",
                parts.status,
                parts
                    .headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("no content-type")
            ),
        ));
    }
    let body = body.map_frame(|frame| match frame.into_trailers() {
        Ok(mut trailers) => {
            drop_malformed_details(&mut trailers);
            Frame::trailers(trailers)
        }
        Err(frame) => frame,
    });
    let messages = Streaming::new_response(
        BytesCodec,
        body,
        parts.status,
        None,
        Some(MAX_RESPONSE_MESSAGE),
    );
    Ok(OpenStream {
        headers: MetadataMap::from_headers(parts.headers),
        messages,
    })
}

/// A failed exchange: the channel's own `grpc-timeout` enforcement reports CANCELLED (the
/// unary caller turns that into DEADLINE_EXCEEDED); anything else means unreachable.
fn transport_status(err: tonic::transport::Error) -> Status {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(current) = source {
        if current.downcast_ref::<tonic::TimeoutExpired>().is_some() {
            return Status::cancelled("timeout expired");
        }
        source = current.source();
    }
    Status::unavailable(format!("the backend is unreachable: {err}"))
}

/// tonic panics on a `grpc-status-details-bin` that is not base64. A backend must not be able
/// to crash a request (or, mid-stream, a client's connection), so such a value is dropped; the
/// status code and message still arrive.
fn drop_malformed_details(headers: &mut http::HeaderMap) {
    let malformed = headers
        .get(STATUS_DETAILS)
        .is_some_and(|value| DETAILS_BASE64.decode(value.as_bytes()).is_err());
    if malformed {
        headers.remove(STATUS_DETAILS);
    }
}

const STATUS_DETAILS: &str = "grpc-status-details-bin";

/// The alphabet and padding rules tonic decodes `-bin` values with.
const DETAILS_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The gRPC length-prefixed message framing (uncompressed).
fn grpc_frame(message: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    frame.put_slice(message);
    frame.freeze()
}
