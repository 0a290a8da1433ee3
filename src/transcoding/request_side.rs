//! The request side of a route's transcoding: path bindings, query and body into the input
//! message's bytes, through the route's resolved rules. The unary, streaming and WebSocket
//! paths all encode their messages here.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use prost::Message;

use super::{JsonOptions, RequestParts, RouteRules, TranscodeError, build_request};
use crate::errors::GatewayError;

/// What one request contributes to every input message besides its body. Owned, so streaming
/// calls can keep transcoding messages after the handler has returned.
pub struct RequestSide {
    rules: Arc<RouteRules>,
    /// (index of the template variable, its percent-decoded value).
    bindings: Vec<(usize, String)>,
    query: Option<String>,
    content_type: Option<String>,
    is_patch: bool,
    json: JsonOptions,
}

impl RequestSide {
    pub fn new(
        rules: Arc<RouteRules>,
        bindings: Vec<(usize, String)>,
        parts: &Parts,
        json: JsonOptions,
    ) -> Self {
        Self {
            rules,
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
        let rules = &*self.rules;
        let mut path = Vec::with_capacity(self.bindings.len());
        if with_url {
            for (variable, value) in &self.bindings {
                let field = rules.path_fields.get(*variable).ok_or_else(|| {
                    GatewayError::internal("route table and template disagree on path variables")
                })?;
                path.push((field, value.as_str()));
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
        let message = build_request(&rules.input, &rules.body, &parts, &self.json)
            .map_err(transcode_error)?;
        Ok(Bytes::from(message.encode_to_vec()))
    }
}

/// A client mistake becomes INVALID_ARGUMENT with a `google.rpc.BadRequest` naming the field.
fn transcode_error(err: TranscodeError) -> GatewayError {
    if !err.is_client_error() {
        return GatewayError::internal(err.to_string());
    }
    match err.field() {
        Some(field) => GatewayError::bad_request(vec![(field, err.to_string())]),
        None => GatewayError::invalid_argument(err.to_string()),
    }
}
