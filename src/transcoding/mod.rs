//! JSON ⇄ protobuf transcoding per `google.api.HttpRule`: the request side (path variables,
//! query parameters and body into the input message) and, in `response`, the reply side.
//!
//! Everything that can be checked once per route (field paths bound by the URL template, the body
//! selector) is resolved at start-up into [`FieldPath`] and [`BodyRule`]; per request,
//! [`build_request`] turns path bindings, the query string and the body into a
//! `prost_reflect::DynamicMessage` or a [`TranscodeError`] a client can act on.
//!
//! Order of application (and why): the body first, then path variables (which must agree with
//! anything the body set for the same field), then query parameters (which may only touch fields
//! bound by neither), then — for PATCH — the derived update mask (so an explicit mask wins).

mod body_rule;
mod build_request;
mod field_mask_from_body;
mod field_path;
mod http_body;
mod json_body;
mod json_options;
mod json_scan;
mod message_path;
mod query_params;
mod query_string;
mod request_side;
mod resolve_error;
mod response;
mod route_rules;
mod single_field_deserializer;
mod text_value;
mod transcode_error;
mod transcoder;
mod well_known;
mod wire_json;
#[cfg(test)]
mod wire_json_tests;

#[cfg(test)]
mod test_request;
#[cfg(test)]
mod test_support;

pub use body_rule::BodyRule;
pub use build_request::{RequestParts, build_request};
pub use field_path::FieldPath;
pub use json_options::JsonOptions;
pub use request_side::RequestSide;
pub use resolve_error::ResolveError;
pub use response::{RenderedBody, render_response};
pub use route_rules::{RouteRules, RuleError};
pub use transcode_error::TranscodeError;
pub use transcoder::Transcoder;
pub use wire_json::WireJson;
