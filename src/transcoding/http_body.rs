//! Raw (non-JSON) request bodies: when the body maps to a `google.api.HttpBody`, its bytes and
//! Content-Type are passed to the backend untouched instead of being parsed as JSON.

use bytes::Bytes;
use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage, Value};

use super::message_path::mismatch;
use super::transcode_error::TranscodeError;
use super::well_known::HTTP_BODY;

/// A `google.api.HttpBody` (described by `desc`) holding `body` and, when given, `content_type`.
pub(crate) fn http_body_message(
    desc: &MessageDescriptor,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<DynamicMessage, TranscodeError> {
    let mut message = DynamicMessage::new(desc.clone());
    set(
        &mut message,
        "data",
        Value::Bytes(Bytes::copy_from_slice(body)),
    )?;
    if let Some(content_type) = content_type {
        set(
            &mut message,
            "content_type",
            Value::String(content_type.to_owned()),
        )?;
    }
    Ok(message)
}

fn set(message: &mut DynamicMessage, name: &str, value: Value) -> Result<(), TranscodeError> {
    let desc = message.descriptor();
    let field = desc
        .get_field_by_name(name)
        .ok_or_else(|| TranscodeError::DescriptorMismatch {
            field: format!("{HTTP_BODY}.{name}"),
            message: desc.full_name().to_owned(),
        })?;
    message
        .try_set_field(&field, value)
        .map_err(|_| mismatch(&field))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcoding::test_support::message;

    #[test]
    fn carries_bytes_and_content_type() {
        let desc = message(HTTP_BODY);
        let msg = http_body_message(&desc, b"\x00\xffraw", Some("image/png")).expect("ok");
        assert_eq!(
            msg.get_field_by_name("data")
                .expect("f")
                .as_bytes()
                .map(|b| b.to_vec()),
            Some(b"\x00\xffraw".to_vec())
        );
        assert_eq!(
            msg.get_field_by_name("content_type").expect("f").as_str(),
            Some("image/png")
        );
        let bare = http_body_message(&desc, b"", None).expect("ok");
        assert!(!bare.has_field_by_name("content_type"));
    }
}
