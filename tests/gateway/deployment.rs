//! How h2gate is deployed, checked by reading the files and running what they run: the
//! container image's command line (outside Docker: there is no Docker engine here), the
//! `--listen` flag it relies on, and docker-compose serving everything the embedded demo does.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use serde_yaml_ng::Value as Yaml;

use crate::support::{GatewayProcess, HeldPort, TestGateway, demo_upstream_tables, h2gate_command};

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|err| panic!("read {}: {err}", full.display()))
}

/// The Dockerfile's instructions (continuation lines joined), in order.
fn dockerfile() -> Vec<String> {
    let text = repo_file("Dockerfile").replace("\\\n", " ");
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The default configuration as the image holds it, with its admin listener on an ephemeral
/// port so that tests running in parallel do not collide on 9901.
fn default_config_on_ephemeral_admin() -> String {
    let text = repo_file("config/gateway.toml");
    assert!(text.contains("listen = \"127.0.0.1:9901\""), "{text}");
    text.replace("listen = \"127.0.0.1:9901\"", "listen = \"127.0.0.1:0\"")
}

#[tokio::test]
async fn the_image_runs_as_a_user_and_its_command_listens_on_every_interface() {
    let instructions = dockerfile();
    let final_stage = instructions
        .iter()
        .rposition(|line| line.starts_with("FROM "))
        .expect("a FROM");
    let runtime = &instructions[final_stage..];
    let user = runtime
        .iter()
        .find_map(|line| line.strip_prefix("USER "))
        .expect("the runtime stage sets USER");
    assert!(!["root", "0"].contains(&user.trim()), "USER {user}");
    // Dependencies are built before the sources are copied (a cached layer).
    let first_build = instructions
        .iter()
        .position(|line| line.contains("cargo build --release"))
        .expect("a cargo build");
    let sources = instructions
        .iter()
        .position(|line| line == "COPY . .")
        .expect("COPY . .");
    assert!(
        first_build < sources,
        "dependencies are built before COPY . ."
    );

    let cmd = runtime
        .iter()
        .find_map(|line| line.strip_prefix("CMD "))
        .expect("CMD");
    let cmd: Vec<String> = serde_json::from_str(cmd).expect("CMD in exec form");
    assert_eq!(cmd[0], "serve");
    let at = cmd
        .iter()
        .position(|arg| arg == "--listen")
        .expect("--listen");
    let listen: SocketAddr = cmd[at + 1].parse().expect("an address");
    assert!(listen.ip().is_unspecified(), "{listen}: every interface");
    assert_eq!(listen.port(), 8443);

    // The same command line, on an ephemeral port of every interface; reached on loopback.
    let ephemeral = SocketAddr::new(listen.ip(), 0).to_string();
    let mut args: Vec<&str> = cmd[1..].iter().map(String::as_str).collect();
    args[at] = &ephemeral;
    let gateway = GatewayProcess::with_args(default_config_on_ephemeral_admin(), true, &args).await;
    assert!(gateway.addr.ip().is_unspecified(), "{}", gateway.addr);
    let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), gateway.addr.port());
    let client = crate::support::Client::tls(loopback, &[b"h2"]).await;
    assert_eq!(client.get_ok("/v1/users/42").await["userId"], "42");
}

#[tokio::test]
async fn listen_overrides_the_configured_address() {
    // The configured address is taken: without the override, start-up would fail.
    let taken = HeldPort::bind();
    let text = default_config_on_ephemeral_admin().replace(
        "listen = \"127.0.0.1:8443\"",
        &format!("listen = \"{}\"", taken.addr),
    );
    let gateway = GatewayProcess::with_args(text, true, &["--listen", "127.0.0.1:0"]).await;
    assert_ne!(gateway.addr, taken.addr);
    let client = gateway.client().await;
    assert_eq!(client.get_ok("/v1/users/42").await["userId"], "42");
}

#[test]
fn compose_serves_every_route_of_the_embedded_demo() {
    let routes = |args: &[&str]| {
        let output = h2gate_command(args).output().expect("run h2gate routes");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };
    let embedded = routes(&["routes", "--config", "config/gateway.toml"]);
    let compose = routes(&["routes", "--config", "config/compose.toml"]);
    assert!(embedded.len() > 10, "{embedded:?}");
    assert_eq!(compose, embedded);
}

#[test]
fn compose_runs_one_image_and_mounts_certificates() {
    let compose: Yaml = serde_yaml_ng::from_str(&repo_file("docker-compose.yml")).expect("YAML");
    let services = compose["services"].as_mapping().expect("services");
    let mut built = 0;
    for (name, service) in services {
        assert_eq!(service["image"], Yaml::from("h2gate:local"), "{name:?}");
        if !service["build"].is_null() {
            built += 1;
        }
    }
    assert_eq!(built, 1, "one service builds the image the others run");
    let gateway = &compose["services"]["gateway"];
    let volumes: Vec<&str> = gateway["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert!(
        volumes.iter().any(|v| v.contains(":/app/certs")),
        "{volumes:?}"
    );
    let command: Vec<&str> = gateway["command"]
        .as_sequence()
        .expect("command")
        .iter()
        .filter_map(Yaml::as_str)
        .collect();
    assert_eq!(command, ["serve", "--config", "config/compose.toml"]);
}

#[tokio::test]
async fn the_demo_page_is_served_without_the_embedded_backend() {
    let backend = crate::support::DemoBackend::start().await;
    let tables = demo_upstream_tables(&[format!("http://{}", backend.addr)], "").replace(
        "[demo]\nembedded = false\n",
        "[demo]\nembedded = false\npage = true\n",
    );
    assert!(tables.contains("page = true"), "{tables}");
    let text =
        format!("[server]\nlisten = \"127.0.0.1:0\"\n{tables}\n[access_log]\nformat = \"off\"\n");
    let gateway = TestGateway::from_text(text).await;
    let client = gateway.client().await;
    let page = client.get("/demo/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    assert!(page.text().contains("EventSource"), "the streaming page");
    gateway.shutdown().await;
    backend.stop().await;
}
