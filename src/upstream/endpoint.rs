//! One backend endpoint as one worker sees it: its HTTP/2 connections, opened on first use
//! and again after they close, multiplexing every call the worker makes to the endpoint, and
//! this worker's latency estimate of it. Calls go straight onto a connection (h2's
//! `SendRequest`) from the request's own task: no queue or helper task in between. What every
//! worker shares about the endpoint (its state) is its `SharedEndpoint`.
//!
//! A connection takes at most as many calls as the backend's `SETTINGS_MAX_CONCURRENT_STREAMS`
//! allows: past that h2 would queue calls invisibly inside the client, so another connection
//! is opened (up to `MAX_CONNECTIONS`), and when those are full too the call fails at once
//! with UNAVAILABLE instead of waiting in a queue nobody can see.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::sync::Mutex;
use tonic::{Code, Status};

use super::attempt_trace::AttemptSpan;
use super::h2_connection::{Live, LiveState, connect};
use super::peak_ewma::PeakEwma;
use super::registry::UpstreamEntry;
use super::shared_endpoint::SharedEndpoint;
use super::target::Target;

/// Connections one worker opens to one endpoint when the backend limits concurrent streams.
const MAX_CONNECTIONS: usize = 8;

/// One endpoint's connections for one worker.
pub struct Endpoint {
    pub shared: Arc<SharedEndpoint>,
    upstream: Arc<UpstreamEntry>,
    slot: Mutex<Slot>,
    /// Connection attempts started, to let callers who waited on one share its outcome.
    attempts: AtomicU64,
    /// Calls of this worker currently using this endpoint.
    in_flight: AtomicUsize,
    pub latency: PeakEwma,
    /// Whether its calls count for outlier detection (the health checker's do not: its
    /// thresholds judge them).
    reports: bool,
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
/// connection attempt already weigh on the balancer) and, once it has one, its connection;
/// and reports how the call went (latency, outlier detection).
pub struct InFlight {
    endpoint: Arc<Endpoint>,
    connection: Option<Arc<LiveState>>,
    /// When the call picked the endpoint: the start of the latency sample and of the call's
    /// duration.
    picked_at: Instant,
    /// Whether the latency sample was taken (at the response head).
    sampled: bool,
    /// Whether the end was recorded (a stream's end may be reported more than once).
    ended: AtomicBool,
    /// The attempt's trace span, when the call is traced; ended with the attempt.
    span: std::sync::Mutex<Option<Box<dyn AttemptSpan>>>,
    /// Whether a span was attached (the lock is not taken for calls that are not traced).
    traced: bool,
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight")
            .field("endpoint", &self.endpoint.shared.uri)
            .finish_non_exhaustive()
    }
}

impl InFlight {
    /// The backend's response head arrived: a latency sample for the `latency` balancer.
    pub fn head_arrived(&mut self) {
        if !self.sampled {
            self.sampled = true;
            let now = Instant::now();
            self.endpoint
                .latency
                .observe(now.saturating_duration_since(self.picked_at), now);
        }
    }

    /// How the call ended, for outlier detection and the call-duration histogram.
    /// Ends `span` with the attempt.
    pub fn attach_span(&mut self, span: Box<dyn AttemptSpan>) {
        *self.span.get_mut().unwrap_or_else(PoisonError::into_inner) = Some(span);
        self.traced = true;
    }

    fn end_span(&self, code: Code) {
        if !self.traced {
            return;
        }
        let span = self
            .span
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(span) = span {
            span.end(code);
        }
    }

    pub fn ended(&self, code: Code) {
        self.end_span(code);
        self.endpoint.report(code);
        // The health checker's own calls are not the users'.
        if !self.ended.swap(true, Ordering::Relaxed) && self.endpoint.reports {
            let durations = &self.endpoint.shared.call_durations;
            durations.observe(code, self.picked_at.elapsed());
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // A call that was sent and is dropped before its end: the client went away.
        if !*self.ended.get_mut() && self.connection.is_some() && self.endpoint.reports {
            let durations = &self.endpoint.shared.call_durations;
            durations.observe(Code::Cancelled, self.picked_at.elapsed());
        }
        self.end_span(Code::Cancelled);
        self.endpoint.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.endpoint.shared.call_ended();
        if let Some(connection) = &self.connection {
            connection.call_ended();
        }
    }
}

/// Codes that count against an endpoint for outlier detection (with connection failures).
fn counts_against_endpoint(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::Internal | Code::Unknown | Code::DeadlineExceeded
    )
}

impl Endpoint {
    pub fn new(shared: Arc<SharedEndpoint>, upstream: Arc<UpstreamEntry>) -> Self {
        Self {
            shared,
            upstream,
            slot: Mutex::new(Slot::default()),
            attempts: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            latency: PeakEwma::new(Instant::now()),
            reports: true,
        }
    }

    /// The health checker's own connections to the endpoint.
    pub fn for_checks(shared: Arc<SharedEndpoint>, upstream: Arc<UpstreamEntry>) -> Self {
        Self {
            reports: false,
            ..Self::new(shared, upstream)
        }
    }

    pub fn target(&self) -> &Target {
        &self.shared.target
    }

    /// The endpoint's URI (logs only: never shown to clients).
    pub fn uri(&self) -> &str {
        &self.shared.uri
    }

    /// This worker's calls in flight on the endpoint.
    pub fn load(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// A call's result as outlier detection counts it: failures in a row eject the endpoint
    /// (never more than `max_ejection_percent` of the upstream at once).
    pub fn report(&self, code: Code) {
        if !self.reports {
            return;
        }
        if !counts_against_endpoint(code) {
            self.shared.call_succeeded();
            return;
        }
        let failures = self.shared.call_failed();
        let Some(outlier) = &self.upstream.outlier else {
            return;
        };
        if failures >= outlier.consecutive_failures
            && self.upstream.may_eject(outlier.max_ejection_percent)
        {
            let base = std::time::Duration::from_millis(outlier.base_ejection_ms);
            self.shared.eject(base, failures);
        }
    }

    /// A place for one call on a connection with room for it, connecting first if none has.
    /// Concurrent callers wait for a single connection attempt and share its outcome, unless
    /// they have somewhere else to go (`wait_for_connect` false): then they do not queue
    /// behind an attempt that may hang for the whole connect timeout (a black-holed address).
    pub async fn ready(self: &Arc<Self>, wait_for_connect: bool) -> Result<Channel, Status> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.shared.call_picked();
        let mut in_flight = InFlight {
            endpoint: Arc::clone(self),
            connection: None,
            picked_at: Instant::now(),
            sampled: false,
            ended: AtomicBool::new(false),
            span: std::sync::Mutex::new(None),
            traced: false,
        };
        for _ in 0..2 {
            if let Some(connection) = in_flight.connection.take() {
                connection.call_ended();
            }
            let (sender, connection) = match self.connection(wait_for_connect).await {
                Ok(found) => found,
                Err(status) => return Err(status),
            };
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

    /// Opens a connection ahead of any call (an endpoint coming back from a backoff, or new
    /// from discovery), so that no call waits for it; nothing if one is open or opening.
    pub async fn warm(self: Arc<Self>) {
        let Ok(mut slot) = self.slot.try_lock() else {
            return;
        };
        slot.live.retain(|live| !live.state.is_closed());
        if slot.live.is_empty() {
            let _ = self.attempt(&mut slot).await;
        } else {
            // Another worker lost its connection; this one's is still up.
            self.shared.connected();
        }
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
        let live = self.attempt(&mut slot).await?;
        if !live.take_call() {
            // A backend that allows no calls at all on a fresh connection.
            live.state.mark_closed();
            return Err(Status::unavailable("the backend accepts no calls"));
        }
        Ok((live.sender.clone(), Arc::clone(&live.state)))
    }

    /// One connection attempt, its outcome recorded in the shared state.
    async fn attempt<'a>(&self, slot: &'a mut Slot) -> Result<&'a Live, Status> {
        self.shared.connect_started();
        // Boxed: a connection attempt (TCP, TLS, HTTP/2 handshake) is a large future, and
        // every call's future would otherwise carry its space although few ever connect.
        let attempt = Box::pin(connect(
            &self.shared.target,
            &self.shared,
            self.upstream.connect_timeout,
        ))
        .await;
        // Counted once it is over, so every caller that queued behind it sees that it ran.
        self.attempts.fetch_add(1, Ordering::AcqRel);
        match attempt {
            Ok(live) => {
                self.shared.connected();
                slot.last_error = None;
                slot.live.push(live);
                slot.live
                    .last()
                    .ok_or_else(|| Status::internal("connection list is empty"))
            }
            Err(failure) => {
                self.shared.connect_failed(&failure.cause);
                self.report(Code::Unavailable);
                slot.last_error = Some(failure.status.clone());
                Err(failure.status)
            }
        }
    }
}
