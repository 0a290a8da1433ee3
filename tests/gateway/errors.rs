//! The one error shape, end to end: backend statuses (with details), the README error table row
//! by row, business-code overrides, deadlines, unreachable backends and routing failures.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{HeldPort, Setup, TestGateway, assert_error, message_of};

/// The README error table: (gRPC code, name, HTTP status, default business code).
const ERROR_TABLE: [(i32, &str, u16, i64); 16] = [
    (1, "CANCELLED", 499, 10008),
    (2, "UNKNOWN", 500, 50000),
    (3, "INVALID_ARGUMENT", 400, 10001),
    (4, "DEADLINE_EXCEEDED", 504, 20001),
    (5, "NOT_FOUND", 404, 10002),
    (6, "ALREADY_EXISTS", 409, 10003),
    (7, "PERMISSION_DENIED", 403, 10005),
    (8, "RESOURCE_EXHAUSTED", 429, 10007),
    (9, "FAILED_PRECONDITION", 400, 10001),
    (10, "ABORTED", 409, 10004),
    (11, "OUT_OF_RANGE", 400, 10001),
    (12, "UNIMPLEMENTED", 501, 10009),
    (13, "INTERNAL", 500, 50000),
    (14, "UNAVAILABLE", 503, 20001),
    (15, "DATA_LOSS", 500, 50000),
    (16, "UNAUTHENTICATED", 401, 10006),
];

const BAD_REQUEST_TYPE: &str = "type.googleapis.com/google.rpc.BadRequest";

fn violated_fields(detail: &Value) -> Vec<String> {
    detail["fieldViolations"]
        .as_array()
        .unwrap_or_else(|| panic!("fieldViolations array in {detail}"))
        .iter()
        .map(|v| {
            assert!(
                v["description"].as_str().is_some_and(|d| !d.is_empty()),
                "violation has a description: {v}"
            );
            v["field"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn backend_not_found_is_404_with_business_code() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let reply = client.get("/v1/users/404").await;
    let body = assert_error(&reply, 404, "NOT_FOUND", 10002);
    assert_eq!(
        body,
        json!({"code": 10002, "message": "user 404 not found", "status": "NOT_FOUND",
               "details": []})
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn invalid_create_carries_bad_request_details() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let reply = client
        .json(
            Method::POST,
            "/v1/users",
            &json!({"name": "", "age": 200, "email": "not-an-email"}),
        )
        .await;
    let body = assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
    let details = body["details"].as_array().expect("details");
    assert_eq!(details.len(), 1, "{body}");
    assert_eq!(details[0]["@type"], BAD_REQUEST_TYPE, "{body}");
    let mut fields = violated_fields(&details[0]);
    fields.sort();
    assert_eq!(fields, ["age", "email", "name"], "{body}");
    assert!(message_of(&body).contains("invalid request"), "{body}");
    // "@type" is written first.
    let text = reply.text();
    let detail_start = text.find("\"details\":[{").expect("details array in text");
    assert!(
        text[detail_start..].starts_with("\"details\":[{\"@type\""),
        "@type first: {text}"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn duplicate_create_is_409_already_exists() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let reply = client
        .json(
            Method::POST,
            "/v1/users",
            &json!({"userId": "42", "name": "Ada Again"}),
        )
        .await;
    let body = assert_error(&reply, 409, "ALREADY_EXISTS", 10003);
    assert_eq!(body["message"], "user 42 already exists");
    gateway.shutdown().await;
}

#[tokio::test]
async fn every_grpc_status_maps_per_the_error_table() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    for (code, name, http, business) in ERROR_TABLE {
        let message = format!("forced {name}");
        let reply = client
            .say_hello(
                &[],
                &json!({"name": "x", "failCode": code, "failMessage": message}),
            )
            .await;
        let body = assert_error(&reply, http, name, business);
        assert_eq!(body["message"], message.as_str(), "{name}: {body}");
        if name == "UNAUTHENTICATED" {
            assert!(
                reply.header("www-authenticate").is_some(),
                "UNAUTHENTICATED sets WWW-Authenticate; headers: {:?}",
                reply.headers
            );
        } else {
            assert!(
                reply.header("www-authenticate").is_none(),
                "{name} does not set WWW-Authenticate"
            );
        }
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn business_code_overrides_change_code_only() {
    let gateway =
        TestGateway::start("[errors.codes]\nNOT_FOUND = 40400\nUNAVAILABLE = 50300\n").await;
    let client = gateway.client().await;
    let reply = client.get("/v1/users/999").await;
    assert_error(&reply, 404, "NOT_FOUND", 40400);
    // Gateway-side NOT_FOUND (unknown route) uses the override too.
    let reply = client.get("/v1/nothing/here").await;
    assert_error(&reply, 404, "NOT_FOUND", 40400);
    let reply = client
        .say_hello(&[], &json!({"failCode": 14, "failMessage": "down"}))
        .await;
    assert_error(&reply, 503, "UNAVAILABLE", 50300);
    // Codes not overridden keep their defaults (DEADLINE_EXCEEDED shared 20001 with UNAVAILABLE).
    let reply = client
        .say_hello(&[], &json!({"failCode": 4, "failMessage": "late"}))
        .await;
    assert_error(&reply, 504, "DEADLINE_EXCEEDED", 20001);
    gateway.shutdown().await;
}

#[tokio::test]
async fn client_deadline_gives_504_quickly() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let started = Instant::now();
    let reply = client
        .say_hello(
            &[("grpc-timeout", "100m")],
            &json!({"name": "slow", "delayMs": 2000}),
        )
        .await;
    let took = started.elapsed();
    assert_error(&reply, 504, "DEADLINE_EXCEEDED", 20001);
    assert!(
        took < Duration::from_millis(1500),
        "answered after {took:?}, not after the backend's 2 s"
    );
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn upstream_timeout_ms_caps_the_client_deadline() {
    let gateway = TestGateway::start_with(Setup {
        separate_backend: true,
        upstream: "timeout_ms = 300",
        ..Setup::default()
    })
    .await;
    let client = gateway.client().await;
    // Within the upstream's 300 ms: fine.
    let reply = client
        .say_hello(&[], &json!({"name": "ok", "delayMs": 50}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    // The client asks for 10 s, the upstream allows 300 ms: the shorter wins.
    let started = Instant::now();
    let reply = client
        .say_hello(
            &[("grpc-timeout", "10S")],
            &json!({"name": "slow", "delayMs": 2000}),
        )
        .await;
    let took = started.elapsed();
    assert_error(&reply, 504, "DEADLINE_EXCEEDED", 20001);
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn unreachable_backend_is_503() {
    let dead_port = HeldPort::bind();
    let port = dead_port.port();
    let extra = format!(
        "[[upstreams]]\nname = \"dead\"\nendpoints = [\"http://127.0.0.1:{port}\"]\nservices = [\"demo.v1.Greeter\"]\n"
    );
    let gateway = TestGateway::start(&extra).await;
    let client = gateway.client().await;
    let started = Instant::now();
    let reply = client.say_hello(&[], &json!({"name": "anyone"})).await;
    assert_error(&reply, 503, "UNAVAILABLE", 20001);
    assert!(started.elapsed() < Duration::from_secs(5), "fails fast");
    // Other upstreams' routes are unaffected, on the same connection.
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn unknown_route_is_404() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    for path in [
        "/v2/users/42",
        "/nothing",
        "/v1/users/42/friends",
        "/V1/users/42",
    ] {
        let reply = client.get(path).await;
        assert_error(&reply, 404, "NOT_FOUND", 10002);
    }
    gateway.shutdown().await;
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let gateway = TestGateway::start("").await;
    let client = gateway.client().await;
    let (status, headers, body) = client
        .send(Method::PUT, "/v1/users/42", &[], "{}".to_owned())
        .await;
    let reply = crate::support::Reply {
        status,
        version: http::Version::HTTP_2,
        headers,
        body,
    };
    assert_error(&reply, 405, "UNIMPLEMENTED", 10009);
    let allow = reply.header("allow").expect("Allow header").to_owned();
    let mut methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    methods.sort_unstable();
    assert_eq!(methods, ["DELETE", "GET", "PATCH"], "Allow: {allow}");

    let reply = client.delete("/v1/users").await;
    assert_error(&reply, 405, "UNIMPLEMENTED", 10009);
    let allow = reply.header("allow").expect("Allow header").to_owned();
    let mut methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    methods.sort_unstable();
    assert_eq!(methods, ["GET", "POST"], "Allow: {allow}");

    // A registered verb: only POST is served there.
    let reply = client.get("/v1/greeter:sayHello").await;
    assert_error(&reply, 405, "UNIMPLEMENTED", 10009);
    assert_eq!(reply.header("allow"), Some("POST"));
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

/// The fake backend's answer per `scenario` metadata (sent as `Grpc-Metadata-Scenario`).
fn misbehave(_path: &str, headers: &http::HeaderMap) -> crate::support::FakeAnswer {
    use base64::Engine as _;
    use prost::Message as _;

    let scenario = headers
        .get("scenario")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // `http-NNN`: an empty answer; `http-NNN-text`: a text page, as proxies send.
    let plain = |status: u16| {
        if scenario.ends_with("-text") {
            (
                status,
                vec![("content-type".to_owned(), "text/plain".to_owned())],
                bytes::Bytes::from_static(b"not grpc"),
            )
        } else {
            (status, Vec::new(), bytes::Bytes::new())
        }
    };
    let grpc = |pairs: &[(&str, String)]| {
        let mut headers = vec![("content-type".to_owned(), "application/grpc".to_owned())];
        headers.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        (200, headers, bytes::Bytes::new())
    };
    let http_status = scenario
        .strip_prefix("http-")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok());
    if let Some(status) = http_status {
        return plain(status);
    }
    match scenario {
        // Not base64: tonic itself would panic decoding this.
        "bad-details" => grpc(&[
            ("grpc-status", "3".to_owned()),
            ("grpc-message", "bad".to_owned()),
            ("grpc-status-details-bin", "%%% not base64 %%%".to_owned()),
        ]),
        "code-99" => grpc(&[
            ("grpc-status", "99".to_owned()),
            ("grpc-message", "weird".to_owned()),
        ]),
        "details" => {
            use h2gate_demo::pb::google::rpc;
            let bad_request = rpc::BadRequest {
                field_violations: vec![rpc::bad_request::FieldViolation {
                    field: "name".to_owned(),
                    description: "too short".to_owned(),
                }],
            };
            let info = rpc::ErrorInfo {
                reason: "QUOTA".to_owned(),
                domain: "example.com".to_owned(),
                metadata: [("k".to_owned(), "v".to_owned())].into_iter().collect(),
            };
            let status = rpc::Status {
                code: 3,
                message: "bad thing".to_owned(),
                details: vec![
                    prost_types::Any {
                        type_url: BAD_REQUEST_TYPE.to_owned(),
                        value: bad_request.encode_to_vec(),
                    },
                    prost_types::Any {
                        type_url: "type.googleapis.com/google.rpc.ErrorInfo".to_owned(),
                        value: info.encode_to_vec(),
                    },
                    prost_types::Any {
                        type_url: "type.googleapis.com/acme.v1.Mystery".to_owned(),
                        value: vec![1, 2, 3],
                    },
                ],
            };
            let encoded =
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(status.encode_to_vec());
            grpc(&[
                ("grpc-status", "3".to_owned()),
                ("grpc-message", "bad%20thing".to_owned()),
                ("grpc-status-details-bin", encoded),
            ])
        }
        _ => plain(500),
    }
}

async fn gateway_with_fake_greeter() -> (TestGateway, crate::support::FakeBackend) {
    let fake = crate::support::FakeBackend::start(misbehave).await;
    let extra = format!(
        "[[upstreams]]\nname = \"fake\"\nendpoints = [\"http://{}\"]\nservices = [\"demo.v1.Greeter\"]\n",
        fake.addr
    );
    (TestGateway::start(&extra).await, fake)
}

#[tokio::test]
async fn backend_without_grpc_status_maps_by_http_status() {
    let (gateway, _fake) = gateway_with_fake_greeter().await;
    let client = gateway.client().await;
    let cases = [
        ("http-401", 401, "UNAUTHENTICATED", 10006),
        ("http-403", 403, "PERMISSION_DENIED", 10005),
        ("http-404", 501, "UNIMPLEMENTED", 10009),
        ("http-429", 503, "UNAVAILABLE", 20001),
        ("http-502", 503, "UNAVAILABLE", 20001),
        ("http-503", 503, "UNAVAILABLE", 20001),
    ];
    // Every mismatch is collected so one run shows the whole picture.
    let mut wrong = Vec::new();
    for (scenario, http, status, code) in cases {
        for scenario in [scenario.to_owned(), format!("{scenario}-text")] {
            let reply = client
                .say_hello(
                    &[("grpc-metadata-scenario", &scenario)],
                    &json!({"name": "x"}),
                )
                .await;
            let body = reply.json();
            let got = (
                reply.status.as_u16(),
                body["status"].clone(),
                body["code"].clone(),
            );
            if got != (http, json!(status), json!(code)) {
                wrong.push(format!(
                    "{scenario}: expected {http} {status} {code}, got {} {} {}: {body}",
                    got.0, got.1, got.2
                ));
            } else if status == "UNAUTHENTICATED" && reply.header("www-authenticate").is_none() {
                wrong.push(format!("{scenario}: no WWW-Authenticate"));
            }
        }
    }
    assert!(wrong.is_empty(), "mismatches:\n{}", wrong.join("\n"));
    client.assert_still_usable().await;
    gateway.shutdown().await;
}

#[tokio::test]
async fn unknown_numeric_grpc_code_is_500() {
    let (gateway, _fake) = gateway_with_fake_greeter().await;
    let client = gateway.client().await;
    let reply = client
        .say_hello(
            &[("grpc-metadata-scenario", "code-99")],
            &json!({"name": "x"}),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 500, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["code"], 50000, "{body}");
    assert!(body["details"].is_array(), "{body}");
    gateway.shutdown().await;
}

#[tokio::test]
async fn status_details_are_decoded_or_kept_as_base64() {
    let (gateway, _fake) = gateway_with_fake_greeter().await;
    let client = gateway.client().await;
    let reply = client
        .say_hello(
            &[("grpc-metadata-scenario", "details")],
            &json!({"name": "x"}),
        )
        .await;
    let body = assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
    assert_eq!(
        body["message"], "bad thing",
        "grpc-message is decoded: {body}"
    );
    assert_eq!(
        body["details"],
        json!([
            {"@type": BAD_REQUEST_TYPE,
             "fieldViolations": [{"field": "name", "description": "too short"}]},
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo",
             "reason": "QUOTA", "domain": "example.com", "metadata": {"k": "v"}},
            {"@type": "type.googleapis.com/acme.v1.Mystery", "value": "AQID"},
        ]),
        "{body}"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn malformed_status_details_keep_code_and_message() {
    let (gateway, _fake) = gateway_with_fake_greeter().await;
    let client = gateway.client().await;
    let reply = client
        .say_hello(
            &[("grpc-metadata-scenario", "bad-details")],
            &serde_json::json!({"name": "x"}),
        )
        .await;
    let body = crate::support::assert_error(&reply, 400, "INVALID_ARGUMENT", 10001);
    assert_eq!(body["message"], "bad");
    client.assert_still_usable().await;
}
