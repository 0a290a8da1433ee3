//! Decoding of `grpc-status-details-bin` (a serialized `google.rpc.Status`) into JSON details.
//!
//! Guarantees:
//! - never drops a detail and never panics on backend bytes: each `Any` whose type is in the
//!   descriptor pool and decodes/serializes cleanly becomes its proto3-JSON form; anything else
//!   is kept as `{"@type": type_url, "value": "<standard base64>"}`; if the whole blob is not a
//!   valid `google.rpc.Status`, the blob itself is kept that way under the `google.rpc.Status`
//!   type URL;
//! - `"@type"` is the first key of every detail, whatever serde_json's map implementation
//!   (inserted first, and it sorts before letters in the default `BTreeMap`); `error_body`
//!   additionally writes it first on the wire;
//! - well-known types with a special JSON mapping (Duration, Struct, wrappers, …) are wrapped as
//!   `{"@type": …, "value": <json>}` as the proto3 JSON mapping of `Any` requires.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::{Map, Value};

/// Type URL of `google.rpc.Status`, used when the details blob itself is undecodable.
pub const STATUS_TYPE_URL: &str = "type.googleapis.com/google.rpc.Status";
/// Type URL of `google.rpc.BadRequest`.
pub const BAD_REQUEST_TYPE_URL: &str = "type.googleapis.com/google.rpc.BadRequest";

/// Wire shape of `google.rpc.Status`; only `details` is used (the code and message come from
/// the `grpc-status` / `grpc-message` headers, which gRPC requires to agree with it).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

/// JSON details from the raw `grpc-status-details-bin` bytes (`tonic::Status::details()`).
/// Empty bytes (no details header) give no details.
pub fn decode_status_details(
    raw: &[u8],
    pool: &DescriptorPool,
    options: &SerializeOptions,
) -> Vec<Value> {
    if raw.is_empty() {
        return Vec::new();
    }
    match RpcStatus::decode(raw) {
        Ok(status) => status
            .details
            .iter()
            .map(|any| any_to_json(any, pool, options))
            .collect(),
        Err(_) => vec![opaque(STATUS_TYPE_URL, raw)],
    }
}

/// One `google.protobuf.Any` as JSON: decoded when its type is known, base64 otherwise.
pub fn any_to_json(
    any: &prost_types::Any,
    pool: &DescriptorPool,
    options: &SerializeOptions,
) -> Value {
    decode_known(any, pool, options).unwrap_or_else(|| opaque(&any.type_url, &any.value))
}

/// A `google.rpc.BadRequest` detail with one `fieldViolations` entry per `(field, description)`.
pub fn bad_request_detail(violations: &[(String, String)]) -> Value {
    let violations = violations
        .iter()
        .map(|(field, description)| {
            let mut entry = Map::new();
            entry.insert("field".to_string(), Value::String(field.clone()));
            entry.insert(
                "description".to_string(),
                Value::String(description.clone()),
            );
            Value::Object(entry)
        })
        .collect();
    typed(
        BAD_REQUEST_TYPE_URL,
        [("fieldViolations".to_string(), Value::Array(violations))],
    )
}

fn decode_known(
    any: &prost_types::Any,
    pool: &DescriptorPool,
    options: &SerializeOptions,
) -> Option<Value> {
    // Same rule as prost-reflect's own `Any` handling: the name is what follows the last '/'.
    let (_, name) = any.type_url.rsplit_once('/')?;
    let descriptor = pool.get_message_by_name(name)?;
    let message = DynamicMessage::decode(descriptor, any.value.as_slice()).ok()?;
    let json = message
        .serialize_with_options(serde_json::value::Serializer, options)
        .ok()?;
    match json {
        Value::Object(fields) if !has_special_json_mapping(name) => {
            Some(typed(&any.type_url, fields))
        }
        other => Some(typed(&any.type_url, [("value".to_string(), other)])),
    }
}

/// `{"@type": type_url, "value": base64(bytes)}` — how an undecodable detail is preserved.
fn opaque(type_url: &str, bytes: &[u8]) -> Value {
    typed(
        type_url,
        [("value".to_string(), Value::String(STANDARD.encode(bytes)))],
    )
}

/// An object whose first key is `"@type"`, followed by `fields` (any `"@type"` among them is
/// dropped: the Any's own type URL is authoritative).
fn typed(type_url: &str, fields: impl IntoIterator<Item = (String, Value)>) -> Value {
    let mut object = Map::new();
    object.insert("@type".to_string(), Value::String(type_url.to_string()));
    for (key, value) in fields {
        if key != "@type" {
            object.insert(key, value);
        }
    }
    Value::Object(object)
}

/// Well-known types whose JSON form is not a plain object of fields; inside an `Any` they are
/// wrapped under `"value"` (proto3 JSON mapping; mirrors prost-reflect's list).
fn has_special_json_mapping(full_name: &str) -> bool {
    matches!(
        full_name,
        "google.protobuf.Any"
            | "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.Struct"
            | "google.protobuf.FloatValue"
            | "google.protobuf.DoubleValue"
            | "google.protobuf.Int32Value"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
            | "google.protobuf.FieldMask"
            | "google.protobuf.ListValue"
            | "google.protobuf.Value"
            | "google.protobuf.Empty"
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    const TEST_PROTO: &str = r#"
        syntax = "proto3";
        package google.rpc;
        import "google/protobuf/duration.proto";
        message BadRequest {
          message FieldViolation {
            string field = 1;
            string description = 2;
          }
          repeated FieldViolation field_violations = 1;
        }
        message RetryInfo {
          google.protobuf.Duration retry_delay = 1;
        }
    "#;

    /// A pool holding a `google.rpc.BadRequest`-like message, compiled from in-memory text.
    pub(crate) fn test_pool() -> DescriptorPool {
        struct InMemory;
        impl protox::file::FileResolver for InMemory {
            fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
                if name == "google/rpc/error_details.proto" {
                    protox::file::File::from_source(name, TEST_PROTO)
                } else {
                    protox::file::GoogleFileResolver::new().open_file(name)
                }
            }
        }
        let mut compiler = protox::Compiler::with_file_resolver(InMemory);
        compiler
            .include_imports(true)
            .open_file("google/rpc/error_details.proto")
            .expect("test proto compiles");
        compiler.descriptor_pool()
    }

    /// Encodes a `google.rpc.Status` with the given `(type_url, bytes)` details.
    pub(crate) fn status_bytes(details: &[(&str, Vec<u8>)]) -> Vec<u8> {
        RpcStatus {
            code: 3,
            message: "ignored".to_string(),
            details: details
                .iter()
                .map(|(type_url, value)| prost_types::Any {
                    type_url: (*type_url).to_string(),
                    value: value.clone(),
                })
                .collect(),
        }
        .encode_to_vec()
    }

    /// Protobuf bytes of `BadRequest{field_violations: [{field, description}]}`.
    pub(crate) fn bad_request_bytes(field: &str, description: &str) -> Vec<u8> {
        #[derive(Clone, PartialEq, prost::Message)]
        struct FieldViolation {
            #[prost(string, tag = "1")]
            field: String,
            #[prost(string, tag = "2")]
            description: String,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct BadRequest {
            #[prost(message, repeated, tag = "1")]
            field_violations: Vec<FieldViolation>,
        }
        BadRequest {
            field_violations: vec![FieldViolation {
                field: field.to_string(),
                description: description.to_string(),
            }],
        }
        .encode_to_vec()
    }

    fn decode(raw: &[u8]) -> Vec<Value> {
        decode_status_details(raw, &test_pool(), &SerializeOptions::new())
    }

    #[test]
    fn no_details_header_gives_no_details() {
        assert!(decode(&[]).is_empty());
    }

    #[test]
    fn known_type_becomes_camel_case_json_with_type_first() {
        let raw = status_bytes(&[(
            BAD_REQUEST_TYPE_URL,
            bad_request_bytes("user_id", "must be > 0"),
        )]);
        let details = decode(&raw);
        assert_eq!(
            details,
            vec![json!({
                "@type": BAD_REQUEST_TYPE_URL,
                "fieldViolations": [{"field": "user_id", "description": "must be > 0"}]
            })]
        );
        let first_key = details
            .first()
            .and_then(Value::as_object)
            .and_then(|object| object.keys().next().cloned());
        assert_eq!(first_key.as_deref(), Some("@type"));
    }

    #[test]
    fn unknown_type_is_kept_as_standard_base64() {
        let raw = status_bytes(&[
            ("type.googleapis.com/acme.Unknown", vec![0xfb, 0xff, 0x01]),
            ("no-slash-at-all", vec![1, 2, 3]),
        ]);
        assert_eq!(
            decode(&raw),
            vec![
                json!({"@type": "type.googleapis.com/acme.Unknown", "value": "+/8B"}),
                json!({"@type": "no-slash-at-all", "value": "AQID"}),
            ]
        );
    }

    #[test]
    fn known_type_with_corrupt_bytes_is_kept_as_base64() {
        // Field 1, wire type 2 (length-delimited), length 10, but only one byte follows.
        let corrupt = vec![0x0a, 0x0a, 0x01];
        let raw = status_bytes(&[(BAD_REQUEST_TYPE_URL, corrupt.clone())]);
        assert_eq!(
            decode(&raw),
            vec![json!({"@type": BAD_REQUEST_TYPE_URL, "value": STANDARD.encode(&corrupt)})]
        );
    }

    #[test]
    fn well_known_type_is_wrapped_under_value() {
        // google.protobuf.Duration{seconds: 5}
        let raw = status_bytes(&[(
            "type.googleapis.com/google.protobuf.Duration",
            vec![0x08, 0x05],
        )]);
        assert_eq!(
            decode(&raw),
            vec![json!({"@type": "type.googleapis.com/google.protobuf.Duration", "value": "5s"})]
        );
    }

    #[test]
    fn nested_well_known_type_uses_its_json_form() {
        // RetryInfo{retry_delay: Duration{seconds: 2}}
        let raw = status_bytes(&[(
            "type.googleapis.com/google.rpc.RetryInfo",
            vec![0x0a, 0x02, 0x08, 0x02],
        )]);
        assert_eq!(
            decode(&raw),
            vec![json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"})]
        );
    }

    #[test]
    fn undecodable_status_blob_is_kept_whole() {
        let raw = vec![0xff, 0xff, 0xff];
        assert_eq!(
            decode(&raw),
            vec![json!({"@type": STATUS_TYPE_URL, "value": "////"})]
        );
    }

    #[test]
    fn serialize_options_are_honoured() {
        let raw = status_bytes(&[(BAD_REQUEST_TYPE_URL, bad_request_bytes("a", "b"))]);
        let options = SerializeOptions::new().use_proto_field_name(true);
        let details = decode_status_details(&raw, &test_pool(), &options);
        assert_eq!(
            details,
            vec![json!({
                "@type": BAD_REQUEST_TYPE_URL,
                "field_violations": [{"field": "a", "description": "b"}]
            })]
        );
    }

    #[test]
    fn bad_request_detail_shape() {
        let detail = bad_request_detail(&[
            ("name".to_string(), "required".to_string()),
            ("age".to_string(), "must be a number".to_string()),
        ]);
        assert_eq!(
            detail,
            json!({
                "@type": BAD_REQUEST_TYPE_URL,
                "fieldViolations": [
                    {"field": "name", "description": "required"},
                    {"field": "age", "description": "must be a number"}
                ]
            })
        );
    }
}
