//! Demo gRPC services that h2gate runs in-process by default and that its tests call through the
//! gateway: a `demo.v1.UserService` (REST-annotated CRUD, field masks, `HttpBody` avatars, rich
//! `google.rpc.BadRequest` errors, paging) and a `demo.v1.Greeter` (no annotations; echoes request
//! metadata and fails or sleeps on demand).
//!
//! Every response carries the header `x-served-by: h2gate-demo` and the trailer
//! `x-demo-trailer: done` so header/trailer forwarding is observable from the HTTP side.

mod avatar;
mod embedded;
mod errors;
mod greeter;
mod page_token;
pub mod pb;
mod response_metadata;
mod server;
mod store;
mod user_fields;
mod user_service;
mod validation;

#[cfg(test)]
mod test_support;

pub use embedded::{PLACEHOLDER_ENDPOINT, upstream_config};
pub use errors::{BAD_REQUEST_TYPE_URL, DemoError, decode_bad_request};
pub use greeter::{DemoGreeter, MAX_DELAY_MS};
pub use response_metadata::{
    DemoResponseMetadata, SERVED_BY_HEADER, SERVED_BY_VALUE, TRAILER_NAME, TRAILER_VALUE,
};
pub use server::{routes, routes_with_store, serve};
pub use store::UserStore;
pub use user_service::{DEFAULT_PAGE_SIZE, DemoUserService, MAX_AVATAR_BYTES, MAX_PAGE_SIZE};

/// Encoded `google.protobuf.FileDescriptorSet` of the demo protos and all their imports
/// (googleapis + well-known types), exactly as protox produced it: custom options such as
/// `google.api.http` are preserved, so the gateway can derive its REST routes from it.
pub const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/demo_descriptor.bin"));

/// Fully-qualified gRPC service names, as they appear in [`DESCRIPTOR_SET`].
pub const USER_SERVICE_NAME: &str = "demo.v1.UserService";
/// See [`USER_SERVICE_NAME`].
pub const GREETER_SERVICE_NAME: &str = "demo.v1.Greeter";

#[cfg(test)]
mod tests {
    use prost_reflect::{DescriptorPool, Value};

    use super::*;

    fn http_rule(pool: &DescriptorPool, service: &str, method: &str) -> Option<(String, String)> {
        let method = pool
            .get_service_by_name(service)?
            .methods()
            .find(|m| m.name() == method)?;
        let ext = pool.get_extension_by_name("google.api.http")?;
        let options = method.options();
        if !options.has_extension(&ext) {
            return None;
        }
        let rule = options.get_extension(&ext);
        let Value::Message(rule) = rule.as_ref() else {
            return None;
        };
        let (verb, path) = ["get", "put", "post", "delete", "patch"]
            .into_iter()
            .find_map(|verb| {
                rule.get_field_by_name(verb)
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .filter(|p| !p.is_empty())
                    .map(|p| (verb, p))
            })?;
        let body = rule
            .get_field_by_name("body")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        Some((format!("{} {path}", verb.to_uppercase()), body))
    }

    #[test]
    fn descriptor_set_keeps_http_annotations() {
        let pool = DescriptorPool::decode(DESCRIPTOR_SET).expect("valid descriptor set");
        let cases = [
            ("GetUser", "GET /v1/users/{user_id}", ""),
            ("CreateUser", "POST /v1/users", "*"),
            ("UpdateUser", "PATCH /v1/users/{user.user_id}", "user"),
            ("DeleteUser", "DELETE /v1/users/{user_id}", ""),
            ("ListUsers", "GET /v1/users", ""),
            ("GetAvatar", "GET /v1/users/{user_id}/avatar", ""),
            ("UploadAvatar", "POST /v1/users/{user_id}/avatar", "file"),
        ];
        for (method, route, body) in cases {
            assert_eq!(
                http_rule(&pool, USER_SERVICE_NAME, method),
                Some((route.to_owned(), body.to_owned())),
                "{method}"
            );
        }
        assert_eq!(http_rule(&pool, GREETER_SERVICE_NAME, "SayHello"), None);
    }

    #[test]
    fn descriptor_set_has_error_detail_types() {
        let pool = DescriptorPool::decode(DESCRIPTOR_SET).expect("valid descriptor set");
        for name in [
            "google.rpc.Status",
            "google.rpc.BadRequest",
            "google.api.HttpBody",
            "google.protobuf.FieldMask",
        ] {
            assert!(pool.get_message_by_name(name).is_some(), "{name}");
        }
        assert!(pool.get_enum_by_name("google.rpc.Code").is_some());
    }
}
