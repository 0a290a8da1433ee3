//! The demo services' error vocabulary and its gRPC encoding. Each variant maps to exactly one gRPC
//! code; invalid arguments additionally carry a `google.rpc.BadRequest` in
//! `grpc-status-details-bin` so the gateway's error translation can be tested against real details.

use bytes::Bytes;
use prost::Message;
use tonic::{Code, Status};

use super::pb::google::rpc::{self, BadRequest, bad_request::FieldViolation};

/// `Any.type_url` of a packed `google.rpc.BadRequest`.
pub const BAD_REQUEST_TYPE_URL: &str = "type.googleapis.com/google.rpc.BadRequest";

/// Why a demo RPC failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DemoError {
    /// The addressed user does not exist (gRPC NOT_FOUND).
    #[error("user {0} not found")]
    UserNotFound(String),
    /// CreateUser with an id that is taken (gRPC ALREADY_EXISTS).
    #[error("user {0} already exists")]
    UserAlreadyExists(String),
    /// One or more request fields are invalid (gRPC INVALID_ARGUMENT + BadRequest details).
    #[error("{}", describe_violations(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// A Chat message whose text is [`REJECTED_CHAT_TEXT`] (gRPC INVALID_ARGUMENT + a BadRequest
    /// naming `text`); ends the chat stream on purpose.
    #[error("chat message rejected")]
    ChatMessageRejected,
}

/// The Chat text that makes the server end the stream with [`DemoError::ChatMessageRejected`].
pub const REJECTED_CHAT_TEXT: &str = "fail";

impl DemoError {
    /// A single-field INVALID_ARGUMENT.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![violation(field, description)])
    }

    /// The gRPC code this error is reported with.
    pub fn code(&self) -> Code {
        match self {
            Self::UserNotFound(_) => Code::NotFound,
            Self::UserAlreadyExists(_) => Code::AlreadyExists,
            Self::InvalidArgument(_) | Self::ChatMessageRejected => Code::InvalidArgument,
        }
    }
}

/// Builds one `BadRequest.FieldViolation`.
pub fn violation(field: impl Into<String>, description: impl Into<String>) -> FieldViolation {
    FieldViolation {
        field: field.into(),
        description: description.into(),
    }
}

fn describe_violations(violations: &[FieldViolation]) -> String {
    let parts: Vec<String> = violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect();
    format!("invalid request: {}", parts.join("; "))
}

impl From<DemoError> for Status {
    fn from(err: DemoError) -> Self {
        let code = err.code();
        let message = err.to_string();
        let field_violations = match err {
            DemoError::InvalidArgument(field_violations) => field_violations,
            DemoError::ChatMessageRejected => vec![violation(
                "text",
                format!("'{REJECTED_CHAT_TEXT}' is rejected on purpose"),
            )],
            DemoError::UserNotFound(_) | DemoError::UserAlreadyExists(_) => {
                return Status::new(code, message);
            }
        };
        let details = rpc::Status {
            code: code as i32,
            message: message.clone(),
            details: vec![prost_types::Any {
                type_url: BAD_REQUEST_TYPE_URL.to_owned(),
                value: BadRequest { field_violations }.encode_to_vec(),
            }],
        };
        Status::with_details(code, message, Bytes::from(details.encode_to_vec()))
    }
}

/// Extracts the `google.rpc.BadRequest` packed in a status' details, if there is one that decodes.
pub fn decode_bad_request(status: &Status) -> Option<BadRequest> {
    let details = rpc::Status::decode(status.details()).ok()?;
    details
        .details
        .iter()
        .find(|any| any.type_url == BAD_REQUEST_TYPE_URL)
        .and_then(|any| BadRequest::decode(any.value.as_slice()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages() {
        let cases = [
            (
                DemoError::UserNotFound("7".into()),
                Code::NotFound,
                "user 7 not found",
            ),
            (
                DemoError::UserAlreadyExists("42".into()),
                Code::AlreadyExists,
                "user 42 already exists",
            ),
            (
                DemoError::InvalidArgument(vec![
                    violation("name", "must not be empty"),
                    violation("age", "must be between 0 and 150"),
                ]),
                Code::InvalidArgument,
                "invalid request: name: must not be empty; age: must be between 0 and 150",
            ),
            (
                DemoError::ChatMessageRejected,
                Code::InvalidArgument,
                "chat message rejected",
            ),
        ];
        for (err, code, message) in cases {
            let status = Status::from(err);
            assert_eq!(status.code(), code);
            assert_eq!(status.message(), message);
        }
    }

    #[test]
    fn invalid_argument_round_trips_bad_request() {
        let status = Status::from(DemoError::invalid("email", "not an email address"));
        let outer = rpc::Status::decode(status.details()).expect("details are a google.rpc.Status");
        assert_eq!(outer.code, Code::InvalidArgument as i32);
        assert_eq!(outer.message, status.message());
        let bad = decode_bad_request(&status).expect("BadRequest detail");
        assert_eq!(
            bad.field_violations,
            vec![violation("email", "not an email address")]
        );
    }

    #[test]
    fn rejected_chat_message_names_the_text_field() {
        let status = Status::from(DemoError::ChatMessageRejected);
        let fields: Vec<String> = decode_bad_request(&status)
            .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
            .unwrap_or_default();
        assert_eq!(fields, ["text"]);
    }

    #[test]
    fn plain_errors_have_no_details() {
        let status = Status::from(DemoError::UserNotFound("1".into()));
        assert!(status.details().is_empty());
        assert_eq!(decode_bad_request(&status), None);
    }
}
