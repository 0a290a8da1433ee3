//! A gRPC backend run in-process beside the gateway, for `[demo] embedded = true`: the binary
//! hands one in (the demo services), the gateway starts it on a loopback port, routes its
//! services to it, serves its page, and stops it after draining. The library itself knows
//! nothing of what it serves.

use std::future::Future;
use std::pin::Pin;

use tokio::net::TcpListener;

use crate::config::UpstreamConfig;

/// Resolves when the backend should stop accepting and drain.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Serving until [`Shutdown`] resolves and open calls finish.
pub type Serving =
    Pin<Box<dyn Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send>>;

/// Stands in for the backend's address where nothing is contacted (`check`, `routes`).
pub const PLACEHOLDER_ENDPOINT: &str = "http://127.0.0.1:50051";

/// Serves on a listener (h2c) until the shutdown future resolves.
pub type Serve = fn(TcpListener, Shutdown) -> Serving;

#[derive(Clone, Copy)]
pub struct EmbeddedBackend {
    /// Its upstream's name (logs, `/readyz`).
    pub name: &'static str,
    /// The gRPC services it serves, all routed to it.
    pub services: &'static [&'static str],
    /// Encoded `FileDescriptorSet` of its protos, `google.api.http` options included.
    pub descriptor_set: &'static [u8],
    /// Serves on `listener` (h2c) until the shutdown future resolves.
    pub serve: Serve,
    /// Named versions of the backend that `h2gate demo-backend --version NAME` can serve
    /// instead (the default one included, under its name); empty when there is only `serve`.
    pub versions: &'static [(&'static str, Serve)],
    /// A page the gateway serves beside the routes: (path, HTML).
    pub page: Option<(&'static str, &'static str)>,
}

impl EmbeddedBackend {
    /// The upstream entry for this backend listening at `endpoint`. Timeouts are generous: the
    /// demo has calls that sleep or stream slowly on request.
    pub fn upstream_config(&self, endpoint: &str) -> UpstreamConfig {
        let services = self.services.iter().map(|&s| s.to_owned()).collect();
        UpstreamConfig::new(self.name, vec![endpoint.to_owned()], services)
    }
}

impl std::fmt::Debug for EmbeddedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBackend")
            .field("name", &self.name)
            .field("services", &self.services)
            .field(
                "versions",
                &self
                    .versions
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_nothing(_: TcpListener, _: Shutdown) -> Serving {
        Box::pin(async { Ok(()) })
    }

    #[test]
    fn routes_every_service_to_the_endpoint() {
        let backend = EmbeddedBackend {
            name: "demo",
            services: &["a.v1.A", "b.v1.B"],
            descriptor_set: &[],
            serve: serve_nothing,
            versions: &[],
            page: None,
        };
        let config = backend.upstream_config(PLACEHOLDER_ENDPOINT);
        assert_eq!(config.name, "demo");
        assert_eq!(config.endpoints, [PLACEHOLDER_ENDPOINT]);
        let services: Vec<_> = config.services.iter().map(|s| s.get_ref()).collect();
        assert_eq!(services, ["a.v1.A", "b.v1.B"]);
    }
}
