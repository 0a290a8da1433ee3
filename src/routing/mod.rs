//! Routing: from an HTTP method and path to the gRPC method that serves it.
//!
//! `template*` parse `google.api.http` path templates once, `percent` decodes bound values,
//! `matcher` (over `trie` and `request_path`) finds the most specific template for a request,
//! `http_rule` and `rule_sources` gather the rules, and `route_table` resolves them against the
//! descriptors at start-up.
//!
//! Behaviour follows `google/api/http.proto` and, where it is silent, Envoy's
//! grpc-httpjson-transcoding library; each module documents the exact rules it implements.

pub mod http_rule;
mod matcher;
mod percent;
mod request_path;
pub mod route_table;
pub mod rule_sources;
mod template;
mod template_error;
mod template_parser;
mod trie;

pub use http_rule::HttpRuleSpec;
pub use matcher::{Lookup, PathMatcher, RouteMatch};
pub use percent::MultiSegmentDecoding;
pub use route_table::{CallKind, Route, RouteTable, TrafficId, UpstreamId};
pub use template::PathTemplate;
pub use template_error::TemplateError;
