//! Per-route JSON mapping options, as configured, and their translation into prost-reflect's
//! serde options so the request and response sides cannot disagree on what a flag means.

use prost_reflect::{DeserializeOptions, SerializeOptions};
use serde::Deserialize;

/// JSON mapping options. Unknown configuration keys are rejected so that a typo in the
/// configuration does not silently fall back to a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct JsonOptions {
    /// Emit fields that hold their default value in responses.
    pub emit_unpopulated: bool,
    /// Use proto field names (`display_name`) instead of lowerCamel JSON names in responses.
    pub use_proto_names: bool,
    /// Skip unknown JSON fields, unknown enum names and unknown query parameters instead of
    /// rejecting the request.
    pub ignore_unknown_fields: bool,
}

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            emit_unpopulated: true,
            use_proto_names: false,
            ignore_unknown_fields: false,
        }
    }
}

impl JsonOptions {
    /// Options for parsing request bodies.
    pub fn deserialize_options(&self) -> DeserializeOptions {
        DeserializeOptions::new().deny_unknown_fields(!self.ignore_unknown_fields)
    }

    /// Options for rendering response bodies; 64-bit integers are always strings, as the proto3
    /// JSON mapping requires (JavaScript clients lose precision otherwise).
    pub fn serialize_options(&self) -> SerializeOptions {
        SerializeOptions::new()
            .skip_default_fields(!self.emit_unpopulated)
            .use_proto_field_name(self.use_proto_names)
            .stringify_64_bit_integers(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documented_values() {
        let parsed: JsonOptions = serde_json::from_str("{}").expect("empty config parses");
        assert_eq!(parsed, JsonOptions::default());
        assert!(parsed.emit_unpopulated);
        assert!(!parsed.use_proto_names);
        assert!(!parsed.ignore_unknown_fields);
    }

    #[test]
    fn snake_case_keys_are_read() {
        let parsed: JsonOptions = serde_json::from_str(
            r#"{"emit_unpopulated": false, "use_proto_names": true, "ignore_unknown_fields": true}"#,
        )
        .expect("config parses");
        assert_eq!(
            parsed,
            JsonOptions {
                emit_unpopulated: false,
                use_proto_names: true,
                ignore_unknown_fields: true
            }
        );
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(serde_json::from_str::<JsonOptions>(r#"{"emitUnpopulated": true}"#).is_err());
    }

    #[test]
    fn serialize_options_follow_the_flags() {
        let pool = crate::transcoding::test_support::pool();
        let desc = pool
            .get_message_by_name("test.v1.Book")
            .expect("test message");
        let mut msg = prost_reflect::DynamicMessage::new(desc);
        msg.set_field_by_name("page_count", prost_reflect::Value::I64(7));

        let render = |options: JsonOptions| {
            let mut ser = serde_json::Serializer::new(Vec::new());
            msg.serialize_with_options(&mut ser, &options.serialize_options())
                .expect("serializes");
            String::from_utf8(ser.into_inner()).expect("utf8")
        };
        let compact = render(JsonOptions {
            emit_unpopulated: false,
            ..JsonOptions::default()
        });
        assert_eq!(compact, r#"{"pageCount":"7"}"#);
        let full = render(JsonOptions {
            use_proto_names: true,
            ..JsonOptions::default()
        });
        assert!(full.contains(r#""page_count":"7""#), "{full}");
        assert!(full.contains(r#""title":"""#), "{full}");
    }
}
