//! Each endpoint's reachability, shared by every worker, the prober and `/readyz`: set by the
//! prober's TCP connects and, as soon as they happen, by the workers' own connection attempts
//! and lost connections, so `/readyz` and the operator's log learn of a dead backend from the
//! first call that finds it dead. Every change is logged once (a dead endpoint at warn, with
//! its upstream, address and cause).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

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

#[derive(Debug)]
pub struct EndpointState {
    pub uri: String,
    /// `host:port` the prober connects to.
    pub authority: String,
    state: AtomicU8,
}

impl EndpointState {
    pub fn new(uri: String, authority: String) -> Self {
        Self {
            uri,
            authority,
            state: AtomicU8::new(UNKNOWN),
        }
    }

    pub fn reachability(&self) -> Reachability {
        match self.state.load(Ordering::Relaxed) {
            REACHABLE => Reachability::Reachable,
            UNREACHABLE => Reachability::Unreachable,
            _ => Reachability::Unknown,
        }
    }

    /// A connection to the endpoint was made.
    pub fn connected(&self, upstream: &str) {
        if self.state.swap(REACHABLE, Ordering::AcqRel) == UNREACHABLE {
            tracing::info!(upstream, endpoint = %self.uri, "endpoint reachable again");
        }
    }

    /// The endpoint could not be reached (or its connection was lost) because of `cause`.
    pub fn unreachable(&self, upstream: &str, cause: &str) {
        if self.state.swap(UNREACHABLE, Ordering::AcqRel) != UNREACHABLE {
            tracing::warn!(upstream, endpoint = %self.uri, cause, "endpoint unreachable");
        }
    }
}

/// One upstream's endpoints; shared by every worker.
#[derive(Debug)]
pub struct UpstreamHealth {
    pub name: String,
    pub endpoints: Vec<Arc<EndpointState>>,
}

/// Every upstream's reachability, for the workers, the prober and `/readyz`.
pub type HealthTable = Arc<[UpstreamHealth]>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        let state = EndpointState::new("http://a:1".into(), "a:1".into());
        assert_eq!(state.reachability(), Reachability::Unknown);
        state.unreachable("u", "connection refused");
        assert_eq!(state.reachability(), Reachability::Unreachable);
        state.connected("u");
        assert_eq!(state.reachability(), Reachability::Reachable);
    }
}
