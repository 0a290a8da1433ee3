//! A stream's view of the gateway shutting down: once the drain's grace period is over, every
//! stream still running ends with a last error message (UNAVAILABLE) rather than being cut
//! mid-air with nothing to tell the client why.

use tokio::sync::watch;

use crate::errors::GatewayError;

/// Resolves when running streams must end; never, if the gateway is not shutting down.
pub async fn streams_cut(cut: &mut watch::Receiver<bool>) {
    if cut.wait_for(|cut| *cut).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What a cut stream tells its client.
pub fn shutting_down() -> GatewayError {
    GatewayError::unavailable("the gateway is shutting down; retry the call")
}
