//! The HTTP application: built-in endpoints, the gateway fallback, and the tower layers every
//! request passes through. This is the one place the stack is assembled.

use std::sync::Arc;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use http::{HeaderName, HeaderValue};
use tower::{Layer, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::gateway::{self, Gateway};
use crate::health::{self, Readiness};
use crate::observe::{Observe, ObserveLayer, Recorder};
use head_checks::HeadChecksLayer;
use panic_response::PanicResponse;

mod head_checks;
mod panic_response;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The application every connection serves: the router, observed.
pub type App = Observe<Router>;

/// `page`: also serve this (path, HTML), the embedded backend's page. Every request is
/// observed into `recorder` (outermost, around the router: its body is counted before the
/// router boxes it).
pub fn app(
    gateway: Arc<Gateway>,
    readiness: Arc<Readiness>,
    page: Option<(&'static str, &'static str)>,
    recorder: &Recorder,
) -> App {
    let mut builtin = health::router(readiness);
    let mut builtin_paths = vec![health::LIVE, health::READY];
    if let Some((path, html)) = page {
        builtin = builtin.route(path, get(move || async move { Html(html) }));
        builtin_paths.push(path);
    }
    let panic_response = PanicResponse::new(gateway.plan.codes);
    let head_checks = HeadChecksLayer::new(gateway.plan.max_header_bytes, gateway.plan.codes);
    let router = Router::new()
        .fallback(gateway::handle)
        .with_state(gateway)
        .merge(builtin)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, NewRequestId))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                // A 5xx is logged where its cause is known (upstream failures at warn); here
                // it stays at debug, so load shedding cannot flood the log.
                .layer(
                    TraceLayer::new_for_http()
                        .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
                )
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(head_checks),
        );
    ObserveLayer::new(recorder.clone(), builtin_paths, REQUEST_ID).layer(router)
}

/// A random UUID for requests that come without an `x-request-id`.
#[derive(Debug, Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
        let mut value = HeaderValue::from_str(text).ok()?;
        // Unique per request: kept out of the HTTP/2 header compression tables, where it
        // would only evict entries that later requests and responses could reuse.
        value.set_sensitive(true);
        Some(RequestId::new(value))
    }
}
