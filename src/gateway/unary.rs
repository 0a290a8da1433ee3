//! A unary call: one message up, one message (or a status) down.

use axum::body::Body;
use axum::response::Response;
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use tonic::metadata::MetadataMap;

use super::Gateway;
use super::handler::CallSetup;
use super::input::RequestContext;
use crate::errors::GatewayError;
use crate::routing::Route;
use crate::transcoding::{RenderedBody, render_response};
use crate::upstream::call_unary;
use crate::upstream::metadata::copy_to_response;

impl Gateway {
    pub(super) async fn unary(
        &self,
        route: &Route,
        context: &RequestContext,
        body: &[u8],
        call: CallSetup,
    ) -> Result<Response, GatewayError> {
        let message = context.encode(body)?;
        let reply = call_unary(
            &call.upstream,
            call.grpc_path,
            message,
            call.metadata,
            call.deadline,
        )
        .await
        .map_err(|status| self.status_error(&status))?;
        self.unary_response(route, &reply.headers, &reply.message, &reply.trailers)
    }

    /// One reply message as the HTTP response, with its metadata as headers.
    pub(crate) fn unary_response(
        &self,
        route: &Route,
        headers: &MetadataMap,
        message: &[u8],
        trailers: &MetadataMap,
    ) -> Result<Response, GatewayError> {
        let rendered = self.render(route, message)?;
        let mut response = Response::new(Body::from(rendered.body));
        let out = response.headers_mut();
        out.insert(CONTENT_TYPE, rendered.content_type);
        copy_to_response(headers, false, out);
        copy_to_response(trailers, true, out);
        Ok(response)
    }

    /// A backend status as the gateway's error, with its metadata as `Grpc-Metadata-*`.
    pub(crate) fn status_error(&self, status: &tonic::Status) -> GatewayError {
        let mut headers = HeaderMap::new();
        copy_to_response(status.metadata(), false, &mut headers);
        let mut error = GatewayError::from_status(status, &self.plan.pool, &self.plan.serialize);
        for (name, value) in &headers {
            error = error.with_header(name.clone(), value.clone());
        }
        error
    }

    /// One backend message as an HTTP body (JSON, or raw for `google.api.HttpBody`), per the
    /// route's `response_body` and the configured JSON options.
    pub(crate) fn render(
        &self,
        route: &Route,
        message: &[u8],
    ) -> Result<RenderedBody, GatewayError> {
        let output = route.method.output();
        if route.response_body.is_none()
            && let Some(json) =
                self.plan
                    .wire_json
                    .write(&output, message, self.plan.json.emit_unpopulated)
        {
            return Ok(RenderedBody::json(json.into()));
        }
        render_response(
            &output,
            route.response_body.as_ref(),
            message,
            &self.plan.serialize,
            self.plan.json.use_proto_names,
        )
        .map_err(|err| GatewayError::internal(err.to_string()))
    }
}
