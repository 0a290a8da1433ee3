//! Entry points for the `cargo fuzz` targets in `fuzz/` (how to run them: `fuzz/README.md`).
//!
//! Each entry point hands untrusted bytes to the code the gateway runs on them, through the
//! calls the request path and start-up make (route lookup, the transcoder's request side, the
//! direct and general reply writers, the upstream call, `config::parse`, rule collection), so
//! fuzzing exercises production code and reimplements none of it. This is the only API the
//! fuzz crate uses, so the modules behind it can become crate-private without breaking the
//! targets. An entry point returns normally for every input the gateway can answer, whatever
//! the answer; a panic, a hang, or a [`Mismatch`] (a wrong answer) is a finding.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use prost_reflect::MessageDescriptor;
use tokio::net::TcpListener;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use crate::config::{self, Config, DescriptorsConfig, UpstreamConfig};
use crate::errors::BusinessCodes;
use crate::gateway::Plan;
use crate::routing::{Lookup, PathTemplate, RouteTable, UpstreamId, rule_sources};
use crate::transcoding::{JsonOptions, WireJson, render_response};
use crate::upstream::metadata::{HeaderForwarding, copy_to_response};
use crate::upstream::{self, Attempts, Upstreams, call_unary, open_single};

/// A wrong answer found by a target: what differed, for the crash report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// Parses a path template; a template that parses must print as a canonical text that parses
/// back to the same template (the guarantee of `PathTemplate`'s `Display`).
pub fn path_template(text: &str) -> Result<(), Mismatch> {
    let Ok(template) = PathTemplate::parse(text) else {
        return Ok(());
    };
    let canonical = template.to_string();
    match PathTemplate::parse(&canonical) {
        Ok(again) if again == template => Ok(()),
        other => Err(Mismatch(format!(
            "{text:?} prints as {canonical:?}, which parses to {other:?}"
        ))),
    }
}

/// The fuzz service and the demo services loaded as `h2gate serve` loads them.
const FIXTURE_CONFIG: &str = r#"
[[upstreams]]
name = "fuzz"
endpoints = ["http://127.0.0.1:9"]
services = ["*"]

[[http_rules]]
selector = "demo.v1.Greeter.SayHello"
post = "/v1/greeter:sayHello"
body = "*"
additional_bindings = [{ get = "/v1/greeter/{name}" }]
"#;

/// Requests whose route takes no body, for the query target: every shape of path binding.
const QUERY_REQUESTS: &[(&str, &str)] = &[
    ("GET", "/v1/everything/abc"),
    ("GET", "/v1/shelves/s/books/b/items/42"),
    ("GET", "/v1/files/a/b%2Fc/meta:peek"),
    ("PATCH", "/v1/everything/things/x"),
    ("POST", "/v1/everything/things/x:nested"),
];

/// Requests whose route takes a body, for the JSON target: the whole message, a message
/// field (PATCH: update mask derived), a repeated, a map and a well-known type field, a
/// client stream, and `google.api.HttpBody` as the message and as a field.
const BODY_REQUESTS: &[(&str, &str)] = &[
    ("POST", "/v1/everything"),
    ("PATCH", "/v1/everything/things/x"),
    ("POST", "/v1/everything/things/x:many"),
    ("POST", "/v1/everything/things/x:labels"),
    ("POST", "/v1/everything/things/x:when"),
    ("POST", "/v1/feeds/f:feed"),
    ("POST", "/v1/uploads/u"),
    ("REPORT", "/v1/raw/a/b"),
];

/// What the targets that need descriptors share, built once per fuzzing process.
pub struct Fixture {
    plan: Plan,
    /// Direct writers with JSON and with proto field names (the plan has one of the two).
    writers: [WireJson; 2],
    reply: MessageDescriptor,
    everything: MessageDescriptor,
    /// Where the YAML target writes its input: the rule loader reads files only.
    rules_file: PathBuf,
}

impl Fixture {
    /// Builds the gateway's plan for `fuzz/v1/everything.proto` (under the import root
    /// `fuzz_protos`) and the demo's protos (under `demo_protos`), as start-up does.
    pub fn load(fuzz_protos: &Path, demo_protos: &Path) -> Result<Self, String> {
        let mut config =
            config::parse(FIXTURE_CONFIG, "fuzz fixture").map_err(|err| err.to_string())?;
        config.descriptors = DescriptorsConfig {
            include: vec![fuzz_protos.to_owned(), demo_protos.to_owned()],
            protos: [
                "fuzz/v1/everything.proto",
                "demo/v1/user.proto",
                "demo/v1/greeter.proto",
                "demo/v1/chat.proto",
                "demo/v1/media.proto",
            ]
            .iter()
            .map(PathBuf::from)
            .collect(),
            ..DescriptorsConfig::default()
        };
        let plan = Plan::build(&config, None).map_err(|problems| problems.join("\n"))?;
        let message = |name: &str| {
            plan.transcoder
                .pool()
                .get_message_by_name(name)
                .ok_or_else(|| format!("{name} is not in the fuzz proto"))
        };
        let reply = message("fuzz.v1.Reply")?;
        let everything = message("fuzz.v1.Everything")?;
        let writers = [false, true].map(|names| WireJson::compile([&reply], names));
        let rules_file =
            std::env::temp_dir().join(format!("h2gate-fuzz-rules-{}.yaml", std::process::id()));
        Ok(Self {
            plan,
            writers,
            reply,
            everything,
            rules_file,
        })
    }

    /// One request as the handler takes it: route lookup, then the input message built from
    /// the path bindings, the query and `body`. A client's request may be refused, but never
    /// with INTERNAL (that is a gateway bug), and a match binds every template variable.
    fn request(&self, method: &str, target: &str, body: &[u8]) -> Result<(), Mismatch> {
        // hyper hands the handler only methods and URIs that parse; others never get here.
        let Ok(request) = Request::builder()
            .method(method)
            .uri(target)
            .header("content-type", "application/octet-stream")
            .body(())
        else {
            return Ok(());
        };
        let (parts, ()) = request.into_parts();
        let found = match self.plan.routes.lookup(&parts.method, parts.uri.path()) {
            Lookup::Matched(found) => found,
            _ => return Ok(()),
        };
        if found.bindings.len() != found.template.variables().len() {
            return Err(Mismatch(format!(
                "{method} {target}: {} bindings for the {} variables of {}",
                found.bindings.len(),
                found.template.variables().len(),
                found.template
            )));
        }
        let rules = Arc::clone(&found.value.rules);
        let bindings = found.bindings.into_iter();
        let bindings = bindings.map(|b| (b.variable, b.value)).collect();
        let request = self.plan.transcoder.request(rules, bindings, &parts);
        match request.encode(body) {
            Err(error) if error.code() == Code::Internal => Err(Mismatch(format!(
                "{method} {target} with a {}-byte body: {error}",
                body.len()
            ))),
            _ => Ok(()),
        }
    }

    /// Route matching of `method` and `target` (path and query) against the fuzz and demo
    /// route tables, then the path bindings transcoded into the input message.
    pub fn match_path(&self, method: &str, target: &str) -> Result<(), Mismatch> {
        self.request(method, target, b"")
    }

    /// The query string `query` applied to the input message of every body-less route shape.
    pub fn query_into(&self, query: &str) -> Result<(), Mismatch> {
        for (method, path) in QUERY_REQUESTS {
            self.request(method, &format!("{path}?{query}"), b"")?;
        }
        Ok(())
    }

    /// The request body `json` decoded into the input message of every body route shape.
    pub fn json_into(&self, json: &[u8]) -> Result<(), Mismatch> {
        for (method, path) in BODY_REQUESTS {
            self.request(method, path, json)?;
        }
        Ok(())
    }

    /// Reply bytes written as JSON by the direct writer and by the general path (decode into a
    /// `DynamicMessage`, then serialize), with every combination of the JSON options. Where the
    /// direct writer answers, the general one must succeed with the same JSON value; where it
    /// declines (`None`), the general path decides alone, as in the gateway. Values are
    /// compared as `serde_json::Value`s, so only representation differs freely (map entry
    /// order, which is wire order for one and a hash map's for the other).
    pub fn wire_to_json_differential(&self, bytes: &[u8]) -> Result<(), Mismatch> {
        for (use_proto_names, writers) in [false, true].into_iter().zip(&self.writers) {
            for emit_unpopulated in [true, false] {
                let json = JsonOptions {
                    emit_unpopulated,
                    use_proto_names,
                    ignore_unknown_fields: false,
                };
                let Some(direct) = writers.write(&self.reply, bytes, emit_unpopulated) else {
                    continue;
                };
                let options = json.serialize_options();
                let general = render_response(&self.reply, None, bytes, &options, use_proto_names);
                let direct = serde_json::from_slice::<serde_json::Value>(&direct);
                let general = general.map_err(|err| err.to_string()).and_then(|body| {
                    serde_json::from_slice::<serde_json::Value>(&body.body)
                        .map_err(|err| err.to_string())
                });
                match (direct, general) {
                    (Ok(direct), Ok(general)) if direct == general => {}
                    (direct, general) => {
                        return Err(Mismatch(format!(
                            "{json:?}: direct writer {direct:?}, general path {general:?}"
                        )));
                    }
                }
            }
        }
        // The general path alone (no direct writer takes well-known types) must not panic.
        let options = JsonOptions::default().serialize_options();
        let _ = render_response(&self.everything, None, bytes, &options, false);
        Ok(())
    }

    /// A backend status whose first byte is the code and the rest the raw
    /// `grpc-status-details-bin`, mapped to the gateway's error response as the handler maps
    /// it. The body must be JSON and every detail an object with `"@type"` first.
    pub fn status_details(&self, bytes: &[u8]) -> Result<(), Mismatch> {
        let (code, details) = bytes.split_first().unwrap_or((&0, &[]));
        let code = Code::from(i32::from(*code) % 17);
        let status = Status::with_details(code, "fuzz", Bytes::copy_from_slice(details));
        error_json(&status, &self.plan)
    }

    /// Config text as `h2gate check` reads it, up to the point where it would read the files
    /// the config names (a fuzzer must not open arbitrary paths): the business codes, the
    /// header policy, the endpoints, and the `[[http_rules]]` resolved into a route table.
    pub fn config_toml(&self, text: &str) {
        let Ok(config) = config::parse(text, "fuzz.toml") else {
            return;
        };
        let _ = BusinessCodes::with_overrides(config.errors.codes.clone());
        let _ = HeaderForwarding::new(&config.metadata.forward_headers);
        let _ = upstream::registry(&config.upstreams, None);
        if !config.http_rules.is_empty() {
            let (rules, _) =
                rule_sources::collect(self.plan.transcoder.pool(), &config.http_rules, &[]);
            self.routes(&rules, &config);
        }
    }

    /// A grpc-gateway style YAML rule file, loaded and resolved into a route table as
    /// start-up does.
    pub fn yaml_rules(&self, text: &str) -> Result<(), String> {
        std::fs::write(&self.rules_file, text)
            .map_err(|err| format!("{}: {err}", self.rules_file.display()))?;
        let files = [self.rules_file.clone()];
        let (rules, _) = rule_sources::collect(self.plan.transcoder.pool(), &[], &files);
        self.routes(&rules, &Config::default());
        Ok(())
    }

    fn routes(&self, rules: &[rule_sources::SelectedRule], config: &Config) {
        let decoding = config.routing.multi_segment_decoding;
        let _ = RouteTable::build(rules, decoding, |method| {
            let service = method.parent_service();
            let upstream = Upstreams::resolve(&config.upstreams, service.full_name());
            Some((upstream.unwrap_or(UpstreamId(0)), None))
        });
    }
}

/// The gateway's error response for a backend status, as `Gateway::status_error` builds it;
/// a body that is not JSON, or a detail without `"@type"` first, is a mismatch.
fn error_json(status: &Status, plan: &Plan) -> Result<(), Mismatch> {
    let body = upstream::status_error(&plan.transcoder, status).to_json(&plan.codes);
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|err| Mismatch(format!("error body is not JSON ({err}): {body:?}")))?;
    let details = value.get("details").and_then(|d| d.as_array());
    let typed_first = |detail: &serde_json::Value| {
        detail
            .as_object()
            .and_then(|object| object.keys().next())
            .is_some_and(|key| key == "@type")
    };
    match details {
        Some(details) if details.iter().all(typed_first) => Ok(()),
        _ => Err(Mismatch(format!(
            "details without \"@type\" first: {value}"
        ))),
    }
}

/// A scripted backend on loopback and the gateway's upstream side calling it over a real
/// HTTP/2 connection (`call_unary` and `open_single`, as unary and server-streaming calls
/// do): the response head, the gRPC message framing, trailers and status details all come
/// from the fuzz input.
pub struct UpstreamFixture {
    runtime: tokio::runtime::Runtime,
    upstreams: Upstreams,
    script: Arc<Mutex<Vec<u8>>>,
    plan: Plan,
}

/// Small, so that inputs reach both sides of `max_response_bytes`.
const MAX_RESPONSE_BYTES: usize = 1024;

impl UpstreamFixture {
    /// Starts the backend; `fixture` lends the descriptors details are decoded with.
    pub fn start(fixture: Fixture) -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| err.to_string())?;
        let script = Arc::new(Mutex::new(Vec::new()));
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .map_err(|err| err.to_string())?;
        let address = listener.local_addr().map_err(|err| err.to_string())?;
        runtime.spawn(serve(listener, Arc::clone(&script)));
        let mut config =
            UpstreamConfig::new("fuzz", vec![format!("http://{address}")], vec!["*".into()]);
        config.timeout_ms = 5_000;
        config.stream_idle_timeout_ms = 5_000;
        // One endpoint is never ejected anyway; scripted errors must not change how it is used.
        config.outlier.enabled = false;
        let configs = [config];
        let registry = upstream::registry(&configs, None).map_err(|err| err.to_string())?;
        let upstreams = Upstreams::new(&registry, MAX_RESPONSE_BYTES);
        Ok(Self {
            runtime,
            upstreams,
            script,
            plan: fixture.plan,
        })
    }

    /// One call answered as `script` says (format: [`Script::parse`]).
    pub fn grpc_frames(&self, script: &[u8]) -> Result<(), Mismatch> {
        let Some(parsed) = Script::parse(script) else {
            return Ok(());
        };
        if let Ok(mut slot) = self.script.lock() {
            *slot = script.to_vec();
        }
        let Some(upstream) = self.upstreams.get(UpstreamId(0)) else {
            return Ok(());
        };
        let path = http::uri::PathAndQuery::from_static("/fuzz.v1.EverythingService/Get");
        let (message, metadata) = (Bytes::new(), MetadataMap::new());
        self.runtime.block_on(async {
            let balancer = &upstream.balancer;
            let deadline = Duration::from_secs(5);
            if parsed.unary {
                let mut attempts = Attempts::default();
                let call = call_unary(
                    balancer,
                    (path, message),
                    metadata,
                    deadline,
                    false,
                    &mut attempts,
                );
                return match call.await {
                    Ok(reply) => {
                        let mut out = HeaderMap::new();
                        copy_to_response(&reply.headers, false, &mut out);
                        copy_to_response(&reply.trailers, true, &mut out);
                        Ok(())
                    }
                    Err(status) => error_json(&status, &self.plan),
                };
            }
            let mut attempts = Attempts::default();
            let opened = open_single(balancer, path, message, metadata, &mut attempts);
            let mut open = match opened.await {
                Ok(open) => open,
                Err(status) => return error_json(&status, &self.plan),
            };
            loop {
                match open.messages.message().await {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        return match open.messages.trailers().await {
                            Ok(_) => Ok(()),
                            Err(status) => error_json(&status, &self.plan),
                        };
                    }
                    Err(status) => return error_json(&status, &self.plan),
                }
            }
        })
    }
}

/// How the backend answers one call. Input layout: a flags byte (bits 0-1: `:status` 200,
/// 200, 404 or 503; bit 2: `content-type: application/grpc`, else `text/plain`; bit 3:
/// trailers-only; bit 4: trailers after the data; bit 5: a unary call, else a stream), the
/// `grpc-status` byte (written in decimal), the DATA frame size (0: one frame), then three
/// length-prefixed byte strings (`grpc-status-details-bin`, `grpc-message`, and one more
/// `name:value` metadata entry; a value that is no valid header is left out), then the DATA.
struct Script<'a> {
    status: StatusCode,
    grpc: bool,
    trailers_only: bool,
    trailers: bool,
    unary: bool,
    grpc_status: u8,
    chunk: usize,
    details: &'a [u8],
    message: &'a [u8],
    extra: &'a [u8],
    data: &'a [u8],
}

impl<'a> Script<'a> {
    fn parse(bytes: &'a [u8]) -> Option<Self> {
        let (&[flags, grpc_status, chunk], rest) = bytes.split_first_chunk::<3>()?;
        let (details, rest) = length_prefixed(rest)?;
        let (message, rest) = length_prefixed(rest)?;
        let (extra, data) = length_prefixed(rest)?;
        let status = match flags & 3 {
            2 => StatusCode::NOT_FOUND,
            3 => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::OK,
        };
        Some(Self {
            status,
            grpc: flags & 4 != 0,
            trailers_only: flags & 8 != 0,
            trailers: flags & 16 != 0,
            unary: flags & 32 != 0,
            grpc_status,
            chunk: usize::from(chunk),
            details,
            message,
            extra,
            data,
        })
    }

    /// The status fields and the extra entry, as a head (trailers-only) or trailers.
    fn status_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "grpc-status",
            HeaderValue::from(u16::from(self.grpc_status)),
        );
        let fields = [
            ("grpc-status-details-bin", self.details),
            ("grpc-message", self.message),
        ];
        for (name, value) in fields {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.insert(name, value);
            }
        }
        if let Some((name, value)) = split_entry(self.extra) {
            headers.append(name, value);
        }
        headers
    }

    fn head(&self) -> Response<()> {
        let mut response = Response::new(());
        *response.status_mut() = self.status;
        let content_type = if self.grpc {
            "application/grpc"
        } else {
            "text/plain"
        };
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static(content_type));
        if self.trailers_only {
            headers.extend(self.status_headers());
        } else if let Some((name, value)) = split_entry(self.extra) {
            headers.append(name, value);
        }
        response
    }
}

fn length_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = bytes.split_first()?;
    let len = usize::from(len).min(rest.len());
    Some(rest.split_at(len))
}

fn split_entry(entry: &[u8]) -> Option<(HeaderName, HeaderValue)> {
    let colon = entry.iter().position(|&b| b == b':')?;
    let (name, value) = entry.split_at(colon);
    let value = value.get(1..)?;
    Some((
        HeaderName::from_bytes(name).ok()?,
        HeaderValue::from_bytes(value).ok()?,
    ))
}

/// The backend: answers every call on every connection with the current script.
async fn serve(listener: TcpListener, script: Arc<Mutex<Vec<u8>>>) {
    while let Ok((socket, _)) = listener.accept().await {
        let script = Arc::clone(&script);
        tokio::spawn(async move {
            let Ok(mut connection) = h2::server::handshake(socket).await else {
                return;
            };
            while let Some(Ok((request, respond))) = connection.accept().await {
                let bytes = script.lock().map(|s| s.clone()).unwrap_or_default();
                tokio::spawn(answer(request, respond, bytes));
            }
        });
    }
}

async fn answer(
    request: Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    bytes: Vec<u8>,
) {
    // The whole request first, as a real backend reads it before answering a unary call.
    let mut body = request.into_body();
    while let Some(Ok(_)) = body.data().await {}
    let Some(script) = Script::parse(&bytes) else {
        return;
    };
    let end_with_data = !script.trailers;
    let Ok(mut send) = respond.send_response(script.head(), script.trailers_only) else {
        return;
    };
    if script.trailers_only {
        return;
    }
    let size = if script.chunk == 0 {
        script.data.len().max(1)
    } else {
        script.chunk
    };
    let mut chunks = script.data.chunks(size).peekable();
    if chunks.peek().is_none() && end_with_data {
        let _ = send.send_data(Bytes::new(), true);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let _ = send.send_data(Bytes::copy_from_slice(chunk), last && end_with_data);
    }
    if script.trailers {
        let _ = send.send_trailers(script.status_headers());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn repo() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// The committed seeds of one target (the crash inputs found so far are among them).
    fn seeds(target: &str) -> Vec<Vec<u8>> {
        let dir = repo().join("fuzz/corpus").join(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no seeds in {}", dir.display());
        files
            .iter()
            .map(|path| std::fs::read(path).unwrap())
            .collect()
    }

    fn texts(target: &str) -> Vec<String> {
        seeds(target)
            .into_iter()
            .filter_map(|seed| String::from_utf8(seed).ok())
            .collect()
    }

    /// Every target's seed corpus, replayed through its entry point: `cargo test` keeps the
    /// seeds (and the findings added to them) passing without the fuzzing toolchain.
    #[test]
    fn every_seed_corpus_replays_without_a_finding() {
        let fixture = Fixture::load(&repo().join("fuzz/proto"), &repo().join("demo/proto"))
            .unwrap_or_else(|problems| panic!("{problems}"));
        for text in texts("path_template") {
            path_template(&text).unwrap();
        }
        for text in texts("route_match") {
            let (method, target) = text.split_once(' ').unwrap_or(("GET", &text));
            fixture.match_path(method, target).unwrap();
        }
        for text in texts("query_params") {
            fixture.query_into(&text).unwrap();
        }
        for seed in seeds("json_body") {
            fixture.json_into(&seed).unwrap();
        }
        for seed in seeds("wire_json_diff") {
            fixture.wire_to_json_differential(&seed).unwrap();
        }
        for seed in seeds("status_details") {
            fixture.status_details(&seed).unwrap();
        }
        for text in texts("config_toml") {
            fixture.config_toml(&text);
        }
        for text in texts("yaml_rules") {
            fixture.yaml_rules(&text).unwrap();
        }
        let upstream = UpstreamFixture::start(fixture).unwrap();
        for seed in seeds("grpc_frames") {
            upstream.grpc_frames(&seed).unwrap();
        }
    }

    #[test]
    fn the_fixture_routes_every_request_shape_the_targets_use() {
        let fixture = Fixture::load(&repo().join("fuzz/proto"), &repo().join("demo/proto"))
            .unwrap_or_else(|problems| panic!("{problems}"));
        for (method, path) in QUERY_REQUESTS.iter().chain(BODY_REQUESTS) {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let found = fixture.plan.routes.lookup(&method, path);
            assert!(matches!(found, Lookup::Matched(_)), "{method} {path}");
        }
    }
}
