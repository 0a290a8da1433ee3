//! A JSON request body decoded into the input message of every body route shape.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(mismatch) = common::fixture().json_into(data) {
        panic!("{mismatch}");
    }
});
