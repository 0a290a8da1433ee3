//! One backend endpoint as one worker sees it: its HTTP/2 connections, opened on first use
//! and again after they close, multiplexing every call the worker makes to the endpoint.
//! Calls go straight onto a connection (h2's `SendRequest`) from the request's own task: no
//! queue or helper task in between.
//!
//! A connection takes at most as many calls as the backend's `SETTINGS_MAX_CONCURRENT_STREAMS`
//! allows: past that h2 would queue calls invisibly inside the client, so another connection
//! is opened (up to `MAX_CONNECTIONS`), and when those are full too the call fails at once
//! with UNAVAILABLE instead of waiting in a queue nobody can see.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::sync::Mutex;
use tonic::Status;

use super::h2_connection::{Live, LiveState, connect};
use super::reachability::EndpointState;
use super::target::Target;

/// How long an endpoint that could not be reached is passed over by the balancer.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// Connections one worker opens to one endpoint when the backend limits concurrent streams.
const MAX_CONNECTIONS: usize = 8;

/// One endpoint's connections for one worker.
pub struct Endpoint {
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
    /// Reachability as `/readyz` shows it, shared with the prober and the other workers.
    health: Arc<EndpointState>,
}

#[derive(Default)]
struct Slot {
    live: Vec<Live>,
    last_error: Option<Status>,
}

/// A call's place on one connection, counted against the endpoint and the connection until
/// dropped.
pub struct Channel {
    pub sender: SendRequest<Bytes>,
    pub connection: Arc<LiveState>,
    pub in_flight: InFlight,
}

/// Counts a call against its endpoint (from the moment it picks it, so callers waiting for a
/// connection attempt already weigh on the balancer) and, once it has one, its connection.
#[derive(Debug)]
pub struct InFlight {
    endpoint: Arc<AtomicUsize>,
    connection: Option<Arc<LiveState>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.endpoint.fetch_sub(1, Ordering::Relaxed);
        if let Some(connection) = &self.connection {
            connection.call_ended();
        }
    }
}

impl Endpoint {
    pub fn new(target: Target, health: Arc<EndpointState>) -> Self {
        Self {
            target,
            slot: Mutex::new(Slot::default()),
            attempts: AtomicU64::new(0),
            in_flight: Arc::new(AtomicUsize::new(0)),
            avoid_until_ms: AtomicU64::new(0),
            created: Instant::now(),
            health,
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The endpoint's URI as configured (logs only: never shown to clients).
    pub fn uri(&self) -> &str {
        &self.health.uri
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

    /// A place for one call on a connection with room for it, connecting first if none has.
    /// Concurrent callers wait for a single connection attempt and share its outcome, unless
    /// they have somewhere else to go (`wait_for_connect` false): then they do not queue
    /// behind an attempt that may hang for the whole connect timeout (a black-holed address).
    pub async fn ready(&self, wait_for_connect: bool) -> Result<Channel, Status> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let mut in_flight = InFlight {
            endpoint: Arc::clone(&self.in_flight),
            connection: None,
        };
        for _ in 0..2 {
            if let Some(connection) = in_flight.connection.take() {
                connection.call_ended();
            }
            let (sender, connection) = self.connection(wait_for_connect).await?;
            in_flight.connection = Some(Arc::clone(&connection));
            match sender.ready().await {
                Ok(sender) => {
                    return Ok(Channel {
                        sender,
                        connection,
                        in_flight,
                    });
                }
                // The connection is going away (a GOAWAY from a backend restarting, or it
                // broke): nothing was sent yet, so this call may go on another.
                Err(_) => connection.mark_closed(),
            }
        }
        Err(Status::unavailable("the backend connection was lost"))
    }

    /// A connection with room for one more call (the room taken), connecting if needed.
    async fn connection(
        &self,
        wait_for_connect: bool,
    ) -> Result<(SendRequest<Bytes>, Arc<LiveState>), Status> {
        let seen = self.attempts.load(Ordering::Acquire);
        // On a worker's single thread the lock is only ever held across an await by a
        // connection attempt.
        let mut slot = match self.slot.try_lock() {
            Ok(slot) => slot,
            Err(_) if !wait_for_connect => {
                return Err(Status::unavailable("the endpoint is still connecting"));
            }
            Err(_) => self.slot.lock().await,
        };
        slot.live.retain(|live| !live.state.is_closed());
        if let Some(live) = slot.live.iter().find(|live| live.take_call()) {
            return Ok((live.sender.clone(), Arc::clone(&live.state)));
        }
        if slot.live.len() >= MAX_CONNECTIONS {
            return Err(Status::unavailable(
                "the backend's limit on concurrent calls is reached on every connection",
            ));
        }
        if slot.live.is_empty()
            && self.attempts.load(Ordering::Acquire) != seen
            && let Some(error) = &slot.last_error
        {
            // An attempt ended while this caller waited for the lock, and failed.
            return Err(error.clone());
        }
        // Boxed: a connection attempt (TCP, TLS, HTTP/2 handshake) is a large future, and
        // every call's future would otherwise carry its space although few ever connect.
        let attempt = Box::pin(connect(&self.target, &self.health)).await;
        // Counted once it is over, so every caller that queued behind it sees that it ran.
        self.attempts.fetch_add(1, Ordering::AcqRel);
        match attempt {
            Ok(live) => {
                self.avoid_until_ms.store(0, Ordering::Relaxed);
                self.health.connected(&self.target.upstream);
                let taken = live.take_call();
                let handle = (live.sender.clone(), Arc::clone(&live.state));
                slot.live.push(live);
                slot.last_error = None;
                if !taken {
                    // A backend that allows no calls at all on a fresh connection.
                    handle.1.mark_closed();
                    return Err(Status::unavailable("the backend accepts no calls"));
                }
                Ok(handle)
            }
            Err(failure) => {
                self.health
                    .unreachable(&self.target.upstream, &failure.cause);
                let retry = u64::try_from(RETRY_AFTER_FAILURE.as_millis()).unwrap_or(0);
                self.avoid_until_ms
                    .store(self.elapsed_ms().saturating_add(retry), Ordering::Relaxed);
                slot.last_error = Some(failure.status.clone());
                Err(failure.status)
            }
        }
    }
}
