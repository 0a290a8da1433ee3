//! Update-mask derivation for PATCH: when a PATCH maps its body to one message field and the
//! client did not send a mask, the mask lists the fields present in the body, so partial updates
//! work without clients spelling out `update_mask` (grpc-gateway's "patch feature").
//!
//! Paths are relative to the body field (as grpc-gateway's `FieldMaskFromRequestBody(body,
//! protoReq.<field>)`), in proto names, sorted and deduplicated. Recursion follows nested JSON
//! objects of plain message fields only; maps, repeated fields, well-known types (Struct, Any,
//! Timestamp, wrappers…), `null`, and empty objects are leaves (an empty object or `null` names
//! the field itself: the client mentioned it, so it is to be replaced/cleared).

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::Value as Json;

use super::well_known::{FIELD_MASK, is_well_known};

/// The request's update-mask field: its only top-level singular `google.protobuf.FieldMask`
/// field. With none or several there is nothing unambiguous to fill, so no derivation happens.
pub(crate) fn update_mask_field(input: &MessageDescriptor) -> Option<FieldDescriptor> {
    let mut masks = input.fields().filter(|field| {
        !field.is_list() && matches!(field.kind(), Kind::Message(m) if m.full_name() == FIELD_MASK)
    });
    match (masks.next(), masks.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// Field-mask paths for the JSON object `body` read as message `desc`. JSON keys that name no
/// field are skipped (the body parser has already rejected them unless unknown fields are ignored).
pub(crate) fn derive_paths(desc: &MessageDescriptor, body: &Json) -> Vec<String> {
    let mut paths = Vec::new();
    collect(desc, body, "", &mut paths);
    paths.sort();
    paths.dedup();
    paths
}

fn collect(desc: &MessageDescriptor, node: &Json, prefix: &str, out: &mut Vec<String>) {
    let Json::Object(object) = node else {
        return;
    };
    for (key, value) in object {
        let Some(field) = desc
            .get_field_by_json_name(key)
            .or_else(|| desc.get_field_by_name(key))
        else {
            continue;
        };
        let path = format!("{prefix}{}", field.name());
        match (field.kind(), value) {
            (Kind::Message(inner), Json::Object(children))
                if !field.is_list()
                    && !field.is_map()
                    && !is_well_known(&inner)
                    && !children.is_empty() =>
            {
                collect(&inner, value, &format!("{path}."), out);
            }
            _ => out.push(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcoding::test_support::{everything, message};

    #[test]
    fn finds_the_single_mask_field() {
        let update = message("test.v1.UpdateBookRequest");
        assert_eq!(
            update_mask_field(&update).map(|f| f.name().to_owned()),
            Some("update_mask".into())
        );
        assert!(update_mask_field(&message("test.v1.TwoMasksRequest")).is_none());
        assert!(update_mask_field(&message("test.v1.Book")).is_none());
        assert!(update_mask_field(&everything()).is_some());
    }

    #[test]
    fn derives_paths_from_json_keys() {
        let book = message("test.v1.Book");
        let cases: &[(&str, &[&str])] = &[
            ("{}", &[]),
            (r#"{"title": "T"}"#, &["title"]),
            (
                r#"{"title": "", "author": {"displayName": "A", "address": {"zip_code": "1"}}}"#,
                &["author.address.zip_code", "author.display_name", "title"],
            ),
            (r#"{"author": {}}"#, &["author"]),
            (r#"{"author": null}"#, &["author"]),
            (
                r#"{"ratings": {"a": 1}, "tags": ["x"]}"#,
                &["ratings", "tags"],
            ),
            (r#"{"metadata": {"deep": {"x": 1}}}"#, &["metadata"]),
            (
                r#"{"publishTime": "2024-01-01T00:00:00Z", "subtitle": "s"}"#,
                &["publish_time", "subtitle"],
            ),
            (r#"{"editors": [{"age": 3}]}"#, &["editors"]),
            (r#"{"unknownKey": 1, "page_count": "3"}"#, &["page_count"]),
            (r#"{"title": "a", "title": "b"}"#, &["title"]),
            ("[1]", &[]),
        ];
        for (json, expected) in cases {
            let body: Json = serde_json::from_str(json).expect("test JSON");
            assert_eq!(derive_paths(&book, &body), *expected, "{json}");
        }
    }
}
