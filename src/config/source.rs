//! Where the configuration comes from: a file, `config/gateway.toml` if it exists, or the
//! default compiled into the binary; plus `--listen`. Kept by the running gateway, so that a
//! reload reads the same place again.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::{Config, EMBEDDED_DEFAULT, load, parse};

const DEFAULT_CONFIG: &str = "config/gateway.toml";

#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// `--config`; without it `config/gateway.toml`, or the embedded default if that file
    /// does not exist.
    pub path: Option<PathBuf>,
    /// `--listen`, which replaces `[server] listen`.
    pub listen: Option<SocketAddr>,
}

impl ConfigSource {
    pub fn load(&self) -> Result<Config, String> {
        let loaded = match &self.path {
            Some(path) => load(path),
            None if Path::new(DEFAULT_CONFIG).exists() => load(Path::new(DEFAULT_CONFIG)),
            None => {
                tracing::info!(
                    "{DEFAULT_CONFIG} not found; using the embedded default configuration"
                );
                parse(EMBEDDED_DEFAULT, "embedded default configuration")
            }
        };
        let mut config = loaded.map_err(|err| err.to_string())?;
        if let Some(listen) = self.listen {
            config.server.listen = listen;
        }
        Ok(config)
    }
}
