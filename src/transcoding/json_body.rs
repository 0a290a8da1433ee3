//! Parsing of a JSON request body into the whole input message or into one of its fields, with
//! the proto3 JSON mapping delegated to prost-reflect. Adds what prost-reflect leaves out: a depth
//! limit checked before parsing, rejection of trailing content, and errors split into syntax
//! errors (with line/column) and data errors (with the JSON path of the offending value).

use prost_reflect::{DynamicMessage, FieldDescriptor, MessageDescriptor, Value};
use serde_json::error::Category;

use super::json_options::JsonOptions;
use super::json_scan::{self, MAX_JSON_DEPTH, Structure};
use super::single_field_deserializer::SingleFieldDeserializer;
use super::transcode_error::TranscodeError;

/// Whether the body carries no JSON value at all (empty or only whitespace).
pub(crate) fn is_blank(body: &[u8]) -> bool {
    body.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Rejects bodies nested deeper than [`MAX_JSON_DEPTH`] before any recursive parser runs, and
/// objects that repeat a key (`prefix`: the field the body fills, for the error's path).
pub(crate) fn check_structure(body: &[u8], prefix: Option<&str>) -> Result<(), TranscodeError> {
    match json_scan::check_structure(body, MAX_JSON_DEPTH) {
        Ok(()) => Ok(()),
        Err(Structure::TooDeep) => Err(TranscodeError::BodyTooDeep {
            limit: MAX_JSON_DEPTH,
        }),
        Err(Structure::DuplicateKey { offset }) => {
            let steps = json_scan::path_at(body, offset);
            let key = match steps.last() {
                Some(json_scan::JsonStep::Key(key)) => key.clone(),
                _ => String::new(),
            };
            Err(TranscodeError::InvalidBody {
                field: json_scan::render_path(prefix, &steps),
                message: format!("the key {key:?} appears twice in one JSON object"),
            })
        }
    }
}

/// The whole message from the body (`body: "*"`); a blank body is an empty message.
pub(crate) fn decode_whole(
    desc: &MessageDescriptor,
    body: &[u8],
    json: &JsonOptions,
) -> Result<DynamicMessage, TranscodeError> {
    if is_blank(body) {
        return Ok(DynamicMessage::new(desc.clone()));
    }
    check_structure(body, None)?;
    let mut de = serde_json::Deserializer::from_slice(body);
    let message = DynamicMessage::deserialize_with_options(
        desc.clone(),
        &mut de,
        &json.deserialize_options(),
    )
    .and_then(|message| de.end().map(|()| message))
    .map_err(|err| body_error(&err, body, None))?;
    Ok(message)
}

/// The value of `field` (a top-level field of `input`) from the body; `None` when the body is
/// blank or the JSON value leaves the field unset (e.g. `null`).
pub(crate) fn decode_field(
    input: &MessageDescriptor,
    field: &FieldDescriptor,
    body: &[u8],
    json: &JsonOptions,
) -> Result<Option<Value>, TranscodeError> {
    if is_blank(body) {
        return Ok(None);
    }
    check_structure(body, Some(field.name()))?;
    let mut de = serde_json::Deserializer::from_slice(body);
    let wrapped = SingleFieldDeserializer::new(field.json_name(), &mut de);
    let mut message = DynamicMessage::deserialize_with_options(
        input.clone(),
        wrapped,
        &json.deserialize_options(),
    )
    .and_then(|message| de.end().map(|()| message))
    .map_err(|err| body_error(&err, body, Some(field.name())))?;
    Ok(message.take_field(field))
}

/// Splits serde_json errors into syntax errors and data errors; for the latter, locates the
/// JSON path of the value that was being read (prost-reflect's messages do not name fields).
fn body_error(err: &serde_json::Error, body: &[u8], prefix: Option<&str>) -> TranscodeError {
    match err.classify() {
        Category::Syntax | Category::Eof => TranscodeError::MalformedJson {
            line: err.line(),
            column: err.column(),
            message: err.to_string(),
        },
        Category::Data | Category::Io => {
            let steps = match err.line() {
                0 => Vec::new(),
                line => json_scan::offset_of(body, line, err.column())
                    .map(|offset| json_scan::path_at(body, offset))
                    .unwrap_or_default(),
            };
            TranscodeError::InvalidBody {
                field: json_scan::render_path(prefix, &steps),
                message: err.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcoding::test_support::everything;

    fn whole(body: &str) -> Result<DynamicMessage, TranscodeError> {
        decode_whole(&everything(), body.as_bytes(), &JsonOptions::default())
    }

    fn field(name: &str, body: &str) -> Result<Option<Value>, TranscodeError> {
        let msg = everything();
        let field = msg.get_field_by_name(name).expect("field");
        decode_field(&msg, &field, body.as_bytes(), &JsonOptions::default())
    }

    #[test]
    fn blank_bodies_are_empty() {
        assert_eq!(whole("").expect("ok"), DynamicMessage::new(everything()));
        assert_eq!(whole(" \n").expect("ok"), DynamicMessage::new(everything()));
        assert_eq!(field("book", ""), Ok(None));
    }

    #[test]
    fn field_bodies_of_every_shape() {
        let book = field("book", r#"{"title": "T", "page_count": "12"}"#)
            .expect("ok")
            .expect("set");
        let book = book.as_message().expect("message");
        assert_eq!(
            book.get_field_by_name("title").expect("f").as_str(),
            Some("T")
        );
        assert_eq!(
            book.get_field_by_name("page_count").expect("f").as_i64(),
            Some(12)
        );

        let tags = field("tags", r#"["a", "b"]"#).expect("ok").expect("set");
        assert_eq!(
            tags,
            Value::List(vec![Value::String("a".into()), Value::String("b".into())])
        );
        let labels = field("labels", r#"{"k": "v"}"#).expect("ok").expect("set");
        assert_eq!(labels.as_map().map(|m| m.len()), Some(1));
        assert_eq!(
            field("name", r#""plain""#),
            Ok(Some(Value::String("plain".into())))
        );
        assert_eq!(field("i64", r#""-3""#), Ok(Some(Value::I64(-3))));
        assert_eq!(field("book", "null"), Ok(None));
    }

    #[test]
    fn trailing_content_is_rejected() {
        let err = field("name", r#""a", "i32": 5"#).expect_err("smuggling");
        assert!(matches!(err, TranscodeError::MalformedJson { .. }), "{err}");
        let err = whole(r#"{} {}"#).expect_err("two values");
        assert!(matches!(err, TranscodeError::MalformedJson { .. }), "{err}");
    }

    #[test]
    fn data_errors_name_the_field() {
        // Errors raised for a whole object (oneof clashes) are positioned after its closing
        // brace, so they name the object holding the oneof: nothing at the top level.
        let cases: &[(&str, Option<&str>, &str)] = &[
            (r#"{"i32": "abc"}"#, Some("i32"), "invalid digit"),
            (
                r#"{"book": {"author": {"age": true}}}"#,
                Some("book.author.age"),
                "expected a 32-bit signed integer",
            ),
            (
                r#"{"books": [{}, {"pageCount": []}]}"#,
                Some("books[1].pageCount"),
                "invalid type",
            ),
            (
                r#"{"color": "PURPLE"}"#,
                Some("color"),
                "unrecognized enum value 'PURPLE'",
            ),
            (
                r#"{"nope": 1}"#,
                Some("nope"),
                "unrecognized field name 'nope'",
            ),
            (
                r#"{"choiceText": "a", "choiceNumber": 1}"#,
                None,
                "multiple fields provided for oneof 'choice'",
            ),
            (r#"{"data": "***"}"#, Some("data"), "invalid base64"),
            (r#"{"when": "yesterday"}"#, Some("when"), ""),
        ];
        for (body, path, text) in cases {
            match whole(body) {
                Err(TranscodeError::InvalidBody { field, message }) => {
                    assert_eq!(field.as_deref(), *path, "{body}: {message}");
                    assert!(message.contains(text), "{body}: {message}");
                    assert!(message.contains("line 1 column"), "{body}: {message}");
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        match field("book", r#"{"title": 5}"#) {
            Err(TranscodeError::InvalidBody { field, .. }) => {
                assert_eq!(field.as_deref(), Some("book.title"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = whole("{\n  \"name\": \"a\",\n  \"i32\": 5,,\n}").expect_err("syntax");
        match &err {
            TranscodeError::MalformedJson {
                line,
                column,
                message,
            } => {
                assert_eq!(*line, 3);
                assert!(*column > 0);
                assert!(message.contains("line 3 column"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("request body is not valid JSON: "),
            "{err}"
        );
        let err = whole(r#"{"name": "unterminated"#).expect_err("eof");
        assert!(matches!(err, TranscodeError::MalformedJson { .. }), "{err}");
    }

    #[test]
    fn deep_bodies_are_rejected_before_parsing() {
        let deep = "[".repeat(100_000);
        assert_eq!(
            field("tags", &deep),
            Err(TranscodeError::BodyTooDeep {
                limit: MAX_JSON_DEPTH
            })
        );
        let deep_object = format!("{}{}", r#"{"extra": {"a": "#.repeat(50_000), "1");
        assert_eq!(
            whole(&deep_object).map(|_| ()),
            Err(TranscodeError::BodyTooDeep {
                limit: MAX_JSON_DEPTH
            })
        );
    }

    #[test]
    fn unknown_fields_can_be_ignored() {
        let lenient = JsonOptions {
            ignore_unknown_fields: true,
            ..JsonOptions::default()
        };
        let msg = decode_whole(
            &everything(),
            br#"{"nope": {"x": [1]}, "name": "n", "color": "PURPLE"}"#,
            &lenient,
        )
        .expect("lenient");
        assert_eq!(
            msg.get_field_by_name("name").expect("f").as_str(),
            Some("n")
        );
        assert!(!msg.has_field_by_name("color"));
    }
}
