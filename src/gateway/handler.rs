//! The request path: route lookup → request transcoding → upstream call → response
//! transcoding, with every failure leaving as the one `ErrorResponse` shape. Unary calls are
//! answered here; streaming calls are handed to `crate::streaming` with the same pieces.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::Request;
use http::request::Parts;

use super::Gateway;
use super::request_body::read_body;
use crate::errors::GatewayError;
use crate::listener::{HeldUntilSent, StreamReservation};
use crate::observe::Exchange;
use crate::routing::{CallKind, Lookup, Route, RouteMatch};
use crate::streaming::{self, Framing};
use crate::transcoding::RequestSide;
use crate::upstream::metadata::grpc_timeout;
use crate::upstream::{CallPermit, CallSetup};

/// The fallback handler for every path that is not a built-in endpoint.
pub async fn handle(State(gateway): State<Arc<Gateway>>, request: Request<Body>) -> Response {
    // Absent only where no observe layer runs (never on a listener).
    let exchange = request.extensions().get::<Arc<Exchange>>().cloned();
    let failed = |error: GatewayError| {
        if let Some(exchange) = &exchange {
            exchange.note_error(&error);
        }
        error.into_response(&gateway.plan.codes)
    };
    let Some(permit) = gateway.in_flight.try_acquire(gateway.worker) else {
        let limit = gateway.in_flight.limit();
        let error = GatewayError::overloaded(format!(
            "the gateway has {limit} requests in progress (max_in_flight); retry shortly"
        ));
        return failed(error);
    };
    let (mut parts, body) = request.into_parts();
    let dispatched = Arc::clone(&gateway)
        .dispatch(&mut parts, body, exchange.as_ref())
        .await;
    let mut response = match dispatched {
        Ok(response) => response,
        Err(error) => failed(error),
    };
    // Counted until the response has gone out whole (a stream until it ends).
    let reservation = response.extensions_mut().remove::<HeldUntilSent>();
    response
        .extensions_mut()
        .insert(HeldUntilSent::new((permit, reservation)));
    response
}

/// Reserves a streaming call's share of its connection's buffer, or sheds the call: a client
/// holding many streams it does not read would otherwise pin that much per stream.
fn reserve_stream(parts: &Parts) -> Result<Option<StreamReservation>, GatewayError> {
    let Some(client) = Exchange::connection_of(&parts.extensions) else {
        return Ok(None);
    };
    client
        .reserve_stream(streaming::STREAM_RESERVATION)
        .map(Some)
        .map_err(|full| GatewayError::overloaded(full.to_string()))
}

/// `response` keeping `held` (a stream's buffer reservation, a circuit breaker's place) until
/// it has been sent.
fn held_while_sent(
    mut response: Response,
    held: Option<impl std::any::Any + Send + Sync>,
) -> Response {
    if let Some(reservation) = held {
        response
            .extensions_mut()
            .insert(HeldUntilSent::new(reservation));
    }
    response
}

impl Gateway {
    async fn dispatch(
        self: Arc<Self>,
        parts: &mut Parts,
        body: Body,
        exchange: Option<&Arc<Exchange>>,
    ) -> Result<Response, GatewayError> {
        if let Some(client) = Exchange::connection_of(&parts.extensions) {
            client
                .buffer()
                .admit()
                .map_err(|full| GatewayError::overloaded(full.to_string()))?;
        }
        let websocket = streaming::is_websocket_handshake(parts);
        let found = self.find_route(parts, websocket)?;
        let route = Arc::clone(found.value);
        if let Some(exchange) = exchange {
            exchange.set_route(&route);
        }
        let bindings = found.bindings.into_iter();
        let bindings = bindings.map(|b| (b.variable, b.value)).collect();
        let request = self
            .plan
            .transcoder
            .request(Arc::clone(&route.rules), bindings, parts);
        let (call, permit) = self.call_setup(&route, parts)?;
        if let Some(exchange) = exchange {
            exchange.set_upstream(&call.upstream.entry().name);
        }
        let response = self.call(parts, body, websocket, (route, request), (call, exchange));
        Ok(held_while_sent(response.await?, permit))
    }

    /// The call on its path: unary, streaming, or a WebSocket bridge.
    async fn call(
        self: Arc<Self>,
        parts: &mut Parts,
        body: Body,
        websocket: bool,
        (route, request): (Arc<Route>, RequestSide),
        (call, exchange): (CallSetup, Option<&Arc<Exchange>>),
    ) -> Result<Response, GatewayError> {
        let reservation = match (websocket, route.kind) {
            (false, CallKind::Unary) => None,
            _ => reserve_stream(parts)?,
        };
        // The streaming paths' futures are boxed: they are large, and the unary path, which
        // is most requests, should not carry (and move) their space.
        if websocket {
            return Box::pin(streaming::websocket(
                Arc::clone(&self.streaming),
                parts,
                (route, request),
                call,
                (reservation, exchange.cloned()),
            ))
            .await;
        }
        let (limit, timeout) = (self.plan.max_body_bytes, self.plan.request_timeout);
        match route.kind {
            CallKind::Unary => {
                let body = read_body(parts, body, limit, timeout).await?;
                self.unary(&route, &request, &body, call, exchange.map(|e| &**e))
                    .await
            }
            CallKind::ServerStreaming => {
                let body = read_body(parts, body, limit, timeout).await?;
                let message = request.encode(&body)?;
                let framing = Framing::negotiate(&parts.headers);
                let settings = Arc::clone(&self.streaming);
                let framing = (framing, exchange.cloned());
                let response = streaming::server_stream(settings, route, message, call, framing);
                Ok(held_while_sent(Box::pin(response).await?, reservation))
            }
            CallKind::ClientStreaming | CallKind::Bidirectional => {
                let framing = Framing::negotiate(&parts.headers);
                let settings = Arc::clone(&self.streaming);
                let framing = (framing, exchange.cloned());
                let response =
                    streaming::body_stream(settings, (route, request), body, call, framing);
                Ok(held_while_sent(Box::pin(response).await?, reservation))
            }
        }
    }

    /// The route for this request. A WebSocket handshake may open a streaming binding declared
    /// with any HTTP verb, so for those the other methods are tried too.
    fn find_route(
        &self,
        parts: &Parts,
        websocket: bool,
    ) -> Result<RouteMatch<'_, Arc<Route>>, GatewayError> {
        let routes = &self.plan.routes;
        let path = parts.uri.path();
        let first = routes.lookup(&parts.method, path);
        if websocket {
            if let Lookup::Matched(found) = first
                && found.value.kind != CallKind::Unary
            {
                return Ok(found);
            }
            let streaming_match =
                routes
                    .methods()
                    .iter()
                    .find_map(|method| match routes.lookup(method, path) {
                        Lookup::Matched(found) if found.value.kind != CallKind::Unary => {
                            Some(found)
                        }
                        _ => None,
                    });
            return streaming_match.ok_or_else(|| {
                GatewayError::route_not_found(path)
                    .with_detail("WebSocket handshakes open streaming methods only")
            });
        }
        match first {
            Lookup::Matched(found) => Ok(found),
            Lookup::NotFound => Err(GatewayError::route_not_found(path)),
            Lookup::MethodNotAllowed { allowed } => Err(GatewayError::method_not_allowed(&allowed)),
            Lookup::InvalidPath(err) => Err(GatewayError::invalid_argument(format!(
                "invalid request path: {err}"
            ))),
        }
    }

    /// How to reach the backend, and the call's place under its upstream's `max_in_flight`
    /// (the circuit breaker: open, the call gets 503 at once).
    fn call_setup(
        &self,
        route: &Route,
        parts: &Parts,
    ) -> Result<(CallSetup, Option<CallPermit>), GatewayError> {
        // A `[[traffic]]` rule may send this request elsewhere (an override, the weights).
        let upstream_id = match route.traffic.and_then(|id| self.plan.traffic.get(id)) {
            Some(policy) => policy.pick(&parts.headers, route.upstream),
            None => route.upstream,
        };
        let upstream = self
            .upstreams
            .get(upstream_id)
            .ok_or_else(|| GatewayError::internal("route points at a missing upstream"))?;
        let entry = upstream.entry();
        let permit = entry.admit().map_err(|max| {
            GatewayError::circuit_open(format!(
                "upstream {:?} has {max} calls in flight (its max_in_flight); retry shortly",
                &*entry.name
            ))
        })?;
        let deadline = match grpc_timeout(&parts.headers) {
            Ok(Some(asked)) => asked.min(upstream.timeout),
            Ok(None) => upstream.timeout,
            Err(err) => return Err(GatewayError::invalid_argument(err.to_string())),
        };
        let peer_ip = Exchange::connection_of(&parts.extensions).map(|client| client.peer_ip());
        let call = CallSetup {
            upstream: upstream.balancer.clone(),
            grpc_path: route.grpc_path.clone(),
            idempotent: route.idempotent,
            metadata: self.plan.forwarding.request_metadata(
                &parts.headers,
                parts.uri.authority().map(|a| a.as_str()),
                peer_ip,
                self.tls,
            ),
            deadline,
            idle_timeout: upstream.stream_idle_timeout,
            client: Exchange::connection_of(&parts.extensions).cloned(),
        };
        Ok((call, permit))
    }
}
