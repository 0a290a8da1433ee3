//! Conversion of one text value (a URL path variable or a query parameter, already
//! percent-decoded) into a protobuf value for a given field type.
//!
//! The accepted forms follow the proto3 JSON mapping of the same type, minus the JSON quoting:
//! integers in decimal, floats including `NaN` / `Infinity` / `-Infinity`, enums by name or
//! number, bytes as standard or URL-safe base64, Timestamp as RFC 3339, Duration as `"1.5s"`,
//! FieldMask as comma-separated paths; wrapper types take the form of the wrapped scalar.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use prost_reflect::{
    DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor, Value,
};

use super::well_known::ScalarLike;

/// Longest excerpt of a client value repeated back in an error message.
const EXCERPT_CHARS: usize = 64;

/// Why a text value does not fit the field's type. Messages quote (a bounded excerpt of) the
/// offending value so a client can find it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("`{value}` is not a valid {kind}")]
    InvalidNumber { kind: &'static str, value: String },
    #[error("`{value}` is not a boolean (expected `true` or `false`)")]
    InvalidBool { value: String },
    #[error("`{value}` is not a value of enum `{enum_name}` (expected a value name or number)")]
    UnknownEnumValue { enum_name: String, value: String },
    #[error("invalid base64 (standard or URL-safe alphabet expected): {reason}")]
    InvalidBase64 { reason: String },
    #[error("`{value}` is not a valid RFC 3339 timestamp (e.g. `2024-01-31T12:00:00Z`): {reason}")]
    InvalidTimestamp { value: String, reason: String },
    #[error("`{value}` is not a valid duration (e.g. `1.5s`): {reason}")]
    InvalidDuration { value: String, reason: String },
    #[error("`{path}` is not a valid field mask path (expected dotted field names)")]
    InvalidFieldMaskPath { path: String },
    #[error("a value of message type `{type_name}` cannot be given as text")]
    NotScalar { type_name: String },
}

/// Parses `text` for a singular field. `Ok(None)` means "skip": an unknown enum name when
/// `skip_unknown_enum` is set (the JSON mapping's ignore-unknown behaviour).
pub(crate) fn parse_field_value(
    field: &FieldDescriptor,
    text: &str,
    skip_unknown_enum: bool,
) -> Result<Option<Value>, ValueError> {
    parse_kind(&field.kind(), text, skip_unknown_enum)
}

/// Parses `text` as one value of `kind` (for repeated fields: one element).
pub(crate) fn parse_kind(
    kind: &Kind,
    text: &str,
    skip_unknown_enum: bool,
) -> Result<Option<Value>, ValueError> {
    let value = match kind {
        Kind::Double => Value::F64(parse_f64(text)?),
        Kind::Float => Value::F32(parse_f32(text)?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(parse_int(text, "int32")?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(parse_int(text, "int64")?),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(parse_int(text, "uint32")?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(parse_int(text, "uint64")?),
        Kind::Bool => Value::Bool(parse_bool(text)?),
        Kind::String => Value::String(text.to_owned()),
        Kind::Bytes => Value::Bytes(parse_base64(text)?.into()),
        Kind::Enum(desc) => match parse_enum(desc, text)? {
            Some(number) => Value::EnumNumber(number),
            None if skip_unknown_enum => return Ok(None),
            None => {
                return Err(ValueError::UnknownEnumValue {
                    enum_name: desc.full_name().to_owned(),
                    value: excerpt(text),
                });
            }
        },
        Kind::Message(desc) => Value::Message(parse_scalar_like(desc, text, skip_unknown_enum)?),
    };
    Ok(Some(value))
}

fn parse_scalar_like(
    desc: &MessageDescriptor,
    text: &str,
    skip_unknown_enum: bool,
) -> Result<DynamicMessage, ValueError> {
    let not_scalar = || ValueError::NotScalar {
        type_name: desc.full_name().to_owned(),
    };
    let mut message = DynamicMessage::new(desc.clone());
    match ScalarLike::of(desc).ok_or_else(not_scalar)? {
        ScalarLike::Wrapper => {
            let inner = desc.get_field(1).ok_or_else(not_scalar)?;
            if let Some(value) = parse_kind(&inner.kind(), text, skip_unknown_enum)? {
                message
                    .try_set_field(&inner, value)
                    .map_err(|_| not_scalar())?;
            }
        }
        ScalarLike::Timestamp => {
            let repaired = restore_plus_in_offset(text);
            message = deserialize_json_string(desc, &repaired).map_err(|reason| {
                ValueError::InvalidTimestamp {
                    value: excerpt(text),
                    reason,
                }
            })?;
        }
        ScalarLike::Duration => {
            message = deserialize_json_string(desc, text).map_err(|reason| {
                ValueError::InvalidDuration {
                    value: excerpt(text),
                    reason,
                }
            })?;
        }
        ScalarLike::FieldMask => {
            let paths = parse_field_mask(text)?;
            message
                .transcode_from(&prost_types::FieldMask { paths })
                .map_err(|_| not_scalar())?;
        }
    }
    Ok(message)
}

/// Lets prost-reflect parse the JSON string form of a well-known type, so text values accept
/// exactly what JSON bodies accept.
fn deserialize_json_string(desc: &MessageDescriptor, text: &str) -> Result<DynamicMessage, String> {
    let deserializer = serde::de::value::StrDeserializer::<serde::de::value::Error>::new(text);
    DynamicMessage::deserialize(desc.clone(), deserializer).map_err(|err| err.to_string())
}

/// A `+` in a query string decodes to a space, which breaks RFC 3339 offsets such as
/// `…T10:00:00+02:00` sent unencoded. A space is never valid there, so put the `+` back.
fn restore_plus_in_offset(text: &str) -> String {
    let bytes = text.as_bytes();
    let Some(split) = bytes.len().checked_sub(6) else {
        return text.to_owned();
    };
    let tail = bytes.get(split..).unwrap_or_default();
    let is_offset = tail.first() == Some(&b' ')
        && tail.get(3) == Some(&b':')
        && [1, 2, 4, 5]
            .iter()
            .all(|&i| tail.get(i).is_some_and(u8::is_ascii_digit));
    if is_offset {
        let mut repaired = String::with_capacity(text.len());
        repaired.push_str(text.get(..split).unwrap_or_default());
        repaired.push('+');
        repaired.push_str(text.get(split + 1..).unwrap_or_default());
        repaired
    } else {
        text.to_owned()
    }
}

/// Comma-separated paths; each dotted segment may be a lowerCamel JSON name (converted to the
/// proto name) or already a snake_case proto name (kept). Blank entries are skipped.
fn parse_field_mask(text: &str) -> Result<Vec<String>, ValueError> {
    let mut paths = Vec::new();
    for raw in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut path = String::with_capacity(raw.len() + 4);
        for (i, segment) in raw.split('.').enumerate() {
            let valid = !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !(segment.contains('_') && segment.chars().any(|c| c.is_ascii_uppercase()));
            if !valid {
                return Err(ValueError::InvalidFieldMaskPath { path: excerpt(raw) });
            }
            if i > 0 {
                path.push('.');
            }
            for c in segment.chars() {
                if c.is_ascii_uppercase() {
                    path.push('_');
                    path.push(c.to_ascii_lowercase());
                } else {
                    path.push(c);
                }
            }
        }
        paths.push(path);
    }
    Ok(paths)
}

fn parse_int<T: std::str::FromStr>(text: &str, kind: &'static str) -> Result<T, ValueError> {
    text.parse().map_err(|_| ValueError::InvalidNumber {
        kind,
        value: excerpt(text),
    })
}

fn parse_f64(text: &str) -> Result<f64, ValueError> {
    match text {
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => parse_int(text, "double"),
    }
}

fn parse_f32(text: &str) -> Result<f32, ValueError> {
    let wide = parse_f64(text).map_err(|_| ValueError::InvalidNumber {
        kind: "float",
        value: excerpt(text),
    })?;
    // A finite input beyond f32's range would silently become infinity.
    if wide.is_finite() && (wide < f64::from(f32::MIN) || wide > f64::from(f32::MAX)) {
        return Err(ValueError::InvalidNumber {
            kind: "float (out of range)",
            value: excerpt(text),
        });
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok(wide as f32)
}

/// The spellings Go's `strconv.ParseBool` accepts, for parity with grpc-gateway clients.
fn parse_bool(text: &str) -> Result<bool, ValueError> {
    match text {
        "true" | "True" | "TRUE" | "t" | "T" | "1" => Ok(true),
        "false" | "False" | "FALSE" | "f" | "F" | "0" => Ok(false),
        _ => Err(ValueError::InvalidBool {
            value: excerpt(text),
        }),
    }
}

/// By value name, or by number. Any int32 number is accepted, as for JSON bodies: proto3 enums
/// are open, and the backend decides what an unknown number means.
fn parse_enum(desc: &EnumDescriptor, text: &str) -> Result<Option<i32>, ValueError> {
    if let Some(value) = desc.get_value_by_name(text) {
        return Ok(Some(value.number()));
    }
    let looks_numeric = text.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+');
    if looks_numeric {
        return parse_int(text, "enum number").map(Some);
    }
    Ok(None)
}

/// Standard or URL-safe alphabet, padded or not. A space stands for `+`: an unencoded `+` in a
/// query string decodes to a space, and a space is never valid base64.
fn parse_base64(text: &str) -> Result<Vec<u8>, ValueError> {
    const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CONFIG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CONFIG);

    let text = text.replace(' ', "+");
    let engine = if text.contains(['-', '_']) {
        &URL_SAFE
    } else {
        &STANDARD
    };
    engine
        .decode(text.as_bytes())
        .map_err(|err| ValueError::InvalidBase64 {
            reason: err.to_string(),
        })
}

/// A bounded, char-boundary-safe copy of a client value for error messages.
pub(crate) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcoding::test_support::everything;

    fn parse(field: &str, text: &str) -> Result<Option<Value>, ValueError> {
        let field = everything().get_field_by_name(field).expect("field");
        parse_field_value(&field, text, false)
    }

    fn message_field(value: &Value, name: &str) -> Value {
        value
            .as_message()
            .expect("message value")
            .get_field_by_name(name)
            .expect("field")
            .into_owned()
    }

    #[test]
    fn scalars_parse() {
        let cases: Vec<(&str, &str, Value)> = vec![
            ("name", "hello world", Value::String("hello world".into())),
            ("name", "", Value::String(String::new())),
            ("i32", "-42", Value::I32(-42)),
            ("i64", "9223372036854775807", Value::I64(i64::MAX)),
            ("u32", "4294967295", Value::U32(u32::MAX)),
            ("u64", "18446744073709551615", Value::U64(u64::MAX)),
            ("s32", "-7", Value::I32(-7)),
            ("fx64", "12", Value::U64(12)),
            ("dbl", "1.5e3", Value::F64(1500.0)),
            ("dbl", "-Infinity", Value::F64(f64::NEG_INFINITY)),
            ("flt", "0.25", Value::F32(0.25)),
            ("flt", "Infinity", Value::F32(f32::INFINITY)),
            ("flag", "true", Value::Bool(true)),
            ("flag", "0", Value::Bool(false)),
            ("data", "aGk/Pz4+", Value::Bytes(b"hi??>>".to_vec().into())),
            ("data", "aGk_Pz4-", Value::Bytes(b"hi??>>".to_vec().into())),
            ("data", "aGk/Pz4 ", Value::Bytes(b"hi??>>".to_vec().into())),
            ("data", "aGk", Value::Bytes(b"hi".to_vec().into())),
            ("color", "GREEN", Value::EnumNumber(2)),
            ("color", "1", Value::EnumNumber(1)),
            ("color", "77", Value::EnumNumber(77)),
        ];
        for (field, text, expected) in cases {
            assert_eq!(parse(field, text), Ok(Some(expected)), "{field}={text}");
        }
        let nan = parse("dbl", "NaN").expect("NaN parses").expect("value");
        assert!(nan.as_f64().is_some_and(f64::is_nan));
    }

    #[test]
    fn scalar_errors_name_the_problem() {
        let cases = [
            ("i32", "abc", "`abc` is not a valid int32"),
            ("i32", "2147483648", "not a valid int32"),
            ("i32", "1.5", "not a valid int32"),
            ("u64", "-1", "not a valid uint64"),
            ("i64", "", "`` is not a valid int64"),
            ("dbl", "one", "not a valid double"),
            ("flt", "1e39", "float (out of range)"),
            ("flag", "yes", "`yes` is not a boolean"),
            (
                "color",
                "PURPLE",
                "`PURPLE` is not a value of enum `test.v1.Color`",
            ),
            ("color", "99999999999", "not a valid enum number"),
            ("data", "a*b", "invalid base64"),
            (
                "when",
                "yesterday",
                "`yesterday` is not a valid RFC 3339 timestamp",
            ),
            (
                "timeout",
                "5 minutes",
                "`5 minutes` is not a valid duration",
            ),
            (
                "update_mask",
                "a..b",
                "`a..b` is not a valid field mask path",
            ),
            ("update_mask", "a_B", "`a_B` is not a valid field mask path"),
            ("big", "x", "`x` is not a valid int64"),
        ];
        for (field, text, expected) in cases {
            let err = parse(field, text).expect_err(text);
            assert!(err.to_string().contains(expected), "{field}={text}: {err}");
        }
        let long = "x".repeat(500);
        let err = parse("i32", &long).expect_err("long");
        assert!(err.to_string().len() < 120, "{err}");
    }

    #[test]
    fn unknown_enum_names_can_be_skipped() {
        let field = everything().get_field_by_name("color").expect("field");
        assert_eq!(parse_field_value(&field, "PURPLE", true), Ok(None));
        assert_eq!(
            parse_field_value(&field, "RED", true),
            Ok(Some(Value::EnumNumber(1)))
        );
    }

    #[test]
    fn well_known_types_parse() {
        let nickname = parse("nickname", "bob").expect("ok").expect("value");
        assert_eq!(
            message_field(&nickname, "value"),
            Value::String("bob".into())
        );
        let big = parse("big", "-5").expect("ok").expect("value");
        assert_eq!(message_field(&big, "value"), Value::I64(-5));
        let maybe = parse("maybe", "false").expect("ok").expect("value");
        assert_eq!(message_field(&maybe, "value"), Value::Bool(false));

        let when = parse("when", "1970-01-01T00:01:40.5Z")
            .expect("ok")
            .expect("value");
        assert_eq!(message_field(&when, "seconds"), Value::I64(100));
        assert_eq!(message_field(&when, "nanos"), Value::I32(500_000_000));
        // `+` decoded to a space by the query string is restored.
        let when = parse("when", "1970-01-01T02:00:00 02:00")
            .expect("ok")
            .expect("value");
        assert_eq!(message_field(&when, "seconds"), Value::I64(0));

        let timeout = parse("timeout", "1.5s").expect("ok").expect("value");
        assert_eq!(message_field(&timeout, "seconds"), Value::I64(1));
        assert_eq!(message_field(&timeout, "nanos"), Value::I32(500_000_000));

        let mask = parse("update_mask", "displayName, book.pageCount,,title,zip_code")
            .expect("ok")
            .expect("value");
        assert_eq!(
            message_field(&mask, "paths"),
            Value::List(
                ["display_name", "book.page_count", "title", "zip_code"]
                    .into_iter()
                    .map(|s| Value::String(s.into()))
                    .collect()
            )
        );
    }

    #[test]
    fn non_scalar_messages_are_rejected() {
        assert!(matches!(
            parse("book", "x"),
            Err(ValueError::NotScalar { .. })
        ));
        assert!(matches!(
            parse("extra", "x"),
            Err(ValueError::NotScalar { .. })
        ));
    }

    #[test]
    fn plus_restoration_only_touches_offsets() {
        assert_eq!(
            restore_plus_in_offset("2024-01-01T00:00:00 01:00"),
            "2024-01-01T00:00:00+01:00"
        );
        assert_eq!(
            restore_plus_in_offset("2024-01-01T00:00:00Z"),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(restore_plus_in_offset("ab 1x:00"), "ab 1x:00");
        assert_eq!(restore_plus_in_offset("é"), "é");
    }
}
