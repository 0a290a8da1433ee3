//! Parts of the request path that the benchmarks and integration tests reach into directly:
//! path templates and matching, descriptor loading, request and reply transcoding, and the
//! figures memory bounds are computed from. Not an API for other crates: it follows the
//! gateway's internals wherever they go.

pub use crate::descriptors::load as load_descriptors;
pub use crate::routing::{Lookup, MultiSegmentDecoding, PathMatcher, PathTemplate};
pub use crate::streaming::STREAM_RESERVATION;
pub use crate::transcoding::{
    BodyRule, FieldPath, JsonOptions, RequestParts, WireJson, build_request, render_response,
};
pub use crate::upstream::STREAM_WINDOW;
pub use crate::upstream::metadata::grpc_timeout;
