//! `MediaService.Upload`: consumes a client stream of chunks without storing it, checking that
//! the chunks belong together (one name, offsets in order when given) and summarizing what
//! arrived. Errors name the offending message as `chunks[<index>].<field>`.

use tokio_stream::{Stream, StreamExt};
use tonic::Status;

use super::errors::DemoError;
use super::media_data::Fnv1a32;
use super::pb::{Chunk, UploadSummary};

/// Running totals of one upload.
#[derive(Debug, Default)]
struct Tally {
    name: String,
    total: u64,
    chunks: u32,
    checksum: Fnv1a32,
}

impl Tally {
    fn add(&mut self, chunk: &Chunk) -> Result<(), DemoError> {
        let index = self.chunks;
        if index == 0 {
            if chunk.name.is_empty() {
                return Err(DemoError::invalid(
                    "chunks[0].name",
                    "is required on the first chunk",
                ));
            }
            self.name.clone_from(&chunk.name);
        } else if !chunk.name.is_empty() && chunk.name != self.name {
            return Err(DemoError::invalid(
                format!("chunks[{index}].name"),
                format!(
                    "must be empty or '{}' like the first chunk, got '{}'",
                    self.name.escape_debug(),
                    chunk.name.escape_debug()
                ),
            ));
        }
        // 0 means "not given"; anything else must be where this chunk actually lands.
        if chunk.offset != 0 && u64::try_from(chunk.offset).ok() != Some(self.total) {
            return Err(DemoError::invalid(
                format!("chunks[{index}].offset"),
                format!(
                    "must be 0 or {} (the bytes received before this chunk), got {}",
                    self.total, chunk.offset
                ),
            ));
        }
        self.total = self
            .total
            .saturating_add(u64::try_from(chunk.data.len()).unwrap_or(u64::MAX));
        self.chunks = self.chunks.saturating_add(1);
        self.checksum.update(&chunk.data);
        Ok(())
    }

    fn summary(self) -> UploadSummary {
        UploadSummary {
            name: self.name,
            total_bytes: i64::try_from(self.total).unwrap_or(i64::MAX),
            chunks: i32::try_from(self.chunks).unwrap_or(i32::MAX),
            checksum: self.checksum.finish(),
        }
    }
}

/// Reads the whole upload. No chunks at all is a valid, empty upload (empty name, 0 bytes,
/// checksum `0x811c9dc5`); a transport error from the stream is returned as is.
pub async fn read_upload(
    mut inbound: impl Stream<Item = Result<Chunk, Status>> + Unpin,
) -> Result<UploadSummary, Status> {
    let mut tally = Tally::default();
    while let Some(chunk) = inbound.next().await {
        tally.add(&chunk?)?;
    }
    Ok(tally.summary())
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::super::errors::decode_bad_request;
    use super::super::media_data::fnv1a32;
    use super::*;

    fn chunk(name: &str, offset: i64, data: &[u8]) -> Result<Chunk, Status> {
        Ok(Chunk {
            name: name.into(),
            offset,
            data: data.to_vec(),
        })
    }

    #[tokio::test]
    async fn summarizes_chunks_with_and_without_offsets() {
        let chunks = vec![
            chunk("f", 0, b"foo"),
            chunk("", 3, b"ba"),
            chunk("f", 0, b"r"),
        ];
        let summary = read_upload(tokio_stream::iter(chunks))
            .await
            .expect("valid");
        assert_eq!(
            summary,
            UploadSummary {
                name: "f".into(),
                total_bytes: 6,
                chunks: 3,
                checksum: fnv1a32(b"foobar"),
            }
        );
        let empty = read_upload(tokio_stream::iter(Vec::new()))
            .await
            .expect("valid");
        assert_eq!(
            empty,
            UploadSummary {
                checksum: fnv1a32(b""),
                ..UploadSummary::default()
            }
        );
    }

    #[tokio::test]
    async fn inconsistent_chunks_are_rejected() {
        let cases = [
            (vec![chunk("", 0, b"x")], "chunks[0].name"),
            (
                vec![chunk("f", 0, b"x"), chunk("g", 0, b"y")],
                "chunks[1].name",
            ),
            (
                vec![chunk("f", 0, b"xy"), chunk("f", 1, b"z")],
                "chunks[1].offset",
            ),
            (vec![chunk("f", 5, b"x")], "chunks[0].offset"),
            (
                vec![chunk("f", 0, b"x"), chunk("f", -1, b"y")],
                "chunks[1].offset",
            ),
        ];
        for (chunks, field) in cases {
            let err = read_upload(tokio_stream::iter(chunks))
                .await
                .expect_err(field);
            assert_eq!(err.code(), Code::InvalidArgument);
            let fields: Vec<String> = decode_bad_request(&err)
                .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
                .unwrap_or_default();
            assert_eq!(fields, [field]);
        }
        let err = read_upload(tokio_stream::iter(vec![
            chunk("f", 0, b"x"),
            Err(Status::cancelled("gone")),
        ]))
        .await
        .expect_err("transport error");
        assert_eq!(err.code(), Code::Cancelled);
    }
}
