//! rustls server configuration: the operator's PEM files, or a self-signed development
//! certificate generated at start-up when none are given.
//!
//! The ring provider is passed explicitly: with more than one provider compiled in,
//! rustls cannot pick a process default and `ServerConfig::builder()` would panic.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::ring;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{InconsistentKeys, ServerConfig};

/// What went wrong, naming the `[server]` key whose file is at fault: `h2gate check` and
/// start-up report these as they are.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("[server] tls_cert {path}: {message}")]
    Cert { path: PathBuf, message: String },
    #[error("[server] tls_key {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("[server] tls_cert {cert} with tls_key {key}: {message}")]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error("generating a development certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("building the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Which certificate the listener presents (logged at start-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    Files {
        cert: PathBuf,
    },
    /// Generated for localhost, 127.0.0.1 and ::1; browsers and curl need `-k`.
    SelfSigned,
}

/// Builds the server config; ALPN offers `h2` first, then `http/1.1`.
pub fn server_config(
    files: Option<(&Path, &Path)>,
) -> Result<(Arc<ServerConfig>, CertSource), TlsError> {
    let builder = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth();
    let (mut config, source) = match files {
        Some((cert, key)) => {
            let config = builder
                .with_single_cert(read_chain(cert)?, read_key(key)?)
                // A key that is not the certificate's, or of a kind ring cannot use.
                .map_err(|err| TlsError::Pair {
                    cert: cert.to_owned(),
                    key: key.to_owned(),
                    message: match err {
                        rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => {
                            "the private key is not the certificate's".into()
                        }
                        other => other.to_string(),
                    },
                })?;
            let source = CertSource::Files {
                cert: cert.to_owned(),
            };
            (config, source)
        }
        None => {
            let (chain, key) = self_signed()?;
            (
                builder.with_single_cert(chain, key)?,
                CertSource::SelfSigned,
            )
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), source))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |message: String| TlsError::Cert {
        path: path.to_owned(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(pem_message(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(pem_message(e)))?;
    if chain.is_empty() {
        return Err(err(
            "no CERTIFICATE block found (is this the private key?)".into()
        ));
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Key {
        path: path.to_owned(),
        message: match e {
            pem::Error::NoItemsFound => {
                "no PRIVATE KEY block found (is this the certificate?)".into()
            }
            other => pem_message(other),
        },
    })
}

/// A PEM reading error as a sentence; an I/O error as the OS says it (no "I/O error:" prefix).
fn pem_message(err: pem::Error) -> String {
    match err {
        pem::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

fn self_signed() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    let certified = rcgen::generate_simple_self_signed(names)?;
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    Ok((vec![certified.cert.der().clone()], key.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_offers_h2_then_http11() {
        let (config, source) = server_config(None).unwrap();
        assert_eq!(source, CertSource::SelfSigned);
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn missing_files_name_the_path() {
        let err =
            server_config(Some((Path::new("no/cert.pem"), Path::new("no/key.pem")))).unwrap_err();
        assert!(err.to_string().contains("no/cert.pem"), "{err}");
    }
}
