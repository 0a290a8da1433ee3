//! Floods of frames that cost the gateway work but carry no request. SETTINGS and PING must
//! each be acknowledged, so a peer that never reads makes acks pile up: h2 stops reading until
//! its ack is written, and TCP backpressure then stops the peer. A WINDOW_UPDATE past 2^31-1
//! ends the connection (RFC 9113 §6.9.1). Empty DATA frames change nothing, so h2 allows 100
//! per connection and then sends GOAWAY. Legal WINDOW_UPDATEs are read and dropped: the
//! connection stays up, and nothing is kept.

use std::time::{Duration, Instant};

use crate::abuse::{Baseline, Bystander, CLOSE_WITHIN, NEVER_READS, assert_goaway_and_close};
use crate::support::GatewayProcess;
use crate::support::raw_h2::{
    self, Flood, FloodEnd, FloodLimits, FrameReader, SocketOptions, code, hpack,
};

/// Calls the well-behaved client must complete while the gateway works through a flood it has
/// to read (one takes ~10-20 ms; the flood takes seconds).
const SERVED_DURING_FLOOD: u64 = 3;

/// A flood of `frame` from a peer that never reads: the gateway must stop reading (the flood
/// stalls) or close, long before the 64+ MiB offered have been taken in, while still serving
/// the bystander.
async fn assert_held_back(frame: Vec<u8>, max_frames: u64, attack: &str) {
    let gateway = GatewayProcess::plaintext().await;
    let bystander = Bystander::start(gateway.client().await).await;
    let baseline = Baseline::take(&gateway);
    let (reader, mut writer) = raw_h2::connect(gateway.addr, false, NEVER_READS).await;
    let served_before = bystander.served();
    let limits = FloodLimits {
        max_frames,
        // Held back, the flood stalls after a few MiB (~2 s here); the time limit only ends a
        // gateway that keeps reading, so it leaves room for a slow machine.
        max_time: Duration::from_secs(20),
        // A gateway that still reads takes something every few milliseconds.
        stall: Duration::from_secs(2),
    };
    let flood = writer.flood(&frame, limits).await;
    let served_during = bystander.served() - served_before;
    eprintln!(
        "{attack}: {} frames / {} KiB taken in before {:?} after {:?}; bystander served {served_during} \
         meanwhile",
        flood.frames,
        flood.bytes / 1024,
        flood.end,
        flood.elapsed
    );
    assert!(
        matches!(flood.end, FloodEnd::Stalled | FloodEnd::Closed(_)),
        "{attack}: the gateway kept reading from a peer that never reads its acks ({flood:?})"
    );
    assert!(
        served_during > 0,
        "{attack}: the bystander was served while the flood was held back"
    );
    baseline.assert_memory_bounded(&gateway, attack);

    // The attacker leaves with its acks unread; the gateway must let go of the socket.
    drop((reader, writer));
    baseline.assert_fds_released(&gateway, attack).await;
    bystander.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_flood_from_a_peer_that_never_reads_is_held_back() {
    // 8M empty SETTINGS frames: 72 MiB offered.
    assert_held_back(raw_h2::settings(&[]), 8_000_000, "SETTINGS flood").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_flood_from_a_peer_that_never_reads_is_held_back() {
    // 4M PINGs: 68 MiB offered.
    assert_held_back(raw_h2::ping(*b"pingpong"), 4_000_000, "PING flood").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_update_past_the_maximum_window_gets_flow_control_goaway() {
    let gateway = GatewayProcess::plaintext().await;
    let bystander = Bystander::start(gateway.client().await).await;
    let baseline = Baseline::take(&gateway);
    let (reader, mut writer) = raw_h2::connect(gateway.addr, false, SocketOptions::default()).await;
    let started = Instant::now();
    let closing = reader.spawn_until_closed(started, CLOSE_WITHIN);
    // The second of these takes the connection window past 2^31-1.
    let limits = FloodLimits {
        max_frames: 100_000,
        max_time: Duration::from_secs(8),
        stall: Duration::from_secs(5),
    };
    let flood = writer
        .flood(&raw_h2::window_update(0, 0x7fff_ffff), limits)
        .await;
    let closing = closing.await.expect("reader task");
    let attack = "WINDOW_UPDATE overflow";
    eprintln!("{attack}: {flood:?}; {closing:?}");
    assert_goaway_and_close(&closing, &[code::FLOW_CONTROL_ERROR], attack, &gateway);

    drop(writer);
    baseline.assert_memory_bounded(&gateway, attack);
    baseline.assert_fds_released(&gateway, attack).await;
    bystander.finish().await;
}

/// Floods with frames the gateway must read and drop, then sends a PING: its ack marks the
/// moment the gateway has worked through the flood. Returns the flood and how many bystander
/// calls completed between its start and that ack.
async fn flood_then_ping(
    reader: &mut FrameReader,
    writer: &mut raw_h2::FrameWriter,
    bystander: &Bystander,
    frame: &[u8],
    max_frames: u64,
) -> (Flood, u64) {
    let served_before = bystander.served();
    let limits = FloodLimits {
        max_frames,
        max_time: Duration::from_secs(8),
        stall: Duration::from_secs(5),
    };
    let flood = writer.flood(frame, limits).await;
    if matches!(flood.end, FloodEnd::Closed(_)) {
        let c = reader.until_closed(Instant::now(), CLOSE_WITHIN).await;
        panic!("DEBUG {flood:?} {c:?}");
    }
    let marker = *b"floodend";
    writer.send(&raw_h2::ping(marker)).await.expect("PING");
    let ack = reader
        .wait_for(CLOSE_WITHIN, |frame| frame.is_ping_ack(marker))
        .await;
    assert!(
        ack.is_some(),
        "the gateway works through the flood and answers a PING ({flood:?})"
    );
    (flood, bystander.served() - served_before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_update_flood_is_read_and_dropped_while_others_are_served() {
    let gateway = GatewayProcess::plaintext().await;
    let bystander = Bystander::start(gateway.client().await).await;
    let baseline = Baseline::take(&gateway);
    let (mut reader, mut writer) =
        raw_h2::connect(gateway.addr, false, SocketOptions::default()).await;
    // Increments of 1 never overflow the window: 1M legal frames (13 MiB) to read and apply,
    // none of which may be kept.
    let (flood, served) = flood_then_ping(
        &mut reader,
        &mut writer,
        &bystander,
        &raw_h2::window_update(0, 1),
        1_000_000,
    )
    .await;
    let attack = "WINDOW_UPDATE flood";
    eprintln!(
        "{attack}: {} frames in {:?} ({:?}); bystander served {served} meanwhile",
        flood.frames, flood.elapsed, flood.end
    );
    assert!(
        served >= SERVED_DURING_FLOOD,
        "{attack}: the bystander on the same worker was served {served} times while the flood \
         was processed"
    );
    baseline.assert_memory_bounded(&gateway, attack);
    drop((reader, writer));
    baseline.assert_fds_released(&gateway, attack).await;
    bystander.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_data_flood_on_an_open_stream_gets_goaway() {
    // h2 allows 100 empty DATA frames (without END_STREAM) per connection; 2M are offered.
    const FRAMES: u64 = 2_000_000;

    let gateway = GatewayProcess::plaintext().await;
    let bystander = Bystander::start(gateway.client().await).await;
    let baseline = Baseline::take(&gateway);
    let (reader, mut writer) = raw_h2::connect(gateway.addr, false, SocketOptions::default()).await;
    let started = Instant::now();
    let closing = reader.spawn_until_closed(started, CLOSE_WITHIN);
    // An open request stream whose body never comes: each empty DATA frame on it is legal on
    // its own and changes nothing, so only counting them tells a flood from a slow body.
    let block = hpack::request(
        "POST",
        "/v1/users",
        &gateway.addr.to_string(),
        false,
        &[("content-type", "application/json")],
    );
    writer
        .send(&raw_h2::headers(1, &block, true, false))
        .await
        .expect("HEADERS");
    let limits = FloodLimits {
        max_frames: FRAMES,
        max_time: Duration::from_secs(8),
        stall: Duration::from_secs(5),
    };
    let flood = writer.flood(&raw_h2::data(1, &[], false), limits).await;
    let closing = closing.await.expect("reader task");
    let attack = "empty DATA flood";
    eprintln!("{attack}: {flood:?}; {closing:?}");
    assert_goaway_and_close(&closing, &[code::ENHANCE_YOUR_CALM], attack, &gateway);

    drop(writer);
    baseline.assert_memory_bounded(&gateway, attack);
    baseline.assert_fds_released(&gateway, attack).await;
    bystander.finish().await;
}
