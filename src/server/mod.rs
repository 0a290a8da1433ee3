//! Starting and stopping a whole gateway: embedded demo, plan, TLS, listening sockets, worker
//! threads (each with its own upstream connections), readiness. `h2gate serve` and the
//! integration tests both go through `start`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, LimitsConfig};
use crate::demo;
use crate::gateway::Plan;
use crate::health::{Phase, Readiness};
use crate::listener::{self, CertSource, ConnectionLimits, ConnectionSlots, MemoryBudget};
use crate::upstream;
use workers::{WorkerSpec, Workers};

mod workers;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Upstream(#[from] upstream::UpstreamError),
    #[error(transparent)]
    Tls(#[from] listener::TlsError),
    #[error("cannot start a worker thread: {0}")]
    Worker(String),
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
    let health = upstream::health_table(&plan.upstreams)?;

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
    let workers = worker_count(config.server.workers);
    let listeners =
        bind_listeners(addr, workers).map_err(|source| StartError::Bind { addr, source })?;
    let local_addr = listeners[0]
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;

    let readiness = Readiness::new(Arc::clone(&health));
    let tls = acceptor.is_some();
    let spec = WorkerSpec {
        plan: Arc::new(plan),
        acceptor,
        readiness: Arc::clone(&readiness),
        demo_page: config.demo.embedded,
        limits: connection_limits(&config.limits),
        slots: connection_slots(&config.limits),
        budget: MemoryBudget::new(config.limits.memory_budget_bytes, workers),
        // One body of the largest size allowed always fits.
        connection_buffer_limit: usize::try_from(config.limits.per_connection_buffer_limit_bytes)
            .unwrap_or(usize::MAX)
            .max(config.server.max_body_bytes),
        health: Arc::clone(&health),
        max_response_bytes: config.limits.max_response_bytes,
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

fn connection_limits(limits: &LimitsConfig) -> ConnectionLimits {
    ConnectionLimits {
        max_header_bytes: limits.max_header_bytes,
        max_concurrent_streams: limits.max_concurrent_streams,
        request_headers_timeout: Duration::from_millis(limits.request_headers_timeout_ms),
        idle_timeout: Duration::from_millis(limits.idle_timeout_ms),
        connection_buffer_bytes: limits.per_connection_buffer_limit_bytes,
    }
}

/// `max_connections`, by default just below the open-file limit (raised first to its hard
/// maximum: the usual soft limit of 1024 is far below what a gateway needs).
fn connection_slots(limits: &LimitsConfig) -> Arc<ConnectionSlots> {
    let open_files = listener::raise_open_file_limit();
    let max = limits
        .max_connections
        .unwrap_or_else(|| listener::default_max_connections(open_files));
    if u64::try_from(max).is_ok_and(|max| max > open_files) {
        tracing::warn!(
            max_connections = max,
            open_file_limit = open_files,
            "max_connections is above the open-file limit: the process may run out of descriptors first"
        );
    }
    ConnectionSlots::new(max)
}

/// One listening socket per worker, all on the same port (`SO_REUSEPORT`): the kernel spreads
/// new connections evenly over them, where workers sharing one socket would see whichever
/// happened to be waiting take nearly all of them.
fn bind_listeners(addr: SocketAddr, count: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let mut listeners = Vec::with_capacity(count);
    let mut bound = addr;
    for _ in 0..count {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.bind(bound)?;
        let listener = socket.listen(1024)?;
        // With port 0 the first socket picks the port; the others join it.
        bound = listener.local_addr()?;
        listeners.push(listener.into_std()?);
    }
    Ok(listeners)
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
        self.workers.abort();
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
