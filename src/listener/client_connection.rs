//! What the gateway knows about one client connection while it is open: who it is, how many
//! requests it has running, since when it has been idle, and whether it is abusing the
//! protocol. Every request carries an `Arc<ClientConnection>` in its extensions; the
//! connection's driver reads it to time the connection out or close it.
//!
//! Premature resets follow Envoy's rule (`premature_reset_min_stream_lifetime`, 1 s, and
//! `premature_reset_total_stream_count`, 500): a stream the client abandons before its
//! response is complete and within a second of opening it is premature; a connection is
//! closed once half of its first 500 streams, or half of all its streams after that, were
//! premature. Rapid-reset floods (CVE-2023-44487) get past h2's own guard, which only counts
//! streams reset before the server accepted them.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use http::HeaderValue;
use tokio::sync::Notify;

use super::buffers::{BufferFull, ConnectionBuffer};
use super::connection_slots::ConnectionSlot;

/// A stream abandoned sooner than this after it opened counts as a premature reset.
const PREMATURE_LIFETIME: Duration = Duration::from_secs(1);
/// Streams after which the premature share alone decides (Envoy's default).
const PREMATURE_STREAM_COUNT: u64 = 500;

#[derive(Debug)]
pub struct ClientConnection {
    peer: std::net::SocketAddr,
    /// The client's IP as a header value (for `x-forwarded-for`), rendered once.
    peer_ip: HeaderValue,
    opened: Instant,
    /// Requests whose response is not finished (or not abandoned) yet.
    active: AtomicUsize,
    /// Requests started since the connection opened.
    started: AtomicU64,
    ended: AtomicU64,
    premature: AtomicU64,
    /// When `active` last dropped to zero, in ms after `opened`.
    idle_since_ms: AtomicU64,
    abusive: AtomicBool,
    /// Bytes held for this connection's requests and responses.
    buffer: ConnectionBuffer,
    /// Streaming responses whose client may stop reading, checked by the driver.
    stalls: Mutex<Vec<Weak<StallClock>>>,
    /// Wakes the connection's driver when it must act now (abuse) or look again (a new
    /// stall clock).
    pub(super) wake: Notify,
    /// Counts the connection against `max_connections` until the last holder is gone (an
    /// upgraded WebSocket outlives the HTTP connection that carried its handshake).
    _slot: ConnectionSlot,
}

impl ClientConnection {
    pub(super) fn new(
        peer: std::net::SocketAddr,
        slot: ConnectionSlot,
        buffer: ConnectionBuffer,
    ) -> Arc<Self> {
        let peer_ip = HeaderValue::try_from(peer.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        Arc::new(Self {
            peer,
            peer_ip,
            opened: Instant::now(),
            active: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            premature: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(0),
            abusive: AtomicBool::new(false),
            buffer,
            stalls: Mutex::new(Vec::new()),
            wake: Notify::new(),
            _slot: slot,
        })
    }

    /// The client's address and port.
    pub fn peer(&self) -> std::net::SocketAddr {
        self.peer
    }

    pub fn peer_ip(&self) -> &HeaderValue {
        &self.peer_ip
    }

    /// What this connection holds in memory, against its limit and the gateway's budget.
    pub fn buffer(&self) -> &ConnectionBuffer {
        &self.buffer
    }

    /// Reserves `bytes` of this connection's buffer for a streaming call, until dropped.
    pub fn reserve_stream(self: &Arc<Self>, bytes: usize) -> Result<StreamReservation, BufferFull> {
        self.buffer.try_reserve(bytes)?;
        Ok(StreamReservation {
            connection: Arc::clone(self),
            bytes,
        })
    }

    /// Counts a request as running until the guard is dropped.
    pub(super) fn request_started(self: &Arc<Self>) -> RequestGuard {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.started.fetch_add(1, Ordering::Relaxed);
        RequestGuard {
            connection: Arc::clone(self),
            started: Instant::now(),
            completed: false,
        }
    }

    /// Whether any request has started on this connection.
    pub(super) fn has_served(&self) -> bool {
        self.started.load(Ordering::Relaxed) > 0
    }

    /// `None` while requests are running; otherwise since when the connection has been idle.
    pub(super) fn idle_since(&self) -> Option<Instant> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        let ms = self.idle_since_ms.load(Ordering::Acquire);
        Some(self.opened + Duration::from_millis(ms))
    }

    pub(super) fn is_abusive(&self) -> bool {
        self.abusive.load(Ordering::Acquire)
    }

    /// A clock for one streaming response, watched by the connection's driver.
    pub(super) fn watch_stall(self: &Arc<Self>, timeout: Duration) -> Arc<StallClock> {
        let clock = Arc::new(StallClock {
            connection_opened: self.opened,
            waiting_since_ms: AtomicU64::new(NOT_WAITING),
            timeout,
        });
        if let Ok(mut stalls) = self.stalls.lock() {
            stalls.retain(|clock| clock.strong_count() > 0);
            stalls.push(Arc::downgrade(&clock));
        }
        self.wake.notify_one();
        clock
    }

    /// When the driver must next look at the streams (`None`: none to watch), and whether one
    /// of them has already waited on its client for longer than its timeout.
    pub(super) fn stalls(&self) -> (Option<Instant>, bool) {
        let Ok(stalls) = self.stalls.lock() else {
            return (None, false);
        };
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut stalled = false;
        for clock in stalls.iter().filter_map(Weak::upgrade) {
            let due = clock.due(now);
            stalled |= due <= now;
            next = Some(next.map_or(due, |next| next.min(due)));
        }
        (next, stalled)
    }

    fn request_ended(&self, started: Instant, completed: bool) {
        let ended = self.ended.fetch_add(1, Ordering::Relaxed) + 1;
        if !completed && started.elapsed() < PREMATURE_LIFETIME {
            let premature = self.premature.fetch_add(1, Ordering::Relaxed) + 1;
            if too_many_premature(premature, ended) && !self.abusive.swap(true, Ordering::AcqRel) {
                self.wake.notify_one();
            }
        }
        if self.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            let idle_ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.idle_since_ms.store(idle_ms, Ordering::Release);
        }
    }
}

/// Envoy's premature-reset rule: close once at least half of the first
/// `PREMATURE_STREAM_COUNT` streams could be premature whatever the rest do, or once half of
/// all streams were.
fn too_many_premature(premature: u64, ended: u64) -> bool {
    if ended < PREMATURE_STREAM_COUNT {
        premature * 2 >= PREMATURE_STREAM_COUNT
    } else {
        premature * 2 >= ended
    }
}

const NOT_WAITING: u64 = u64::MAX;

/// How long a streaming response's latest chunk has been waiting for its client.
#[derive(Debug)]
pub struct StallClock {
    connection_opened: Instant,
    /// When the chunk hyper holds was handed over (ms after the connection opened), or
    /// `NOT_WAITING`.
    waiting_since_ms: AtomicU64,
    timeout: Duration,
}

impl StallClock {
    pub(super) fn handed_over(&self) {
        let ms =
            u64::try_from(self.connection_opened.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.waiting_since_ms.store(ms, Ordering::Relaxed);
    }

    pub(super) fn taken(&self) {
        self.waiting_since_ms.store(NOT_WAITING, Ordering::Relaxed);
    }

    /// When this stream counts as stalled if its client takes nothing before.
    fn due(&self, now: Instant) -> Instant {
        match self.waiting_since_ms.load(Ordering::Relaxed) {
            NOT_WAITING => now + self.timeout,
            ms => self.connection_opened + Duration::from_millis(ms) + self.timeout,
        }
    }
}

/// What a streaming call may come to hold, counted against its connection while it runs.
#[derive(Debug)]
pub struct StreamReservation {
    connection: Arc<ClientConnection>,
    bytes: usize,
}

impl Drop for StreamReservation {
    fn drop(&mut self) {
        self.connection.buffer.release(self.bytes);
    }
}

/// A running request; dropped when its response is finished or abandoned.
#[derive(Debug)]
pub struct RequestGuard {
    connection: Arc<ClientConnection>,
    started: Instant,
    completed: bool,
}

impl RequestGuard {
    /// The response went out whole: its end is not a reset.
    pub(super) fn complete(&mut self) {
        self.completed = true;
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.connection.request_ended(self.started, self.completed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::buffers::MemoryBudget;
    use crate::listener::connection_slots::ConnectionSlots;

    fn connection() -> Arc<ClientConnection> {
        let slots = ConnectionSlots::new(10);
        let slot = slots.try_acquire().unwrap();
        let buffer = ConnectionBuffer::new(1 << 20, 1 << 20, MemoryBudget::new(1 << 20, 1), 0);
        ClientConnection::new("127.0.0.1:1".parse().unwrap(), slot, buffer)
    }

    #[test]
    fn envoys_premature_reset_rule() {
        let cases = [
            (249, 249, false),
            (250, 250, true),
            (250, 499, true),
            (100, 499, false),
            (249, 500, false),
            (250, 500, true),
            (499, 1000, false),
            (500, 1000, true),
        ];
        for (premature, ended, closed) in cases {
            assert_eq!(
                too_many_premature(premature, ended),
                closed,
                "{premature} of {ended}"
            );
        }
    }

    #[test]
    fn abandoned_young_requests_mark_the_connection_abusive() {
        let connection = connection();
        for _ in 0..249 {
            drop(connection.request_started());
        }
        assert!(!connection.is_abusive());
        let mut finished = connection.request_started();
        finished.complete();
        drop(finished);
        assert!(!connection.is_abusive(), "a finished response is no reset");
        drop(connection.request_started());
        assert!(connection.is_abusive());
    }

    #[test]
    fn idle_only_without_running_requests() {
        let connection = connection();
        assert!(connection.idle_since().is_some());
        assert!(!connection.has_served());
        let first = connection.request_started();
        let second = connection.request_started();
        assert!(connection.idle_since().is_none());
        drop(first);
        assert!(connection.idle_since().is_none());
        drop(second);
        let idle = connection.idle_since().unwrap();
        assert!(idle.elapsed() < Duration::from_secs(5));
        assert!(connection.has_served());
    }
}
