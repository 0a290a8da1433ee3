//! Choosing an endpoint for a call, per worker. Only endpoints that are ready take calls while
//! any is; then those still connecting or never tried; and when every endpoint is out
//! (unhealthy, ejected, backing off), all of them (panic mode, as Envoy does: better some
//! calls fail than all). Among the candidates the upstream's `balance` decides:
//!
//! - `latency` (default): power of two choices by peak-EWMA latency × (calls in flight + 1);
//! - `least_request`: power of two choices by calls in flight;
//! - `round_robin`: each in turn.
//!
//! tower's `Balance` does the same but needs exclusive access per call, which means a
//! `Buffer` task between every request and the balancer, the very hop the per-worker
//! connections exist to avoid. The healthy path costs a lock-free look at two endpoints.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::endpoint::Endpoint;
use super::endpoint_life::State;
use super::registry::UpstreamEntry;
use super::shared_endpoint::SharedEndpoint;
use crate::config::Balance;
use crate::random;

/// One worker's view of one upstream: its endpoints as this worker connects to them.
#[derive(Clone)]
pub struct Balancer(Arc<Inner>);

struct Inner {
    entry: Arc<UpstreamEntry>,
    set: Mutex<Arc<WorkerSet>>,
    /// The largest reply message accepted from these endpoints.
    max_response_bytes: usize,
    turn: AtomicUsize,
}

/// The upstream's endpoint set as of `generation`, with this worker's side of each.
struct WorkerSet {
    generation: u64,
    endpoints: Vec<Arc<Endpoint>>,
}

/// The endpoint to try first and, when there is one, another to fall back on if the first
/// cannot be connected (nothing was sent, so nothing repeats).
pub struct Pick {
    pub first: Arc<Endpoint>,
    pub fallback: Option<Arc<Endpoint>>,
}

impl Balancer {
    pub fn new(entry: Arc<UpstreamEntry>, max_response_bytes: usize) -> Self {
        let (generation, endpoints) = follow_set(&entry, &[], Endpoint::new);
        let set = WorkerSet {
            generation,
            endpoints,
        };
        Self(Arc::new(Inner {
            entry,
            set: Mutex::new(Arc::new(set)),
            max_response_bytes,
            turn: AtomicUsize::new(0),
        }))
    }

    /// The same balancer (its endpoints and their connections shared) with a reload's
    /// `max_response_bytes`.
    pub fn with_max_response_bytes(&self, max_response_bytes: usize) -> Self {
        if self.0.max_response_bytes == max_response_bytes {
            return self.clone();
        }
        let set = Arc::clone(&self.0.set.lock().unwrap_or_else(PoisonError::into_inner));
        Self(Arc::new(Inner {
            entry: Arc::clone(&self.0.entry),
            set: Mutex::new(set),
            max_response_bytes,
            turn: AtomicUsize::new(self.0.turn.load(Ordering::Relaxed)),
        }))
    }

    pub fn entry(&self) -> &Arc<UpstreamEntry> {
        &self.0.entry
    }

    pub fn max_response_bytes(&self) -> usize {
        self.0.max_response_bytes
    }

    /// Picks for one call; `avoid` (a retry's previous endpoint) is passed over when another
    /// candidate exists. `None` only while an upstream has no endpoints at all (a DNS name
    /// that resolved to nothing yet).
    pub fn choose(&self, avoid: Option<&Arc<Endpoint>>) -> Option<Pick> {
        let set = self.current();
        let all = &set.endpoints;
        match all.as_slice() {
            [] => return None,
            [only] => {
                return Some(Pick {
                    first: Arc::clone(only),
                    fallback: None,
                });
            }
            _ => {}
        }
        // One turn per call, whichever path picks (round robin); a retry takes none, so the
        // calls after it keep their turns.
        let turn = match (self.0.entry.balance, avoid) {
            (Balance::RoundRobin, None) => self.0.turn.fetch_add(1, Ordering::Relaxed),
            (Balance::RoundRobin, Some(_)) => self.0.turn.load(Ordering::Relaxed),
            (Balance::Latency | Balance::LeastRequest, _) => 0,
        };
        if avoid.is_none()
            && let Some(pick) = self.fast_pick(all, turn)
        {
            return Some(pick);
        }
        self.careful_pick(all, avoid, turn)
    }

    /// Two endpoints picked at random (or the next in turn), when they are ready: the
    /// healthy case, without looking at the others.
    fn fast_pick(&self, all: &[Arc<Endpoint>], turn: usize) -> Option<Pick> {
        let n = all.len();
        if self.0.entry.balance == Balance::RoundRobin {
            let at = turn % n;
            let first = all.get(at)?;
            let next = all.get((at + 1) % n)?;
            let ready = first.shared.state() == State::Ready;
            return ready.then(|| Pick {
                first: Arc::clone(first),
                fallback: (next.shared.state() == State::Ready).then(|| Arc::clone(next)),
            });
        }
        let (a, b) = self.two_of(n);
        let (a, b) = (all.get(a)?, all.get(b)?);
        let ready = a.shared.state() == State::Ready && b.shared.state() == State::Ready;
        ready.then(|| self.better_first(a, b))
    }

    /// Looks at every endpoint: ready ones first, then those not tried or connecting, then
    /// (panic mode) all. Endpoints idle while others are ready are connected in the
    /// background, so that they rejoin without a call waiting on them.
    fn careful_pick(
        &self,
        all: &[Arc<Endpoint>],
        avoid: Option<&Arc<Endpoint>>,
        turn: usize,
    ) -> Option<Pick> {
        let mut ready = Vec::new();
        let mut untried = Vec::new();
        for endpoint in all {
            match endpoint.shared.state() {
                State::Ready => ready.push(endpoint),
                State::Idle | State::Connecting => untried.push(endpoint),
                State::BackingOff | State::Ejected | State::Unhealthy => {}
            }
        }
        if !ready.is_empty() {
            warm_in_background(&untried, &ready);
        }
        let all_refs: Vec<&Arc<Endpoint>> = all.iter().collect();
        // A retry goes anywhere but where it failed, an untried endpoint included, before it
        // goes back there.
        let candidates = [&ready, &untried, &all_refs]
            .into_iter()
            .map(|tier| without(tier, avoid))
            .chain(std::iter::once(all_refs.clone()))
            .find(|list| !list.is_empty())?;
        match candidates.as_slice() {
            [] => None,
            [only] => Some(Pick {
                first: Arc::clone(only),
                fallback: None,
            }),
            list if self.0.entry.balance == Balance::RoundRobin => {
                let at = turn % list.len();
                Some(Pick {
                    first: Arc::clone(list.get(at)?),
                    fallback: list.get((at + 1) % list.len()).map(|e| Arc::clone(e)),
                })
            }
            list => {
                let (a, b) = self.two_of(list.len());
                Some(self.better_first(list.get(a)?, list.get(b)?))
            }
        }
    }

    /// The cheaper of two endpoints first, by the upstream's policy.
    fn better_first(&self, a: &Arc<Endpoint>, b: &Arc<Endpoint>) -> Pick {
        let b_first = match self.0.entry.balance {
            Balance::Latency => {
                let now = Instant::now();
                b.latency.cost(now, b.load()) < a.latency.cost(now, a.load())
            }
            Balance::LeastRequest | Balance::RoundRobin => b.load() < a.load(),
        };
        let (first, second) = if b_first { (b, a) } else { (a, b) };
        Pick {
            first: Arc::clone(first),
            fallback: Some(Arc::clone(second)),
        }
    }

    /// Two different indices below `n` (n ≥ 2), at random.
    fn two_of(&self, n: usize) -> (usize, usize) {
        let n64 = n as u64;
        let a = random::below(n64) as usize;
        let b = (a + 1 + random::below(n64 - 1) as usize) % n;
        (a, b)
    }

    /// This worker's side of the upstream's current endpoint set, brought up to date when
    /// discovery changed it (endpoints that stay keep their connections).
    fn current(&self) -> Arc<WorkerSet> {
        let mut set = self.0.set.lock().unwrap_or_else(PoisonError::into_inner);
        if set.generation != self.0.entry.generation() {
            let (generation, endpoints) = follow_set(&self.0.entry, &set.endpoints, Endpoint::new);
            *set = Arc::new(WorkerSet {
                generation,
                endpoints,
            });
        }
        Arc::clone(&set)
    }
}

/// This side's endpoints for the upstream's current set, and its generation: the ones in
/// `previous` that are still in the set (with their connections), new ones made by `make`.
pub fn follow_set(
    entry: &Arc<UpstreamEntry>,
    previous: &[Arc<Endpoint>],
    make: fn(Arc<SharedEndpoint>, Arc<UpstreamEntry>) -> Endpoint,
) -> (u64, Vec<Arc<Endpoint>>) {
    let shared = entry.endpoints();
    let endpoints = shared
        .endpoints
        .iter()
        .map(|endpoint| {
            let kept = previous
                .iter()
                .find(|mine| Arc::ptr_eq(&mine.shared, endpoint));
            match kept {
                Some(kept) => Arc::clone(kept),
                None => Arc::new(make(Arc::clone(endpoint), Arc::clone(entry))),
            }
        })
        .collect();
    (shared.generation, endpoints)
}

/// `list` less `avoid`.
fn without<'a>(
    list: &[&'a Arc<Endpoint>],
    avoid: Option<&Arc<Endpoint>>,
) -> Vec<&'a Arc<Endpoint>> {
    list.iter()
        .filter(|e| !avoid.is_some_and(|avoid| Arc::ptr_eq(e, avoid)))
        .copied()
        .collect()
}

/// Connects the idle ones among `endpoints` in the background. Each rejoins at the mean
/// latency estimate of the `ready` ones: its own estimate is stale (or the default, if it
/// never answered), and with few endpoints power of two choices is close to deterministic,
/// so an endpoint that looked slower than its peers would get no call to correct it.
fn warm_in_background(endpoints: &[&Arc<Endpoint>], ready: &[&Arc<Endpoint>]) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let now = Instant::now();
    let mut peers_estimate = None;
    for endpoint in endpoints {
        if endpoint.shared.state() == State::Idle {
            let estimate = *peers_estimate.get_or_insert_with(|| mean_estimate(ready, now));
            endpoint.latency.rejoin(estimate, now);
            runtime.spawn(Arc::clone(endpoint).warm());
        }
    }
}

/// The mean latency estimate of `endpoints` at `now`, in nanoseconds (`None` if empty).
fn mean_estimate(endpoints: &[&Arc<Endpoint>], now: Instant) -> Option<f64> {
    let sum: f64 = endpoints.iter().map(|e| e.latency.estimate_ns(now)).sum();
    // At most a few thousand endpoints: exact in an f64.
    #[allow(clippy::cast_precision_loss)]
    let count = endpoints.len() as f64;
    (count > 0.0).then(|| sum / count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UpstreamConfig;
    use crate::upstream::registry::registry;

    fn balancer(endpoints: &[&str], balance: Balance) -> Balancer {
        let endpoints = endpoints.iter().map(|&e| e.to_owned()).collect();
        let mut config = UpstreamConfig::new("u", endpoints, vec!["*".into()]);
        config.balance = balance;
        let registry = registry(&[config], None).unwrap();
        Balancer::new(Arc::clone(registry.first().unwrap()), 1024)
    }

    fn uri(pick: &Pick) -> &str {
        pick.first.uri()
    }

    #[test]
    fn an_upstream_without_endpoints_yet_has_no_pick() {
        let balancer = balancer(&["dns://users.svc:1"], Balance::Latency);
        assert!(balancer.choose(None).is_none());
    }

    #[test]
    fn a_retry_avoids_the_endpoint_that_failed() {
        let balancer = balancer(
            &["http://127.0.0.1:1", "http://127.0.0.1:2"],
            Balance::Latency,
        );
        for _ in 0..20 {
            let first = balancer.choose(None).unwrap();
            let retry = balancer.choose(Some(&first.first)).unwrap();
            assert_ne!(uri(&first), uri(&retry));
        }
    }

    #[test]
    fn round_robin_takes_turns_when_no_endpoint_is_ready_and_retries_take_none() {
        let balancer = balancer(
            &[
                "http://127.0.0.1:1",
                "http://127.0.0.1:2",
                "http://127.0.0.1:3",
            ],
            Balance::RoundRobin,
        );
        let picks: Vec<String> = (0..6)
            .map(|_| {
                let pick = balancer.choose(None).unwrap();
                // A retry in between must not shift the next call's turn.
                let _ = balancer.choose(Some(&pick.first));
                uri(&pick).to_owned()
            })
            .collect();
        assert_eq!(picks[0..3], picks[3..6], "{picks:?}");
        assert_ne!(picks[0], picks[1]);
        assert_ne!(picks[1], picks[2]);
    }

    #[test]
    fn only_ready_endpoints_take_calls_while_any_is_and_all_do_in_panic_mode() {
        // least_request: with nothing in flight a tie, which the random pair settles.
        let balancer = balancer(
            &["http://127.0.0.1:1", "http://127.0.0.1:2"],
            Balance::LeastRequest,
        );
        let set = balancer.current();
        let (a, b) = (&set.endpoints[0], &set.endpoints[1]);
        a.shared.connected();
        for _ in 0..20 {
            assert_eq!(uri(&balancer.choose(None).unwrap()), a.uri());
        }
        // Both out: panic mode spreads over both.
        a.shared.eject(std::time::Duration::from_secs(60), 5);
        b.shared.eject(std::time::Duration::from_secs(60), 5);
        let seen: std::collections::HashSet<String> = (0..50)
            .map(|_| uri(&balancer.choose(None).unwrap()).to_owned())
            .collect();
        assert_eq!(seen.len(), 2, "{seen:?}");
    }
}
