//! The googleapis protos every gateway user needs, compiled into the binary.
//!
//! protox ships only `google/protobuf/*`. Users' protos import `google/api/annotations.proto`
//! and friends without shipping them, and error details (`google.rpc.BadRequest`, ...) must
//! decode even when no user proto imports them, so these files are always available.

use protox::Error;
use protox::file::{File, FileResolver};

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
