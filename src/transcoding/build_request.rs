//! Assembly of the gRPC request message from the parts of an HTTP request, in the order that
//! makes conflicts detectable: body, then path variables (checked against the body), then query
//! parameters (restricted to fields nobody else owns), then the derived PATCH update mask (only
//! when the client supplied none).

use prost_reflect::{DynamicMessage, Kind, MessageDescriptor, ReflectMessage, Value};

use super::body_rule::BodyRule;
use super::field_mask_from_body::{derive_paths, update_mask_field};
use super::field_path::FieldPath;
use super::http_body::http_body_message;
use super::json_body::{decode_field, decode_whole, is_blank};
use super::json_options::JsonOptions;
use super::message_path::{self, get_if_set, mismatch, set_top_level};
use super::query_params::apply_query;
use super::text_value::parse_field_value;
use super::transcode_error::TranscodeError;
use super::well_known::{is_http_body, is_well_known};

/// The parts of one HTTP request that feed the input message.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// Path-variable bindings: each field (resolved at start-up with
    /// [`FieldPath::resolve_path_variable`]) with its percent-decoded value.
    pub path: &'a [(&'a FieldPath, &'a str)],
    /// The raw query string, without the leading `?`.
    pub query: Option<&'a str>,
    /// The raw request body.
    pub body: &'a [u8],
    /// The request's Content-Type header, passed into `google.api.HttpBody.content_type`.
    pub content_type: Option<&'a str>,
    /// Whether the HTTP method is PATCH (enables update-mask derivation).
    pub is_patch: bool,
}

/// Builds the input message (`input`) for one request routed with `body_rule`.
///
/// A body on a rule without body mapping is ignored, as grpc-gateway does. The Content-Type is
/// not checked for JSON bodies; it only matters for `google.api.HttpBody` bodies.
pub fn build_request(
    input: &MessageDescriptor,
    body_rule: &BodyRule,
    parts: &RequestParts<'_>,
    json: &JsonOptions,
) -> Result<DynamicMessage, TranscodeError> {
    check_descriptors(input, body_rule, parts.path)?;
    let mut msg = decode_body(input, body_rule, parts, json)?;
    apply_path(&mut msg, parts.path)?;
    if let Some(query) = parts.query {
        let bound: Vec<&FieldPath> = parts.path.iter().map(|(path, _)| *path).collect();
        apply_query(
            &mut msg,
            query,
            body_rule,
            &bound,
            json.ignore_unknown_fields,
        )?;
    }
    if parts.is_patch {
        derive_update_mask(&mut msg, body_rule, parts.body)?;
    }
    Ok(msg)
}

/// prost-reflect addresses fields by number, so a descriptor from another message would silently
/// write the wrong field (and panic at encoding time); refuse such wiring up front.
fn check_descriptors(
    input: &MessageDescriptor,
    body_rule: &BodyRule,
    path: &[(&FieldPath, &str)],
) -> Result<(), TranscodeError> {
    if let Some(field) = body_rule.field()
        && field.parent_message() != input
    {
        return Err(mismatch(field));
    }
    match path.iter().find(|(path, _)| path.root() != input) {
        Some((path, _)) => Err(TranscodeError::DescriptorMismatch {
            field: path.proto_path().to_owned(),
            message: input.full_name().to_owned(),
        }),
        None => Ok(()),
    }
}

fn decode_body(
    input: &MessageDescriptor,
    body_rule: &BodyRule,
    parts: &RequestParts<'_>,
    json: &JsonOptions,
) -> Result<DynamicMessage, TranscodeError> {
    match body_rule {
        BodyRule::None => Ok(DynamicMessage::new(input.clone())),
        BodyRule::Whole if is_http_body(input) => {
            http_body_message(input, parts.body, parts.content_type)
        }
        BodyRule::Whole => decode_whole(input, parts.body, json),
        BodyRule::Field(field) => {
            let mut msg = DynamicMessage::new(input.clone());
            let value = match field.kind() {
                Kind::Message(desc) if is_http_body(&desc) && !field.is_list() => Some(
                    Value::Message(http_body_message(&desc, parts.body, parts.content_type)?),
                ),
                _ => decode_field(input, field, parts.body, json)?,
            };
            if let Some(value) = value {
                msg.try_set_field(field, value)
                    .map_err(|_| mismatch(field))?;
            }
            Ok(msg)
        }
    }
}

/// Sets path variables; a field the body already set must hold the same value.
fn apply_path(
    msg: &mut DynamicMessage,
    bindings: &[(&FieldPath, &str)],
) -> Result<(), TranscodeError> {
    for (path, raw) in bindings {
        let parsed = parse_field_value(path.leaf(), raw, false).map_err(|source| {
            TranscodeError::InvalidPathValue {
                field: path.proto_path().to_owned(),
                source,
            }
        })?;
        let Some(value) = parsed else {
            continue;
        };
        match get_if_set(msg, path) {
            Some(existing) if existing == value => {}
            Some(_) => {
                return Err(TranscodeError::ConflictsWithPath {
                    field: path.proto_path().to_owned(),
                });
            }
            None => message_path::set(msg, path, value)?,
        }
    }
    Ok(())
}

/// For PATCH with a message body field and an empty update mask, fills the mask from the body's
/// JSON keys.
fn derive_update_mask(
    msg: &mut DynamicMessage,
    body_rule: &BodyRule,
    body: &[u8],
) -> Result<(), TranscodeError> {
    let Some(body_field) = body_rule.field() else {
        return Ok(());
    };
    let Kind::Message(body_desc) = body_field.kind() else {
        return Ok(());
    };
    if body_field.is_list()
        || body_field.is_map()
        || is_well_known(&body_desc)
        || is_http_body(&body_desc)
    {
        return Ok(());
    }
    let input = msg.descriptor();
    let Some(mask_field) = update_mask_field(&input) else {
        return Ok(());
    };
    let Kind::Message(mask_desc) = mask_field.kind() else {
        return Ok(());
    };
    let already_set = match msg.get_field(&mask_field).as_ref() {
        Value::Message(mask) => mask
            .get_field_by_name("paths")
            .is_some_and(|paths| paths.as_list().is_some_and(|list| !list.is_empty())),
        _ => false,
    };
    if already_set || is_blank(body) {
        return Ok(());
    }
    // The body has already been parsed successfully, so this cannot fail on client input.
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| TranscodeError::InvalidBody {
            field: Some(body_field.name().to_owned()),
            message: err.to_string(),
        })?;
    let paths = derive_paths(&body_desc, &json);
    if paths.is_empty() {
        return Ok(());
    }
    let mut mask = DynamicMessage::new(mask_desc);
    mask.transcode_from(&prost_types::FieldMask { paths })
        .map_err(|_| mismatch(&mask_field))?;
    set_top_level(msg, &mask_field, Value::Message(mask))
}

#[cfg(test)]
#[path = "build_request_tests.rs"]
mod tests;
