//! Reading a config file and turning TOML errors into messages with file and line.

use std::path::{Path, PathBuf};

use super::Config;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}:{line}:{column}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// Loads and parses the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

/// Parses config text; `origin` names it in error messages (a file path, or "embedded default").
pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let mut config: Config = toml::from_str(text).map_err(|err| {
        let (line, column) = err
            .span()
            .map(|span| line_and_column(text, span.start))
            .unwrap_or((1, 1));
        ConfigError::Syntax {
            origin: origin.to_owned(),
            line,
            column,
            message: err.message().trim().to_owned(),
        }
    })?;
    config.source = super::Source::new(origin, text);
    config.validate().map_err(|message| ConfigError::Invalid {
        origin: origin.to_owned(),
        message,
    })?;
    Ok(config)
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses() {
        let config = parse(super::super::EMBEDDED_DEFAULT, "embedded").unwrap();
        assert!(config.demo.embedded);
        assert_eq!(config.server.listen.port(), 8443);
    }

    #[test]
    fn unknown_key_reports_its_line() {
        let err = parse("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n", "t.toml").unwrap_err();
        match err {
            ConfigError::Syntax { line, message, .. } => {
                assert_eq!(line, 3);
                assert!(message.contains("lisen"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn tls_cert_without_key_is_invalid() {
        let err = parse("[server]\ntls_cert = \"a.pem\"\n", "t.toml").unwrap_err();
        assert!(err.to_string().contains("tls_key"), "{err}");
    }

    #[test]
    fn upstream_needs_endpoints_with_scheme() {
        let text =
            "[[upstreams]]\nname = \"u\"\nendpoints = [\"127.0.0.1:1\"]\nservices = [\"*\"]\n";
        let err = parse(text, "t.toml").unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
    }
}
