//! A tiny HTTP/2 client that writes frames byte by byte, for the attacks a conforming client
//! library refuses to express (a header block that never ends, a stream reset the moment it
//! opens, acknowledgements never read). Frames are built as plain bytes (`frames`) and
//! written to and read from a connection of their own (`connection`), over h2c (prior
//! knowledge) or TLS (ALPN `h2`). Tests use it by this module's path: `raw_h2::headers(...)`,
//! `raw_h2::connect(...)`.

mod connection;
mod frames;

pub use connection::*;
pub use frames::*;
