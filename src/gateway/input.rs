//! Turning the HTTP request into the input message bytes: path bindings, query and body,
//! through the route's resolved rule. Shared by unary and streaming calls.

use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use prost::Message;

use crate::errors::GatewayError;
use crate::listener::ClientConnection;
use crate::routing::{PathBinding, Route};
use crate::transcoding::{JsonOptions, RequestParts, TranscodeError, build_request};

/// What a request contributes to every input message besides its body. Owned, so streaming
/// calls can keep transcoding messages after the handler has returned.
pub struct RequestContext {
    pub route: Arc<Route>,
    /// The client's connection, which streamed request bytes are charged to.
    pub client: Option<Arc<ClientConnection>>,
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
            client: parts.extensions.get::<Arc<ClientConnection>>().cloned(),
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
