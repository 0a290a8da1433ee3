//! The upstream side: the shared registry of upstreams and their endpoints (with each
//! endpoint's life as a state machine), per-worker long-lived HTTP/2 connections and the
//! balancer over them, the gRPC call itself, and the translation of HTTP headers to gRPC
//! metadata and back.

mod attempt_trace;
mod balance;
mod call;
mod call_durations;
mod call_setup;
mod cancel_grace;
mod codec;
mod discovery;
mod endpoint;
mod endpoint_life;
mod frame_watch;
mod framing;
mod h2_connection;
mod h2_status;
mod health_check;
mod keepalive;
pub mod metadata;
mod peak_ewma;
mod pool;
mod probe;
mod registry;
mod reply;
mod request_feed;
mod request_pipe;
mod response_body;
mod response_head;
mod retry;
mod shared_endpoint;
mod target;

pub use attempt_trace::{AttemptSpan, AttemptTracer};
pub use balance::Balancer;
pub use call::{Attempts, OpenStream, call_unary, open_single, open_single_retrying, open_stream};
pub use call_setup::CallSetup;
pub use codec::BytesCodec;
pub use discovery::start_discovery;
pub use endpoint_life::State;
pub use h2_connection::STREAM_WINDOW;
pub use health_check::spawn_health_checks;
pub use pool::Upstreams;
pub use probe::spawn_prober;
pub use registry::{CallPermit, Registry, UpstreamEntry, UpstreamError, registry, registry_after};
pub use reply::{error_with_attempts, reply_response, status_error, with_attempts};
pub use request_feed::{RequestSender, RequestStream, request_feed};
pub use shared_endpoint::Reachability;
