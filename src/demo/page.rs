//! A tiny browser page served by the gateway when the demo is embedded (`GET /demo/`): it
//! receives a server stream through `EventSource` and chats over a `WebSocket`, both through
//! the gateway, and writes what it got into `#result` (the browser test reads it).

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("page.html");

pub async fn streaming_page() -> Response {
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}
