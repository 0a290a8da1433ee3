//! Client streaming and bidirectional streaming over plain HTTP: the request body is pumped
//! upstream message by message by its own task (`pump`) while the response is awaited (client
//! streaming: one JSON reply) or streamed back (bidirectional: NDJSON or SSE).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use tokio::sync::oneshot;

use super::message_stream::{Event, next_event};
use super::pump::Pump;
use super::server_stream::stream_response;
use super::{Framing, StreamSettings};
use crate::errors::GatewayError;
use crate::observe::Exchange;
use crate::routing::{CallKind, Route};
use crate::transcoding::RequestSide;
use crate::upstream::{Attempts, CallSetup, OpenStream, open_stream, reply_response};

pub async fn body_stream(
    settings: Arc<StreamSettings>,
    (route, request): (Arc<Route>, RequestSide),
    body: Body,
    call: CallSetup,
    (framing, exchange): (Framing, Option<Arc<Exchange>>),
) -> Result<Response, GatewayError> {
    let limits = (settings.max_body_bytes, settings.request_timeout);
    let feeding = (request, call.client.clone(), exchange.clone());
    let (mut pump, requests, uploaded) = Pump::spawn(body, feeding, limits);
    let idle = call.idle_timeout;
    let call_client = call.client.clone();
    let mut attempts = Attempts::traced(exchange.as_deref().and_then(Exchange::attempt_tracer));
    let open = tokio::select! {
        // The client's own error explains a call that failed because of it.
        biased;
        error = pump.failed() => return Err(error),
        opened = open_stream(&call.upstream, call.grpc_path, requests, call.metadata, &mut attempts) => {
            opened.map_err(|status| settings.status_error(&status))?
        }
        () = idle_after(uploaded, idle) => return Err(silent(idle)),
    };
    if let Some(exchange) = &exchange {
        exchange.set_sent(attempts.last_endpoint(), attempts.count);
    }
    match route.kind {
        CallKind::Bidirectional => {
            let client = call_client;
            let framing = (framing, exchange);
            stream_response(settings, route, open, framing, (idle, client), Some(pump)).await
        }
        _ => {
            let response = single_response(&settings, &route, open, pump, idle).await?;
            if let Some(exchange) = &exchange {
                exchange.message_out();
                exchange.set_grpc_code(tonic::Code::Ok);
            }
            Ok(response)
        }
    }
}

/// A client stream's one reply, answered like a unary response.
async fn single_response(
    settings: &StreamSettings,
    route: &Route,
    mut open: OpenStream,
    mut pump: Pump,
    idle: Duration,
) -> Result<Response, GatewayError> {
    let event = tokio::select! {
        biased;
        error = pump.failed() => return Err(error),
        event = next_event(&mut open.messages, idle) => event,
    };
    let message = match event {
        Event::Message(message) => message,
        Event::Failed(status) => return Err(settings.status_error(&status)),
        Event::End(_) => {
            return Err(GatewayError::internal(
                "the backend sent no response message",
            ));
        }
    };
    let trailers = match next_event(&mut open.messages, idle).await {
        Event::End(trailers) => trailers,
        Event::Failed(status) => return Err(settings.status_error(&status)),
        Event::Message(_) => {
            return Err(GatewayError::internal(
                "the backend sent more than one message for a client-streaming call",
            ));
        }
    };
    let rendered = settings.transcoder.render(&route.rules, &message)?;
    Ok(reply_response(rendered, &open.headers, &trailers))
}

/// Never resolves until the upload is complete; then after `idle` without an answer.
async fn idle_after(uploaded: oneshot::Receiver<()>, idle: Duration) {
    if uploaded.await.is_ok() {
        tokio::time::sleep(idle).await;
    } else {
        std::future::pending::<()>().await;
    }
}

fn silent(idle: Duration) -> GatewayError {
    GatewayError::deadline_exceeded(format!(
        "the backend did not answer within {} ms of the upload's end",
        idle.as_millis()
    ))
}
