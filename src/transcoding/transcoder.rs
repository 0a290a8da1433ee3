//! The gateway's transcoding seam: every call path (unary, server, client and bidirectional
//! streams, WebSocket) turns a request into input messages with [`Transcoder::request`] and
//! a backend message into its HTTP body with [`Transcoder::render`], per the route's
//! [`RouteRules`] and the configured JSON options.

use std::sync::Arc;

use http::request::Parts;
use prost_reflect::{DescriptorPool, SerializeOptions};

use super::{JsonOptions, RenderedBody, RequestSide, RouteRules, WireJson, render_response};
use crate::errors::GatewayError;

pub struct Transcoder {
    json: JsonOptions,
    serialize: SerializeOptions,
    /// Direct protobuf-to-JSON writers for the reply types that allow one.
    wire_json: WireJson,
    /// Every loaded type, for the `Any`s in error details.
    pool: DescriptorPool,
}

impl Transcoder {
    /// Compiles direct writers for the replies of `routes` that are rendered whole.
    pub fn new<'a>(
        json: JsonOptions,
        pool: DescriptorPool,
        routes: impl IntoIterator<Item = &'a RouteRules>,
    ) -> Self {
        let whole_replies: Vec<_> = routes
            .into_iter()
            .filter(|rules| rules.response_body.is_none())
            .map(|rules| &rules.output)
            .collect();
        Self {
            wire_json: WireJson::compile(whole_replies, json.use_proto_names),
            serialize: json.serialize_options(),
            json,
            pool,
        }
    }

    /// The request side of one request on the route with `rules`; `bindings` are (template
    /// variable index, decoded value).
    pub fn request(
        &self,
        rules: Arc<RouteRules>,
        bindings: Vec<(usize, String)>,
        parts: &Parts,
    ) -> RequestSide {
        RequestSide::new(rules, bindings, parts, self.json)
    }

    /// The response side: one backend message as an HTTP body (JSON, or raw for
    /// `google.api.HttpBody`), per the route's `response_body` and the JSON options.
    pub fn render(&self, rules: &RouteRules, message: &[u8]) -> Result<RenderedBody, GatewayError> {
        if rules.response_body.is_none()
            && let Some(json) =
                self.wire_json
                    .write(&rules.output, message, self.json.emit_unpopulated)
        {
            return Ok(RenderedBody::json(json.into()));
        }
        render_response(
            &rules.output,
            rules.response_body.as_ref(),
            message,
            &self.serialize,
            self.json.use_proto_names,
        )
        .map_err(|err| GatewayError::internal(err.to_string()))
    }

    /// Every loaded type (the fuzz targets look their messages up here).
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }

    /// A backend's non-OK status as the gateway's error, its details rendered as JSON.
    pub fn status_error(&self, status: &tonic::Status) -> GatewayError {
        GatewayError::from_status(status, &self.pool, &self.serialize)
    }
}
