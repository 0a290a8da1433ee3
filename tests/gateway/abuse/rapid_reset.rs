//! Streams opened and reset faster than they can be served: the client resetting them (rapid
//! reset, CVE-2023-44487) or making the gateway reset them (MadeYouReset, CVE-2025-8671).
//! Either way each stream costs the gateway work while the client pays nothing, so the gateway
//! must stop the connection with GOAWAY long before the burst ends; and the streams it did
//! accept must not cost other clients their calls through the shared upstream connection.

use std::time::{Duration, Instant};

use crate::abuse::{Baseline, Bystander, CLOSE_WITHIN, assert_goaway_and_close};
use crate::support::GatewayProcess;
use crate::support::raw_h2::{self, Closing, FloodLimits, SocketOptions, code, hpack};

/// Attacker connections, one after another, each with its own burst.
const CONNECTIONS: usize = 6;
/// Streams each burst tries to open.
const BURST_STREAMS: u64 = 1000;

/// A burst is over in milliseconds when cut; the time limit only bounds a gateway that is not.
const BURST_LIMITS: FloodLimits = FloodLimits {
    max_frames: 2 * BURST_STREAMS,
    max_time: Duration::from_secs(10),
    stall: Duration::from_secs(5),
};

/// Client-initiated streams use odd ids: the id a GOAWAY names → how many were opened.
fn streams_up_to(last_stream_id: u32) -> u32 {
    last_stream_id.div_ceil(2)
}

/// The GOAWAY (ENHANCE_YOUR_CALM, then a close) that cut a burst → streams opened before it.
fn assert_cut_off(closing: &Closing, attack: &str, gateway: &GatewayProcess) -> u32 {
    let goaway = assert_goaway_and_close(closing, &[code::ENHANCE_YOUR_CALM], attack, gateway);
    streams_up_to(goaway.last_stream_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rapid_reset_over_tls_gets_goaway_long_before_the_burst_ends() {
    // hyper is told to allow 50 streams reset before the server accepted them; allow for a
    // few accepted in between, but far fewer than the 1000 each burst sends.
    const CUT_WITHIN_STREAMS: u32 = 200;

    let gateway = GatewayProcess::tls().await;
    // The streams the gateway accepts before its GOAWAY still reach the backend as cancelled
    // calls; that those cost nobody else a call is the next test's. Here: a client is served
    // once the bursts are over.
    let client = gateway.client().await;
    client.assert_still_usable().await;
    let baseline = Baseline::take(&gateway);
    let authority = gateway.addr.to_string();
    let block = hpack::request("GET", "/v1/users/42", &authority, true, &[]);

    for round in 0..CONNECTIONS {
        let (reader, mut writer) =
            raw_h2::connect(gateway.addr, true, SocketOptions::default()).await;
        let started = Instant::now();
        let closing = reader.spawn_until_closed(started, CLOSE_WITHIN);
        let mut stream = 1u32;
        let burst = writer
            .flood_with(BURST_LIMITS, |out, room| {
                // HEADERS (a complete GET) and at once RST_STREAM(CANCEL), 50 streams a write.
                let mut frames = 0;
                while frames + 2 <= room.min(100) {
                    out.extend(raw_h2::headers(stream, &block, true, true));
                    out.extend(raw_h2::rst_stream(stream, code::CANCEL));
                    stream += 2;
                    frames += 2;
                }
                frames
            })
            .await;
        let closing = closing.await.expect("reader task");
        let attack = format!("rapid reset, connection {round}");
        let streams = assert_cut_off(&closing, &attack, &gateway);
        eprintln!(
            "{attack}: {} streams written ({:?}), GOAWAY after {streams} streams at {:?}, \
             closed at {:?}",
            burst.frames / 2,
            burst.end,
            closing.goaway_after,
            closing.closed_after
        );
        assert!(
            streams <= CUT_WITHIN_STREAMS,
            "{attack}: the gateway took {streams} streams before its GOAWAY"
        );
    }

    baseline.assert_memory_bounded(&gateway, "rapid reset");
    baseline.assert_fds_released(&gateway, "rapid reset").await;
    client.assert_still_usable().await;
    gateway.client().await.assert_still_usable().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_the_client_makes_the_gateway_reset_get_goaway_after_a_bounded_number() {
    // hyper caps the streams the server resets (or refuses) for a peer's errors at 1024 per
    // connection; 3000 are sent. Only up to 100 (max_concurrent_streams) are ever accepted
    // at once, so the GOAWAY names few streams; the rest were reset or refused unaccepted.
    const STREAMS: u64 = 3000;

    let gateway = GatewayProcess::plaintext().await;
    let bystander = Bystander::start(gateway.client().await).await;
    let baseline = Baseline::take(&gateway);
    let authority = gateway.addr.to_string();
    // A POST promising a 1-byte body, then 2 bytes: a stream error the gateway answers with
    // RST_STREAM(PROTOCOL_ERROR), on a stream the client never reset itself.
    let block = hpack::request(
        "POST",
        "/v1/users",
        &authority,
        false,
        &[
            ("content-type", "application/json"),
            ("content-length", "1"),
        ],
    );

    let (reader, mut writer) = raw_h2::connect(gateway.addr, false, SocketOptions::default()).await;
    let started = Instant::now();
    let closing = reader.spawn_until_closed(started, CLOSE_WITHIN);
    let mut stream = 1u32;
    let limits = FloodLimits {
        max_frames: 2 * STREAMS,
        ..BURST_LIMITS
    };
    let burst = writer
        .flood_with(limits, |out, room| {
            let mut frames = 0;
            while frames + 2 <= room.min(100) {
                out.extend(raw_h2::headers(stream, &block, true, false));
                out.extend(raw_h2::data(stream, b"{}", true));
                stream += 2;
                frames += 2;
            }
            frames
        })
        .await;
    let closing = closing.await.expect("reader task");
    let attack = "server-side resets (MadeYouReset)";
    let streams = assert_cut_off(&closing, attack, &gateway);
    eprintln!(
        "{attack}: {} streams written ({:?}), {streams} accepted; {closing:?}",
        burst.frames / 2,
        burst.end,
    );
    assert!(
        closing.resets > 0,
        "{attack}: the gateway reset the malformed streams itself"
    );

    baseline.assert_memory_bounded(&gateway, attack);
    baseline.assert_fds_released(&gateway, attack).await;
    bystander.finish().await;
    gateway.client().await.assert_still_usable().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_streams_do_not_cost_other_clients_their_calls() {
    // Each connection stays under the gateway's own cap, so none of them is cut; together they
    // send 18,000 reset streams through the one upstream connection the worker holds. (The
    // bursts of the first test, cut at 51 streams, fail the bystander in ~6 runs out of 10.)
    const ROUNDS: usize = 10;
    const CONNECTIONS: usize = 40;
    const STREAMS: u32 = 45;

    let gateway = GatewayProcess::plaintext().await;
    let bystander = Bystander::start(gateway.client().await).await;
    let block = hpack::request("GET", "/v1/users/42", &gateway.addr.to_string(), false, &[]);
    let mut burst = Vec::new();
    for n in 0..STREAMS {
        burst.extend(raw_h2::headers(2 * n + 1, &block, true, true));
        burst.extend(raw_h2::rst_stream(2 * n + 1, code::CANCEL));
    }
    for _ in 0..ROUNDS {
        let attackers = (0..CONNECTIONS).map(|_| {
            let (addr, burst) = (gateway.addr, burst.clone());
            tokio::spawn(async move {
                let (reader, mut writer) =
                    raw_h2::connect(addr, false, SocketOptions::default()).await;
                let _ = writer.send(&burst).await;
                // Long enough for the gateway to start the calls before the hang-up.
                tokio::time::sleep(Duration::from_millis(200)).await;
                drop((reader, writer));
            })
        });
        for attacker in futures_util::future::join_all(attackers).await {
            attacker.expect("attacker task");
        }
    }
    eprintln!(
        "{} reset streams in {ROUNDS} rounds; bystander served {}",
        ROUNDS * CONNECTIONS * STREAMS as usize,
        bystander.served()
    );
    bystander.finish().await;
}
