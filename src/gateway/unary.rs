//! A unary call: one message up, one message (or a status) down.

use axum::response::Response;

use super::Gateway;
use crate::errors::GatewayError;
use crate::routing::Route;
use crate::transcoding::RequestSide;
use crate::upstream::{CallSetup, call_unary, reply_response, status_error};

impl Gateway {
    pub(super) async fn unary(
        &self,
        route: &Route,
        request: &RequestSide,
        body: &[u8],
        call: CallSetup,
    ) -> Result<Response, GatewayError> {
        let message = request.encode(body)?;
        let transcoder = &self.plan.transcoder;
        let reply = call_unary(
            &call.upstream,
            call.grpc_path,
            message,
            call.metadata,
            call.deadline,
        )
        .await
        .map_err(|status| status_error(transcoder, &status))?;
        let rendered = transcoder.render(&route.rules, &reply.message)?;
        Ok(reply_response(rendered, &reply.headers, &reply.trailers))
    }
}
