//! The demo services (`h2gate-demo`) as the gateway's embedded backend: what
//! `[demo] embedded = true` starts (v1) and `h2gate demo-backend [--version v1|v2]` serves.
//! The integration tests include this file too, so they start gateways exactly as the binary
//! does.

use h2gate::embedded::{EmbeddedBackend, Serving, Shutdown};
use h2gate_demo::{DemoVersion, ServeOptions};
use tokio::net::TcpListener;

pub fn backend() -> EmbeddedBackend {
    EmbeddedBackend {
        name: "demo",
        services: &h2gate_demo::SERVICE_NAMES,
        descriptor_set: h2gate_demo::DESCRIPTOR_SET,
        serve,
        versions: &[("v1", serve), ("v2", serve_v2)],
        page: Some((
            h2gate_demo::STREAMING_PAGE_PATH,
            h2gate_demo::STREAMING_PAGE,
        )),
    }
}

fn serve(listener: TcpListener, shutdown: Shutdown) -> Serving {
    serve_version(DemoVersion::V1, listener, shutdown)
}

/// The demo's v2: the same services, every user tagged "v2" and `x-served-by: h2gate-demo-v2`.
fn serve_v2(listener: TcpListener, shutdown: Shutdown) -> Serving {
    serve_version(DemoVersion::V2, listener, shutdown)
}

fn serve_version(version: DemoVersion, listener: TcpListener, shutdown: Shutdown) -> Serving {
    let options = ServeOptions {
        version,
        ..ServeOptions::default()
    };
    Box::pin(async move {
        h2gate_demo::serve_with(listener, shutdown, options)
            .await
            .map_err(Into::into)
    })
}
