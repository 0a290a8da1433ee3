//! The WebSocket bridge under pressure: replies that outpace requests, a backend gone quiet,
//! and messages over the size limit.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::support::{Setup, TestGateway, websocket_h1, ws_next};

#[tokio::test]
async fn requests_and_replies_flow_independently() {
    // The demo chat reads a message only when the next reply is wanted: a bridge that stops
    // reading replies while it waits to hand a request upstream deadlocks on it.
    let gateway = TestGateway::start("").await;
    let socket = websocket_h1(gateway.addr, "/v1/rooms/flood:chat").await;
    let (mut sink, mut stream) = socket.split();
    const MESSAGES: usize = 400;
    let text = "x".repeat(8 * 1024);
    let writer = tokio::spawn(async move {
        for i in 0..MESSAGES {
            let message = json!({"user": "flood", "text": format!("{i} {text}")}).to_string();
            if sink.send(Message::Text(message.into())).await.is_err() {
                return i;
            }
        }
        MESSAGES
    });
    let mut echoed = 0;
    let reading = async {
        while echoed < MESSAGES {
            match stream.next().await {
                Some(Ok(Message::Text(_))) => echoed += 1,
                Some(Ok(_)) => {}
                _ => break,
            }
        }
    };
    let finished = tokio::time::timeout(Duration::from_secs(30), reading).await;
    assert!(
        finished.is_ok(),
        "stalled after {echoed} of {MESSAGES} echoes"
    );
    assert_eq!(echoed, MESSAGES);
    assert_eq!(writer.await.expect("writer"), MESSAGES);
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_quiet_backend_ends_the_websocket_after_the_stream_idle_timeout() {
    let gateway = TestGateway::start_with(Setup {
        separate_backend: true,
        upstream: "stream_idle_timeout_ms = 500",
        ..Setup::default()
    })
    .await;
    let mut socket = websocket_h1(gateway.addr, "/v1/users:stream?count=3&intervalMs=3000").await;
    let first = ws_next(&mut socket).await.expect("the first message");
    assert!(first["userId"].is_string(), "{first}");
    let error = ws_next(&mut socket)
        .await
        .expect("then an error, not a second user");
    assert_eq!(error["error"]["status"], "DEADLINE_EXCEEDED", "{error}");
    let close = ws_next(&mut socket).await.expect_err("then a close");
    let close = close.expect("a close frame");
    assert_eq!(close.code, CloseCode::Error, "{close:?}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_message_over_the_limit_gets_close_1009() {
    let gateway = TestGateway::start_with(Setup {
        server: "max_body_bytes = 1000",
        ..Setup::default()
    })
    .await;
    let mut socket = websocket_h1(gateway.addr, "/v1/rooms/big:chat").await;
    let text = json!({"text": "y".repeat(2000)}).to_string();
    socket
        .send(Message::Text(text.into()))
        .await
        .expect("send the big message");
    let close = ws_next(&mut socket).await.expect_err("a close");
    let close = close.expect("a close frame, not a dropped connection");
    assert_eq!(close.code, CloseCode::Size, "{close:?}");
    drop(socket);
    gateway.shutdown().await;
}
