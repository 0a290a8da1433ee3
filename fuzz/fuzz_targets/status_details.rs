//! `grpc-status-details-bin` decoding into the gateway's error response. Input: the code
//! byte, then the raw details.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(mismatch) = common::fixture().status_details(data) {
        panic!("{mismatch}");
    }
});
