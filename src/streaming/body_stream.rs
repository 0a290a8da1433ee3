//! Client streaming and bidirectional streaming over plain HTTP: the request body is pumped
//! upstream message by message by its own task while the response is awaited (client
//! streaming: one JSON reply) or streamed back (bidirectional: NDJSON or SSE).
//!
//! A malformed line, or a client that goes away mid-upload, must cancel the call rather than
//! end it: the pump only `finish`es the request feed after the whole body was sent; in every
//! other case the feed fails, which resets the upstream HTTP/2 stream.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Framing;
use super::message_stream::{Event, next_event};
use super::request_lines::pump_body;
use super::server_stream::stream_response;
use crate::errors::GatewayError;
use crate::gateway::{CallSetup, Gateway, RequestContext};
use crate::routing::{CallKind, Route};
use crate::upstream::{OpenStream, RequestStream, open_stream, request_feed};

/// Messages in flight between the request body and the upstream call.
const PUMP_BUFFER: usize = 8;

pub async fn body_stream(
    gateway: Arc<Gateway>,
    context: RequestContext,
    body: Body,
    call: CallSetup,
    framing: Framing,
) -> Result<Response, GatewayError> {
    let route = Arc::clone(&context.route);
    let limits = (gateway.plan.max_body_bytes, gateway.plan.request_timeout);
    let (mut pump, requests, uploaded) = Pump::spawn(body, context, limits);
    let idle = call.idle_timeout;
    let call_client = call.client.clone();
    let open = tokio::select! {
        // The client's own error explains a call that failed because of it.
        biased;
        error = pump.failed() => return Err(error),
        opened = open_stream(&call.upstream, call.grpc_path, requests, call.metadata) => {
            opened.map_err(|status| gateway.status_error(&status))?
        }
        () = idle_after(uploaded, idle) => return Err(silent(idle)),
    };
    match route.kind {
        CallKind::Bidirectional => {
            let client = call_client;
            stream_response(gateway, route, open, framing, (idle, client), Some(pump)).await
        }
        _ => single_response(&gateway, &route, open, pump, idle).await,
    }
}

/// A client stream's one reply, answered like a unary response.
async fn single_response(
    gateway: &Gateway,
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
        Event::Failed(status) => return Err(gateway.status_error(&status)),
        Event::End(_) => {
            return Err(GatewayError::internal(
                "the backend sent no response message",
            ));
        }
    };
    let trailers = match next_event(&mut open.messages, idle).await {
        Event::End(trailers) => trailers,
        Event::Failed(status) => return Err(gateway.status_error(&status)),
        Event::Message(_) => {
            return Err(GatewayError::internal(
                "the backend sent more than one message for a client-streaming call",
            ));
        }
    };
    gateway.unary_response(route, &open.headers, &message, &trailers)
}

/// The task reading the request body into the upstream call. Dropping it stops the task.
pub struct Pump {
    errors: Option<oneshot::Receiver<GatewayError>>,
    task: JoinHandle<()>,
}

impl Pump {
    /// Starts pumping; returns the pump, the upstream request stream, and a signal that fires
    /// once the whole body has been sent (the client's half-close).
    fn spawn(
        body: Body,
        context: RequestContext,
        (limit, timeout): (usize, Duration),
    ) -> (Self, RequestStream, oneshot::Receiver<()>) {
        let (sender, requests) = request_feed(PUMP_BUFFER);
        let (error_tx, error_rx) = oneshot::channel();
        let (uploaded_tx, uploaded_rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            match pump_body(body, &context, &sender, limit, timeout).await {
                Ok(()) => {
                    sender.finish();
                    let _ = uploaded_tx.send(());
                }
                Err(error) => {
                    // The error first: dropping the sender resets the call, and whoever sees
                    // that reset must find the client's error already waiting.
                    let _ = error_tx.send(error);
                    drop(sender);
                }
            }
        });
        let pump = Self {
            errors: Some(error_rx),
            task,
        };
        (pump, requests, uploaded_rx)
    }

    /// Resolves with the client's error if the body turned out bad; otherwise never.
    pub async fn failed(&mut self) -> GatewayError {
        if let Some(errors) = &mut self.errors {
            let outcome = errors.await;
            self.errors = None;
            if let Ok(error) = outcome {
                return error;
            }
        }
        std::future::pending().await
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.task.abort();
    }
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
