//! The demo services (`h2gate-demo`) as the gateway's embedded backend: what
//! `[demo] embedded = true` starts and `h2gate demo-backend` serves. The integration tests
//! include this file too, so they start gateways exactly as the binary does.

use h2gate::embedded::{EmbeddedBackend, Serving, Shutdown};
use tokio::net::TcpListener;

pub fn backend() -> EmbeddedBackend {
    EmbeddedBackend {
        name: "demo",
        services: &h2gate_demo::SERVICE_NAMES,
        descriptor_set: h2gate_demo::DESCRIPTOR_SET,
        serve,
        page: Some((
            h2gate_demo::STREAMING_PAGE_PATH,
            h2gate_demo::STREAMING_PAGE,
        )),
    }
}

fn serve(listener: TcpListener, shutdown: Shutdown) -> Serving {
    Box::pin(async move {
        h2gate_demo::serve(listener, shutdown)
            .await
            .map_err(Into::into)
    })
}
