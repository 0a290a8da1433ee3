//! Choosing an endpoint: power of two choices by calls in flight. tower's `Balance` does the
//! same but needs exclusive access per call, which means a `Buffer` task between every request
//! and the balancer, the very hop the per-worker connections exist to avoid; with one worker
//! per thread the choice is two atomic loads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::endpoint::Endpoint;

/// One worker's connections to one upstream's endpoints.
#[derive(Clone)]
pub struct Balancer {
    endpoints: Arc<[Endpoint]>,
    /// The largest reply message accepted from these endpoints.
    max_response_bytes: usize,
    /// xorshift state; races between calls only make it more random.
    random: Arc<AtomicU64>,
}

impl Balancer {
    pub fn new(endpoints: Vec<Endpoint>, max_response_bytes: usize) -> Self {
        Self {
            endpoints: endpoints.into(),
            max_response_bytes,
            random: Arc::new(AtomicU64::new(0x9E37_79B9_7F4A_7C15)),
        }
    }

    /// The endpoint to try first and, with two or more, another to fall back on if it
    /// cannot be reached: two picked at random, the less loaded first. `None` only for an
    /// upstream without endpoints, which start-up refuses.
    pub fn choose(&self) -> Option<(&Endpoint, Option<&Endpoint>)> {
        let n = self.endpoints.len();
        if n < 2 {
            return self.endpoints.first().map(|only| (only, None));
        }
        let r = self.next_random();
        let a = (r % n as u64) as usize;
        let b = (a + 1 + ((r >> 32) % (n as u64 - 1)) as usize) % n;
        let (a, b) = (self.endpoints.get(a)?, self.endpoints.get(b)?);
        Some(if b.load() < a.load() {
            (b, Some(a))
        } else {
            (a, Some(b))
        })
    }

    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    fn next_random(&self) -> u64 {
        let mut x = self.random.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random.store(x, Ordering::Relaxed);
        x
    }
}
