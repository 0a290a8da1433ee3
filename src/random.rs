//! Fast, non-cryptographic random numbers for spreading load (endpoint picks, weighted splits,
//! backoff jitter): xorshift64* per thread, seeded from the clock and a counter so that
//! threads and processes differ. Nothing here is a secret.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    static THREADS: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()) ^ d.as_secs());
    let thread = THREADS.fetch_add(1, Ordering::Relaxed);
    // Never zero (xorshift's one fixed point).
    (nanos ^ thread.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1
}

/// The next random 64-bit number of this thread.
pub fn next_u64() -> u64 {
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

/// A number in `[0, bound)` (`bound` > 0; 0 for 0).
pub fn below(bound: u64) -> u64 {
    if bound == 0 {
        return 0;
    }
    // Multiply-shift: unbiased enough for load spreading, and no division.
    ((u128::from(next_u64()) * u128::from(bound)) >> 64) as u64
}

/// A number in `[0, 1)`.
pub fn unit() -> f64 {
    // 53 random bits, exactly representable.
    (next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_below_and_covers_the_range() {
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            let n = below(10);
            assert!(n < 10);
            seen[n as usize] += 1;
        }
        assert!(seen.iter().all(|&count| count > 800), "{seen:?}");
        assert_eq!(below(0), 0);
    }

    #[test]
    fn unit_is_in_range() {
        for _ in 0..1000 {
            let x = unit();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
