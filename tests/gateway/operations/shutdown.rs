//! SIGTERM to the real binary under load: every request sent before the signal is answered
//! (the slow one in flight included), an open stream gets its last error line within the
//! grace period, and the process exits 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http::Method;
use serde_json::json;

use crate::support::{BodyReader, GatewayProcess, Setup, StreamingClient};

const GRACE_SECS: u64 = 3;

#[derive(Debug)]
struct Outcome {
    /// Sent before the gateway was told to stop.
    before_signal: bool,
    /// The status, or the connection's failure.
    result: Result<u16, String>,
}

#[tokio::test]
async fn sigterm_under_load_answers_every_accepted_request_and_exits_0() {
    let server = format!("shutdown_grace_secs = {GRACE_SECS}");
    let mut gateway = GatewayProcess::start(&Setup {
        server: &server,
        ..Setup::default()
    })
    .await;

    // An open stream, slower than the grace period.
    let streaming = StreamingClient::connect(gateway.addr).await;
    let response = streaming
        .get("/v1/users:stream?count=1000&intervalMs=50", &[])
        .await;
    assert_eq!(response.status(), 200);
    let mut stream = BodyReader::new(response);
    stream.json_line().await.expect("a first message");

    // Clients sending continuously, each on its own connection.
    let signalled = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for _ in 0..4 {
        let client = gateway.client().await;
        let signalled = Arc::clone(&signalled);
        senders.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let before_signal = !signalled.load(Ordering::SeqCst);
                let sent = client
                    .try_request(Method::GET, "/v1/users/42", &[], "")
                    .await;
                let result = sent
                    .map(|reply| reply.status.as_u16())
                    .map_err(|err| format!("{err:?}"));
                let failed = result.is_err();
                outcomes.push(Outcome {
                    before_signal,
                    result,
                });
                if failed {
                    return outcomes;
                }
            }
        }));
    }
    // A slow call in flight when the signal comes.
    let slow_client = gateway.client().await;
    let slow = tokio::spawn(async move {
        slow_client
            .try_request(
                Method::POST,
                "/v1/greeter:sayHello",
                &[("content-type", "application/json")],
                json!({"name": "slow", "delayMs": 1000}).to_string(),
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    signalled.store(true, Ordering::SeqCst);
    let signal_at = Instant::now();
    gateway.terminate();

    let slow = slow
        .await
        .unwrap()
        .expect("the slow call in flight is answered");
    assert_eq!(slow.status, 200, "{}", slow.text());

    let mut last = serde_json::Value::Null;
    while let Some(line) = stream.json_line().await {
        last = line;
    }
    let stream_ended = signal_at.elapsed();
    assert!(
        stream_ended < Duration::from_secs(GRACE_SECS + 2),
        "the stream ended {stream_ended:?} after the signal"
    );
    assert_eq!(last["error"]["status"], "UNAVAILABLE", "{last}");

    let status = gateway
        .exit_status(Duration::from_secs(GRACE_SECS + 5))
        .await
        .expect("the gateway exits within its grace period");
    assert!(status.success(), "exit status {status}");

    let mut served = 0;
    for sender in senders {
        for outcome in sender.await.unwrap() {
            match (&outcome.result, outcome.before_signal) {
                (Ok(200), _) => served += 1,
                // After the signal, the connection may refuse what it no longer accepts.
                (Err(_), false) => {}
                _ => panic!("a request failed: {outcome:?}"),
            }
        }
    }
    assert!(served > 20, "the clients were sending ({served} answered)");
}
