//! Why the gateway itself turned a request away, as `h2gate_rejected_total{reason}` counts it.
//! A backend's error is never a rejection: only limits and checks of the gateway's own are.

/// One reason; `label` is the metric's label value (a fixed, small set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    BodyTooLarge,
    RateLimited,
    CircuitOpen,
    Overload,
    BadRequest,
}

impl Rejection {
    pub const ALL: [Rejection; 5] = [
        Rejection::BodyTooLarge,
        Rejection::RateLimited,
        Rejection::CircuitOpen,
        Rejection::Overload,
        Rejection::BadRequest,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Rejection::BodyTooLarge => "body_too_large",
            Rejection::RateLimited => "rate_limited",
            Rejection::CircuitOpen => "circuit_open",
            Rejection::Overload => "overload",
            Rejection::BadRequest => "bad_request",
        }
    }
}
