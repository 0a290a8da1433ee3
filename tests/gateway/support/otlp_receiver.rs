//! A real OTLP/gRPC trace receiver on loopback: the collector's own `TraceService` (from
//! `opentelemetry-proto`), served by tonic, keeping every span it is sent with the
//! `service.name` of its resource.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::ports::bind_loopback;
use super::waiting::poll_until;

/// A received span and the service that sent it.
#[derive(Debug, Clone)]
pub struct Received {
    pub service: String,
    pub span: Span,
}

impl Received {
    /// The span's attribute `key` as text or as an integer, if it has it.
    pub fn attribute(&self, key: &str) -> Option<String> {
        let value = self.span.attributes.iter().find(|kv| kv.key == key)?;
        match value.value.as_ref()?.value.as_ref()? {
            Value::StringValue(text) => Some(text.clone()),
            Value::IntValue(number) => Some(number.to_string()),
            other => Some(format!("{other:?}")),
        }
    }
}

pub struct OtlpReceiver {
    pub addr: std::net::SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
}

struct Collector {
    received: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut received = self.received.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(name) => Some(name.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    received.push(Received {
                        service: service.clone(),
                        span,
                    });
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

impl OtlpReceiver {
    pub async fn start() -> Self {
        let listener = bind_loopback().await;
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let service = TraceServiceServer::new(Collector {
            received: Arc::clone(&received),
        });
        let task = tokio::spawn(async move {
            let incoming = TcpIncoming::from(listener);
            let served = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
            if let Err(err) = served {
                eprintln!("OTLP receiver stopped: {err}");
            }
        });
        Self {
            addr,
            received,
            task,
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The spans of trace `trace_id` once there are `count` of them (spans leave the gateway
    /// in batches, a little after the response).
    pub async fn trace(&self, trace_id: &[u8], count: usize) -> Vec<Received> {
        let found = poll_until(Duration::from_secs(10), || {
            let spans: Vec<Received> = self
                .spans()
                .into_iter()
                .filter(|r| r.span.trace_id == trace_id)
                .collect();
            std::future::ready((spans.len() >= count).then_some(spans))
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "{count} spans of the trace expected; received: {:#?}",
                self.spans()
            )
        })
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
