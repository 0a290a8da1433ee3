//! The access log: one line per request on stdout, written when the request is over (for a
//! stream, when the stream ended), as JSON (`[access_log] format = "json"`) or as logfmt
//! `key=value` pairs (`"text"`, the default).
//!
//! A line costs the request path its formatting and nothing more: each worker appends its
//! lines to a batch of its own and hands the batch to the writer thread when it is full or
//! every `FLUSH_EVERY`, so the writer wakes and writes once per batch rather than once per
//! line. The writer thread takes batches through a bounded queue, so a slow stdout (a full
//! pipe, a slow log collector) never blocks a request: when the queue is full, batches are
//! dropped and their lines counted (`h2gate_access_log_dropped_total`).

mod entry;
mod writer;

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::runtime::{Handle, RuntimeFlavor};

use super::exchange::{Exchange, Learned};
use crate::config::AccessLogFormat;
use entry::Entry;
use writer::{Writer, WriterGuard};

/// Batches waiting for the writer thread before new ones are dropped.
const QUEUED_BATCHES: usize = 1024;
/// A worker hands its batch over at this size...
const BATCH_BYTES: usize = 32 * 1024;
/// ...or this long after its last hand-over, whichever comes first.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct AccessLog {
    json: bool,
    writer: Writer,
    dropped: DroppedLines,
}

/// Lines dropped because the writer fell behind, counted as their batches are dropped.
#[derive(Clone, Default)]
pub struct DroppedLines(Arc<AtomicU64>);

impl DroppedLines {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Keeps the writer thread running; dropping it writes out what is queued and stops it.
pub struct AccessLogGuard(#[allow(dead_code)] WriterGuard);

thread_local! {
    /// This worker's lines not yet handed to the writer thread.
    static BATCH: RefCell<Option<Batch>> = const { RefCell::new(None) };
}

struct Batch {
    lines: Vec<u8>,
    count: u64,
    log: AccessLog,
}

impl Batch {
    /// Hands the lines to the writer thread (a full queue drops them, counted).
    fn send(&mut self) {
        if self.lines.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut self.lines);
        if let Err(mut refused) = self.log.writer.send(lines) {
            self.log.dropped.0.fetch_add(self.count, Ordering::Relaxed);
            refused.clear();
            self.lines = refused;
        }
        self.count = 0;
    }
}

impl Drop for Batch {
    /// A worker thread that ends hands over what it still holds.
    fn drop(&mut self) {
        self.send();
    }
}

impl AccessLog {
    /// The log `format` asks for, with its writer thread; `None` for `off`.
    pub fn start(format: AccessLogFormat) -> Option<(Self, AccessLogGuard)> {
        let json = match format {
            AccessLogFormat::Off => return None,
            AccessLogFormat::Json => true,
            AccessLogFormat::Text => false,
        };
        let started = Writer::start("h2gate-access-log", QUEUED_BATCHES, std::io::stdout());
        let (writer, guard) = match started {
            Ok(started) => started,
            Err(error) => {
                tracing::error!(%error, "cannot start the access log's writer thread; no access log");
                return None;
            }
        };
        let log = Self {
            json,
            writer,
            dropped: DroppedLines::default(),
        };
        Some((log, AccessLogGuard(guard)))
    }

    /// Lines dropped because the writer thread fell behind.
    pub fn dropped(&self) -> DroppedLines {
        self.dropped.clone()
    }

    /// Writes the line of `exchange`, which `took` from its arrival to its end.
    pub fn write(&self, exchange: &Exchange, learned: &Learned, took: Duration) {
        let entry = Entry::of(exchange, learned, took);
        let batched = BATCH.with(|batch| {
            let Ok(mut batch) = batch.try_borrow_mut() else {
                return false;
            };
            let batch = match &mut *batch {
                Some(batch) => batch,
                // Batched only on a worker's own single-threaded runtime, whose flusher runs
                // on the same thread; anywhere else a line goes out alone.
                None if on_a_worker() => batch.insert({
                    tokio::spawn(flush_every(FLUSH_EVERY));
                    Batch {
                        lines: Vec::new(),
                        count: 0,
                        log: self.clone(),
                    }
                }),
                None => return false,
            };
            if batch.lines.capacity() == 0 {
                // A new batch, or the last one went to the writer thread with its buffer.
                batch.lines.reserve(BATCH_BYTES + 1024);
            }
            self.format(&entry, &mut batch.lines);
            batch.count += 1;
            if batch.lines.len() >= BATCH_BYTES {
                batch.send();
            }
            true
        });
        if !batched {
            let mut alone = Batch {
                lines: Vec::with_capacity(512),
                count: 1,
                log: self.clone(),
            };
            self.format(&entry, &mut alone.lines);
            alone.send();
        }
    }

    fn format(&self, entry: &Entry<'_>, out: &mut Vec<u8>) {
        if self.json {
            entry.write_json(out);
        } else {
            entry.write_logfmt(out);
        }
    }
}

/// Whether this thread runs a worker's single-threaded runtime.
fn on_a_worker() -> bool {
    Handle::try_current()
        .is_ok_and(|runtime| runtime.runtime_flavor() == RuntimeFlavor::CurrentThread)
}

/// Hands this thread's batch over every `period`, so that lines do not wait for a full
/// batch when traffic is light. Runs on the worker's runtime until it stops.
async fn flush_every(period: Duration) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        BATCH.with(|batch| {
            if let Ok(mut batch) = batch.try_borrow_mut()
                && let Some(batch) = batch.as_mut()
            {
                batch.send();
            }
        });
    }
}
