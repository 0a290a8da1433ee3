//! MediaService end to end: download chunking and content, upload summaries, and a stalled or
//! cancelled download as seen by the probe.

use tonic::Code;

use super::super::download::{DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES};
use super::super::errors::decode_bad_request;
use super::super::media_data::{fnv1a32, pattern_bytes};
use super::super::test_support::{TestServer, eventually};
use super::*;

fn download_request(name: &str, size_bytes: i64, chunk_bytes: i32) -> DownloadRequest {
    DownloadRequest {
        name: name.into(),
        size_bytes,
        chunk_bytes,
    }
}

#[tokio::test]
async fn download_sizes_chunking_and_pattern() {
    let server = TestServer::start().await;
    let mut client = server.media().await;
    let default = DEFAULT_CHUNK_BYTES;
    // (size, chunk_bytes, expected chunk lengths)
    let cases: [(i64, i32, Vec<usize>); 5] = [
        (0, 0, vec![]),
        (1, 0, vec![1]),
        (1000, 300, vec![300, 300, 300, 100]),
        (600, 200, vec![200, 200, 200]),
        (3 * 65536 + 7, 0, vec![default, default, default, 7]),
    ];
    for (size, chunk_bytes, expected) in cases {
        let mut chunks = client
            .download(download_request("photo.raw", size, chunk_bytes))
            .await
            .expect("download starts")
            .into_inner();
        let mut lens = Vec::new();
        let mut content = Vec::new();
        while let Some(chunk) = chunks.message().await.expect("no error") {
            assert_eq!(chunk.name, "photo.raw");
            assert_eq!(chunk.offset, i64::try_from(content.len()).expect("fits"));
            lens.push(chunk.data.len());
            content.extend_from_slice(&chunk.data);
        }
        assert_eq!(lens, expected, "{size}/{chunk_bytes}");
        assert_eq!(content, pattern_bytes(0, content.len()));
    }
    assert_eq!(server.probe.streams_completed(), 5);
    assert_eq!(server.probe.messages_sent(), 12);
}

#[tokio::test]
async fn largest_chunks_need_a_raised_client_limit() {
    let server = TestServer::start().await;
    let mut client = server
        .media()
        .await
        .max_decoding_message_size(2 * MAX_CHUNK_BYTES);
    let max = i32::try_from(MAX_CHUNK_BYTES).expect("fits");
    let mut chunks = client
        .download(download_request("big", i64::from(max) + 1, max))
        .await
        .expect("download starts")
        .into_inner();
    let first = chunks.message().await.expect("chunk").expect("not ended");
    assert_eq!(first.data.len(), MAX_CHUNK_BYTES);
    let last = chunks.message().await.expect("chunk").expect("not ended");
    assert_eq!((last.offset, last.data.len()), (i64::from(max), 1));
    assert_eq!(last.data, pattern_bytes(MAX_CHUNK_BYTES as u64, 1));
}

#[tokio::test]
async fn invalid_download_is_rejected_before_streaming() {
    let server = TestServer::start().await;
    let mut client = server.media().await;
    let err = client
        .download(download_request("", -1, 0))
        .await
        .expect_err("invalid");
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<String> = decode_bad_request(&err)
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["name", "size_bytes"]);
    assert_eq!(server.probe.streams_started(), 0);
}

#[tokio::test]
async fn upload_summarizes_what_arrived() {
    let server = TestServer::start().await;
    let mut client = server.media().await;
    let content = pattern_bytes(0, 200_000);
    let chunks: Vec<Chunk> = content
        .chunks(65_536)
        .enumerate()
        .map(|(i, data)| Chunk {
            // The name only on the first chunk, offsets on every chunk.
            name: if i == 0 {
                "clip.bin".into()
            } else {
                String::new()
            },
            offset: i64::try_from(i * 65_536).expect("fits"),
            data: data.to_vec(),
        })
        .collect();
    let summary = client
        .upload(tokio_stream::iter(chunks))
        .await
        .expect("upload")
        .into_inner();
    assert_eq!(
        summary,
        UploadSummary {
            name: "clip.bin".into(),
            total_bytes: 200_000,
            chunks: 4,
            checksum: fnv1a32(&content),
        }
    );

    let err = client
        .upload(tokio_stream::iter(vec![Chunk {
            name: "x".into(),
            offset: 9,
            data: b"abc".to_vec(),
        }]))
        .await
        .expect_err("bad offset");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("chunks[0].offset"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn stalled_then_dropped_download_is_bounded_and_cancelled() {
    let server = TestServer::start().await;
    let mut client = server.media().await;
    let chunks = client
        .download(download_request("huge", 1 << 33, 0))
        .await
        .expect("download starts")
        .into_inner();
    let mut last = 0;
    eventually(
        "messages_sent to stop growing",
        || {
            let now = server.probe.messages_sent();
            let stable = now > 0 && now == last;
            last = now;
            stable
        },
        |&stable| stable,
    )
    .await;
    // 8 GiB is 131072 chunks of 64 KiB; flow control holds production to a few windows' worth.
    let sent = server.probe.messages_sent();
    assert!(
        sent < 1000,
        "{sent} chunks produced for a reader that reads nothing"
    );
    drop(chunks);
    eventually(
        "the cancel",
        || server.probe.streams_cancelled(),
        |&n| n == 1,
    )
    .await;
    assert_eq!(server.probe.streams_completed(), 0);
}
