//! `MediaService.Download`: the request parsed into a [`DownloadPlan`], and the lazy chunk stream
//! that plays it. A chunk's bytes are generated only when tonic asks for it, so even an 8 GiB
//! download holds one chunk in memory and stops when the reader stops.

use tokio_stream::Stream;
use tonic::Status;

use super::errors::{DemoError, violation};
use super::lazy_stream::unfold;
use super::media_data::pattern_bytes;
use super::pb::{Chunk, DownloadRequest};

/// Chunk size when the request leaves `chunk_bytes` at 0 (64 KiB).
pub const DEFAULT_CHUNK_BYTES: usize = 64 * 1024;
/// Largest accepted `chunk_bytes` (4 MiB).
pub const MAX_CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Largest accepted `size_bytes` (8 GiB).
pub const MAX_DOWNLOAD_BYTES: u64 = 8 * 1024 * 1024 * 1024;

/// A validated Download request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadPlan {
    name: String,
    size: u64,
    chunk: usize,
}

impl DownloadPlan {
    /// Checks every field, reporting all bad ones at once.
    pub fn parse(req: DownloadRequest) -> Result<Self, DemoError> {
        let mut violations = Vec::new();
        if req.name.is_empty() {
            violations.push(violation("name", "must not be empty"));
        }
        let size = u64::try_from(req.size_bytes)
            .ok()
            .filter(|&n| n <= MAX_DOWNLOAD_BYTES);
        if size.is_none() {
            violations.push(violation(
                "size_bytes",
                format!(
                    "must be between 0 and {MAX_DOWNLOAD_BYTES}, got {}",
                    req.size_bytes
                ),
            ));
        }
        let chunk = match usize::try_from(req.chunk_bytes) {
            Ok(0) => Some(DEFAULT_CHUNK_BYTES),
            Ok(n) if n <= MAX_CHUNK_BYTES => Some(n),
            _ => None,
        };
        if chunk.is_none() {
            violations.push(violation(
                "chunk_bytes",
                format!(
                    "must be between 0 (default {DEFAULT_CHUNK_BYTES}) and {MAX_CHUNK_BYTES}, got {}",
                    req.chunk_bytes
                ),
            ));
        }
        match (size, chunk) {
            (Some(size), Some(chunk)) if violations.is_empty() => Ok(Self {
                name: req.name,
                size,
                chunk,
            }),
            _ => Err(DemoError::InvalidArgument(violations)),
        }
    }

    /// The chunk stream: `ceil(size / chunk)` chunks, all full but the last; none for size 0.
    pub fn into_stream(self) -> impl Stream<Item = Result<Chunk, Status>> + Send + 'static {
        unfold((self, 0u64), |(plan, offset)| async move {
            let remaining = plan.size.checked_sub(offset).filter(|&n| n > 0)?;
            let len = usize::try_from(remaining).map_or(plan.chunk, |r| r.min(plan.chunk));
            let chunk = Chunk {
                name: plan.name.clone(),
                offset: i64::try_from(offset).ok()?,
                data: pattern_bytes(offset, len),
            };
            let next = offset + u64::try_from(len).ok()?;
            Some((Ok(chunk), (plan, next)))
        })
    }
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;

    use super::*;

    fn request(name: &str, size_bytes: i64, chunk_bytes: i32) -> DownloadRequest {
        DownloadRequest {
            name: name.into(),
            size_bytes,
            chunk_bytes,
        }
    }

    fn violated_fields(err: DemoError) -> Vec<String> {
        match err {
            DemoError::InvalidArgument(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn invalid_requests_name_every_bad_field() {
        let max_size = i64::try_from(MAX_DOWNLOAD_BYTES).expect("fits");
        let max_chunk = i32::try_from(MAX_CHUNK_BYTES).expect("fits");
        let cases = [
            (request("", 1, 1), vec!["name"]),
            (request("f", -1, 1), vec!["size_bytes"]),
            (request("f", max_size + 1, 1), vec!["size_bytes"]),
            (request("f", 1, -1), vec!["chunk_bytes"]),
            (request("f", 1, max_chunk + 1), vec!["chunk_bytes"]),
            (
                request("", -1, -1),
                vec!["name", "size_bytes", "chunk_bytes"],
            ),
        ];
        for (req, fields) in cases {
            let err = DownloadPlan::parse(req.clone()).expect_err("invalid");
            assert_eq!(violated_fields(err), fields, "{req:?}");
        }
        assert!(DownloadPlan::parse(request("f", max_size, max_chunk)).is_ok());
    }

    #[tokio::test]
    async fn chunking_table() {
        let cases: [(i64, i32, Vec<usize>); 5] = [
            (0, 0, vec![]),
            (10, 4, vec![4, 4, 2]),
            (5, 5, vec![5]),
            (1, 0, vec![1]),
            (2 * 65536 + 1, 0, vec![65536, 65536, 1]),
        ];
        for (size, chunk, expected) in cases {
            let plan = DownloadPlan::parse(request("f", size, chunk)).expect("valid");
            let chunks: Vec<Chunk> = plan
                .into_stream()
                .map(|c| c.expect("no errors"))
                .collect()
                .await;
            let lens: Vec<usize> = chunks.iter().map(|c| c.data.len()).collect();
            assert_eq!(lens, expected, "{size}/{chunk}");
            let mut offset = 0u64;
            for c in &chunks {
                assert_eq!(c.name, "f");
                assert_eq!(c.offset, i64::try_from(offset).expect("fits"));
                assert_eq!(c.data, pattern_bytes(offset, c.data.len()));
                offset += c.data.len() as u64;
            }
        }
    }
}
