//! `demo.v1.MediaService`: large byte streams in both directions without storage, for testing
//! the gateway's streaming bodies. Download is generated on demand ([`DownloadPlan`]) and reports
//! to the [`StreamProbe`]; Upload only summarizes ([`read_upload`]).

use tonic::{Request, Response, Status, Streaming};

use super::download::DownloadPlan;
use super::lazy_stream::ResponseStream;
use super::pb::media_service_server::MediaService;
use super::pb::{Chunk, DownloadRequest, UploadSummary};
use super::stream_probe::StreamProbe;
use super::upload::read_upload;

/// The MediaService implementation (stateless apart from its probe).
#[derive(Debug, Clone, Default)]
pub struct DemoMediaService {
    probe: StreamProbe,
}

impl DemoMediaService {
    /// Download streams report to `probe`.
    pub fn new(probe: StreamProbe) -> Self {
        Self { probe }
    }
}

#[tonic::async_trait]
impl MediaService for DemoMediaService {
    type DownloadStream = ResponseStream<Chunk>;

    async fn download(
        &self,
        request: Request<DownloadRequest>,
    ) -> Result<Response<Self::DownloadStream>, Status> {
        let plan = DownloadPlan::parse(request.into_inner())?;
        Ok(Response::new(Box::pin(
            self.probe.track(plan.into_stream()),
        )))
    }

    async fn upload(
        &self,
        request: Request<Streaming<Chunk>>,
    ) -> Result<Response<UploadSummary>, Status> {
        let summary = read_upload(request.into_inner()).await?;
        tracing::debug!(name = %summary.name, bytes = summary.total_bytes, "demo upload summarized");
        Ok(Response::new(summary))
    }
}

#[cfg(test)]
#[path = "media_tests.rs"]
mod tests;
