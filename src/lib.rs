//! h2gate: JSON over HTTPS/HTTP/2 in front of existing gRPC services, routed by
//! `google.api.http` rules and transcoded with descriptors loaded at start-up.
//!
//! A request's path through the crate: `listener` (TCP, TLS, HTTP/1.1 or HTTP/2) → `app`
//! (tower layers) → `gateway` (the handler) → `routing` (which method) → `transcoding`
//! (JSON to protobuf) → `streaming` (NDJSON, SSE and WebSocket framing, for streaming methods)
//! → `upstream` (the gRPC call) → `transcoding` again (protobuf to JSON) → `errors` (the one
//! error shape). `config`, `descriptors` and `server` set it all up; `embedded` is the seam for
//! a backend run in-process (the binary's demo).

#![forbid(unsafe_code)]

// The public API: what the binary, the integration tests and the benchmarks use.
pub mod cli;
pub mod config;
pub mod embedded;
// The stable entry points of the fuzz targets in fuzz/; not part of the gateway's API.
#[doc(hidden)]
pub mod fuzzing;
pub mod internals;
pub mod server;

// The request path, private to the crate.
pub(crate) mod admin;
pub(crate) mod app;
pub(crate) mod descriptors;
pub(crate) mod errors;
pub(crate) mod gateway;
pub(crate) mod health;
pub(crate) mod listener;
pub(crate) mod net;
pub(crate) mod observe;
pub(crate) mod percent;
pub(crate) mod random;
pub(crate) mod routing;
pub(crate) mod streaming;
pub(crate) mod traffic;
pub(crate) mod transcoding;
pub(crate) mod upstream;
