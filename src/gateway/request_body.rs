//! Reading a request body whole (unary calls, and the one request of a server stream): at
//! most `max_body_bytes` (413 before buffering more), within `request_timeout_ms` of its
//! start (408: a body dribbled a byte at a time must not hold a request open forever), and
//! charged to the client's connection as it arrives (503 when the connection or the gateway
//! holds too much already; see `listener::buffers`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::header::CONTENT_LENGTH;
use http::request::Parts;
use http_body_util::BodyExt;

use crate::errors::GatewayError;
use crate::listener::ClientConnection;
use crate::observe::Exchange;

/// A body read whole; its bytes stay charged to the connection until it is dropped.
pub struct HeldBody {
    bytes: Bytes,
    charged: usize,
    client: Option<Arc<ClientConnection>>,
}

impl std::ops::Deref for HeldBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for HeldBody {
    fn drop(&mut self) {
        if let Some(client) = &self.client {
            client.buffer().release(self.charged);
        }
    }
}

/// Reads the whole body of the request `parts` describes.
pub async fn read_body(
    parts: &Parts,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<HeldBody, GatewayError> {
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(GatewayError::payload_too_large(limit));
    }
    let mut held = HeldBody {
        bytes: Bytes::new(),
        charged: 0,
        client: Exchange::connection_of(&parts.extensions).cloned(),
    };
    let reading = collect(body, limit, &mut held);
    match tokio::time::timeout(timeout, reading).await {
        Ok(Ok(bytes)) => {
            held.bytes = bytes;
            Ok(held)
        }
        Ok(Err(error)) => Err(error),
        Err(_) => Err(GatewayError::request_timed_out(timeout)),
    }
}

async fn collect(mut body: Body, limit: usize, held: &mut HeldBody) -> Result<Bytes, GatewayError> {
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| {
            GatewayError::invalid_argument(format!("reading the request body failed: {err}"))
        })?;
        let Ok(chunk) = frame.into_data() else {
            continue; // trailers carry nothing a JSON body needs
        };
        if held.charged.saturating_add(chunk.len()) > limit {
            return Err(GatewayError::payload_too_large(limit));
        }
        if let Some(client) = &held.client {
            client
                .buffer()
                .try_charge(chunk.len())
                .map_err(|full| GatewayError::overloaded(full.to_string()))?;
        }
        held.charged += chunk.len();
        // One chunk (the usual case) is kept as it came; more are joined.
        match (&mut first, &mut joined) {
            (None, _) => first = Some(chunk),
            (Some(head), None) => {
                let mut buffer = BytesMut::with_capacity(head.len() + chunk.len());
                buffer.extend_from_slice(head);
                buffer.extend_from_slice(&chunk);
                joined = Some(buffer);
            }
            (Some(_), Some(buffer)) => buffer.extend_from_slice(&chunk),
        }
    }
    Ok(match (first, joined) {
        (_, Some(buffer)) => buffer.freeze(),
        (Some(chunk), None) => chunk,
        (None, None) => Bytes::new(),
    })
}
