//! The gateway under known HTTP/2 and HTTP/1.1 attacks. Each test runs a real attacker
//! (`crate::support::raw_h2` frames, or raw HTTP/1.1 bytes) against an `h2gate` child process
//! while a well-behaved client keeps calling it, and holds three things: the well-behaved
//! client is served during and after the attack, the gateway's memory stays bounded, and the
//! attacker's connection is closed where the protocol allows it. Every attack loop is bounded
//! in frames and in time, and talks to 127.0.0.1 only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;
use tokio::task::JoinHandle;

use crate::support::raw_h2::{self, Closing, GoAway, SocketOptions};
use crate::support::{Client, GatewayProcess};

mod control_floods;
mod header_floods;
mod held_streams;
mod memory_bounds;
mod rapid_reset;
mod slow_readers;
mod smuggling;

/// How much the gateway's peak RSS may grow over an attack. An idle debug-build gateway holds
/// ~24 MiB and the attacks here move it by well under 1 MiB, except 50 unread downloads
/// (~22 MiB of legitimate per-stream buffers). The attacks that would make a gateway keep what
/// it is sent (header blocks, acks, downloads) offer several times this bound within their
/// time limits, so a gateway that kept it would cross it.
pub const MEMORY_BOUND_KIB: u64 = 64 * 1024;

/// How long the gateway may take to close an attacker's connection once the attack started:
/// seconds of slack for a loaded 2-core machine, where the close itself takes milliseconds.
pub const CLOSE_WITHIN: Duration = Duration::from_secs(15);

/// An attacker that never reads keeps a small receive buffer, so what the gateway sends it
/// fills the socket after a few KiB rather than after the MiBs loopback autotuning allows.
pub const NEVER_READS: SocketOptions = SocketOptions {
    recv_buffer: Some(4096),
};

/// The well-behaved client's request and what it must get back.
const BYSTANDER_PATH: &str = "/v1/users/42";

/// A well-behaved client calling `GET /v1/users/42` on one connection, again and again, while
/// an attack runs; every answer must be 200 with the user.
pub struct Bystander {
    served: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<Client>,
}

impl Bystander {
    /// Starts calling on `client` once a first call has succeeded.
    pub async fn start(client: Client) -> Self {
        assert_served(&client).await;
        let served = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, stopping) = (Arc::clone(&served), Arc::clone(&stop));
        let task = tokio::spawn(async move {
            while !stopping.load(Ordering::SeqCst) {
                assert_served(&client).await;
                count.fetch_add(1, Ordering::SeqCst);
                // Paced, so the bystander is not itself a load on the 2 shared cores.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            client
        });
        Self { served, stop, task }
    }

    /// Calls answered so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }

    /// Stops calling and proves the same connection still works; a failed call during the
    /// attack fails the test here.
    pub async fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        let client = match self.task.await {
            Ok(client) => client,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => panic!("bystander task: {err}"),
        };
        assert_served(&client).await;
    }
}

async fn assert_served(client: &Client) {
    let reply = client.get(BYSTANDER_PATH).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the well-behaved client is served: {}",
        reply.text()
    );
    assert_eq!(reply.json()["userId"], "42");
}

/// The gateway's memory and descriptors before an attack, to compare with after.
pub struct Baseline {
    rss_kib: u64,
    fds: usize,
}

impl Baseline {
    /// Takes the figures now and restarts the peak-RSS counter.
    pub fn take(gateway: &GatewayProcess) -> Self {
        gateway.reset_peak_rss();
        Self {
            rss_kib: gateway.rss_kib(),
            fds: gateway.open_fds(),
        }
    }

    /// RSS when the baseline was taken, KiB.
    pub fn rss_kib(&self) -> u64 {
        self.rss_kib
    }

    /// Peak RSS growth since the baseline, KiB; fails the test above [`MEMORY_BOUND_KIB`].
    pub fn assert_memory_bounded(&self, gateway: &GatewayProcess, attack: &str) -> u64 {
        self.assert_memory_within(gateway, attack, MEMORY_BOUND_KIB)
    }

    /// Peak RSS growth since the baseline (or since the peak was last reset, measured from
    /// the baseline), KiB; fails the test at `bound_kib` or above.
    pub fn assert_memory_within(
        &self,
        gateway: &GatewayProcess,
        attack: &str,
        bound_kib: u64,
    ) -> u64 {
        let peak = gateway.peak_rss_kib().max(gateway.rss_kib());
        let growth = peak.saturating_sub(self.rss_kib);
        eprintln!(
            "{attack}: RSS {} KiB before, peak {peak} KiB (+{growth} KiB)",
            self.rss_kib
        );
        assert!(
            growth < bound_kib,
            "{attack}: the gateway's peak RSS grew by {growth} KiB (bound {bound_kib} KiB); \
             log:\n{}",
            gateway.log_tail()
        );
        growth
    }

    /// Once the attacker is gone, the gateway holds no more descriptors than before: the
    /// attacker's sockets were closed, not leaked.
    pub async fn assert_fds_released(&self, gateway: &GatewayProcess, attack: &str) {
        let open = gateway.wait_for_fds_at_most(self.fds, CLOSE_WITHIN).await;
        assert!(
            open <= self.fds,
            "{attack}: the gateway holds {open} descriptors, {} before the attack",
            self.fds
        );
    }
}

/// The gateway answered an attack with a GOAWAY carrying one of `codes` and closed the
/// connection, both within [`CLOSE_WITHIN`]; returns the GOAWAY.
pub fn assert_goaway_and_close(
    closing: &Closing,
    codes: &[u32],
    attack: &str,
    gateway: &GatewayProcess,
) -> GoAway {
    let goaway = closing.goaway.clone().unwrap_or_else(|| {
        panic!(
            "{attack}: no GOAWAY within {CLOSE_WITHIN:?} ({closing:?}); log:\n{}",
            gateway.log_tail()
        )
    });
    assert!(
        codes.contains(&goaway.error_code),
        "{attack}: GOAWAY {} ({goaway:?})",
        raw_h2::code_name(goaway.error_code)
    );
    assert!(
        closing.closed,
        "{attack}: the gateway closes the connection after its GOAWAY ({closing:?})"
    );
    goaway
}
