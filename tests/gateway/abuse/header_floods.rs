//! Header blocks that never end or that decode to far more than was sent: a HEADERS frame
//! followed by endless CONTINUATION frames (CVE-2024-27316 and kin), and an HPACK bomb (one
//! large entry inserted into the dynamic table, then referenced thousands of times). A header
//! block is buffered and decoded before any handler sees it, so the limit must come from the
//! HTTP/2 layer itself: the gateway's `max_header_bytes` (16 KiB) makes h2 give up with GOAWAY
//! after a few frames or a few times that many decoded bytes.

use std::time::{Duration, Instant};

use crate::abuse::{Baseline, Bystander, CLOSE_WITHIN, assert_goaway_and_close};
use crate::support::GatewayProcess;
use crate::support::raw_h2::{
    self, Closing, Flood, FloodLimits, FrameWriter, SocketOptions, code, hpack,
};

/// The largest frame payload the gateway accepts (SETTINGS_MAX_FRAME_SIZE default).
const MAX_FRAME: usize = 16 * 1024;

const FLOOD_TIME: Duration = Duration::from_secs(8);

/// Opens an h2c connection, starts reading it until it closes, and runs `attack` on the
/// writing half; returns what the attacker saw.
async fn attack_connection<F, Fut>(gateway: &GatewayProcess, attack: F) -> (Flood, Closing)
where
    F: FnOnce(FrameWriter) -> Fut,
    Fut: Future<Output = (Flood, FrameWriter)>,
{
    let (reader, writer) = raw_h2::connect(gateway.addr, false, SocketOptions::default()).await;
    let started = Instant::now();
    let closing = reader.spawn_until_closed(started, CLOSE_WITHIN);
    let (flood, writer) = attack(writer).await;
    let closing = closing.await.expect("reader task");
    drop(writer);
    (flood, closing)
}

/// GOAWAY with one of `codes` and a close, without the attacking stream having been opened.
fn assert_cut_before_any_request(
    closing: &Closing,
    codes: &[u32],
    attack: &str,
    gateway: &GatewayProcess,
) {
    let goaway = assert_goaway_and_close(closing, codes, attack, gateway);
    assert_eq!(
        goaway.last_stream_id, 0,
        "{attack}: no request was let through"
    );
}

fn report(attack: &str, flood: &Flood, closing: &Closing) {
    let goaway = closing.goaway.as_ref();
    eprintln!(
        "{attack}: {} frames / {} KiB written ({:?}) in {:?}; GOAWAY {} {:?} at {:?}, closed at {:?}",
        flood.frames,
        flood.bytes / 1024,
        flood.end,
        flood.elapsed,
        goaway.map_or("none", |g| raw_h2::code_name(g.error_code)),
        goaway.map(|g| g.debug.as_str()),
        closing.goaway_after,
        closing.closed_after
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuation_flood_of_empty_frames_gets_goaway() {
    const FRAMES: u64 = 200_000;

    let gateway = GatewayProcess::plaintext().await;
    let bystander = Bystander::start(gateway.client().await).await;
    let baseline = Baseline::take(&gateway);
    let block = hpack::request("GET", "/v1/users/42", &gateway.addr.to_string(), false, &[]);

    let (flood, closing) = attack_connection(&gateway, |mut writer| async move {
        writer
            .send(&raw_h2::headers(1, &block, false, true))
            .await
            .expect("HEADERS");
        // Empty CONTINUATION frames cost the attacker 9 bytes each and never finish the block.
        let limits = FloodLimits {
            max_frames: FRAMES,
            max_time: FLOOD_TIME,
            stall: Duration::from_secs(5),
        };
        let flood = writer
            .flood(&raw_h2::continuation(1, &[], false), limits)
            .await;
        (flood, writer)
    })
    .await;
    let attack = "CONTINUATION flood (empty frames)";
    report(attack, &flood, &closing);
    assert_cut_before_any_request(&closing, &[code::ENHANCE_YOUR_CALM], attack, &gateway);

    baseline.assert_memory_bounded(&gateway, attack);
    baseline.assert_fds_released(&gateway, attack).await;
    bystander.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuation_flood_of_header_bytes_is_cut_before_memory_grows() {
    // 10,000 frames of 16 KiB: 160 MiB of headers offered, far past the memory bound.
    const FRAMES: u64 = 10_000;

    let gateway = GatewayProcess::plaintext().await;
    let bystander = Bystander::start(gateway.client().await).await;
    let baseline = Baseline::take(&gateway);
    let block = hpack::request("GET", "/v1/users/42", &gateway.addr.to_string(), false, &[]);
    // Whole header fields per frame (16 x ~1 KiB literals), so every frame decodes completely
    // and adds to the header list.
    let mut fill = Vec::new();
    while fill.len() + 1024 < MAX_FRAME {
        hpack::literal(&mut fill, "x-fill", &[b'f'; 1000]);
    }

    let (flood, closing) = attack_connection(&gateway, |mut writer| async move {
        writer
            .send(&raw_h2::headers(1, &block, false, true))
            .await
            .expect("HEADERS");
        let limits = FloodLimits {
            max_frames: FRAMES,
            max_time: FLOOD_TIME,
            stall: Duration::from_secs(5),
        };
        let flood = writer
            .flood(&raw_h2::continuation(1, &fill, false), limits)
            .await;
        (flood, writer)
    })
    .await;
    let attack = "CONTINUATION flood (16 KiB frames)";
    report(attack, &flood, &closing);
    // h2 stops at 4x the header-list limit (ENHANCE_YOUR_CALM), at a frame count
    // (ENHANCE_YOUR_CALM), or when an over-size block keeps growing (COMPRESSION_ERROR).
    assert_cut_before_any_request(
        &closing,
        &[code::ENHANCE_YOUR_CALM, code::COMPRESSION_ERROR],
        attack,
        &gateway,
    );

    baseline.assert_memory_bounded(&gateway, attack);
    baseline.assert_fds_released(&gateway, attack).await;
    bystander.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpack_bomb_is_cut_before_it_expands() {
    // Bombs sent one after another on new streams, each a single 16 KiB HEADERS frame that
    // decodes to ~48 MiB; a gateway that only refused each stream would meet them all.
    const BOMBS: u64 = 1000;

    let gateway = GatewayProcess::plaintext().await;
    let bystander = Bystander::start(gateway.client().await).await;
    let baseline = Baseline::take(&gateway);
    let authority = gateway.addr.to_string();
    // The entry fills the default 4 KiB dynamic table (size = name + value + 32); every
    // one-byte reference to it decodes to ~4 KiB.
    let bomb_value = vec![b'b'; 4096 - 32 - "x-bomb".len()];
    let bomb = |stream: u32| {
        let mut block = hpack::request("GET", "/v1/users/42", &authority, false, &[]);
        hpack::literal_with_indexing(&mut block, "x-bomb", &bomb_value);
        while block.len() < MAX_FRAME {
            hpack::indexed(&mut block, hpack::NEWEST_DYNAMIC);
        }
        raw_h2::headers(stream, &block, true, true)
    };
    let first = bomb(1);
    let references = first.len() - bomb_value.len();
    eprintln!(
        "HPACK bomb: one {} byte frame decodes to ~{} MiB",
        first.len(),
        references * 4096 / (1024 * 1024)
    );

    let (flood, closing) = attack_connection(&gateway, |mut writer| async move {
        let limits = FloodLimits {
            max_frames: BOMBS,
            max_time: FLOOD_TIME,
            stall: Duration::from_secs(5),
        };
        let mut stream = 1u32;
        let flood = writer
            .flood_with(limits, |out, room| {
                let count = room.min(4);
                for _ in 0..count {
                    out.extend(bomb(stream));
                    stream += 2;
                }
                count
            })
            .await;
        (flood, writer)
    })
    .await;
    let attack = "HPACK bomb";
    report(attack, &flood, &closing);
    assert_cut_before_any_request(&closing, &[code::ENHANCE_YOUR_CALM], attack, &gateway);

    baseline.assert_memory_bounded(&gateway, attack);
    baseline.assert_fds_released(&gateway, attack).await;
    bystander.finish().await;
}
