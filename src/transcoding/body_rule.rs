//! The `body` selector of a `google.api.HttpRule`, resolved once at start-up.
//!
//! `http.proto`: "The name of the request field whose value is mapped to the HTTP request body,
//! or `*` for mapping all request fields not captured by the path pattern to the HTTP body, or
//! omitted for not having any HTTP request body. NOTE: the referred field must be present at the
//! top-level of the request message type."

use prost_reflect::{FieldDescriptor, MessageDescriptor};

use super::resolve_error::ResolveError;
use super::well_known::is_well_known;

/// Where the HTTP request body goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRule {
    /// No body mapping: a request body, if any, is ignored (as grpc-gateway does).
    None,
    /// `body: "*"`: the body is the whole request message; no query parameters are accepted.
    Whole,
    /// `body: "<field>"`: the body is the JSON value of this top-level field.
    Field(FieldDescriptor),
}

impl BodyRule {
    /// Resolves a body selector: `""` → [`BodyRule::None`], `"*"` → [`BodyRule::Whole`], otherwise
    /// the proto name of a top-level field of `msg`.
    pub fn resolve(msg: &MessageDescriptor, body: &str) -> Result<BodyRule, ResolveError> {
        match body {
            "" => Ok(BodyRule::None),
            "*" => Ok(BodyRule::Whole),
            _ if body.contains('.') => Err(ResolveError::BodyFieldNotTopLevel {
                body: body.to_owned(),
            }),
            _ if is_well_known(msg) => Err(ResolveError::BodyFieldOnWellKnownType {
                message: msg.full_name().to_owned(),
            }),
            _ => msg
                .get_field_by_name(body)
                .map(BodyRule::Field)
                .ok_or_else(|| ResolveError::BodyFieldNotFound {
                    message: msg.full_name().to_owned(),
                    body: body.to_owned(),
                }),
        }
    }

    /// The body field, when the body maps to one field.
    pub fn field(&self) -> Option<&FieldDescriptor> {
        match self {
            BodyRule::Field(field) => Some(field),
            BodyRule::None | BodyRule::Whole => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcoding::test_support::{everything, pool};

    #[test]
    fn resolves_selectors() {
        let msg = everything();
        assert_eq!(BodyRule::resolve(&msg, ""), Ok(BodyRule::None));
        assert_eq!(BodyRule::resolve(&msg, "*"), Ok(BodyRule::Whole));
        let rule = BodyRule::resolve(&msg, "book").expect("top-level field");
        assert_eq!(rule.field().map(|f| f.name()), Some("book"));
        let rule = BodyRule::resolve(&msg, "tags").expect("repeated field is allowed");
        assert_eq!(rule.field().map(|f| f.name()), Some("tags"));
    }

    #[test]
    fn rejects_bad_selectors() {
        let msg = everything();
        assert!(matches!(
            BodyRule::resolve(&msg, "book.author"),
            Err(ResolveError::BodyFieldNotTopLevel { .. })
        ));
        assert!(matches!(
            BodyRule::resolve(&msg, "nope"),
            Err(ResolveError::BodyFieldNotFound { .. })
        ));
        let strukt = pool()
            .get_message_by_name("google.protobuf.Struct")
            .expect("wkt");
        assert!(matches!(
            BodyRule::resolve(&strukt, "fields"),
            Err(ResolveError::BodyFieldOnWellKnownType { .. })
        ));
    }
}
