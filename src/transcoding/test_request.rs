//! Test-only harness that runs `build_request` from string-level descriptions of a request
//! (message name, body selector, path bindings, query, body) and renders results as JSON.

use prost_reflect::{DynamicMessage, SerializeOptions};

use super::test_support::message;
use super::{BodyRule, FieldPath, JsonOptions, RequestParts, TranscodeError, build_request};

pub(crate) const EVERYTHING: &str = "test.v1.Everything";

#[derive(Clone)]
pub(crate) struct Req<'a> {
    pub(crate) msg: &'a str,
    pub(crate) body_rule: &'a str,
    pub(crate) path: &'a [(&'a str, &'a str)],
    pub(crate) query: Option<&'a str>,
    pub(crate) body: &'a [u8],
    pub(crate) content_type: Option<&'a str>,
    pub(crate) is_patch: bool,
    pub(crate) json: JsonOptions,
}

impl Default for Req<'_> {
    fn default() -> Self {
        Req {
            msg: EVERYTHING,
            body_rule: "",
            path: &[],
            query: None,
            body: b"",
            content_type: None,
            is_patch: false,
            json: JsonOptions::default(),
        }
    }
}

pub(crate) fn run(req: &Req<'_>) -> Result<DynamicMessage, TranscodeError> {
    let input = message(req.msg);
    let rule = BodyRule::resolve(&input, req.body_rule).expect("body rule resolves");
    let paths: Vec<FieldPath> = req
        .path
        .iter()
        .map(|(p, _)| {
            FieldPath::resolve_path_variable(&input, &p.split('.').collect::<Vec<_>>())
                .expect("path variable resolves")
        })
        .collect();
    let bindings: Vec<(&FieldPath, &str)> = paths
        .iter()
        .zip(req.path)
        .map(|(p, (_, v))| (p, *v))
        .collect();
    let parts = RequestParts {
        path: &bindings,
        query: req.query,
        body: req.body,
        content_type: req.content_type,
        is_patch: req.is_patch,
    };
    build_request(&input, &rule, &parts, &req.json)
}

/// The message as proto3 JSON with proto field names and defaults skipped.
pub(crate) fn to_json(msg: &DynamicMessage) -> serde_json::Value {
    let options = SerializeOptions::new().use_proto_field_name(true);
    msg.serialize_with_options(serde_json::value::Serializer, &options)
        .expect("serializes")
}

pub(crate) fn ok(req: &Req<'_>) -> serde_json::Value {
    match run(req) {
        Ok(msg) => to_json(&msg),
        Err(err) => panic!("unexpected error: {err}"),
    }
}

pub(crate) fn query(q: &str) -> Req<'_> {
    Req {
        query: Some(q),
        ..Req::default()
    }
}
