//! The `h2gate` binary: `check`, `routes`, `--help`, `demo-backend` and `serve`, run as child
//! processes on temp config files.

use std::io::Read;
use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    BackendProcess, Client, GREETER_RULES, GatewayProcess, Setup, TempFile, TestGateway,
    config_text, demo_proto_dir, h2gate_command,
};

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Output {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs the binary to completion (killing it if it hangs).
fn run(args: &[&str]) -> Output {
    let mut child = h2gate_command(args).spawn().expect("spawn h2gate");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for h2gate") {
            break status;
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("h2gate {args:?} did not exit within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

fn check(config: &str) -> (Output, TempFile) {
    let file = TempFile::new("check", "toml", config);
    let path = file.path.display().to_string();
    (run(&["check", "--config", &path]), file)
}

/// A config whose only rule is `rule` (plus the embedded demo's annotations).
fn with_rule(rule: &str) -> String {
    format!("[server]\nlisten = \"127.0.0.1:0\"\n\n[demo]\nembedded = true\n\n{rule}\n")
}

fn assert_fails_naming(output: &Output, needles: &[&str]) {
    assert!(
        !output.status.success(),
        "expected a failure exit; stdout: {}\nstderr: {}",
        output.stdout,
        output.stderr
    );
    for needle in needles {
        assert!(
            output.all().contains(needle),
            "output names {needle:?}; got:\n{}",
            output.all()
        );
    }
}

#[test]
fn check_accepts_a_good_config() {
    let (output, _file) = check(&config_text(&Setup::default(), None));
    assert!(output.status.success(), "check failed: {}", output.all());
    assert!(output.stdout.contains("ok"), "{}", output.all());
}

#[test]
fn check_accepts_the_shipped_default_config() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/gateway.toml");
    let output = run(&["check", "--config", path]);
    assert!(output.status.success(), "{}", output.all());
}

#[test]
fn check_accepts_the_compose_config_with_its_canary_split() {
    // Its paths (demo/proto) are relative to the repository, as in the container.
    let output = h2gate_command(&["check", "--config", "config/compose.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run h2gate check");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{all}");
}

#[test]
fn check_names_the_line_of_a_bad_traffic_rule() {
    let rule = "[[traffic]]\nmethods = [\"demo.v1.Greeter/*\"]\nweights = { nowhere = 90 }\n";
    let text = format!("{}{rule}", config_text(&Setup::default(), None));
    let line = text.lines().position(|l| l.starts_with("weights")).unwrap() + 1;
    let (output, _file) = check(&text);
    assert!(!output.status.success(), "{}", output.all());
    let expected = format!(":{line}: [[traffic]] weights: no upstream is named \"nowhere\"");
    assert!(output.all().contains(&expected), "{}", output.all());
}

#[test]
fn check_rejects_an_invalid_template_naming_the_selector() {
    for template in ["/v1/a/", "/v1/{name", "v1/no/leading/slash"] {
        let rule = format!(
            "[[http_rules]]\nselector = \"demo.v1.Greeter.SayHello\"\nget = \"{template}\"\n"
        );
        let (output, _file) = check(&with_rule(&rule));
        assert_fails_naming(&output, &["demo.v1.Greeter.SayHello"]);
    }
}

#[test]
fn check_rejects_a_template_variable_that_is_not_a_field() {
    let rule =
        "[[http_rules]]\nselector = \"demo.v1.Greeter.SayHello\"\nget = \"/v1/hello/{nope}\"\n";
    let (output, _file) = check(&with_rule(rule));
    assert_fails_naming(&output, &["demo.v1.Greeter.SayHello", "nope"]);
}

#[test]
fn check_rejects_a_duplicate_route_naming_both_selectors() {
    // GET /v1/users already belongs to UserService.ListUsers (annotation).
    let rule = "[[http_rules]]\nselector = \"demo.v1.Greeter.SayHello\"\nget = \"/v1/users\"\n";
    let (output, _file) = check(&with_rule(rule));
    assert_fails_naming(&output, &["demo.v1.Greeter.SayHello", "ListUsers"]);
}

#[test]
fn check_rejects_nested_additional_bindings() {
    let rule = concat!(
        "[[http_rules]]\nselector = \"demo.v1.Greeter.SayHello\"\npost = \"/v1/hello\"\nbody = \"*\"\n",
        "additional_bindings = [{ get = \"/v1/hello/{name}\", additional_bindings = [{ get = \"/v1/hi/{name}\" }] }]\n"
    );
    let (output, _file) = check(&with_rule(rule));
    assert_fails_naming(&output, &["demo.v1.Greeter.SayHello"]);
}

#[test]
fn check_rejects_an_unknown_selector() {
    let rule = "[[http_rules]]\nselector = \"demo.v1.Greeter.Nope\"\nget = \"/v1/nope\"\n";
    let (output, _file) = check(&with_rule(rule));
    assert_fails_naming(&output, &["demo.v1.Greeter.Nope"]);
}

#[test]
fn check_reports_every_problem_at_once() {
    let rules = concat!(
        "[[http_rules]]\nselector = \"demo.v1.Greeter.Nope\"\nget = \"/v1/nope\"\n\n",
        "[[http_rules]]\nselector = \"demo.v1.Greeter.SayHello\"\nget = \"/v1/a/\"\n"
    );
    let (output, _file) = check(&with_rule(rules));
    assert_fails_naming(
        &output,
        &["demo.v1.Greeter.Nope", "demo.v1.Greeter.SayHello"],
    );
}

#[test]
fn check_reports_a_toml_syntax_error_with_its_line() {
    let text = "[server]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = = 3\n";
    let (output, file) = check(text);
    let path = file.path.display().to_string();
    assert_fails_naming(&output, &[&format!("{path}:3:")]);
}

#[test]
fn check_reports_an_unknown_key_with_its_line() {
    let text = "[server]\nlisten = \"127.0.0.1:0\"\n\n[json]\nemit_unpopulatd = false\n";
    let (output, file) = check(text);
    let path = file.path.display().to_string();
    assert_fails_naming(&output, &[&format!("{path}:5:"), "emit_unpopulatd"]);
}

#[test]
fn check_reports_a_missing_config_file() {
    let missing = std::env::temp_dir().join(format!(
        "h2gate-test-missing-{}-{}.toml",
        std::process::id(),
        line!()
    ));
    let path = missing.display().to_string();
    let output = run(&["check", "--config", &path]);
    assert_fails_naming(&output, &[&path]);
}

/// A certificate with its key, and a key of another certificate, as PEM files.
struct TlsFiles {
    cert: TempFile,
    key: TempFile,
    other_key: TempFile,
}

impl TlsFiles {
    fn generate() -> Self {
        let names = vec!["localhost".to_owned()];
        let pair = rcgen::generate_simple_self_signed(names.clone()).expect("certificate");
        let other = rcgen::generate_simple_self_signed(names).expect("other certificate");
        Self {
            cert: TempFile::new("cert", "pem", &pair.cert.pem()),
            key: TempFile::new("key", "pem", &pair.signing_key.serialize_pem()),
            other_key: TempFile::new("other-key", "pem", &other.signing_key.serialize_pem()),
        }
    }
}

fn path_of(file: &TempFile) -> String {
    file.path.display().to_string()
}

/// The default test config, served with the given certificate and key files.
fn with_tls_files(cert: &str, key: &str) -> String {
    let server = format!("tls_cert = {cert:?}\ntls_key = {key:?}");
    config_text(
        &Setup {
            server: &server,
            ..Setup::default()
        },
        None,
    )
}

/// A path in the temp dir that does not exist.
fn missing_file(stem: &str) -> String {
    std::env::temp_dir()
        .join(format!(
            "h2gate-test-{stem}-{}-missing.pem",
            std::process::id()
        ))
        .display()
        .to_string()
}

#[test]
fn check_reads_the_tls_files_as_serve_does() {
    let files = TlsFiles::generate();
    let (cert, key, other_key) = (
        path_of(&files.cert),
        path_of(&files.key),
        path_of(&files.other_key),
    );
    let (output, _file) = check(&with_tls_files(&cert, &key));
    assert!(output.status.success(), "{}", output.all());

    let missing = missing_file("cert");
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            &missing,
            &key,
            &["[server] tls_cert", &missing, "No such file"],
        ),
        (
            &cert,
            &missing,
            &["[server] tls_key", &missing, "No such file"],
        ),
        (&key, &key, &["[server] tls_cert", &key, "no CERTIFICATE"]),
        (&cert, &cert, &["[server] tls_key", &cert, "no PRIVATE KEY"]),
        (
            &cert,
            &other_key,
            &[
                "[server] tls_cert",
                "tls_key",
                &other_key,
                "not the certificate's",
            ],
        ),
    ];
    for (cert, key, needles) in cases {
        let text = with_tls_files(cert, key);
        let (output, file) = check(&text);
        assert_fails_naming(&output, needles);
        // `serve` stops at the very same problem.
        let output = run(&["serve", "--config", &path_of(&file)]);
        assert_fails_naming(&output, needles);
    }
}

#[test]
fn check_reads_an_upstreams_ca_cert() {
    let files = TlsFiles::generate();
    let upstream = |endpoint: &str, ca_cert: &str| {
        let extra = format!(
            "[[upstreams]]\nname = \"secure\"\nendpoints = [{endpoint:?}]\n\
             services = [\"demo.v1.Greeter\"]\nca_cert = {ca_cert:?}\n"
        );
        config_text(
            &Setup {
                extra: &extra,
                ..Setup::default()
            },
            None,
        )
    };
    let (cert, key, missing) = (
        path_of(&files.cert),
        path_of(&files.key),
        missing_file("ca"),
    );
    let (output, _file) = check(&upstream("https://127.0.0.1:9", &cert));
    assert!(output.status.success(), "{}", output.all());
    for (ca_cert, reason) in [(&missing, "No such file"), (&key, "no usable CERTIFICATE")] {
        // Read as start-up reads it, for an https:// endpoint or not.
        for endpoint in ["https://127.0.0.1:9", "http://127.0.0.1:9"] {
            let (output, _file) = check(&upstream(endpoint, ca_cert));
            assert_fails_naming(
                &output,
                &["upstream \"secure\"", "ca_cert", ca_cert, reason],
            );
        }
    }
}

/// A config compiling `proto` (a file in the temp dir, which is its import root).
fn with_proto(proto: &TempFile) -> String {
    let root = proto.path.parent().expect("temp dir").display().to_string();
    let name = proto.path.file_name().expect("file name").to_string_lossy();
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[descriptors]\ninclude = [{root:?}]\nprotos = [{name:?}]\n"
    )
}

#[test]
fn check_reports_a_proto_error_at_its_file_line_and_column() {
    let text = "syntax = \"proto3\";\npackage acme.v1;\n\nmessage Book {\n  string name = 1\n  string title = 2;\n}\n";
    let proto = TempFile::new("syntax-error", "proto", text);
    let (output, _file) = check(&with_proto(&proto));
    let at = format!("{}:6:3: ", proto.path.display());
    assert_fails_naming(&output, &[&at, "expected ';'"]);
}

#[test]
fn check_hints_at_the_import_an_annotation_needs() {
    let text = concat!(
        "syntax = \"proto3\";\npackage acme.v1;\n\n",
        "service Library {\n",
        "  rpc GetBook(GetBookRequest) returns (GetBookRequest) {\n",
        "    option (google.api.http) = { get: \"/v1/{name=books/*}\" };\n",
        "  }\n}\n\n",
        "message GetBookRequest { string name = 1; }\n",
    );
    let proto = TempFile::new("no-import", "proto", text);
    let (output, _file) = check(&with_proto(&proto));
    let at = format!("{}:6:5: ", proto.path.display());
    assert_fails_naming(
        &output,
        &[
            &at,
            "'google.api.http' is not defined",
            "import \"google/api/annotations.proto\";",
        ],
    );
}

#[test]
fn routes_prints_the_route_table() {
    let file = TempFile::new("routes", "toml", &config_text(&Setup::default(), None));
    let path = file.path.display().to_string();
    let output = run(&["routes", "--config", &path]);
    assert!(output.status.success(), "{}", output.all());
    let lines: Vec<&str> = output.stdout.lines().map(str::trim).collect();
    for expected in [
        "GET /v1/users/{user_id} -> demo.v1.UserService/GetUser",
        "POST /v1/users -> demo.v1.UserService/CreateUser",
        "PATCH /v1/users/{user.user_id} -> demo.v1.UserService/UpdateUser",
        "DELETE /v1/users/{user_id} -> demo.v1.UserService/DeleteUser",
        "GET /v1/users -> demo.v1.UserService/ListUsers",
        "GET /v1/users/{user_id}/avatar -> demo.v1.UserService/GetAvatar",
        "POST /v1/users/{user_id}/avatar -> demo.v1.UserService/UploadAvatar",
        "POST /v1/greeter:sayHello -> demo.v1.Greeter/SayHello",
        "GET /v1/greeter/{name} -> demo.v1.Greeter/SayHello",
    ] {
        assert!(
            lines.contains(&expected),
            "route table has {expected:?}:\n{}",
            output.stdout
        );
    }
}

#[test]
fn routes_fails_on_a_bad_config() {
    let rule = "[[http_rules]]\nselector = \"demo.v1.Greeter.Nope\"\nget = \"/v1/nope\"\n";
    let file = TempFile::new("routes-bad", "toml", &with_rule(rule));
    let path = file.path.display().to_string();
    let output = run(&["routes", "--config", &path]);
    assert_fails_naming(&output, &["demo.v1.Greeter.Nope"]);
}

#[test]
fn help_works_for_every_subcommand() {
    let top = run(&["--help"]);
    assert!(top.status.success(), "{}", top.all());
    for sub in ["serve", "check", "routes", "demo-backend"] {
        assert!(
            top.stdout.contains(sub),
            "--help lists {sub}: {}",
            top.stdout
        );
    }
    for (sub, option) in [
        ("serve", "--config"),
        ("check", "--config"),
        ("routes", "--config"),
        ("demo-backend", "--listen"),
        ("demo-backend", "--version"),
    ] {
        let output = run(&[sub, "--help"]);
        assert!(output.status.success(), "{sub} --help: {}", output.all());
        assert!(
            output.stdout.contains(option),
            "{sub} --help documents {option}: {}",
            output.stdout
        );
    }
    let bad = run(&["no-such-command"]);
    assert!(!bad.status.success());
}

/// A plaintext gateway in this process fronting the demo services of a child at `addr`.
async fn gateway_in_front_of(addr: SocketAddr) -> h2gate::server::RunningGateway {
    let proto = demo_proto_dir();
    let text = format!(
        concat!(
            "[server]\nlisten = \"127.0.0.1:0\"\nplaintext = true\n\n",
            "[descriptors]\ninclude = [{proto:?}]\n",
            "protos = [\"demo/v1/user.proto\", \"demo/v1/greeter.proto\"]\n\n",
            "[[upstreams]]\nname = \"child\"\nendpoints = [\"http://{addr}\"]\nservices = [\"*\"]\n",
            "{rules}"
        ),
        proto = proto.display().to_string(),
        addr = addr,
        rules = GREETER_RULES,
    );
    let config = h2gate::config::parse(&text, "cli test").expect("config parses");
    crate::support::start_gateway(&config)
        .await
        .expect("gateway starts")
}

#[tokio::test]
async fn demo_backend_command_serves_the_demo_over_h2c() {
    let backend = BackendProcess::start().await;
    let running = gateway_in_front_of(backend.addr).await;
    let client = Client::h2c(running.local_addr).await;
    let user = client.get_ok("/v1/users/1").await;
    assert_eq!(user["name"], "Alan Turing");
    let reply = client.say_hello(&[], &json!({"name": "child"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["message"], "Hello, child!");
    drop(client);
    running.shutdown().await;
}

#[tokio::test]
async fn demo_backend_command_serves_either_version() {
    // (arguments, the tags of user 42, x-served-by)
    let cases: [(&[&str], Value, &str); 3] = [
        (&[], json!(["math", "poetry"]), h2gate_demo::SERVED_BY_VALUE),
        (
            &["--version", "v1"],
            json!(["math", "poetry"]),
            h2gate_demo::SERVED_BY_VALUE,
        ),
        (
            &["--version", "v2"],
            json!(["math", "poetry", h2gate_demo::V2_TAG]),
            h2gate_demo::SERVED_BY_VALUE_V2,
        ),
    ];
    for (args, tags, served_by) in cases {
        let backend = BackendProcess::start_with(args).await;
        let running = gateway_in_front_of(backend.addr).await;
        let client = Client::h2c(running.local_addr).await;
        let reply = client.get("/v1/users/42").await;
        assert_eq!(reply.status, StatusCode::OK, "{args:?}: {}", reply.text());
        let user = reply.json();
        assert_eq!(user["name"], "Ada Lovelace", "{args:?}: the same data");
        assert_eq!(user["tags"], tags, "{args:?}: {user}");
        assert_eq!(
            reply.header("grpc-metadata-x-served-by"),
            Some(served_by),
            "{args:?}: {:?}",
            reply.headers
        );
        drop(client);
        running.shutdown().await;
    }
}

#[test]
fn demo_backend_refuses_an_unknown_version_and_h2gate_version_still_prints() {
    let output = run(&["demo-backend", "--listen", "127.0.0.1:0", "--version", "v3"]);
    assert_fails_naming(&output, &["\"v3\"", "v1, v2"]);
    let output = run(&["--version"]);
    assert!(output.status.success(), "{}", output.all());
    assert_eq!(
        output.stdout.trim(),
        format!("h2gate {}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn serve_command_serves_https() {
    let gateway = GatewayProcess::start(&Setup::default()).await;
    let client = Client::tls(gateway.addr, &[b"h2", b"http/1.1"]).await;
    assert_eq!(client.alpn(), Some(&b"h2"[..]));
    assert_eq!(client.get_ok("/healthz").await, json!({"status": "ok"}));
    assert_eq!(client.get_ok("/v1/users/42").await["name"], "Ada Lovelace");
    let hello = client.get_ok("/v1/greeter/cli").await;
    assert_eq!(hello["message"], "Hello, cli!");
}

#[tokio::test]
async fn serve_refuses_an_address_another_process_listens_on() {
    let gateway = TestGateway::plaintext("").await;
    let other = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    for addr in [gateway.addr, other.local_addr().expect("address")] {
        let text =
            config_text(&Setup::default(), None).replacen("127.0.0.1:0", &addr.to_string(), 1);
        let file = TempFile::new("in-use", "toml", &text);
        let path = file.path.display().to_string();
        let started = Instant::now();
        let output = tokio::task::spawn_blocking(move || run(&["serve", "--config", &path]))
            .await
            .expect("run h2gate serve");
        assert!(!output.status.success(), "{}", output.all());
        crate::listen_address::assert_names_address_in_use(&output.stderr, addr);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "refused after {:?}",
            started.elapsed()
        );
    }
    gateway.shutdown().await;
}

#[test]
fn check_validates_the_operations_sections() {
    let base = config_text(&Setup::default(), None);
    let cases = [
        (
            "[tracing]\nsample_ratio = 1.5\n",
            "[tracing] sample_ratio must be between 0.0 and 1.0",
        ),
        (
            "[tracing]\notlp_endpoint = \"collector:4317\"\n",
            "[tracing] otlp_endpoint must be an http:// or https:// URL",
        ),
        (
            "[tracing]\notlp_endpoint = \"http://\"\n",
            "[tracing] otlp_endpoint:",
        ),
        ("[tracing]\nservice = \"x\"\n", "unknown field `service`"),
        (
            "[admin]\nlisten = \"nowhere\"\n",
            "invalid socket address syntax",
        ),
        (
            "[admin]\nlisten = \"127.0.0.1:8443\"\n",
            "the admin listener needs an address of its own",
        ),
    ];
    for (section, expected) in cases {
        // The base already listens on port 0; the admin clash needs a fixed [server] listen.
        let text = if section.contains("8443") {
            format!("{}{section}", base.replace("127.0.0.1:0", "127.0.0.1:8443"))
        } else {
            format!("{base}{section}")
        };
        let (output, _file) = check(&text);
        assert!(!output.status.success(), "{section}: {}", output.all());
        assert!(
            output.all().contains(expected),
            "{section}: {}",
            output.all()
        );
    }
    let good = "[admin]\nlisten = \"127.0.0.1:0\"\n\n[tracing]\notlp_endpoint = \"http://127.0.0.1:4317\"\nsample_ratio = 0.1\n";
    let (output, _file) = check(&format!("{base}{good}"));
    assert!(output.status.success(), "{}", output.all());
}
