//! The embedded backend (`[demo] embedded = true`): started in-process on a loopback port
//! before the gateway's plan is built (its address is the upstream's endpoint), stopped after
//! the gateway has drained.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::StartError;
use crate::embedded::{EmbeddedBackend, Shutdown};

/// How long the embedded backend gets to finish open streams once the gateway has drained.
const STOP_GRACE: Duration = Duration::from_secs(2);

pub struct RunningBackend {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Drop for RunningBackend {
    /// Also when start-up fails after the backend started: nothing of a gateway that did not
    /// start keeps running.
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RunningBackend {
    /// Stops gracefully, then for good after `STOP_GRACE`: a graceful stop waits for open
    /// streams, which a client may hold forever.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(STOP_GRACE, &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

/// Starts `backend` on an ephemeral loopback port; returns it and its `http://` address.
pub async fn start_embedded(
    backend: &EmbeddedBackend,
) -> Result<(RunningBackend, String), StartError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let tcp = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let local = tcp
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown: Shutdown = Box::pin(async {
        let _ = stopped.await;
    });
    let serving = (backend.serve)(tcp, shutdown);
    let name = backend.name;
    let task = tokio::spawn(async move {
        if let Err(err) = serving.await {
            tracing::error!(error = %err, "embedded {name} services stopped");
        }
    });
    let running = RunningBackend {
        stop: Some(stop),
        task,
    };
    Ok((running, format!("http://{local}")))
}
