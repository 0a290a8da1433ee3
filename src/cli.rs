//! The command line: `serve` (the default), `check`, `routes` and `demo-backend`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, ConfigSource};
use crate::embedded::EmbeddedBackend;
use crate::gateway::{Plan, problem_list};
use crate::server;

#[derive(Debug, Parser)]
#[command(
    name = "h2gate",
    version,
    about = "JSON over HTTPS/HTTP/2 to gRPC, from google.api.http annotations"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the gateway (the default command).
    Serve(ServeArgs),
    /// Load config, descriptors and routes offline and report every problem.
    Check(ConfigArg),
    /// Print the route table.
    Routes(ConfigArg),
    /// Run the demo gRPC services alone (plaintext h2c), e.g. as a separate container.
    // `--version` below is the demo's, not h2gate's (`h2gate --version` prints that).
    #[command(disable_version_flag = true)]
    DemoBackend {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        /// Which version of the demo to serve: v1 (the default) or v2, the same services
        /// with every user tagged "v2" and `x-served-by: h2gate-demo-v2`.
        #[arg(long = "version", id = "demo_version", value_name = "VERSION")]
        version: Option<String>,
    },
}

#[derive(Debug, Default, Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Address to listen on, instead of the configuration's `[server] listen` (a container's
    /// `0.0.0.0:8443`, say).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
}

#[derive(Debug, Default, Args)]
struct ConfigArg {
    /// Config file. Without it, config/gateway.toml, or the embedded default if that file
    /// does not exist.
    #[arg(long)]
    config: Option<PathBuf>,
}

impl Cli {
    /// `demo` is what `[demo] embedded = true` and `demo-backend` serve.
    pub async fn run(self, demo: Option<EmbeddedBackend>) -> ExitCode {
        let demo = demo.as_ref();
        let result = match self.command {
            None => serve(&ServeArgs::default(), demo).await,
            Some(Command::Serve(args)) => serve(&args, demo).await,
            Some(Command::Check(arg)) => check(&arg, demo),
            Some(Command::Routes(arg)) => routes(&arg, demo),
            Some(Command::DemoBackend { listen, version }) => {
                demo_backend(listen, version.as_deref(), demo).await
            }
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("{message}");
                ExitCode::FAILURE
            }
        }
    }
}

fn load_config(arg: &ConfigArg) -> Result<Config, String> {
    let source = ConfigSource {
        path: arg.config.clone(),
        listen: None,
    };
    source.load()
}

async fn serve(args: &ServeArgs, demo: Option<&EmbeddedBackend>) -> Result<(), String> {
    let source = ConfigSource {
        path: args.config.config.clone(),
        listen: args.listen,
    };
    let config = source.load()?;
    let running = server::start_from(&config, demo, source)
        .await
        .map_err(|err| err.to_string())?;
    if let Some(admin) = running.admin_addr {
        tracing::info!(address = %admin, "admin listener on http://{admin}");
    }
    let scheme = if running.tls { "https" } else { "http" };
    tracing::info!(address = %running.local_addr, "h2gate serving on {scheme}://{}", running.local_addr);
    if running.cert_source == Some(crate::listener::CertSource::SelfSigned) {
        tracing::warn!(
            "no tls_cert/tls_key configured: serving a self-signed development certificate (use curl -k)"
        );
    }
    reload_on_hangup(&running, shutdown_signal()).await;
    tracing::info!("shutting down: draining connections");
    running.shutdown().await;
    Ok(())
}

fn check(arg: &ConfigArg, demo: Option<&EmbeddedBackend>) -> Result<(), String> {
    let config = load_config(arg)?;
    let (routes, mut problems) = match Plan::build(&config, demo.map(|demo| (demo, None))) {
        Ok(plan) => (plan.routes.routes().len(), Vec::new()),
        Err(problems) => (0, problems),
    };
    problems.extend(server::check_files(&config));
    if problems.is_empty() {
        println!("ok: {routes} routes");
        return Ok(());
    }
    Err(format!(
        "{} problem(s):\n{}",
        problems.len(),
        problem_list(&problems)
    ))
}

fn routes(arg: &ConfigArg, demo: Option<&EmbeddedBackend>) -> Result<(), String> {
    let config = load_config(arg)?;
    let plan = Plan::build(&config, demo.map(|demo| (demo, None)))
        .map_err(|problems| problem_list(&problems))?;
    for route in plan.routes.routes() {
        println!("{route}");
    }
    Ok(())
}

async fn demo_backend(
    listen: SocketAddr,
    version: Option<&str>,
    demo: Option<&EmbeddedBackend>,
) -> Result<(), String> {
    let demo = demo.ok_or("this build has no demo services")?;
    let serve = match version {
        None => demo.serve,
        Some(name) => demo
            .versions
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, serve)| *serve)
            .ok_or_else(|| {
                let known: Vec<&str> = demo.versions.iter().map(|(known, _)| *known).collect();
                format!(
                    "unknown demo version {name:?}; this build has: {}",
                    known.join(", ")
                )
            })?,
    };
    let tcp = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|err| format!("cannot listen on {listen}: {err}"))?;
    // The bound address, so `--listen 127.0.0.1:0` reports the port it got.
    let bound = tcp.local_addr().unwrap_or(listen);
    let version = version.unwrap_or("default");
    tracing::info!(listen = %bound, version, "demo gRPC services serving on http://{bound} (h2c)");
    serve(tcp, Box::pin(shutdown_signal()))
        .await
        .map_err(|err| err.to_string())
}

/// Reloads the configuration on every SIGHUP until `stop` resolves.
async fn reload_on_hangup(
    running: &server::RunningGateway,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    #[cfg(unix)]
    let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match &mut hangups {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        tokio::select! {
            () = &mut stop => return,
            () = hangup => {
                tracing::info!("SIGHUP: reloading the configuration");
                // The outcome is logged by the reload itself.
                let _ = running.reload().await;
            }
        }
    }
}

/// Ctrl-C, or SIGTERM from an orchestrator.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
