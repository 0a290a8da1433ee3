//! The accept loop: one task per connection, `max_connections` enforced at accept, and
//! accept errors (out of file descriptors, above all) met with a backoff and one log line per
//! episode instead of a spin and a log flood.
//!
//! On drain the loop first takes every connection the kernel has already completed (a client
//! that connected just before the shutdown is served, or told GOAWAY, never reset by the
//! listening socket closing under it), then stops accepting and waits for the connections
//! to finish within the grace period. When the grace runs out, streams still running are
//! told to end (each sends its last `{"error"}` line) and get a moment to flush it.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::FutureExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::accept_turns::{OpenConnection, WorkerTurn};
use super::connection::{self, ConnectionContext};
use super::connection_slots::ConnectionSlots;
use crate::net::CoalescingStream;

/// The longest pause after an accept error; the first is `FIRST_BACKOFF`.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// At most one "refusing connections" line per worker this often.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);
/// How long streams get to send their last line once the grace period is over.
const CUT_FLUSH: Duration = Duration::from_secs(1);

/// How a worker's listener is told to stop.
pub struct Shutdown {
    /// Resolves when the worker must drain.
    pub drain: futures_util::future::BoxFuture<'static, ()>,
    /// How long connections get to finish once draining.
    pub grace: Duration,
    /// Set when the grace is over: running streams end with an error line.
    pub cut_streams: watch::Sender<bool>,
    /// Set when draining starts (read by every connection).
    pub draining: watch::Sender<bool>,
}

/// A listening socket handed to a worker by a reload that moved the listener, with the
/// worker's turn on it when workers share it.
pub type MovedListener = (std::net::TcpListener, Option<WorkerTurn>);

/// What one turn of the accept loop brought.
enum Step {
    Accepted(std::io::Result<(TcpStream, std::net::SocketAddr)>),
    Moved(MovedListener),
}

/// Serves connections from `listener` until `shutdown.drain` resolves, then drains. With
/// `turn` (a socket shared with other workers), a connection is accepted only on this worker's
/// turn and counted against it while it is open. A listener arriving on `moves` replaces the
/// current one (a reload moved the address): connections open on the old one go on.
pub async fn serve(
    (mut listener, mut turn): (TcpListener, Option<WorkerTurn>),
    mut moves: mpsc::UnboundedReceiver<MovedListener>,
    context: Arc<ArcSwap<ConnectionContext>>,
    slots: Arc<ConnectionSlots>,
    shutdown: Shutdown,
) {
    let mut connections = JoinSet::new();
    let mut accept_errors = AcceptErrors::default();
    let mut refusals = Refusals::default();
    let mut drain = shutdown.drain;
    loop {
        let step = {
            let next = async {
                if let Some(turn) = &turn {
                    turn.wait().await;
                }
                listener.accept().await
            };
            tokio::select! {
                accepted = next => Step::Accepted(accepted),
                () = &mut drain => break,
                Some(moved) = moves.recv() => Step::Moved(moved),
                // Reap finished connections so the set does not grow with every connection
                // ever made.
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            }
        };
        let accepted = match step {
            Step::Accepted(accepted) => accepted,
            Step::Moved((socket, moved_turn)) => {
                match TcpListener::from_std(socket) {
                    Ok(moved) => {
                        listener = moved;
                        turn = moved_turn;
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot take over the moved listener"),
                }
                continue;
            }
        };
        match accepted {
            Ok((stream, peer)) => {
                accept_errors.recovered();
                let open = turn.as_ref().map(WorkerTurn::opened);
                admit(
                    &mut connections,
                    &context,
                    &slots,
                    &mut refusals,
                    (stream, peer, open),
                );
            }
            Err(err) => {
                let pause = accept_errors.failed(&err);
                tokio::time::sleep(pause).await;
            }
        }
    }
    let _ = shutdown.draining.send(true);
    // Connections the kernel completed before the drain: take them rather than reset them.
    while let Some(Ok((stream, peer))) = listener.accept().now_or_never() {
        let open = turn.as_ref().map(WorkerTurn::opened);
        admit(
            &mut connections,
            &context,
            &slots,
            &mut refusals,
            (stream, peer, open),
        );
    }
    drop(listener);
    let grace_over = Instant::now() + shutdown.grace;
    let finished = async { while connections.join_next().await.is_some() {} };
    tokio::pin!(finished);
    if tokio::time::timeout_at(grace_over, &mut finished)
        .await
        .is_ok()
    {
        tracing::info!("all connections drained");
        return;
    }
    tracing::warn!("grace period over; ending the streams still running");
    let _ = shutdown.cut_streams.send(true);
    let _ = tokio::time::timeout(CUT_FLUSH, finished).await;
}

fn admit(
    connections: &mut JoinSet<()>,
    context: &ArcSwap<ConnectionContext>,
    slots: &Arc<ConnectionSlots>,
    refusals: &mut Refusals,
    (stream, peer, open): (TcpStream, std::net::SocketAddr, Option<OpenConnection>),
) {
    let Some(slot) = slots.try_acquire() else {
        // Closing it at once keeps the client from waiting on a connection never served.
        refusals.refused(slots.limit());
        return;
    };
    let _ = stream.set_nodelay(true);
    let stream = CoalescingStream::new(stream);
    // The context as it is now: a reload's limits and certificate apply from the next
    // connection on.
    let serving = connection::serve(context.load_full(), stream, peer, slot);
    connections.spawn(async move {
        // Counted against this worker's turn until the connection ends.
        let _open = open;
        serving.await;
    });
}

/// Accept failures: back off, and say so once per episode.
#[derive(Default)]
struct AcceptErrors {
    failures: u64,
    backoff: Option<Duration>,
}

impl AcceptErrors {
    /// The pause before accepting again.
    fn failed(&mut self, err: &std::io::Error) -> Duration {
        self.failures += 1;
        let pause = match self.backoff {
            None => {
                tracing::warn!(error = %err, "accept failed; backing off (logged once until accepting works again)");
                FIRST_BACKOFF
            }
            Some(last) => (last * 2).min(MAX_BACKOFF),
        };
        self.backoff = Some(pause);
        pause
    }

    fn recovered(&mut self) {
        if self.backoff.take().is_some() {
            tracing::info!(failures = self.failures, "accepting connections again");
            self.failures = 0;
        }
    }
}

/// Connections closed at accept because `max_connections` were open.
#[derive(Default)]
struct Refusals {
    since_log: u64,
    last_log: Option<Instant>,
}

impl Refusals {
    fn refused(&mut self, limit: usize) {
        self.since_log += 1;
        let due = self
            .last_log
            .is_none_or(|at| at.elapsed() >= REFUSAL_LOG_EVERY);
        if due {
            tracing::warn!(
                max_connections = limit,
                refused = self.since_log,
                "max_connections reached: closing new connections at accept"
            );
            self.since_log = 0;
            self.last_log = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_backoff_doubles_to_a_ceiling_and_resets() {
        let mut errors = AcceptErrors::default();
        let err = std::io::Error::from_raw_os_error(24);
        let pauses: Vec<_> = (0..10).map(|_| errors.failed(&err)).collect();
        assert_eq!(pauses[0], FIRST_BACKOFF);
        assert_eq!(pauses[1], FIRST_BACKOFF * 2);
        assert_eq!(pauses[9], MAX_BACKOFF);
        errors.recovered();
        assert_eq!(errors.failed(&err), FIRST_BACKOFF);
    }
}
