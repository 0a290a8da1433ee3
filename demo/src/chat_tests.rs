//! ChatService end to end: interleaved echo, rejection, the farewell on half-close, and
//! cancellation as seen by the probe.

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::codegen::Service;

use super::super::errors::decode_bad_request;
use super::super::test_support::{TestServer, eventually};
use super::*;

fn msg(room: &str, text: &str) -> ChatMessage {
    ChatMessage {
        room: room.into(),
        user: "ada".into(),
        text: text.into(),
        sent_at: None,
    }
}

#[tokio::test]
async fn echoes_each_message_then_says_bye_on_half_close() {
    let server = TestServer::start().await;
    let mut client = server.chat().await;
    let (tx, rx) = mpsc::channel(1);
    let mut replies = client
        .chat(ReceiverStream::new(rx))
        .await
        .expect("chat starts")
        .into_inner();

    // Strictly interleaved: each reply arrives before the next message is sent.
    for text in ["hello", "how are you?"] {
        tx.send(msg("lobby", text)).await.expect("server reads");
        let reply = replies.message().await.expect("reply").expect("not ended");
        assert_eq!(reply.room, "lobby");
        assert_eq!(reply.user, CHAT_SERVER_USER);
        assert_eq!(reply.text, format!("echo: {text}"));
        assert!(reply.sent_at.is_some_and(|t| t.seconds > 0));
    }
    drop(tx);
    let bye = replies.message().await.expect("bye").expect("not ended");
    assert_eq!(bye.text, "bye 2 messages");
    assert_eq!(bye.room, "lobby");
    assert_eq!(bye.user, CHAT_SERVER_USER);
    assert_eq!(replies.message().await.expect("clean end"), None);
    assert_eq!(server.probe.streams_completed(), 1);
    assert_eq!(server.probe.messages_sent(), 3);
}

#[tokio::test]
async fn immediate_half_close_gets_only_the_farewell() {
    let server = TestServer::start().await;
    let mut client = server.chat().await;
    let mut replies = client
        .chat(tokio_stream::iter(Vec::<ChatMessage>::new()))
        .await
        .expect("chat starts")
        .into_inner();
    let bye = replies.message().await.expect("bye").expect("not ended");
    assert_eq!(
        (bye.room.as_str(), bye.text.as_str()),
        ("", "bye 0 messages")
    );
    assert_eq!(replies.message().await.expect("clean end"), None);
}

#[tokio::test]
async fn fail_text_ends_the_stream_with_invalid_argument() {
    let server = TestServer::start().await;
    let mut client = server.chat().await;
    let messages = vec![
        msg("r", "one"),
        msg("r", REJECTED_CHAT_TEXT),
        msg("r", "never"),
    ];
    let mut replies = client
        .chat(tokio_stream::iter(messages))
        .await
        .expect("chat starts")
        .into_inner();
    let first = replies.message().await.expect("echo").expect("not ended");
    assert_eq!(first.text, "echo: one");
    let err = replies.message().await.expect_err("rejected");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "chat message rejected");
    let fields: Vec<String> = decode_bad_request(&err)
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["text"]);
    assert_eq!(server.probe.streams_completed(), 1);
}

/// gRPC length-prefixed framing of one uncompressed message.
fn grpc_frame(message: &ChatMessage) -> Bytes {
    let payload = message.encode_to_vec();
    let len = u32::try_from(payload.len()).expect("small message");
    let mut framed = vec![0];
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(&payload);
    Bytes::from(framed)
}

/// Reads one gRPC message from a response body.
async fn read_message(body: &mut tonic::body::Body) -> ChatMessage {
    let mut buf = Vec::new();
    loop {
        let len = buf
            .get(1..5)
            .and_then(|b: &[u8]| <[u8; 4]>::try_from(b).ok())
            .map(|b| u32::from_be_bytes(b) as usize);
        if let Some(payload) = len.and_then(|len| buf.get(5..5 + len)) {
            return ChatMessage::decode(payload).expect("a ChatMessage");
        }
        let frame = body.frame().await.expect("body open").expect("no error");
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
    }
}

// A tonic client cannot cancel a bidi call whose request stream is still open: hyper resets the
// HTTP/2 stream only when the request body ends with an error (or the response future is dropped
// before the headers). The gateway relays a vanished HTTP client exactly that way, so this test
// drives the call through the raw channel and fails the request body.
#[tokio::test]
async fn failing_the_request_body_cancels_the_chat() {
    let server = TestServer::start().await;
    let mut channel = server.channel().await;
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Status>>(1);
    let body = tonic::body::Body::new(StreamBody::new(ReceiverStream::new(rx)));
    let request = http::Request::post("/demo.v1.ChatService/Chat")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(body)
        .expect("valid request");
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .expect("channel ready");
    let response = channel.call(request).await.expect("call starts");
    assert_eq!(response.status(), http::StatusCode::OK);
    let mut replies = response.into_body();

    tx.send(Ok(Frame::data(grpc_frame(&msg("r", "hi")))))
        .await
        .expect("request body open");
    assert_eq!(read_message(&mut replies).await.text, "echo: hi");
    assert_eq!(server.probe.streams_cancelled(), 0);

    tx.send(Err(Status::cancelled("http client went away")))
        .await
        .expect("request body open");
    eventually(
        "the server to see the reset",
        || server.probe.streams_cancelled(),
        |&n| n == 1,
    )
    .await;
    assert_eq!(server.probe.streams_completed(), 0);
    assert_eq!(server.probe.messages_sent(), 1);
}
