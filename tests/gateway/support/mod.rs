//! What the tests stand on, one concept a file: the gateway under test and its configuration
//! (`test_gateway`), the `h2gate` binary as a child process (`processes`), the clients that
//! talk to the gateway (`http_client`, `stream_client`, `raw_h2`, over `tls_client`), the
//! backends behind it, real (`demo_backends`, counted inside by `backend_counts`) or
//! misbehaving (`fake_backends`), a DNS server (`dns_server`), gRPC's wire format (`grpc_wire`), the metrics'
//! text format and its linter (`prometheus_text`), an OTLP trace receiver (`otlp_receiver`), and small utilities
//! (`ports`, `waiting`, `files`). Tests import from here; `raw_h2`, a vocabulary of frames more
//! than a few types, is used by its module path.

mod backend_counts;
mod demo_backends;
mod dns_server;
mod external_tools;
mod fake_backends;
mod files;
mod grpc_wire;
mod http_client;
mod otlp_receiver;
mod ports;
mod processes;
mod prometheus_text;
pub mod raw_h2;
mod stream_client;
mod test_gateway;
mod tls_client;
mod waiting;

pub use demo_backends::{BackendCert, BackendOptions, CountingBackend, DemoBackend};
pub use dns_server::DnsServer;
pub use external_tools::tool_missing;
pub use fake_backends::{
    BlackHole, FakeAnswer, FakeBackend, PatchedDemo, RawBackend, RawBehaviour, Scripted,
};
pub use files::TempFile;
pub use grpc_wire::{declared_frame, encoded_user, grpc_frame, parse_grpc_timeout};
pub use http_client::{Client, Reply, assert_error, encode_query_value, message_of};
pub use otlp_receiver::{OtlpReceiver, Received};
pub use ports::{HeldPort, bind_loopback};
pub use processes::{BackendProcess, GatewayProcess, h2gate_command};
pub use prometheus_text::{Exposition, promtool_check};
pub use stream_client::{BodyReader, Feed, StreamingClient, websocket_h1, ws_next, ws_send};
pub use test_gateway::{
    GREETER_RULES, Setup, TestGateway, config_text, demo_proto_dir, demo_upstream_tables,
    start_gateway,
};
pub use tls_client::{tls_connector, tls_handshake};
pub use waiting::poll_until;
