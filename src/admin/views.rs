//! The admin listener's JSON views of what the gateway runs: the effective configuration and
//! the route table.

use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::gateway::Plan;
use crate::routing::CallKind;

/// The configuration as the gateway runs it: the file's sections with every default filled
/// in, and the upstreams as they are in effect (the embedded backend's included). Paths of
/// key files are shown; no key material is ever read into the configuration.
pub fn config(config: &Config, plan: &Plan) -> Value {
    let mut value = serde_json::to_value(config).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        let upstreams = serde_json::to_value(&plan.upstreams).unwrap_or(Value::Null);
        object.insert("upstreams".into(), upstreams);
    }
    value
}

#[derive(Serialize)]
pub struct RouteView<'a> {
    method: &'a str,
    path: &'a str,
    /// `package.Service/Method`
    grpc_method: String,
    kind: CallKind,
    /// The upstream it goes to (a `[[traffic]]` rule may pick another per request).
    upstream: &'a str,
    /// Whether a `[[traffic]]` rule splits it.
    split: bool,
    /// Whether a failed call may be sent again.
    idempotent: bool,
}

/// Every route, in the order `h2gate routes` prints them.
pub fn routes(plan: &Plan) -> Vec<RouteView<'_>> {
    plan.routes
        .routes()
        .iter()
        .map(|route| RouteView {
            method: route.http_method.as_str(),
            path: &route.names.http_route,
            grpc_method: format!("{}/{}", route.names.rpc_service, route.names.rpc_method),
            kind: route.kind,
            upstream: plan
                .upstreams
                .get(route.upstream.0)
                .map_or("", |upstream| upstream.name.as_str()),
            split: route.traffic.is_some(),
            idempotent: route.idempotent,
        })
        .collect()
}
