//! Retrying a call (`[upstreams.retry]`): only methods that may run twice (bound to GET, HEAD
//! or OPTIONS, or declared `idempotency_level = IDEMPOTENT` or `NO_SIDE_EFFECTS`), only on
//! the configured codes, each retry after a jittered, doubling backoff that must end before
//! the call's deadline, and only while the upstream's budget allows: retries are at most
//! `budget_percent` of its calls plus 10 per second (tower's `TpsBudget`, the Finagle and
//! linkerd design), so a struggling backend is not buried under retries.
//!
//! Calls the backend never processed are another matter: those are sent again whatever the
//! policy (`call.rs`), since nothing can happen twice.

use std::time::Duration;

use tokio::time::Instant;
use tonic::{Code, Status};
use tower::retry::budget::{Budget, TpsBudget};

use crate::config::RetryConfig;
use crate::errors::code_from_name;

/// Retries per second allowed on top of the percentage, and the window the budget counts in.
const MIN_RETRIES_PER_SEC: u32 = 10;
const BUDGET_WINDOW: Duration = Duration::from_secs(10);

pub struct RetryPolicy {
    extra_attempts: u32,
    /// The retried codes, one bit per code number.
    on: u32,
    backoff: Duration,
    budget: TpsBudget,
}

impl std::fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("extra_attempts", &self.extra_attempts)
            .finish_non_exhaustive()
    }
}

impl RetryPolicy {
    /// The policy of `config` (whose code names the config check has validated).
    pub fn new(config: &RetryConfig) -> Self {
        let on = config
            .on
            .iter()
            .filter_map(|name| code_from_name(name))
            .fold(0, |bits, code| bits | code_bit(code));
        // `budget_percent` is at most 100, which the budget takes as a fraction.
        let share = f32::from(u16::try_from(config.budget_percent.min(100)).unwrap_or(100)) / 100.0;
        Self {
            extra_attempts: config.attempts,
            on,
            backoff: Duration::from_millis(config.backoff_ms),
            budget: TpsBudget::new(BUDGET_WINDOW, MIN_RETRIES_PER_SEC, share),
        }
    }

    fn retries(&self, code: Code) -> bool {
        self.on & code_bit(code) != 0
    }

    /// The wait before retry number `retry` (0 for the first): the base doubled each time,
    /// between half and all of it at random.
    fn backoff(&self, retry: u32) -> Duration {
        let grown = self.backoff.saturating_mul(1 << retry.min(16));
        grown.mul_f64(0.5 + crate::random::unit() / 2.0)
    }
}

fn code_bit(code: Code) -> u32 {
    u32::try_from(code as i32)
        .ok()
        .and_then(|n| 1u32.checked_shl(n))
        .unwrap_or(0)
}

/// One call's retries under its upstream's policy.
pub struct Retries<'a> {
    policy: Option<&'a RetryPolicy>,
    done: u32,
    deadline: Instant,
}

impl<'a> Retries<'a> {
    /// `policy`: the upstream's, if any; `idempotent`: whether the method may run twice.
    /// Every call counts towards the budget that its retries draw on.
    pub fn new(policy: Option<&'a RetryPolicy>, idempotent: bool, deadline: Instant) -> Self {
        if let Some(policy) = policy {
            policy.budget.deposit();
        }
        Self {
            policy: policy.filter(|p| idempotent && p.extra_attempts > 0),
            done: 0,
            deadline,
        }
    }

    /// No retry is possible (no policy, or a method that must not run twice): the call's
    /// parts need not be kept for another attempt.
    pub fn none_possible(&self) -> bool {
        self.policy.is_none_or(|p| self.done >= p.extra_attempts)
    }

    /// After an attempt failed with `status`: whether to try again, having waited the
    /// backoff. No when the code is not retried, the attempts are used up, the backoff would
    /// not end before the deadline, or the budget is spent.
    pub async fn again(&mut self, status: &Status) -> bool {
        let Some(policy) = self.policy else {
            return false;
        };
        if self.done >= policy.extra_attempts || !policy.retries(status.code()) {
            return false;
        }
        let wait = policy.backoff(self.done);
        if Instant::now() + wait >= self.deadline {
            return false;
        }
        if !policy.budget.withdraw() {
            tracing::debug!("retry budget spent; not retrying");
            return false;
        }
        self.done += 1;
        tokio::time::sleep(wait).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(attempts: u32, on: &[&str], budget_percent: u32) -> RetryPolicy {
        RetryPolicy::new(&RetryConfig {
            attempts,
            on: on.iter().map(|&s| s.to_owned()).collect(),
            backoff_ms: 1,
            budget_percent,
        })
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn retries_the_configured_codes_up_to_the_attempts() {
        let policy = policy(2, &["UNAVAILABLE", "INTERNAL"], 100);
        let mut retries = Retries::new(Some(&policy), true, far());
        assert!(!retries.again(&Status::not_found("x")).await);
        assert!(retries.again(&Status::unavailable("x")).await);
        assert!(retries.again(&Status::internal("x")).await);
        assert!(!retries.again(&Status::unavailable("x")).await);
        assert!(retries.none_possible());
    }

    #[tokio::test]
    async fn never_retries_a_method_that_must_not_run_twice() {
        let policy = policy(2, &["UNAVAILABLE"], 100);
        let mut retries = Retries::new(Some(&policy), false, far());
        assert!(retries.none_possible());
        assert!(!retries.again(&Status::unavailable("x")).await);
    }

    #[tokio::test]
    async fn stops_at_the_deadline() {
        let mut slow = policy(3, &["UNAVAILABLE"], 100);
        slow.backoff = Duration::from_secs(10);
        let mut retries = Retries::new(Some(&slow), true, Instant::now() + Duration::from_secs(1));
        assert!(!retries.again(&Status::unavailable("x")).await);
    }

    #[tokio::test]
    async fn stops_when_the_budget_is_spent() {
        // No share of calls, so only the reserve of 10 per second over the window.
        let policy = policy(1, &["UNAVAILABLE"], 0);
        let reserve = MIN_RETRIES_PER_SEC * u32::try_from(BUDGET_WINDOW.as_secs()).unwrap();
        let mut granted = 0;
        for _ in 0..reserve + 50 {
            let mut retries = Retries::new(Some(&policy), true, far());
            if retries.again(&Status::unavailable("x")).await {
                granted += 1;
            }
        }
        assert_eq!(granted, reserve);
    }

    #[test]
    fn backoff_doubles_with_jitter() {
        let mut policy = policy(3, &["UNAVAILABLE"], 20);
        policy.backoff = Duration::from_millis(100);
        for retry in 0..3 {
            let full = Duration::from_millis(100 << retry);
            let wait = policy.backoff(retry);
            assert!(wait >= full / 2 && wait <= full, "{retry}: {wait:?}");
        }
    }
}
