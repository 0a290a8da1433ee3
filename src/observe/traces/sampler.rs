//! Head sampling, parent first (OpenTelemetry's `ParentBased(TraceIdRatioBased)`): a request
//! with a `traceparent` follows its sampled flag, so a trace is kept or dropped whole; one
//! without is sampled by its trace id against `sample_ratio`, so every replica decides the
//! same way for the same trace.

use super::context::{Parent, TraceId};

#[derive(Debug, Clone, Copy)]
pub struct Sampler {
    /// Trace ids whose low 63 bits fall below this are sampled.
    bound: u64,
}

impl Sampler {
    pub fn new(ratio: f64) -> Self {
        let ratio = ratio.clamp(0.0, 1.0);
        // 2^63 × ratio; exact at both ends, and within one part in 2^53 between.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let bound = if ratio >= 1.0 {
            u64::MAX
        } else {
            (ratio * (1u64 << 63) as f64) as u64
        };
        Self { bound }
    }

    pub fn sampled(&self, parent: Option<&Parent>, trace_id: &TraceId) -> bool {
        if let Some(parent) = parent {
            return parent.sampled;
        }
        let low = u64::from_be_bytes(low_half(trace_id)) >> 1;
        low < self.bound
    }
}

fn low_half(id: &TraceId) -> [u8; 8] {
    let [_, _, _, _, _, _, _, _, low @ ..] = *id;
    low
}

#[cfg(test)]
mod tests {
    use super::super::context::new_trace_id;
    use super::*;

    #[test]
    fn the_ratio_decides_roots_and_the_parent_decides_the_rest() {
        let sampled = |ratio: f64| {
            let sampler = Sampler::new(ratio);
            (0..10_000)
                .filter(|_| sampler.sampled(None, &new_trace_id()))
                .count()
        };
        assert_eq!(sampled(1.0), 10_000);
        assert_eq!(sampled(0.0), 0);
        let tenth = sampled(0.1);
        assert!((800..1200).contains(&tenth), "{tenth}");

        let never = Sampler::new(0.0);
        let parent = Parent {
            trace_id: new_trace_id(),
            span_id: [1; 8],
            sampled: true,
        };
        assert!(never.sampled(Some(&parent), &parent.trace_id));
        let always = Sampler::new(1.0);
        let unsampled = Parent {
            sampled: false,
            ..parent
        };
        assert!(!always.sampled(Some(&unsampled), &parent.trace_id));
    }
}
