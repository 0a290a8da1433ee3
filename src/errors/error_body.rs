//! The JSON wire shape of every error leaving the gateway:
//! `{"code", "message", "status", "detail"?, "details": [...]}`.
//!
//! Guarantees: keys are written in that order; `detail` is omitted when absent; `details` is
//! always present (possibly `[]`); each detail object is written with `"@type"` first regardless
//! of serde_json's map implementation; `to_json` never panics and always yields valid JSON.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

/// Borrowed view of an error, ready to serialize.
#[derive(Debug, serde::Serialize)]
pub struct ErrorBody<'a> {
    pub code: i32,
    pub message: &'a str,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
    #[serde(serialize_with = "serialize_details")]
    pub details: &'a [Value],
}

impl ErrorBody<'_> {
    /// The body as JSON bytes. Serializing plain strings, integers and `serde_json::Value`s
    /// cannot fail in practice; should it ever, a fixed INTERNAL body is returned instead so the
    /// client still gets valid JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| FALLBACK_BODY.as_bytes().to_vec())
    }
}

const FALLBACK_BODY: &str =
    r#"{"code":50000,"message":"failed to serialize error body","status":"INTERNAL","details":[]}"#;

fn serialize_details<S: Serializer>(details: &&[Value], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(details.iter().map(TypeFirst))
}

/// Writes an object's `"@type"` key before its other keys.
struct TypeFirst<'a>(&'a Value);

impl Serialize for TypeFirst<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Value::Object(object) = self.0 else {
            return self.0.serialize(serializer);
        };
        let Some(type_url) = object.get("@type") else {
            return self.0.serialize(serializer);
        };
        let mut map = serializer.serialize_map(Some(object.len()))?;
        map.serialize_entry("@type", type_url)?;
        for (key, value) in object.iter().filter(|(key, _)| key.as_str() != "@type") {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(body: &ErrorBody<'_>) -> String {
        String::from_utf8(body.to_json()).expect("utf-8 json")
    }

    #[test]
    fn keys_in_order_detail_omitted_details_present() {
        let body = ErrorBody {
            code: 10002,
            message: "user 42 not found",
            status: "NOT_FOUND",
            detail: None,
            details: &[],
        };
        assert_eq!(
            render(&body),
            r#"{"code":10002,"message":"user 42 not found","status":"NOT_FOUND","details":[]}"#
        );
    }

    #[test]
    fn detail_present_and_type_written_first() {
        // Keys that sort before '@' in a BTreeMap ('!' and '$'), to prove ordering is explicit.
        let details = [
            json!({"!early": 1, "$x": 2, "@type": "t/x.Y", "z": 3}),
            json!("scalar"),
        ];
        let body = ErrorBody {
            code: 1,
            message: "m",
            status: "INTERNAL",
            detail: Some("d"),
            details: &details,
        };
        assert_eq!(
            render(&body),
            r#"{"code":1,"message":"m","status":"INTERNAL","detail":"d","details":[{"@type":"t/x.Y","!early":1,"$x":2,"z":3},"scalar"]}"#
        );
    }

    #[test]
    fn hostile_strings_are_escaped() {
        let body = ErrorBody {
            code: 0,
            message: "\"}\n\u{0}<script>",
            status: "UNKNOWN",
            detail: Some("\u{fffd}"),
            details: &[],
        };
        let parsed: Value = serde_json::from_slice(&body.to_json()).expect("valid json");
        assert_eq!(parsed["message"], "\"}\n\u{0}<script>");
    }

    #[test]
    fn fallback_body_is_valid_json() {
        let parsed: Value = serde_json::from_str(FALLBACK_BODY).expect("valid json");
        assert_eq!(parsed["status"], "INTERNAL");
        assert_eq!(parsed["details"], json!([]));
    }
}
