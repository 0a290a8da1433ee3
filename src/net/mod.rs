//! Socket adapters shared by the listener and the upstream connections.

mod write_coalescing;

pub use write_coalescing::CoalescingStream;
