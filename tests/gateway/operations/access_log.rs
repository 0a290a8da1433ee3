//! The access log of the real binary, read from its stdout: one JSON object per request with
//! where its call went and what flowed (a stream's line once the stream ended), or logfmt
//! pairs in the default text format.

use std::collections::BTreeMap;
use std::time::Duration;

use http::Method;
use serde_json::Value;

use crate::support::{GatewayProcess, Setup, poll_until};

/// The gateway's stdout lines once `count` of them are there (they leave through a writer
/// thread, so they trail the responses a little).
async fn lines(gateway: &GatewayProcess, count: usize) -> Vec<String> {
    poll_until(Duration::from_secs(10), || {
        let lines = gateway.stdout_lines();
        std::future::ready((lines.len() >= count).then_some(lines))
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "{count} access-log lines expected; stdout: {:?}\nlog: {}",
            gateway.stdout_lines(),
            gateway.log_tail()
        )
    })
}

fn entry_with<'a>(entries: &'a [Value], key: &str, value: &str) -> &'a Value {
    entries
        .iter()
        .find(|e| e[key] == value)
        .unwrap_or_else(|| panic!("an entry with {key} = {value:?} in {entries:#?}"))
}

#[tokio::test]
async fn json_lines_say_where_each_call_went_and_what_flowed() {
    let gateway = GatewayProcess::start_capturing_stdout(&Setup {
        plaintext: true,
        extra: "[access_log]\nformat = \"json\"\n",
        ..Setup::default()
    })
    .await;
    let client = gateway.client().await;
    let user = client
        .request(
            Method::GET,
            "/v1/users/42",
            &[("x-request-id", "log-get")],
            "",
        )
        .await;
    assert_eq!(user.status, 200);
    let hello = br#"{"name":"world"}"#;
    let said = client
        .request(
            Method::POST,
            "/v1/greeter:sayHello",
            &[
                ("x-request-id", "log-post"),
                ("content-type", "application/json"),
            ],
            &hello[..],
        )
        .await;
    assert_eq!(said.status, 200, "{}", said.text());
    let streamed = client
        .request(
            Method::GET,
            "/v1/users:stream?count=3&intervalMs=5",
            &[("x-request-id", "log-stream")],
            "",
        )
        .await;
    assert_eq!(streamed.status, 200);
    let upload = "{\"name\":\"Ann\",\"age\":30}\n{\"name\":\"Bob\",\"age\":40}\n";
    let imported = client
        .request(
            Method::POST,
            "/v1/users:import",
            &[("x-request-id", "log-import")],
            upload,
        )
        .await;
    assert_eq!(imported.status, 200, "{}", imported.text());
    let missing = client
        .request(Method::GET, "/nowhere", &[("x-request-id", "log-404")], "")
        .await;
    assert_eq!(missing.status, 404);

    let entries: Vec<Value> = lines(&gateway, 5)
        .await
        .iter()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: not JSON: {line}"))
        })
        .collect();

    let get = entry_with(&entries, "request_id", "log-get");
    assert_eq!(get["method"], "GET");
    assert_eq!(get["path"], "/v1/users/42");
    assert_eq!(get["route"], "/v1/users/{user_id}");
    assert_eq!(get["grpc_method"], "demo.v1.UserService/GetUser");
    assert_eq!(get["upstream"], "demo");
    let endpoint = get["endpoint"].as_str().expect("endpoint");
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    assert_eq!(get["attempts"], 1);
    assert_eq!(get["status"], 200);
    assert_eq!(get["grpc_status"], 0);
    assert_eq!(get["bytes_in"], 0);
    assert_eq!(get["bytes_out"], user.body.len());
    assert_eq!(get["messages_in"], 0);
    assert!(get["duration_ms"].as_f64().expect("duration") > 0.0);
    let client_addr = get["client"].as_str().expect("client");
    assert!(client_addr.starts_with("127.0.0.1:"), "{client_addr}");
    assert!(
        get["time"].as_str().expect("time").contains('T'),
        "RFC 3339: {get}"
    );

    let post = entry_with(&entries, "request_id", "log-post");
    assert_eq!(post["bytes_in"], hello.len());
    assert_eq!(post["bytes_out"], said.body.len());
    assert_eq!(post["grpc_method"], "demo.v1.Greeter/SayHello");

    let stream = entry_with(&entries, "request_id", "log-stream");
    assert_eq!(stream["messages_out"], 3);
    assert_eq!(stream["grpc_status"], 0);
    assert_eq!(stream["bytes_out"], streamed.body.len());
    let import = entry_with(&entries, "request_id", "log-import");
    assert_eq!(import["messages_in"], 2);
    assert_eq!(import["messages_out"], 1);
    assert_eq!(import["bytes_in"], upload.len());

    let unmatched = entry_with(&entries, "request_id", "log-404");
    assert_eq!(unmatched["status"], 404);
    assert_eq!(unmatched["route"], Value::Null);
    assert_eq!(unmatched["upstream"], Value::Null);
    assert_eq!(unmatched["grpc_status"], Value::Null);
}

#[tokio::test]
async fn the_default_text_format_is_logfmt() {
    let gateway = GatewayProcess::start_capturing_stdout(&Setup {
        plaintext: true,
        extra: "[access_log]\nformat = \"text\"\n",
        ..Setup::default()
    })
    .await;
    let client = gateway.client().await;
    let reply = client
        .request(
            Method::GET,
            "/v1/users/42",
            &[("x-request-id", "text-1")],
            "",
        )
        .await;
    assert_eq!(reply.status, 200);
    let lines = lines(&gateway, 1).await;
    let line = &lines[0];
    let pairs: BTreeMap<&str, &str> = line
        .split(' ')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    assert_eq!(pairs.get("request_id"), Some(&"text-1"), "{line}");
    assert_eq!(pairs.get("route"), Some(&"/v1/users/{user_id}"), "{line}");
    assert_eq!(pairs.get("status"), Some(&"200"), "{line}");
    assert_eq!(pairs.get("grpc_status"), Some(&"0"), "{line}");
    assert_eq!(pairs.get("upstream"), Some(&"demo"), "{line}");
    assert!(pairs.contains_key("duration_ms"), "{line}");
}
