//! HTTP/1.1 request smuggling: a request whose length or header lines a proxy in front of the
//! gateway could read differently from the gateway itself (plaintext mode exists to sit behind
//! such a proxy). Each shape carries a second, "smuggled" `GET /v1/users/42` after it; the
//! gateway must answer the ambiguous request with 400 (or, where RFC 9112 allows, read it one
//! way) and close the connection, so the smuggled bytes are never served as a request of their
//! own. Nothing here grows memory, so these tests run the gateway in-process.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::abuse::{Bystander, CLOSE_WITHIN};
use crate::support::TestGateway;

/// The request hidden behind each shape.
const SMUGGLED: &str = "GET /v1/users/42 HTTP/1.1\r\nHost: smuggled\r\n\r\n";

/// One response read back from the raw connection.
#[derive(Debug)]
struct Response {
    status: u16,
    body: String,
}

/// What came back on a raw connection.
#[derive(Debug)]
struct Exchange {
    responses: Vec<Response>,
    /// The gateway closed the connection within [`CLOSE_WITHIN`].
    closed: bool,
    closed_after: Option<Duration>,
    raw: String,
}

/// Writes `request` on a fresh connection and reads until the gateway closes it, a second
/// response appears (already a failure: a smuggled request was served), or time runs out.
async fn exchange(addr: SocketAddr, request: &[u8]) -> Exchange {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request).await.expect("write the request");
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + CLOSE_WITHIN);
    let mut raw = Vec::new();
    let mut closed_after = None;
    loop {
        let mut buf = [0u8; 8192];
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(Ok(n)) => {
                raw.extend_from_slice(&buf[..n]);
                if parse_responses(&raw).len() >= 2 {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    Exchange {
        responses: parse_responses(&raw),
        closed: closed_after.is_some(),
        closed_after,
        raw: String::from_utf8_lossy(&raw).into_owned(),
    }
}

/// Complete responses in `raw` (the gateway always sends a Content-Length).
fn parse_responses(mut raw: &[u8]) -> Vec<Response> {
    let mut responses = Vec::new();
    while let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let length: usize = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse().ok())
            .unwrap_or(0);
        let rest = &raw[end + 4..];
        if rest.len() < length {
            break;
        }
        responses.push(Response {
            status,
            body: String::from_utf8_lossy(&rest[..length]).into_owned(),
        });
        raw = &rest[length..];
    }
    responses
}

/// `head` (the ambiguous request, up to its blank line) followed by `body`.
fn shape(head: &str, body: &str) -> Vec<u8> {
    format!("{head}{body}").into_bytes()
}

/// The smuggling guarantee for one shape: exactly one response, `allowed` as its status, and
/// the connection closed behind it; while a well-behaved HTTP/1.1 client stays served.
async fn assert_not_smuggled(gateway: &TestGateway, name: &str, request: &[u8], allowed: &[u16]) {
    let exchange = exchange(gateway.addr, request).await;
    let statuses: Vec<u16> = exchange.responses.iter().map(|r| r.status).collect();
    eprintln!(
        "{name}: statuses {statuses:?}, closed after {:?}",
        exchange.closed_after
    );
    assert!(
        exchange.responses.len() <= 1,
        "{name}: the smuggled request was served as a request of its own: {:?}",
        exchange.raw
    );
    let first = exchange
        .responses
        .first()
        .unwrap_or_else(|| panic!("{name}: no complete response: {:?}", exchange.raw));
    assert!(
        allowed.contains(&first.status),
        "{name}: answered {} ({}), expected one of {allowed:?}",
        first.status,
        first.body
    );
    assert!(
        exchange.closed,
        "{name}: the connection stays open after an ambiguous request ({:?})",
        exchange.raw
    );
}

#[tokio::test]
async fn content_length_with_chunked_is_never_a_desync_and_closes_the_connection() {
    // RFC 9112 §6.3: reject, or read by Transfer-Encoding alone; close either way. The gateway
    // reads it as chunked: the empty chunked body ends the request, the GET is answered (200),
    // and the smuggled bytes die with the connection.
    let gateway = TestGateway::plaintext("").await;
    let bystander = Bystander::start(gateway.client_h1().await).await;
    let chunked_end = format!("0\r\n\r\n{SMUGGLED}");
    let cl_then_te = format!(
        "GET /v1/users/42 HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        chunked_end.len()
    );
    assert_not_smuggled(
        &gateway,
        "Content-Length then Transfer-Encoding",
        &shape(&cl_then_te, &chunked_end),
        &[200, 400],
    )
    .await;
    // The other order: a proxy reading Content-Length (4) would take the chunk's first bytes
    // as the body and the rest, with the smuggled GET inside, as a next request.
    let chunk = format!("{:x}\r\n{SMUGGLED}\r\n0\r\n\r\n", SMUGGLED.len());
    let te_then_cl = "GET /v1/users/42 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\
                      Content-Length: 4\r\n\r\n";
    assert_not_smuggled(
        &gateway,
        "Transfer-Encoding then Content-Length",
        &shape(te_then_cl, &chunk),
        &[200, 400],
    )
    .await;
    bystander.finish().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn two_different_content_lengths_are_rejected_and_close_the_connection() {
    let gateway = TestGateway::plaintext("").await;
    let bystander = Bystander::start(gateway.client_h1().await).await;
    // A proxy taking the first length sees the smuggled GET as the next request.
    let two_lines = format!(
        "GET /v1/users/42 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: {}\r\n\r\n",
        SMUGGLED.len()
    );
    assert_not_smuggled(
        &gateway,
        "two Content-Length lines",
        &shape(&two_lines, SMUGGLED),
        &[400],
    )
    .await;
    let one_list = format!(
        "GET /v1/users/42 HTTP/1.1\r\nHost: a\r\nContent-Length: 0, {}\r\n\r\n",
        SMUGGLED.len()
    );
    assert_not_smuggled(
        &gateway,
        "one Content-Length listing two values",
        &shape(&one_list, SMUGGLED),
        &[400],
    )
    .await;
    bystander.finish().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn obs_fold_is_rejected_and_closes_the_connection() {
    // A proxy unfolding the line sees `X-Folded: a Content-Length: N` and no body; a parser
    // taking the continuation for a header of its own reads the smuggled GET as the body.
    let gateway = TestGateway::plaintext("").await;
    let bystander = Bystander::start(gateway.client_h1().await).await;
    let folded = format!(
        "GET /v1/users/42 HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n Content-Length: {}\r\n\r\n",
        SMUGGLED.len()
    );
    assert_not_smuggled(&gateway, "obs-fold", &shape(&folded, SMUGGLED), &[400]).await;
    bystander.finish().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn transfer_encoding_other_than_chunked_is_rejected_and_closes_the_connection() {
    // Obfuscated codings a proxy may take for chunked (or not): the gateway must not guess.
    let gateway = TestGateway::plaintext("").await;
    let bystander = Bystander::start(gateway.client_h1().await).await;
    for coding in ["xchunked", "chunked, identity"] {
        let head = format!(
            "GET /v1/users/42 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {coding}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        let name = format!("Transfer-Encoding: {coding}");
        assert_not_smuggled(&gateway, &name, &shape(&head, SMUGGLED), &[400]).await;
    }
    let spaced = "GET /v1/users/42 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\
                  Content-Length: 0\r\n\r\n";
    assert_not_smuggled(
        &gateway,
        "space before the colon",
        &shape(spaced, SMUGGLED),
        &[400],
    )
    .await;
    bystander.finish().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn bare_lf_line_endings_are_rejected_and_close_the_connection() {
    // A proxy that only ends lines at CRLF sees one malformed request here; the gateway, if it
    // accepts LF, sees two.
    let gateway = TestGateway::plaintext("").await;
    let bystander = Bystander::start(gateway.client_h1().await).await;
    let head = "GET /v1/users/42 HTTP/1.1\nHost: a\n\n";
    assert_not_smuggled(&gateway, "bare LF", &shape(head, SMUGGLED), &[400]).await;
    bystander.finish().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn bare_lf_inside_the_header_block_is_rejected_and_closes_the_connection() {
    // A CRLF-only proxy sees one header `X-Ignore` and no body, so it sends whatever follows
    // (here the smuggled GET; in life another client's request) as a request of its own.
    let gateway = TestGateway::plaintext("").await;
    let bystander = Bystander::start(gateway.client_h1().await).await;
    let head = format!(
        "GET /v1/users/42 HTTP/1.1\r\nHost: a\r\nX-Ignore: x\nContent-Length: {}\r\n\r\n",
        SMUGGLED.len()
    );
    assert_not_smuggled(
        &gateway,
        "bare LF inside a header line",
        &shape(&head, SMUGGLED),
        &[400],
    )
    .await;
    bystander.finish().await;
    gateway.shutdown().await;
}
