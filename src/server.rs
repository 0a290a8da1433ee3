//! Starting and stopping a whole gateway: embedded demo, plan, upstream channels, TLS,
//! listener, readiness. `h2gate serve` and the integration tests both go through `start`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::gateway::{Gateway, Plan};
use crate::health::{Phase, Readiness};
use crate::listener::{self, CertSource, ConnectionLimits};
use crate::upstream::{self, Upstreams};
use crate::{app, demo};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Upstream(#[from] upstream::UpstreamError),
    #[error(transparent)]
    Tls(#[from] listener::TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// How long the embedded demo gets to finish open streams once the gateway has drained.
const DEMO_STOP_GRACE: Duration = Duration::from_secs(2);

/// A gateway serving in the background of the current runtime.
pub struct RunningGateway {
    pub local_addr: SocketAddr,
    /// Whether the listener speaks TLS.
    pub tls: bool,
    pub cert_source: Option<CertSource>,
    pub readiness: Arc<Readiness>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    prober: JoinHandle<()>,
    demo: Option<EmbeddedDemo>,
}

struct EmbeddedDemo {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Starts everything `config` describes; returns once the listener accepts connections.
pub async fn start(config: &Config) -> Result<RunningGateway, StartError> {
    let demo = if config.demo.embedded {
        Some(start_demo().await?)
    } else {
        None
    };
    let demo_endpoint = demo.as_ref().map(|(_, endpoint)| endpoint.as_str());
    let plan = Plan::build(config, demo_endpoint).map_err(StartError::Invalid)?;
    let upstreams = Upstreams::connect(&plan.upstreams)?;

    let (acceptor, cert_source) = if config.server.plaintext {
        (None, None)
    } else {
        let files = config
            .server
            .tls_cert
            .as_deref()
            .zip(config.server.tls_key.as_deref());
        let (tls, source) = listener::server_config(files)?;
        (Some(TlsAcceptor::from(tls)), Some(source))
    };
    let addr = config.server.listen;
    let tcp = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local_addr = tcp
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;

    let readiness = Readiness::new(upstreams.clone());
    let prober = upstream::spawn_prober(upstreams.clone());
    let tls = acceptor.is_some();
    let gateway = Gateway::new(plan, upstreams, tls);
    let router = app::router(gateway, Arc::clone(&readiness), config.demo.embedded);
    let limits = ConnectionLimits {
        max_header_bytes: config.limits.max_header_bytes,
        max_concurrent_streams: config.limits.max_concurrent_streams,
    };
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        listener::serve(tcp, acceptor, router, limits, shutdown, grace).await;
    });
    readiness.set(Phase::Serving);
    Ok(RunningGateway {
        local_addr,
        tls,
        cert_source,
        readiness,
        stop: Some(stop),
        server,
        prober,
        demo: demo.map(|(demo, _)| demo),
    })
}

impl RunningGateway {
    /// Marks the gateway as draining, stops accepting, lets requests finish, stops the demo.
    pub async fn shutdown(mut self) {
        self.readiness.set(Phase::Draining);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.server).await;
        self.prober.abort();
        if let Some(mut demo) = self.demo.take() {
            let _ = demo.stop.send(());
            // The demo's graceful stop waits for open streams, which a client may hold forever.
            if tokio::time::timeout(DEMO_STOP_GRACE, &mut demo.task)
                .await
                .is_err()
            {
                demo.task.abort();
            }
        }
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        self.server.abort();
        self.prober.abort();
        if let Some(demo) = &self.demo {
            demo.task.abort();
        }
    }
}

async fn start_demo() -> Result<(EmbeddedDemo, String), StartError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let tcp = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local = tcp
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        if let Err(err) = demo::serve(tcp, shutdown).await {
            tracing::error!(error = %err, "embedded demo services stopped");
        }
    });
    Ok((EmbeddedDemo { stop, task }, format!("http://{local}")))
}
