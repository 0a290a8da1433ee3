//! Turning the HTTP request into the input message bytes: path bindings, query and body,
//! through the route's resolved rule. Shared by unary and streaming calls.

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderMap, Method};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost::Message;

use crate::errors::GatewayError;
use crate::routing::{PathBinding, Route};
use crate::transcoding::{JsonOptions, RequestParts, TranscodeError, build_request};

/// What a request contributes to every input message besides its body. Owned, so streaming
/// calls can keep transcoding messages after the handler has returned.
pub struct RequestContext {
    pub route: Arc<Route>,
    bindings: Vec<PathBinding>,
    query: Option<String>,
    content_type: Option<String>,
    is_patch: bool,
    json: JsonOptions,
}

impl RequestContext {
    pub fn new(
        route: Arc<Route>,
        bindings: Vec<PathBinding>,
        parts: &Parts,
        json: JsonOptions,
    ) -> Self {
        Self {
            route,
            bindings,
            query: parts.uri.query().map(str::to_owned),
            content_type: parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            is_patch: parts.method == Method::PATCH,
            json,
        }
    }

    /// The encoded input message for one body (the whole body, one NDJSON line, one frame).
    pub fn encode(&self, body: &[u8]) -> Result<Bytes, GatewayError> {
        self.encode_with(body, true)
    }

    /// Like `encode`; without `with_url` the path and query are not applied (for the messages
    /// after the first on a WebSocket).
    pub fn encode_with(&self, body: &[u8], with_url: bool) -> Result<Bytes, GatewayError> {
        let route = &*self.route;
        let mut path = Vec::with_capacity(self.bindings.len());
        if with_url {
            for binding in &self.bindings {
                let field = route.path_fields.get(binding.variable).ok_or_else(|| {
                    GatewayError::internal("route table and template disagree on path variables")
                })?;
                path.push((field, binding.value.as_str()));
            }
        }
        let parts = RequestParts {
            path: &path,
            query: if with_url {
                self.query.as_deref()
            } else {
                None
            },
            body,
            content_type: self.content_type.as_deref(),
            is_patch: self.is_patch,
        };
        let input = route.method.input();
        let message =
            build_request(&input, &route.body, &parts, &self.json).map_err(transcode_error)?;
        Ok(Bytes::from(message.encode_to_vec()))
    }
}

/// A client mistake becomes INVALID_ARGUMENT with a `google.rpc.BadRequest` naming the field.
pub fn transcode_error(err: TranscodeError) -> GatewayError {
    if !err.is_client_error() {
        return GatewayError::internal(err.to_string());
    }
    match err.field() {
        Some(field) => GatewayError::bad_request(vec![(field, err.to_string())]),
        None => GatewayError::invalid_argument(err.to_string()),
    }
}

/// Reads the whole body, refusing more than `limit` bytes (413) before buffering them.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(GatewayError::payload_too_large(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(GatewayError::payload_too_large(limit))
        }
        Err(err) => Err(GatewayError::invalid_argument(format!(
            "reading the request body failed: {err}"
        ))),
    }
}
