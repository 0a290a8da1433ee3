//! Opening one HTTP/2 connection to a backend (TCP, TLS with ALPN h2 for `https://`, the
//! HTTP/2 handshake) and the task that drives it: it pings the connection while idle, marks
//! it closed when it ends so the next call opens another, and tells the operator why it ended.
//!
//! The connection window is as large as HTTP/2 allows, so it is never the shared bottleneck:
//! a stream whose client stopped reading holds back only its own stream window
//! (`STREAM_WINDOW`), and every other call on the connection keeps flowing (h2 hands back
//! connection and stream window together as data is read, so a stalled reader keeps its
//! unread bytes counted against the whole connection).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::net::TcpStream;
use tonic::Status;

use super::frame_watch::{BackendSignals, FrameWatch};
use super::keepalive::IdlePing;
use super::shared_endpoint::SharedEndpoint;
use super::target::Target;
use crate::net::CoalescingStream;

/// An idle connection is pinged this often, and dropped when a ping goes unanswered.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// What a backend may send on one stream ahead of the client reading it (Envoy's edge
/// guidance for stream windows): what a stream whose client stopped reading pins upstream.
pub const STREAM_WINDOW: u32 = 64 * 1024;
/// The largest window HTTP/2 allows (2^31 - 1).
const CONNECTION_WINDOW: u32 = 0x7fff_ffff;

/// A connection and its shared state.
pub struct Live {
    pub sender: SendRequest<Bytes>,
    pub state: Arc<LiveState>,
}

/// What the calls on a connection and its driving task share.
#[derive(Debug)]
pub struct LiveState {
    closed: AtomicBool,
    /// Calls open on the connection now, and opened since it began.
    open_calls: AtomicUsize,
    opened_calls: AtomicU64,
    pub signals: Arc<BackendSignals>,
}

impl LiveState {
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub fn call_ended(&self) {
        self.open_calls.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Live {
    /// Takes room for one call if the backend's concurrent-stream limit leaves some.
    pub fn take_call(&self) -> bool {
        if self.state.is_closed() {
            return false;
        }
        let limit = self.sender.current_max_send_streams();
        let taken = self
            .state
            .open_calls
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < limit).then_some(open + 1)
            })
            .is_ok();
        if taken {
            self.state.opened_calls.fetch_add(1, Ordering::Relaxed);
        }
        taken
    }
}

/// A failed connection attempt: what the client is told, and the cause for the log.
pub struct ConnectFailure {
    pub status: Status,
    pub cause: String,
}

/// Connects to `target`; every step (TCP, TLS, the backend's HTTP/2 SETTINGS) must finish
/// within `timeout` (the upstream's `connect_timeout_ms`).
pub async fn connect(
    target: &Target,
    health: &Arc<SharedEndpoint>,
    timeout: Duration,
) -> Result<Live, ConnectFailure> {
    let failure = |what: &str, err: &dyn std::fmt::Display, hint: Option<&str>| ConnectFailure {
        status: Status::unavailable(format!(
            "upstream {:?} is unavailable: {what}",
            &*target.upstream
        )),
        cause: match hint {
            Some(hint) => format!("{what}: {err} ({hint})"),
            None => format!("{what}: {err}"),
        },
    };
    let address = (&*target.host, target.port);
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(address))
        .await
        .map_err(|_| failure("connecting timed out", &"no answer", None))?
        .map_err(|err| failure(connect_cause(&err), &err, None))?;
    tcp.set_nodelay(true)
        .map_err(|err| failure("socket setup failed", &err, None))?;
    let socket = CoalescingStream::new(tcp);
    let seen = BackendSignals::new();
    let signals = Arc::clone(&seen);
    let handshake_failed = |err: h2::Error| {
        let hint = (target.tls.is_none() && signals.answered_tls())
            .then_some("the endpoint answered with TLS: use https:// for it");
        failure("the HTTP/2 handshake failed", &err, hint)
    };
    match &target.tls {
        None => handshake(
            FrameWatch::socket(socket, Arc::clone(&seen)),
            seen,
            (target, health, timeout),
        )
        .await
        .map_err(handshake_failed),
        Some((connector, name)) => {
            let tls = tokio::time::timeout(timeout, connector.connect(name.clone(), socket))
                .await
                .map_err(|_| failure("the TLS handshake timed out", &"no answer", None))?
                .map_err(|err| failure("the TLS handshake failed", &err, tls_hint(&err)))?;
            handshake(
                FrameWatch::socket(tls, Arc::clone(&seen)),
                seen,
                (target, health, timeout),
            )
            .await
            .map_err(handshake_failed)
        }
    }
}

/// A generic cause a client may see (no addresses).
fn connect_cause(err: &std::io::Error) -> &'static str {
    match err.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused",
        std::io::ErrorKind::TimedOut => "connecting timed out",
        _ => "cannot connect",
    }
}

/// What a TLS failure towards an `https://` endpoint most likely means.
fn tls_hint(err: &std::io::Error) -> Option<&'static str> {
    let rustls = err.get_ref()?.downcast_ref::<rustls::Error>()?;
    match rustls {
        rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            Some("the endpoint does not answer TLS: is it a plaintext (http://) backend?")
        }
        rustls::Error::InvalidCertificate(_) => {
            Some("check the upstream's ca_cert and the endpoint's host name")
        }
        _ => None,
    }
}

/// The HTTP/2 handshake, then the connection's own task.
async fn handshake<T>(
    io: T,
    seen: Arc<BackendSignals>,
    (target, health, timeout): (&Target, &Arc<SharedEndpoint>, Duration),
) -> Result<Live, h2::Error>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, mut connection) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        // h2 counts every call dropped before its end (a client that went away) as a reset
        // of its own making, for the whole life of the connection, and past 1024 takes the
        // connection down: a long-lived upstream connection must not die of cancellations.
        .max_local_error_reset_streams(None)
        .handshake::<_, Bytes>(io)
        .await?;
    let state = Arc::new(LiveState {
        closed: AtomicBool::new(false),
        open_calls: AtomicUsize::new(0),
        opened_calls: AtomicU64::new(0),
        signals: seen,
    });
    let shared = Arc::clone(&state);
    let pings = connection.ping_pong();
    let upstream = Arc::clone(&target.upstream);
    let plaintext = target.tls.is_none();
    let health = Arc::clone(health);
    tokio::spawn(async move {
        let calls = Arc::clone(&shared);
        let pinged = Arc::clone(&upstream);
        let keepalive = async move {
            let Some(mut pings) = pings else {
                return std::future::pending().await;
            };
            let mut policy = IdlePing::default();
            loop {
                tokio::time::sleep(KEEPALIVE_INTERVAL).await;
                let open = calls.open_calls.load(Ordering::Relaxed);
                if !policy.due(open, calls.opened_calls.load(Ordering::Relaxed)) {
                    continue;
                }
                let pong = tokio::time::timeout(KEEPALIVE_TIMEOUT, pings.ping(h2::Ping::opaque()));
                if !matches!(pong.await, Ok(Ok(_))) {
                    tracing::warn!(upstream = %pinged, "backend connection did not answer a ping; closing it");
                    return;
                }
            }
        };
        tokio::select! {
            result = &mut connection => {
                if let Err(err) = result {
                    let hint = (plaintext && shared.signals.answered_tls())
                        .then_some("the endpoint answered with TLS: use https:// for it");
                    tracing::warn!(%upstream, error = %err, hint, "backend connection ended");
                    // Lost without a GOAWAY: the backend probably died. `/readyz` says so now,
                    // not at the prober's next round.
                    if !shared.signals.said_goodbye() {
                        health.connection_lost(&err.to_string());
                    }
                }
            }
            () = keepalive => {}
        }
        shared.mark_closed();
        shared.signals.connection_ended();
    });
    // Connected only once the backend has spoken HTTP/2: its SETTINGS also set how many calls
    // the connection may carry, which h2 does not know before.
    let settings = tokio::time::timeout(timeout, state.signals.settings_arrived()).await;
    if settings != Ok(true) {
        state.mark_closed();
        return Err(h2::Error::from(h2::Reason::PROTOCOL_ERROR));
    }
    Ok(Live { sender, state })
}
