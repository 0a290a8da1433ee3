//! Classification of the message types the transcoder treats specially: the scalar-like
//! well-known types (which a single URL or query string can populate), the other well-known types
//! (whose JSON form is not a plain object of fields), and `google.api.HttpBody`.

use prost_reflect::MessageDescriptor;

/// Full name of the message that carries a raw (non-JSON) HTTP body.
pub(crate) const HTTP_BODY: &str = "google.api.HttpBody";
/// Full name of the field-mask well-known type.
pub(crate) const FIELD_MASK: &str = "google.protobuf.FieldMask";

/// A well-known message type whose JSON form is a single string or number, so one text value can
/// fill it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarLike {
    /// `google.protobuf.{Double,Float,Int64,UInt64,Int32,UInt32,Bool,String,Bytes}Value`.
    Wrapper,
    Timestamp,
    Duration,
    FieldMask,
}

impl ScalarLike {
    pub(crate) fn of(desc: &MessageDescriptor) -> Option<ScalarLike> {
        match desc.full_name() {
            "google.protobuf.DoubleValue"
            | "google.protobuf.FloatValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue" => Some(ScalarLike::Wrapper),
            "google.protobuf.Timestamp" => Some(ScalarLike::Timestamp),
            "google.protobuf.Duration" => Some(ScalarLike::Duration),
            FIELD_MASK => Some(ScalarLike::FieldMask),
            _ => None,
        }
    }
}

/// Whether the message has a special proto3 JSON form (anything under `google.protobuf.` that the
/// JSON mapping special-cases), so its JSON keys are not its fields.
pub(crate) fn is_well_known(desc: &MessageDescriptor) -> bool {
    ScalarLike::of(desc).is_some()
        || matches!(
            desc.full_name(),
            "google.protobuf.Any"
                | "google.protobuf.Struct"
                | "google.protobuf.Value"
                | "google.protobuf.ListValue"
                | "google.protobuf.Empty"
        )
}

pub(crate) fn is_http_body(desc: &MessageDescriptor) -> bool {
    desc.full_name() == HTTP_BODY
}
