//! One endpoint's life as an explicit state machine, free of clocks and locks (the caller
//! passes `now`), so every transition is tested on its own. Three concerns move it:
//!
//! - its link: connection attempts by any worker (idle → connecting → ready; a failed attempt
//!   backs off exponentially, with jitter, before the next);
//! - active health checks (`unhealthy_threshold` failures in a row take it out,
//!   `healthy_threshold` passes bring it back);
//! - outlier ejection (out for `base_ejection × ejections`).
//!
//! The state the balancer and `/readyz` see is the most severe of the three: unhealthy, then
//! ejected, then the link's own state.

use std::time::{Duration, Instant};

/// What `/readyz` shows, and what the balancer decides by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// No connection yet (or the last one closed); the next call connects.
    Idle,
    Connecting,
    Ready,
    /// The last connection attempt failed; no call tries again before the backoff ends.
    BackingOff,
    /// Taken out by outlier detection until its ejection ends.
    Ejected,
    /// Taken out by active health checks until they pass again.
    Unhealthy,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Idle,
        State::Connecting,
        State::Ready,
        State::BackingOff,
        State::Ejected,
        State::Unhealthy,
    ];

    /// The name `/readyz` and the metrics use.
    pub fn label(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Connecting => "connecting",
            State::Ready => "ready",
            State::BackingOff => "backing_off",
            State::Ejected => "ejected",
            State::Unhealthy => "unhealthy",
        }
    }
}

/// First wait after a failed connection attempt, its growth per further failure, its cap and
/// its jitter (gRPC's connection-backoff parameters, with a shorter cap).
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MULTIPLIER: f64 = 1.6;
const BACKOFF_MAX: Duration = Duration::from_secs(30);
const BACKOFF_JITTER: f64 = 0.2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Idle,
    /// `failures`: attempts that failed in a row before this one.
    Connecting {
        failures: u32,
    },
    Ready,
    BackingOff {
        until: Instant,
        failures: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// Not checked, or checked and passing: calls may go to it. `failures` in a row so far.
    Serving { failures: u32 },
    /// `passes` in a row so far.
    Unhealthy { passes: u32 },
}

/// The health check thresholds of `[upstreams.health_check]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub unhealthy: u32,
    pub healthy: u32,
}

#[derive(Debug, Clone)]
pub struct EndpointLife {
    link: Link,
    health: Health,
    /// Ejected until then (`None`: not ejected).
    ejected_until: Option<Instant>,
    /// Ejections so far (each one longer), less one for every ejection period since the last
    /// return without another.
    ejections: u32,
    returned_at: Option<Instant>,
}

impl Default for EndpointLife {
    fn default() -> Self {
        Self::new()
    }
}

impl EndpointLife {
    pub fn new() -> Self {
        Self {
            link: Link::Idle,
            health: Health::Serving { failures: 0 },
            ejected_until: None,
            ejections: 0,
            returned_at: None,
        }
    }

    pub fn state(&self, now: Instant) -> State {
        if matches!(self.health, Health::Unhealthy { .. }) {
            return State::Unhealthy;
        }
        if self.is_ejected(now) {
            return State::Ejected;
        }
        match self.link {
            Link::Idle => State::Idle,
            Link::Connecting { .. } => State::Connecting,
            Link::Ready => State::Ready,
            Link::BackingOff { until, .. } if now < until => State::BackingOff,
            // The backoff is over: the next call (or warm-up) may try again.
            Link::BackingOff { .. } => State::Idle,
        }
    }

    /// When the state changes by itself (a backoff or an ejection ends), if it will.
    pub fn changes_at(&self, now: Instant) -> Option<Instant> {
        let ejection = self.ejected_until.filter(|until| *until > now);
        let backoff = match self.link {
            Link::BackingOff { until, .. } if until > now => Some(until),
            _ => None,
        };
        match (ejection, backoff) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.is_some_and(|until| now < until)
    }

    /// A worker starts connecting (the failures so far are kept for the next backoff).
    pub fn connect_started(&mut self) {
        let failures = match self.link {
            Link::Connecting { failures } | Link::BackingOff { failures, .. } => failures,
            Link::Idle | Link::Ready => 0,
        };
        self.link = Link::Connecting { failures };
    }

    pub fn connected(&mut self) {
        self.link = Link::Ready;
    }

    /// An attempt failed: backs off for the returned time. `jitter` in [0, 1) spreads the
    /// retries of many gateways (and workers) apart.
    pub fn connect_failed(&mut self, now: Instant, jitter: f64) -> Duration {
        let failures = match self.link {
            Link::Connecting { failures } | Link::BackingOff { failures, .. } => failures,
            Link::Idle | Link::Ready => 0,
        };
        let wait = backoff(failures, jitter);
        self.link = Link::BackingOff {
            until: now + wait,
            failures: failures.saturating_add(1),
        };
        wait
    }

    /// A live connection ended without the backend saying goodbye: the next call connects.
    pub fn connection_lost(&mut self) {
        if self.link == Link::Ready {
            self.link = Link::Idle;
        }
    }

    /// One active health check's result; returns whether the endpoint moved in or out.
    pub fn health_checked(&mut self, serving: bool, thresholds: Thresholds) -> bool {
        let (next, changed) = match (self.health, serving) {
            (Health::Serving { .. }, true) => (Health::Serving { failures: 0 }, false),
            (Health::Serving { failures }, false) => {
                let failures = failures.saturating_add(1);
                if failures >= thresholds.unhealthy {
                    (Health::Unhealthy { passes: 0 }, true)
                } else {
                    (Health::Serving { failures }, false)
                }
            }
            (Health::Unhealthy { passes }, true) => {
                let passes = passes.saturating_add(1);
                if passes >= thresholds.healthy {
                    (Health::Serving { failures: 0 }, true)
                } else {
                    (Health::Unhealthy { passes }, false)
                }
            }
            (Health::Unhealthy { .. }, false) => (Health::Unhealthy { passes: 0 }, false),
        };
        self.health = next;
        changed
    }

    /// Ejects the endpoint (outlier detection) and returns for how long: `base` times the
    /// number of ejections, the count having decayed by one per `base` spent back in service.
    pub fn eject(&mut self, now: Instant, base: Duration) -> Duration {
        if let Some(back) = self.returned_at.take() {
            let served = now.saturating_duration_since(back);
            let periods = served.as_nanos() / base.as_nanos().max(1);
            let periods = u32::try_from(periods).unwrap_or(u32::MAX);
            self.ejections = self.ejections.saturating_sub(periods);
        }
        self.ejections = self.ejections.saturating_add(1);
        let duration = base.saturating_mul(self.ejections);
        self.ejected_until = Some(now + duration);
        duration
    }

    /// Ends an ejection whose time is up (bookkeeping for the decay); returns whether one
    /// ended.
    pub fn end_ejection(&mut self, now: Instant) -> bool {
        match self.ejected_until {
            Some(until) if now >= until => {
                self.ejected_until = None;
                self.returned_at = Some(until);
                true
            }
            _ => false,
        }
    }
}

/// The wait after `failures` failed attempts in a row: base × multiplier^failures, capped,
/// then ±`BACKOFF_JITTER`.
fn backoff(failures: u32, jitter: f64) -> Duration {
    let exponent = i32::try_from(failures.min(64)).unwrap_or(64);
    let grown = BACKOFF_BASE.as_secs_f64() * BACKOFF_MULTIPLIER.powi(exponent);
    let capped = grown.min(BACKOFF_MAX.as_secs_f64());
    let spread = 1.0 + BACKOFF_JITTER * (2.0 * jitter.clamp(0.0, 1.0) - 1.0);
    Duration::from_secs_f64(capped * spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKS: Thresholds = Thresholds {
        unhealthy: 3,
        healthy: 2,
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn connects_and_loses_its_connection() {
        let now = Instant::now();
        let mut life = EndpointLife::new();
        assert_eq!(life.state(now), State::Idle);
        life.connect_started();
        assert_eq!(life.state(now), State::Connecting);
        life.connected();
        assert_eq!(life.state(now), State::Ready);
        life.connection_lost();
        assert_eq!(life.state(now), State::Idle);
    }

    #[test]
    fn failed_attempts_back_off_longer_each_time_up_to_the_cap() {
        let now = Instant::now();
        let mut life = EndpointLife::new();
        let mut waits = Vec::new();
        for _ in 0..12 {
            life.connect_started();
            waits.push(life.connect_failed(now, 0.5));
            assert_eq!(life.state(now), State::BackingOff);
        }
        assert_eq!(waits.first(), Some(&BACKOFF_BASE));
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert_eq!(waits.last(), Some(&BACKOFF_MAX));
        // Once the wait is over the endpoint may be tried again.
        let later = now + BACKOFF_MAX;
        assert_eq!(life.state(later), State::Idle);
        assert_eq!(life.changes_at(now), Some(later));
        // A success forgets the failures.
        life.connect_started();
        life.connected();
        life.connect_started();
        assert_eq!(life.connect_failed(now, 0.5), BACKOFF_BASE);
    }

    #[test]
    fn jitter_spreads_the_wait_by_a_fifth_either_way() {
        let low = backoff(0, 0.0);
        let high = backoff(0, 0.999_999);
        assert!(low >= ms(799) && low <= ms(801), "{low:?}");
        assert!(high >= ms(1199) && high <= ms(1201), "{high:?}");
    }

    #[test]
    fn health_checks_take_it_out_and_bring_it_back_by_threshold() {
        let now = Instant::now();
        let mut life = EndpointLife::new();
        life.connected();
        assert!(!life.health_checked(false, CHECKS));
        assert!(!life.health_checked(false, CHECKS));
        assert_eq!(life.state(now), State::Ready);
        assert!(life.health_checked(false, CHECKS));
        assert_eq!(life.state(now), State::Unhealthy);
        // A pass then a failure starts the count again.
        assert!(!life.health_checked(true, CHECKS));
        assert!(!life.health_checked(false, CHECKS));
        assert!(!life.health_checked(true, CHECKS));
        assert!(life.health_checked(true, CHECKS));
        assert_eq!(life.state(now), State::Ready);
        // A pass in between resets the failures.
        life.health_checked(false, CHECKS);
        life.health_checked(false, CHECKS);
        life.health_checked(true, CHECKS);
        life.health_checked(false, CHECKS);
        assert_eq!(life.state(now), State::Ready);
    }

    #[test]
    fn unhealthy_outranks_ejected_which_outranks_the_link() {
        let now = Instant::now();
        let mut life = EndpointLife::new();
        life.connected();
        life.eject(now, ms(100));
        assert_eq!(life.state(now), State::Ejected);
        for _ in 0..3 {
            life.health_checked(false, CHECKS);
        }
        assert_eq!(life.state(now), State::Unhealthy);
        life.health_checked(true, CHECKS);
        life.health_checked(true, CHECKS);
        assert_eq!(life.state(now), State::Ejected);
        assert_eq!(life.state(now + ms(100)), State::Ready);
    }

    #[test]
    fn each_ejection_lasts_longer_and_the_count_decays_in_service() {
        let start = Instant::now();
        let base = ms(1000);
        let mut life = EndpointLife::new();
        assert_eq!(life.eject(start, base), ms(1000));
        assert!(life.is_ejected(start + ms(999)));
        assert!(!life.end_ejection(start + ms(999)));
        assert!(life.end_ejection(start + ms(1000)));
        // Ejected again at once: twice as long.
        let again = start + ms(1000);
        assert_eq!(life.eject(again, base), ms(2000));
        assert!(life.end_ejection(again + ms(2000)));
        // After one base period in service the count is down by one: 2 × base, not 3.
        let later = again + ms(2000) + ms(1000);
        assert_eq!(life.eject(later, base), ms(2000));
        assert!(life.end_ejection(later + ms(2000)));
        // After a long healthy spell, back to the base.
        let much_later = later + ms(2000) + ms(60_000);
        assert_eq!(life.eject(much_later, base), ms(1000));
    }
}
