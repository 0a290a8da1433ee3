//! `StreamUsers`: the request's knobs parsed into a [`StreamUsersPlan`], and the lazy stream that
//! plays it. Users are snapshotted when the call starts (a consistent view, bounded by the store),
//! but every message is cloned, padded and paced only when tonic asks for it.

use std::time::Duration;

use tokio_stream::Stream;
use tonic::{Code, Status};

use super::errors::{DemoError, violation};
use super::lazy_stream::unfold;
use super::pb::{StreamUsersRequest, User};

/// Largest accepted `count`.
pub const MAX_STREAM_COUNT: u32 = 1_000_000;
/// Largest accepted `interval_ms`.
pub const MAX_STREAM_INTERVAL_MS: u32 = 60_000;
/// Largest accepted `padding_bytes` (1 MiB).
pub const MAX_PADDING_BYTES: usize = 1024 * 1024;
/// Largest gRPC status code (`UNAUTHENTICATED`).
const MAX_GRPC_CODE: i32 = 16;

/// How many user messages the stream is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Length {
    /// `count = 0`: each stored user once.
    EachStoredUserOnce,
    /// `count > 0`: this many, cycling through the stored users.
    Cycle(u32),
}

/// `fail_after > 0`: end with `code` once `after` messages (or all of them) are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failure {
    after: u32,
    code: Code,
}

/// A validated StreamUsers request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamUsersPlan {
    length: Length,
    interval: Duration,
    failure: Option<Failure>,
    padding: usize,
}

impl StreamUsersPlan {
    /// Checks every knob, reporting all out-of-range ones at once.
    pub fn parse(req: &StreamUsersRequest) -> Result<Self, DemoError> {
        let mut violations = Vec::new();
        let length = match u32::try_from(req.count) {
            Ok(0) => Some(Length::EachStoredUserOnce),
            Ok(n) if n <= MAX_STREAM_COUNT => Some(Length::Cycle(n)),
            _ => None,
        };
        if length.is_none() {
            violations.push(violation(
                "count",
                format!(
                    "must be between 0 and {MAX_STREAM_COUNT}, got {}",
                    req.count
                ),
            ));
        }
        if req.interval_ms > MAX_STREAM_INTERVAL_MS {
            violations.push(violation(
                "interval_ms",
                format!(
                    "must be at most {MAX_STREAM_INTERVAL_MS}, got {}",
                    req.interval_ms
                ),
            ));
        }
        let fail_after = u32::try_from(req.fail_after).ok();
        if fail_after.is_none() {
            violations.push(violation(
                "fail_after",
                format!("must not be negative, got {}", req.fail_after),
            ));
        }
        let code = match req.fail_code {
            0 => Some(Code::Internal),
            raw if (1..=MAX_GRPC_CODE).contains(&raw) => Some(Code::from(raw)),
            _ => None,
        };
        if code.is_none() {
            violations.push(violation(
                "fail_code",
                format!(
                    "must be a gRPC status code between 1 and {MAX_GRPC_CODE} (0 means INTERNAL), got {}",
                    req.fail_code
                ),
            ));
        }
        let padding = usize::try_from(req.padding_bytes)
            .ok()
            .filter(|&n| n <= MAX_PADDING_BYTES);
        if padding.is_none() {
            violations.push(violation(
                "padding_bytes",
                format!(
                    "must be between 0 and {MAX_PADDING_BYTES}, got {}",
                    req.padding_bytes
                ),
            ));
        }
        match (length, fail_after, code, padding) {
            (Some(length), Some(after), Some(code), Some(padding)) if violations.is_empty() => {
                Ok(Self {
                    length,
                    interval: Duration::from_millis(u64::from(req.interval_ms)),
                    failure: (after > 0).then_some(Failure { after, code }),
                    padding,
                })
            }
            _ => Err(DemoError::InvalidArgument(violations)),
        }
    }

    /// User messages sent (before any failure) when `stored` users exist.
    fn message_count(&self, stored: usize) -> u64 {
        let stored = u64::try_from(stored).unwrap_or(u64::MAX);
        let asked = match self.length {
            Length::EachStoredUserOnce => stored,
            // Nothing to cycle through: an empty store yields an empty stream.
            Length::Cycle(_) if stored == 0 => 0,
            Length::Cycle(n) => u64::from(n),
        };
        match self.failure {
            Some(failure) => asked.min(u64::from(failure.after)),
            None => asked,
        }
    }

    /// The response stream over `users` (the snapshot to cycle through).
    pub fn into_stream(
        self,
        users: Vec<User>,
    ) -> impl Stream<Item = Result<User, Status>> + Send + 'static {
        let state = Playback {
            total: self.message_count(users.len()),
            users,
            padding: "x".repeat(self.padding),
            interval: self.interval,
            fail_code: self.failure.map(|f| f.code),
            sent: 0,
            done: false,
        };
        unfold(state, Playback::next)
    }
}

/// Where a StreamUsers stream is; moved through each step of the [`unfold`].
struct Playback {
    users: Vec<User>,
    padding: String,
    interval: Duration,
    total: u64,
    fail_code: Option<Code>,
    sent: u64,
    done: bool,
}

impl Playback {
    async fn next(mut self) -> Option<(Result<User, Status>, Self)> {
        if self.done {
            return None;
        }
        if self.sent >= self.total {
            let code = self.fail_code?;
            self.done = true;
            let status = Status::new(code, format!("stream failed after {} messages", self.sent));
            return Some((Err(status), self));
        }
        if self.sent > 0 && !self.interval.is_zero() {
            tokio::time::sleep(self.interval).await;
        }
        let index = usize::try_from(self.sent)
            .ok()?
            .checked_rem(self.users.len())?;
        let mut user = self.users.get(index)?.clone();
        user.padding.clone_from(&self.padding);
        self.sent += 1;
        Some((Ok(user), self))
    }
}

#[cfg(test)]
#[path = "user_stream_tests.rs"]
mod tests;
