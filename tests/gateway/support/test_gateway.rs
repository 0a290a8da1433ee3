//! The gateway under test, in this process: [`TestGateway`] runs `h2gate::server::start` on an
//! ephemeral loopback port with a configuration assembled from a [`Setup`] (embedded demo,
//! plaintext, or the demo served separately behind `[[upstreams]]`), and hands out clients on
//! fresh connections to it. The configuration pieces ([`config_text`], [`demo_upstream_tables`],
//! [`GREETER_RULES`], [`demo_proto_dir`]) are shared with the tests that run the `h2gate`
//! binary on a config file or write their own configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use h2gate::config::Config;
use h2gate::server::{RunningGateway, StartError};

use super::demo_backends::DemoBackend;
use super::http_client::Client;

/// The Greeter's REST face, as in `config/gateway.toml`.
pub const GREETER_RULES: &str = r#"
[[http_rules]]
selector = "demo.v1.Greeter.SayHello"
post = "/v1/greeter:sayHello"
body = "*"
additional_bindings = [{ get = "/v1/greeter/{name}" }]
"#;

/// How to assemble a gateway's configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Setup<'a> {
    /// Extra keys placed under `[server]` (e.g. `max_body_bytes = 64`).
    pub server: &'a str,
    /// Extra TOML appended after the base config (whole tables: `[json]`, `[[upstreams]]`, ...).
    pub extra: &'a str,
    /// `[server] plaintext = true`.
    pub plaintext: bool,
    /// Run the demo with `h2gate_demo::serve` on its own port and route to it through an
    /// `[[upstreams]]` entry, with `[demo] embedded = false` and the demo protos compiled from
    /// `proto/`.
    pub separate_backend: bool,
    /// Extra keys for the separate backend's `[[upstreams]]` entry (e.g. `timeout_ms = 300`).
    pub upstream: &'a str,
    /// Leave out the Greeter's `[[http_rules]]` (to give it rules another way).
    pub no_greeter_rules: bool,
}

/// A running gateway; shut down explicitly with [`TestGateway::shutdown`] or on drop.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub tls: bool,
    /// The admin listener's address, when the config has `[admin] listen`.
    pub admin: Option<SocketAddr>,
    running: Option<RunningGateway>,
    backend: Option<DemoBackend>,
}

impl TestGateway {
    /// TLS (self-signed), embedded demo, Greeter rules, plus `extra`.
    pub async fn start(extra: &str) -> Self {
        Self::start_with(Setup {
            extra,
            ..Setup::default()
        })
        .await
    }

    /// Like [`TestGateway::start`] but `[server] plaintext = true` (HTTP/1.1 and h2c).
    pub async fn plaintext(extra: &str) -> Self {
        Self::start_with(Setup {
            extra,
            plaintext: true,
            ..Setup::default()
        })
        .await
    }

    /// TLS gateway in front of a separately served demo backend (`[[upstreams]]`).
    pub async fn with_separate_backend(extra: &str) -> Self {
        Self::start_with(Setup {
            extra,
            separate_backend: true,
            ..Setup::default()
        })
        .await
    }

    /// A gateway running exactly `text` (which must listen on an ephemeral port).
    pub async fn from_text(text: String) -> Self {
        Self::from_parts(text, None, false).await
    }

    pub async fn start_with(setup: Setup<'_>) -> Self {
        let backend = if setup.separate_backend {
            Some(DemoBackend::start().await)
        } else {
            None
        };
        let text = config_text(&setup, backend.as_ref().map(|b| b.addr));
        Self::from_parts(text, backend, setup.plaintext).await
    }

    async fn from_parts(text: String, backend: Option<DemoBackend>, plaintext: bool) -> Self {
        let config = h2gate::config::parse(&text, "integration test config")
            .unwrap_or_else(|err| panic!("test config does not parse: {err}\n---\n{text}"));
        let running = start_gateway(&config)
            .await
            .unwrap_or_else(|err| panic!("gateway does not start: {err}\n---\n{text}"));
        assert_eq!(running.tls, !plaintext, "TLS mode follows the config");
        Self {
            addr: running.local_addr,
            tls: running.tls,
            admin: running.admin_addr,
            running: Some(running),
            backend,
        }
    }

    /// A client on a fresh connection: HTTP/2 (ALPN `h2` under TLS, prior knowledge in plaintext).
    pub async fn client(&self) -> Client {
        if self.tls {
            Client::tls(self.addr, &[b"h2", b"http/1.1"]).await
        } else {
            Client::h2c(self.addr).await
        }
    }

    /// An HTTP/1.1-only client on a fresh connection.
    pub async fn client_h1(&self) -> Client {
        if self.tls {
            Client::tls(self.addr, &[b"http/1.1"]).await
        } else {
            Client::h1_plain(self.addr).await
        }
    }

    /// A plaintext HTTP/1.1 client of the admin listener (`[admin] listen` must be set).
    pub async fn admin_client(&self) -> Client {
        let admin = self.admin.expect("the config sets [admin] listen");
        Client::h1_plain(admin).await
    }

    /// Graceful shutdown of the gateway and, if any, the separate backend.
    pub async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            tokio::time::timeout(Duration::from_secs(15), running.shutdown())
                .await
                .expect("gateway shuts down within its grace period");
        }
        if let Some(backend) = self.backend.take() {
            backend.stop().await;
        }
    }
}

/// Starts a gateway as `h2gate serve` does, with the demo services as its embedded backend.
pub async fn start_gateway(config: &Config) -> Result<RunningGateway, StartError> {
    h2gate::server::start(config, Some(&crate::embedded_demo::backend())).await
}

/// The configuration text for `setup` (with `backend` as the upstream when separate).
pub fn config_text(setup: &Setup<'_>, backend: Option<SocketAddr>) -> String {
    let mut text = String::from("[server]\nlisten = \"127.0.0.1:0\"\n");
    if setup.plaintext {
        text.push_str("plaintext = true\n");
    }
    text.push_str(setup.server);
    text.push('\n');
    match backend {
        Some(addr) => text.push_str(&demo_upstream_tables(
            &[format!("http://{addr}")],
            setup.upstream,
        )),
        None => text.push_str("\n[demo]\nembedded = true\n"),
    }
    if !setup.no_greeter_rules {
        text.push_str(GREETER_RULES);
        text.push('\n');
    }
    text.push_str(setup.extra);
    text.push('\n');
    // Quiet unless a test asks for it: the access log writes to the process's stdout.
    if !setup.extra.contains("[access_log]") {
        text.push_str("\n[access_log]\nformat = \"off\"\n");
    }
    text
}

/// `[demo] embedded = false`, the demo protos compiled from `proto/`, and one `[[upstreams]]`
/// entry (`demo-backend`) serving the UserService and the Greeter from `endpoints`, plus the
/// `upstream` keys (e.g. `timeout_ms = 300`).
pub fn demo_upstream_tables(endpoints: &[String], upstream: &str) -> String {
    let proto = demo_proto_dir();
    format!(
        concat!(
            "\n[demo]\nembedded = false\n\n",
            "[descriptors]\ninclude = [{proto:?}]\n",
            "protos = [\"demo/v1/user.proto\", \"demo/v1/greeter.proto\"]\n\n",
            "[[upstreams]]\nname = \"demo-backend\"\nendpoints = {endpoints:?}\n",
            "services = [\"demo.v1.UserService\", \"demo.v1.Greeter\"]\n",
            "{upstream}\n",
        ),
        proto = proto.display().to_string(),
        endpoints = endpoints,
        upstream = upstream,
    )
}

/// The demo's protos (`demo/proto`), for a `[descriptors] include` entry.
pub fn demo_proto_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("demo/proto")
}
