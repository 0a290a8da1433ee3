//! The demo services as real gRPC backends in this process, each on its own loopback
//! listener: [`DemoBackend`] as `h2gate demo-backend` serves them (optionally observed through
//! a stream probe), and [`CountingBackend`], h2c or TLS ([`BackendCert`]), counting the
//! requests and connections that reach it, for tests of how the gateway connects to, spreads
//! over and survives its backends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use h2gate_demo::StreamProbe;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::ports::bind_loopback;

/// The demo backend served on its own listener (`h2gate_demo::serve`), stopped on drop.
pub struct DemoBackend {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl DemoBackend {
    pub async fn start() -> Self {
        Self::start_with_probe(StreamProbe::new()).await
    }

    /// Its response streams report to `probe` (`h2gate_demo::serve_with_probe`), which the
    /// test keeps a clone of to observe backpressure and cancellation.
    pub async fn start_with_probe(probe: StreamProbe) -> Self {
        let listener = bind_loopback().await;
        let addr = listener.local_addr().expect("demo backend address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(err) = h2gate_demo::serve_with_probe(listener, shutdown, probe).await {
                eprintln!("demo backend stopped with an error: {err}");
            }
        });
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }
}

impl Drop for DemoBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A private CA and a server certificate it signed, for backends behind TLS.
pub struct BackendCert {
    /// The CA certificate (what an upstream's `ca_cert` names).
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl BackendCert {
    /// A certificate for `localhost` and `127.0.0.1`.
    pub fn generate() -> Self {
        Self::for_names(&["localhost", "127.0.0.1"])
    }

    /// A certificate for `names` (DNS names or IP addresses).
    pub fn for_names(names: &[&str]) -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose,
        };

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "h2gate test CA");
        let ca_key = KeyPair::generate().expect("generate the CA key");
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("self-sign the CA");

        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("server certificate parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "h2gate test backend");
        let key = KeyPair::generate().expect("generate the server key");
        let cert = params
            .signed_by(&key, &*ca)
            .expect("sign the server certificate");
        Self {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A tonic server TLS configuration presenting this certificate.
    pub fn server_tls(&self) -> tonic::transport::ServerTlsConfig {
        tonic::transport::ServerTlsConfig::new().identity(tonic::transport::Identity::from_pem(
            &self.cert_pem,
            &self.key_pem,
        ))
    }
}

/// What a [`CountingBackend`] has seen.
#[derive(Debug, Default)]
pub struct BackendCounts {
    requests: AtomicU64,
    accepted: AtomicU64,
    /// Peer addresses of the connections that carried at least one request.
    request_peers: std::sync::Mutex<std::collections::HashSet<SocketAddr>>,
}

impl BackendCounts {
    /// gRPC requests received.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// TCP connections accepted, including ones that never carried a request (such as the
    /// gateway's reachability probes, which connect and hang up).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Distinct connections that carried at least one request.
    pub fn request_connections(&self) -> usize {
        self.request_peers.lock().expect("request peers lock").len()
    }

    fn record<B>(&self, request: &http::Request<B>) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        // tonic puts the TCP connection's addresses in every request (under TLS too).
        let peer = request
            .extensions()
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(|info| info.remote_addr());
        if let Some(peer) = peer {
            self.request_peers
                .lock()
                .expect("request peers lock")
                .insert(peer);
        }
    }
}

/// The demo services (`h2gate_demo::routes`) on their own listener, h2c or TLS, counting the
/// requests they receive and the connections those arrive on.
pub struct CountingBackend {
    pub addr: SocketAddr,
    pub counts: Arc<BackendCounts>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl CountingBackend {
    /// h2c on an ephemeral loopback port.
    pub async fn start() -> Self {
        Self::serve(bind_loopback().await, None)
    }

    /// TLS with `cert` on an ephemeral loopback port.
    pub async fn start_tls(cert: &BackendCert) -> Self {
        Self::serve(bind_loopback().await, Some(cert.server_tls()))
    }

    /// h2c on an ephemeral loopback port, allowing at most `limit` concurrent streams per
    /// connection (`SETTINGS_MAX_CONCURRENT_STREAMS`), as backends protecting themselves do.
    pub async fn start_with_stream_limit(limit: u32) -> Self {
        Self::serve_with(bind_loopback().await, None, Some(limit))
    }

    /// Serves on `listener` (h2c without `tls`).
    pub fn serve(listener: TcpListener, tls: Option<tonic::transport::ServerTlsConfig>) -> Self {
        Self::serve_with(listener, tls, None)
    }

    fn serve_with(
        listener: TcpListener,
        tls: Option<tonic::transport::ServerTlsConfig>,
        max_concurrent_streams: Option<u32>,
    ) -> Self {
        let addr = listener.local_addr().expect("backend address");
        let counts = Arc::new(BackendCounts::default());
        let accepting = Arc::clone(&counts);
        let incoming = futures_util::stream::unfold(listener, move |listener| {
            let counts = Arc::clone(&accepting);
            async move {
                let accepted = listener.accept().await.map(|(stream, _)| {
                    counts.accepted.fetch_add(1, Ordering::SeqCst);
                    let _ = stream.set_nodelay(true);
                    stream
                });
                Some((accepted, listener))
            }
        });
        let seen = Arc::clone(&counts);
        let count_requests =
            tower::util::MapRequestLayer::new(move |request: http::Request<tonic::body::Body>| {
                seen.record(&request);
                request
            });
        let mut server =
            tonic::transport::Server::builder().max_concurrent_streams(max_concurrent_streams);
        if let Some(tls) = tls {
            server = server.tls_config(tls).expect("backend TLS configuration");
        }
        let router = server
            .layer(count_requests)
            .add_routes(h2gate_demo::routes());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(err) = router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
            {
                eprintln!("counting backend stopped with an error: {err}");
            }
        });
        Self {
            addr,
            counts,
            stop: Some(stop),
            task,
        }
    }

    /// Starts a graceful stop without waiting for it: the listener closes at once, open
    /// connections get a GOAWAY and may finish their calls.
    pub fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Graceful stop: the listener closes at once, open connections get a GOAWAY and are
    /// waited for (up to 5 s, then dropped).
    pub async fn stop(mut self) {
        self.begin_stop();
        if tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Drop for CountingBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}
