//! The seam through which a call's attempts are traced: the gateway's tracer (in `observe`)
//! implements `AttemptTracer`, and each attempt, just before it is sent, gets the
//! `traceparent` to carry and a span that ends with it (`InFlight`). The upstream side knows
//! nothing of spans or exporters.

use std::sync::Arc;

use http::HeaderValue;
use tonic::Code;

/// Starts a span per attempt of one call.
pub trait AttemptTracer: Send + Sync {
    /// Attempt `number` (from 1) of the call is about to go to `endpoint` with a request of
    /// `request_bytes` (0 for a stream): the `traceparent` it carries, and its span.
    fn start(
        &self,
        number: u32,
        endpoint: &Arc<str>,
        request_bytes: usize,
    ) -> (HeaderValue, Box<dyn AttemptSpan>);
}

/// One attempt's span, ended once with how the attempt ended.
pub trait AttemptSpan: Send + Sync {
    fn end(self: Box<Self>, code: Code);
}
