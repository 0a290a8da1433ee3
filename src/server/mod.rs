//! Starting and stopping a whole gateway: embedded demo, plan, TLS, listening sockets, worker
//! threads (each with its own upstream connections), readiness. `h2gate serve` and the
//! integration tests both go through `start`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::demo;
use crate::gateway::{Plan, problem_list};
use crate::health::{Phase, Readiness};
use crate::listener::{self, CertSource, ConnectionLimits};
use crate::upstream;
use workers::{WorkerSpec, Workers};

mod listen;
mod workers;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration:\n{}", problem_list(.0))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Upstream(#[from] upstream::UpstreamError),
    #[error(transparent)]
    Tls(#[from] listener::TlsError),
    #[error("cannot start a worker thread: {0}")]
    Worker(String),
    #[error(
        "cannot listen on {addr}: address already in use: another process (another h2gate?) \
         listens there; stop it, or set [server] reuse_port = true in both to share the address"
    )]
    AddrInUse { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// How long the embedded demo gets to finish open streams once the gateway has drained.
const DEMO_STOP_GRACE: Duration = Duration::from_secs(2);

/// A gateway serving on its worker threads; the prober and embedded demo run on the runtime
/// that started it.
pub struct RunningGateway {
    pub local_addr: SocketAddr,
    /// Whether the listener speaks TLS.
    pub tls: bool,
    pub cert_source: Option<CertSource>,
    pub readiness: Arc<Readiness>,
    workers: Workers,
    prober: JoinHandle<()>,
    demo: Option<EmbeddedDemo>,
}

struct EmbeddedDemo {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Drop for EmbeddedDemo {
    /// Also when start-up fails after the demo started: nothing of a gateway that did not
    /// start keeps running.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts everything `config` describes; returns once the listener accepts connections.
pub async fn start(config: &Config) -> Result<RunningGateway, StartError> {
    // First, so that an address someone else holds fails start-up before anything else runs.
    let addr = config.server.listen;
    let listeners = listen::bind(
        addr,
        worker_count(config.server.workers),
        config.server.reuse_port,
    )
    .map_err(|source| bind_error(addr, source))?;
    let local_addr = listeners
        .sockets
        .first()
        .map_or(Ok(addr), std::net::TcpListener::local_addr)
        .map_err(|source| bind_error(addr, source))?;

    let demo = if config.demo.embedded {
        Some(start_demo().await?)
    } else {
        None
    };
    let demo_endpoint = demo.as_ref().map(|(_, endpoint)| endpoint.as_str());
    let plan = Plan::build(config, demo_endpoint).map_err(StartError::Invalid)?;
    let health = upstream::health_table(&plan.upstreams)?;
    let (acceptor, cert_source) = match listener_tls(config)? {
        Some((tls, source)) => (Some(TlsAcceptor::from(tls)), Some(source)),
        None => (None, None),
    };

    let readiness = Readiness::new(Arc::clone(&health));
    let tls = acceptor.is_some();
    let spec = WorkerSpec {
        plan: Arc::new(plan),
        acceptor,
        readiness: Arc::clone(&readiness),
        demo_page: config.demo.embedded,
        limits: ConnectionLimits {
            max_header_bytes: config.limits.max_header_bytes,
            max_concurrent_streams: config.limits.max_concurrent_streams,
        },
        grace: Duration::from_secs(config.server.shutdown_grace_secs),
    };
    let workers = Workers::start(listeners, spec).await?;
    let prober = upstream::spawn_prober(health);
    readiness.set(Phase::Serving);
    Ok(RunningGateway {
        local_addr,
        tls,
        cert_source,
        readiness,
        workers,
        prober,
        demo: demo.map(|(demo, _)| demo),
    })
}

/// Reads the files `start` reads besides the plan's (the listener's certificate and key, the
/// upstreams' CA bundles) exactly as `start` reads them, without listening or connecting:
/// one message per problem, for `h2gate check`.
pub fn check_files(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    // Without files, start-up generates a certificate: nothing to read.
    if config.server.tls_cert.is_some()
        && let Err(err) = listener_tls(config)
    {
        problems.push(err.to_string());
    }
    for upstream in &config.upstreams {
        if let Err(err) = upstream::Upstreams::connect(std::slice::from_ref(upstream)) {
            problems.push(err.to_string());
        }
    }
    problems
}

/// The listener's TLS configuration as `[server]` describes it; `None` in plaintext mode.
fn listener_tls(
    config: &Config,
) -> Result<Option<(Arc<rustls::ServerConfig>, CertSource)>, listener::TlsError> {
    if config.server.plaintext {
        return Ok(None);
    }
    let files = config
        .server
        .tls_cert
        .as_deref()
        .zip(config.server.tls_key.as_deref());
    listener::server_config(files).map(Some)
}

fn bind_error(addr: SocketAddr, source: std::io::Error) -> StartError {
    if source.kind() == std::io::ErrorKind::AddrInUse {
        StartError::AddrInUse { addr }
    } else {
        StartError::Bind { addr, source }
    }
}

/// `workers = 0` means one per CPU core.
fn worker_count(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl RunningGateway {
    /// Marks the gateway as draining, stops accepting, lets requests finish, stops the demo.
    pub async fn shutdown(mut self) {
        self.readiness.set(Phase::Draining);
        self.workers.drain().await;
        self.prober.abort();
        if let Some(mut demo) = self.demo.take() {
            if let Some(stop) = demo.stop.take() {
                let _ = stop.send(());
            }
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
        self.workers.abort();
        self.prober.abort();
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
    let demo = EmbeddedDemo {
        stop: Some(stop),
        task,
    };
    Ok((demo, format!("http://{local}")))
}
