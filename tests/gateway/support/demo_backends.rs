//! The demo services as real gRPC backends in this process, each on its own loopback
//! listener: [`DemoBackend`] as `h2gate demo-backend` serves them (optionally observed through
//! a stream probe), and [`CountingBackend`], h2c or TLS ([`BackendCert`]), counting the
//! requests and connections that reach it ([`BackendCounts`]), for tests of how the gateway
//! connects to, spreads over and survives its backends; as [`BackendOptions`] say, it runs
//! either demo version, answers health checks from a handle the test keeps, and can be slow.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use h2gate_demo::{ServeOptions, StreamProbe, UserStore};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::backend_counts::{BackendCounts, Observed};
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

/// How a [`CountingBackend`] serves, beyond h2c or TLS.
#[derive(Debug, Clone, Default)]
pub struct BackendOptions {
    /// The demo's version, and the health statuses it answers with (the test keeps a clone of
    /// `demo.health` to flip them).
    pub demo: ServeOptions,
    /// Every reply's head is held back this long: a slow backend.
    pub reply_delay: Duration,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`, as backends protecting themselves set it.
    pub max_concurrent_streams: Option<u32>,
}

/// The demo services (`h2gate_demo::routes_with`) on their own listener, h2c or TLS, counting
/// the requests they receive and the connections those arrive on.
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
        Self::start_with(BackendOptions {
            max_concurrent_streams: Some(limit),
            ..BackendOptions::default()
        })
        .await
    }

    /// h2c on an ephemeral loopback port, as `options` say.
    pub async fn start_with(options: BackendOptions) -> Self {
        Self::serve_with(bind_loopback().await, None, options)
    }

    /// Serves on `listener` (h2c without `tls`).
    pub fn serve(listener: TcpListener, tls: Option<tonic::transport::ServerTlsConfig>) -> Self {
        Self::serve_with(listener, tls, BackendOptions::default())
    }

    /// Serves on `listener` (h2c without `tls`) as `options` say.
    fn serve_with(
        listener: TcpListener,
        tls: Option<tonic::transport::ServerTlsConfig>,
        options: BackendOptions,
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
        let delay = options.reply_delay;
        let observe = tower::layer::layer_fn(move |inner| Observed {
            inner,
            counts: Arc::clone(&seen),
            delay,
        });
        let mut server = tonic::transport::Server::builder()
            .max_concurrent_streams(options.max_concurrent_streams);
        if let Some(tls) = tls {
            server = server.tls_config(tls).expect("backend TLS configuration");
        }
        let routes = h2gate_demo::routes_with(Arc::new(UserStore::seeded()), &options.demo);
        let router = server.layer(observe).add_routes(routes);
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
