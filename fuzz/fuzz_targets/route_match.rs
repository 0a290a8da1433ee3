//! Route matching of random requests against the fuzz and demo route tables, then the path
//! bindings transcoded. Input: `METHOD TARGET` (no space: a GET of the whole input).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (method, target) = text.split_once(' ').unwrap_or(("GET", text));
    if let Err(mismatch) = common::fixture().match_path(method, target) {
        panic!("{mismatch}");
    }
});
