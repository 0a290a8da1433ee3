//! Per-request transcoding failures. Every variant but [`TranscodeError::DescriptorMismatch`] is
//! the client's fault (HTTP 400); messages say what was wrong and where, and [`TranscodeError::field`]
//! gives the field path for a `google.rpc.BadRequest` field violation.

use http::StatusCode;

use super::text_value::ValueError;

/// Why an HTTP request could not be turned into the method's input message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranscodeError {
    /// The JSON body nests arrays/objects deeper than the limit (checked before parsing, so deep
    /// input cannot exhaust the stack).
    #[error("request body nests JSON objects/arrays more than {limit} levels deep")]
    BodyTooDeep { limit: usize },
    /// The body is not syntactically valid JSON; `message` includes line and column.
    #[error("request body is not valid JSON: {message}")]
    MalformedJson {
        line: usize,
        column: usize,
        message: String,
    },
    /// The body is valid JSON but does not fit the message (wrong type, unknown field, unknown
    /// enum name, two members of a oneof…). `field` is the JSON path of the offending value when it
    /// can be located.
    #[error("invalid request body{}: {message}", at_field(field.as_deref()))]
    InvalidBody {
        field: Option<String>,
        message: String,
    },
    /// A path variable cannot be converted to its field's type.
    #[error("invalid value for URL path variable `{field}`: {source}")]
    InvalidPathValue {
        field: String,
        #[source]
        source: ValueError,
    },
    /// The body (or another path variable) sets a field bound by the URL path to a different value.
    #[error("field `{field}` is set to a different value than the one in the URL path")]
    ConflictsWithPath { field: String },
    /// Two members of the same oneof were set by different parts of the request.
    #[error("fields `{field}` and `{other}` belong to the same oneof; set at most one of them")]
    OneofConflict { field: String, other: String },
    /// The query string is not validly percent-encoded.
    #[error("malformed query string: {reason}")]
    MalformedQuery { reason: String },
    /// A query parameter names no field of the request message.
    #[error("unknown query parameter `{parameter}`: message `{message}` has no field `{segment}`")]
    UnknownQueryParameter {
        parameter: String,
        message: String,
        segment: String,
    },
    /// This method takes every field from the body (`body: "*"`), so it accepts no query parameters.
    #[error(
        "query parameter `{parameter}` is not accepted: this method takes all fields from the request body"
    )]
    QueryParameterWithWholeBody { parameter: String },
    /// A query parameter designates a field that cannot be set from query text.
    #[error("query parameter `{parameter}` cannot be used: field `{field}` is {reason}")]
    QueryParameterNotSettable {
        parameter: String,
        field: String,
        reason: &'static str,
    },
    /// A query parameter designates a field already bound by the URL path.
    #[error(
        "query parameter `{parameter}` is not accepted: field `{field}` is bound by the URL path"
    )]
    QueryParameterBoundByPath { parameter: String, field: String },
    /// A query parameter designates a field inside the field mapped to the body.
    #[error(
        "query parameter `{parameter}` is not accepted: field `{body_field}` comes from the request body"
    )]
    QueryParameterInBody {
        parameter: String,
        body_field: String,
    },
    /// A non-repeated field was given more than once (or overlapping parameters set it twice).
    #[error(
        "query parameter `{parameter}` sets field `{field}` more than once; it is not repeated"
    )]
    DuplicateQueryParameter { parameter: String, field: String },
    /// A query parameter's value cannot be converted to its field's type.
    #[error("invalid value for query parameter `{parameter}`: {source}")]
    InvalidQueryValue {
        parameter: String,
        field: String,
        #[source]
        source: ValueError,
    },
    /// A descriptor handed to the transcoder does not belong to the input message (a server-side
    /// wiring bug, not the client's fault).
    #[error("internal error: field `{field}` does not belong to request message `{message}`")]
    DescriptorMismatch { field: String, message: String },
}

fn at_field(field: Option<&str>) -> String {
    field.map(|f| format!(" at `{f}`")).unwrap_or_default()
}

impl TranscodeError {
    /// The request field the error is about, as a dotted path (proto names where the transcoder
    /// resolved them, the client's JSON keys for body errors), for `google.rpc.BadRequest`.
    pub fn field(&self) -> Option<String> {
        match self {
            TranscodeError::BodyTooDeep { .. }
            | TranscodeError::MalformedJson { .. }
            | TranscodeError::MalformedQuery { .. }
            | TranscodeError::DescriptorMismatch { .. } => None,
            TranscodeError::InvalidBody { field, .. } => field.clone(),
            TranscodeError::InvalidPathValue { field, .. }
            | TranscodeError::ConflictsWithPath { field }
            | TranscodeError::OneofConflict { field, .. }
            | TranscodeError::QueryParameterNotSettable { field, .. }
            | TranscodeError::QueryParameterBoundByPath { field, .. }
            | TranscodeError::DuplicateQueryParameter { field, .. }
            | TranscodeError::InvalidQueryValue { field, .. } => Some(field.clone()),
            TranscodeError::UnknownQueryParameter { parameter, .. }
            | TranscodeError::QueryParameterWithWholeBody { parameter }
            | TranscodeError::QueryParameterInBody { parameter, .. } => Some(parameter.clone()),
        }
    }

    /// Whether the client caused the error (and should see its message).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, TranscodeError::DescriptorMismatch { .. })
    }

    /// The HTTP status to answer with: 400, or 500 for a server-side wiring bug.
    pub fn status(&self) -> StatusCode {
        if self.is_client_error() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_and_status() {
        let body = TranscodeError::InvalidBody {
            field: Some("book.title".into()),
            message: "invalid type".into(),
        };
        assert_eq!(body.field().as_deref(), Some("book.title"));
        assert_eq!(
            body.to_string(),
            "invalid request body at `book.title`: invalid type"
        );
        assert_eq!(body.status(), StatusCode::BAD_REQUEST);

        let unlocated = TranscodeError::InvalidBody {
            field: None,
            message: "x".into(),
        };
        assert_eq!(unlocated.to_string(), "invalid request body: x");

        let internal = TranscodeError::DescriptorMismatch {
            field: "a".into(),
            message: "m".into(),
        };
        assert!(!internal.is_client_error());
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(internal.field(), None);
    }
}
