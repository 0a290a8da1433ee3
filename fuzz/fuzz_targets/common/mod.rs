//! The fixture every descriptor-using target shares, built once per fuzzing process.

use std::path::Path;
use std::sync::OnceLock;

use h2gate::fuzzing::Fixture;

/// The gateway's plan for `fuzz/proto/fuzz/v1/everything.proto` and the demo's protos.
#[allow(dead_code)] // grpc_frames builds its own fixture from `load`
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(load)
}

pub fn load() -> Fixture {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let demo = fuzz.join("../demo/proto");
    // A fixture that does not load is the harness's fault, not a finding: stop loudly.
    Fixture::load(&fuzz.join("proto"), &demo)
        .unwrap_or_else(|problems| panic!("the fuzz fixture does not load:\n{problems}"))
}
