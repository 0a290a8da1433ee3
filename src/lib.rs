//! h2gate: JSON over HTTPS/HTTP/2 in front of existing gRPC services, routed by
//! `google.api.http` rules and transcoded with descriptors loaded at start-up.
//!
//! A request's path through the crate: `listener` (TCP, TLS, HTTP/1.1 or HTTP/2) → `app`
//! (tower layers) → `gateway` (the handler) → `routing` (which method) → `transcoding`
//! (JSON to protobuf) → `streaming` (NDJSON, SSE and WebSocket framing, for streaming methods)
//! → `upstream` (the gRPC call) → `transcoding` again (protobuf to JSON) → `errors` (the one
//! error shape). `config`, `descriptors` and `server` set it all up.

#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod descriptors;
pub mod embedded;
pub mod errors;
// The stable entry points of the fuzz targets in fuzz/; not part of the gateway's API.
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
pub mod health;
pub mod listener;
pub mod net;
pub mod routing;
pub mod server;
pub mod streaming;
pub mod transcoding;
pub mod upstream;
