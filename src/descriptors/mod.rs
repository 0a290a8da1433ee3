//! Loading the descriptors of the services the gateway fronts, once, at start-up.
//!
//! Sources, merged into one `DescriptorPool`: the bundled googleapis files, `.proto` files
//! compiled in-process by protox, FileDescriptorSet files, and the demo services' embedded
//! set. Pools are built from encoded bytes or by protox directly, never through
//! `prost_types`, which would drop the `google.api.http` extension options.

mod bundled;

use std::path::{Path, PathBuf};

use prost_reflect::DescriptorPool;
use protox::file::{ChainFileResolver, GoogleFileResolver, IncludeFileResolver};

use crate::config::DescriptorsConfig;

#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    #[error("compiling protos: {0}")]
    Compile(String),
    #[error("reading descriptor set {path}: {source}")]
    ReadSet {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("descriptor set {origin}: {message}")]
    BadSet { origin: String, message: String },
}

/// Builds the pool from the config, plus any extra encoded FileDescriptorSets (the demo's).
pub fn load(
    config: &DescriptorsConfig,
    extra_sets: &[(&str, &[u8])],
) -> Result<DescriptorPool, DescriptorError> {
    let mut pool = compile_protos(&config.include, &config.protos)?;
    for path in &config.descriptor_sets {
        let bytes = std::fs::read(path).map_err(|source| DescriptorError::ReadSet {
            path: path.clone(),
            source,
        })?;
        add_set(&mut pool, &path.display().to_string(), &bytes)?;
    }
    for (origin, bytes) in extra_sets {
        add_set(&mut pool, origin, bytes)?;
    }
    Ok(pool)
}

fn compile_protos(
    include: &[PathBuf],
    protos: &[PathBuf],
) -> Result<DescriptorPool, DescriptorError> {
    let mut resolver = ChainFileResolver::new();
    for root in include {
        resolver.add(IncludeFileResolver::new(root.clone()));
    }
    resolver.add(bundled::BundledResolver);
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    let always = bundled::FILES.iter().map(|(name, _)| Path::new(*name));
    compiler
        .open_files(always.chain(protos.iter().map(PathBuf::as_path)))
        .map_err(|err| DescriptorError::Compile(err.to_string()))?;
    Ok(compiler.descriptor_pool())
}

fn add_set(pool: &mut DescriptorPool, origin: &str, bytes: &[u8]) -> Result<(), DescriptorError> {
    pool.decode_file_descriptor_set(bytes)
        .map_err(|err| DescriptorError::BadSet {
            origin: origin.to_owned(),
            message: err.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_files_are_always_in_the_pool() {
        let pool = load(&DescriptorsConfig::default(), &[]).unwrap();
        for name in [
            "google.api.HttpRule",
            "google.api.HttpBody",
            "google.rpc.Status",
            "google.rpc.BadRequest",
        ] {
            assert!(pool.get_message_by_name(name).is_some(), "{name}");
        }
        assert!(pool.get_extension_by_name("google.api.http").is_some());
    }

    #[test]
    fn missing_proto_is_an_error_naming_it() {
        let config = DescriptorsConfig {
            protos: vec!["nope/missing.proto".into()],
            ..Default::default()
        };
        let err = load(&config, &[]).unwrap_err();
        assert!(err.to_string().contains("nope/missing.proto"), "{err}");
    }
}
