//! A unary call: one message up, one message (or a status) down.

use axum::response::Response;

use super::Gateway;
use crate::errors::GatewayError;
use crate::observe::Exchange;
use crate::routing::Route;
use crate::transcoding::RequestSide;
use crate::upstream::{
    Attempts, CallSetup, call_unary, error_with_attempts, reply_response, status_error,
    with_attempts,
};

impl Gateway {
    pub(super) async fn unary(
        &self,
        route: &Route,
        request: &RequestSide,
        body: &[u8],
        call: CallSetup,
        exchange: Option<&Exchange>,
    ) -> Result<Response, GatewayError> {
        let message = request.encode(body)?;
        let transcoder = &self.plan.transcoder;
        let mut attempts = Attempts::traced(exchange.and_then(Exchange::attempt_tracer));
        let reply = call_unary(
            &call.upstream,
            (call.grpc_path, message),
            call.metadata,
            call.deadline,
            call.idempotent,
            &mut attempts,
        )
        .await;
        if let Some(exchange) = exchange {
            exchange.set_sent(attempts.last_endpoint(), attempts.count);
            exchange.set_grpc_code(
                reply
                    .as_ref()
                    .map_or_else(tonic::Status::code, |_| tonic::Code::Ok),
            );
        }
        let reply = reply
            .map_err(|status| error_with_attempts(status_error(transcoder, &status), &attempts))?;
        let rendered = transcoder.render(&route.rules, &reply.message)?;
        let response = reply_response(rendered, &reply.headers, &reply.trailers);
        Ok(with_attempts(response, &attempts))
    }
}
