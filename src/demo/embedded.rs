//! How the gateway routes to the demo services when `[demo] embedded = true`.

use crate::config::UpstreamConfig;

use super::{CHAT_SERVICE_NAME, GREETER_SERVICE_NAME, MEDIA_SERVICE_NAME, USER_SERVICE_NAME};

/// Stands in for the demo's address where nothing is contacted (`check`, `routes`).
pub const PLACEHOLDER_ENDPOINT: &str = "http://127.0.0.1:50051";

/// The upstream entry for the in-process demo listening at `endpoint`.
pub fn upstream_config(endpoint: &str) -> UpstreamConfig {
    UpstreamConfig {
        name: "demo".to_owned(),
        endpoints: vec![endpoint.to_owned()],
        services: vec![
            USER_SERVICE_NAME.to_owned(),
            GREETER_SERVICE_NAME.to_owned(),
            CHAT_SERVICE_NAME.to_owned(),
            MEDIA_SERVICE_NAME.to_owned(),
        ],
        timeout_ms: 15_000,
        stream_idle_timeout_ms: 300_000,
        ca_cert: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_every_demo_service_to_the_endpoint() {
        let config = upstream_config(PLACEHOLDER_ENDPOINT);
        assert_eq!(config.endpoints, [PLACEHOLDER_ENDPOINT]);
        assert_eq!(
            config.services,
            [
                "demo.v1.UserService",
                "demo.v1.Greeter",
                "demo.v1.ChatService",
                "demo.v1.MediaService"
            ]
        );
    }
}
