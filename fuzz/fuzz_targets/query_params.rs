//! A query string applied to the input message of every body-less route shape.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(mismatch) = common::fixture().query_into(query) {
        panic!("{mismatch}");
    }
});
