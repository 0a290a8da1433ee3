//! Wiring: all demo services behind one tonic router, served on a caller-provided listener so
//! the gateway (or a test) picks the address and owns shutdown. [`ServeOptions`] is what a
//! caller may set about a server: which version it runs, and handles to observe its streams
//! and to flip its health.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use super::chat::DemoChatService;
use super::greeter::DemoGreeter;
use super::health::DemoHealth;
use super::media::DemoMediaService;
use super::pb::chat_service_server::ChatServiceServer;
use super::pb::greeter_server::GreeterServer;
use super::pb::media_service_server::MediaServiceServer;
use super::pb::user_service_server::UserServiceServer;
use super::response_metadata::DemoResponseMetadata;
use super::store::UserStore;
use super::stream_probe::StreamProbe;
use super::user_service::DemoUserService;
use super::version::DemoVersion;

/// How a demo server runs. The handles are shared: the caller keeps clones to watch the
/// server's streams (`probe`) and to flip what its health service says (`health`).
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub version: DemoVersion,
    pub probe: StreamProbe,
    pub health: DemoHealth,
}

/// All demo services over a freshly seeded store.
pub fn routes() -> Routes {
    routes_with_store(Arc::new(UserStore::seeded()))
}

/// All demo services, UserService over `store`; streams report to a private probe.
pub fn routes_with_store(store: Arc<UserStore>) -> Routes {
    routes_with_probe(store, StreamProbe::new())
}

/// [`routes_with`] v1, its response streams reporting to `probe`, its health SERVING.
pub fn routes_with_probe(store: Arc<UserStore>, probe: StreamProbe) -> Routes {
    routes_with(
        store,
        &ServeOptions {
            probe,
            ..ServeOptions::default()
        },
    )
}

/// UserService (over `store`), Greeter, ChatService, MediaService and `grpc.health.v1.Health`,
/// each stamped with the header and trailer of `options.version`; their response streams
/// report to `options.probe`, and the health service answers from `options.health`.
pub fn routes_with(store: Arc<UserStore>, options: &ServeOptions) -> Routes {
    let ServeOptions {
        version,
        probe,
        health,
    } = options;
    let served_by = version.served_by();
    let users = DemoUserService::with_probe(store, probe.clone()).with_version(*version);
    Routes::new(DemoResponseMetadata::served_by(
        UserServiceServer::new(users),
        served_by,
    ))
    .add_service(DemoResponseMetadata::served_by(
        GreeterServer::new(DemoGreeter),
        served_by,
    ))
    .add_service(DemoResponseMetadata::served_by(
        ChatServiceServer::new(DemoChatService::new(probe.clone())),
        served_by,
    ))
    .add_service(DemoResponseMetadata::served_by(
        MediaServiceServer::new(DemoMediaService::new(probe.clone())),
        served_by,
    ))
    .add_service(DemoResponseMetadata::served_by(health.service(), served_by))
}

/// Serves [`routes`] on `listener` (HTTP/2 cleartext) until `shutdown` resolves, then drains
/// in-flight calls and returns. `GET /healthz` also answers over HTTP/1.1, for container
/// health checks that have curl but no gRPC client.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    serve_with(listener, shutdown, ServeOptions::default()).await
}

/// [`serve`], with the response streams reporting to `probe` (which the caller keeps a clone
/// of to observe backpressure and cancellation). Draining waits for open streams too.
pub async fn serve_with_probe(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    probe: StreamProbe,
) -> Result<(), tonic::transport::Error> {
    let options = ServeOptions {
        probe,
        ..ServeOptions::default()
    };
    serve_with(listener, shutdown, options).await
}

/// [`serve`], as `options` say: the version to run, the probe its streams report to, the
/// health statuses it answers with.
pub async fn serve_with(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    options: ServeOptions,
) -> Result<(), tonic::transport::Error> {
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let routes = routes_with(Arc::new(UserStore::seeded()), &options);
    let with_health = routes.into_axum_router().route(
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

    use super::super::pb::{ChatMessage, DownloadRequest, GetUserRequest, HelloRequest};
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
    async fn serves_chat_and_media_too() {
        let server = TestServer::start().await;
        let mut media = server.media().await;
        let mut chunks = media
            .download(DownloadRequest {
                name: "f".into(),
                size_bytes: 1,
                chunk_bytes: 0,
            })
            .await
            .expect("media service is routed")
            .into_inner();
        assert!(chunks.message().await.expect("chunk").is_some());
        let mut chat = server.chat().await;
        let mut replies = chat
            .chat(tokio_stream::iter(Vec::<ChatMessage>::new()))
            .await
            .expect("chat service is routed")
            .into_inner();
        assert!(replies.message().await.expect("bye").is_some());
    }

    #[tokio::test]
    async fn plain_serve_answers_health_checks_over_http1() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(super::serve(listener, async {
            let _ = rx.await;
        }));
        // Plain blocking std I/O: a raw HTTP/1.1 exchange needs no client library.
        let response = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
            tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: demo\r\nconnection: close\r\n\r\n")
                .expect("write request");
            let mut response = String::new();
            tcp.read_to_string(&mut response).expect("read response");
            response
        })
        .await
        .expect("no panic");
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with(r#"{"status":"ok"}"#), "{response}");
        let _ = tx.send(());
        task.await.expect("no panic").expect("clean shutdown");
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
