//! TLS toward the gateway, which presents a self-signed certificate of its own making: a
//! connector that accepts it (while still checking the handshake signatures) with the ALPN
//! offer a test chooses, and the handshake every TLS client here performs. Shared by the
//! HTTP client, the streaming and WebSocket clients, the raw HTTP/2 frame writer, and tests
//! that speak bytes over TLS themselves.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::waiting::REQUEST_TIMEOUT;

/// Accepts whatever certificate the gateway presents (it generates a self-signed one), but
/// still checks the handshake signatures, so the TLS session is real. Test-only.
#[derive(Debug)]
struct AcceptGatewayCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptGatewayCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub fn tls_connector(alpn: &[&[u8]]) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptGatewayCert(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// Connects to the gateway at `addr` and completes a TLS handshake offering `alpn`.
pub async fn tls_handshake(addr: SocketAddr, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect to gateway");
    tls_handshake_over(tcp, alpn).await
}

/// A TLS handshake offering `alpn` over an open connection to the gateway, within
/// [`REQUEST_TIMEOUT`].
pub async fn tls_handshake_over(tcp: TcpStream, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let name = ServerName::try_from("localhost").expect("server name");
    tokio::time::timeout(REQUEST_TIMEOUT, tls_connector(alpn).connect(name, tcp))
        .await
        .expect("TLS handshake timed out")
        .expect("TLS handshake with the gateway")
}
