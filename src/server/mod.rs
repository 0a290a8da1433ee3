//! Starting and stopping a whole gateway: embedded backend, plan, TLS, listening sockets, worker
//! threads (each with its own upstream connections), readiness. `h2gate serve` and the
//! integration tests both go through `start`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use arc_swap::ArcSwap;

use crate::admin::{self, AdminState, Running};
use crate::config::{Config, ConfigSource, DiscoveryConfig, LimitsConfig, UpstreamConfig};
use crate::embedded::EmbeddedBackend;
use crate::gateway::{InFlightLimit, Plan, problem_list};
use crate::health::{Phase, Readiness};
use crate::listener::{self, CertSource, ConnectionLimits, ConnectionSlots, MemoryBudget};
use crate::observe::{AccessLog, AccessLogGuard, Metrics, Recorder, Tracer};
use crate::upstream::{self, Registry};
use embedded_backend::{RunningBackend, start_embedded};
use reload::{Reloader, ReloaderParts, Serving};
use workers::{ReloadedLimits, WorkerSpec, Workers};

mod embedded_backend;
mod listen;
mod reload;
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

/// A gateway serving on its worker threads; the prober and embedded backend run on the
/// runtime that started it.
pub struct RunningGateway {
    /// Where it listened at start-up (a reload may move it; the reload says where).
    pub local_addr: SocketAddr,
    /// Where the admin listener (`[admin] listen`) listens, if configured.
    pub admin_addr: Option<SocketAddr>,
    /// Whether the listener speaks TLS.
    pub tls: bool,
    pub cert_source: Option<CertSource>,
    pub readiness: Arc<Readiness>,
    /// The workers and what they serve, which a reload replaces.
    reloader: Arc<Reloader>,
    /// The admin listener and the trace exporter.
    background: Background,
    /// The access log's writer thread, flushed when the gateway is dropped.
    _access_log: Option<AccessLogGuard>,
    embedded: Option<RunningBackend>,
}

/// Tasks that run beside the workers; stopped on drop, also when start-up fails after they
/// began.
struct Background(Vec<JoinHandle<()>>);

impl Background {
    fn abort(&self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.abort();
    }
}

/// Starts everything `config` describes; returns once the listener accepts connections.
/// `embedded` is the backend `[demo] embedded = true` starts in-process. Such a gateway has
/// no file to reload from (see `start_from`).
pub async fn start(
    config: &Config,
    embedded: Option<&EmbeddedBackend>,
) -> Result<RunningGateway, StartError> {
    start_with(config, embedded, None).await
}

/// `start`, for `config` as read from `source`, which a reload reads again.
pub async fn start_from(
    config: &Config,
    embedded: Option<&EmbeddedBackend>,
    source: ConfigSource,
) -> Result<RunningGateway, StartError> {
    start_with(config, embedded, Some(source)).await
}

async fn start_with(
    config: &Config,
    embedded: Option<&EmbeddedBackend>,
    source: Option<ConfigSource>,
) -> Result<RunningGateway, StartError> {
    // First, so that an address someone else holds fails start-up before anything else runs.
    let addr = config.server.listen;
    let workers = worker_count(config.server.workers);
    let listeners = listen::bind(addr, workers, config.server.reuse_port)
        .map_err(|source| bind_error(addr, source))?;
    let local_addr = listeners
        .sockets
        .first()
        .map_or(Ok(addr), std::net::TcpListener::local_addr)
        .map_err(|source| bind_error(addr, source))?;
    let admin_listener = match config.admin.listen {
        Some(addr) => {
            let bound = admin::bind(addr).and_then(|l| Ok((l.local_addr()?, l)));
            Some(bound.map_err(|source| StartError::Bind { addr, source })?)
        }
        None => None,
    };
    let admin_addr = admin_listener.as_ref().map(|(addr, _)| *addr);

    let backend = embedded.filter(|_| config.demo.embedded);
    let embedded_running = match backend {
        Some(backend) => Some(start_embedded(backend).await?),
        None => None,
    };
    let endpoint = embedded_running
        .as_ref()
        .map(|(_, endpoint)| endpoint.as_str());
    let plan = Plan::build(config, embedded.map(|b| (b, endpoint))).map_err(StartError::Invalid)?;
    let metrics = Metrics::new().map_err(|err| StartError::Worker(format!("metrics: {err}")))?;
    let registry = upstream::registry(&plan.upstreams, Some(metrics.call_durations()))?;
    // Before serving, so that the first calls find the discovered endpoints.
    let registry_tasks = registry_tasks(&registry, &config.discovery)
        .await
        .map_err(|err| StartError::Invalid(vec![format!("[discovery]: {err}")]))?;
    let mut background = Background(Vec::new());
    let (tls, cert_source) = match listener_tls(config)? {
        Some((tls, source)) => (Some(Arc::new(ArcSwap::new(tls))), Some(source)),
        None => (None, None),
    };

    let readiness = Readiness::new(Arc::clone(&registry));
    let tracer = match Tracer::start(&config.tracing, metrics.trace_spans_dropped.clone()) {
        Ok(Some((tracer, exporting))) => {
            background.0.push(exporting);
            Some(tracer)
        }
        Ok(None) => None,
        Err(problem) => return Err(StartError::Invalid(vec![problem])),
    };
    let (access_log, access_log_guard) = match AccessLog::start(config.access_log.format) {
        Some((log, guard)) => {
            metrics.watch_access_log(log.dropped());
            (Some(log), Some(guard))
        }
        None => (None, None),
    };
    let plan = Arc::new(plan);
    let spec = WorkerSpec {
        plan: Arc::clone(&plan),
        tls: tls.clone(),
        readiness: Arc::clone(&readiness),
        page: embedded
            .filter(|_| config.demo.embedded || config.demo.page)
            .and_then(|backend| backend.page),
        limits: connection_limits(&config.limits),
        slots: connection_slots(&config.limits),
        budget: MemoryBudget::new(config.limits.memory_budget_bytes, workers),
        body_buffer_limit: body_buffer_limit(config),
        registry: Arc::clone(&registry),
        max_response_bytes: config.limits.max_response_bytes,
        in_flight: InFlightLimit::new(config.limits.max_in_flight, workers),
        grace: Duration::from_secs(config.server.shutdown_grace_secs),
        recorder: Recorder::new(Arc::clone(&metrics), access_log, tracer),
    };
    let workers = Workers::start(listeners, spec).await?;
    let running = Arc::new(ArcSwap::from_pointee(Running {
        config: config.clone(),
        plan,
        upstreams: registry,
    }));
    let reloader = Reloader::new(ReloaderParts {
        source,
        embedded: embedded.map(|backend| (*backend, endpoint.map(str::to_owned))),
        running: Arc::clone(&running),
        metrics: Arc::clone(&metrics),
        readiness: Arc::clone(&readiness),
        tls: tls.clone(),
        serving: Serving {
            workers: Some(workers),
            registry_tasks,
        },
    });
    if let Some((_, listener)) = admin_listener {
        let state = AdminState {
            running,
            metrics,
            reload: Arc::clone(&reloader) as Arc<dyn admin::Reload>,
        };
        let app = admin::router(Arc::new(state), Arc::clone(&readiness));
        background.0.push(admin::serve(listener, app));
    }
    readiness.set(Phase::Serving);
    Ok(RunningGateway {
        local_addr,
        admin_addr,
        tls: tls.is_some(),
        cert_source,
        readiness,
        reloader,
        background,
        _access_log: access_log_guard,
        embedded: embedded_running.map(|(backend, _)| backend),
    })
}

/// What runs beside the workers for `registry`'s upstreams: DNS discovery (resolved once
/// before this returns), the health checkers, the reachability probe.
async fn registry_tasks(
    registry: &Registry,
    discovery: &DiscoveryConfig,
) -> Result<Background, String> {
    let mut tasks = Background(upstream::start_discovery(registry, discovery).await?);
    tasks.0.extend(upstream::spawn_health_checks(registry));
    tasks.0.push(upstream::spawn_prober(Arc::clone(registry)));
    Ok(tasks)
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
        if let Err(err) = upstream::registry(std::slice::from_ref(upstream), None) {
            problems.push(err.to_string());
        }
    }
    if let Some(endpoint) = &config.tracing.otlp_endpoint {
        let collector = UpstreamConfig::new("otlp-collector", vec![endpoint.clone()], Vec::new());
        if let Err(err) = upstream::registry(&[collector], None) {
            problems.push(format!("[tracing] otlp_endpoint: {err}"));
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

fn connection_limits(limits: &LimitsConfig) -> ConnectionLimits {
    ConnectionLimits {
        max_header_bytes: limits.max_header_bytes,
        max_concurrent_streams: limits.max_concurrent_streams,
        request_headers_timeout: Duration::from_millis(limits.request_headers_timeout_ms),
        idle_timeout: Duration::from_millis(limits.idle_timeout_ms),
        connection_buffer_bytes: limits.per_connection_buffer_limit_bytes,
    }
}

/// What one connection's request bodies may hold: its buffer limit, and always one body of
/// the largest size allowed.
fn body_buffer_limit(config: &Config) -> usize {
    usize::try_from(config.limits.per_connection_buffer_limit_bytes)
        .unwrap_or(usize::MAX)
        .max(config.server.max_body_bytes)
}

/// `[limits]` as a reload applies them.
fn reloaded_limits(config: &Config) -> ReloadedLimits {
    let limits = &config.limits;
    ReloadedLimits {
        connection: connection_limits(limits),
        body_buffer: body_buffer_limit(config),
        max_response_bytes: limits.max_response_bytes,
        max_connections: max_connections(limits),
        max_in_flight: limits.max_in_flight,
        memory_budget: limits.memory_budget_bytes,
    }
}

/// `max_connections`, by default just below the open-file limit (raised first to its hard
/// maximum: the usual soft limit of 1024 is far below what a gateway needs).
fn connection_slots(limits: &LimitsConfig) -> Arc<ConnectionSlots> {
    ConnectionSlots::new(max_connections(limits))
}

/// `max_connections`, or by default just below the open-file limit (warned about when set
/// above it).
fn max_connections(limits: &LimitsConfig) -> usize {
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
    max
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
    /// Marks the gateway as draining, stops accepting, lets requests finish, stops the
    /// embedded backend.
    pub async fn shutdown(mut self) {
        self.readiness.set(Phase::Draining);
        let workers = self.reloader.serving().workers.take();
        if let Some(mut workers) = workers {
            workers.drain().await;
        }
        self.reloader.serving().registry_tasks.abort();
        self.background.abort();
        if let Some(backend) = self.embedded.take() {
            backend.stop().await;
        }
    }
}

impl RunningGateway {
    /// Re-reads and applies the configuration (SIGHUP): what was applied, or every problem
    /// (and the running configuration stays).
    pub async fn reload(&self) -> Result<serde_json::Value, Vec<String>> {
        self.reloader.reload().await
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        let serving = self.reloader.serving();
        if let Some(workers) = &serving.workers {
            workers.abort();
        }
        serving.registry_tasks.abort();
        self.background.abort();
    }
}
