//! Backends that answer *trailers-only*: one HEADERS frame carrying `grpc-status` and
//! END_STREAM, no message. grpc-go and grpc-python send this for an empty stream and for an
//! error raised before the first message; tonic always sends headers first, so these run
//! against a raw HTTP/2 backend that really sends that frame.
//!
//! An empty stream is a 200 with an empty body (NDJSON or SSE) or a normal WebSocket close;
//! an error is that status's ErrorResponse, for every call shape.

use http::{HeaderMap, Method, StatusCode};
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::support::{
    BodyReader, FakeAnswer, FakeBackend, Feed, StreamingClient, TestGateway, assert_error, ws_next,
};

const NDJSON: (&str, &str) = ("content-type", "application/x-ndjson");

fn trailers_only(pairs: &[(&str, &str)]) -> FakeAnswer {
    let mut headers = vec![("content-type".to_owned(), "application/grpc".to_owned())];
    headers.extend(
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    // An empty body: hyper sends the response head with END_STREAM, i.e. trailers-only.
    (200, headers, bytes::Bytes::new())
}

fn empty_stream(_path: &str, _headers: &HeaderMap) -> FakeAnswer {
    trailers_only(&[("grpc-status", "0")])
}

fn not_found(_path: &str, _headers: &HeaderMap) -> FakeAnswer {
    trailers_only(&[("grpc-status", "5"), ("grpc-message", "no%20such%20room")])
}

/// A gateway whose UserService and ChatService are the fake backend.
async fn gateway_over(answer: fn(&str, &HeaderMap) -> FakeAnswer) -> (TestGateway, FakeBackend) {
    let fake = FakeBackend::start(answer).await;
    let extra = format!(
        "[[upstreams]]\nname = \"trailers-only\"\nendpoints = [\"http://{}\"]\n\
         services = [\"demo.v1.UserService\", \"demo.v1.ChatService\"]\n",
        fake.addr
    );
    (TestGateway::start(&extra).await, fake)
}

#[tokio::test]
async fn an_empty_server_stream_is_an_empty_200() {
    let (gateway, _fake) = gateway_over(empty_stream).await;
    let client = StreamingClient::connect(gateway.addr).await;
    for (accept, content_type) in [
        ("application/json", "application/x-ndjson"),
        ("text/event-stream", "text/event-stream"),
    ] {
        let response = client
            .get("/v1/users:stream?count=3", &[("accept", accept)])
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{accept}");
        assert_eq!(response.headers()["content-type"], content_type);
        let lines = BodyReader::new(response).rest().await;
        assert!(
            lines.is_empty(),
            "{accept}: no message, no event: {lines:?}"
        );
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_trailers_only_error_is_its_error_response_for_every_call_shape() {
    let (gateway, _fake) = gateway_over(not_found).await;
    let client = gateway.client().await;
    let expect_not_found = |what: &str, reply: &super::support::Reply| {
        let body = assert_error(reply, 404, "NOT_FOUND", 10002);
        assert_eq!(body["message"], "no such room", "{what}: {body}");
    };
    let unary = client.get("/v1/users/42").await;
    expect_not_found("unary", &unary);
    let server_stream = client.get("/v1/users:stream?count=3").await;
    expect_not_found("server stream", &server_stream);
    let line = r#"{"name":"Ann","age":30}"#;
    let client_stream = client
        .request(
            Method::POST,
            "/v1/users:import",
            &[NDJSON],
            format!("{line}\n"),
        )
        .await;
    expect_not_found("client stream", &client_stream);
    let bidi = client
        .request(
            Method::POST,
            "/v1/rooms/lobby:chat",
            &[NDJSON],
            "{\"text\":\"hi\"}\n",
        )
        .await;
    expect_not_found("bidirectional stream", &bidi);
    client.get("/healthz").await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn empty_client_and_bidi_streams_over_http() {
    let (gateway, _fake) = gateway_over(empty_stream).await;
    let client = StreamingClient::connect(gateway.addr).await;
    let bidi = client
        .send(
            Method::POST,
            "/v1/rooms/lobby:chat",
            &[NDJSON],
            Feed::complete("{\"text\":\"hi\"}\n"),
        )
        .await;
    assert_eq!(bidi.status(), StatusCode::OK);
    assert_eq!(bidi.headers()["content-type"], "application/x-ndjson");
    let lines = BodyReader::new(bidi).rest().await;
    assert!(lines.is_empty(), "an empty bidi stream: {lines:?}");

    // A client stream must answer one message: none is the backend's fault.
    let import = client
        .send(
            Method::POST,
            "/v1/users:import",
            &[NDJSON],
            Feed::complete("{\"name\":\"Ann\"}\n"),
        )
        .await;
    assert_eq!(import.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = BodyReader::json(import).await;
    assert_eq!(body["status"], "INTERNAL", "{body}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn websocket_streams_end_normally_or_with_the_error() {
    let (gateway, _fake) = gateway_over(empty_stream).await;
    let client = StreamingClient::connect(gateway.addr).await;
    let mut socket = client.websocket("/v1/users:stream?count=3").await;
    let close = ws_next(&mut socket).await.expect_err("no message, a close");
    let close = close.expect("a close frame");
    assert_eq!(close.code, CloseCode::Normal, "{close:?}");
    drop((socket, client));
    gateway.shutdown().await;

    let (gateway, _fake) = gateway_over(not_found).await;
    let client = StreamingClient::connect(gateway.addr).await;
    let mut socket = client.websocket("/v1/users:stream?count=3").await;
    let error = ws_next(&mut socket).await.expect("the error frame");
    assert_eq!(error["error"]["status"], "NOT_FOUND", "{error}");
    assert_eq!(error["error"]["message"], json!("no such room"), "{error}");
    let close = ws_next(&mut socket).await.expect_err("then a close");
    let close = close.expect("a close frame");
    assert_eq!(close.code, CloseCode::Policy, "{close:?}");
    assert_eq!(close.reason.as_str(), "NOT_FOUND");
    drop((socket, client));
    gateway.shutdown().await;
}
