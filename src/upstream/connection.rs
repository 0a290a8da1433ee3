//! One backend endpoint as one worker sees it: a single HTTP/2 connection, opened on first
//! use, multiplexing every call the worker makes to that endpoint, and opened again after it
//! closes. Calls go straight onto the connection (h2's `SendRequest`) from the request's own
//! task: no queue or helper task in between.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use http::uri::{Authority, Scheme};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;
use tonic::Status;

use crate::net::CoalescingStream;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an endpoint that could not be reached is passed over by the balancer.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// An idle connection is pinged this often, and dropped when a ping goes unanswered.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// What a backend may send ahead of the client reading it, per stream and per connection.
const STREAM_WINDOW: u32 = 256 * 1024;
const CONNECTION_WINDOW: u32 = 1024 * 1024;

/// Where an endpoint is and how to speak to it.
#[derive(Clone)]
pub struct Target {
    pub scheme: Scheme,
    pub authority: Authority,
    /// What to connect to: the host without IPv6 brackets, and the port (the scheme's default
    /// when the URI has none).
    pub host: Box<str>,
    pub port: u16,
    /// `Some` for `https://` endpoints.
    pub tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
}

/// One endpoint's connection for one worker.
pub struct Connection {
    target: Target,
    slot: Mutex<Slot>,
    /// Connection attempts started, to let callers who waited on one share its outcome.
    attempts: AtomicU64,
    /// Calls currently using this endpoint (the balancer's load figure).
    in_flight: Arc<AtomicUsize>,
    /// Until when (ms after `created`) the endpoint counts as unreachable after a failed
    /// attempt to connect; the balancer sends calls elsewhere meanwhile.
    avoid_until_ms: AtomicU64,
    created: Instant,
}

#[derive(Default)]
struct Slot {
    live: Option<Live>,
    last_error: Option<Status>,
}

struct Live {
    sender: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
}

/// Counts a call against its endpoint until dropped.
#[derive(Debug)]
pub struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connection {
    pub fn new(target: Target) -> Self {
        Self {
            target,
            slot: Mutex::new(Slot::default()),
            attempts: AtomicU64::new(0),
            in_flight: Arc::new(AtomicUsize::new(0)),
            avoid_until_ms: AtomicU64::new(0),
            created: Instant::now(),
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Calls in flight, or a very large figure for a while after the endpoint could not be
    /// reached (then a call tries it again, with the other pick as its fallback).
    pub fn load(&self) -> usize {
        if self.elapsed_ms() < self.avoid_until_ms.load(Ordering::Relaxed) {
            return usize::MAX;
        }
        self.in_flight.load(Ordering::Relaxed)
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub fn track(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(&self.in_flight))
    }

    /// A handle ready to open one stream, connecting first if there is no live connection.
    /// Concurrent callers wait for a single connection attempt and share its outcome.
    pub async fn ready(&self) -> Result<SendRequest<Bytes>, Status> {
        let (sender, closed) = self.live().await?;
        match sender.ready().await {
            Ok(sender) => Ok(sender),
            Err(_) => {
                // The connection is going away (a GOAWAY from a backend restarting, or it
                // broke): nothing was sent yet, so this call may go on a new connection.
                closed.store(true, Ordering::Release);
                let (sender, _) = self.live().await?;
                sender.ready().await.map_err(|err| {
                    Status::unavailable(format!("the backend connection failed: {err}"))
                })
            }
        }
    }

    /// The live connection's handle and closed flag, connecting if there is none.
    async fn live(&self) -> Result<(SendRequest<Bytes>, Arc<AtomicBool>), Status> {
        let seen = self.attempts.load(Ordering::Acquire);
        let mut slot = self.slot.lock().await;
        if let Some(live) = &slot.live
            && !live.closed.load(Ordering::Acquire)
        {
            return Ok((live.sender.clone(), Arc::clone(&live.closed)));
        }
        slot.live = None;
        if self.attempts.load(Ordering::Acquire) != seen
            && let Some(error) = &slot.last_error
        {
            // An attempt ran while this caller waited for the lock, and failed.
            return Err(error.clone());
        }
        self.attempts.fetch_add(1, Ordering::AcqRel);
        match connect(&self.target).await {
            Ok(live) => {
                let handle = (live.sender.clone(), Arc::clone(&live.closed));
                slot.live = Some(live);
                slot.last_error = None;
                self.avoid_until_ms.store(0, Ordering::Relaxed);
                Ok(handle)
            }
            Err(error) => {
                slot.last_error = Some(error.clone());
                let retry = u64::try_from(RETRY_AFTER_FAILURE.as_millis()).unwrap_or(0);
                self.avoid_until_ms
                    .store(self.elapsed_ms().saturating_add(retry), Ordering::Relaxed);
                Err(error)
            }
        }
    }
}

async fn connect(target: &Target) -> Result<Live, Status> {
    let unreachable = |err: &dyn std::fmt::Display| {
        Status::unavailable(format!(
            "the backend is unreachable: {}: {err}",
            target.authority
        ))
    };
    let address = (&*target.host, target.port);
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| unreachable(&"connect timed out"))?
        .map_err(|err| unreachable(&err))?;
    tcp.set_nodelay(true).map_err(|err| unreachable(&err))?;
    let socket = CoalescingStream::new(tcp);
    match &target.tls {
        None => handshake(socket).await,
        Some((connector, name)) => {
            let tls =
                tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name.clone(), socket))
                    .await
                    .map_err(|_| unreachable(&"TLS handshake timed out"))?
                    .map_err(|err| unreachable(&err))?;
            handshake(tls).await
        }
    }
    .map_err(|err| unreachable(&err))
}

/// The HTTP/2 handshake, then the connection's own task: it drives the connection, pings it
/// while idle, and marks it closed when it ends so the next call opens a new one.
async fn handshake<T>(io: T) -> Result<Live, h2::Error>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, mut connection) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .handshake::<_, Bytes>(io)
        .await?;
    let closed = Arc::new(AtomicBool::new(false));
    let marker = Arc::clone(&closed);
    let pings = connection.ping_pong();
    tokio::spawn(async move {
        let keepalive = async move {
            let Some(mut pings) = pings else {
                return std::future::pending().await;
            };
            loop {
                tokio::time::sleep(KEEPALIVE_INTERVAL).await;
                let pong = tokio::time::timeout(KEEPALIVE_TIMEOUT, pings.ping(h2::Ping::opaque()));
                if !matches!(pong.await, Ok(Ok(_))) {
                    tracing::debug!("backend connection did not answer a ping; closing it");
                    return;
                }
            }
        };
        tokio::select! {
            result = &mut connection => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "backend connection ended");
                }
            }
            () = keepalive => {}
        }
        marker.store(true, Ordering::Release);
    });
    Ok(Live { sender, closed })
}
