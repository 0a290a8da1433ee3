//! Reloading the configuration while serving (SIGHUP, or `POST /reload` on the admin
//! listener). The new configuration is read and checked whole, as `h2gate check` does; if
//! anything is wrong, nothing changes and every problem is reported. Otherwise every worker
//! swaps to the new routes, upstreams and policies at once, from its next request: requests
//! and streams already running finish on what they started with, and upstreams whose
//! configuration did not change keep their endpoints' state and their connections.
//!
//! Re-read too: the listening address (new connections arrive on the new one, those open on
//! the old one go on), the listener's certificate and key, and `[limits]`: new connections handshake
//! with the new certificate and get the new connection limits; the gateway-wide counts
//! (connections, requests in flight, memory) take their new bounds at once. What the running
//! process is built around cannot change without a restart: the workers and `reuse_port`,
//! the admin listener, the access log and tracing settings, the demo; a reload that
//! changes them applies the rest and says which of them wait for a restart.

use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use serde_json::{Value, json};

use super::listen::{self, Listeners};
use super::workers::Workers;
use super::{Background, check_files, listener_tls, registry_tasks, reloaded_limits};
use crate::admin::{Reload, Running};
use crate::config::{Config, ConfigSource};
use crate::embedded::EmbeddedBackend;
use crate::gateway::Plan;
use crate::health::Readiness;
use crate::observe::Metrics;
use crate::upstream;

pub struct Reloader {
    /// Where the configuration is read from; `None` for a gateway started from a
    /// configuration in memory, which has nothing to re-read.
    source: Option<ConfigSource>,
    /// The embedded backend and where it listens.
    embedded: Option<(EmbeddedBackend, Option<String>)>,
    pub running: Arc<ArcSwap<Running>>,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    tls: Option<Arc<ArcSwap<rustls::ServerConfig>>>,
    serving: Mutex<Serving>,
    /// Reloads run one at a time.
    one_at_a_time: tokio::sync::Mutex<()>,
}

/// What a reload replaces, besides what `running` shows.
pub struct Serving {
    /// `None` once the gateway drains.
    pub workers: Option<Workers>,
    /// Discovery, health checks and the probe of the current upstreams.
    pub registry_tasks: Background,
}

pub struct ReloaderParts {
    pub source: Option<ConfigSource>,
    pub embedded: Option<(EmbeddedBackend, Option<String>)>,
    pub running: Arc<ArcSwap<Running>>,
    pub metrics: Arc<Metrics>,
    pub readiness: Arc<Readiness>,
    pub tls: Option<Arc<ArcSwap<rustls::ServerConfig>>>,
    pub serving: Serving,
}

impl Reloader {
    pub fn new(parts: ReloaderParts) -> Arc<Self> {
        Arc::new(Self {
            source: parts.source,
            embedded: parts.embedded,
            running: parts.running,
            metrics: parts.metrics,
            readiness: parts.readiness,
            tls: parts.tls,
            serving: Mutex::new(parts.serving),
            one_at_a_time: tokio::sync::Mutex::new(()),
        })
    }

    pub fn serving(&self) -> std::sync::MutexGuard<'_, Serving> {
        self.serving.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Re-reads and applies the configuration: what was applied, or every problem found
    /// (and nothing changed). Counted in `h2gate_config_reloads_total` and logged.
    pub async fn reload(&self) -> Result<Value, Vec<String>> {
        let _one = self.one_at_a_time.lock().await;
        let outcome = self.apply().await;
        let result = if outcome.is_ok() {
            "success"
        } else {
            "failure"
        };
        self.metrics.reloaded(result);
        match &outcome {
            Ok(applied) => tracing::info!(%applied, "configuration reloaded"),
            Err(problems) => tracing::warn!(
                problems = %problems.join("; "),
                "configuration reload rejected; the running configuration stays"
            ),
        }
        outcome
    }

    async fn apply(&self) -> Result<Value, Vec<String>> {
        let source = self.source.as_ref().ok_or_else(|| {
            vec![
                "this gateway was started from a configuration in memory: nothing to re-read"
                    .into(),
            ]
        })?;
        let config = source.load().map_err(|err| vec![err])?;
        let embedded = self.embedded.as_ref().map(|(b, at)| (b, at.as_deref()));
        let mut problems = Vec::new();
        let plan = match Plan::build(&config, embedded) {
            Ok(plan) => Some(plan),
            Err(found) => {
                problems.extend(found);
                None
            }
        };
        problems.extend(check_files(&config));
        let plan = match plan {
            Some(plan) if problems.is_empty() => Arc::new(plan),
            _ => return Err(problems),
        };
        let previous = self.running.load_full();
        let durations = Some(self.metrics.call_durations());
        let registry = upstream::registry_after(&plan.upstreams, &previous.upstreams, durations)
            .map_err(|err| vec![err.to_string()])?;
        // The new address next: if it cannot be bound, nothing changes.
        let mut moved = self.bind_moved(&previous.config, &config)?;
        let listening = moved.as_ref().map(|(_, bound)| bound.to_string());
        // Then the certificate: if it does not load, nothing changes either.
        let renewed = match (&self.tls, config.server.tls_cert.is_some()) {
            (Some(_), true) => match listener_tls(&config) {
                Ok(renewed) => renewed.map(|(tls, _)| tls),
                Err(err) => return Err(vec![err.to_string()]),
            },
            _ => None,
        };
        let tasks = registry_tasks(&registry, &config.discovery)
            .await
            .map_err(|err| vec![format!("[discovery]: {err}")])?;
        {
            let mut serving = self.serving();
            let Some(workers) = serving.workers.as_mut() else {
                return Err(vec!["the gateway is shutting down".into()]);
            };
            workers.reload(&plan, &registry, reloaded_limits(&config));
            if let Some((listeners, _)) = moved.take() {
                workers.listen_on(listeners);
            }
            serving.registry_tasks = tasks;
        }
        if let (Some(tls), Some(renewed)) = (&self.tls, renewed) {
            tls.store(renewed);
        }
        self.readiness.set_upstreams(Arc::clone(&registry));
        let waiting = needs_restart(&previous.config, &config);
        let kept = registry
            .iter()
            .filter(|e| previous.upstreams.iter().any(|p| Arc::ptr_eq(p, e)))
            .count();
        let applied = json!({
            "routes": plan.routes.routes().len(),
            "upstreams": registry.len(),
            "upstreams_kept": kept,
            "restart_needed_for": waiting,
        });
        let mut applied = applied;
        if let (Some(listen), Some(object)) = (listening, applied.as_object_mut()) {
            tracing::info!(address = %listen, "the listener moved; new connections arrive on {listen}");
            object.insert("listen".into(), Value::String(listen));
        }
        self.running.store(Arc::new(Running {
            config,
            plan,
            upstreams: registry,
        }));
        Ok(applied)
    }
}

impl Reloader {
    /// New listening sockets when `[server] listen` changed (for as many workers as run, as
    /// `reuse_port` had it), and the address they got.
    fn bind_moved(
        &self,
        old: &Config,
        new: &Config,
    ) -> Result<Option<(Listeners, std::net::SocketAddr)>, Vec<String>> {
        let addr = new.server.listen;
        if addr == old.server.listen {
            return Ok(None);
        }
        let workers = self.serving().workers.as_ref().map_or(1, Workers::count);
        let problem = |err: std::io::Error| vec![format!("[server] listen {addr}: {err}")];
        let listeners = listen::bind(addr, workers, old.server.reuse_port).map_err(problem)?;
        let bound = match listeners.sockets.first() {
            Some(socket) => socket.local_addr().map_err(problem)?,
            None => addr,
        };
        Ok(Some((listeners, bound)))
    }
}

impl Reload for Reloader {
    fn reload(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, Vec<String>>> + Send + '_>>
    {
        Box::pin(Reloader::reload(self))
    }
}

/// The settings that changed but only take effect on a restart.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let (o, n) = (&old.server, &new.server);
    [
        ("[server] workers", o.workers != n.workers),
        ("[server] reuse_port", o.reuse_port != n.reuse_port),
        ("[server] plaintext", o.plaintext != n.plaintext),
        (
            "[server] shutdown_grace_secs",
            o.shutdown_grace_secs != n.shutdown_grace_secs,
        ),
        ("[admin]", differ(&old.admin, &new.admin)),
        ("[access_log]", differ(&old.access_log, &new.access_log)),
        ("[tracing]", differ(&old.tracing, &new.tracing)),
        ("[demo]", differ(&old.demo, &new.demo)),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

/// Whether two values of a section differ (compared as the JSON `/config` shows).
fn differ<T: serde::Serialize>(old: &T, new: &T) -> bool {
    serde_json::to_value(old).ok() != serde_json::to_value(new).ok()
}
