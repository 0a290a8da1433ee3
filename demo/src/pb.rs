//! Rust types generated at build time from `proto/` (see `build.rs`). The module tree mirrors the
//! protobuf packages because prost emits cross-package references as relative `super::` paths.

/// googleapis packages used by the demo protos.
pub mod google {
    /// `google.api` (HttpRule, HttpBody).
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod api {
        tonic::include_proto!("google.api");
    }
    /// `google.rpc` (Status, BadRequest and the other error details).
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
}

/// The `demo` packages.
pub mod demo {
    /// `demo.v1`: UserService, Greeter, ChatService and MediaService messages, clients and
    /// servers.
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("demo.v1");
    }
}

pub use demo::v1::*;
