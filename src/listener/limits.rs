//! The per-connection protocol limits and timeouts, and the hyper connection builders they
//! configure (one per way a connection can arrive: HTTP/2 by ALPN, HTTP/1.1 by ALPN, or
//! either in plaintext, told apart by the client's first bytes).

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;

/// What protects the gateway from one client connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Request headers, HTTP/1.1 and HTTP/2 alike; larger heads get a 431 ErrorResponse.
    pub max_header_bytes: u32,
    pub max_concurrent_streams: u32,
    /// The TLS handshake, then the first request's headers, must each arrive within this;
    /// so must every HTTP/1.1 request head (which also bounds HTTP/1.1 keep-alive idling).
    pub request_headers_timeout: Duration,
    /// A connection with no request running for this long is closed.
    pub idle_timeout: Duration,
    /// Request body bytes a client may send ahead of the gateway reading them, over all of
    /// its streams (the HTTP/2 connection window).
    pub connection_buffer_bytes: u32,
}

/// Request headers past this multiple of the configured limit are refused by the protocol
/// layer itself (no JSON body); below it the gateway answers 431 with an ErrorResponse.
const HARD_HEADER_FACTOR: u32 = 2;
/// The largest HTTP/2 connection window offered to a client.
const CONNECTION_WINDOW: u32 = 1024 * 1024;
/// HTTP/2 stream window: what one stream may send ahead of the gateway reading it.
const STREAM_WINDOW: u32 = 256 * 1024;

/// The three builders, configured alike.
pub struct Builders {
    /// Plaintext: HTTP/1.1, or HTTP/2 with prior knowledge.
    pub either: Builder<TokioExecutor>,
    pub http1: Builder<TokioExecutor>,
    pub http2: Builder<TokioExecutor>,
}

impl Builders {
    pub fn new(limits: &ConnectionLimits) -> Self {
        let hard_header_bytes = limits.max_header_bytes.saturating_mul(HARD_HEADER_FACTOR);
        // Request bytes in flight from one client: at most the connection's buffer limit, and
        // no more than Envoy's default connection window (1 MiB).
        let connection_window = limits
            .connection_buffer_bytes
            .clamp(65_535, CONNECTION_WINDOW);
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.request_headers_timeout)
            .max_buf_size((hard_header_bytes as usize).max(8192));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.max_concurrent_streams)
            .max_header_list_size(hard_header_bytes)
            // Rapid-reset (CVE-2023-44487): streams reset before being accepted. Resets of
            // accepted streams are counted per connection (`ClientConnection`).
            .max_pending_accept_reset_streams(Some(50))
            .initial_stream_window_size(Some(STREAM_WINDOW.min(connection_window)))
            .initial_connection_window_size(Some(connection_window))
            // Response data queued per stream before the body producer waits (hyper: 400 KiB):
            // one large streamed message fits, a fast backend cannot run far ahead of the client.
            .max_send_buf_size(128 * 1024)
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(20))
            .enable_connect_protocol();
        Self {
            either: builder.clone(),
            http1: builder.clone().http1_only(),
            http2: builder.http2_only(),
        }
    }
}
