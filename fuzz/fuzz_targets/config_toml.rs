//! The TOML config loader, and what start-up derives from a config without reading files.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    common::fixture().config_toml(text);
});
