//! Start-up errors: a route's path template or body selector does not fit the method's input
//! message. These are configuration bugs, reported once when routes are built, never per request.

/// Why a field path or body selector cannot be resolved against a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The path has no segments (or the selector is blank where a field is required).
    #[error("empty field path")]
    EmptyPath,
    /// A segment names no field of the message it is looked up in.
    #[error("message `{message}` has no field named `{segment}` (in field path `{path}`)")]
    UnknownField {
        message: String,
        segment: String,
        path: String,
    },
    /// A segment that is not the last one is not a singular message field, so nothing can be
    /// looked up inside it.
    #[error(
        "field `{field}` in field path `{path}` is {reason}; only singular message fields can have sub-fields"
    )]
    NotTraversable {
        path: String,
        field: String,
        reason: &'static str,
    },
    /// A URL path variable binds a field that cannot be set from one string.
    #[error(
        "path variable `{path}` binds a field that is {reason}; path variables must bind singular scalar, enum or scalar-like well-known-type fields"
    )]
    PathVariableNotScalar { path: String, reason: &'static str },
    /// The body selector contains a dot; `google.api.HttpRule.body` must name a top-level field.
    #[error("body selector `{body}` must name a top-level field of the request message (no dots)")]
    BodyFieldNotTopLevel { body: String },
    /// The body selector names no top-level field.
    #[error("request message `{message}` has no field named `{body}` for the body selector")]
    BodyFieldNotFound { message: String, body: String },
    /// The request message is a well-known type whose JSON form is not an object, so a single
    /// field of it cannot be mapped to the body.
    #[error(
        "request message `{message}` is a well-known type; use body \"*\" instead of a field selector"
    )]
    BodyFieldOnWellKnownType { message: String },
}
