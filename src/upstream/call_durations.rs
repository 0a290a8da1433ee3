//! `h2gate_upstream_call_duration_seconds` for one endpoint: each attempt's duration, from
//! the moment the call picked the endpoint until it ended, under the gRPC status it ended
//! with. The histogram of each status is resolved on first use (no label lookup per call
//! after that) and leaves the exposition when the endpoint does (discovery dropped it).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus::{Histogram, HistogramVec};
use tonic::Code;

use crate::errors::code_number;

/// gRPC has 17 status codes.
const CODES: usize = 17;

pub struct CallDurations {
    /// The gateway's histogram family; none where nothing is measured (`h2gate check`).
    family: Option<HistogramVec>,
    upstream: Arc<str>,
    endpoint: Arc<str>,
    by_code: [OnceLock<Histogram>; CODES],
}

impl CallDurations {
    pub fn new(family: Option<HistogramVec>, upstream: Arc<str>, endpoint: Arc<str>) -> Self {
        Self {
            family,
            upstream,
            endpoint,
            by_code: Default::default(),
        }
    }

    pub fn observe(&self, code: Code, took: Duration) {
        let Some(family) = &self.family else {
            return;
        };
        let index = usize::try_from(code as i32).unwrap_or(usize::MAX);
        let Some(slot) = self.by_code.get(index) else {
            return;
        };
        let histogram = slot.get_or_init(|| {
            family.with_label_values(&[&*self.upstream, &*self.endpoint, code_number(code)])
        });
        histogram.observe(took.as_secs_f64());
    }
}

impl Drop for CallDurations {
    fn drop(&mut self) {
        let Some(family) = &self.family else {
            return;
        };
        for (index, slot) in self.by_code.iter().enumerate() {
            if slot.get().is_some() {
                let code = Code::from(i32::try_from(index).unwrap_or(2));
                let labels = [&*self.upstream, &*self.endpoint, code_number(code)];
                let _ = family.remove_label_values(&labels);
            }
        }
    }
}
