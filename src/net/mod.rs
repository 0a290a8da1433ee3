//! Socket adapters shared by the listener and the upstream connections.

mod read_filter;
mod write_coalescing;

pub use read_filter::{Filtered, ReadFilter};
pub use write_coalescing::CoalescingStream;
