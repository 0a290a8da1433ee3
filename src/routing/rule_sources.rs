//! Where HTTP rules come from: method annotations, config `[[http_rules]]`, and YAML rule files.
//!
//! A rule from config or a rule file replaces the annotation of the same method, so an
//! operator can re-map a service without touching its protos. Two explicit rules for one
//! selector are a conflict, reported with both origins.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, SerializeOptions};
use serde::Deserialize;

use super::http_rule::HttpRuleSpec;

/// Where a rule was declared, for error messages and `h2gate routes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOrigin {
    Annotation,
    Config,
    File(PathBuf),
}

impl fmt::Display for RuleOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Annotation => f.write_str("google.api.http annotation"),
            Self::Config => f.write_str("[[http_rules]]"),
            Self::File(path) => write!(f, "rule file {}", path.display()),
        }
    }
}

/// A rule attached to the method it names.
#[derive(Debug, Clone)]
pub struct SelectedRule {
    pub method: MethodDescriptor,
    pub origin: RuleOrigin,
    pub spec: HttpRuleSpec,
}

/// grpc-gateway's service config shape: only `http.rules` matters here.
#[derive(Deserialize)]
struct ServiceConfigFile {
    http: Option<HttpSection>,
}

#[derive(Deserialize)]
struct HttpSection {
    #[serde(default)]
    rules: Vec<HttpRuleSpec>,
}

/// Gathers every rule, one per method, with every problem found on the way; the rules that
/// could be resolved are returned even when there are problems, so later stages can report
/// theirs too.
pub fn collect(
    pool: &DescriptorPool,
    config_rules: &[HttpRuleSpec],
    rule_files: &[PathBuf],
) -> (Vec<SelectedRule>, Vec<String>) {
    let mut problems = Vec::new();
    let mut explicit: BTreeMap<String, SelectedRule> = BTreeMap::new();

    let mut explicit_specs: Vec<(RuleOrigin, HttpRuleSpec)> = config_rules
        .iter()
        .map(|spec| (RuleOrigin::Config, spec.clone()))
        .collect();
    for path in rule_files {
        match read_rule_file(path) {
            Ok(specs) => explicit_specs.extend(
                specs
                    .into_iter()
                    .map(|s| (RuleOrigin::File(path.clone()), s)),
            ),
            Err(problem) => problems.push(problem),
        }
    }
    for (origin, spec) in explicit_specs {
        let selector = spec.selector.clone();
        let Some(method) = find_method(pool, &selector) else {
            problems.push(format!(
                "{origin}: selector {selector:?} names no method in the loaded descriptors"
            ));
            continue;
        };
        if let Some(previous) = explicit.get(&selector) {
            problems.push(format!(
                "selector {selector:?} has rules in both {} and {origin}",
                previous.origin
            ));
            continue;
        }
        let rule = SelectedRule {
            method,
            origin,
            spec,
        };
        explicit.insert(selector, rule);
    }

    let mut rules: Vec<SelectedRule> = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            if explicit.contains_key(method.full_name()) {
                continue;
            }
            match annotation(&method) {
                Ok(Some(spec)) => rules.push(SelectedRule {
                    method,
                    origin: RuleOrigin::Annotation,
                    spec,
                }),
                Ok(None) => {}
                Err(problem) => problems.push(problem),
            }
        }
    }
    rules.extend(explicit.into_values());
    (rules, problems)
}

/// Resolves `package.Service.Method` to its descriptor.
fn find_method(pool: &DescriptorPool, selector: &str) -> Option<MethodDescriptor> {
    let (service, method) = selector.rsplit_once('.')?;
    pool.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)
}

/// The method's `google.api.http` option, converted through JSON into the same typed
/// spec config rules use, so every source is validated by one code path.
fn annotation(method: &MethodDescriptor) -> Result<Option<HttpRuleSpec>, String> {
    let pool = method.parent_pool();
    let Some(extension) = pool.get_extension_by_name("google.api.http") else {
        return Ok(None);
    };
    let options = method.options();
    if !options.has_extension(&extension) {
        return Ok(None);
    }
    let value = options.get_extension(&extension);
    let Some(rule) = value.as_message() else {
        return Ok(None);
    };
    spec_from_message(rule).map(Some).map_err(|err| {
        format!(
            "{}: unreadable google.api.http annotation: {err}",
            method.full_name()
        )
    })
}

fn spec_from_message(rule: &DynamicMessage) -> Result<HttpRuleSpec, serde_json::Error> {
    let options = SerializeOptions::new().use_proto_field_name(true);
    let json = rule.serialize_with_options(serde_json::value::Serializer, &options)?;
    serde_json::from_value(json)
}

fn read_rule_file(path: &Path) -> Result<Vec<HttpRuleSpec>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read rule file {}: {err}", path.display()))?;
    let file: ServiceConfigFile = serde_yaml_ng::from_str(&text)
        .map_err(|err| format!("rule file {}: {err}", path.display()))?;
    Ok(file.http.map(|http| http.rules).unwrap_or_default())
}
