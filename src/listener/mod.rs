//! The front door: TCP accept loop, TLS with ALPN, and HTTP/1.1 + HTTP/2 connection serving.
//!
//! `axum::serve` has no TLS, so connections are accepted here and handed to hyper-util's
//! auto builder, which speaks HTTP/2 when the client sends its preface (negotiated by ALPN
//! under TLS, or by prior knowledge in plaintext mode) and HTTP/1.1 otherwise.

mod accept;
mod accept_turns;
mod tls;

pub use accept::{ConnectionLimits, PeerAddr, serve};
pub use accept_turns::{AcceptTurns, WorkerTurn};
pub use tls::{CertSource, TlsError, server_config};
