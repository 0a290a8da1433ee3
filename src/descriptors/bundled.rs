//! The googleapis protos every gateway user needs, compiled into the binary.
//!
//! protox ships only `google/protobuf/*`. Users' protos import `google/api/annotations.proto`
//! and friends without shipping them, and error details (`google.rpc.BadRequest`, ...) must
//! decode even when no user proto imports them, so these files are always available.

use std::path::Path;

use prost_reflect::DescriptorPool;
use protox::Error;
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

/// (import name, source) of each bundled file.
pub const FILES: &[(&str, &str)] = &[
    (
        "google/api/annotations.proto",
        include_str!("../../proto/google/api/annotations.proto"),
    ),
    (
        "google/api/http.proto",
        include_str!("../../proto/google/api/http.proto"),
    ),
    (
        "google/api/httpbody.proto",
        include_str!("../../proto/google/api/httpbody.proto"),
    ),
    (
        "google/rpc/code.proto",
        include_str!("../../proto/google/rpc/code.proto"),
    ),
    (
        "google/rpc/status.proto",
        include_str!("../../proto/google/rpc/status.proto"),
    ),
    (
        "google/rpc/error_details.proto",
        include_str!("../../proto/google/rpc/error_details.proto"),
    ),
];

/// Resolves the bundled files by import name; everything else is "not found" so the next
/// resolver in the chain gets its turn.
pub struct BundledResolver;

impl FileResolver for BundledResolver {
    fn open_file(&self, name: &str) -> Result<File, Error> {
        match FILES.iter().find(|(file, _)| *file == name) {
            Some((file, source)) => File::from_source(file, source),
            None => Err(Error::file_not_found(name)),
        }
    }
}

/// The import name of the bundled file that defines `name` (a message, enum or extension by
/// its full name), for hints when a proto uses it without importing it. Compiles the bundled
/// files again: it runs only when compiling the user's protos has already failed.
pub fn defining_file(name: &str) -> Option<String> {
    let mut resolver = ChainFileResolver::new();
    resolver.add(BundledResolver);
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler
        .open_files(FILES.iter().map(|(file, _)| Path::new(*file)))
        .ok()?;
    let pool: DescriptorPool = compiler.descriptor_pool();
    let file = pool
        .get_message_by_name(name)
        .map(|message| message.parent_file())
        .or_else(|| pool.get_enum_by_name(name).map(|e| e.parent_file()))
        .or_else(|| pool.get_extension_by_name(name).map(|e| e.parent_file()))?;
    let file = file.name();
    // Only the files h2gate bundles; `google/protobuf/*` are found without a hint's help.
    FILES
        .iter()
        .find(|(bundled, _)| *bundled == file)
        .map(|(bundled, _)| (*bundled).to_owned())
}
