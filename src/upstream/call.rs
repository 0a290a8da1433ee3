//! gRPC calls, framed by the gateway itself, straight onto a worker's HTTP/2 connection.
//!
//! tonic's `Grpc` client is not used for the exchange because the gateway needs three things
//! it does not give: response headers and trailers kept apart (its unary helper merges them);
//! a request stream that can *fail* (an abandoned upload must reset the HTTP/2 stream, which
//! the backend sees as a cancellation, never as a finished upload); and a backend answering
//! plain HTTP (an error page from a proxy) mapped by its status code instead of decoded as
//! gRPC frames. tonic's `Streaming` still decodes the response frames and trailers.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use h2::client::{ResponseFuture, SendRequest};
use h2::{Reason, SendStream};
use http::header::{CONTENT_TYPE, TE};
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, StatusCode, Uri};
use http_body::Frame;
use http_body_util::BodyExt;
use tonic::codec::Streaming;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use super::BytesCodec;
use super::balance::Balancer;
use super::connection::{Connection, InFlight};
use super::framing::grpc_frame;
use super::h2_status::h2_status;
use super::response_body::ResponseBody;
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
    upstream: &Balancer,
    path: PathAndQuery,
    message: Bytes,
    mut metadata: MetadataMap,
    deadline: Duration,
) -> Result<UnaryReply, Status> {
    if let Ok(value) = format!("{}m", deadline.as_millis().max(1)).parse() {
        metadata.insert("grpc-timeout", value);
    }
    let exchange = async move {
        let OpenStream {
            headers,
            mut messages,
        } = open_single(upstream, path, message, metadata).await?;
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
        // A backend enforcing the same `grpc-timeout` may get there first, and tonic-based
        // ones report that as CANCELLED ("Timeout expired").
        Ok(Err(status)) if status.code() == Code::Cancelled && started.elapsed() >= deadline => {
            Err(expired())
        }
        Ok(result) => result,
        Err(_) => Err(expired()),
    }
}

/// Opens a call with one request `message` (unary and server streaming); resolves when the
/// backend's response headers arrive.
pub async fn open_single(
    upstream: &Balancer,
    path: PathAndQuery,
    message: Bytes,
    metadata: MetadataMap,
) -> Result<OpenStream, Status> {
    let (response, mut send, in_flight) = start(upstream, path, metadata).await?;
    let frame = grpc_frame(&message).map_err(|err| Status::invalid_argument(err.to_string()))?;
    send.send_data(frame, true)
        .map_err(|err| Status::unavailable(format!("the backend connection failed: {err}")))?;
    opened(response, in_flight).await
}

/// Opens a call fed by `requests`; resolves when the backend's response headers arrive.
/// The request stream ending is the client's half-close; an `Err` item resets the call.
pub async fn open_stream<S>(
    upstream: &Balancer,
    path: PathAndQuery,
    requests: S,
    metadata: MetadataMap,
) -> Result<OpenStream, Status>
where
    S: Stream<Item = Result<Bytes, Status>> + Send + 'static,
{
    let (response, send, in_flight) = start(upstream, path, metadata).await?;
    tokio::spawn(pipe_requests(requests, send));
    opened(response, in_flight).await
}

/// Sends the request headers on the chosen endpoint's connection (falling back to the other
/// candidate when the first cannot be reached: nothing was sent, so nothing is repeated).
async fn start(
    upstream: &Balancer,
    path: PathAndQuery,
    metadata: MetadataMap,
) -> Result<(ResponseFuture, SendStream<Bytes>, InFlight), Status> {
    let (first, fallback) = upstream.choose();
    let (endpoint, sender) = match (first.ready().await, fallback) {
        (Ok(sender), _) => (first, sender),
        (Err(_), Some(other)) => (other, other.ready().await?),
        (Err(error), None) => return Err(error),
    };
    let request = grpc_request(endpoint, path, metadata)?;
    let in_flight = endpoint.track();
    let (response, send) = send_request(sender, request)?;
    Ok((response, send, in_flight))
}

fn send_request(
    mut sender: SendRequest<Bytes>,
    request: http::Request<()>,
) -> Result<(ResponseFuture, SendStream<Bytes>), Status> {
    sender
        .send_request(request, false)
        .map_err(|err| Status::unavailable(format!("the backend connection failed: {err}")))
}

fn grpc_request(
    endpoint: &Connection,
    path: PathAndQuery,
    metadata: MetadataMap,
) -> Result<http::Request<()>, Status> {
    let target = endpoint.target();
    let uri = Uri::builder()
        .scheme(target.scheme.clone())
        .authority(target.authority.clone())
        .path_and_query(path)
        .build()
        .map_err(|err| Status::internal(format!("backend request URI: {err}")))?;
    let mut request = http::Request::new(());
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    *request.headers_mut() = metadata.into_headers();
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(TE, HeaderValue::from_static("trailers"));
    Ok(request)
}

/// Waits for the response headers and turns the response into headers and a message stream.
async fn opened(response: ResponseFuture, in_flight: InFlight) -> Result<OpenStream, Status> {
    let response = response.await.map_err(|err| h2_status(&err))?;
    let (mut parts, body) = response.into_parts();
    drop_malformed_details(&mut parts.headers);
    // Trailers-only (grpc-go and grpc-python answer an empty stream, or an error raised
    // before the first message, with one HEADERS frame carrying the status): the head is
    // also the trailers, and no trailers frame will follow.
    let trailers_only = match Status::from_header_map(&parts.headers) {
        Some(status) if status.code() != Code::Ok => return Err(status),
        Some(_) => true,
        None => false,
    };
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
    let body = ResponseBody::new(body, in_flight).map_frame(|frame| match frame.into_trailers() {
        Ok(mut trailers) => {
            drop_malformed_details(&mut trailers);
            Frame::trailers(trailers)
        }
        Err(frame) => frame,
    });
    let messages = if trailers_only {
        Streaming::new_empty(BytesCodec, body)
    } else {
        Streaming::new_response(
            BytesCodec,
            body,
            parts.status,
            None,
            Some(MAX_RESPONSE_MESSAGE),
        )
    };
    Ok(OpenStream {
        headers: MetadataMap::from_headers(parts.headers),
        messages,
    })
}

/// Feeds a streaming call's request messages to the backend as flow control allows, then
/// half-closes; a failing request stream resets the call instead. Stops early when the
/// backend ends or resets the stream.
async fn pipe_requests<S>(requests: S, mut send: SendStream<Bytes>)
where
    S: Stream<Item = Result<Bytes, Status>> + Send + 'static,
{
    let mut requests = std::pin::pin!(requests);
    loop {
        let next = tokio::select! {
            next = requests.next() => next,
            _ = std::future::poll_fn(|cx| send.poll_reset(cx)) => return,
        };
        match next {
            Some(Ok(message)) => {
                // Wait until the backend grants some window, like hyper's body pipe: at most
                // one message per stream is held beyond what the backend asked for.
                send.reserve_capacity(1);
                while send.capacity() == 0 {
                    match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => return,
                    }
                }
                let Ok(frame) = grpc_frame(&message) else {
                    send.send_reset(Reason::CANCEL);
                    return;
                };
                if send.send_data(frame, false).is_err() {
                    return;
                }
            }
            Some(Err(_)) => {
                send.send_reset(Reason::CANCEL);
                return;
            }
            None => {
                let _ = send.send_data(Bytes::new(), true);
                return;
            }
        }
    }
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
