//! Active health checks (`[upstreams.health_check]`): `grpc.health.v1.Health/Check` to every
//! endpoint of the upstream each `interval_ms`, over the checker's own connections (one
//! checker per upstream for the whole gateway, not one per worker). `SERVING` counts towards
//! `healthy_threshold`; `NOT_SERVING`, any other answer, an error or no answer within
//! `timeout_ms` towards `unhealthy_threshold`. The endpoint's state machine does the counting.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use http::uri::PathAndQuery;
use prost::Message;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::balance::follow_set;
use super::call::call_endpoint;
use super::endpoint::Endpoint;
use super::endpoint_life::Thresholds;
use super::registry::{Registry, UpstreamEntry};
use crate::config::HealthCheckConfig;

const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
/// A `HealthCheckResponse` is a few bytes; anything much larger is not one.
const MAX_REPLY_BYTES: usize = 4096;

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    status: i32,
}

const SERVING: i32 = 1;

/// One checker per upstream that has `[upstreams.health_check]`, until the handles are
/// aborted.
pub fn spawn_health_checks(registry: &Registry) -> Vec<JoinHandle<()>> {
    registry
        .iter()
        .filter_map(|entry| {
            let config = entry.health_check.clone()?;
            Some(tokio::spawn(check_upstream(Arc::clone(entry), config)))
        })
        .collect()
}

async fn check_upstream(entry: Arc<UpstreamEntry>, config: HealthCheckConfig) {
    let request = HealthCheckRequest {
        service: config.service.clone(),
    }
    .encode_to_vec();
    let thresholds = Thresholds {
        unhealthy: config.unhealthy_threshold,
        healthy: config.healthy_threshold,
    };
    let timeout = Duration::from_millis(config.timeout_ms);
    let mut ticker = tokio::time::interval(Duration::from_millis(config.interval_ms));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut endpoints: Vec<Arc<Endpoint>> = Vec::new();
    let mut generation = None;
    loop {
        ticker.tick().await;
        if generation != Some(entry.generation()) {
            let (now, followed) = follow_set(&entry, &endpoints, Endpoint::for_checks);
            (generation, endpoints) = (Some(now), followed);
        }
        let checks = endpoints
            .iter()
            .map(|endpoint| check(endpoint, &request, timeout, thresholds));
        join_all(checks).await;
    }
}

async fn check(
    endpoint: &Arc<Endpoint>,
    request: &[u8],
    timeout: Duration,
    thresholds: Thresholds,
) {
    let path = PathAndQuery::from_static(CHECK_PATH);
    let answer = call_endpoint(endpoint, path, request, (timeout, MAX_REPLY_BYTES)).await;
    let verdict = match answer {
        Ok(reply) => match HealthCheckResponse::decode(reply) {
            Ok(response) if response.status == SERVING => Ok(()),
            Ok(response) => Err(format!(
                "the health check answered {}",
                status_name(response.status)
            )),
            Err(err) => Err(format!(
                "the health check answer is not a HealthCheckResponse: {err}"
            )),
        },
        Err(status) => Err(format!(
            "the health check failed: {:?}: {}",
            status.code(),
            status.message()
        )),
    };
    let cause = verdict.as_ref().err().map_or("", String::as_str);
    endpoint
        .shared
        .health_checked(verdict.is_ok(), thresholds, cause);
}

fn status_name(status: i32) -> &'static str {
    match status {
        0 => "UNKNOWN",
        2 => "NOT_SERVING",
        3 => "SERVICE_UNKNOWN",
        _ => "an unknown status",
    }
}
