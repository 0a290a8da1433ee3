//! Background reachability probing for `/readyz`: a TCP connect to each endpoint every few
//! seconds. Requests never wait on it; it only informs operators and load balancers.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::HealthTable;

const INTERVAL: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Probes every endpoint now and then every few seconds, until the handle is aborted.
pub fn spawn_prober(health: HealthTable) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(INTERVAL);
        loop {
            ticker.tick().await;
            for upstream in health.iter() {
                for endpoint in &upstream.endpoints {
                    let connect = TcpStream::connect(endpoint.authority.as_str());
                    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                        Ok(Ok(_)) => endpoint.connected(&upstream.name),
                        Ok(Err(err)) => endpoint.unreachable(&upstream.name, &err.to_string()),
                        Err(_) => endpoint.unreachable(&upstream.name, "connecting timed out"),
                    }
                }
            }
        }
    })
}
