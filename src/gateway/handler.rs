//! The request path: route lookup → request transcoding → upstream call → response
//! transcoding, with every failure leaving as the one `ErrorResponse` shape.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderMap, Request};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost::Message;

use super::Gateway;
use crate::errors::GatewayError;
use crate::listener::PeerAddr;
use crate::routing::{CallKind, Lookup, Route};
use crate::transcoding::{RequestParts, TranscodeError, build_request, render_response};
use crate::upstream::call_unary;
use crate::upstream::metadata::{copy_to_response, grpc_timeout};

/// The fallback handler for every path that is not a built-in endpoint.
pub async fn handle(State(gateway): State<Arc<Gateway>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    match gateway.unary(&parts, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(&gateway.plan.codes),
    }
}

impl Gateway {
    async fn unary(&self, parts: &Parts, body: Body) -> Result<Response, GatewayError> {
        let plan = &self.plan;
        let found = match plan.routes.lookup(&parts.method, parts.uri.path()) {
            Lookup::Matched(found) => found,
            Lookup::NotFound => return Err(GatewayError::route_not_found(parts.uri.path())),
            Lookup::MethodNotAllowed { allowed } => {
                return Err(GatewayError::method_not_allowed(&allowed));
            }
            Lookup::InvalidPath(err) => {
                return Err(GatewayError::invalid_argument(format!(
                    "invalid request path: {err}"
                )));
            }
        };
        let route: &Route = found.value;
        if route.kind != CallKind::Unary {
            return Err(GatewayError::new(
                tonic::Code::Unimplemented,
                format!(
                    "{} is a streaming method; streaming calls are not served yet",
                    route.method.full_name()
                ),
            ));
        }
        let body = read_body(&parts.headers, body, plan.max_body_bytes).await?;
        let mut path_values = Vec::with_capacity(found.bindings.len());
        for binding in &found.bindings {
            let field = route.path_fields.get(binding.variable).ok_or_else(|| {
                GatewayError::internal("route table and template disagree on path variables")
            })?;
            path_values.push((field, binding.value.as_str()));
        }
        let input = route.method.input();
        let request_parts = RequestParts {
            path: &path_values,
            query: parts.uri.query(),
            body: &body,
            content_type: parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            is_patch: parts.method == http::Method::PATCH,
        };
        let message = build_request(&input, &route.body, &request_parts, &plan.json)
            .map_err(transcode_error)?;

        let upstream = self
            .upstreams
            .get(route.upstream)
            .ok_or_else(|| GatewayError::internal("route points at a missing upstream"))?;
        let deadline = match grpc_timeout(&parts.headers) {
            Ok(Some(asked)) => asked.min(upstream.timeout),
            Ok(None) => upstream.timeout,
            Err(err) => return Err(GatewayError::invalid_argument(err.to_string())),
        };
        let peer = parts.extensions.get::<PeerAddr>().map(|p| p.0);
        let metadata = plan
            .forwarding
            .request_metadata(&parts.headers, peer, self.tls);
        let reply = call_unary(
            upstream.channel.clone(),
            route.grpc_path.clone(),
            Bytes::from(message.encode_to_vec()),
            metadata,
            deadline,
        )
        .await
        .map_err(|status| {
            let mut headers = HeaderMap::new();
            copy_to_response(status.metadata(), false, &mut headers);
            let mut error = GatewayError::from_status(&status, &plan.pool, &plan.serialize);
            for (name, value) in &headers {
                error = error.with_header(name.clone(), value.clone());
            }
            error
        })?;

        let rendered = render_response(
            &route.method.output(),
            route.response_body.as_ref(),
            &reply.message,
            &plan.serialize,
            plan.json.use_proto_names,
        )
        .map_err(|err| GatewayError::internal(err.to_string()))?;
        let mut response = Response::new(Body::from(rendered.body));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, rendered.content_type);
        copy_to_response(&reply.headers, false, headers);
        copy_to_response(&reply.trailers, true, headers);
        Ok(response)
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

/// Reads the whole body, refusing more than `limit` bytes (413) before buffering them.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, GatewayError> {
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
