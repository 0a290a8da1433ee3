//! Each worker's handles on `http_server_request_duration_seconds`, by route, method, status
//! and gRPC code: the family's label lookup (hashing six label values under a lock) is paid
//! once per combination instead of once per request.
//!
//! Keyed by the route's address, which stays the route's while the cache holds a `Weak` to it
//! (a freed route's memory, and so its address, is not reused before its last `Weak` goes).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

use prometheus::{Histogram, HistogramVec};

use crate::routing::Route;

/// Combinations kept per worker before the cache starts over (reloads leave old routes').
const MAX_ENTRIES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    /// The family's address: a worker serves one gateway, but tests run several.
    family: usize,
    /// The route's address, or the `http_route` text's for a request without a route.
    route: usize,
    method: &'static str,
    status: u16,
    grpc: u8,
}

struct Entry {
    histogram: Histogram,
    /// Keeps the route's address from being reused by another route.
    _route: Option<Weak<Route>>,
}

/// The cache's hasher: keys are addresses and small numbers the gateway chose, so a fast
/// fixed hash will do (SipHash cost more than the lookup it spares).
type FastHash = foldhash::fast::FixedState;

thread_local! {
    static CACHE: RefCell<HashMap<Key, Entry, FastHash>> =
        const { RefCell::new(HashMap::with_hasher(FastHash::with_seed(0x6832_6761_7465))) };
}

/// What one request is measured under.
pub struct Labels<'a> {
    pub route: Option<&'a Arc<Route>>,
    /// The `http_route` value of a request without a route (a built-in path, `unmatched`).
    pub unrouted: &'static str,
    pub method: &'static str,
    pub status: u16,
    /// `u8::MAX` when no call was made.
    pub grpc: u8,
}

/// Observes `seconds` under `labels` in `family`, through this worker's cache; `values` are
/// the six label values, looked up in the family only when the combination is new.
pub fn observe(family: &HistogramVec, labels: &Labels<'_>, values: [&str; 6], seconds: f64) {
    let key = Key {
        family: std::ptr::from_ref(family) as usize,
        route: labels
            .route
            .map_or(labels.unrouted.as_ptr() as usize, |route| {
                Arc::as_ptr(route) as usize
            }),
        method: labels.method,
        status: labels.status,
        grpc: labels.grpc,
    };
    let observed = CACHE.with(|cache| match cache.try_borrow() {
        Ok(cache) => cache
            .get(&key)
            .map(|entry| entry.histogram.observe(seconds))
            .is_some(),
        Err(_) => false,
    });
    if observed {
        return;
    }
    let histogram = family.with_label_values(&values);
    histogram.observe(seconds);
    CACHE.with(|cache| {
        if let Ok(mut cache) = cache.try_borrow_mut() {
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
            let route = labels.route.map(Arc::downgrade);
            cache.insert(
                key,
                Entry {
                    histogram,
                    _route: route,
                },
            );
        }
    });
}
