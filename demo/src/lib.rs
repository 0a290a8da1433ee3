//! Demo gRPC services that h2gate runs in-process by default and that its tests call through the
//! gateway: a `demo.v1.UserService` (REST-annotated CRUD, field masks, `HttpBody` avatars, rich
//! `google.rpc.BadRequest` errors, paging, a paced server stream and an all-or-nothing client
//! stream), a `demo.v1.Greeter` (no annotations; echoes request metadata and fails or sleeps on
//! demand), a `demo.v1.ChatService` (bidirectional echo) and a `demo.v1.MediaService` (large
//! generated downloads, summarized uploads). Beside them runs the standard
//! `grpc.health.v1.Health` service, SERVING for `""` and every demo service until the holder of
//! the server's [`DemoHealth`] flips it (what a gateway's active health checks see).
//!
//! Every response carries the header `x-served-by: h2gate-demo` (v1's, see below) and the
//! trailer `x-demo-trailer: done` so header/trailer forwarding is observable from the HTTP side.
//! Response streams are produced on demand and report to a [`StreamProbe`], so gateway tests can
//! check backpressure and cancellation from the backend's side.
//!
//! The demo comes in two versions ([`DemoVersion`], `h2gate demo-backend --version v2`), to
//! watch traffic move between them. v2 serves the same services with one visible difference
//! in every reply: each `User` it returns carries the tag `"v2"` as the last of its `tags`
//! ([`V2_TAG`]), and `x-served-by` says `h2gate-demo-v2` ([`SERVED_BY_VALUE_V2`]). Through the
//! gateway:
//!
//! ```text
//! curl -k https://localhost:8443/v1/users/42 -v
//! < grpc-metadata-x-served-by: h2gate-demo-v2
//! {"userId":"42","name":"Ada Lovelace",...,"tags":[...,"v2"]}
//! ```

mod avatar;
mod chat;
mod download;
mod embedded;
mod errors;
mod greeter;
mod health;
mod lazy_stream;
mod media;
mod media_data;
mod page_token;
pub mod pb;
mod response_metadata;
mod server;
mod store;
mod stream_probe;
mod upload;
mod user_fields;
mod user_import;
mod user_service;
mod user_stream;
mod validation;
mod version;

#[cfg(test)]
mod test_support;

pub use chat::{CHAT_SERVER_USER, DemoChatService};
pub use download::{DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES, MAX_DOWNLOAD_BYTES};
pub use embedded::{SERVICE_NAMES, STREAMING_PAGE, STREAMING_PAGE_PATH};
pub use errors::{BAD_REQUEST_TYPE_URL, DemoError, REJECTED_CHAT_TEXT, decode_bad_request};
pub use greeter::{DemoGreeter, MAX_DELAY_MS};
pub use health::DemoHealth;
pub use lazy_stream::ResponseStream;
pub use media::DemoMediaService;
pub use media_data::{Fnv1a32, PATTERN_PERIOD, fnv1a32, pattern_bytes};
pub use response_metadata::{
    DemoResponseMetadata, SERVED_BY_HEADER, SERVED_BY_VALUE, TRAILER_NAME, TRAILER_VALUE,
};
pub use server::{
    ServeOptions, routes, routes_with, routes_with_probe, routes_with_store, serve, serve_with,
    serve_with_probe,
};
pub use store::UserStore;
pub use stream_probe::StreamProbe;
pub use user_import::MAX_IMPORT_USERS;
pub use user_service::{DEFAULT_PAGE_SIZE, DemoUserService, MAX_AVATAR_BYTES, MAX_PAGE_SIZE};
pub use user_stream::{MAX_PADDING_BYTES, MAX_STREAM_COUNT, MAX_STREAM_INTERVAL_MS};
pub use version::{DemoVersion, SERVED_BY_VALUE_V2, UnknownVersion, V2_TAG};

/// Encoded `google.protobuf.FileDescriptorSet` of the demo protos and all their imports
/// (googleapis + well-known types), exactly as protox produced it: custom options such as
/// `google.api.http` are preserved, so the gateway can derive its REST routes from it.
pub const DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/demo_descriptor.bin"));

/// Fully-qualified gRPC service names, as they appear in [`DESCRIPTOR_SET`].
pub const USER_SERVICE_NAME: &str = "demo.v1.UserService";
/// See [`USER_SERVICE_NAME`].
pub const GREETER_SERVICE_NAME: &str = "demo.v1.Greeter";
/// See [`USER_SERVICE_NAME`].
pub const CHAT_SERVICE_NAME: &str = "demo.v1.ChatService";
/// See [`USER_SERVICE_NAME`].
pub const MEDIA_SERVICE_NAME: &str = "demo.v1.MediaService";

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
        let u = USER_SERVICE_NAME;
        let cases = [
            (u, "GetUser", "GET /v1/users/{user_id}", ""),
            (u, "CreateUser", "POST /v1/users", "*"),
            (u, "UpdateUser", "PATCH /v1/users/{user.user_id}", "user"),
            (u, "DeleteUser", "DELETE /v1/users/{user_id}", ""),
            (u, "ListUsers", "GET /v1/users", ""),
            (u, "GetAvatar", "GET /v1/users/{user_id}/avatar", ""),
            (u, "UploadAvatar", "POST /v1/users/{user_id}/avatar", "file"),
            (u, "StreamUsers", "GET /v1/users:stream", ""),
            (u, "ImportUsers", "POST /v1/users:import", "*"),
            (CHAT_SERVICE_NAME, "Chat", "POST /v1/rooms/{room}:chat", "*"),
            (
                MEDIA_SERVICE_NAME,
                "Download",
                "GET /v1/media/{name}:download",
                "",
            ),
            (
                MEDIA_SERVICE_NAME,
                "Upload",
                "POST /v1/media/{name}:upload",
                "*",
            ),
        ];
        for (service, method, route, body) in cases {
            assert_eq!(
                http_rule(&pool, service, method),
                Some((route.to_owned(), body.to_owned())),
                "{method}"
            );
        }
        assert_eq!(http_rule(&pool, GREETER_SERVICE_NAME, "SayHello"), None);
    }

    #[test]
    fn descriptor_set_marks_streaming_methods() {
        let pool = DescriptorPool::decode(DESCRIPTOR_SET).expect("valid descriptor set");
        // (service, method, client streams, server streams)
        let cases = [
            (USER_SERVICE_NAME, "GetUser", false, false),
            (USER_SERVICE_NAME, "StreamUsers", false, true),
            (USER_SERVICE_NAME, "ImportUsers", true, false),
            (CHAT_SERVICE_NAME, "Chat", true, true),
            (MEDIA_SERVICE_NAME, "Download", false, true),
            (MEDIA_SERVICE_NAME, "Upload", true, false),
        ];
        for (service, method, client, server) in cases {
            let method = pool
                .get_service_by_name(service)
                .and_then(|s| s.methods().find(|m| m.name() == method))
                .unwrap_or_else(|| panic!("{service}.{method} exists"));
            assert_eq!(
                (method.is_client_streaming(), method.is_server_streaming()),
                (client, server),
                "{}",
                method.full_name()
            );
        }
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
