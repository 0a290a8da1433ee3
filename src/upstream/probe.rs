//! Background reachability probing for `/readyz`: a TCP connect to each fixed endpoint every
//! few seconds. It only informs operators and load balancers (the `reachability` field);
//! which endpoints take calls is decided by their state, which real connection attempts and
//! the `grpc.health.v1` checks move.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::Registry;

const INTERVAL: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Probes every endpoint now and then every few seconds, until the handle is aborted.
pub fn spawn_prober(registry: Registry) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(INTERVAL);
        loop {
            ticker.tick().await;
            for upstream in registry.iter() {
                for endpoint in &upstream.endpoints().endpoints {
                    let target = &endpoint.target;
                    let connect = TcpStream::connect((&*target.host, target.port));
                    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                        Ok(Ok(_)) => endpoint.probe_connected(),
                        Ok(Err(err)) => endpoint.probe_failed(&err.to_string()),
                        Err(_) => endpoint.probe_failed("connecting timed out"),
                    }
                }
            }
        }
    })
}
