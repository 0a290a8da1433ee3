//! The response side of transcoding: the backend's message bytes to the HTTP body.
//!
//! `response_body` selects one field; `google.api.HttpBody` (as the message or the selected
//! field) becomes the raw body with its own content type, which is how files go down.

use bytes::Bytes;
use http::HeaderValue;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage, SerializeOptions,
};

pub(super) const HTTP_BODY: &str = "google.api.HttpBody";
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const OCTET_STREAM: HeaderValue = HeaderValue::from_static("application/octet-stream");

#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    #[error("the backend's response is not a valid {message}: {source}")]
    Decode {
        message: String,
        source: prost::DecodeError,
    },
    #[error("the backend's response could not be written as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// An HTTP body ready to send.
#[derive(Debug)]
pub struct RenderedBody {
    pub content_type: HeaderValue,
    pub body: Bytes,
}

impl RenderedBody {
    pub fn json(body: Bytes) -> Self {
        Self {
            content_type: JSON,
            body,
        }
    }
}

/// Decodes `bytes` as `output` and renders it (or its `response_body` field).
pub fn render_response(
    output: &MessageDescriptor,
    response_body: Option<&FieldDescriptor>,
    bytes: &[u8],
    options: &SerializeOptions,
    use_proto_names: bool,
) -> Result<RenderedBody, ResponseError> {
    let message =
        DynamicMessage::decode(output.clone(), bytes).map_err(|source| ResponseError::Decode {
            message: output.full_name().to_owned(),
            source,
        })?;
    let Some(field) = response_body else {
        return render_message(&message, options);
    };
    let value = message.get_field(field);
    if let (Kind::Message(_), false, Some(inner)) =
        (field.kind(), field.is_list(), value.as_message())
    {
        return render_message(inner, options);
    }
    // A scalar, list or map field: render the whole message and keep that member, so the
    // field is written by the same JSON mapping as everything else.
    let whole = message.serialize_with_options(serde_json::value::Serializer, options)?;
    let key = if use_proto_names {
        field.name()
    } else {
        field.json_name()
    };
    let selected = whole.get(key).cloned().unwrap_or(serde_json::Value::Null);
    Ok(RenderedBody::json(serde_json::to_vec(&selected)?.into()))
}

fn render_message(
    message: &DynamicMessage,
    options: &SerializeOptions,
) -> Result<RenderedBody, ResponseError> {
    if message.descriptor().full_name() == HTTP_BODY {
        return Ok(http_body(message));
    }
    let mut body = Vec::with_capacity(128);
    message.serialize_with_options(&mut serde_json::Serializer::new(&mut body), options)?;
    Ok(RenderedBody::json(body.into()))
}

fn http_body(message: &DynamicMessage) -> RenderedBody {
    let content_type = message
        .get_field_by_name("content_type")
        .and_then(|v| v.as_str().and_then(|s| HeaderValue::try_from(s).ok()))
        .filter(|v| !v.is_empty())
        .unwrap_or(OCTET_STREAM);
    let body = message
        .get_field_by_name("data")
        .and_then(|v| v.as_bytes().cloned())
        .unwrap_or_default();
    RenderedBody { content_type, body }
}
