//! Where an endpoint is and how to speak to it, resolved from its URI at start-up: what the
//! endpoint's connection attempts and log lines use.

use std::sync::Arc;

use http::uri::{Authority, Scheme};
use tokio_rustls::TlsConnector;

/// Where an endpoint is and how to speak to it.
#[derive(Clone)]
pub struct Target {
    pub scheme: Scheme,
    pub authority: Authority,
    /// What to connect to: the host without IPv6 brackets, and the port (the scheme's default
    /// when the URI has none).
    pub host: Box<str>,
    pub port: u16,
    /// `Some` for `https://` endpoints.
    pub tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
    /// The upstream's name, for logs and error messages.
    pub upstream: Arc<str>,
}
