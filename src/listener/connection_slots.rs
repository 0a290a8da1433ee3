//! `[limits] max_connections`: a gateway-wide count of open client connections, shared by
//! every worker. Past the limit a new connection is closed as soon as it is accepted, so the
//! connections already open keep working and the process never runs out of file descriptors
//! (which would also stop it from reaching its backends).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct ConnectionSlots {
    /// A reload may change it.
    limit: AtomicUsize,
    open: AtomicUsize,
}

/// One open connection, counted until dropped.
#[derive(Debug)]
pub struct ConnectionSlot(Arc<ConnectionSlots>);

impl ConnectionSlots {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: AtomicUsize::new(limit),
            open: AtomicUsize::new(0),
        })
    }

    /// A reload's new limit; connections already open stay (past a lowered limit, new ones
    /// are refused until enough have closed).
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// A slot, or `None` when `limit` connections are open.
    pub fn try_acquire(self: &Arc<Self>) -> Option<ConnectionSlot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.limit()).then_some(open + 1)
            })
            .ok()
            .map(|_| ConnectionSlot(Arc::clone(self)))
    }

    #[cfg(test)]
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The default `max_connections`: the open-file limit (raised to its hard maximum at start)
/// less room for upstream connections, descriptor files and logs.
pub fn default_max_connections(open_file_limit: u64) -> usize {
    let headroom = (open_file_limit / 10).max(64);
    usize::try_from(open_file_limit.saturating_sub(headroom))
        .unwrap_or(usize::MAX)
        .max(1)
}

/// Raises the soft open-file limit to the hard one; returns the limit now in force.
pub fn raise_open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(err) => {
            tracing::warn!(error = %err, "cannot raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_refused_past_the_limit_and_freed_on_drop() {
        let slots = ConnectionSlots::new(2);
        let a = slots.try_acquire().unwrap();
        let _b = slots.try_acquire().unwrap();
        assert!(slots.try_acquire().is_none());
        assert_eq!(slots.open(), 2);
        drop(a);
        assert!(slots.try_acquire().is_some());
    }

    #[test]
    fn the_default_leaves_headroom_below_the_open_file_limit() {
        assert_eq!(default_max_connections(1024), 922);
        assert_eq!(default_max_connections(100), 36);
        assert_eq!(default_max_connections(1_048_576), 943_719);
        assert_eq!(default_max_connections(10), 1);
    }
}
