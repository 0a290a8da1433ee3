//! Clients that ask for downloads and never read them. Flow control normally keeps a server
//! from queueing what a client does not take; a gateway also holds an upstream call per stream,
//! so what it may keep is bounded twice: toward the client (its per-stream send buffer, even
//! when the client opens every window wide) and toward the backend (the upstream windows,
//! which the calls of every client on a worker share).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::abuse::{Baseline, Bystander, NEVER_READS};
use crate::support::raw_h2::{self, FrameReader, FrameWriter, hpack};
use crate::support::{DemoBackend, GatewayProcess};

const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
const MAX_WINDOW: u32 = 0x7fff_ffff;

/// Opens `streams` downloads of 1 GiB each on one connection that never reads them; with
/// `wide_open`, every flow-control window is first raised to 2^31-1.
async fn stalled_downloads(
    addr: SocketAddr,
    streams: u32,
    wide_open: bool,
) -> (FrameReader, FrameWriter) {
    let (reader, mut writer) = raw_h2::connect(addr, false, NEVER_READS).await;
    let mut opening = Vec::new();
    if wide_open {
        opening.extend(raw_h2::settings(&[(
            SETTINGS_INITIAL_WINDOW_SIZE,
            MAX_WINDOW,
        )]));
        opening.extend(raw_h2::window_update(0, MAX_WINDOW - 65_535));
    }
    for n in 0..streams {
        let path = format!("/v1/media/stalled{n}:download?sizeBytes=1073741824");
        let block = hpack::request("GET", &path, &addr.to_string(), false, &[]);
        opening.extend(raw_h2::headers(2 * n + 1, &block, true, true));
    }
    writer.send(&opening).await.expect("open the downloads");
    (reader, writer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_never_read_through_wide_open_windows_keep_memory_bounded() {
    // 50 x 1 GiB asked for. What the gateway keeps per stream is its send buffer (128 KiB)
    // plus the message being converted, ~430 KiB in a debug build: ~21 MiB here, against
    // 50 GiB for a gateway that pulled what the windows allow.
    const STREAMS: u32 = 50;

    // The backend runs in the test process, so the figure is the gateway's memory alone.
    let backend = DemoBackend::start().await;
    let gateway = GatewayProcess::plaintext_in_front_of(backend.addr).await;
    // A first call opens the upstream connection, so the baseline counts its descriptor.
    let client = gateway.client().await;
    client.assert_still_usable().await;
    let baseline = Baseline::take(&gateway);
    let attacker = stalled_downloads(gateway.addr, STREAMS, true).await;

    // The buffers fill within a second; a gateway without bounds would keep growing.
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        samples.push(gateway.rss_kib());
    }
    let attack = "wide-open windows, downloads never read";
    eprintln!("{attack}: RSS every 0.5 s {samples:?} KiB");
    baseline.assert_memory_bounded(&gateway, attack);

    drop(attacker);
    baseline.assert_fds_released(&gateway, attack).await;
    // Served once the attacker is gone too (while it stays: the test below).
    client.assert_still_usable().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_a_client_never_reads_do_not_hold_up_other_clients() {
    // A handful of streams, default windows, no WINDOW_UPDATE: a slow mobile client could do
    // the same by accident.
    const STREAMS: u32 = 8;
    const SERVED_WHILE_STALLED: u64 = 3;

    let backend = DemoBackend::start().await;
    let gateway = GatewayProcess::plaintext_in_front_of(backend.addr).await;
    let bystander = Bystander::start(gateway.client().await).await;
    let attacker = stalled_downloads(gateway.addr, STREAMS, false).await;

    // Let every window between the backend and the attacker fill, then watch the bystander
    // (a call takes ~10-20 ms; three in three seconds is generous).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = bystander.served();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let served = bystander.served() - before;
    eprintln!("{STREAMS} unread downloads: bystander served {served} times in 3 s");
    assert!(
        served >= SERVED_WHILE_STALLED,
        "other clients are held up while one client leaves {STREAMS} downloads unread: \
         {served} calls served in 3 s"
    );

    drop(attacker);
    bystander.finish().await;
}
