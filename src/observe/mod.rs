//! What the gateway tells its operators about the traffic it serves: Prometheus metrics (read
//! through the admin listener) and the access log, both recorded by one tower layer on the
//! public listener from what the request path notes in each request's `Exchange`.

mod access_log;
mod duration_cache;
mod exchange;
mod layer;
mod metrics;
mod record;
mod traces;

pub use access_log::{AccessLog, AccessLogGuard};
pub use exchange::Exchange;
pub use layer::{Observe, ObserveLayer};
pub use metrics::{CONTENT_TYPE, ConnectionMetrics, Metrics};
pub use record::Recorder;
pub use traces::Tracer;
