//! End-to-end tests of h2gate: a real gateway (`h2gate::server::start`) on an ephemeral port,
//! the demo gRPC services behind it (embedded or as a separate backend), and real HTTP/2 and
//! HTTP/1.1 clients over TLS (ALPN) or plaintext. One binary keeps link time down.

mod support;

mod bad_input;
mod browser;
mod cli;
mod errors;
mod health;
mod listen_address;
mod metadata;
mod protocols;
mod stream_client;
mod streaming;
mod unary;
mod upstreams;
