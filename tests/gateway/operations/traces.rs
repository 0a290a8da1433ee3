//! Traces end to end: a client's `traceparent` continued through the gateway (a server span)
//! and each upstream attempt (a client span) to a tonic backend that reads the `traceparent`
//! it was sent (the demo Greeter echoes its metadata), spans received by a real OTLP receiver;
//! head sampling; and a collector that is down costing requests nothing.

use http::Method;
use serde_json::{Value, json};

use crate::support::{OtlpReceiver, Received, Setup, TestGateway};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn traced_gateway(receiver: &OtlpReceiver, extra: &str) -> TestGateway {
    let tracing = format!(
        "[tracing]\notlp_endpoint = \"http://{}\"\nservice_name = \"edge\"\n{extra}\n",
        receiver.addr
    );
    TestGateway::start_with(Setup {
        separate_backend: true,
        extra: &tracing,
        ..Setup::default()
    })
    .await
}

/// SayHello with `headers`; the `traceparent` the backend received.
async fn say_hello(gateway: &TestGateway, headers: &[(&str, &str)]) -> String {
    let client = gateway.client().await;
    let reply = client.say_hello(headers, &json!({"name": "trace"})).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body: Value = reply.json();
    body["metadata"]["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("the backend saw a traceparent: {body}"))
        .to_owned()
}

fn kind(received: &Received) -> i32 {
    received.span.kind
}

#[tokio::test]
async fn a_callers_trace_continues_through_the_gateway_to_the_backend() {
    let receiver = OtlpReceiver::start().await;
    let gateway = traced_gateway(&receiver, "").await;
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let backend_saw = say_hello(
        &gateway,
        &[("traceparent", &traceparent), ("tracestate", "vendor=1")],
    )
    .await;

    let spans = receiver.trace(&unhex(CALLER_TRACE), 2).await;
    let server = spans.iter().find(|r| kind(r) == 2).expect("a server span");
    let client = spans.iter().find(|r| kind(r) == 3).expect("a client span");
    assert_eq!(server.service, "edge");
    // The caller's span is the server span's parent; the server span the client span's.
    assert_eq!(hex(&server.span.parent_span_id), CALLER_SPAN);
    assert_eq!(client.span.parent_span_id, server.span.span_id);
    assert_eq!(server.span.trace_state, "vendor=1");
    assert_eq!(server.span.name, "POST /v1/greeter:sayHello");
    assert_eq!(
        server.attribute("http.route").as_deref(),
        Some("/v1/greeter:sayHello")
    );
    assert_eq!(
        server.attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        server.attribute("rpc.grpc.status_code").as_deref(),
        Some("0")
    );
    assert!(server.span.end_time_unix_nano >= server.span.start_time_unix_nano);

    assert_eq!(client.span.name, "demo.v1.Greeter/SayHello");
    assert_eq!(
        client.attribute("rpc.grpc.status_code").as_deref(),
        Some("0")
    );
    assert_eq!(client.attribute("h2gate.attempt").as_deref(), Some("1"));
    assert_eq!(
        client.attribute("h2gate.upstream").as_deref(),
        Some("demo-backend")
    );
    let endpoint = client.attribute("server.address").unwrap();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let bytes: i64 = client
        .attribute("h2gate.request.bytes")
        .unwrap()
        .parse()
        .unwrap();
    assert!(bytes > 0);
    // The backend was sent the client span's context: it continues the same trace from there.
    let expected = format!("00-{CALLER_TRACE}-{}-01", hex(&client.span.span_id));
    assert_eq!(backend_saw, expected);
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_request_without_a_traceparent_starts_a_trace() {
    let receiver = OtlpReceiver::start().await;
    let gateway = traced_gateway(&receiver, "").await;
    let backend_saw = say_hello(&gateway, &[]).await;
    let parts: Vec<&str> = backend_saw.split('-').collect();
    assert_eq!(parts.len(), 4, "{backend_saw}");
    assert_eq!(parts[3], "01", "sampled (sample_ratio defaults to 1.0)");
    let spans = receiver.trace(&unhex(parts[1]), 2).await;
    let server = spans.iter().find(|r| kind(r) == 2).expect("a server span");
    assert!(server.span.parent_span_id.is_empty(), "a root span");
    let client = spans.iter().find(|r| kind(r) == 3).expect("a client span");
    assert_eq!(hex(&client.span.span_id), parts[2]);
    gateway.shutdown().await;
}

#[tokio::test]
async fn unsampled_requests_export_nothing_but_still_propagate() {
    let receiver = OtlpReceiver::start().await;
    let gateway = traced_gateway(&receiver, "sample_ratio = 0.0").await;
    // Not sampled by the ratio: the backend still gets a context, flagged unsampled.
    let backend_saw = say_hello(&gateway, &[]).await;
    assert!(backend_saw.ends_with("-00"), "{backend_saw}");
    // A sampled caller is followed whatever the ratio.
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    say_hello(&gateway, &[("traceparent", &traceparent)]).await;
    receiver.trace(&unhex(CALLER_TRACE), 2).await;
    let unsampled_trace = unhex(backend_saw.split('-').nth(1).unwrap());
    assert!(
        receiver
            .spans()
            .iter()
            .all(|r| r.span.trace_id != unsampled_trace),
        "no span of the unsampled trace"
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn a_collector_that_is_down_costs_requests_nothing() {
    // A port nobody listens on.
    let closed = crate::support::HeldPort::bind();
    let text = format!("[tracing]\notlp_endpoint = \"http://{}\"\n", closed.addr);
    let gateway = TestGateway::start_with(Setup {
        separate_backend: true,
        extra: &text,
        ..Setup::default()
    })
    .await;
    let client = gateway.client().await;
    for _ in 0..50 {
        let reply = client.request(Method::GET, "/v1/users/42", &[], "").await;
        assert_eq!(reply.status, 200);
    }
    gateway.shutdown().await;
}
