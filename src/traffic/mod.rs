//! Which upstream serves a call: by default the one whose `services` name the method's
//! service; for methods a `[[traffic]]` rule covers, its policy decides per request (header
//! overrides first, then the weights, sticky by `hash_header` when the request has it).

mod compile;
mod policy;

pub use compile::{TrafficTable, compile};
