//! Backends that fail under a call: each fault gives the ErrorResponse (or `{"error"}` line)
//! it must, the client's connection stays usable, and no internal address (the backend's
//! `127.0.0.1:port`) reaches the client.
//!
//! A fault that breaks a whole endpoint (a killed process, noise instead of HTTP/2, silence)
//! sits on an upstream of its own, beside the embedded demo, so the same client connection can
//! prove it still works; a fault in one method's reply sits in an otherwise healthy demo
//! ([`PatchedDemo`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::{Value, json};

use super::support::{
    BackendProcess, BlackHole, BodyReader, CountingBackend, GREETER_RULES, PatchedDemo, RawBackend,
    RawBehaviour, Reply, Scripted, StreamingClient, TestGateway, assert_error, declared_frame,
    demo_upstream_tables, encoded_user, grpc_frame, message_of,
};

/// The Greeter's and the UserService's stream's gRPC paths, as a [`PatchedDemo`] matches them.
const SAY_HELLO: &str = "/demo.v1.Greeter/SayHello";
const STREAM_USERS: &str = "/demo.v1.UserService/StreamUsers";

/// A small server stream on the faulty upstream (MediaService.Download, raw bytes).
const DOWNLOAD: &str = "/v1/media/fault.bin:download?sizeBytes=10";

fn h2c(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// The embedded demo, with the services named (e.g. the Greeter) routed instead to an upstream
/// `faulty` at `endpoint` with the given upstream keys.
async fn gateway_beside_embedded(
    endpoint: &str,
    services: &[&str],
    upstream_keys: &str,
) -> TestGateway {
    let extra = format!(
        "[[upstreams]]\nname = \"faulty\"\nendpoints = [{endpoint:?}]\nservices = {services:?}\n\
         {upstream_keys}\n"
    );
    TestGateway::start(&extra).await
}

/// A TLS gateway whose UserService and Greeter are at `endpoints`, plus `extra` tables.
async fn gateway_for(endpoints: &[String], server_keys: &str, extra: &str) -> TestGateway {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{server_keys}\n{}{GREETER_RULES}\n{extra}\n",
        demo_upstream_tables(endpoints, "")
    );
    TestGateway::from_text(text).await
}

/// Neither the backend's address nor any loopback address is in what the client got.
fn assert_no_internal_address(what: &str, backend: SocketAddr) {
    let port = format!(":{}", backend.port());
    assert!(
        !what.contains("127.0.0.1") && !what.contains(&port),
        "no internal address ({backend}) reaches the client: {what}"
    );
}

/// [`assert_no_internal_address`] over a whole reply, headers included.
fn assert_reply_hides(reply: &Reply, backend: SocketAddr) {
    let headers: Vec<String> = reply
        .headers
        .iter()
        .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    assert_no_internal_address(&format!("{headers:?} {}", reply.text()), backend);
}

/// A call's reply and how long it took.
async fn timed(call: impl std::future::Future<Output = Reply>) -> (Reply, Duration) {
    let started = Instant::now();
    let reply = call.await;
    (reply, started.elapsed())
}

/// The NDJSON lines of a whole streamed reply.
fn ndjson_lines(reply: &Reply) -> Vec<Value> {
    assert_eq!(
        reply.header("content-type"),
        Some("application/x-ndjson"),
        "a stream that started is NDJSON: {:?}",
        reply.headers
    );
    reply
        .text()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("NDJSON line {line:?}: {err}"))
        })
        .collect()
}

/// The last line of a stream that started is its error, with this status and business code.
fn assert_error_line(lines: &[Value], status: &str, code: i64) -> Value {
    let last = lines.last().expect("at least one line");
    let error = &last["error"];
    assert_eq!(error["status"], status, "last line: {last}");
    assert_eq!(error["code"], code, "last line: {last}");
    assert!(error["message"].is_string(), "{last}");
    assert!(error["details"].is_array(), "{last}");
    error.clone()
}

// ---------------------------------------------------------------------------------------------
// A backend process killed under a call

#[tokio::test]
async fn a_backend_killed_mid_unary_is_unavailable() {
    let mut backend = BackendProcess::start().await;
    let gateway = gateway_beside_embedded(&h2c(backend.addr), &["demo.v1.Greeter"], "").await;
    let client = gateway.client().await;
    let warm = client.say_hello(&[], &json!({"name": "warm"})).await;
    assert_eq!(warm.status, StatusCode::OK, "{}", warm.text());
    let body = json!({"name": "slow", "delayMs": 3000});
    let slow = client.say_hello(&[], &body);
    let kill = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        backend.kill();
    };
    let (reply, ()) = tokio::join!(slow, kill);
    assert_error(&reply, 503, "UNAVAILABLE", 20001);
    assert_reply_hides(&reply, backend.addr);
    // Nothing listens any more: the next call is the same clean error, not a hang.
    let after = client.say_hello(&[], &json!({"name": "after"})).await;
    assert_error(&after, 503, "UNAVAILABLE", 20001);
    assert_reply_hides(&after, backend.addr);
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_backend_killed_mid_stream_ends_the_stream_with_unavailable() {
    let mut backend = BackendProcess::start().await;
    let gateway = gateway_beside_embedded(&h2c(backend.addr), &["demo.v1.UserService"], "").await;
    let client = StreamingClient::connect(gateway.addr).await;
    let response = client
        .get("/v1/users:stream?count=1000&intervalMs=20", &[])
        .await;
    assert_eq!(response.status(), 200);
    let mut reader = BodyReader::new(response);
    let first = reader.json_line().await.expect("a first message");
    assert!(first["result"]["userId"].is_string(), "{first}");
    backend.kill();
    let mut last = first;
    while let Some(line) = reader.json_line().await {
        last = line;
    }
    let error = &last["error"];
    assert_eq!(error["status"], "UNAVAILABLE", "{last}");
    assert_eq!(error["code"], 20001, "{last}");
    assert_no_internal_address(&last.to_string(), backend.addr);
    // The same connection still serves (the Greeter is the embedded demo's).
    let response = client.get("/v1/greeter/after", &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(BodyReader::json(response).await["message"], "Hello, after!");
    gateway.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Bytes that are not HTTP/2

#[tokio::test]
async fn a_backend_answering_bytes_that_are_not_http2_is_unavailable() {
    for behaviour in [RawBehaviour::Http1Answer, RawBehaviour::Noise] {
        let backend = RawBackend::start(behaviour).await;
        let gateway = gateway_beside_embedded(
            &h2c(backend.addr),
            &["demo.v1.Greeter", "demo.v1.MediaService"],
            "",
        )
        .await;
        let client = gateway.client().await;
        // Every attempt opens a connection that fails the same way; none may hang.
        for attempt in 0..3 {
            let (reply, took) = timed(client.say_hello(&[], &json!({"name": "x"}))).await;
            assert_error(&reply, 503, "UNAVAILABLE", 20001);
            assert_reply_hides(&reply, backend.addr);
            assert!(
                took < Duration::from_secs(2),
                "{behaviour:?}, attempt {attempt}: answered after {took:?}"
            );
        }
        let (reply, took) = timed(client.get(DOWNLOAD)).await;
        assert_error(&reply, 503, "UNAVAILABLE", 20001);
        assert_reply_hides(&reply, backend.addr);
        assert!(
            took < Duration::from_secs(2),
            "{behaviour:?}: stream after {took:?}"
        );
        client.assert_still_usable().await;
        gateway.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------------
// A proxy's HTML error page instead of gRPC

#[tokio::test]
async fn a_proxy_html_502_page_is_unavailable_for_unary_and_streams() {
    let backend = PatchedDemo::start(vec![
        (SAY_HELLO, Scripted::html_page(502)),
        (STREAM_USERS, Scripted::html_page(502)),
    ])
    .await;
    let gateway = gateway_for(&[h2c(backend.addr)], "", "").await;
    let client = gateway.client().await;
    // gRPC's HTTP-to-gRPC table: 502 is UNAVAILABLE. The page itself is not passed on.
    let reply = client.say_hello(&[], &json!({"name": "x"})).await;
    let body = assert_error(&reply, 503, "UNAVAILABLE", 20001);
    assert!(!reply.text().contains("<html"), "{body}");
    assert_reply_hides(&reply, backend.addr);
    // The page comes where the stream's response head should: an ordinary ErrorResponse.
    let reply = client.get("/v1/users:stream?count=3").await;
    let body = assert_error(&reply, 503, "UNAVAILABLE", 20001);
    assert!(!reply.text().contains("<html"), "{body}");
    assert_reply_hides(&reply, backend.addr);
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// A compressed message nobody announced

#[tokio::test]
async fn a_compressed_message_without_grpc_encoding_is_internal() {
    // The flag says compressed, no `grpc-encoding` says how: the gRPC spec requires INTERNAL.
    let stream = vec![
        grpc_frame(0, &encoded_user("s1")),
        grpc_frame(1, &encoded_user("s2")),
    ];
    let backend = PatchedDemo::start(vec![
        (
            SAY_HELLO,
            Scripted::grpc(vec![grpc_frame(1, b"\x0a\x02hi")]),
        ),
        (STREAM_USERS, Scripted::grpc(stream)),
    ])
    .await;
    let gateway = gateway_for(&[h2c(backend.addr)], "", "").await;
    let client = gateway.client().await;
    let reply = client.say_hello(&[], &json!({"name": "x"})).await;
    let body = assert_error(&reply, 500, "INTERNAL", 50000);
    assert!(message_of(&body).contains("compress"), "{body}");
    assert_reply_hides(&reply, backend.addr);
    // The first message went out; the compressed second one ends the stream.
    let reply = client.get("/v1/users:stream?count=2").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let lines = ndjson_lines(&reply);
    assert_eq!(lines.len(), 2, "{}", reply.text());
    assert_eq!(lines[0]["result"]["userId"], "s1", "{}", reply.text());
    let error = assert_error_line(&lines, "INTERNAL", 50000);
    assert!(message_of(&error).contains("compress"), "{error}");
    assert_reply_hides(&reply, backend.addr);
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// A reply larger than max_response_bytes

/// Small enough that a padded user or a long greeting exceeds it, large enough for user 42.
const SMALL_REPLIES: &str = "[limits]\nmax_response_bytes = 1024\n";

#[tokio::test]
async fn a_reply_over_max_response_bytes_is_internal() {
    let gateway = TestGateway::start(SMALL_REPLIES).await;
    let client = gateway.client().await;
    let name = "x".repeat(5000);
    let reply = client.say_hello(&[], &json!({"name": name})).await;
    let body = assert_error(&reply, 500, "INTERNAL", 50000);
    assert!(message_of(&body).contains("max_response_bytes"), "{body}");
    // The first message is already too large: an ordinary ErrorResponse.
    let reply = client
        .get("/v1/users:stream?count=1&paddingBytes=5000")
        .await;
    let body = assert_error(&reply, 500, "INTERNAL", 50000);
    assert!(message_of(&body).contains("max_response_bytes"), "{body}");
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

/// A stream whose backend sends the user `s1`, then the header of a message declaring 64 MiB
/// and none of it: the client gets `s1`, then an INTERNAL error line naming the limit, at once
/// (the oversized message is refused at its header, before anything of it is awaited or
/// buffered).
async fn assert_first_message_then_too_large(pieces: Vec<Vec<u8>>) {
    let backend = PatchedDemo::start(vec![(STREAM_USERS, Scripted::grpc(pieces))]).await;
    let gateway = gateway_for(&[h2c(backend.addr)], "", SMALL_REPLIES).await;
    let client = gateway.client().await;
    let (reply, took) = timed(client.get("/v1/users:stream?count=2")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let lines = ndjson_lines(&reply);
    assert_eq!(lines.len(), 2, "{}", reply.text());
    assert_eq!(lines[0]["result"]["userId"], "s1", "{}", reply.text());
    let error = assert_error_line(&lines, "INTERNAL", 50000);
    assert!(message_of(&error).contains("max_response_bytes"), "{error}");
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    assert_reply_hides(&reply, backend.addr);
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_stream_message_over_max_response_bytes_ends_the_stream_with_internal() {
    // In DATA frames of their own, as messages produced some time apart travel.
    assert_first_message_then_too_large(vec![
        grpc_frame(0, &encoded_user("s1")),
        declared_frame(64 << 20),
    ])
    .await;
}

#[tokio::test]
async fn a_first_message_coalesced_with_an_oversized_one_is_still_delivered() {
    // A backend producing messages quickly writes them together, in one DATA frame.
    assert_first_message_then_too_large(vec![
        [grpc_frame(0, &encoded_user("s1")), declared_frame(64 << 20)].concat(),
    ])
    .await;
}

// ---------------------------------------------------------------------------------------------
// A backend that accepts connections and never speaks

#[tokio::test]
async fn a_backend_that_never_speaks_http2_is_cut_at_the_deadline() {
    const DEADLINE: Duration = Duration::from_millis(300);
    const IDLE: Duration = Duration::from_millis(700);
    /// Scheduling slack on two busy cores; the deadline itself is the lower bound.
    const SLACK: Duration = Duration::from_millis(1500);

    let backend = RawBackend::start(RawBehaviour::Mute).await;
    let keys = format!(
        "timeout_ms = {}\nstream_idle_timeout_ms = {}",
        DEADLINE.as_millis(),
        IDLE.as_millis()
    );
    let gateway = gateway_beside_embedded(
        &h2c(backend.addr),
        &["demo.v1.Greeter", "demo.v1.MediaService"],
        &keys,
    )
    .await;
    let client = gateway.client().await;
    // Unary: the upstream's deadline, every time (the silent connection stays open).
    for attempt in 0..2 {
        let (reply, took) = timed(client.say_hello(&[], &json!({"name": "x"}))).await;
        assert_error(&reply, 504, "DEADLINE_EXCEEDED", 20001);
        assert_reply_hides(&reply, backend.addr);
        assert!(
            took >= DEADLINE - Duration::from_millis(20) && took < DEADLINE + SLACK,
            "attempt {attempt}: answered after {took:?}, deadline {DEADLINE:?}"
        );
    }
    // A server stream has no overall deadline: it is cut by the idle timeout, which covers the
    // wait for the response head.
    let (reply, took) = timed(client.get(DOWNLOAD)).await;
    assert_error(&reply, 504, "DEADLINE_EXCEEDED", 20001);
    assert_reply_hides(&reply, backend.addr);
    assert!(
        took >= IDLE - Duration::from_millis(20) && took < IDLE + SLACK,
        "stream answered after {took:?}, idle timeout {IDLE:?}"
    );
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Two endpoints, one black-holing connection attempts or not speaking HTTP/2

/// The gateway's connect timeout, and how long an endpoint that could not be reached is then
/// passed over (both fixed today).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const BACKOFF: Duration = Duration::from_secs(1);
/// A call this slow waited out a connection attempt to the black hole.
const SLOW_CALL: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn a_black_holed_endpoint_costs_one_connect_timeout_per_backoff_period() {
    const CALLS: usize = 20;
    // Paced so the run outlasts the backoff period once (the black hole is tried again and
    // may cost one more call), but the calls left after that fit well inside the next one.
    const PACE: Duration = Duration::from_millis(80);

    let hole = BlackHole::open().await;
    let live = CountingBackend::start().await;
    let gateway = gateway_for(&[h2c(hole.addr), h2c(live.addr)], "workers = 1", "").await;
    let client = gateway.client().await;
    let started = Instant::now();
    // (call, started at, took) of each call that waited for the black hole.
    let mut slow: Vec<(usize, Duration, Duration)> = Vec::new();
    for i in 0..CALLS {
        let at = started.elapsed();
        let (reply, took) = timed(client.get("/v1/users/42")).await;
        assert_eq!(reply.status, StatusCode::OK, "call {i}: {}", reply.text());
        assert_eq!(reply.json()["userId"], "42");
        if took >= SLOW_CALL {
            slow.push((i, at, took));
        }
        tokio::time::sleep(PACE).await;
    }
    let total = started.elapsed();
    assert_eq!(
        live.counts.requests(),
        CALLS as u64,
        "the live endpoint took every call"
    );
    assert!(
        total < Duration::from_secs(8),
        "{CALLS} calls took {total:?} (connect timeout {CONNECT_TIMEOUT:?}); slow ones \
         (call, at, took): {slow:?}"
    );
    assert!(
        slow.len() <= 2,
        "at most one call per backoff period ({BACKOFF:?}) waits for the black hole; slow ones \
         (call, at, took): {slow:?}, total {total:?}"
    );
    // After a failed attempt the endpoint is passed over for the whole backoff period.
    for pair in slow.windows(2) {
        let [(_, at, took), (_, next_at, _)] = pair else {
            continue;
        };
        assert!(
            *next_at + Duration::from_millis(50) >= *at + *took + BACKOFF,
            "the black hole was tried again within {BACKOFF:?} of a failed attempt: {slow:?}"
        );
    }
    client.assert_still_usable().await;
    gateway.shutdown().await;
    live.stop().await;
}

#[tokio::test]
async fn a_black_holed_endpoint_delays_at_most_one_of_concurrent_calls() {
    const CLIENTS: usize = 6;
    const PER_CLIENT: usize = 5;

    let hole = BlackHole::open().await;
    let live = CountingBackend::start().await;
    let gateway = gateway_for(&[h2c(hole.addr), h2c(live.addr)], "workers = 1", "").await;
    let client = gateway.client().await;
    let started = Instant::now();
    // Calls from several clients at once: those that pick the black hole while a connection
    // attempt to it is under way must not all wait for that attempt.
    let timings = futures_util::future::join_all((0..CLIENTS).map(|_| async {
        let mut timings = Vec::new();
        for _ in 0..PER_CLIENT {
            let (reply, took) = timed(client.get("/v1/users/42")).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
            timings.push(took);
        }
        timings
    }))
    .await;
    let total = started.elapsed();
    let slow: Vec<Duration> = timings
        .into_iter()
        .flatten()
        .filter(|took| *took >= SLOW_CALL)
        .collect();
    assert_eq!(live.counts.requests(), (CLIENTS * PER_CLIENT) as u64);
    assert!(
        slow.len() <= 1,
        "{} of {} concurrent calls waited for the black hole ({slow:?}; total {total:?})",
        slow.len(),
        CLIENTS * PER_CLIENT
    );
    client.assert_still_usable().await;
    gateway.shutdown().await;
    live.stop().await;
}

#[tokio::test]
async fn an_endpoint_that_does_not_speak_http2_beside_a_live_one_fails_no_call() {
    const CALLS: usize = 20;
    const PACE: Duration = Duration::from_millis(80);

    for behaviour in [
        RawBehaviour::Http1Answer,
        RawBehaviour::Noise,
        RawBehaviour::Mute,
    ] {
        let raw = RawBackend::start(behaviour).await;
        let live = CountingBackend::start().await;
        // A deadline longer than the connect timeout: a connection whose backend never sends
        // its SETTINGS can be given up on in time for the other endpoint to take the call.
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 1\n{}{GREETER_RULES}\n",
            demo_upstream_tables(&[h2c(raw.addr), h2c(live.addr)], "timeout_ms = 5000")
        );
        let gateway = TestGateway::from_text(text).await;
        let client = gateway.client().await;
        let mut slow = Vec::new();
        for i in 0..CALLS {
            let (reply, took) = timed(client.get("/v1/users/42")).await;
            // Like a closed port, an endpoint that cannot take the call costs no request.
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "{behaviour:?}: call {i} after {took:?}: {}",
                reply.text()
            );
            if took >= SLOW_CALL {
                slow.push((i, took));
            }
            tokio::time::sleep(PACE).await;
        }
        assert!(slow.len() <= 2, "{behaviour:?}: slow calls {slow:?}");
        client.assert_still_usable().await;
        gateway.shutdown().await;
        live.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// A backend's limit on concurrent streams

#[tokio::test]
async fn a_backend_stream_limit_opens_more_connections_instead_of_queueing() {
    const LIMIT: u32 = 2;
    const CALLS: usize = 6;
    const DELAY: Duration = Duration::from_millis(800);

    let backend = CountingBackend::start_with_stream_limit(LIMIT).await;
    // One worker: every call shares its connections to the backend.
    let gateway = gateway_for(&[h2c(backend.addr)], "workers = 1", "").await;
    let client = gateway.client().await;
    let body = json!({"name": "x", "delayMs": DELAY.as_millis()});
    let started = Instant::now();
    let replies =
        futures_util::future::join_all((0..CALLS).map(|_| client.say_hello(&[], &body))).await;
    let took = started.elapsed();
    let connections = backend.counts.request_connections();
    // Everything observed goes into each message, so one failure shows the whole picture.
    let seen = format!(
        "{CALLS} concurrent calls of {DELAY:?} with {LIMIT} streams per connection took \
         {took:?}; {connections} connections carried {} requests; replies: {:?}",
        backend.counts.requests(),
        replies
            .iter()
            .map(|reply| format!("{} {}", reply.status.as_u16(), reply.text()))
            .collect::<Vec<_>>()
    );
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{seen}");
        assert_eq!(reply.json()["message"], "Hello, x!", "{seen}");
    }
    // Queued behind the limit they would take 3 × 800 ms.
    assert!(took < 2 * DELAY, "{seen}");
    assert!(connections >= CALLS.div_ceil(LIMIT as usize), "{seen}");
    client.assert_still_usable().await;
    gateway.shutdown().await;
    backend.stop().await;
}

#[tokio::test]
async fn calls_beyond_every_connection_stream_limit_fail_fast() {
    const LIMIT: u32 = 2;
    /// Connections one worker opens to one endpoint (fixed today).
    const MAX_CONNECTIONS: usize = 8;
    const ROOM: usize = MAX_CONNECTIONS * LIMIT as usize;
    const CALLS: usize = ROOM + 4;
    const DELAY: Duration = Duration::from_millis(800);

    let backend = CountingBackend::start_with_stream_limit(LIMIT).await;
    let gateway = gateway_for(&[h2c(backend.addr)], "workers = 1", "").await;
    let client = gateway.client().await;
    let body = json!({"name": "x", "delayMs": DELAY.as_millis()});
    let replies =
        futures_util::future::join_all((0..CALLS).map(|_| timed(client.say_hello(&[], &body))))
            .await;
    let connections = backend.counts.request_connections();
    let seen = format!(
        "{CALLS} concurrent calls of {DELAY:?}, {LIMIT} streams per connection: {connections} \
         connections; replies: {:?}",
        replies
            .iter()
            .map(|(reply, took)| format!(
                "{} after {took:?}: {}",
                reply.status.as_u16(),
                reply.text()
            ))
            .collect::<Vec<_>>()
    );
    let mut served = 0;
    for (reply, took) in &replies {
        if reply.status == StatusCode::OK {
            served += 1;
            assert!(*took < 2 * DELAY, "{seen}");
        } else {
            // Refused at once, not after waiting in a queue for a place to free up.
            assert_error(reply, 503, "UNAVAILABLE", 20001);
            assert!(*took < DELAY / 2, "{seen}");
            assert_reply_hides(reply, backend.addr);
        }
    }
    assert_eq!(
        served, ROOM,
        "every place on every connection is used: {seen}"
    );
    assert!(connections <= MAX_CONNECTIONS, "{seen}");
    client.assert_still_usable().await;
    gateway.shutdown().await;
    backend.stop().await;
}

#[tokio::test]
async fn a_scheme_mismatch_is_named_in_the_operators_log() {
    let cert = super::support::BackendCert::generate();
    let tls_backend = super::support::CountingBackend::start_tls(&cert).await;
    let plain_backend = super::support::CountingBackend::start().await;
    let ca = super::support::TempFile::new("ca", "pem", &cert.ca_pem);
    let proto = super::support::demo_proto_dir();
    let mut text = format!(
        concat!(
            "[server]\nlisten = \"127.0.0.1:0\"\nplaintext = true\nworkers = 1\n\n",
            "[descriptors]\ninclude = [{proto:?}]\n",
            "protos = [\"demo/v1/user.proto\", \"demo/v1/greeter.proto\"]\n\n",
            "[[upstreams]]\nname = \"tls-called-plain\"\nendpoints = [\"http://{tls}\"]\n",
            "services = [\"demo.v1.UserService\"]\n\n",
            "[[upstreams]]\nname = \"plain-called-tls\"\nendpoints = [\"https://{plain}\"]\n",
            "services = [\"demo.v1.Greeter\"]\nca_cert = {ca:?}\n",
        ),
        proto = proto.display().to_string(),
        tls = tls_backend.addr,
        plain = plain_backend.addr,
        ca = ca.path.display().to_string(),
    );
    text.push_str(super::support::GREETER_RULES);
    let gateway = super::support::GatewayProcess::from_text(text, false).await;
    let client = gateway.client().await;
    let reply = client.get("/v1/users/42").await;
    assert_error(&reply, 503, "UNAVAILABLE", 20001);
    let reply = client.say_hello(&[], &json!({"name": "x"})).await;
    assert_error(&reply, 503, "UNAVAILABLE", 20001);
    let hints = [
        "the endpoint answered with TLS: use https://",
        "the endpoint does not answer TLS: is it a plaintext (http://) backend?",
    ];
    let logged = super::support::poll_until(Duration::from_secs(5), || async {
        let log = gateway.log_tail();
        hints.iter().all(|hint| log.contains(hint)).then_some(())
    })
    .await;
    assert!(
        logged.is_some(),
        "both hints in the log:\n{}",
        gateway.log_tail()
    );
}
