//! The accept loop: one task per connection, TLS handshake under a deadline, HTTP/1.1 or
//! HTTP/2 by hyper-util's auto builder, and graceful draining on shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::accept_turns::WorkerTurn;
use crate::net::CoalescingStream;

/// A client that connects but never finishes its handshake or headers is dropped after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

type Socket = CoalescingStream<TcpStream>;

/// Per-connection protocol limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_header_bytes: u32,
    pub max_concurrent_streams: u32,
}

/// The client's IP, put in every request's extensions (for `x-forwarded-for`), as a header
/// value rendered once per connection rather than per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddr {
    pub ip: HeaderValue,
}

impl PeerAddr {
    pub fn new(addr: SocketAddr) -> Self {
        let ip = HeaderValue::try_from(addr.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        Self { ip }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish
/// for up to `grace` before returning. With `turn` (a socket shared with other workers), a
/// connection is accepted only on this worker's turn and counted while it is open.
pub async fn serve(
    listener: TcpListener,
    turn: Option<WorkerTurn>,
    tls: Option<TlsAcceptor>,
    app: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let builder = Arc::new(connection_builder(limits));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let next = async {
            if let Some(turn) = &turn {
                turn.wait().await;
            }
            listener.accept().await
        };
        let (stream, peer) = tokio::select! {
            accepted = next => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let open = turn.as_ref().map(WorkerTurn::opened);
        let _ = stream.set_nodelay(true);
        let stream = CoalescingStream::new(stream);
        let watcher = graceful.watcher();
        let peer_addr = PeerAddr::new(peer);
        let (builder, tls, app) = (Arc::clone(&builder), tls.clone(), app.clone());
        tokio::spawn(async move {
            // Counted against this worker until the connection ends.
            let _open = open;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(peer_addr.clone());
                app.clone().oneshot(req)
            });
            let result = match tls {
                Some(acceptor) => match handshake(&acceptor, stream).await {
                    Some(tls_stream) => {
                        let conn = builder
                            .serve_connection_with_upgrades(TokioIo::new(tls_stream), service);
                        watcher.watch(conn.into_owned()).await
                    }
                    None => return,
                },
                None => {
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(grace) => tracing::warn!("grace period over; closing remaining connections"),
    }
}

async fn handshake(
    acceptor: &TlsAcceptor,
    stream: Socket,
) -> Option<tokio_rustls::server::TlsStream<Socket>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls_stream)) => Some(tls_stream),
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            None
        }
    }
}

fn connection_builder(limits: ConnectionLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT)
        .max_buf_size((limits.max_header_bytes as usize).max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(limits.max_header_bytes)
        // Rapid-reset (CVE-2023-44487) protection: cap streams reset before being accepted.
        .max_pending_accept_reset_streams(Some(50))
        .initial_stream_window_size(Some(256 * 1024))
        .initial_connection_window_size(Some(1024 * 1024))
        // Response data queued per stream before the body producer waits (hyper: 400 KiB):
        // one large streamed message fits, a fast backend cannot run far ahead of the client.
        .max_send_buf_size(128 * 1024)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20))
        .enable_connect_protocol();
    builder
}
