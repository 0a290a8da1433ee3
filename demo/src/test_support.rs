//! Test harness: a real demo server on an ephemeral loopback port, reached through the generated
//! tonic clients, so tests exercise the same HTTP/2 path the gateway uses.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

use super::pb::chat_service_client::ChatServiceClient;
use super::pb::greeter_client::GreeterClient;
use super::pb::media_service_client::MediaServiceClient;
use super::pb::user_service_client::UserServiceClient;
use super::server::{ServeOptions, serve_with};
use super::stream_probe::StreamProbe;

/// A running demo server; dropped servers shut down with the test runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Observes this server's response streams.
    pub probe: StreamProbe,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(ServeOptions::default()).await
    }

    /// A server run as `options` say (its probe is [`TestServer::probe`]).
    pub async fn start_with(options: ServeOptions) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let probe = options.probe.clone();
        let task = tokio::spawn(serve_with(
            listener,
            async {
                let _ = rx.await;
            },
            options,
        ));
        Self {
            addr,
            probe,
            shutdown: Some(tx),
            task,
        }
    }

    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("valid uri")
            .connect()
            .await
            .expect("connect to demo server")
    }

    pub async fn users(&self) -> UserServiceClient<Channel> {
        UserServiceClient::new(self.channel().await)
    }

    pub async fn greeter(&self) -> GreeterClient<Channel> {
        GreeterClient::new(self.channel().await)
    }

    pub async fn chat(&self) -> ChatServiceClient<Channel> {
        ChatServiceClient::new(self.channel().await)
    }

    pub async fn media(&self) -> MediaServiceClient<Channel> {
        MediaServiceClient::new(self.channel().await)
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(mut self) -> Result<(), tonic::transport::Error> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await.expect("serve task did not panic")
    }
}

/// Polls `read` every 20 ms until it satisfies `done` (returning that value) or 10 s pass
/// (panicking with `what`): for effects that reach the server asynchronously.
pub async fn eventually<T: std::fmt::Debug>(
    what: &str,
    mut read: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let value = read();
        if done(&value) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; last value {value:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
