//! Differential: reply bytes through the direct protobuf-to-JSON writer and the general
//! prost-reflect path must give the same JSON value.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(mismatch) = common::fixture().wire_to_json_differential(data) {
        panic!("{mismatch}");
    }
});
