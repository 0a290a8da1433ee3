//! `google.api.HttpRule`, as written in annotations, config `[[http_rules]]` and YAML rule
//! files, validated into typed bindings (method + parsed template + body selectors).

use http::Method;
use serde::Deserialize;

use super::{PathTemplate, TemplateError};

/// One rule with the same fields as `google.api.HttpRule` (proto field names).
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRuleSpec {
    #[serde(default)]
    pub selector: String,
    pub get: Option<String>,
    pub put: Option<String>,
    pub post: Option<String>,
    pub delete: Option<String>,
    pub patch: Option<String>,
    pub custom: Option<CustomPattern>,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub response_body: String,
    #[serde(default)]
    pub additional_bindings: Vec<HttpRuleSpec>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    pub kind: String,
    pub path: String,
}

/// One HTTP method + path template a gRPC method is reachable at.
#[derive(Debug, Clone)]
pub struct Binding {
    pub method: Method,
    pub template: PathTemplate,
    /// `""` (no body), `"*"` or a top-level field name; resolved against the input type later.
    pub body: String,
    /// `""` (whole response) or a top-level field name of the output type.
    pub response_body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("the rule sets no pattern (one of get, put, post, delete, patch, custom)")]
    NoPattern,
    #[error("the rule sets more than one pattern ({0})")]
    SeveralPatterns(String),
    #[error("additional_bindings may not contain additional_bindings")]
    NestedAdditionalBindings,
    #[error("custom method kind {0:?} is not a valid HTTP method")]
    BadCustomKind(String),
    #[error("invalid path template {template:?}: {source}")]
    Template {
        template: String,
        source: TemplateError,
    },
}

impl HttpRuleSpec {
    /// The primary binding followed by the additional ones.
    pub fn bindings(&self) -> Result<Vec<Binding>, RuleError> {
        let mut bindings = vec![self.binding()?];
        for extra in &self.additional_bindings {
            if !extra.additional_bindings.is_empty() {
                return Err(RuleError::NestedAdditionalBindings);
            }
            bindings.push(extra.binding()?);
        }
        Ok(bindings)
    }

    fn binding(&self) -> Result<Binding, RuleError> {
        let standard = [
            (Method::GET, &self.get),
            (Method::PUT, &self.put),
            (Method::POST, &self.post),
            (Method::DELETE, &self.delete),
            (Method::PATCH, &self.patch),
        ];
        let mut patterns: Vec<(Method, &str)> = standard
            .into_iter()
            .filter_map(|(method, path)| path.as_deref().map(|p| (method, p)))
            .collect();
        if let Some(custom) = &self.custom {
            let method = Method::from_bytes(custom.kind.as_bytes())
                .map_err(|_| RuleError::BadCustomKind(custom.kind.clone()))?;
            patterns.push((method, &custom.path));
        }
        let (method, path) = match patterns.as_slice() {
            [] => return Err(RuleError::NoPattern),
            [one] => one.clone(),
            several => {
                let names: Vec<&str> = several.iter().map(|(m, _)| m.as_str()).collect();
                return Err(RuleError::SeveralPatterns(names.join(", ")));
            }
        };
        let template = PathTemplate::parse(path).map_err(|source| RuleError::Template {
            template: path.to_owned(),
            source,
        })?;
        Ok(Binding {
            method,
            template,
            body: self.body.clone(),
            response_body: self.response_body.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(toml_text: &str) -> HttpRuleSpec {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn primary_and_additional_bindings() {
        let spec = rule(
            "post = \"/v1/greeter:sayHello\"\nbody = \"*\"\nadditional_bindings = [{ get = \"/v1/greeter/{name}\" }]",
        );
        let bindings = spec.bindings().unwrap();
        assert_eq!(bindings.len(), 2);
        assert_eq!(bindings[0].method, Method::POST);
        assert_eq!(bindings[0].body, "*");
        assert_eq!(bindings[1].method, Method::GET);
        assert_eq!(bindings[1].template.to_string(), "/v1/greeter/{name}");
    }

    #[test]
    fn custom_method() {
        let spec = rule("custom = { kind = \"REPORT\", path = \"/v1/things\" }");
        assert_eq!(spec.bindings().unwrap()[0].method.as_str(), "REPORT");
    }

    #[test]
    fn invalid_rules() {
        let cases = [
            ("body = \"*\"", "no pattern"),
            ("get = \"/a\"\npost = \"/b\"", "more than one pattern"),
            (
                "get = \"/a\"\nadditional_bindings = [{ get = \"/b\", additional_bindings = [{ get = \"/c\" }] }]",
                "may not contain",
            ),
            ("get = \"/a/\"", "invalid path template"),
            (
                "custom = { kind = \"BAD KIND\", path = \"/a\" }",
                "not a valid HTTP method",
            ),
        ];
        for (text, expected) in cases {
            let err = rule(text).bindings().unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
