//! End-to-end tests of h2gate: a real gateway (`h2gate::server::start`) on an ephemeral port,
//! the demo gRPC services behind it (embedded or as a separate backend), and real HTTP/2 and
//! HTTP/1.1 clients over TLS (ALPN) or plaintext. One binary keeps link time down.

// Test and benchmark code: a failure should panic loudly (the workspace denies these lints
// for library code).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// The binary's wiring of the demo services, so tests start gateways exactly as it does.
#[path = "../../src/bin/h2gate/demo.rs"]
mod embedded_demo;
mod support;

mod abuse;
mod backend_faults;
mod bad_input;
mod browser;
mod cli;
mod connection_limits;
mod deployment;
mod errors;
mod health;
mod isolation;
mod kubernetes;
mod listen_address;
mod metadata;
mod operations;
mod protocols;
mod streaming;
mod traffic_management;
mod trailers_only;
mod unary;
mod upstream_policies;
mod upstreams;
mod websocket_bridge;
