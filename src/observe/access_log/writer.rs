//! The access log's writer thread. Workers hand it whole batches of lines through a bounded
//! queue (moved, never copied), and it writes each batch to its output with one call. A
//! full queue gives the batch back to the worker, which drops and counts it: a slow stdout
//! never blocks a request.

use std::io::Write;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Duration;

/// How long shutdown waits for the queued batches to be written.
const DRAIN_WAIT: Duration = Duration::from_secs(1);

enum Message {
    Lines(Vec<u8>),
    /// Write out what came before, then end.
    Stop,
}

/// Where workers send their batches; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: SyncSender<Message>,
}

/// Keeps the writer thread running; dropping it writes out what is queued (waiting at most
/// `DRAIN_WAIT`) and stops it.
pub struct WriterGuard {
    queue: SyncSender<Message>,
    ended: Receiver<()>,
}

impl Writer {
    /// A writer thread named `name` writing to `out`, with room for `queued` batches.
    pub fn start(
        name: &str,
        queued: usize,
        mut out: impl Write + Send + 'static,
    ) -> std::io::Result<(Self, WriterGuard)> {
        let (queue, batches) = mpsc::sync_channel(queued);
        let (end, ended) = mpsc::channel();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Ok(Message::Lines(lines)) = batches.recv() {
                    // A write that fails (a closed stdout) loses this batch; there is nowhere
                    // to report it.
                    let _ = out.write_all(&lines);
                    let _ = out.flush();
                }
                let _ = end.send(());
            })?;
        let guard = WriterGuard {
            queue: queue.clone(),
            ended,
        };
        Ok((Self { queue }, guard))
    }

    /// Queues `lines`; gives them back when the queue is full (or the thread has ended).
    pub fn send(&self, lines: Vec<u8>) -> Result<(), Vec<u8>> {
        self.queue
            .try_send(Message::Lines(lines))
            .map_err(|refused| match refused {
                TrySendError::Full(Message::Lines(lines))
                | TrySendError::Disconnected(Message::Lines(lines)) => lines,
                TrySendError::Full(Message::Stop) | TrySendError::Disconnected(Message::Stop) => {
                    Vec::new()
                }
            })
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        // A full queue still drains; the wait below bounds how long shutdown gives it.
        if self.queue.try_send(Message::Stop).is_ok() {
            let _ = self.ended.recv_timeout(DRAIN_WAIT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// An output that keeps what it was given, and can be held shut.
    #[derive(Clone, Default)]
    struct Kept {
        written: Arc<Mutex<Vec<u8>>>,
        gate: Arc<Mutex<()>>,
    }

    impl Write for Kept {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let _open = self.gate.lock().unwrap();
            self.written.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn batches_are_written_in_order_and_drained_at_shutdown() {
        let out = Kept::default();
        let (writer, guard) = Writer::start("test-writer", 8, out.clone()).unwrap();
        for i in 0..5 {
            writer.send(format!("line {i}\n").into_bytes()).unwrap();
        }
        drop(guard);
        let written = String::from_utf8(out.written.lock().unwrap().clone()).unwrap();
        assert_eq!(written, "line 0\nline 1\nline 2\nline 3\nline 4\n");
    }

    #[test]
    fn a_full_queue_gives_the_batch_back() {
        let out = Kept::default();
        let held = out.gate.lock().unwrap();
        let (writer, guard) = Writer::start("test-writer", 2, out.clone()).unwrap();
        // The thread takes one batch and blocks writing it; two more fill the queue.
        let mut refused = None;
        for i in 0..10 {
            if let Err(lines) = writer.send(vec![b'0' + i]) {
                refused = Some(lines);
                break;
            }
        }
        let refused = refused.expect("the queue never filled");
        assert_eq!(refused.len(), 1, "the refused batch comes back whole");
        drop(held);
        drop(guard);
    }
}
