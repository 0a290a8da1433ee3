//! One backend endpoint as every worker, the health checker and `/readyz` see it: where it is,
//! its life (`EndpointLife`, behind a lock taken only when something happens to it), and a
//! one-word snapshot of its state that the balancer reads on every call without locking.
//!
//! Reachability (what `/readyz` reported before states existed) is kept beside the state:
//! set by the reachability probe's TCP connects and by the workers' own connection attempts.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use prometheus::HistogramVec;

use super::call_durations::CallDurations;
use super::endpoint_life::{EndpointLife, State, Thresholds};
use super::target::Target;

/// Reachability as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reachability {
    Unknown,
    Reachable,
    Unreachable,
}

const UNKNOWN: u8 = 0;
const REACHABLE: u8 = 1;
const UNREACHABLE: u8 = 2;

pub struct SharedEndpoint {
    /// How `/readyz` and the logs name it: the configured URI, or for a discovered endpoint
    /// `http://address:port`.
    pub uri: Arc<str>,
    /// The `dns://` name it was discovered by, if any.
    pub discovered_by: Option<String>,
    pub target: Target,
    reachability: AtomicU8,
    life: Mutex<EndpointLife>,
    /// The state (top byte) and when it next changes by itself (ms since `epoch()`, 0: not
    /// by itself), published after every transition.
    snapshot: AtomicU64,
    /// Outlier detection's count of failed calls in a row.
    failures_in_a_row: AtomicU32,
    /// Calls picked for it and not ended, across all workers (for operators; each worker
    /// balances by its own count).
    in_flight: AtomicUsize,
    pub call_durations: CallDurations,
}

impl std::fmt::Debug for SharedEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedEndpoint")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl SharedEndpoint {
    /// `durations`: the gateway's `h2gate_upstream_call_duration_seconds` family, if measured.
    pub fn new(
        uri: String,
        discovered_by: Option<String>,
        target: Target,
        durations: Option<HistogramVec>,
    ) -> Self {
        let uri: Arc<str> = uri.into();
        let call_durations =
            CallDurations::new(durations, Arc::clone(&target.upstream), Arc::clone(&uri));
        let endpoint = Self {
            call_durations,
            uri,
            discovered_by,
            target,
            reachability: AtomicU8::new(UNKNOWN),
            life: Mutex::new(EndpointLife::new()),
            snapshot: AtomicU64::new(0),
            failures_in_a_row: AtomicU32::new(0),
            in_flight: AtomicUsize::new(0),
        };
        endpoint.publish(&endpoint.lock(), Instant::now());
        endpoint
    }

    fn upstream(&self) -> &str {
        &self.target.upstream
    }

    /// The state now: one atomic load, plus a clock read while a backoff or an ejection
    /// is running.
    pub fn state(&self) -> State {
        let snapshot = self.snapshot.load(Ordering::Acquire);
        let changes_at = snapshot & DEADLINE_MASK;
        if changes_at != 0 && since_epoch_ms(Instant::now()) >= changes_at {
            let now = Instant::now();
            let mut life = self.lock();
            if life.end_ejection(now) {
                tracing::info!(upstream = self.upstream(), endpoint = %self.uri, "ejection over; endpoint back in service");
            }
            self.publish(&life, now);
            return life.state(now);
        }
        decode_state(snapshot)
    }

    /// Calls in flight to it from every worker.
    pub fn calls_in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn call_picked(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn call_ended(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn reachability(&self) -> Reachability {
        match self.reachability.load(Ordering::Relaxed) {
            REACHABLE => Reachability::Reachable,
            UNREACHABLE => Reachability::Unreachable,
            _ => Reachability::Unknown,
        }
    }

    /// The reachability probe connected.
    pub fn probe_connected(&self) {
        if self.reachability.swap(REACHABLE, Ordering::AcqRel) == UNREACHABLE {
            tracing::info!(upstream = self.upstream(), endpoint = %self.uri, "endpoint reachable again");
        }
    }

    /// The endpoint could not be reached (or its connection was lost) because of `cause`.
    pub fn probe_failed(&self, cause: &str) {
        if self.reachability.swap(UNREACHABLE, Ordering::AcqRel) != UNREACHABLE {
            tracing::warn!(upstream = self.upstream(), endpoint = %self.uri, cause, "endpoint unreachable");
        }
    }

    pub fn connect_started(&self) {
        self.transition(EndpointLife::connect_started);
    }

    pub fn connected(&self) {
        self.probe_connected();
        self.transition(EndpointLife::connected);
    }

    /// A connection attempt failed: the endpoint backs off before the next one.
    pub fn connect_failed(&self, cause: &str) {
        self.probe_failed(cause);
        let now = Instant::now();
        let mut life = self.lock();
        let wait = life.connect_failed(now, crate::random::unit());
        tracing::debug!(upstream = self.upstream(), endpoint = %self.uri, backoff_ms = wait.as_millis(), "backing off");
        self.publish(&life, now);
    }

    /// A live connection broke without the backend saying goodbye.
    pub fn connection_lost(&self, cause: &str) {
        self.probe_failed(cause);
        self.transition(EndpointLife::connection_lost);
    }

    /// One active health check's result.
    pub fn health_checked(&self, serving: bool, thresholds: Thresholds, cause: &str) {
        let now = Instant::now();
        let mut life = self.lock();
        if life.health_checked(serving, thresholds) {
            if serving {
                tracing::info!(upstream = self.upstream(), endpoint = %self.uri, "health checks pass again; endpoint back in service");
            } else {
                tracing::warn!(upstream = self.upstream(), endpoint = %self.uri, cause, "health checks fail; endpoint taken out of service");
            }
        }
        self.publish(&life, now);
    }

    /// A call ended well: the outlier count starts again (a load, and a store only after a
    /// failure).
    pub fn call_succeeded(&self) {
        if self.failures_in_a_row.load(Ordering::Relaxed) != 0 {
            self.failures_in_a_row.store(0, Ordering::Relaxed);
        }
    }

    /// A call failed in a way that counts against the endpoint; returns the failures in a row.
    pub fn call_failed(&self) -> u32 {
        self.failures_in_a_row
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1)
    }

    /// Ejects the endpoint for `base` times its ejections (the caller checked the upstream's
    /// `max_ejection_percent`).
    pub fn eject(&self, base: Duration, failures: u32) {
        let now = Instant::now();
        let mut life = self.lock();
        if life.is_ejected(now) {
            return;
        }
        let duration = life.eject(now, base);
        self.failures_in_a_row.store(0, Ordering::Relaxed);
        tracing::warn!(
            upstream = self.upstream(),
            endpoint = %self.uri,
            failures,
            ejected_ms = duration.as_millis(),
            "endpoint ejected after failing calls in a row"
        );
        self.publish(&life, now);
    }

    fn transition(&self, change: impl FnOnce(&mut EndpointLife)) {
        let mut life = self.lock();
        change(&mut life);
        self.publish(&life, Instant::now());
    }

    fn lock(&self) -> MutexGuard<'_, EndpointLife> {
        // Every transition leaves the life whole, so a panic elsewhere cannot corrupt it.
        self.life.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, life: &EndpointLife, now: Instant) {
        let state = encode_state(life.state(now));
        let changes_at = life
            .changes_at(now)
            .map_or(0, |at| since_epoch_ms(at).max(1));
        self.snapshot.store(
            state << 56 | (changes_at & DEADLINE_MASK),
            Ordering::Release,
        );
    }
}

const DEADLINE_MASK: u64 = (1 << 56) - 1;

fn encode_state(state: State) -> u64 {
    match state {
        State::Idle => 0,
        State::Connecting => 1,
        State::Ready => 2,
        State::BackingOff => 3,
        State::Ejected => 4,
        State::Unhealthy => 5,
    }
}

fn decode_state(snapshot: u64) -> State {
    match snapshot >> 56 {
        1 => State::Connecting,
        2 => State::Ready,
        3 => State::BackingOff,
        4 => State::Ejected,
        5 => State::Unhealthy,
        _ => State::Idle,
    }
}

/// Milliseconds since the first time anyone asked (rounded up, so a deadline is never early).
fn since_epoch_ms(at: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let nanos = at.saturating_duration_since(epoch).as_nanos();
    u64::try_from(nanos.div_ceil(1_000_000)).unwrap_or(DEADLINE_MASK)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn endpoint() -> SharedEndpoint {
        let target = Target {
            scheme: http::uri::Scheme::HTTP,
            authority: http::uri::Authority::from_static("a:1"),
            host: "a".into(),
            port: 1,
            tls: None,
            upstream: Arc::from("u"),
        };
        SharedEndpoint::new("http://a:1".into(), None, target, None)
    }

    #[test]
    fn reachability_follows_probes_and_connections() {
        let state = endpoint();
        assert_eq!(state.reachability(), Reachability::Unknown);
        state.probe_failed("connection refused");
        assert_eq!(state.reachability(), Reachability::Unreachable);
        state.connected();
        assert_eq!(state.reachability(), Reachability::Reachable);
    }

    #[test]
    fn the_snapshot_follows_every_transition() {
        let state = endpoint();
        assert_eq!(state.state(), State::Idle);
        state.connect_started();
        assert_eq!(state.state(), State::Connecting);
        state.connected();
        assert_eq!(state.state(), State::Ready);
        state.connect_started();
        state.connect_failed("refused");
        assert_eq!(state.state(), State::BackingOff);
    }

    #[test]
    fn an_ejection_ends_by_itself() {
        let state = endpoint();
        state.connected();
        state.eject(Duration::from_millis(30), 5);
        assert_eq!(state.state(), State::Ejected);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(state.state(), State::Ready);
    }

    #[test]
    fn failures_in_a_row_reset_on_success() {
        let state = endpoint();
        assert_eq!(state.call_failed(), 1);
        assert_eq!(state.call_failed(), 2);
        state.call_succeeded();
        assert_eq!(state.call_failed(), 1);
    }
}
