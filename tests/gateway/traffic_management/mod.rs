//! Traffic management end to end, with real tonic backends on loopback: endpoints discovered
//! through a real DNS server (`discovery`), retries and their budget (`retries`), canary
//! splits by weight, header and hash (`splits`), and an endpoint that black-holes connection
//! attempts (`black_hole`).

mod black_hole;
mod discovery;
mod retries;
mod splits;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::support::{Client, GREETER_RULES, TestGateway, demo_proto_dir, poll_until};

/// A gateway (TLS, two workers) for the demo's UserService and Greeter (with the Greeter's
/// HTTP rules) behind `upstreams`
/// (`[[upstreams]]` tables), with `extra` config after them.
async fn gateway(upstreams: &str, extra: &str) -> TestGateway {
    let text = format!(
        concat!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\n\n",
            "[demo]\nembedded = false\n\n",
            "[descriptors]\ninclude = [{proto:?}]\n",
            "protos = [\"demo/v1/user.proto\", \"demo/v1/greeter.proto\"]\n\n",
            "{upstreams}\n{greeter}\n{extra}\n",
        ),
        greeter = GREETER_RULES,
        proto = demo_proto_dir().display().to_string(),
        upstreams = upstreams,
        extra = extra,
    );
    TestGateway::from_text(text).await
}

/// One `[[upstreams]]` table.
fn upstream(name: &str, endpoints: &[String], services: &[&str], keys: &str) -> String {
    format!(
        "[[upstreams]]\nname = {name:?}\nendpoints = {endpoints:?}\nservices = {services:?}\n{keys}\n"
    )
}

/// The `/readyz` entries of `upstream`'s endpoints: (endpoint, state).
async fn endpoint_states(client: &Client, upstream: &str) -> Vec<(String, String)> {
    let ready = client.get("/readyz").await.json();
    let upstreams = ready["upstreams"].as_array().cloned().unwrap_or_default();
    let entry = upstreams
        .iter()
        .find(|u| u["name"] == upstream)
        .unwrap_or_else(|| panic!("no upstream {upstream} in /readyz: {ready}"));
    entry["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let field = |key: &str| e[key].as_str().unwrap_or_default().to_owned();
            (field("endpoint"), field("state"))
        })
        .collect()
}

/// Polls `/readyz` (up to 10 s) until `done` holds for `upstream`'s endpoints.
async fn wait_for_endpoints(
    client: &Client,
    upstream: &str,
    done: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let found = poll_until(Duration::from_secs(10), || async {
        let states = endpoint_states(client, upstream).await;
        done(&states).then_some(states)
    })
    .await;
    match found {
        Some(states) => states,
        None => panic!(
            "/readyz never showed the expected endpoints of {upstream}; last: {:?}",
            endpoint_states(client, upstream).await
        ),
    }
}

/// The user 42 from a reply, or a panic with the reply.
fn user_42(reply: &crate::support::Reply) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.text());
    let user = reply.json();
    assert_eq!(user["userId"], "42", "{user}");
    user
}

/// `clients` loops of `GET /v1/users/42` through `client` until stopped, counting the calls
/// and the failures (each failure printed).
struct CallFlow {
    running: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    loops: Vec<JoinHandle<()>>,
}

impl CallFlow {
    fn start(client: &Arc<Client>, clients: usize) -> Self {
        let running = Arc::new(AtomicBool::new(true));
        let (calls, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let loops = (0..clients)
            .map(|_| {
                let (client, running) = (Arc::clone(client), Arc::clone(&running));
                let (calls, failed) = (Arc::clone(&calls), Arc::clone(&failed));
                tokio::spawn(async move {
                    while running.load(Ordering::SeqCst) {
                        let reply = client.get("/v1/users/42").await;
                        calls.fetch_add(1, Ordering::SeqCst);
                        if reply.status != 200 {
                            eprintln!("failed call: {} {}", reply.status, reply.text());
                            failed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        Self {
            running,
            calls,
            failed,
            loops,
        }
    }

    /// Stops the loops; asserts enough calls were made to mean something and none failed.
    async fn stop_without_failures(self) {
        self.running.store(false, Ordering::SeqCst);
        for call_loop in self.loops {
            call_loop.await.unwrap();
        }
        let calls = self.calls.load(Ordering::SeqCst);
        assert!(calls > 50, "{calls} calls: too few to mean anything");
        assert_eq!(self.failed.load(Ordering::SeqCst), 0, "calls failed");
    }
}
