//! Thread-per-core serving. Each worker is an OS thread with a single-threaded tokio runtime
//! that accepts from its own handle on the listening address (see `listen`) and owns its
//! connections, its requests and its upstream channels. A request never crosses threads: no
//! cross-thread wake-ups (futex calls and context switches were a large share of a request's
//! cost on a work-stealing runtime), and each worker's upstream connection batches its own
//! streams' frames.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use super::StartError;
use super::listen::Listeners;
use crate::app::{self, App};
use crate::gateway::{Gateway, InFlightLimit, Plan};
use crate::health::Readiness;
use crate::listener::{
    self, Builders, ConnectionContext, ConnectionLimits, ConnectionSlots, MemoryBudget,
    MovedListener, WorkerTurn,
};
use crate::observe::Recorder;
use crate::upstream::{Registry, Upstreams};

/// What every worker serves, and how.
#[derive(Clone)]
pub struct WorkerSpec {
    pub plan: Arc<Plan>,
    /// The TLS configuration, shared by every worker (a reload may renew it).
    pub tls: Option<Arc<ArcSwap<rustls::ServerConfig>>>,
    pub readiness: Arc<Readiness>,
    /// The embedded backend's page, if it has one and runs.
    pub page: Option<(&'static str, &'static str)>,
    pub limits: ConnectionLimits,
    /// `max_connections`, counted across every worker.
    pub slots: Arc<ConnectionSlots>,
    /// The gateway-wide memory budget, and what one connection may hold of it.
    pub budget: Arc<MemoryBudget>,
    pub body_buffer_limit: usize,
    /// Every endpoint's reachability, which the workers' connections report to.
    pub registry: Registry,
    pub max_response_bytes: usize,
    /// `max_in_flight`, counted across every worker.
    pub in_flight: Arc<InFlightLimit>,
    pub grace: Duration,
    /// Where every request is recorded (metrics, access log).
    pub recorder: Recorder,
}

/// `[limits]` as a reload applies them: the connections' to new connections, the
/// gateway-wide counts at once.
pub struct ReloadedLimits {
    pub connection: ConnectionLimits,
    pub body_buffer: usize,
    pub max_response_bytes: usize,
    pub max_connections: usize,
    pub max_in_flight: usize,
    pub memory_budget: usize,
}

/// Where the workers are told to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Serve,
    /// Stop accepting, let requests finish within the grace period.
    Drain,
    /// Stop now, dropping every connection.
    Abort,
}

/// The running workers.
pub struct Workers {
    signal: watch::Sender<Signal>,
    finished: Vec<oneshot::Receiver<()>>,
    spec: WorkerSpec,
    serving: Vec<Serving>,
}

/// What one worker serves, kept so a reload can replace it while the worker runs.
struct Serving {
    index: usize,
    /// The application its connections take each request to.
    app: Arc<ArcSwap<App>>,
    /// Its connections to the upstreams (a reload keeps those of unchanged upstreams).
    upstreams: Upstreams,
    /// The shutdown's cut of its streams.
    streams_cut: watch::Receiver<bool>,
    /// What its new connections are served with (limits, protocol settings).
    context: Arc<ArcSwap<ConnectionContext>>,
    /// Set when it drains (read by every connection).
    draining: watch::Receiver<bool>,
    /// Hands it a new listening socket (a reload moved the address).
    moves: mpsc::UnboundedSender<MovedListener>,
}

/// What worker `index`'s new connections are served with.
fn build_context(
    spec: &WorkerSpec,
    app: &Arc<ArcSwap<App>>,
    (index, draining): (usize, watch::Receiver<bool>),
) -> ConnectionContext {
    ConnectionContext {
        tls: spec.tls.clone(),
        app: Arc::clone(app),
        builders: Builders::new(&spec.limits),
        limits: spec.limits,
        draining,
        budget: Arc::clone(&spec.budget),
        body_buffer_limit: spec.body_buffer_limit,
        worker: index,
        metrics: spec.recorder.metrics().connection_metrics(),
    }
}

/// The application of worker `index`: the plan's routes over its own upstream connections.
fn build_app(
    spec: &WorkerSpec,
    plan: Arc<Plan>,
    upstreams: Upstreams,
    (index, streams_cut): (usize, watch::Receiver<bool>),
) -> App {
    let in_flight = (Arc::clone(&spec.in_flight), index);
    let tls = spec.tls.is_some();
    let gateway = Gateway::new(plan, upstreams, tls, streams_cut, in_flight);
    app::app(
        gateway,
        Arc::clone(&spec.readiness),
        spec.page,
        &spec.recorder,
    )
}

impl Workers {
    /// Starts one worker per listening socket; returns once every one of them is serving, or
    /// with the first worker's start-up error (the others are stopped).
    pub async fn start(listeners: Listeners, spec: WorkerSpec) -> Result<Self, StartError> {
        let count = listeners.sockets.len();
        let (signal, _) = watch::channel(Signal::Serve);
        let mut workers = Self {
            signal,
            finished: Vec::with_capacity(count),
            spec: spec.clone(),
            serving: Vec::with_capacity(count),
        };
        let mut started = Vec::with_capacity(count);
        for (index, socket) in listeners.sockets.into_iter().enumerate() {
            let (ready, ready_rx) = oneshot::channel();
            let (finished, finished_rx) = oneshot::channel();
            let (cut_streams, streams_cut) = watch::channel(false);
            let upstreams = Upstreams::new(&spec.registry, spec.max_response_bytes);
            let app = build_app(
                &spec,
                Arc::clone(&spec.plan),
                upstreams.clone(),
                (index, streams_cut.clone()),
            );
            let app = Arc::new(ArcSwap::from_pointee(app));
            let (draining, draining_rx) = watch::channel(false);
            let context = build_context(&spec, &app, (index, draining_rx.clone()));
            let context = Arc::new(ArcSwap::from_pointee(context));
            let (moves, moved) = mpsc::unbounded_channel();
            workers.serving.push(Serving {
                moves,
                index,
                app,
                upstreams,
                streams_cut,
                context: Arc::clone(&context),
                draining: draining_rx,
            });
            let (spec, signal) = (spec.clone(), workers.signal.subscribe());
            let turn = listeners.turns.as_ref().map(|turns| turns.worker(index));
            let socket = Socket { socket, turn };
            let serves = Serves {
                context,
                cut_streams,
                draining,
                moved,
            };
            thread::Builder::new()
                .name(format!("h2gate-worker-{index}"))
                .spawn(move || run((socket, serves), spec, signal, (ready, finished)))
                .map_err(|err| StartError::Worker(err.to_string()))?;
            workers.finished.push(finished_rx);
            started.push(ready_rx);
        }
        for ready in started {
            let outcome = ready
                .await
                .unwrap_or_else(|_| Err(StartError::Worker("a worker died while starting".into())));
            if let Err(err) = outcome {
                workers.abort();
                return Err(err);
            }
        }
        Ok(workers)
    }

    /// Every worker serves `plan` over `registry`'s upstreams from its next request on, and
    /// its new connections with `limits`; requests already running finish on what they
    /// started with. Each worker keeps its connections to the upstreams that did not change.
    pub fn reload(&mut self, plan: &Arc<Plan>, registry: &Registry, limits: ReloadedLimits) {
        self.spec.plan = Arc::clone(plan);
        self.spec.registry = Arc::clone(registry);
        self.spec.limits = limits.connection;
        self.spec.body_buffer_limit = limits.body_buffer;
        self.spec.max_response_bytes = limits.max_response_bytes;
        self.spec.slots.set_limit(limits.max_connections);
        self.spec.in_flight.set_limit(limits.max_in_flight);
        self.spec.budget.set_budget(limits.memory_budget);
        for serving in &mut self.serving {
            let upstreams = serving
                .upstreams
                .follow(registry, self.spec.max_response_bytes);
            let app = build_app(
                &self.spec,
                Arc::clone(plan),
                upstreams.clone(),
                (serving.index, serving.streams_cut.clone()),
            );
            serving.app.store(Arc::new(app));
            serving.upstreams = upstreams;
            let context = build_context(
                &self.spec,
                &serving.app,
                (serving.index, serving.draining.clone()),
            );
            serving.context.store(Arc::new(context));
        }
    }

    /// Moves every worker to `listeners` (one socket each, bound to a reload's new address):
    /// new connections arrive there, those open on the old address go on.
    pub fn listen_on(&self, listeners: Listeners) {
        for (index, socket) in listeners.sockets.into_iter().enumerate() {
            let turn = listeners.turns.as_ref().map(|turns| turns.worker(index));
            if let Some(serving) = self.serving.get(index) {
                let _ = serving.moves.send((socket, turn));
            }
        }
    }

    /// How many workers serve.
    pub fn count(&self) -> usize {
        self.serving.len()
    }

    /// Stops accepting and waits until every worker has drained (or its grace ran out).
    pub async fn drain(&mut self) {
        let _ = self.signal.send(Signal::Drain);
        for finished in self.finished.drain(..) {
            let _ = finished.await;
        }
    }

    /// Stops every worker now, without waiting.
    pub fn abort(&self) {
        let _ = self.signal.send(Signal::Abort);
    }
}

/// A worker's listening socket, and its turn when the socket is shared.
struct Socket {
    socket: std::net::TcpListener,
    turn: Option<WorkerTurn>,
}

/// What a worker serves its connections, and the switches of its shutdown.
struct Serves {
    context: Arc<ArcSwap<ConnectionContext>>,
    cut_streams: watch::Sender<bool>,
    draining: watch::Sender<bool>,
    moved: mpsc::UnboundedReceiver<MovedListener>,
}

/// One worker thread, from runtime creation to the last connection closed.
fn run(
    (Socket { socket, turn }, serves): (Socket, Serves),
    spec: WorkerSpec,
    mut signal: watch::Receiver<Signal>,
    (ready, finished): (oneshot::Sender<Result<(), StartError>>, oneshot::Sender<()>),
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = ready.send(Err(StartError::Worker(err.to_string())));
            return;
        }
    };
    runtime.block_on(async move {
        let setup = || -> Result<_, StartError> {
            let addr = socket
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
            TcpListener::from_std(socket).map_err(|source| StartError::Bind { addr, source })
        };
        let listener = match setup() {
            Ok(listener) => listener,
            Err(err) => {
                let _ = ready.send(Err(err));
                return;
            }
        };
        let Serves {
            context,
            cut_streams,
            draining,
            moved,
        } = serves;
        let _ = ready.send(Ok(()));

        let mut abort_signal = signal.clone();
        let drain = async move {
            let _ = signal.wait_for(|s| *s != Signal::Serve).await;
        };
        let abort = async move {
            // A vanished controller (its handle dropped without a word) also means stop now.
            let _ = abort_signal.wait_for(|s| *s == Signal::Abort).await;
        };
        let shutdown = listener::Shutdown {
            drain: Box::pin(drain),
            grace: spec.grace,
            cut_streams,
            draining,
        };
        tokio::select! {
            () = listener::serve((listener, turn), moved, context, spec.slots, shutdown) => {}
            () = abort => {}
        }
    });
    // Dropping the runtime cancels whatever connections are still open.
    drop(runtime);
    let _ = finished.send(());
}
