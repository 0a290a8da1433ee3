//! Loading the descriptors of the services the gateway fronts, once, at start-up.
//!
//! Sources, merged into one `DescriptorPool`: the bundled googleapis files, `.proto` files
//! compiled in-process by protox, FileDescriptorSet files, and the demo services' embedded
//! set. Pools are built from encoded bytes or by protox directly, never through
//! `prost_types`, which would drop the `google.api.http` extension options.

mod bundled;
mod compile_error;

use std::path::{Path, PathBuf};

use prost_reflect::DescriptorPool;
use protox::file::{ChainFileResolver, GoogleFileResolver, IncludeFileResolver};

use crate::config::DescriptorsConfig;

#[derive(Debug, thiserror::Error)]
pub enum DescriptorError {
    /// One entry per problem, each naming its file (and line and column when known).
    #[error("{}", .0.join("\n"))]
    Compile(Vec<String>),
    #[error("reading descriptor set {path}: {source}")]
    ReadSet {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("descriptor set {origin}: {message}")]
    BadSet { origin: String, message: String },
}

impl DescriptorError {
    /// Each problem on its own (a compile error can hold several).
    pub fn problems(&self) -> Vec<String> {
        match self {
            Self::Compile(problems) => problems.clone(),
            other => vec![other.to_string()],
        }
    }
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
        .map_err(|err| DescriptorError::Compile(compile_error::render(&err, include)))?;
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

    /// A temp directory of `.proto` files (an import root), removed on drop.
    struct ProtoRoot(PathBuf);

    impl ProtoRoot {
        fn with(files: &[(&str, &str)]) -> Self {
            static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let unique = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let root = std::env::temp_dir().join(format!(
                "h2gate-descriptors-{}-{unique}",
                std::process::id()
            ));
            for (name, text) in files {
                let path = root.join(name);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            Self(root)
        }

        fn compile(&self, protos: &[&str]) -> String {
            let config = DescriptorsConfig {
                include: vec![self.0.clone()],
                protos: protos.iter().map(PathBuf::from).collect(),
                ..Default::default()
            };
            load(&config, &[]).unwrap_err().to_string()
        }

        fn path(&self, name: &str) -> String {
            self.0.join(name).display().to_string()
        }
    }

    impl Drop for ProtoRoot {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_syntax_error_names_file_line_and_column() {
        let text = "syntax = \"proto3\";\npackage acme.v1;\n\nmessage Book {\n  string name = 1\n  string title = 2;\n}\n";
        let root = ProtoRoot::with(&[("acme/v1/book.proto", text)]);
        let err = root.compile(&["acme/v1/book.proto"]);
        let at = format!("{}:6:3: ", root.path("acme/v1/book.proto"));
        assert!(err.contains(&at), "{at:?} in {err}");
        assert!(err.contains("expected ';'"), "{err}");
    }

    #[test]
    fn an_annotation_without_its_import_names_the_import() {
        let text = concat!(
            "syntax = \"proto3\";\npackage acme.v1;\n\n",
            "service Library {\n",
            "  rpc GetBook(GetBookRequest) returns (GetBookRequest) {\n",
            "    option (google.api.http) = { get: \"/v1/{name=books/*}\" };\n",
            "  }\n}\n\n",
            "message GetBookRequest { string name = 1; }\n",
        );
        let root = ProtoRoot::with(&[("acme/v1/library.proto", text)]);
        let err = root.compile(&["acme/v1/library.proto"]);
        let at = format!("{}:6:5: ", root.path("acme/v1/library.proto"));
        assert!(err.contains(&at), "{at:?} in {err}");
        assert!(err.contains("'google.api.http' is not defined"), "{err}");
        assert!(
            err.contains("import \"google/api/annotations.proto\";"),
            "{err}"
        );
    }

    #[test]
    fn every_problem_of_a_file_is_reported_with_its_line() {
        let text = concat!(
            "syntax = \"proto3\";\npackage acme.v1;\n\n",
            "message A { Missing one = 1; }\n",
            "message B { AlsoMissing two = 1; }\n",
        );
        let root = ProtoRoot::with(&[("acme/v1/two.proto", text)]);
        let config = DescriptorsConfig {
            include: vec![root.0.clone()],
            protos: vec!["acme/v1/two.proto".into()],
            ..Default::default()
        };
        let problems = load(&config, &[]).unwrap_err().problems();
        let file = root.path("acme/v1/two.proto");
        assert_eq!(
            problems,
            [
                format!("{file}:4:13: name 'Missing' is not defined"),
                format!("{file}:5:13: name 'AlsoMissing' is not defined"),
            ]
        );
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
