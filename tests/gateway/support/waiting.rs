//! How long tests wait: the bound on any one request, and waiting for something a test cannot
//! be told about directly (a backend's counter, a log line, a connection slot freeing up):
//! polled, with a bound, rather than slept for.

use std::future::Future;
use std::time::{Duration, Instant};

/// No single request in this suite may take longer (the slowest legitimate one sleeps ~1 s).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Polls `check` until it yields `Some` or `timeout` passes.
pub async fn poll_until<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
