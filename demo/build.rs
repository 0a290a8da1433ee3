//! Compiles the demo protos without `protoc`: protox parses them, the encoded descriptor set is kept
//! byte-for-byte (so custom options such as `google.api.http` survive for the gateway), and
//! tonic-prost-build generates the demo gRPC clients/servers plus the `google.api`/`google.rpc` types.

use std::{env, fs, path::PathBuf};

/// Entry files; their imports (googleapis + google/protobuf well-known types) are pulled in too.
const PROTO_FILES: &[&str] = &[
    "demo/v1/user.proto",
    "demo/v1/greeter.proto",
    "demo/v1/chat.proto",
    "demo/v1/media.proto",
    "google/rpc/status.proto",
    "google/rpc/error_details.proto",
    "google/rpc/code.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=../proto");

    // The demo's own protos, and the googleapis files the gateway bundles (`../proto`).
    let mut compiler = protox::Compiler::new(["proto", "../proto"])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(PROTO_FILES)?;

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // Written from protox's own encoding: a prost_types round trip would drop the unknown
    // `google.api.http` extension fields on MethodOptions.
    fs::write(
        out_dir.join("demo_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    let mut codegen_set = compiler.file_descriptor_set();
    // googleapis comments contain indented examples that rustdoc would run as doctests (and
    // prost's markdown cleanup is a default feature we leave off), so their docs are not emitted.
    for file in &mut codegen_set.file {
        if file.package().starts_with("google.") {
            file.source_code_info = None;
        }
    }
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(codegen_set)?;
    Ok(())
}
