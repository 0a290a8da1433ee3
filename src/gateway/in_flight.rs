//! `[limits] max_in_flight`: requests in progress gateway-wide, each counted from admission
//! until its response has been sent whole (a stream until it ends). Past the limit a request
//! is answered at once with 503 and `Retry-After: 1` rather than queued without bound.
//!
//! One counter per worker, each on its own cache line, so counting never bounces a line
//! between cores; admission reads them all (the limit is approximate by the few requests
//! other workers admit at the same instant).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct InFlightLimit {
    /// A reload may change it.
    limit: AtomicUsize,
    shards: Box<[Shard]>,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(AtomicUsize);

/// One admitted request, counted until dropped.
#[derive(Debug)]
pub struct InFlightPermit {
    limit: Arc<InFlightLimit>,
    shard: usize,
}

impl InFlightLimit {
    pub fn new(limit: usize, workers: usize) -> Arc<Self> {
        let shards = (0..workers.max(1)).map(|_| Shard::default()).collect();
        Arc::new(Self {
            limit: AtomicUsize::new(limit),
            shards,
        })
    }

    /// A reload's new limit; requests already admitted stay counted.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// A permit for one more request, or `None` at the limit.
    pub fn try_acquire(self: &Arc<Self>, worker: usize) -> Option<InFlightPermit> {
        let total = self.shards.iter().fold(0usize, |sum, shard| {
            sum.saturating_add(shard.0.load(Ordering::Relaxed))
        });
        if total >= self.limit() {
            return None;
        }
        let shard = worker.checked_rem(self.shards.len())?;
        self.shards.get(shard)?.0.fetch_add(1, Ordering::Relaxed);
        Some(InFlightPermit {
            limit: Arc::clone(self),
            shard,
        })
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }
}

impl Drop for InFlightPermit {
    fn drop(&mut self) {
        if let Some(shard) = self.limit.shards.get(self.shard) {
            shard.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_across_workers() {
        let limit = InFlightLimit::new(3, 2);
        let a = limit.try_acquire(0).unwrap();
        let _b = limit.try_acquire(1).unwrap();
        let _c = limit.try_acquire(1).unwrap();
        assert!(limit.try_acquire(0).is_none());
        assert!(limit.try_acquire(1).is_none());
        drop(a);
        assert!(limit.try_acquire(1).is_some());
    }
}
