//! What the gateway tells its operators about the traffic it serves: Prometheus metrics, read
//! through the admin listener, recorded by one tower layer on the public listener from what
//! the request path notes in each request's `Exchange`.

mod exchange;
mod layer;
mod metrics;

pub use exchange::Exchange;
pub use layer::ObserveLayer;
pub use metrics::{CONTENT_TYPE, ConnectionMetrics, Metrics};
