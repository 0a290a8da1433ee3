//! One unary gRPC call over a shared channel, with response headers and trailers kept apart
//! (tonic's unary helper merges them; the gateway returns them as different HTTP headers).

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use http::uri::PathAndQuery;
use tonic::client::Grpc;
use tonic::codec::Streaming;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use super::BytesCodec;

/// A successful unary reply.
#[derive(Debug)]
pub struct UnaryReply {
    pub headers: MetadataMap,
    pub message: Bytes,
    pub trailers: MetadataMap,
}

/// Calls `path` with the encoded `message`. The deadline covers the whole exchange and is
/// also sent to the backend as `grpc-timeout`.
pub async fn call_unary(
    channel: Channel,
    path: PathAndQuery,
    message: Bytes,
    metadata: MetadataMap,
    deadline: Duration,
) -> Result<UnaryReply, Status> {
    let exchange = async move {
        let mut grpc = Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|err| Status::unavailable(format!("upstream not ready: {err}")))?;
        let mut request = Request::new(message);
        *request.metadata_mut() = metadata;
        request.set_timeout(deadline);
        let (headers, mut stream, _) = grpc
            .server_streaming(request, path, BytesCodec)
            .await?
            .into_parts();
        let message = stream
            .message()
            .await?
            .ok_or_else(|| Status::internal("the backend sent no response message"))?;
        if stream.message().await?.is_some() {
            return Err(Status::internal(
                "the backend sent more than one message for a unary call",
            ));
        }
        let trailers = stream.trailers().await?.unwrap_or_default();
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

/// An open streaming call: the backend's response headers and its message stream, whose
/// trailers (or error status) arrive at its end. Dropping it cancels the call upstream.
pub struct OpenStream {
    pub headers: MetadataMap,
    pub messages: Streaming<Bytes>,
}

/// Opens a streaming call fed by `requests`; resolves when the backend's response headers
/// arrive. The request stream ending is the client's half-close.
pub async fn open_stream<S>(
    channel: Channel,
    path: PathAndQuery,
    requests: S,
    metadata: MetadataMap,
) -> Result<OpenStream, Status>
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    let mut grpc = Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|err| Status::unavailable(format!("upstream not ready: {err}")))?;
    let mut request = Request::new(requests);
    *request.metadata_mut() = metadata;
    let (headers, messages, _) = grpc
        .streaming(request, path, BytesCodec)
        .await?
        .into_parts();
    Ok(OpenStream { headers, messages })
}
