//! One client connection's life after accept: the TLS handshake under a deadline, HTTP/2 or
//! HTTP/1.1 as ALPN decided (plaintext: as the client's first bytes say), then a driver that
//! closes the connection when it has no business staying open.
//!
//! The driver is one explicit state machine (`Phase`): a connection that has sent no request
//! yet must send one within `request_headers_timeout` (a client that connects and says
//! nothing, or dribbles its first headers, is dropped); an open connection with no request
//! running for `idle_timeout` is closed gracefully (GOAWAY, or `Connection: close`); an
//! abusive one (premature resets) is closed at once; and on drain every connection is closed
//! gracefully — except one that has not sent its first request yet, which gets to send it
//! (within its deadline) and is answered before the GOAWAY: a client whose connection raced
//! the shutdown gets served, never a connection closed before the HTTP/2 preface.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::buffers::{ConnectionBuffer, MemoryBudget};
use super::client_connection::ClientConnection;
use super::connection_slots::ConnectionSlot;
use super::http1_guard::Http1Guard;
use super::limits::{Builders, ConnectionLimits};
use super::tracked_body::{ClientPaced, HeldUntilSent, TrackedBody};
use crate::net::CoalescingStream;
use crate::observe::ConnectionMetrics;

type Socket = CoalescingStream<tokio::net::TcpStream>;

/// How long a connection gets to finish its responses after a graceful close that the
/// gateway decided (idle, abuse); drains are bounded by the shutdown grace instead.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Where one connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request yet: the first one's headers must arrive by `deadline`.
    AwaitingFirstRequest {
        deadline: Instant,
    },
    Serving,
    /// Closing gracefully; dropped outright at `deadline`, if any.
    Closing {
        deadline: Option<Instant>,
    },
}

/// Everything a worker's connections share.
pub struct ConnectionContext {
    /// The TLS configuration new connections handshake with (a reload may renew it).
    pub tls: Option<Arc<ArcSwap<rustls::ServerConfig>>>,
    /// The application each request is served by (a reload swaps it; a request keeps the
    /// one it started with).
    pub app: Arc<ArcSwap<crate::app::App>>,
    pub limits: ConnectionLimits,
    pub builders: Builders,
    /// Becomes true when the worker drains.
    pub draining: watch::Receiver<bool>,
    /// The gateway-wide memory budget, and what one connection's request bodies may hold.
    pub budget: Arc<MemoryBudget>,
    pub body_buffer_limit: usize,
    /// This worker's index (its share of the budget's counters).
    pub worker: usize,
    pub metrics: ConnectionMetrics,
}

/// Serves one accepted connection until it closes.
pub async fn serve(
    context: Arc<ConnectionContext>,
    stream: Socket,
    peer: SocketAddr,
    slot: ConnectionSlot,
) {
    let buffer = ConnectionBuffer::new(
        context.limits.connection_buffer_bytes as usize,
        context.body_buffer_limit,
        Arc::clone(&context.budget),
        context.worker,
    );
    let client = ClientConnection::new(peer, slot, buffer);
    let accepted = Instant::now();
    let first_request_by = accepted + context.limits.request_headers_timeout;
    match &context.tls {
        Some(tls) => {
            let acceptor = TlsAcceptor::from(tls.load_full());
            let tls = match tokio::time::timeout_at(first_request_by, acceptor.accept(stream)).await
            {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    context.metrics.tls_handshake_failures.inc();
                    return tracing::debug!(%peer, error = %err, "TLS handshake failed");
                }
                Err(_) => {
                    context.metrics.tls_handshake_failures.inc();
                    return tracing::debug!(%peer, "TLS handshake timed out");
                }
            };
            // The first request gets its own full allowance once the handshake is done.
            let deadline = Instant::now() + context.limits.request_headers_timeout;
            match tls.get_ref().1.alpn_protocol() {
                Some(b"h2") => {
                    let _open = context.metrics.open(true);
                    let builder = &context.builders.http2;
                    drive(&context, builder, TokioIo::new(tls), client, deadline).await;
                }
                // HTTP/2 over TLS needs ALPN (RFC 9113 §3.2): anything else is HTTP/1.1.
                _ => {
                    let _open = context.metrics.open(false);
                    let io = TokioIo::new(Http1Guard::socket(tls, false));
                    drive(&context, &context.builders.http1, io, client, deadline).await;
                }
            }
        }
        None => {
            let io = TokioIo::new(Http1Guard::socket(stream, true));
            drive(
                &context,
                &context.builders.either,
                io,
                client,
                first_request_by,
            )
            .await;
        }
    }
}

async fn drive<I>(
    context: &ConnectionContext,
    builder: &Builder<TokioExecutor>,
    io: I,
    client: Arc<ClientConnection>,
    first_request_by: Instant,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let app = Arc::clone(&context.app);
    let tracked = Arc::clone(&client);
    // Plaintext connections say which HTTP version they speak with their first request.
    // (Counted while the service, which hyper holds for the connection's life, lives.)
    let counted = context
        .tls
        .is_none()
        .then(|| (context.metrics.clone(), OnceLock::new()));
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        if let Some((metrics, open)) = &counted {
            open.get_or_init(|| metrics.open(request.version() == http::Version::HTTP_2));
        }
        let guard = tracked.request_started();
        request.extensions_mut().insert(Arc::clone(&tracked));
        let response = app.load().as_ref().clone().oneshot(request);
        let connection = Arc::clone(&tracked);
        async move {
            let mut response = response.await?;
            let paced = response.extensions().get::<ClientPaced>().copied();
            let held = response.extensions_mut().remove::<HeldUntilSent>();
            Ok::<_, std::convert::Infallible>(
                response.map(|body| TrackedBody::new(body, guard, connection, (paced, held))),
            )
        }
    });
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    let mut draining = context.draining.clone();
    let mut drain_seen = *draining.borrow();
    let mut phase = Phase::AwaitingFirstRequest {
        deadline: first_request_by,
    };
    let timer = tokio::time::sleep_until(first_request_by);
    tokio::pin!(timer);
    loop {
        if let Phase::AwaitingFirstRequest { .. } = phase
            && client.has_served()
        {
            phase = if drain_seen {
                // The request that raced the drain is being served; the GOAWAY follows it.
                conn.as_mut().graceful_shutdown();
                Phase::Closing { deadline: None }
            } else {
                Phase::Serving
            };
        }
        if let Some(at) = wake_at(phase, &client, context.limits.idle_timeout) {
            timer.as_mut().reset(at);
        }
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                return;
            }
            () = &mut timer, if wake_at(phase, &client, context.limits.idle_timeout).is_some() => {
                if phase == Phase::Serving && client.stalls().1 {
                    tracing::warn!(peer = ?client.peer_ip(), "closing a connection whose client stopped reading a stream");
                    conn.as_mut().graceful_shutdown();
                    // Its stalled streams cannot finish: they go with the connection.
                    phase = Phase::Closing { deadline: Some(Instant::now() + Duration::from_secs(1)) };
                    continue;
                }
                match next_phase(phase, &client, context.limits.idle_timeout) {
                    Step::Stay(next) => phase = next,
                    Step::CloseGracefully(deadline) => {
                        conn.as_mut().graceful_shutdown();
                        phase = Phase::Closing { deadline };
                    }
                    Step::Drop => return,
                }
            }
            () = client.wake.notified() => {
                if client.is_abusive() && !matches!(phase, Phase::Closing { .. }) {
                    tracing::warn!(peer = ?client.peer_ip(), "closing a connection that resets streams prematurely (rapid reset)");
                    conn.as_mut().graceful_shutdown();
                    phase = Phase::Closing { deadline: Some(Instant::now() + Duration::from_secs(1)) };
                }
            }
            changed = draining.changed(), if !drain_seen => {
                drain_seen = changed.is_err() || *draining.borrow();
                if drain_seen && phase == Phase::Serving {
                    conn.as_mut().graceful_shutdown();
                    phase = Phase::Closing { deadline: None };
                }
            }
        }
    }
}

/// When the driver must next look at the connection (`None`: only events matter).
fn wake_at(phase: Phase, client: &ClientConnection, idle_timeout: Duration) -> Option<Instant> {
    match phase {
        Phase::AwaitingFirstRequest { deadline } => Some(deadline),
        Phase::Serving => {
            let idle = match client.idle_since() {
                Some(since) => Instant::from_std(since) + idle_timeout,
                // Busy: look again one idle period from now.
                None => Instant::now() + idle_timeout,
            };
            let stall = client.stalls().0.map(Instant::from_std);
            Some(stall.map_or(idle, |stall| stall.min(idle)))
        }
        Phase::Closing { deadline } => deadline,
    }
}

enum Step {
    Stay(Phase),
    CloseGracefully(Option<Instant>),
    Drop,
}

fn next_phase(phase: Phase, client: &ClientConnection, idle_timeout: Duration) -> Step {
    let now = Instant::now();
    match phase {
        Phase::AwaitingFirstRequest { deadline } => {
            if client.has_served() {
                // Taken up at the top of the driver's loop.
                Step::Stay(phase)
            } else if now >= deadline {
                // Nothing was asked: there is nobody to say goodbye to.
                Step::Drop
            } else {
                Step::Stay(phase)
            }
        }
        Phase::Serving => match client.idle_since() {
            Some(since) if now >= Instant::from_std(since) + idle_timeout => {
                Step::CloseGracefully(Some(now + CLOSE_GRACE))
            }
            _ => Step::Stay(Phase::Serving),
        },
        Phase::Closing { deadline } => match deadline {
            Some(deadline) if now >= deadline => Step::Drop,
            _ => Step::Stay(phase),
        },
    }
}
