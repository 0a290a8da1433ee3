//! Turning `[[traffic]]` into policies, checked against the upstreams and the descriptors as
//! `h2gate check` reports them (each problem with the line of its key): unknown upstream
//! names, weights that are not positive integers, method patterns that match nothing, a
//! service named by two upstreams without a rule covering its methods, and an upstream no
//! call can reach.

use std::collections::BTreeMap;

use http::{HeaderName, HeaderValue};
use prost_reflect::{DescriptorPool, MethodDescriptor};
use toml::Spanned;

use super::policy::{Override, TrafficPolicy};
use crate::config::{Config, Source, TrafficConfig, UpstreamConfig};
use crate::routing::{TrafficId, UpstreamId};
use crate::upstream::Upstreams;

/// Every `[[traffic]]` rule, and which methods each covers.
#[derive(Debug, Default)]
pub struct TrafficTable {
    policies: Vec<TrafficPolicy>,
    /// Per rule, its method patterns (file order: the first rule that covers a method wins).
    patterns: Vec<Vec<Pattern>>,
}

#[derive(Debug)]
enum Pattern {
    Exact(String),
    /// A trailing `*`: every method whose full name starts with this.
    Prefix(String),
}

impl Pattern {
    fn parse(text: &str) -> Self {
        match text.strip_suffix('*') {
            Some(prefix) => Self::Prefix(prefix.to_owned()),
            None => Self::Exact(text.to_owned()),
        }
    }

    fn matches(&self, full_method: &str) -> bool {
        match self {
            Self::Exact(name) => name == full_method,
            Self::Prefix(prefix) => full_method.starts_with(prefix.as_str()),
        }
    }
}

/// `package.Service/Method`, as `[[traffic]] methods` names it.
fn full_method(method: &MethodDescriptor) -> String {
    format!("{}/{}", method.parent_service().full_name(), method.name())
}

impl TrafficTable {
    pub fn get(&self, id: TrafficId) -> Option<&TrafficPolicy> {
        self.policies.get(id.0)
    }

    fn rule_for(&self, method: &MethodDescriptor) -> Option<TrafficId> {
        let name = full_method(method);
        self.patterns
            .iter()
            .position(|patterns| patterns.iter().any(|p| p.matches(&name)))
            .map(TrafficId)
    }

    /// Where calls to `method` go: the upstream serving its service (or, when none does, the
    /// first of its rule's weighted upstreams) and the rule that may send them elsewhere.
    pub fn destination(
        &self,
        method: &MethodDescriptor,
        upstreams: &[UpstreamConfig],
    ) -> Option<(UpstreamId, Option<TrafficId>)> {
        let rule = self.rule_for(method);
        let serving = Upstreams::resolve(upstreams, method.parent_service().full_name());
        let weighted = rule
            .and_then(|id| self.get(id))
            .and_then(|policy| policy.weights.first())
            .map(|(upstream, _)| *upstream);
        Some((serving.or(weighted)?, rule))
    }
}

/// The traffic rules of `config`, for the effective `upstreams` (config plus the embedded
/// demo) and the loaded descriptors; every problem found, each located.
pub fn compile(
    config: &Config,
    upstreams: &[UpstreamConfig],
    pool: &DescriptorPool,
) -> Result<TrafficTable, Vec<String>> {
    let source = &config.source;
    let mut problems = Vec::new();
    let mut table = TrafficTable::default();
    let methods: Vec<String> = pool
        .services()
        .flat_map(|service| service.methods().collect::<Vec<_>>())
        .map(|method| full_method(&method))
        .collect();
    for rule in &config.traffic {
        let patterns: Vec<Pattern> = rule
            .methods
            .iter()
            .map(|pattern| {
                let parsed = Pattern::parse(pattern.get_ref());
                if !methods.iter().any(|m| parsed.matches(m)) {
                    problems.push(format!(
                        "{}: [[traffic]] methods: {:?} matches no method in the loaded \
                         descriptors (full names: package.Service/Method, a trailing * \
                         matches the rest)",
                        source.locate(pattern.span()),
                        pattern.get_ref()
                    ));
                }
                parsed
            })
            .collect();
        if rule.methods.is_empty() {
            problems.push("[[traffic]] has no methods".into());
        }
        let policy = policy(rule, upstreams, source, &mut problems);
        table.patterns.push(patterns);
        table.policies.push(policy);
    }
    // The embedded demo's upstream (after the configured ones) yields its services to any
    // configured upstream that names them: that is an override, not an ambiguity.
    let configured = upstreams.get(..config.upstreams.len()).unwrap_or(upstreams);
    check_shared_services(&table, configured, pool, source, &mut problems);
    check_reachable(&table, upstreams, &mut problems);
    if problems.is_empty() {
        Ok(table)
    } else {
        Err(problems)
    }
}

fn policy(
    rule: &TrafficConfig,
    upstreams: &[UpstreamConfig],
    source: &Source,
    problems: &mut Vec<String>,
) -> TrafficPolicy {
    let mut upstream_named = |name: &Spanned<String>, key: &str| {
        let found = upstreams.iter().position(|u| &u.name == name.get_ref());
        if found.is_none() {
            problems.push(format!(
                "{}: [[traffic]] {key}: no upstream is named {:?}",
                source.locate(name.span()),
                name.get_ref()
            ));
        }
        found.map(UpstreamId)
    };
    let mut weights = Vec::new();
    let mut overrides = Vec::new();
    let mut bad_weights = Vec::new();
    for (name, weight) in rule.weights.iter().flat_map(BTreeMap::iter) {
        let spanned_name = Spanned::new(weight.span(), name.clone());
        let upstream = upstream_named(&spanned_name, "weights");
        match weight
            .get_ref()
            .as_integer()
            .and_then(|w| u64::try_from(w).ok())
        {
            Some(w) if w > 0 => weights.extend(upstream.map(|u| (u, w))),
            _ => bad_weights.push(format!(
                "{}: [[traffic]] weights: {name} = {} is not a positive integer",
                source.locate(weight.span()),
                describe(weight.get_ref())
            )),
        }
    }
    for rule in &rule.overrides {
        let upstream = upstream_named(&rule.upstream, "overrides upstream");
        let header = header_name(&rule.header, "overrides header", source, &mut bad_weights);
        let value = rule.value.as_ref().and_then(|value| {
            let parsed = HeaderValue::from_str(value).ok();
            if parsed.is_none() {
                bad_weights.push(format!(
                    "{}: [[traffic]] overrides value {value:?} is not a valid header value",
                    source.locate(rule.header.span())
                ));
            }
            parsed
        });
        if let (Some(upstream), Some(header)) = (upstream, header) {
            overrides.push(Override {
                header,
                value,
                upstream,
            });
        }
    }
    problems.append(&mut bad_weights);
    if rule.weights.as_ref().is_some_and(BTreeMap::is_empty) {
        problems.push("[[traffic]] weights is empty: name at least one upstream".into());
    }
    if rule.weights.is_none() && rule.overrides.is_empty() {
        problems.push("[[traffic]] has neither weights nor overrides: it would do nothing".into());
    }
    let hash_header = rule
        .hash_header
        .as_ref()
        .and_then(|name| header_name(name, "hash_header", source, problems));
    TrafficPolicy {
        overrides,
        weights,
        hash_header,
    }
}

/// A TOML value as the user wrote it, near enough for a message.
fn describe(value: &toml::Value) -> String {
    match value {
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Boolean(b) => b.to_string(),
        other => format!("a {}", other.type_str()),
    }
}

fn header_name(
    name: &Spanned<String>,
    key: &str,
    source: &Source,
    problems: &mut Vec<String>,
) -> Option<HeaderName> {
    let parsed = HeaderName::from_bytes(name.get_ref().as_bytes()).ok();
    if parsed.is_none() {
        problems.push(format!(
            "{}: [[traffic]] {key}: {:?} is not a valid header name",
            source.locate(name.span()),
            name.get_ref()
        ));
    }
    parsed
}

/// A service named by two upstreams is ambiguous unless a `[[traffic]]` rule with weights
/// covers each of its methods.
fn check_shared_services(
    table: &TrafficTable,
    upstreams: &[UpstreamConfig],
    pool: &DescriptorPool,
    source: &Source,
    problems: &mut Vec<String>,
) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for upstream in upstreams {
        for service in &upstream.services {
            let name = service.get_ref().as_str();
            if name == "*" {
                continue;
            }
            let Some(first) = seen.insert(name, &upstream.name) else {
                continue;
            };
            let Some(descriptor) = pool.get_service_by_name(name) else {
                continue;
            };
            let uncovered = descriptor.methods().find(|method| {
                table
                    .rule_for(method)
                    .and_then(|id| table.get(id))
                    .is_none_or(|policy| policy.weights.is_empty())
            });
            if let Some(method) = uncovered {
                problems.push(format!(
                    "{}: service {name:?} is served by upstreams {first:?} and {:?}, and no \
                     [[traffic]] rule with weights covers {}: add one, or name the service \
                     in one upstream only",
                    source.locate(service.span()),
                    upstream.name,
                    full_method(&method)
                ));
            }
        }
    }
}

/// An upstream that serves no service and that no rule sends calls to is a mistake.
fn check_reachable(table: &TrafficTable, upstreams: &[UpstreamConfig], problems: &mut Vec<String>) {
    for (index, upstream) in upstreams.iter().enumerate() {
        let id = UpstreamId(index);
        let used = table.policies.iter().any(|policy| {
            policy.weights.iter().any(|(u, _)| *u == id)
                || policy.overrides.iter().any(|o| o.upstream == id)
        });
        if upstream.services.is_empty() && !used {
            problems.push(format!(
                "upstream {:?} serves no services and no [[traffic]] rule sends calls to it",
                upstream.name
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use protox::file::{File, FileResolver};

    use super::*;
    use crate::config::parse;

    const PROTO: &str = r#"
        syntax = "proto3";
        package t.v1;
        message M {}
        service Users { rpc Get(M) returns (M); rpc List(M) returns (M); }
        service Orders { rpc Get(M) returns (M); }
    "#;

    struct OneFile;

    impl FileResolver for OneFile {
        fn open_file(&self, name: &str) -> Result<File, protox::Error> {
            match name {
                "t.proto" => File::from_source(name, PROTO),
                _ => Err(protox::Error::file_not_found(name)),
            }
        }
    }

    fn pool() -> DescriptorPool {
        let mut compiler = protox::Compiler::with_file_resolver(OneFile);
        compiler.open_file("t.proto").unwrap();
        compiler.descriptor_pool()
    }

    const UPSTREAMS: &str = r#"
[[upstreams]]
name = "v1"
endpoints = ["http://127.0.0.1:1"]
services = ["t.v1.Users", "t.v1.Orders"]

[[upstreams]]
name = "v2"
endpoints = ["http://127.0.0.1:2"]
"#;

    fn compiled(traffic: &str) -> Result<TrafficTable, Vec<String>> {
        let config = parse(&format!("{UPSTREAMS}{traffic}"), "g.toml").unwrap();
        compile(&config, &config.upstreams, &pool())
    }

    fn problems(traffic: &str) -> String {
        compiled(traffic).unwrap_err().join("\n")
    }

    fn method(name: &str) -> MethodDescriptor {
        let (service, method) = name.split_once('/').unwrap();
        let service = pool().get_service_by_name(service).unwrap();
        service.methods().find(|m| m.name() == method).unwrap()
    }

    #[test]
    fn a_rule_covers_its_methods_and_others_keep_their_upstream() {
        let table =
            compiled("[[traffic]]\nmethods = [\"t.v1.Users/*\"]\nweights = { v1 = 90, v2 = 10 }\n")
                .unwrap();
        let upstreams = parse(UPSTREAMS, "g.toml").unwrap().upstreams;
        assert_eq!(
            table.destination(&method("t.v1.Users/List"), &upstreams),
            Some((UpstreamId(0), Some(TrafficId(0))))
        );
        assert_eq!(
            table.destination(&method("t.v1.Orders/Get"), &upstreams),
            Some((UpstreamId(0), None))
        );
    }

    #[test]
    fn unknown_upstreams_are_named_with_their_line() {
        let text = "[[traffic]]\nmethods = [\"t.v1.Users/Get\"]\nweights = { v1 = 90, v3 = 10 }\n\
                    [[traffic.overrides]]\nheader = \"x-canary\"\nupstream = \"v9\"\n";
        let found = problems(text);
        assert!(
            found.contains("g.toml:12: [[traffic]] weights: no upstream is named \"v3\""),
            "{found}"
        );
        assert!(
            found
                .contains("g.toml:15: [[traffic]] overrides upstream: no upstream is named \"v9\""),
            "{found}"
        );
    }

    #[test]
    fn weights_must_be_positive_integers() {
        for (weights, shown) in [
            ("v1 = 0", "v1 = 0"),
            ("v1 = -3", "v1 = -3"),
            ("v1 = 0.5", "v1 = 0.5"),
            ("v1 = \"9\"", "v1 = \"9\""),
        ] {
            let text = format!(
                "[[traffic]]\nmethods = [\"t.v1.Users/Get\"]\nweights = {{ {weights}, v2 = 1 }}\n"
            );
            let found = problems(&text);
            assert!(
                found.contains(&format!(
                    "g.toml:12: [[traffic]] weights: {shown} is not a positive integer"
                )),
                "{found}"
            );
        }
    }

    #[test]
    fn a_pattern_that_matches_nothing_is_named_with_its_line() {
        let text = "[[traffic]]\nmethods = [\n  \"t.v1.Users/Get\",\n  \"t.v1.Nope/*\",\n]\nweights = { v2 = 1 }\n";
        let found = problems(text);
        assert!(
            found.contains("g.toml:13: [[traffic]] methods: \"t.v1.Nope/*\" matches no method"),
            "{found}"
        );
    }

    #[test]
    fn a_service_of_two_upstreams_needs_a_rule_for_every_method() {
        let both = UPSTREAMS.replacen(
            "endpoints = [\"http://127.0.0.1:2\"]",
            "endpoints = [\"http://127.0.0.1:2\"]\nservices = [\"t.v1.Users\"]",
            1,
        );
        let config = parse(&both, "g.toml").unwrap();
        let found = compile(&config, &config.upstreams, &pool())
            .unwrap_err()
            .join("\n");
        assert!(
            found.contains(
                "g.toml:10: service \"t.v1.Users\" is served by upstreams \"v1\" and \"v2\""
            ),
            "{found}"
        );
        let covered = format!(
            "{both}[[traffic]]\nmethods = [\"t.v1.Users/*\"]\nweights = {{ v1 = 1, v2 = 1 }}\n"
        );
        let config = parse(&covered, "g.toml").unwrap();
        assert!(compile(&config, &config.upstreams, &pool()).is_ok());
    }

    #[test]
    fn an_upstream_nothing_reaches_is_reported() {
        let found = problems("");
        assert!(
            found.contains(
                "upstream \"v2\" serves no services and no [[traffic]] rule sends calls to it"
            ),
            "{found}"
        );
    }
}
