//! The upstream side: long-lived HTTP/2 channels to the backends (one set per worker), the gRPC call itself, and
//! the translation of HTTP headers to gRPC metadata and back.

mod balance;
mod call;
mod codec;
mod connection;
mod framing;
mod h2_status;
pub mod metadata;
mod pool;
mod probe;
mod request_feed;
mod response_body;

pub use balance::Balancer;
pub use call::{OpenStream, UnaryReply, call_unary, open_single, open_stream};
pub use codec::BytesCodec;
pub use pool::{
    HealthTable, Reachability, Upstream, UpstreamError, UpstreamHealth, Upstreams, health_table,
};
pub use probe::spawn_prober;
pub use request_feed::{CallEnded, RequestSender, RequestStream, request_feed};
