//! The front door: TCP accept loop, TLS with ALPN, HTTP/1.1 + HTTP/2 connection serving, and
//! the limits that keep one client from hurting the others (connections, timeouts, resets).
//!
//! `axum::serve` has no TLS, so connections are accepted here and handed to hyper-util's
//! builders: HTTP/2 or HTTP/1.1 as ALPN negotiated under TLS; in plaintext mode, HTTP/2 when
//! the client sends the HTTP/2 preface (prior knowledge) and HTTP/1.1 otherwise.

mod accept;
mod accept_turns;
mod buffers;
mod client_connection;
mod connection;
mod connection_slots;
mod http1_guard;
mod limits;
mod tls;
mod tracked_body;

pub use accept::{MovedListener, Shutdown, serve};
pub use accept_turns::{AcceptTurns, WorkerTurn};
pub use buffers::MemoryBudget;
pub use client_connection::{ClientConnection, StreamReservation};
pub use connection::ConnectionContext;
pub use connection_slots::{ConnectionSlots, default_max_connections, raise_open_file_limit};
pub use limits::{Builders, ConnectionLimits};
pub use tls::{CertSource, TlsError, server_config};
pub use tracked_body::{ClientPaced, HeldUntilSent};
