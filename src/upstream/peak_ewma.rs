//! Latency estimate for the `latency` balancer: the peak-EWMA of Finagle, linkerd and tower.
//! A slower response than the estimate replaces it at once (peak); faster ones pull it down
//! gradually (an exponentially weighted moving average); and while no response arrives the
//! estimate decays towards zero, so an endpoint that was slow once is tried again later.
//! The cost of sending a call is the estimate times the calls already in flight plus one.
//!
//! Kept per worker (each worker's calls are its own sample), in atomics because the worker's
//! endpoint list is shared by that worker's tasks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How fast the estimate forgets: the weight of the past halves in `DECAY × ln 2`.
const DECAY: Duration = Duration::from_secs(10);
/// The estimate of an endpoint that has not answered yet.
const DEFAULT_RTT: Duration = Duration::from_millis(5);

pub struct PeakEwma {
    /// The estimate in nanoseconds (`f64` bits) as of `stamp_ns`.
    rtt_ns: AtomicU64,
    /// When the estimate was last updated, in ns since `origin`.
    stamp_ns: AtomicU64,
    origin: Instant,
}

impl PeakEwma {
    pub fn new(origin: Instant) -> Self {
        let now = ns_since(origin, Instant::now());
        Self {
            rtt_ns: AtomicU64::new((DEFAULT_RTT.as_secs_f64() * 1e9).to_bits()),
            stamp_ns: AtomicU64::new(now),
            origin,
        }
    }

    /// The estimate at `now`, decayed since its last update.
    pub fn estimate_ns(&self, now: Instant) -> f64 {
        let rtt = f64::from_bits(self.rtt_ns.load(Ordering::Relaxed));
        let elapsed =
            ns_since(self.origin, now).saturating_sub(self.stamp_ns.load(Ordering::Relaxed));
        rtt * decay_weight(elapsed)
    }

    /// What sending one more call costs, with `in_flight` calls already there.
    pub fn cost(&self, now: Instant, in_flight: usize) -> f64 {
        let pending = u32::try_from(in_flight).unwrap_or(u32::MAX);
        self.estimate_ns(now) * (f64::from(pending) + 1.0)
    }

    /// The endpoint rejoins (reconnecting after a failure, or idle since it was last used):
    /// its estimate starts again from `peers_ns`, its peers' current estimate, when known.
    pub fn rejoin(&self, peers_ns: Option<f64>, now: Instant) {
        let Some(peers_ns) = peers_ns.filter(|ns| ns.is_finite()) else {
            return;
        };
        self.rtt_ns.store(peers_ns.to_bits(), Ordering::Relaxed);
        self.stamp_ns
            .store(ns_since(self.origin, now), Ordering::Relaxed);
    }

    /// A response arrived `rtt` after its call was sent.
    pub fn observe(&self, rtt: Duration, now: Instant) {
        let sample = rtt.as_secs_f64() * 1e9;
        let now_ns = ns_since(self.origin, now);
        let rtt_then = f64::from_bits(self.rtt_ns.load(Ordering::Relaxed));
        let elapsed = now_ns.saturating_sub(self.stamp_ns.load(Ordering::Relaxed));
        let weight = decay_weight(elapsed);
        let decayed = rtt_then * weight;
        let next = if sample > decayed {
            sample
        } else {
            decayed * weight + sample * (1.0 - weight)
        };
        self.rtt_ns.store(next.to_bits(), Ordering::Relaxed);
        self.stamp_ns.store(now_ns, Ordering::Relaxed);
    }
}

fn decay_weight(elapsed_ns: u64) -> f64 {
    // Precision loss above 2^53 ns (104 days) is irrelevant here.
    #[allow(clippy::cast_precision_loss)]
    let elapsed = elapsed_ns as f64;
    (-elapsed / (DECAY.as_secs_f64() * 1e9)).exp()
}

fn ns_since(origin: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(origin).as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_slow_response_raises_the_estimate_at_once() {
        let start = Instant::now();
        let ewma = PeakEwma::new(start);
        ewma.observe(ms(50), start);
        let estimate = ewma.estimate_ns(start) / 1e6;
        assert!((estimate - 50.0).abs() < 0.01, "{estimate}");
    }

    #[test]
    fn fast_responses_pull_it_down_gradually() {
        let start = Instant::now();
        let ewma = PeakEwma::new(start);
        ewma.observe(ms(50), start);
        ewma.observe(ms(1), start + ms(100));
        let after_one = ewma.estimate_ns(start + ms(100)) / 1e6;
        assert!(after_one > 40.0 && after_one < 50.0, "{after_one}");
        for i in 2..200 {
            ewma.observe(ms(1), start + ms(100 * i));
        }
        let after_many = ewma.estimate_ns(start + ms(20_000)) / 1e6;
        assert!(after_many < 5.0, "{after_many}");
    }

    #[test]
    fn an_idle_estimate_decays_towards_zero() {
        let start = Instant::now();
        let ewma = PeakEwma::new(start);
        ewma.observe(ms(100), start);
        let later = ewma.estimate_ns(start + DECAY) / 1e6;
        assert!((later - 100.0 / std::f64::consts::E).abs() < 0.1, "{later}");
    }

    #[test]
    fn a_rejoining_endpoint_starts_from_its_peers_estimate() {
        let start = Instant::now();
        let ewma = PeakEwma::new(start);
        ewma.observe(ms(80), start);
        ewma.rejoin(Some(2e6), start + ms(10));
        let estimate = ewma.estimate_ns(start + ms(10)) / 1e6;
        assert!((estimate - 2.0).abs() < 0.01, "{estimate}");
        // Without ready peers it keeps its own.
        ewma.rejoin(None, start + ms(10));
        assert!((ewma.estimate_ns(start + ms(10)) / 1e6 - 2.0).abs() < 0.01);
    }

    #[test]
    fn cost_grows_with_calls_in_flight() {
        let start = Instant::now();
        let ewma = PeakEwma::new(start);
        ewma.observe(ms(10), start);
        assert!(ewma.cost(start, 3) > 3.9 * ewma.cost(start, 0));
    }
}
