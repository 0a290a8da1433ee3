//! Wiring: both demo services behind one tonic router, served on a caller-provided listener so
//! the gateway (or a test) picks the address and owns shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use super::greeter::DemoGreeter;
use super::pb::greeter_server::GreeterServer;
use super::pb::user_service_server::UserServiceServer;
use super::response_metadata::DemoResponseMetadata;
use super::store::UserStore;
use super::user_service::DemoUserService;

/// UserService and Greeter over a freshly seeded store.
pub fn routes() -> Routes {
    routes_with_store(Arc::new(UserStore::seeded()))
}

/// UserService (over `store`) and Greeter, each stamped with the demo header and trailer.
pub fn routes_with_store(store: Arc<UserStore>) -> Routes {
    Routes::new(DemoResponseMetadata::new(UserServiceServer::new(
        DemoUserService::new(store),
    )))
    .add_service(DemoResponseMetadata::new(GreeterServer::new(DemoGreeter)))
}

/// Serves [`routes`] on `listener` (HTTP/2 cleartext) until `shutdown` resolves, then drains
/// in-flight calls and returns. `GET /healthz` also answers over HTTP/1.1, for container
/// health checks that have curl but no gRPC client.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let with_health = routes().into_axum_router().route(
        "/healthz",
        axum::routing::get(|| async { r#"{"status":"ok"}"# }),
    );
    Server::builder()
        .accept_http1(true)
        .add_routes(Routes::from(with_health))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::pb::{GetUserRequest, HelloRequest};
    use super::super::test_support::TestServer;

    #[tokio::test]
    async fn serves_both_services_then_shuts_down() {
        let server = TestServer::start().await;
        let mut users = server.users().await;
        let mut greeter = server.greeter().await;
        users
            .get_user(GetUserRequest {
                user_id: "1".into(),
            })
            .await
            .expect("user service is routed");
        greeter
            .say_hello(HelloRequest::default())
            .await
            .expect("greeter is routed");
        drop((users, greeter));

        let addr = server.addr;
        tokio::time::timeout(Duration::from_secs(5), server.stop())
            .await
            .expect("serve returns after the shutdown signal")
            .expect("clean shutdown");
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "listener is closed"
        );
    }

    #[tokio::test]
    async fn each_server_has_its_own_store() {
        let a = TestServer::start().await;
        let b = TestServer::start().await;
        let mut a_users = a.users().await;
        a_users
            .delete_user(super::super::pb::DeleteUserRequest {
                user_id: "1".into(),
            })
            .await
            .expect("delete on a");
        b.users()
            .await
            .get_user(GetUserRequest {
                user_id: "1".into(),
            })
            .await
            .expect("b still has user 1");
    }
}
