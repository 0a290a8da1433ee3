//! gRPC calls, framed by the gateway itself, straight onto a worker's HTTP/2 connection.
//!
//! tonic's `Grpc` client is not used for the exchange because the gateway needs three things
//! it does not give: response headers and trailers kept apart (its unary helper merges them);
//! a request stream that can *fail* (an abandoned upload must reset the HTTP/2 stream, which
//! the backend sees as a cancellation, never as a finished upload); and a backend answering
//! plain HTTP (an error page from a proxy) mapped by its status code instead of decoded as
//! gRPC frames. tonic's `Streaming` still decodes the response frames and trailers.
//!
//! A call with one request message that the backend left unprocessed (its stream id above a
//! GOAWAY's last one, or refused with REFUSED_STREAM) is sent once more: the backend never
//! acted on it, so nothing is done twice.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use h2::client::ResponseFuture;
use http::header::{CONTENT_TYPE, TE};
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, Uri};
use tokio::time::Instant;
use tonic::metadata::{Ascii, MetadataMap, MetadataValue};
use tonic::{Code, Status};

use super::attempt_trace::AttemptTracer;
use super::balance::{Balancer, Pick};
use super::cancel_grace::PendingHead;
use super::endpoint::{Channel, Endpoint, InFlight};
use super::framing::grpc_frame;
use super::h2_status::h2_status;
use super::request_pipe::pipe_requests;
pub use super::response_head::OpenStream;
use super::response_head::read_head;
use super::retry::Retries;

/// A successful unary reply.
#[derive(Debug)]
pub struct UnaryReply {
    pub headers: MetadataMap,
    pub message: Bytes,
    pub trailers: MetadataMap,
}

/// Which endpoints a call was sent to: how many times (a call the backend never processed,
/// or a retry, is sent again), and the last endpoint, which a retry avoids; and, when the
/// call is traced, what starts each attempt's span.
#[derive(Default)]
pub struct Attempts {
    pub count: u32,
    pub last: Option<Arc<Endpoint>>,
    tracer: Option<Arc<dyn AttemptTracer>>,
}

impl Attempts {
    /// Attempts whose spans `tracer` starts.
    pub fn traced(tracer: Option<Arc<dyn AttemptTracer>>) -> Self {
        Self {
            tracer,
            ..Self::default()
        }
    }

    /// The next attempt is about to go to `endpoint`: its span starts, ending with
    /// `in_flight`, and `metadata` carries its `traceparent`.
    fn trace(
        &self,
        endpoint: &Endpoint,
        in_flight: &mut InFlight,
        request_bytes: usize,
        metadata: &mut MetadataMap,
    ) {
        let Some(tracer) = &self.tracer else {
            return;
        };
        let number = self.count.saturating_add(1);
        let (traceparent, span) = tracer.start(number, &endpoint.shared.uri, request_bytes);
        if let Ok(value) = MetadataValue::try_from(traceparent.as_bytes()) {
            metadata.insert("traceparent", value);
        }
        in_flight.attach_span(span);
    }

    /// The endpoint the call was last sent to, as operators see it.
    pub fn last_endpoint(&self) -> Option<Arc<str>> {
        self.last
            .as_ref()
            .map(|endpoint| Arc::clone(&endpoint.shared.uri))
    }

    fn sent(&mut self, endpoint: &Arc<Endpoint>) {
        self.count += 1;
        self.last = Some(Arc::clone(endpoint));
    }
}

/// Calls `path` with one encoded `message`, retried as the upstream's policy allows for an
/// `idempotent` method. The deadline covers every attempt and is sent to the backend as
/// `grpc-timeout` (what is left of it).
pub async fn call_unary(
    upstream: &Balancer,
    (path, message): (PathAndQuery, Bytes),
    mut metadata: MetadataMap,
    deadline: Duration,
    idempotent: bool,
    attempts: &mut Attempts,
) -> Result<UnaryReply, Status> {
    let started = Instant::now();
    let policy = upstream.entry().retry.as_ref();
    let mut retries = Retries::new(policy, idempotent, started + deadline);
    loop {
        let left = deadline.saturating_sub(started.elapsed());
        let metadata = kept_for_retries(&retries, &mut metadata);
        let message = (path.clone(), message.clone());
        let status = match unary_attempt(upstream, message, metadata, left, attempts).await {
            Ok(reply) => return Ok(reply),
            Err(status) => deadline_passed(status, started, deadline),
        };
        if !retries.again(&status).await {
            return Err(status);
        }
        retrying(upstream, &status, attempts);
    }
}

/// Opens a call with one request `message` (server streaming), retried as the upstream's
/// policy allows for an `idempotent` method while no reply has arrived; retries end `within`
/// from now. Resolves when the backend's response headers arrive.
pub async fn open_single_retrying(
    upstream: &Balancer,
    (path, message): (PathAndQuery, Bytes),
    mut metadata: MetadataMap,
    (idempotent, within): (bool, Duration),
    attempts: &mut Attempts,
) -> Result<OpenStream, Status> {
    let policy = upstream.entry().retry.as_ref();
    let mut retries = Retries::new(policy, idempotent, Instant::now() + within);
    loop {
        let metadata = kept_for_retries(&retries, &mut metadata);
        let opened = open_single(upstream, path.clone(), message.clone(), metadata, attempts);
        let status = match opened.await {
            Ok(open) => return Ok(open),
            Err(status) => status,
        };
        if !retries.again(&status).await {
            return Err(status);
        }
        retrying(upstream, &status, attempts);
    }
}

/// The metadata for an attempt: a copy while another attempt may follow, else itself.
fn kept_for_retries(retries: &Retries<'_>, metadata: &mut MetadataMap) -> MetadataMap {
    if retries.none_possible() {
        std::mem::take(metadata)
    } else {
        metadata.clone()
    }
}

fn retrying(upstream: &Balancer, status: &Status, attempts: &Attempts) {
    tracing::debug!(
        upstream = &*upstream.entry().name,
        code = ?status.code(),
        attempts = attempts.count,
        "retrying the call"
    );
}

/// One attempt of a unary call, within `left` of its deadline.
async fn unary_attempt(
    upstream: &Balancer,
    (path, message): (PathAndQuery, Bytes),
    mut metadata: MetadataMap,
    left: Duration,
    attempts: &mut Attempts,
) -> Result<UnaryReply, Status> {
    if let Ok(value) = format!("{}m", left.as_millis().max(1)).parse() {
        metadata.insert("grpc-timeout", value);
    }
    let exchange = async move {
        let OpenStream {
            headers,
            mut messages,
        } = open_single(upstream, path, message, metadata, attempts).await?;
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
    tokio::time::timeout(left, exchange)
        .await
        .unwrap_or_else(|_| Err(Status::deadline_exceeded(TIMED_OUT)))
}

const TIMED_OUT: &str = "the backend did not answer in time";

/// A status that means the call's deadline passed, told as such: a backend enforcing the
/// same `grpc-timeout` may get there first, and tonic-based ones report that as CANCELLED
/// ("Timeout expired").
fn deadline_passed(status: Status, started: Instant, deadline: Duration) -> Status {
    let passed = started.elapsed() >= deadline;
    let ours = status.code() == Code::DeadlineExceeded && status.message() == TIMED_OUT;
    if ours || (status.code() == Code::Cancelled && passed) {
        Status::deadline_exceeded(format!(
            "the backend did not answer within {} ms",
            deadline.as_millis()
        ))
    } else {
        status
    }
}

/// Opens a call with one request `message` (unary and server streaming); resolves when the
/// backend's response headers arrive.
pub async fn open_single(
    upstream: &Balancer,
    path: PathAndQuery,
    message: Bytes,
    metadata: MetadataMap,
    attempts: &mut Attempts,
) -> Result<OpenStream, Status> {
    let frame = grpc_frame(&message).map_err(|err| Status::invalid_argument(err.to_string()))?;
    let request_id = metadata.get(REQUEST_ID).cloned();
    // Kept for a second attempt only while the first may still need one.
    let mut again = Some((path.clone(), metadata.clone(), frame.clone()));
    let mut attempt = (path, metadata, frame);
    loop {
        let (path, mut metadata, frame) = attempt;
        let (endpoint, mut channel) = choose(upstream, request_id.as_ref(), attempts).await?;
        attempts.trace(
            &endpoint,
            &mut channel.in_flight,
            frame.len(),
            &mut metadata,
        );
        let (response, mut send, opened) =
            send_head(&endpoint, channel.sender.clone(), path, metadata)?;
        attempts.sent(&endpoint);
        let id = response.stream_id().as_u32();
        send.send_data(frame, true).map_err(|err| h2_status(&err))?;
        let mut head = PendingHead::new(response, Some(send), opened);
        let err = match head.arrived().await {
            Ok(response) => {
                let max = upstream.max_response_bytes();
                return read_head(response, channel.in_flight, max);
            }
            Err(err) => err,
        };
        let left_by_go_away =
            err.is_go_away() && err.is_remote() && channel.connection.signals.unprocessed(id);
        if left_by_go_away {
            channel.connection.mark_closed();
        }
        // REFUSED_STREAM promises the backend did nothing with the call (RFC 9113 §8.7).
        let refused = err.is_reset() && err.reason() == Some(h2::Reason::REFUSED_STREAM);
        let unprocessed = left_by_go_away || refused;
        match again.take() {
            Some(next) if unprocessed => {
                tracing::debug!(
                    upstream = &*endpoint.target().upstream,
                    "the backend left the call unprocessed (GOAWAY or REFUSED_STREAM); sending it again"
                );
                attempt = next;
            }
            _ => return Err(failed(&endpoint, &channel, request_id.as_ref(), &err)),
        }
    }
}

/// Opens a call fed by `requests`; resolves when the backend's response headers arrive.
/// The request stream ending is the client's half-close; an `Err` item resets the call.
pub async fn open_stream<S>(
    upstream: &Balancer,
    path: PathAndQuery,
    requests: S,
    metadata: MetadataMap,
    attempts: &mut Attempts,
) -> Result<OpenStream, Status>
where
    S: Stream<Item = Result<Bytes, Status>> + Send + 'static,
{
    let request_id = metadata.get(REQUEST_ID).cloned();
    let (endpoint, mut channel) = choose(upstream, request_id.as_ref(), attempts).await?;
    let mut metadata = metadata;
    attempts.trace(&endpoint, &mut channel.in_flight, 0, &mut metadata);
    let (response, send, opened) = send_head(&endpoint, channel.sender.clone(), path, metadata)?;
    attempts.sent(&endpoint);
    // The pipe owns the request half: it resets the stream (after a grace) if the client
    // abandons the call.
    tokio::spawn(pipe_requests(requests, send, opened));
    let response = PendingHead::new(response, None, opened)
        .arrived()
        .await
        .map_err(|err| failed(&endpoint, &channel, request_id.as_ref(), &err))?;
    read_head(response, channel.in_flight, upstream.max_response_bytes())
}

/// A unary call to one given endpoint, outside the balancer (the health checker's): one
/// message up, the reply message down, within `deadline`.
pub async fn call_endpoint(
    endpoint: &Arc<Endpoint>,
    path: PathAndQuery,
    message: &[u8],
    (deadline, max_reply): (Duration, usize),
) -> Result<Bytes, Status> {
    let mut metadata = MetadataMap::new();
    if let Ok(value) = format!("{}m", deadline.as_millis().max(1)).parse() {
        metadata.insert("grpc-timeout", value);
    }
    let frame = grpc_frame(message).map_err(|err| Status::internal(err.to_string()))?;
    let exchange = async {
        let channel = endpoint.ready(true).await?;
        let (response, mut send, _) = send_head(endpoint, channel.sender.clone(), path, metadata)?;
        send.send_data(frame, true).map_err(|err| h2_status(&err))?;
        let response = response.await.map_err(|err| h2_status(&err))?;
        let OpenStream { mut messages, .. } = read_head(response, channel.in_flight, max_reply)?;
        let reply = messages
            .message()
            .await?
            .ok_or_else(|| Status::internal("no reply message"))?;
        messages.trailers().await?;
        Ok(reply)
    };
    tokio::time::timeout(deadline, exchange)
        .await
        .map_err(|_| Status::deadline_exceeded("no answer in time"))?
}

const REQUEST_ID: &str = "x-request-id";

/// A call that failed before its response head: logged for the operator with where and why,
/// answered to the client without internal addresses.
fn failed(
    endpoint: &Endpoint,
    channel: &Channel,
    request_id: Option<&MetadataValue<Ascii>>,
    err: &h2::Error,
) -> Status {
    let status = h2_status(err);
    channel.in_flight.ended(status.code());
    tracing::warn!(
        upstream = &*endpoint.target().upstream,
        endpoint = endpoint.uri(),
        request_id = request_id.and_then(|id| id.to_str().ok()),
        cause = %err,
        "upstream call failed"
    );
    status
}

/// The endpoint to call and a place on one of its connections: the balancer's first pick, or
/// its other pick when the first cannot be reached (nothing was sent, so nothing repeats).
async fn choose(
    upstream: &Balancer,
    request_id: Option<&MetadataValue<Ascii>>,
    attempts: &Attempts,
) -> Result<(Arc<Endpoint>, Channel), Status> {
    let Pick { first, fallback } = upstream
        .choose(attempts.last.as_ref())
        .ok_or_else(|| Status::unavailable("the upstream has no endpoints"))?;
    let result = match (first.ready(fallback.is_none()).await, fallback) {
        (Ok(channel), _) => return Ok((first, channel)),
        (Err(_), Some(other)) => other.ready(true).await.map(|channel| (other, channel)),
        (Err(error), None) => Err(error),
    };
    if let Err(status) = &result {
        tracing::warn!(
            upstream = &*first.target().upstream,
            request_id = request_id.and_then(|id| id.to_str().ok()),
            cause = status.message(),
            "no endpoint could take the call"
        );
    }
    result
}

/// Sends the request head; returns the response future, the request body's stream and when
/// the stream was opened.
fn send_head(
    endpoint: &Endpoint,
    mut sender: h2::client::SendRequest<Bytes>,
    path: PathAndQuery,
    metadata: MetadataMap,
) -> Result<(ResponseFuture, h2::SendStream<Bytes>, Instant), Status> {
    let request = grpc_request(endpoint, path, metadata)?;
    let (response, send) = sender
        .send_request(request, false)
        .map_err(|err| h2_status(&err))?;
    Ok((response, send, Instant::now()))
}

fn grpc_request(
    endpoint: &Endpoint,
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
