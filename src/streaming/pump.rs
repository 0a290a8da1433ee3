//! The task that reads a streamed request body into the upstream call, message by message,
//! while the response is awaited or streamed back.
//!
//! A malformed line, or a client that goes away mid-upload, must cancel the call rather than
//! end it: the pump only `finish`es the request feed after the whole body was sent; in every
//! other case the feed fails, which resets the upstream HTTP/2 stream.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::request_lines::pump_body;
use crate::errors::GatewayError;
use crate::listener::ClientConnection;
use crate::observe::Exchange;
use crate::transcoding::RequestSide;
use crate::upstream::{RequestStream, request_feed};

/// Messages in flight between the request body and the upstream call.
const PUMP_BUFFER: usize = 8;

/// The task reading the request body into the upstream call. Dropping it stops the task.
pub struct Pump {
    errors: Option<oneshot::Receiver<GatewayError>>,
    task: JoinHandle<()>,
}

impl Pump {
    /// Starts pumping; returns the pump, the upstream request stream, and a signal that fires
    /// once the whole body has been sent (the client's half-close).
    pub fn spawn(
        body: Body,
        (request, client, exchange): (
            RequestSide,
            Option<Arc<ClientConnection>>,
            Option<Arc<Exchange>>,
        ),
        (limit, timeout): (usize, Duration),
    ) -> (Self, RequestStream, oneshot::Receiver<()>) {
        let (sender, requests) = request_feed(PUMP_BUFFER);
        let (error_tx, error_rx) = oneshot::channel();
        let (uploaded_tx, uploaded_rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let feed = (&sender, exchange.as_deref());
            match pump_body(body, (&request, client), feed, limit, timeout).await {
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
