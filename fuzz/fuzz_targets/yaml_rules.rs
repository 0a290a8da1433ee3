//! grpc-gateway style YAML rule files, loaded and resolved into a route table.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Writing the input to its temporary file is the harness's job: failing there is no finding.
    if let Err(err) = common::fixture().yaml_rules(text) {
        panic!("harness: {err}");
    }
});
