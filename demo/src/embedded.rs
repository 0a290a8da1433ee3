//! What a gateway needs to know to route to the demo services in-process.

use super::{CHAT_SERVICE_NAME, GREETER_SERVICE_NAME, MEDIA_SERVICE_NAME, USER_SERVICE_NAME};

/// Every demo service, as named in [`super::DESCRIPTOR_SET`].
pub const SERVICE_NAMES: [&str; 4] = [
    USER_SERVICE_NAME,
    GREETER_SERVICE_NAME,
    CHAT_SERVICE_NAME,
    MEDIA_SERVICE_NAME,
];

/// Where the gateway serves [`STREAMING_PAGE`].
pub const STREAMING_PAGE_PATH: &str = "/demo/";

/// A tiny browser page served by the gateway when the demo is embedded: it receives a server
/// stream through `EventSource` and chats over a `WebSocket`, both through the gateway, and
/// writes what it got into `#result` (the browser test reads it).
pub const STREAMING_PAGE: &str = include_str!("page.html");
