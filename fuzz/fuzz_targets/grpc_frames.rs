//! A scripted backend's reply (head, gRPC message frames, trailers, status details) read by
//! the gateway's upstream side over a real loopback HTTP/2 connection. Input layout: see
//! `h2gate::fuzzing::UpstreamFixture`.
#![no_main]

mod common;

use std::sync::OnceLock;

use h2gate::fuzzing::UpstreamFixture;
use libfuzzer_sys::fuzz_target;

fn upstream() -> &'static UpstreamFixture {
    static UPSTREAM: OnceLock<UpstreamFixture> = OnceLock::new();
    UPSTREAM.get_or_init(|| {
        UpstreamFixture::start(common::load())
            .unwrap_or_else(|err| panic!("the fuzz backend does not start: {err}"))
    })
}

fuzz_target!(|data: &[u8]| {
    if let Err(mismatch) = upstream().grpc_frames(data) {
        panic!("{mismatch}");
    }
});
