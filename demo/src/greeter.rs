//! `demo.v1.Greeter`: a probe for the gateway's plumbing rather than a feature. It reports which
//! request metadata arrived (so header forwarding and deadline propagation are observable), and
//! sleeps or fails on request (so timeouts and the status-to-HTTP table can be tested).

use std::collections::HashMap;
use std::time::Duration;

use tonic::metadata::{KeyAndValueRef, MetadataMap};
use tonic::{Code, Request, Response, Status};

use super::errors::{DemoError, violation};
use super::pb::greeter_server::Greeter;
use super::pb::{HelloReply, HelloRequest};

/// Longest accepted `delay_ms`; bounds how long a test can pin a server task.
pub const MAX_DELAY_MS: u32 = 60_000;
/// Largest gRPC status code (`UNAUTHENTICATED`).
const MAX_GRPC_CODE: i32 = 16;

/// The Greeter implementation (stateless).
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoGreeter;

/// Headers owned by the HTTP/2 + gRPC transport, not by the caller. `grpc-timeout` is kept on
/// purpose: it is how a propagated deadline shows up.
fn is_transport_header(key: &str) -> bool {
    matches!(key, "content-type" | "te" | "user-agent")
        || (key.starts_with("grpc-") && key != "grpc-timeout")
}

/// ASCII metadata minus transport headers; repeated keys are joined with `", "` in arrival order.
/// Binary (`-bin`) entries and values that are not visible ASCII are skipped.
fn echoed_metadata(metadata: &MetadataMap) -> HashMap<String, String> {
    let mut echoed: HashMap<String, String> = HashMap::new();
    for entry in metadata.iter() {
        let KeyAndValueRef::Ascii(key, value) = entry else {
            continue;
        };
        let (key, Ok(value)) = (key.as_str(), value.to_str()) else {
            continue;
        };
        if is_transport_header(key) {
            continue;
        }
        echoed
            .entry(key.to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    echoed
}

/// Checks the request's knobs before anything is slept or failed.
fn validate(req: &HelloRequest) -> Result<(), DemoError> {
    let mut violations = Vec::new();
    if req.delay_ms > MAX_DELAY_MS {
        violations.push(violation(
            "delay_ms",
            format!("must be at most {MAX_DELAY_MS}, got {}", req.delay_ms),
        ));
    }
    if !(0..=MAX_GRPC_CODE).contains(&req.fail_code) {
        violations.push(violation(
            "fail_code",
            format!(
                "must be a gRPC status code between 0 and {MAX_GRPC_CODE}, got {}",
                req.fail_code
            ),
        ));
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(DemoError::InvalidArgument(violations))
    }
}

fn greeting(name: &str) -> String {
    let name = name.trim();
    let name = if name.is_empty() { "world" } else { name };
    format!("Hello, {name}!")
}

#[tonic::async_trait]
impl Greeter for DemoGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let metadata = echoed_metadata(request.metadata());
        let req = request.into_inner();
        validate(&req)?;
        if req.delay_ms > 0 {
            // Dropped with the handler future when the client cancels or the server's
            // grpc-timeout fires, so a cancelled call does not keep sleeping.
            tokio::time::sleep(Duration::from_millis(u64::from(req.delay_ms))).await;
        }
        if req.fail_code != 0 {
            return Err(Status::new(Code::from(req.fail_code), req.fail_message));
        }
        Ok(Response::new(HelloReply {
            message: greeting(&req.name),
            metadata,
        }))
    }
}

#[cfg(test)]
#[path = "greeter_tests.rs"]
mod tests;
