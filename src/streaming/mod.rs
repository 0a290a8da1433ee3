//! Streaming calls over HTTP: server streams as NDJSON or Server-Sent Events, client and
//! bidirectional streams from NDJSON (or JSON array) request bodies, and every streaming kind
//! over WebSocket (HTTP/1.1 upgrade or HTTP/2 extended CONNECT).
//!
//! Nothing is buffered whole: each backend message is framed and handed to hyper as its own
//! body chunk, which hyper only polls for when the client can take more, so flow control
//! reaches the backend; dropping a response (client gone) cancels the upstream call.
//!
//! Messages are transcoded through the route's `transcoding` seam; everything else a stream
//! needs of the gateway comes in one `StreamSettings`, so nothing here reaches back into
//! `gateway`.

mod body_stream;
mod framing;
mod message_stream;
mod pump;
mod request_lines;
mod server_stream;
mod settings;
mod shutdown;
mod websocket;

pub use body_stream::body_stream;

use crate::upstream::STREAM_WINDOW;

/// What a chunk of a streaming response may weigh before it is charged to its connection on
/// top of the call's reservation.
pub const CHUNK_ALLOWANCE: usize = 64 * 1024;

/// What a streaming call reserves of its connection's buffer when it starts: what it may come
/// to hold while its client lags (the backend's stream window and a chunk). With the default
/// 1 MiB per connection that is 8 streaming calls at once on one connection.
pub const STREAM_RESERVATION: usize = STREAM_WINDOW as usize + CHUNK_ALLOWANCE;
pub use framing::Framing;
pub use server_stream::server_stream;
pub use settings::StreamSettings;
pub use websocket::{is_websocket_handshake, websocket};
