//! StreamUsers: knob parsing, then end-to-end over loopback HTTP/2, including what the
//! [`StreamProbe`](super::super::stream_probe::StreamProbe) sees when a client cancels or stalls.

use std::time::Instant;

use tonic::Streaming;

use super::super::errors::decode_bad_request;
use super::super::pb::user_service_client::UserServiceClient;
use super::super::response_metadata::{
    SERVED_BY_HEADER, SERVED_BY_VALUE, TRAILER_NAME, TRAILER_VALUE,
};
use super::super::test_support::{TestServer, eventually};
use super::*;

fn req(
    count: i32,
    interval_ms: u32,
    fail_after: i32,
    fail_code: i32,
    padding_bytes: i32,
) -> StreamUsersRequest {
    StreamUsersRequest {
        count,
        interval_ms,
        fail_after,
        fail_code,
        padding_bytes,
    }
}

fn fields(err: DemoError) -> Vec<String> {
    match err {
        DemoError::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn invalid_knobs_are_all_reported() {
    let max_count = i32::try_from(MAX_STREAM_COUNT).expect("fits");
    let max_padding = i32::try_from(MAX_PADDING_BYTES).expect("fits");
    let cases = [
        (req(-1, 0, 0, 0, 0), vec!["count"]),
        (req(max_count + 1, 0, 0, 0, 0), vec!["count"]),
        (
            req(0, MAX_STREAM_INTERVAL_MS + 1, 0, 0, 0),
            vec!["interval_ms"],
        ),
        (req(0, 0, -1, 0, 0), vec!["fail_after"]),
        (req(0, 0, 1, 17, 0), vec!["fail_code"]),
        (req(0, 0, 1, -2, 0), vec!["fail_code"]),
        (req(0, 0, 0, 0, -1), vec!["padding_bytes"]),
        (req(0, 0, 0, 0, max_padding + 1), vec!["padding_bytes"]),
        (
            req(-5, 60_001, -1, 99, -1),
            vec![
                "count",
                "interval_ms",
                "fail_after",
                "fail_code",
                "padding_bytes",
            ],
        ),
    ];
    for (request, expected) in cases {
        let err = StreamUsersPlan::parse(&request).expect_err("invalid");
        assert_eq!(fields(err), expected, "{request:?}");
    }
    let limits = req(max_count, MAX_STREAM_INTERVAL_MS, i32::MAX, 16, max_padding);
    assert!(StreamUsersPlan::parse(&limits).is_ok());
}

#[test]
fn message_count_table() {
    // (count, fail_after, stored users, expected user messages)
    let cases = [
        (0, 0, 3, 3),
        (0, 0, 0, 0),
        (7, 0, 3, 7),
        (7, 0, 0, 0),
        (7, 2, 3, 2),
        (0, 5, 3, 3),
        (2, 5, 3, 2),
    ];
    for (count, fail_after, stored, expected) in cases {
        let plan = StreamUsersPlan::parse(&req(count, 0, fail_after, 0, 0)).expect("valid");
        assert_eq!(
            plan.message_count(stored),
            expected,
            "{count}/{fail_after}/{stored}"
        );
    }
}

/// Reads the stream to its end: the users, then the final status if it failed.
async fn drain(mut stream: Streaming<User>) -> (Vec<User>, Option<Status>) {
    let mut users = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(user)) => users.push(user),
            Ok(None) => return (users, None),
            Err(status) => return (users, Some(status)),
        }
    }
}

async fn call(
    client: &mut UserServiceClient<tonic::transport::Channel>,
    request: StreamUsersRequest,
) -> (Vec<User>, Option<Status>) {
    let stream = client
        .stream_users(request)
        .await
        .expect("stream starts")
        .into_inner();
    drain(stream).await
}

fn ids(users: &[User]) -> Vec<&str> {
    users.iter().map(|u| u.user_id.as_str()).collect()
}

#[tokio::test]
async fn count_selects_every_user_once_or_cycles() {
    let server = TestServer::start().await;
    let mut client = server.users().await;

    let (users, status) = call(&mut client, req(0, 0, 0, 0, 0)).await;
    assert_eq!(ids(&users), ["1", "2", "42"]);
    assert!(status.is_none());
    assert!(
        users
            .iter()
            .all(|u| u.padding.is_empty() && u.created_at.is_some())
    );

    let (users, status) = call(&mut client, req(7, 0, 0, 0, 0)).await;
    assert_eq!(ids(&users), ["1", "2", "42", "1", "2", "42", "1"]);
    assert!(status.is_none());

    assert_eq!(server.probe.streams_started(), 2);
    assert_eq!(server.probe.streams_completed(), 2);
    assert_eq!(server.probe.messages_sent(), 10);
    assert_eq!(server.probe.streams_cancelled(), 0);
}

#[tokio::test]
async fn streams_carry_the_demo_header_and_trailer_even_when_failing() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    for fail_after in [0, 1] {
        let response = client
            .stream_users(req(2, 0, fail_after, 0, 0))
            .await
            .expect("stream starts");
        let header = response.metadata().get(SERVED_BY_HEADER).cloned();
        assert_eq!(
            header.as_ref().and_then(|v| v.to_str().ok()),
            Some(SERVED_BY_VALUE)
        );
        let mut stream = response.into_inner();
        let status = loop {
            match stream.message().await {
                Ok(Some(_)) => {}
                Ok(None) => break None,
                Err(status) => break Some(status),
            }
        };
        let trailer = match (&status, fail_after) {
            (None, 0) => stream
                .trailers()
                .await
                .expect("trailers")
                .and_then(|t| t.get(TRAILER_NAME).cloned()),
            // tonic surfaces a failed stream's trailers as the status metadata.
            (Some(status), 1) => status.metadata().get(TRAILER_NAME).cloned(),
            other => panic!("unexpected end {other:?}"),
        };
        assert_eq!(
            trailer.as_ref().and_then(|v| v.to_str().ok()),
            Some(TRAILER_VALUE),
            "fail_after={fail_after}"
        );
    }
}

#[tokio::test]
async fn interval_paces_messages() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    let started = Instant::now();
    let (users, _) = call(&mut client, req(3, 100, 0, 0, 0)).await;
    assert_eq!(users.len(), 3);
    // Two pauses: between 1st/2nd and 2nd/3rd, none before the first or after the last.
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn fail_after_ends_with_the_requested_status() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    // (count, fail_after, fail_code, users sent, code)
    let cases = [
        (0, 2, 0, 2, Code::Internal),
        (10, 4, 14, 4, Code::Unavailable),
        (0, 5, 9, 3, Code::FailedPrecondition),
    ];
    for (count, fail_after, fail_code, sent, code) in cases {
        let (users, status) = call(&mut client, req(count, 0, fail_after, fail_code, 0)).await;
        assert_eq!(users.len(), sent, "{count}/{fail_after}");
        let status = status.expect("stream fails");
        assert_eq!(status.code(), code);
        assert_eq!(
            status.message(),
            format!("stream failed after {sent} messages")
        );
    }
    assert_eq!(
        server.probe.streams_completed(),
        3,
        "a failed stream still completed"
    );
    assert_eq!(server.probe.streams_cancelled(), 0);
}

#[tokio::test]
async fn padding_fills_each_sent_user() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    let (users, _) = call(&mut client, req(4, 0, 0, 0, 1000)).await;
    assert_eq!(users.len(), 4);
    for user in users {
        assert_eq!(user.padding, "x".repeat(1000));
    }
    // The stored users are not padded.
    let stored = client
        .get_user(super::super::pb::GetUserRequest {
            user_id: "1".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert!(stored.padding.is_empty());
}

#[tokio::test]
async fn invalid_request_fails_before_streaming() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    let err = client
        .stream_users(req(-1, 0, 0, 0, 0))
        .await
        .expect_err("invalid count");
    assert_eq!(err.code(), Code::InvalidArgument);
    let bad = decode_bad_request(&err).expect("BadRequest");
    assert_eq!(bad.field_violations.len(), 1);
    assert_eq!(server.probe.streams_started(), 0);
}

#[tokio::test]
async fn dropping_the_stream_midway_cancels_it() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    let mut stream = client
        .stream_users(req(1000, 10, 0, 0, 0))
        .await
        .expect("stream starts")
        .into_inner();
    for _ in 0..2 {
        assert!(stream.message().await.expect("message").is_some());
    }
    drop(stream);
    eventually(
        "the server to see the cancel",
        || server.probe.streams_cancelled(),
        |&n| n == 1,
    )
    .await;
    assert_eq!(server.probe.streams_completed(), 0);
    let sent = server.probe.messages_sent();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.probe.messages_sent(), sent, "production stopped");
}

#[tokio::test]
async fn a_stalled_reader_stops_production() {
    let server = TestServer::start().await;
    let mut client = server.users().await;
    let count = MAX_STREAM_COUNT;
    let stream = client
        .stream_users(req(i32::try_from(count).expect("fits"), 0, 0, 0, 16 * 1024))
        .await
        .expect("stream starts")
        .into_inner();
    // Nothing is read: once the flow-control windows are full, tonic stops pulling.
    let mut last = 0;
    let settled = eventually(
        "messages_sent to stop growing",
        || {
            let now = server.probe.messages_sent();
            let stable = now > 0 && now == last;
            last = now;
            (now, stable)
        },
        |&(_, stable)| stable,
    )
    .await
    .0;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let later = server.probe.messages_sent();
    assert!(
        later < u64::from(count) / 100,
        "production is bounded by flow control: {later} of {count} sent (settled at {settled})"
    );
    drop(stream);
    eventually(
        "the cancel",
        || server.probe.streams_cancelled(),
        |&n| n == 1,
    )
    .await;
}
