//! Splitting a streamed request body into messages: newline-delimited JSON read as it
//! arrives (each line sent upstream before the next is read), or one JSON array (as Envoy's
//! clients send it), which is read whole within the body limit.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::BytesMut;
use futures_util::StreamExt;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::errors::GatewayError;
use crate::listener::ClientConnection;
use crate::observe::Exchange;
use crate::transcoding::RequestSide;
use crate::upstream::RequestSender;

/// Reads `body`, transcodes each message with `request` and sends it upstream through `tx`;
/// the bytes waiting to be split are charged to `client`'s connection.
/// Stops early (Ok) if the call ended and nobody receives any more. `limit` bounds one line
/// (NDJSON) or the whole array; `timeout` bounds how long one line (or the array) may take
/// to arrive once it has started, so a message dribbled a byte at a time is cut (408), while
/// a client that is simply quiet between messages is left alone.
pub async fn pump_body(
    body: Body,
    (context, client): (&RequestSide, Option<Arc<ClientConnection>>),
    (tx, exchange): (&RequestSender, Option<&Exchange>),
    limit: usize,
    timeout: Duration,
) -> Result<(), GatewayError> {
    let tx = &Feed { tx, exchange };
    let mut chunks = body.into_data_stream();
    let mut buffer = LineBuffer::new(client);
    let mut line_number = 0usize;
    let mut array_mode = None;
    // When the message now arriving started (None between messages).
    let mut started: Option<Instant> = None;
    loop {
        let next = chunks.next();
        let next = match started {
            Some(started) => tokio::time::timeout_at(started + timeout, next)
                .await
                .map_err(|_| GatewayError::request_timed_out(timeout))?,
            None => next.await,
        };
        let chunk = match next {
            Some(Ok(chunk)) => chunk,
            Some(Err(err)) => {
                return Err(GatewayError::invalid_argument(format!(
                    "reading the request body failed: {err}"
                )));
            }
            None => break,
        };
        buffer.push(&chunk)?;
        if array_mode.is_none() {
            array_mode = buffer.first_non_blank().map(|first| first == b'[');
        }
        if array_mode == Some(true) {
            if buffer.len() > limit {
                return Err(GatewayError::payload_too_large(limit));
            }
            started.get_or_insert_with(Instant::now);
            continue;
        }
        let mut completed = false;
        while let Some(line) = buffer.next_line() {
            line_number += 1;
            completed = true;
            if !send_line(&line, line_number, context, tx).await? {
                return Ok(());
            }
        }
        if buffer.len() > limit {
            return Err(GatewayError::payload_too_large(limit)
                .with_detail(format!("line {} is longer than the limit", line_number + 1)));
        }
        started = match (buffer.len(), completed) {
            (0, _) => None,
            (_, true) => Some(Instant::now()),
            (_, false) => started.or_else(|| Some(Instant::now())),
        };
    }
    let rest = buffer.take_rest();
    if array_mode == Some(true) {
        return send_array(&rest, context, tx).await;
    }
    if !rest.is_empty() {
        send_line(&rest, line_number + 1, context, tx).await?;
    }
    Ok(())
}

/// Bytes of a body not yet split into lines, charged to the client's connection while they
/// wait. Each byte is scanned for a newline once: a long line arriving in many chunks costs
/// time linear in its length, not quadratic.
struct LineBuffer {
    bytes: BytesMut,
    /// How far `bytes` is known to hold no newline.
    scanned: usize,
    client: Option<Arc<ClientConnection>>,
}

impl LineBuffer {
    fn new(client: Option<Arc<ClientConnection>>) -> Self {
        Self {
            bytes: BytesMut::new(),
            scanned: 0,
            client,
        }
    }

    fn push(&mut self, chunk: &[u8]) -> Result<(), GatewayError> {
        if let Some(client) = &self.client {
            client
                .buffer()
                .try_charge(chunk.len())
                .map_err(|full| GatewayError::overloaded(full.to_string()))?;
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The next complete line, newline included.
    fn next_line(&mut self) -> Option<BytesMut> {
        let unscanned = self.bytes.get(self.scanned..)?;
        match unscanned.iter().position(|&b| b == b'\n') {
            Some(offset) => {
                let line = self.bytes.split_to(self.scanned + offset + 1);
                self.scanned = 0;
                self.release(line.len());
                Some(line)
            }
            None => {
                self.scanned = self.bytes.len();
                None
            }
        }
    }

    fn first_non_blank(&self) -> Option<u8> {
        self.bytes
            .iter()
            .copied()
            .find(|b| !b.is_ascii_whitespace())
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    fn take_rest(&mut self) -> BytesMut {
        let rest = std::mem::take(&mut self.bytes);
        self.scanned = 0;
        self.release(rest.len());
        rest
    }

    fn release(&self, bytes: usize) {
        if let Some(client) = &self.client {
            client.buffer().release(bytes);
        }
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        self.release(self.bytes.len());
    }
}

/// Where messages go: the upstream call, counted into the exchange.
struct Feed<'a> {
    tx: &'a RequestSender,
    exchange: Option<&'a Exchange>,
}

impl Feed<'_> {
    /// Sends one message; false if the call is gone.
    async fn send(&self, message: bytes::Bytes) -> bool {
        let sent = self.tx.send(message).await.is_ok();
        if sent && let Some(exchange) = self.exchange {
            exchange.message_in();
        }
        sent
    }
}

/// Sends one NDJSON line (blank lines are skipped). Ok(false): the call is gone.
async fn send_line(
    line: &[u8],
    number: usize,
    context: &RequestSide,
    tx: &Feed<'_>,
) -> Result<bool, GatewayError> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Ok(true);
    }
    let message = context
        .encode(line)
        .map_err(|err| locate(err, &format!("line {number}")))?;
    Ok(tx.send(message).await)
}

async fn send_array(body: &[u8], context: &RequestSide, tx: &Feed<'_>) -> Result<(), GatewayError> {
    let elements: Vec<&RawValue> = serde_json::from_slice(body).map_err(|err| {
        GatewayError::invalid_argument(format!(
            "the request body is not a JSON array of messages: {err}"
        ))
    })?;
    for (index, element) in elements.iter().enumerate() {
        let message = context
            .encode(element.get().as_bytes())
            .map_err(|err| locate(err, &format!("element {index}")))?;
        if !tx.send(message).await {
            break;
        }
    }
    Ok(())
}

/// Says which message of the stream an error is about.
fn locate(error: GatewayError, place: &str) -> GatewayError {
    GatewayError::new(error.code(), format!("{place}: {}", error.message()))
        .with_details(error.details().to_vec())
        .with_http_status(error.http_status())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks() {
        let mut buffer = LineBuffer::new(None);
        let mut lines = Vec::new();
        for chunk in [&b"{\"a\""[..], b":1}\n{", b"\"b\":2}\n\n{\"c\"", b":3}"] {
            buffer.push(chunk).unwrap();
            while let Some(line) = buffer.next_line() {
                lines.push(line);
            }
        }
        assert_eq!(lines, [&b"{\"a\":1}\n"[..], b"{\"b\":2}\n", b"\n"]);
        assert_eq!(buffer.take_rest(), &b"{\"c\":3}"[..]);
    }

    #[test]
    fn a_long_line_is_scanned_once() {
        let mut buffer = LineBuffer::new(None);
        for _ in 0..1000 {
            buffer.push(&[b'x'; 100]).unwrap();
            assert!(buffer.next_line().is_none());
            // Everything pushed so far is known to hold no newline: the next search starts at
            // the end, so each byte is looked at once however many chunks the line comes in.
            assert_eq!(buffer.scanned, buffer.len());
        }
        buffer.push(b"y\nz").unwrap();
        assert_eq!(buffer.next_line().map(|line| line.len()), Some(100_002));
        assert_eq!((buffer.scanned, buffer.len()), (0, 1));
    }
}
