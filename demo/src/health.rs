//! `grpc.health.v1.Health` (tonic-health), what a gateway's active health checks ask: SERVING
//! for the server (`""`) and for every demo service, until whoever holds a [`DemoHealth`]
//! clone says otherwise.
//!
//! tonic-health's reporter registers only `""` when created, and registering the services is
//! async; so the services are registered on first use (the first check, watch or change of
//! status), and a status set before any check is never overwritten by that registration.

use std::sync::Arc;

use tokio::sync::OnceCell;
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::{HealthReporter, HealthService, WatchStream};

use super::embedded::SERVICE_NAMES;

/// The health statuses one demo server reports; clones share them.
#[derive(Debug, Clone, Default)]
pub struct DemoHealth {
    reporter: HealthReporter,
    registered: Arc<OnceCell<()>>,
}

impl DemoHealth {
    /// Everything SERVING.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `""` and every demo service to SERVING (`true`) or NOT_SERVING (`false`).
    pub async fn set_serving(&self, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        let reporter = self.reporter().await;
        for service in std::iter::once("").chain(SERVICE_NAMES) {
            reporter.set_service_status(service, status).await;
        }
    }

    /// tonic-health's reporter, for changing one service's status; every demo service is
    /// registered by then.
    pub async fn reporter(&self) -> &HealthReporter {
        self.registered
            .get_or_init(|| async {
                for service in SERVICE_NAMES {
                    self.reporter
                        .set_service_status(service, ServingStatus::Serving)
                        .await;
                }
            })
            .await;
        &self.reporter
    }

    /// The gRPC service answering from these statuses.
    pub fn service(&self) -> HealthServer<Self> {
        HealthServer::new(self.clone())
    }

    async fn inner(&self) -> HealthService {
        HealthService::from_health_reporter(self.reporter().await.clone())
    }
}

#[tonic::async_trait]
impl Health for DemoHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.inner().await.check(request).await
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        self.inner().await.watch(request).await
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic_health::pb::health_check_response::ServingStatus as Wire;
    use tonic_health::pb::health_client::HealthClient;

    use super::super::server::ServeOptions;
    use super::super::test_support::TestServer;
    use super::*;

    async fn status(client: &mut HealthClient<tonic::transport::Channel>, service: &str) -> Wire {
        let reply = client
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|status| panic!("Check({service:?}): {status}"));
        reply.into_inner().status()
    }

    #[tokio::test]
    async fn serving_for_the_server_and_every_service_until_flipped() {
        let health = DemoHealth::new();
        let server = TestServer::start_with(ServeOptions {
            health: health.clone(),
            ..ServeOptions::default()
        })
        .await;
        let mut client = HealthClient::new(server.channel().await);
        for service in std::iter::once("").chain(SERVICE_NAMES) {
            assert_eq!(
                status(&mut client, service).await,
                Wire::Serving,
                "{service:?}"
            );
        }

        health.set_serving(false).await;
        for service in std::iter::once("").chain(SERVICE_NAMES) {
            assert_eq!(
                status(&mut client, service).await,
                Wire::NotServing,
                "{service:?}"
            );
        }

        health.set_serving(true).await;
        assert_eq!(status(&mut client, "").await, Wire::Serving);
    }

    #[tokio::test]
    async fn an_unknown_service_is_not_found() {
        let server = TestServer::start().await;
        let mut client = HealthClient::new(server.channel().await);
        let err = client
            .check(HealthCheckRequest {
                service: "demo.v1.Nope".into(),
            })
            .await
            .expect_err("not registered");
        assert_eq!(err.code(), Code::NotFound);
    }

    #[tokio::test]
    async fn one_service_can_be_flipped_alone_even_before_the_first_check() {
        let health = DemoHealth::new();
        health
            .reporter()
            .await
            .set_service_status(SERVICE_NAMES[0], ServingStatus::NotServing)
            .await;
        let server = TestServer::start_with(ServeOptions {
            health: health.clone(),
            ..ServeOptions::default()
        })
        .await;
        let mut client = HealthClient::new(server.channel().await);
        assert_eq!(
            status(&mut client, SERVICE_NAMES[0]).await,
            Wire::NotServing
        );
        assert_eq!(status(&mut client, SERVICE_NAMES[1]).await, Wire::Serving);
        assert_eq!(status(&mut client, "").await, Wire::Serving);
    }
}
