//! The upstream side: long-lived HTTP/2 connections to the backends (one set per worker), the
//! gRPC call itself, and the translation of HTTP headers to gRPC metadata and back.

mod balance;
mod call;
mod call_setup;
mod cancel_grace;
mod codec;
mod endpoint;
mod frame_watch;
mod framing;
mod h2_connection;
mod h2_status;
mod keepalive;
pub mod metadata;
mod pool;
mod probe;
mod reachability;
mod reply;
mod request_feed;
mod request_pipe;
mod response_body;
mod response_head;
mod target;

pub use balance::Balancer;
pub use call::{OpenStream, call_unary, open_single, open_stream};
pub use call_setup::CallSetup;
pub use codec::BytesCodec;
pub use h2_connection::STREAM_WINDOW;
pub use pool::{UpstreamError, Upstreams, health_table};
pub use probe::spawn_prober;
pub use reachability::{HealthTable, Reachability};
pub use reply::{reply_response, status_error};
pub use request_feed::{RequestSender, RequestStream, request_feed};
