//! `google.api.http` path templates: parsing, and the canonical form parsing back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(mismatch) = h2gate::fuzzing::path_template(text) {
        panic!("{mismatch}");
    }
});
