//! Least-connections accepting for workers that share one listening socket.
//!
//! Each worker's event loop is woken by every new connection on a shared socket, and whoever
//! calls `accept` first wins: a worker that happens to be awake takes a whole burst (measured:
//! 15 or 16 of 16 connections on one of two workers). So a worker accepts only while no other
//! worker holds fewer open connections. During a burst the workers' counts stay within one of
//! each other, and afterwards each new connection goes to a least-loaded worker. The worker
//! with the fewest connections never waits, so a pending connection is always taken.
//!
//! Only for workers sharing one accept queue: with one `SO_REUSEPORT` queue per worker, a
//! worker waiting for its turn would leave the connections the kernel put in its queue there.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Open connections per worker, shared by the workers of one socket.
#[derive(Debug)]
pub struct AcceptTurns {
    open: Box<[AtomicUsize]>,
    /// Signalled whenever a count changes, for the workers waiting for their turn.
    changed: Notify,
}

/// One worker's view of the shared counts.
#[derive(Debug, Clone)]
pub struct WorkerTurn {
    turns: Arc<AcceptTurns>,
    worker: usize,
}

/// A connection counted against its worker until dropped.
#[derive(Debug)]
pub struct OpenConnection(WorkerTurn);

// === impl AcceptTurns ===

impl AcceptTurns {
    pub fn new(workers: usize) -> Arc<Self> {
        Arc::new(Self {
            open: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            changed: Notify::new(),
        })
    }

    /// The turn of worker `worker` (an index below the count given to `new`).
    pub fn worker(self: &Arc<Self>, worker: usize) -> WorkerTurn {
        WorkerTurn {
            turns: Arc::clone(self),
            worker,
        }
    }

    fn open_of(&self, worker: usize) -> usize {
        self.count(worker)
            .map_or(0, |count| count.load(Ordering::Acquire))
    }

    fn count(&self, worker: usize) -> Option<&AtomicUsize> {
        self.open.get(worker)
    }
}

// === impl WorkerTurn ===

impl WorkerTurn {
    /// Whether no other worker holds fewer open connections than this one.
    pub fn is_mine(&self) -> bool {
        let mine = self.turns.open_of(self.worker);
        self.turns
            .open
            .iter()
            .all(|count| count.load(Ordering::Acquire) >= mine)
    }

    /// Resolves once it is this worker's turn to accept.
    pub async fn wait(&self) {
        loop {
            // Registered before looking at the counts, so a change in between is not missed.
            let mut changed = pin!(self.turns.changed.notified());
            changed.as_mut().enable();
            if self.is_mine() {
                return;
            }
            changed.await;
        }
    }

    /// Counts a connection this worker accepted, until the returned guard is dropped.
    pub fn opened(&self) -> OpenConnection {
        if let Some(count) = self.turns.count(self.worker) {
            count.fetch_add(1, Ordering::AcqRel);
        }
        // Another worker may now hold no more than this one.
        self.turns.changed.notify_waiters();
        OpenConnection(self.clone())
    }
}

// === impl OpenConnection ===

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let WorkerTurn { turns, worker } = &self.0;
        if let Some(count) = turns.count(*worker) {
            count.fetch_sub(1, Ordering::AcqRel);
        }
        // This worker may now hold no more than the others.
        turns.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_least_loaded_workers_have_the_turn() {
        let turns = AcceptTurns::new(3);
        let [a, b, c] = [0, 1, 2].map(|w| turns.worker(w));
        assert!(a.is_mine() && b.is_mine() && c.is_mine(), "all equal");
        let first = a.opened();
        assert!(!a.is_mine() && b.is_mine() && c.is_mine());
        let second = b.opened();
        assert!(!a.is_mine() && !b.is_mine() && c.is_mine());
        let _third = c.opened();
        assert!(a.is_mine() && b.is_mine() && c.is_mine(), "all equal again");
        drop(first);
        assert!(a.is_mine() && !b.is_mine() && !c.is_mine(), "a closed one");
        drop(second);
        assert!(a.is_mine() && b.is_mine() && !c.is_mine());
    }

    #[tokio::test]
    async fn a_waiting_worker_gets_its_turn_when_another_catches_up() {
        let turns = AcceptTurns::new(2);
        let (a, b) = (turns.worker(0), turns.worker(1));
        let _held = a.opened();
        let waiting = tokio::spawn(async move { a.wait().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a holds more than b: not its turn");
        let _other = b.opened();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("a's turn comes once b holds as many")
            .expect("the waiting task");
    }

    #[tokio::test]
    async fn a_waiting_worker_gets_its_turn_when_its_connection_closes() {
        let turns = AcceptTurns::new(2);
        let a = turns.worker(0);
        let held = a.opened();
        let waiting = tokio::spawn(async move { a.wait().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("a's turn comes once its connection closed")
            .expect("the waiting task");
    }
}
