//! Operating the gateway: the admin listener's endpoints (`admin`) and the metrics it serves,
//! read after real traffic and checked by `promtool` (`metrics`).

mod access_log;
mod admin;
mod metrics;
mod reload;
mod shutdown;
mod traces;

use crate::support::{Exposition, TestGateway};

/// `[admin]` on an ephemeral loopback port, for the gateways these tests start.
const ADMIN: &str = "[admin]\nlisten = \"127.0.0.1:0\"\n";

/// A scrape of the gateway's `/metrics`.
async fn scrape(gateway: &TestGateway) -> Exposition {
    let reply = gateway.admin_client().await.get("/metrics").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    Exposition::parse(&reply.text())
}
