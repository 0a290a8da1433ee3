//! Sending spans to an OTLP/gRPC collector without ever holding up a request: spans go into a
//! bounded queue (a full queue drops the span and counts it in
//! `h2gate_trace_spans_dropped_total`), and one task sends them in batches through the
//! gateway's own gRPC client, with its connection backoff, so a collector that is down or slow
//! costs a request nothing.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prometheus::IntCounter;
use prost::Message;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::metadata::MetadataMap;

use super::sampler::Sampler;
use super::span::{SpanRecord, Value, attribute};
use crate::config::{TracingConfig, UpstreamConfig};
use crate::upstream::{self, Attempts, Balancer};

/// Spans waiting for export; beyond this, new ones are dropped.
const QUEUE: usize = 8 * 1024;
/// Spans per export call.
const BATCH: usize = 512;
/// How long a batch waits to fill before it is sent anyway.
const LINGER: Duration = Duration::from_millis(500);
/// One export call's deadline.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Where the request path records spans; cheap to clone.
#[derive(Clone)]
pub struct Tracer(Arc<Inner>);

struct Inner {
    queue: mpsc::Sender<SpanRecord>,
    sampler: Sampler,
    dropped: IntCounter,
}

impl Tracer {
    /// The tracer `config` asks for and its export task (on the current runtime); `None`
    /// without an `otlp_endpoint`.
    pub fn start(
        config: &TracingConfig,
        dropped: IntCounter,
    ) -> Result<Option<(Self, JoinHandle<()>)>, String> {
        let Some(endpoint) = &config.otlp_endpoint else {
            return Ok(None);
        };
        let collector = UpstreamConfig::new("otlp-collector", vec![endpoint.clone()], Vec::new());
        let registry = upstream::registry(std::slice::from_ref(&collector), None)
            .map_err(|err| format!("[tracing] otlp_endpoint: {err}"))?;
        let entry = registry
            .first()
            .cloned()
            .ok_or("[tracing] otlp_endpoint: no collector")?;
        let balancer = Balancer::new(entry, 1024 * 1024);
        let (queue, spans) = mpsc::channel(QUEUE);
        let task = tokio::spawn(export(spans, balancer, config.service_name.clone()));
        let tracer = Tracer(Arc::new(Inner {
            queue,
            sampler: Sampler::new(config.sample_ratio),
            dropped,
        }));
        Ok(Some((tracer, task)))
    }

    pub fn sampler(&self) -> &Sampler {
        &self.0.sampler
    }

    /// Queues a finished span for export; drops it (counted) if the queue is full.
    pub fn record(&self, span: SpanRecord) {
        if self.0.queue.try_send(span).is_err() {
            self.0.dropped.inc();
        }
    }
}

/// The export task: a batch at a time, until every tracer is gone.
async fn export(mut spans: mpsc::Receiver<SpanRecord>, collector: Balancer, service: String) {
    let resource = Resource {
        attributes: vec![attribute("service.name", Value::Text(service))],
        ..Resource::default()
    };
    let scope = InstrumentationScope {
        name: "h2gate".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..InstrumentationScope::default()
    };
    let mut failing = false;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let Some(first) = spans.recv().await else {
            return;
        };
        batch.push(first.into_otlp());
        let linger = tokio::time::sleep(LINGER);
        tokio::pin!(linger);
        while batch.len() < BATCH {
            tokio::select! {
                next = spans.recv() => match next {
                    Some(span) => batch.push(span.into_otlp()),
                    None => break,
                },
                () = &mut linger => break,
            }
        }
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(scope.clone()),
                    spans: std::mem::take(&mut batch),
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let count: usize = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let message = Bytes::from(request.encode_to_vec());
        let sent = upstream::call_unary(
            &collector,
            (PathAndQuery::from_static(EXPORT_PATH), message),
            MetadataMap::new(),
            EXPORT_TIMEOUT,
            false,
            &mut Attempts::default(),
        )
        .await;
        // Logged once per outage, not once per batch.
        match sent {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("the OTLP collector accepts spans again");
            }
            Ok(_) => {}
            Err(status) if !failing => {
                failing = true;
                tracing::warn!(code = ?status.code(), message = status.message(), spans = count, "cannot export spans to the OTLP collector; dropping them until it answers");
            }
            Err(_) => {}
        }
    }
}
