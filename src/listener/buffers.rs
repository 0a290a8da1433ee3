//! Bytes the gateway holds on a client's behalf: request bodies it is reading whole, what a
//! streaming call may come to hold (reserved when it starts: the backend's stream window and
//! a chunk, which a client that stops reading pins), and response data a client has not taken
//! yet. Each client connection has an account with a limit (`[limits]
//! per_connection_buffer_limit_bytes`; request bodies may use up to `max_body_bytes` if that
//! is larger, so one body of the largest allowed size always fits), and every account also
//! draws on one gateway-wide budget (`[limits] memory_budget_bytes`).
//!
//! A request body or a stream reservation that would take its connection or the gateway over
//! the limit is refused with 503 as soon as it would (nothing waits, so nothing can deadlock
//! on flow control), and a new request arriving while its connection or the gateway is over
//! the limit is shed with 503 before any work is done. Response data is charged without
//! refusal (it is already in memory; refusing it would help nobody) and counts against both
//! until the client takes it.
//!
//! The gateway-wide budget is kept in one counter per worker, so charging never bounces a
//! cache line between cores; only the check of the whole budget reads them all.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Why a charge or a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferFull {
    Connection { limit: usize },
    Gateway { budget: usize },
}

impl std::fmt::Display for BufferFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connection { limit } => write!(
                f,
                "this connection has {limit} bytes of requests and responses in flight already"
            ),
            Self::Gateway { .. } => write!(f, "the gateway is at its memory budget"),
        }
    }
}

/// The gateway-wide budget, shared by every worker.
#[derive(Debug)]
pub struct MemoryBudget {
    /// A reload may change it.
    budget: AtomicUsize,
    /// Bytes held, one counter per worker, each on its own cache line.
    shards: Box<[Shard]>,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(AtomicUsize);

impl MemoryBudget {
    pub fn new(budget: usize, workers: usize) -> Arc<Self> {
        let shards = (0..workers.max(1)).map(|_| Shard::default()).collect();
        Arc::new(Self {
            budget: AtomicUsize::new(budget),
            shards,
        })
    }

    /// A reload's new budget; what is held stays held.
    pub fn set_budget(&self, budget: usize) {
        self.budget.store(budget, Ordering::Relaxed);
    }

    /// Bytes held gateway-wide.
    pub fn held(&self) -> usize {
        self.shards.iter().fold(0usize, |sum, shard| {
            sum.saturating_add(shard.0.load(Ordering::Relaxed))
        })
    }

    fn is_over(&self, adding: usize) -> bool {
        self.held().saturating_add(adding) > self.budget.load(Ordering::Relaxed)
    }

    /// This worker's counter (`shards` is never empty, so there always is one).
    fn shard(&self, worker: usize) -> Option<&AtomicUsize> {
        let index = worker.checked_rem(self.shards.len())?;
        self.shards.get(index).map(|shard| &shard.0)
    }
}

/// One client connection's account.
#[derive(Debug)]
pub struct ConnectionBuffer {
    limit: usize,
    /// What request bodies may take (at least one body of `max_body_bytes`).
    body_limit: usize,
    held: AtomicUsize,
    /// The part of `held` that is response chunks waiting for the client beyond what their
    /// calls reserved.
    chunks: AtomicUsize,
    budget: Arc<MemoryBudget>,
    worker: usize,
}

impl ConnectionBuffer {
    pub fn new(limit: usize, body_limit: usize, budget: Arc<MemoryBudget>, worker: usize) -> Self {
        Self {
            limit,
            body_limit: body_limit.max(limit),
            held: AtomicUsize::new(0),
            chunks: AtomicUsize::new(0),
            budget,
            worker,
        }
    }

    /// Whether a new request may start (the connection and the gateway are under their limits).
    pub fn admit(&self) -> Result<(), BufferFull> {
        if self.held.load(Ordering::Relaxed) >= self.limit {
            return Err(BufferFull::Connection { limit: self.limit });
        }
        if self.budget.is_over(0) {
            return Err(BufferFull::Gateway {
                budget: self.budget.budget.load(Ordering::Relaxed),
            });
        }
        Ok(())
    }

    /// Charges `bytes` of request body unless that takes the connection or the gateway over.
    pub fn try_charge(&self, bytes: usize) -> Result<(), BufferFull> {
        self.try_charge_within(bytes, self.body_limit)
    }

    /// Reserves `bytes` for a streaming call unless that takes the connection or the gateway
    /// over; released with `release`.
    pub fn try_reserve(&self, bytes: usize) -> Result<(), BufferFull> {
        self.try_charge_within(bytes, self.limit)
    }

    fn try_charge_within(&self, bytes: usize, limit: usize) -> Result<(), BufferFull> {
        let held = self.held.load(Ordering::Relaxed);
        if held.saturating_add(bytes) > limit {
            return Err(BufferFull::Connection { limit });
        }
        if self.budget.is_over(bytes) {
            return Err(BufferFull::Gateway {
                budget: self.budget.budget.load(Ordering::Relaxed),
            });
        }
        self.charge(bytes);
        Ok(())
    }

    /// Charges `bytes` that are held whatever the limits say.
    pub fn charge(&self, bytes: usize) {
        self.held.fetch_add(bytes, Ordering::Relaxed);
        if let Some(shard) = self.budget.shard(self.worker) {
            shard.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    pub fn release(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::Relaxed);
        if let Some(shard) = self.budget.shard(self.worker) {
            shard.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// Charges a response chunk handed to the client's connection (beyond its call's
    /// reservation), held whatever the limits say.
    pub fn charge_chunk(&self, bytes: usize) {
        self.chunks.fetch_add(bytes, Ordering::Relaxed);
        self.charge(bytes);
    }

    pub fn release_chunk(&self, bytes: usize) {
        self.chunks.fetch_sub(bytes, Ordering::Relaxed);
        self.release(bytes);
    }

    /// Whether the chunks waiting for this connection's client fill its limit: its streams
    /// should read nothing more from their backends until it takes some.
    pub fn chunks_full(&self) -> bool {
        self.chunks.load(Ordering::Relaxed) >= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_refused_past_its_limit_and_admits_again_after_release() {
        let budget = MemoryBudget::new(1 << 20, 2);
        let connection = ConnectionBuffer::new(1000, 1000, Arc::clone(&budget), 1);
        connection.try_charge(600).unwrap();
        assert_eq!(
            connection.try_charge(500),
            Err(BufferFull::Connection { limit: 1000 })
        );
        connection.try_charge(400).unwrap();
        assert_eq!(
            connection.admit(),
            Err(BufferFull::Connection { limit: 1000 })
        );
        connection.release(1000);
        assert_eq!(connection.admit(), Ok(()));
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn the_gateway_budget_spans_connections_and_workers() {
        let budget = MemoryBudget::new(1500, 2);
        let a = ConnectionBuffer::new(1000, 1000, Arc::clone(&budget), 0);
        let b = ConnectionBuffer::new(1000, 1000, Arc::clone(&budget), 1);
        a.try_charge(1000).unwrap();
        assert_eq!(b.try_charge(600), Err(BufferFull::Gateway { budget: 1500 }));
        b.try_charge(500).unwrap();
        // Responses are charged regardless; new requests are then shed everywhere.
        b.charge(10);
        assert_eq!(a.admit(), Err(BufferFull::Connection { limit: 1000 }));
        let c = ConnectionBuffer::new(1000, 1000, Arc::clone(&budget), 0);
        assert_eq!(c.admit(), Err(BufferFull::Gateway { budget: 1500 }));
        a.release(1000);
        assert_eq!(c.admit(), Ok(()));
        assert_eq!(budget.held(), 510);
    }

    #[test]
    fn bodies_may_use_the_larger_body_limit_and_streams_only_the_connection_limit() {
        let budget = MemoryBudget::new(1 << 20, 1);
        let connection = ConnectionBuffer::new(100, 1000, budget, 0);
        connection.try_charge(900).unwrap();
        assert_eq!(
            connection.try_reserve(50),
            Err(BufferFull::Connection { limit: 100 })
        );
        connection.release(900);
        connection.try_reserve(60).unwrap();
        assert!(connection.try_reserve(60).is_err());
    }
}
