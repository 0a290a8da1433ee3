//! The real `h2gate` binary as a child process, started on an ephemeral port and found by the
//! address it logs, killed on drop so a failing test leaves nothing running.
//!
//! [`GatewayProcess`] runs `h2gate serve` on a temp config, for tests that measure what the
//! gateway itself holds: its resident memory (VmRSS, and the peak VmHWM) and its open file
//! descriptors, read from `/proc/<pid>`. A child's figures are free of the test process's own
//! allocations and of the other tests running in parallel. [`BackendProcess`] runs
//! `h2gate demo-backend`, so a test can kill a backend the way a crashing one dies. Tests that
//! run the binary to completion (`check`, `routes`, `--help`) start it with [`h2gate_command`].

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::files::TempFile;
use super::http_client::Client;
use super::test_gateway::{Setup, config_text, demo_proto_dir};
use super::waiting::poll_until;

const BIN: &str = env!("CARGO_BIN_EXE_h2gate");
/// A debug build compiles the demo protos at start-up; on a loaded machine that takes a while.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Log lines kept for failure messages.
const LOG_TAIL: usize = 40;

/// `h2gate args` run from the package root, logging at `warn` without colour; no stdin,
/// stdout and stderr piped.
pub fn h2gate_command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Reads a child's log on a thread of its own for the child's whole life (a full pipe would
/// block its logging), handing every line to `each_line`; yields the address the child logs
/// as `serving on ...` (it listens on an ephemeral port, which only the log tells).
fn watch_log(
    stderr: ChildStderr,
    mut each_line: impl FnMut(String) + Send + 'static,
) -> oneshot::Receiver<SocketAddr> {
    let (found_tx, found_rx) = oneshot::channel::<SocketAddr>();
    std::thread::spawn(move || {
        let mut found_tx = Some(found_tx);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = serving_address(&line)
                && let Some(tx) = found_tx.take()
            {
                let _ = tx.send(addr);
            }
            each_line(line);
        }
    });
    found_rx
}

/// `... serving on http://127.0.0.1:PORT ...` → the address.
fn serving_address(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.split_once("serving on ")?;
    let rest = rest.split_once("://").map_or(rest, |(_, r)| r);
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | ':' | '[' | ']')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

// ---------------------------------------------------------------------------------------------
// The gateway

/// `h2gate serve` on a config of its own, read from a temp file.
pub struct GatewayProcess {
    pub addr: SocketAddr,
    pub tls: bool,
    child: Child,
    log: Arc<Mutex<VecDeque<String>>>,
    /// Every line the gateway wrote to stdout (its access log), when captured.
    stdout: Arc<Mutex<Vec<String>>>,
    config: TempFile,
}

impl GatewayProcess {
    /// Plaintext (HTTP/1.1 and h2c), embedded demo, one worker thread.
    pub async fn plaintext() -> Self {
        Self::start(&Setup {
            plaintext: true,
            server: ONE_WORKER,
            ..Setup::default()
        })
        .await
    }

    /// TLS with the generated certificate, embedded demo, one worker thread.
    pub async fn tls() -> Self {
        Self::start(&Setup {
            server: ONE_WORKER,
            ..Setup::default()
        })
        .await
    }

    /// Plaintext, one worker, in front of every demo service (users, media, ...) served at
    /// `backend` by the test process (e.g. [`crate::support::DemoBackend`]): the gateway's
    /// memory is then its own, without an embedded backend's buffers.
    pub async fn plaintext_in_front_of(backend: SocketAddr) -> Self {
        Self::plaintext_in_front_of_with(backend, "", "").await
    }

    /// [`Self::plaintext_in_front_of`] with more configuration: `server` keys go under
    /// `[server]` (e.g. `max_body_bytes = 1048576`), `extra` is appended after the demo
    /// `[[upstreams]]` entry (whole tables such as `[limits]`, or keys for that entry first).
    pub async fn plaintext_in_front_of_with(
        backend: SocketAddr,
        server: &str,
        extra: &str,
    ) -> Self {
        let proto = demo_proto_dir();
        let text = format!(
            concat!(
                "[server]\nlisten = \"127.0.0.1:0\"\nplaintext = true\n{workers}\n{server}\n\n",
                "[descriptors]\ninclude = [{proto:?}]\n",
                "protos = [\"demo/v1/user.proto\", \"demo/v1/media.proto\"]\n\n",
                "[[upstreams]]\nname = \"demo\"\nendpoints = [\"http://{backend}\"]\n",
                "services = [\"*\"]\n{extra}\n",
            ),
            workers = ONE_WORKER,
            server = server,
            proto = proto.display().to_string(),
            backend = backend,
            extra = extra,
        );
        Self::from_text(text, false).await
    }

    /// `h2gate serve` on the config `setup` describes (which listens on port 0); returns once
    /// the gateway has logged the address it serves on.
    pub async fn start(setup: &Setup<'_>) -> Self {
        Self::from_text(config_text(setup, None), !setup.plaintext).await
    }

    /// `h2gate serve` on exactly `text`, which must listen on port 0.
    pub async fn from_text(text: String, tls: bool) -> Self {
        Self::spawn(text, tls, false, &[]).await
    }

    /// `h2gate serve --config FILE ARGS...` on `text`; `args` must make it listen on port 0.
    pub async fn with_args(text: String, tls: bool, args: &[&str]) -> Self {
        Self::spawn(text, tls, false, args).await
    }

    /// [`Self::start`], keeping every line the gateway writes to stdout ([`Self::stdout_lines`]).
    pub async fn start_capturing_stdout(setup: &Setup<'_>) -> Self {
        Self::spawn(config_text(setup, None), !setup.plaintext, true, &[]).await
    }

    async fn spawn(text: String, tls: bool, capture_stdout: bool, args: &[&str]) -> Self {
        let config = TempFile::new("process", "toml", &text);
        let stdout = if capture_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        let mut child = h2gate_command(&["serve", "--config"])
            .arg(&config.path)
            .args(args)
            // Info shows h2's warnings about abusive peers in the failure tail.
            .env("RUST_LOG", "info")
            .stdout(stdout)
            .spawn()
            .expect("spawn h2gate serve");
        let stdout_lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            let lines = Arc::clone(&stdout_lines);
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().expect("stdout lock").push(line);
                }
            });
        }
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let lines = Arc::clone(&log);
        let found_rx = watch_log(stderr, move |line| {
            let mut lines = lines.lock().expect("log lock");
            if lines.len() == LOG_TAIL {
                lines.pop_front();
            }
            lines.push_back(line);
        });
        let mut process = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls,
            child,
            log,
            stdout: stdout_lines,
            config,
        };
        match tokio::time::timeout(START_TIMEOUT, found_rx).await {
            Ok(Ok(addr)) => process.addr = addr,
            _ => panic!(
                "h2gate did not log its address within {START_TIMEOUT:?}; log:\n{}",
                process.log_tail()
            ),
        }
        process
    }

    /// The config file it serves (a reload test rewrites it).
    pub fn config_path(&self) -> &std::path::Path {
        &self.config.path
    }

    /// The admin listener's address, as the gateway logged it at start-up.
    pub fn admin_addr(&self) -> SocketAddr {
        let log = self.log_tail();
        log.lines()
            .find_map(|line| {
                let (_, rest) = line.split_once("admin listener on http://")?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .unwrap_or_else(|| panic!("no admin listener in the log:\n{log}"))
    }

    /// Sends the gateway SIGHUP: reload the configuration.
    pub fn hang_up(&self) {
        self.signal("-HUP");
    }

    /// `kill SIGNAL pid`.
    fn signal(&self, signal: &str) {
        let pid = self.pid().to_string();
        let status = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// The lines written to stdout so far (captured only by [`Self::start_capturing_stdout`]).
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().expect("stdout lock").clone()
    }

    /// Sends the gateway SIGTERM, as an orchestrator stopping it does.
    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    /// Waits for the gateway to exit, at most `timeout`; its exit status.
    pub async fn exit_status(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let child = &mut self.child;
        poll_until(timeout, || {
            std::future::ready(child.try_wait().ok().flatten())
        })
        .await
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A client on a fresh connection: HTTP/2 (ALPN under TLS, prior knowledge in plaintext).
    pub async fn client(&self) -> Client {
        if self.tls {
            Client::tls(self.addr, &[b"h2"]).await
        } else {
            Client::h2c(self.addr).await
        }
    }

    /// Resident memory now (VmRSS), KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// Peak resident memory (VmHWM), KiB: since start, or since [`Self::reset_peak_rss`].
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// Restarts the peak at the current RSS (`clear_refs` 5, Linux 4.0+), so the peak covers
    /// only what follows and not start-up (compiling protos allocates more than serving).
    pub fn reset_peak_rss(&self) {
        let path = format!("/proc/{}/clear_refs", self.pid());
        std::fs::write(&path, "5").unwrap_or_else(|err| panic!("write {path}: {err}"));
    }

    /// Open file descriptors (listening sockets, connections, the runtime's own).
    pub fn open_fds(&self) -> usize {
        let path = format!("/proc/{}/fd", self.pid());
        std::fs::read_dir(&path)
            .unwrap_or_else(|err| panic!("read {path}: {err}"))
            .count()
    }

    /// The last lines the gateway logged.
    pub fn log_tail(&self) -> String {
        let lines = self.log.lock().expect("log lock");
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Waits until the gateway holds at most `limit` descriptors; the count last seen if it
    /// never does within `timeout`.
    pub async fn wait_for_fds_at_most(&self, limit: usize, timeout: Duration) -> usize {
        let mut open = self.open_fds();
        let at_most = poll_until(timeout, || {
            open = self.open_fds();
            std::future::ready((open <= limit).then_some(open))
        })
        .await;
        at_most.unwrap_or(open)
    }

    fn status_kib(&self, field: &str) -> u64 {
        let path = format!("/proc/{}/status", self.pid());
        let status =
            std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("read {path}: {err}"));
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in {path}"))
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One worker: an attacker's connection and the well-behaved client's then share one event
/// loop, so "others are still served" is tested where it is hardest.
const ONE_WORKER: &str = "workers = 1";

// ---------------------------------------------------------------------------------------------
// A demo backend

/// `h2gate demo-backend` on an ephemeral loopback port, for a test to kill the way a crashing
/// backend dies: SIGKILL, the kernel closing its sockets mid-call.
pub struct BackendProcess {
    pub addr: SocketAddr,
    child: Child,
}

impl BackendProcess {
    /// Starts `h2gate demo-backend`; returns once it has logged the address it serves on.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`BackendProcess::start`] with more arguments (e.g. `["--version", "v2"]`).
    pub async fn start_with(args: &[&str]) -> Self {
        let mut child = h2gate_command(&["demo-backend", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn h2gate demo-backend");
        let stderr = child.stderr.take().expect("demo-backend stderr");
        let address = watch_log(stderr, |_| {});
        let addr = tokio::time::timeout(Duration::from_secs(30), address)
            .await
            .ok()
            .and_then(Result::ok)
            .expect("demo-backend logs the address it listens on");
        Self { addr, child }
    }

    /// SIGKILL: no GOAWAY, no graceful end, just closed sockets.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BackendProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
