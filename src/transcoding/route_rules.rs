//! What transcoding needs of one route, resolved once at start-up against the descriptors:
//! the field each path variable sets, where the body goes and which reply field is the
//! response body. Routing resolves a binding into these; nothing on the request path looks a
//! name up again.

use prost_reflect::{FieldDescriptor, MessageDescriptor, MethodDescriptor};

use super::{BodyRule, FieldPath, ResolveError};

#[derive(Debug)]
pub struct RouteRules {
    pub input: MessageDescriptor,
    pub output: MessageDescriptor,
    /// One entry per template variable, in the template's order.
    pub path_fields: Vec<FieldPath>,
    pub body: BodyRule,
    pub response_body: Option<FieldDescriptor>,
}

/// What does not resolve, for `h2gate check`.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The caller names the template.
    #[error("{0}")]
    PathVariable(ResolveError),
    #[error("body: {0}")]
    Body(ResolveError),
    #[error("response_body {name:?} is not a field of {message}")]
    ResponseBody { name: String, message: String },
}

impl RouteRules {
    /// `variables`: each path variable's field path, in template order.
    pub fn resolve<'a>(
        method: &MethodDescriptor,
        variables: impl IntoIterator<Item = &'a [String]>,
        body: &str,
        response_body: &str,
    ) -> Result<Self, RuleError> {
        let input = method.input();
        let output = method.output();
        let path_fields = variables
            .into_iter()
            .map(|path| {
                FieldPath::resolve_path_variable(&input, path).map_err(RuleError::PathVariable)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let body = BodyRule::resolve(&input, body).map_err(RuleError::Body)?;
        let response_body = match response_body {
            "" => None,
            name => {
                Some(
                    output
                        .get_field_by_name(name)
                        .ok_or_else(|| RuleError::ResponseBody {
                            name: name.to_owned(),
                            message: output.full_name().to_owned(),
                        })?,
                )
            }
        };
        Ok(Self {
            input,
            output,
            path_fields,
            body,
            response_body,
        })
    }

    /// Whether the reply is sent as is, its own content type included (`google.api.HttpBody`
    /// as the whole reply).
    pub fn is_raw_reply(&self) -> bool {
        self.response_body.is_none() && self.output.full_name() == super::response::HTTP_BODY
    }
}
