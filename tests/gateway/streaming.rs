//! Streaming through the gateway: NDJSON and SSE server streams, client-streaming bodies,
//! bidirectional streams over HTTP/2 and WebSocket (HTTP/1.1 and HTTP/2), mid-stream errors,
//! cancellation on disconnect, and bounded buffering for slow readers.

use std::time::Duration;

use base64::Engine;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use h2gate_demo::StreamProbe;

use super::support::{
    BodyReader, DemoBackend, Feed, StreamingClient, TestGateway, demo_proto_dir, poll_until,
    websocket_h1, ws_next, ws_send,
};

const NDJSON: (&str, &str) = ("content-type", "application/x-ndjson");

#[tokio::test]
async fn server_stream_as_ndjson() {
    let gateway = TestGateway::start("").await;
    let client = StreamingClient::connect(gateway.addr).await;
    let response = client.get("/v1/users:stream?count=5", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let mut reader = BodyReader::new(response);
    let mut names = Vec::new();
    while let Some(line) = reader.json_line().await {
        let user = &line["result"];
        assert!(user["userId"].is_string(), "{line}");
        names.push(user["name"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(names.len(), 5);
    assert_eq!(
        names[0], names[3],
        "the demo cycles through its 3 seeded users"
    );
}

#[tokio::test]
async fn server_stream_as_server_sent_events() {
    let gateway = TestGateway::start("").await;
    let client = StreamingClient::connect(gateway.addr).await;
    let response = client
        .get(
            "/v1/users:stream?count=2",
            &[("accept", "text/event-stream")],
        )
        .await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let lines = BodyReader::new(response).rest().await;
    let events: Vec<&String> = lines.iter().filter(|l| !l.is_empty()).collect();
    assert_eq!(events.len(), 2, "{lines:?}");
    for event in events {
        let data = event.strip_prefix("data: ").expect("data field");
        let user: Value = serde_json::from_str(data).expect("JSON event");
        assert!(user["name"].is_string());
    }
}

#[tokio::test]
async fn first_message_arrives_while_the_backend_holds_the_stream_open() {
    let gateway = TestGateway::start("").await;
    let client = StreamingClient::connect(gateway.addr).await;
    // The second message would come a minute later: a buffering gateway would hang here.
    let response = client
        .get("/v1/users:stream?count=2&intervalMs=60000", &[])
        .await;
    let mut reader = BodyReader::new(response);
    let first = reader.json_line().await.expect("first message");
    assert!(first["result"]["name"].is_string(), "{first}");
}

#[tokio::test]
async fn error_after_the_stream_started_is_a_final_line_or_event() {
    let gateway = TestGateway::start("").await;
    let client = StreamingClient::connect(gateway.addr).await;
    let path = "/v1/users:stream?count=5&failAfter=2&failCode=9";
    let response = client.get(path, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let lines = BodyReader::new(response).rest().await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    let last: Value = serde_json::from_str(&lines[2]).expect("JSON");
    assert_eq!(last["error"]["status"], "FAILED_PRECONDITION");
    assert_eq!(last["error"]["code"], 10001);
    assert!(
        last["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("after 2")),
        "{last}"
    );

    let response = client.get(path, &[("accept", "text/event-stream")]).await;
    let text = BodyReader::new(response).rest().await.join("\n");
    let error_event = text.split("\n\n").last().expect("events");
    assert!(error_event.starts_with("event: error\ndata: "), "{text}");
}

#[tokio::test]
async fn error_before_the_first_message_is_an_ordinary_error_response() {
    let gateway = TestGateway::start("").await;
    let client = StreamingClient::connect(gateway.addr).await;
    let response = client.get("/v1/users:stream?intervalMs=999999", &[]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body = BodyReader::new(response).rest().await.join("\n");
    let error: Value = serde_json::from_str(&body).expect("ErrorResponse");
    assert_eq!(error["status"], "INVALID_ARGUMENT");
}

fn new_user(id: &str) -> Value {
    json!({"userId": id, "name": format!("Imported {id}"), "age": 30})
}

#[tokio::test]
async fn client_stream_from_ndjson_and_from_a_json_array() {
    let gateway = TestGateway::start("").await;
    let client = StreamingClient::connect(gateway.addr).await;
    let ndjson = format!(
        "{}\n{}\n\n{}",
        new_user("nd-1"),
        new_user("nd-2"),
        new_user("nd-3")
    );
    let response = client
        .send(
            Method::POST,
            "/v1/users:import",
            &[NDJSON],
            Feed::complete(ndjson),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let reply = BodyReader::json(response).await;
    assert_eq!(reply["imported"], 3, "{reply}");
    assert_eq!(reply["userIds"], json!(["nd-1", "nd-2", "nd-3"]));

    let array = json!([new_user("arr-1"), new_user("arr-2")]).to_string();
    let response = client
        .send(Method::POST, "/v1/users:import", &[], Feed::complete(array))
        .await;
    let reply = BodyReader::json(response).await;
    assert_eq!(reply["imported"], 2, "{reply}");

    let fetched = client.get("/v1/users/arr-2", &[]).await;
    assert_eq!(fetched.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_line_answers_400_with_its_line_number() {
    let gateway = TestGateway::start("").await;
    let client = StreamingClient::connect(gateway.addr).await;
    let body = format!(
        "{}\n{{\"name\": \n{}\n",
        new_user("bad-1"),
        new_user("bad-3")
    );
    let response = client
        .send(
            Method::POST,
            "/v1/users:import",
            &[NDJSON],
            Feed::complete(body),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error = BodyReader::json(response).await;
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("line 2")),
        "{error}"
    );
    // The connection is still good.
    let again = client.get("/v1/users/42", &[]).await;
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn bidi_over_http2_streams_both_ways_message_by_message() {
    let gateway = TestGateway::start("").await;
    let client = StreamingClient::connect(gateway.addr).await;
    let (feed, body) = Feed::new();
    feed.send(format!("{}\n", json!({"user": "ada", "text": "one"})))
        .await;
    let response = client
        .send(Method::POST, "/v1/rooms/lobby:chat", &[NDJSON], body)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut reader = BodyReader::new(response);
    // The reply to the first line arrives before the second line is even written.
    let first = reader.json_line().await.expect("echo");
    assert_eq!(first["result"]["text"], "echo: one");
    assert_eq!(first["result"]["room"], "lobby", "path variable applied");
    feed.send(format!("{}\n", json!({"user": "ada", "text": "two"})))
        .await;
    let second = reader.json_line().await.expect("echo");
    assert_eq!(second["result"]["text"], "echo: two");
    drop(feed);
    let bye = reader.json_line().await.expect("bye");
    assert_eq!(bye["result"]["text"], "bye 2 messages");
    assert!(reader.json_line().await.is_none());
}

#[tokio::test]
async fn websocket_over_http1_bidi_chat() {
    let gateway = TestGateway::start("").await;
    let mut socket = websocket_h1(gateway.addr, "/v1/rooms/lobby:chat").await;
    for (text, room) in [("hello", "lobby"), ("world", "")] {
        ws_send(&mut socket, &json!({"user": "ws", "text": text})).await;
        let reply = ws_next(&mut socket).await.expect("echo");
        assert_eq!(reply["text"], format!("echo: {text}"));
        // The URL's variables fill the first message only (the WebSocket contract).
        assert_eq!(reply["room"], room);
    }
}

#[tokio::test]
async fn websocket_close_half_closes_the_upstream_call() {
    let setup = probed_setup().await;
    let mut socket = websocket_h1(setup.gateway.addr, "/v1/rooms/lobby:chat").await;
    ws_send(&mut socket, &json!({"user": "ws", "text": "hi"})).await;
    ws_next(&mut socket).await.expect("echo");
    socket.close(None).await.expect("client close");
    // The backend's stream ends normally (it saw a half-close, not a cancellation).
    let completed = poll_until(Duration::from_secs(10), || async {
        (setup.probe.streams_completed() >= 1).then_some(())
    })
    .await;
    assert!(completed.is_some(), "the chat never completed upstream");
    assert_eq!(setup.probe.streams_cancelled(), 0);
}

#[tokio::test]
async fn websocket_client_vanishing_cancels_the_upstream_call() {
    let setup = probed_setup().await;
    let mut socket = websocket_h1(setup.gateway.addr, "/v1/rooms/lobby:chat").await;
    ws_send(&mut socket, &json!({"user": "ws", "text": "hi"})).await;
    ws_next(&mut socket).await.expect("echo");
    drop(socket);
    let cancelled = poll_until(Duration::from_secs(10), || async {
        (setup.probe.streams_cancelled() >= 1).then_some(())
    })
    .await;
    assert!(
        cancelled.is_some(),
        "the backend never saw the cancellation"
    );
    assert_eq!(setup.probe.streams_completed(), 0);
}

#[tokio::test]
async fn websocket_over_http2_extended_connect() {
    let gateway = TestGateway::start("").await;
    let client = StreamingClient::connect(gateway.addr).await;
    let mut socket = client.websocket("/v1/rooms/h2room:chat").await;
    ws_send(&mut socket, &json!({"user": "h2", "text": "over h2"})).await;
    let reply = ws_next(&mut socket).await.expect("echo");
    assert_eq!(reply["text"], "echo: over h2");
    assert_eq!(reply["room"], "h2room");
}

#[tokio::test]
async fn websocket_error_is_a_last_message_and_a_close_code() {
    let gateway = TestGateway::start("").await;
    let mut socket = websocket_h1(gateway.addr, "/v1/rooms/lobby:chat").await;
    ws_send(&mut socket, &json!({"user": "ws", "text": "fail"})).await;
    let last = ws_next(&mut socket).await.expect("error message");
    assert_eq!(last["error"]["status"], "INVALID_ARGUMENT", "{last}");
    assert_eq!(last["error"]["code"], 10001);
    let close = ws_next(&mut socket).await.expect_err("close");
    assert_eq!(close.map(|c| u16::from(c.code)), Some(1008));
}

#[tokio::test]
async fn websocket_reaches_server_streaming_methods() {
    let gateway = TestGateway::start("").await;
    let mut socket = websocket_h1(gateway.addr, "/v1/users:stream?count=3").await;
    for _ in 0..3 {
        let user = ws_next(&mut socket).await.expect("user");
        assert!(user["name"].is_string(), "{user}");
    }
    let close = ws_next(&mut socket).await.expect_err("close");
    assert_eq!(close.map(|c| u16::from(c.code)), Some(1000));
}

#[tokio::test]
async fn chunks_of_64_kib_pass_through() {
    let gateway = TestGateway::start("").await;
    let client = StreamingClient::connect(gateway.addr).await;
    let size = 4 * 1024 * 1024;
    let response = client
        .get(&format!("/v1/media/clip:download?sizeBytes={size}"), &[])
        .await;
    let mut reader = BodyReader::new(response);
    let mut total = 0usize;
    let mut chunks = 0usize;
    while let Some(line) = reader.json_line().await {
        let chunk = &line["result"];
        let offset: usize = chunk["offset"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("offset");
        assert_eq!(offset, total);
        let data = base64::engine::general_purpose::STANDARD
            .decode(chunk["data"].as_str().expect("data"))
            .expect("base64");
        assert_eq!(data.len(), 64 * 1024);
        total += data.len();
        chunks += 1;
    }
    assert_eq!((total, chunks), (size, 64));
}

/// A gateway in front of a demo backend whose streams are observed by `probe`.
struct ProbedSetup {
    gateway: TestGateway,
    probe: StreamProbe,
    _backend: DemoBackend,
}

async fn probed_setup() -> ProbedSetup {
    let probe = StreamProbe::default();
    let backend = DemoBackend::start_with_probe(probe.clone()).await;
    let addr = backend.addr;
    let proto = demo_proto_dir();
    let text = format!(
        concat!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[demo]\nembedded = false\n\n",
            "[descriptors]\ninclude = [{proto:?}]\nprotos = [\"demo/v1/user.proto\", \"demo/v1/chat.proto\"]\n\n",
            "[[upstreams]]\nname = \"probed\"\nendpoints = [\"http://{addr}\"]\nservices = [\"*\"]\n"
        ),
        proto = proto.display().to_string(),
        addr = addr
    );
    let gateway = TestGateway::from_text(text).await;
    ProbedSetup {
        gateway,
        probe,
        _backend: backend,
    }
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_call() {
    let setup = probed_setup().await;
    let client = StreamingClient::connect(setup.gateway.addr).await;
    let response = client
        .get("/v1/users:stream?count=1000&intervalMs=20", &[])
        .await;
    let mut reader = BodyReader::new(response);
    reader.json_line().await.expect("first message");
    assert_eq!(setup.probe.streams_cancelled(), 0);
    drop(reader);
    drop(client);
    let cancelled = poll_until(Duration::from_secs(10), || async {
        (setup.probe.streams_cancelled() >= 1).then_some(())
    })
    .await;
    assert!(
        cancelled.is_some(),
        "the backend never saw the cancellation"
    );
}

#[tokio::test]
async fn a_slow_reader_keeps_the_stream_bounded() {
    let setup = probed_setup().await;
    let client = StreamingClient::connect(setup.gateway.addr).await;
    let count = 100_000u64;
    let response = client
        .get(
            &format!("/v1/users:stream?count={count}&paddingBytes=65536"),
            &[],
        )
        .await;
    let mut reader = BodyReader::new(response);
    reader.chunk().await.expect("first chunk");
    // Stop reading; wait until the backend is blocked by flow control (its count settles).
    let mut last = u64::MAX;
    let settled = poll_until(Duration::from_secs(20), || {
        let now = setup.probe.messages_sent();
        let stable = now == last;
        last = now;
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            stable.then_some(now)
        }
    })
    .await
    .expect("the backend stops producing while nobody reads");
    // 64 KiB messages: flow-control windows and socket buffers hold a few MiB at most.
    assert!(
        settled < count / 100,
        "{settled} messages produced for a client that read one chunk"
    );
    drop(reader);
}

#[tokio::test]
async fn shutdown_is_not_held_up_by_an_open_stream() {
    let gateway = TestGateway::start_with(super::support::Setup {
        server: "shutdown_grace_secs = 1",
        ..Default::default()
    })
    .await;
    let client = StreamingClient::connect(gateway.addr).await;
    let response = client
        .get("/v1/users:stream?count=2&intervalMs=60000", &[])
        .await;
    let mut reader = BodyReader::new(response);
    reader.json_line().await.expect("first message");
    // `shutdown` itself fails the test if it takes longer than its own bound.
    gateway.shutdown().await;
}
