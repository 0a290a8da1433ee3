//! What the backend's frames say that h2 does not tell: reads the frame headers as they pass
//! (never the payloads, except a GOAWAY's first four bytes) and records
//!
//! - the last stream id of the latest GOAWAY: h2 fails every stream above it with the same
//!   error as the streams the backend did process and then lost with the connection, and
//!   does not say which id the GOAWAY named; a call above it, which the backend never saw,
//!   can be sent again on another connection;
//! - that the backend's SETTINGS arrived: h2's handshake returns before, when its
//!   concurrent-stream limit is still unknown, and a connection counts as made only once
//!   the backend has shown it speaks HTTP/2;
//! - whether the first byte opened a TLS record (a plaintext `http://` endpoint that really
//!   speaks TLS answers the HTTP/2 preface with an alert).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use tokio::io::ReadBuf;
use tokio::sync::Notify;

use crate::net::{Filtered, ReadFilter};

const FRAME_HEADER: usize = 9;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const ACK: u8 = 0x1;
/// No GOAWAY seen.
const NONE: u32 = u32::MAX;

/// What the frames told, shared with the calls on the connection and its driving task.
#[derive(Debug)]
pub struct BackendSignals {
    go_away_last_id: AtomicU32,
    answered_tls: AtomicBool,
    settings_arrived: AtomicBool,
    /// Wakes whoever waits for the SETTINGS (also when the connection ends without them).
    settings: Notify,
}

impl BackendSignals {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            go_away_last_id: AtomicU32::new(NONE),
            answered_tls: AtomicBool::new(false),
            settings_arrived: AtomicBool::new(false),
            settings: Notify::new(),
        })
    }

    /// The backend's first byte opened a TLS record (handshake or alert), not a frame.
    pub fn answered_tls(&self) -> bool {
        self.answered_tls.load(Ordering::Acquire)
    }

    /// Resolves with whether the backend's SETTINGS arrived, once they have or the connection
    /// has ended (see `connection_ended`).
    pub async fn settings_arrived(&self) -> bool {
        let notified = self.settings.notified();
        tokio::pin!(notified);
        // Registered before the check, so a notification between the two is not lost.
        notified.as_mut().enable();
        if self.settings_arrived.load(Ordering::Acquire) {
            return true;
        }
        notified.await;
        self.settings_arrived.load(Ordering::Acquire)
    }

    /// The connection is over: nobody should wait for SETTINGS any more.
    pub fn connection_ended(&self) {
        self.settings.notify_waiters();
    }

    /// Whether the backend sent a GOAWAY at all.
    pub fn said_goodbye(&self) -> bool {
        self.go_away_last_id.load(Ordering::Acquire) != NONE
    }

    /// Whether a GOAWAY said the backend never processed stream `id`.
    pub fn unprocessed(&self, id: u32) -> bool {
        match self.go_away_last_id.load(Ordering::Acquire) {
            NONE => false,
            last => id > last,
        }
    }
}

/// Watches the frame boundaries of what a backend sends (see `FrameWatch::socket`).
pub struct FrameWatch {
    seen: Arc<BackendSignals>,
    cursor: FrameCursor,
    read_any: bool,
}

impl FrameWatch {
    /// `inner` with its backend's frames watched, reporting to `seen`.
    pub fn socket<T>(inner: T, seen: Arc<BackendSignals>) -> Filtered<T, FrameWatch> {
        let watch = Self {
            seen,
            cursor: FrameCursor::default(),
            read_any: false,
        };
        Filtered::new(inner, watch)
    }
}

/// What the cursor saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Settings,
    GoAway(u32),
}

/// Where the byte stream is within its frames.
#[derive(Debug, Default)]
struct FrameCursor {
    header: [u8; FRAME_HEADER],
    header_len: usize,
    /// Payload bytes of the current frame still to pass.
    payload_left: usize,
    /// For a GOAWAY: its first four payload bytes, as they arrive.
    last_id: Option<([u8; 4], usize)>,
}

impl FrameCursor {
    /// Follows `bytes`, reporting each frame header and each GOAWAY's last stream id.
    fn advance(&mut self, mut bytes: &[u8], mut found: impl FnMut(Found)) {
        while !bytes.is_empty() {
            if self.payload_left == 0 {
                let take = (FRAME_HEADER - self.header_len).min(bytes.len());
                let (head, rest) = bytes.split_at(take);
                if let Some(slot) = self.header.get_mut(self.header_len..self.header_len + take) {
                    slot.copy_from_slice(head);
                }
                self.header_len += take;
                bytes = rest;
                if self.header_len < FRAME_HEADER {
                    return;
                }
                self.header_len = 0;
                let [l0, l1, l2, kind, flags, ..] = self.header;
                self.payload_left = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
                self.last_id = (kind == GOAWAY).then_some(([0; 4], 0));
                if kind == SETTINGS && flags & ACK == 0 {
                    found(Found::Settings);
                }
                continue;
            }
            let take = self.payload_left.min(bytes.len());
            let (payload, rest) = bytes.split_at(take);
            if let Some((id, have)) = &mut self.last_id {
                for &byte in payload.iter().take(4 - *have) {
                    if let Some(slot) = id.get_mut(*have) {
                        *slot = byte;
                    }
                    *have += 1;
                }
                if *have == 4 {
                    found(Found::GoAway(u32::from_be_bytes(*id) & 0x7fff_ffff));
                    self.last_id = None;
                }
            }
            self.payload_left -= take;
            bytes = rest;
        }
    }
}

impl ReadFilter for FrameWatch {
    fn inspect(&mut self, buf: &mut ReadBuf<'_>, before: usize) {
        let Some(new) = buf.filled().get(before..) else {
            return;
        };
        if !self.read_any
            && let Some(&first) = new.first()
        {
            self.read_any = true;
            // A frame from a server starts with a SETTINGS length (< 2^16): 0x00.
            self.seen
                .answered_tls
                .store(matches!(first, 0x15 | 0x16), Ordering::Release);
        }
        let seen = &self.seen;
        self.cursor.advance(new, |found| match found {
            Found::GoAway(id) => seen.go_away_last_id.store(id, Ordering::Release),
            Found::Settings => {
                if !seen.settings_arrived.swap(true, Ordering::AcqRel) {
                    seen.settings.notify_waiters();
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, 0];
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn goaway(last: u32) -> Vec<u8> {
        let mut payload = last.to_be_bytes().to_vec();
        payload.extend_from_slice(&11u32.to_be_bytes()); // ENHANCE_YOUR_CALM
        payload.extend_from_slice(b"too_many_resets");
        frame(GOAWAY, 0, &payload)
    }

    #[test]
    fn finds_goaway_among_other_frames_however_the_bytes_are_split() {
        let mut bytes = frame(0x4, 0, &[0, 3, 0, 0, 0, 100]); // SETTINGS
        bytes.extend(frame(0x0, 1, &[7; 300])); // DATA carrying GOAWAY-like bytes
        bytes.extend(frame(0x1, 3, &[0x88])); // HEADERS
        bytes.extend(goaway(41));
        bytes.extend(frame(0x6, 0, &[0; 8])); // PING
        for split in [1, 2, 3, 5, 9, 10, 64, bytes.len()] {
            let mut cursor = FrameCursor::default();
            let mut found = Vec::new();
            for piece in bytes.chunks(split) {
                cursor.advance(piece, |seen| found.push(seen));
            }
            assert_eq!(
                found,
                [Found::Settings, Found::GoAway(41)],
                "split every {split} bytes"
            );
            assert_eq!(cursor.payload_left, 0);
        }
    }

    #[test]
    fn unprocessed_means_above_the_last_stream_id() {
        let seen = BackendSignals::new();
        assert!(!seen.unprocessed(99));
        seen.go_away_last_id.store(41, Ordering::Release);
        assert!(!seen.unprocessed(41));
        assert!(seen.unprocessed(43));
    }
}
