//! Hostile and sloppy input: each case gets a 400-class answer in the one error shape, and the
//! next, good request on the SAME connection must still succeed.

use http::{Method, StatusCode};
use serde_json::json;

use crate::support::{Setup, TestGateway, assert_error, message_of};

#[tokio::test]
async fn malformed_json_says_where() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let body = "{\n  \"name\": \"x\",\n  oops\n}";
    let reply = client.raw_json(Method::POST, "/v1/users", body).await;
    let error = assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
    let message = message_of(&error);
    assert!(
        message.contains("line") && message.contains("column"),
        "message names line and column: {error}"
    );
    assert!(message.contains('3'), "the error is on line 3: {error}");
    client.assert_still_usable().await;

    // Truncated body.
    let reply = client
        .raw_json(Method::POST, "/v1/users", "{\"name\": \"x\"")
        .await;
    assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn malformed_json_over_http1_keeps_the_connection() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client_h1().await;
    assert!(!client.is_h2());
    let reply = client
        .raw_json(Method::POST, "/v1/users", "{not json")
        .await;
    assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn wrong_json_types_are_400() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    for body in [
        json!({"name": 5}),
        json!({"name": "x", "age": "old"}),
        json!({"name": "x", "age": 1.5}),
        json!({"name": "x", "tags": "not-a-list"}),
        json!({"name": "x", "createdAt": "yesterday"}),
        json!(["not", "an", "object"]),
    ] {
        let reply = client.json(Method::POST, "/v1/users", &body).await;
        let error = assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
        assert!(!message_of(&error).is_empty(), "{body}: {error}");
        client.assert_still_usable().await;
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn unknown_enum_name_is_400() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let reply = client
        .json(
            Method::POST,
            "/v1/users",
            &json!({"name": "x", "role": "ROLE_KING"}),
        )
        .await;
    let error = assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
    assert!(
        message_of(&error).contains("role_king"),
        "names the bad value: {error}"
    );
    client.assert_still_usable().await;
    // In the query string too.
    let reply = client.get("/v1/users?role=ROLE_KING").await;
    assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn unknown_json_field_is_400() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let reply = client
        .json(
            Method::POST,
            "/v1/users",
            &json!({"name": "x", "nickname": "y"}),
        )
        .await;
    let error = assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
    assert!(
        message_of(&error).contains("nickname"),
        "names the field: {error}"
    );
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn ignore_unknown_fields_accepts_them() {
    let gateway = TestGateway::start("[json]\nignore_unknown_fields = true\n").await;
    let client = gateway.client().await;
    let reply = client
        .json(
            Method::POST,
            "/v1/users",
            &json!({"name": "Tolerated", "nickname": "y"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let user = reply.json();
    assert_eq!(user["name"], "Tolerated");
    assert!(user.get("nickname").is_none());
    // Unknown query parameters are ignored as well.
    let list = client.get_ok("/v1/users?pageSize=1&bogus=1").await;
    assert_eq!(list["users"].as_array().map(Vec::len), Some(1));
    gateway.shutdown().await;
}

// Both members of a oneof: no demo message (User, HelloRequest, ...) declares a oneof, so there is
// nothing to send through the demo routes; covered by the transcoding unit tests instead.

#[tokio::test]
async fn bad_percent_encoding_in_path_is_400() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    for path in [
        "/v1/users/%zz",
        "/v1/users/%",
        "/v1/users/%4",
        "/v1/greeter/%ff%fe",
    ] {
        let reply = client.get(path).await;
        assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
        client.assert_still_usable().await;
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn bad_query_parameters_are_400() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let cases = [
        // Unknown parameter.
        "/v1/users?pageSize=2&bogus=1",
        // A singular field given twice.
        "/v1/users?pageSize=1&pageSize=2",
        // The same field by both names.
        "/v1/users?pageSize=1&page_size=2",
        // Wrong type.
        "/v1/users?pageSize=many",
        // A field already bound by the path.
        "/v1/users/42?userId=1",
        // Bad percent-encoding in the query.
        "/v1/users?pageToken=%zz",
    ];
    for path in cases {
        let reply = client.get(path).await;
        assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
        client.assert_still_usable().await;
    }
    // body "*" takes no query parameters.
    let reply = client
        .json(Method::POST, "/v1/users?age=3", &json!({"name": "q"}))
        .await;
    assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn body_contradicting_path_variable_is_400() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let reply = client
        .json(
            Method::PATCH,
            "/v1/users/42",
            &json!({"userId": "43", "age": 50}),
        )
        .await;
    assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
    client.assert_still_usable().await;
    // Nothing was written to either user.
    assert_eq!(client.get_ok("/v1/users/42").await["age"], 36);
    let reply = client.get("/v1/users/43").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    gateway.shutdown().await;
}

#[tokio::test]
async fn body_over_max_body_bytes_is_413() {
    let gateway = TestGateway::start_with(Setup {
        server: "max_body_bytes = 1024",
        ..Setup::default()
    })
    .await;
    let client = gateway.client().await;
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(4096));
    let reply = client.raw_json(Method::POST, "/v1/users", big).await;
    let error = assert_error(&reply, 413, "INVALID_ARGUMENT", 10001);
    assert!(
        message_of(&error).contains("1024"),
        "names the limit: {error}"
    );
    client.assert_still_usable().await;

    // Just under the limit is fine (padded with whitespace).
    let ok = format!("{{\"name\": \"Padded\"{}}}", " ".repeat(900));
    let reply = client.raw_json(Method::POST, "/v1/users", ok).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    // The limit holds for raw (HttpBody) uploads too.
    let reply = client
        .request(
            Method::POST,
            "/v1/users/1/avatar",
            &[("content-type", "image/png")],
            vec![7u8; 5000],
        )
        .await;
    assert_error(&reply, 413, "INVALID_ARGUMENT", 10001);
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn deeply_nested_json_is_400_not_a_crash() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    for depth in [10_000, 100] {
        let body = format!(
            "{{\"name\": \"deep\", \"tags\": {}{}}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let reply = client.raw_json(Method::POST, "/v1/users", body).await;
        assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
        client.assert_still_usable().await;

        let objects = format!("{}{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        let reply = client.raw_json(Method::POST, "/v1/users", objects).await;
        assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
        client.assert_still_usable().await;
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn invalid_grpc_timeout_is_400() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    for bad in ["soon", "10", "-1S", "123456789S", "1x"] {
        let reply = client
            .say_hello(&[("grpc-timeout", bad)], &json!({"name": "x"}))
            .await;
        let error = assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
        assert!(
            message_of(&error).contains("grpc-timeout"),
            "names the header: {error}"
        );
        client.assert_still_usable().await;
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_json_key_given_twice_is_400_not_last_wins() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let reply = client
        .raw_json(
            Method::POST,
            "/v1/users",
            r#"{"name":"Ann","age":30,"name":"Bob"}"#,
        )
        .await;
    let error = assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
    let violations = &error["details"][0]["fieldViolations"];
    assert_eq!(violations[0]["field"], "name", "{error}");
    // Inside a body bound to one field (PATCH /v1/users/{id} with body "user").
    let reply = client
        .raw_json(Method::PATCH, "/v1/users/42", r#"{"age":1,"age":2}"#)
        .await;
    assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn oversized_heads_get_431_and_414_with_an_error_response() {
    let gateway = TestGateway::start("[limits]\nmax_header_bytes = 4096\n").await;
    for client in [gateway.client().await, gateway.client_h1().await] {
        let big = "v".repeat(5000);
        let reply = client
            .request(Method::GET, "/v1/users/42", &[("x-big", &big)], Vec::new())
            .await;
        assert_error(&reply, 431, "INVALID_ARGUMENT", 10001);
        let long = format!("/v1/users/42?{}", "q=1&".repeat(1500));
        let reply = client.get(&long).await;
        assert_error(&reply, 414, "INVALID_ARGUMENT", 10001);
        client.assert_still_usable().await;
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn http11_requests_need_exactly_one_host() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let gateway = TestGateway::plaintext("").await;
    let heads = [
        ("no Host", "GET /v1/users/42 HTTP/1.1\r\n\r\n"),
        (
            "two Hosts",
            "GET /v1/users/42 HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
        ),
    ];
    for (what, head) in heads {
        let mut tcp = tokio::net::TcpStream::connect(gateway.addr)
            .await
            .expect("connect");
        // A second, well-formed request pipelined behind: it must not be served.
        let pipelined = format!("{head}GET /v1/users/42 HTTP/1.1\r\nHost: x\r\n\r\n");
        tcp.write_all(pipelined.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tcp.read_to_end(&mut answer),
        )
        .await;
        assert!(
            read.is_ok(),
            "{what}: the connection is closed after the answer"
        );
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 400"), "{what}: {text}");
        assert!(
            text.contains("\"INVALID_ARGUMENT\""),
            "{what}: an ErrorResponse: {text}"
        );
        assert!(
            !text.contains("HTTP/1.1 200"),
            "{what}: the pipelined request is not served: {text}"
        );
    }
    let client = super::support::Client::h1_plain(gateway.addr).await;
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn an_oversized_request_line_over_tls_gets_a_status() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let gateway = TestGateway::start("").await;
    let mut tls = crate::support::tls_handshake(gateway.addr, &[b"http/1.1"]).await;
    let head = format!(
        "GET /v1/users/42?{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a".repeat(200_000)
    );
    // The gateway may answer before the whole line is written.
    let _ = tls.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tls.read_to_end(&mut answer),
    )
    .await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 431") || text.starts_with("HTTP/1.1 414"),
        "a status, not a bare close: {text:?}"
    );
    gateway.shutdown().await;
}
