//! Streaming calls over HTTP: server streams as NDJSON or Server-Sent Events, client and
//! bidirectional streams from NDJSON (or JSON array) request bodies, and every streaming kind
//! over WebSocket (HTTP/1.1 upgrade or HTTP/2 extended CONNECT).
//!
//! Nothing is buffered whole: each backend message is framed and handed to hyper as its own
//! body chunk, which hyper only polls for when the client can take more, so flow control
//! reaches the backend; dropping a response (client gone) cancels the upstream call.

mod body_stream;
mod framing;
mod message_stream;
mod request_lines;
mod server_stream;
mod shutdown;
mod websocket;

pub use body_stream::body_stream;
pub use framing::Framing;
pub use server_stream::server_stream;
pub use websocket::{is_websocket_handshake, websocket};
