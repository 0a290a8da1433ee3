//! Splitting a streamed request body into messages: newline-delimited JSON read as it
//! arrives (each line sent upstream before the next is read), or one JSON array (as Envoy's
//! clients send it), which is read whole within the body limit.

use axum::body::Body;
use bytes::BytesMut;
use futures_util::StreamExt;
use serde_json::value::RawValue;

use crate::errors::GatewayError;
use crate::gateway::RequestContext;
use crate::upstream::RequestSender;

/// Reads `body`, transcodes each message with `context` and sends it upstream through `tx`.
/// Stops early (Ok) if the call ended and nobody receives any more. `limit` bounds one line
/// (NDJSON) or the whole array.
pub async fn pump_body(
    body: Body,
    context: &RequestContext,
    tx: &RequestSender,
    limit: usize,
) -> Result<(), GatewayError> {
    let mut chunks = body.into_data_stream();
    let mut buffer = BytesMut::new();
    let mut line_number = 0usize;
    let mut array_mode = None;
    loop {
        let chunk = match chunks.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(err)) => {
                return Err(GatewayError::invalid_argument(format!(
                    "reading the request body failed: {err}"
                )));
            }
            None => break,
        };
        buffer.extend_from_slice(&chunk);
        if array_mode.is_none() {
            array_mode = buffer
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .map(|&first| first == b'[');
        }
        if array_mode == Some(true) {
            if buffer.len() > limit {
                return Err(GatewayError::payload_too_large(limit));
            }
            continue;
        }
        while let Some(newline) = buffer.iter().position(|&b| b == b'\n') {
            let line = buffer.split_to(newline + 1);
            line_number += 1;
            if !send_line(&line, line_number, context, tx).await? {
                return Ok(());
            }
        }
        if buffer.len() > limit {
            return Err(GatewayError::payload_too_large(limit)
                .with_detail(format!("line {} is longer than the limit", line_number + 1)));
        }
    }
    if array_mode == Some(true) {
        return send_array(&buffer, context, tx).await;
    }
    if !buffer.is_empty() {
        send_line(&buffer, line_number + 1, context, tx).await?;
    }
    Ok(())
}

/// Sends one NDJSON line (blank lines are skipped). Ok(false): the call is gone.
async fn send_line(
    line: &[u8],
    number: usize,
    context: &RequestContext,
    tx: &RequestSender,
) -> Result<bool, GatewayError> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Ok(true);
    }
    let message = context
        .encode(line)
        .map_err(|err| locate(err, &format!("line {number}")))?;
    Ok(tx.send(message).await.is_ok())
}

async fn send_array(
    body: &[u8],
    context: &RequestContext,
    tx: &RequestSender,
) -> Result<(), GatewayError> {
    let elements: Vec<&RawValue> = serde_json::from_slice(body).map_err(|err| {
        GatewayError::invalid_argument(format!(
            "the request body is not a JSON array of messages: {err}"
        ))
    })?;
    for (index, element) in elements.iter().enumerate() {
        let message = context
            .encode(element.get().as_bytes())
            .map_err(|err| locate(err, &format!("element {index}")))?;
        if tx.send(message).await.is_err() {
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
