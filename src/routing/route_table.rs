//! The gateway's route table: every binding of every rule, resolved once at start-up against
//! the descriptors (field paths, body and response selectors, upstream), then indexed by the
//! path matcher. Nothing on the request path looks a name up again.

use std::fmt;
use std::sync::Arc;

use http::Method;
use http::uri::PathAndQuery;
use prost_reflect::MethodDescriptor;

use super::http_rule::Binding;
use super::rule_sources::SelectedRule;
use super::{Lookup, MultiSegmentDecoding, PathMatcher, PathTemplate};
use crate::transcoding::{RouteRules, RuleError};

/// Index of the upstream that serves a route, in the gateway's upstream list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamId(pub usize);

/// Index of the `[[traffic]]` rule that may send a route's calls to another upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficId(pub usize);

/// The gRPC call shape; routes to streaming methods are answered per their framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    Unary,
    ServerStreaming,
    ClientStreaming,
    Bidirectional,
}

/// One HTTP binding, fully resolved.
#[derive(Debug)]
pub struct Route {
    pub http_method: Method,
    pub template: PathTemplate,
    pub method: MethodDescriptor,
    pub kind: CallKind,
    /// `/package.Service/Method`, the HTTP/2 path of the gRPC call.
    pub grpc_path: PathAndQuery,
    /// Path variables' fields, body and response body: the route's side of transcoding.
    pub rules: Arc<RouteRules>,
    pub upstream: UpstreamId,
    /// The `[[traffic]]` rule that picks the upstream per request instead, if one covers the
    /// method (`upstream` is then its default).
    pub traffic: Option<TrafficId>,
    /// Whether the call may be sent twice: bound to GET, HEAD or OPTIONS, or declared
    /// `idempotency_level = IDEMPOTENT` or `NO_SIDE_EFFECTS` in its proto.
    pub idempotent: bool,
    /// How metrics, logs and traces name the route, rendered once.
    pub names: RouteNames,
}

/// A route's names as operators see them.
#[derive(Debug, Clone)]
pub struct RouteNames {
    /// The path template as written (`/v1/users/{user_id}`): the `http_route` label.
    pub http_route: Box<str>,
    /// `demo.v1.UserService`
    pub rpc_service: Box<str>,
    /// `GetUser`
    pub rpc_method: Box<str>,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} -> {}/{}",
            self.http_method,
            self.template,
            self.method.parent_service().full_name(),
            self.method.name()
        )
    }
}

pub struct RouteTable {
    matcher: PathMatcher<Arc<Route>>,
    routes: Vec<Arc<Route>>,
    /// Every HTTP method some route uses (a WebSocket handshake may open a binding of any).
    methods: Vec<Method>,
}

impl RouteTable {
    /// Resolves every rule's bindings. `upstream_for` names the upstream serving a service
    /// (None: no upstream does, which is a problem). Returns every problem found.
    pub fn build(
        rules: &[SelectedRule],
        decoding: MultiSegmentDecoding,
        destination_for: impl Fn(&MethodDescriptor) -> Option<(UpstreamId, Option<TrafficId>)>,
    ) -> Result<Self, Vec<String>> {
        let mut matcher = PathMatcher::new(decoding);
        let mut routes = Vec::new();
        let mut problems = Vec::new();
        for rule in rules {
            let selector = rule.method.full_name();
            let bindings = match rule.spec.bindings() {
                Ok(bindings) => bindings,
                Err(err) => {
                    problems.push(format!("{selector} ({}): {err}", rule.origin));
                    continue;
                }
            };
            let service = rule.method.parent_service();
            let Some(destination) = destination_for(&rule.method) else {
                problems.push(format!(
                    "{selector}: no [[upstreams]] entry serves {} (list it in `services`, or use \"*\")",
                    service.full_name()
                ));
                continue;
            };
            for binding in bindings {
                match resolve(rule, binding, destination) {
                    Ok(route) => {
                        let route = Arc::new(route);
                        let (method, template) =
                            (route.http_method.clone(), route.template.clone());
                        match matcher.insert(method, template, Arc::clone(&route)) {
                            Ok(()) => routes.push(route),
                            Err(existing) => problems.push(format!(
                                "{} and {} both claim {} {}",
                                existing.method.full_name(),
                                selector,
                                route.http_method,
                                route.template
                            )),
                        }
                    }
                    Err(problem) => {
                        problems.push(format!("{selector} ({}): {problem}", rule.origin))
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        routes.sort_by(|a, b| {
            (a.template.to_string(), a.http_method.as_str())
                .cmp(&(b.template.to_string(), b.http_method.as_str()))
        });
        let mut methods: Vec<Method> = routes.iter().map(|r| r.http_method.clone()).collect();
        methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        methods.dedup();
        Ok(Self {
            matcher,
            routes,
            methods,
        })
    }

    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_, Arc<Route>> {
        self.matcher.lookup(method, path)
    }

    /// Every HTTP method some route is bound to.
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// Every route, sorted by template then method (for `h2gate routes`).
    pub fn routes(&self) -> &[Arc<Route>] {
        &self.routes
    }
}

fn resolve(
    rule: &SelectedRule,
    binding: Binding,
    (upstream, traffic): (UpstreamId, Option<TrafficId>),
) -> Result<Route, String> {
    let method = rule.method.clone();
    let variables = binding.template.variables().iter().map(|v| v.field_path());
    let rules = RouteRules::resolve(&method, variables, &binding.body, &binding.response_body)
        .map_err(|err| match err {
            RuleError::PathVariable(err) => {
                format!("path variable in {}: {err}", binding.template)
            }
            other => other.to_string(),
        })?;
    let kind = match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => CallKind::Unary,
        (false, true) => CallKind::ServerStreaming,
        (true, false) => CallKind::ClientStreaming,
        (true, true) => CallKind::Bidirectional,
    };
    let grpc_path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    let grpc_path = PathAndQuery::try_from(grpc_path)
        .map_err(|err| format!("method name is not a valid HTTP path: {err}"))?;
    let idempotent = is_idempotent(&binding.method, &method);
    let names = RouteNames {
        http_route: binding.template.to_string().into(),
        rpc_service: method.parent_service().full_name().into(),
        rpc_method: method.name().into(),
    };
    Ok(Route {
        idempotent,
        names,
        http_method: binding.method,
        template: binding.template,
        method,
        kind,
        grpc_path,
        rules: Arc::new(rules),
        upstream,
        traffic,
    })
}

/// HTTP's safe methods, or a method whose proto promises it has no side effects or the same
/// effect however often it runs.
fn is_idempotent(http_method: &Method, method: &MethodDescriptor) -> bool {
    let safe = [Method::GET, Method::HEAD, Method::OPTIONS].contains(http_method);
    let level = method
        .method_descriptor_proto()
        .options
        .as_ref()
        .and_then(|options| options.idempotency_level);
    // 1: NO_SIDE_EFFECTS, 2: IDEMPOTENT (google/protobuf/descriptor.proto).
    safe || matches!(level, Some(1 | 2))
}
