//! Which calls a backend's GOAWAY left unprocessed. h2 fails every stream above the GOAWAY's
//! last stream id with the same error as the streams the backend did process and then lost
//! with the connection, and does not say which id the GOAWAY named. This adapter reads the
//! backend's frame headers as they pass (never the payloads, except a GOAWAY's first four
//! bytes) and records the last stream id of the latest GOAWAY, so a call above it, which the
//! backend never saw, can be sent again on another connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const FRAME_HEADER: usize = 9;
const GOAWAY: u8 = 0x7;
/// No GOAWAY seen.
const NONE: u32 = u32::MAX;

/// The latest GOAWAY's last stream id, shared with the calls on the connection; and whether
/// the backend's first byte looked like TLS (a plaintext `http://` endpoint that is really
/// TLS answers the HTTP/2 preface with an alert record).
#[derive(Debug)]
pub struct GoAwaySeen(AtomicU32, AtomicBool);

impl GoAwaySeen {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(AtomicU32::new(NONE), AtomicBool::new(false)))
    }

    /// The backend's first byte opened a TLS record (handshake or alert), not a frame.
    pub fn answered_tls(&self) -> bool {
        self.1.load(Ordering::Acquire)
    }

    /// Whether the backend sent a GOAWAY at all.
    pub fn said_goodbye(&self) -> bool {
        self.0.load(Ordering::Acquire) != NONE
    }

    /// Whether a GOAWAY said the backend never processed stream `id`.
    pub fn unprocessed(&self, id: u32) -> bool {
        match self.0.load(Ordering::Acquire) {
            NONE => false,
            last => id > last,
        }
    }
}

/// Reads through to `inner`, watching the frame boundaries for GOAWAY.
pub struct GoAwayWatch<T> {
    inner: T,
    seen: Arc<GoAwaySeen>,
    cursor: FrameCursor,
    read_any: bool,
}

impl<T> GoAwayWatch<T> {
    pub fn new(inner: T, seen: Arc<GoAwaySeen>) -> Self {
        Self {
            inner,
            seen,
            cursor: FrameCursor::default(),
            read_any: false,
        }
    }
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
    /// Follows `bytes`; returns a GOAWAY's last stream id when one completes.
    fn advance(&mut self, mut bytes: &[u8], mut found: impl FnMut(u32)) {
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
                let [l0, l1, l2, kind, ..] = self.header;
                self.payload_left = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
                self.last_id = (kind == GOAWAY).then_some(([0; 4], 0));
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
                    found(u32::from_be_bytes(*id) & 0x7fff_ffff);
                    self.last_id = None;
                }
            }
            self.payload_left -= take;
            bytes = rest;
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GoAwayWatch<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && let Some(new) = buf.filled().get(before..)
        {
            let this = &mut *self;
            if !this.read_any
                && let Some(&first) = new.first()
            {
                this.read_any = true;
                // A frame from a server starts with a SETTINGS length (< 2^16): 0x00.
                this.seen
                    .1
                    .store(matches!(first, 0x15 | 0x16), Ordering::Release);
            }
            let seen = &this.seen;
            this.cursor
                .advance(new, |id| seen.0.store(id, Ordering::Release));
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GoAwayWatch<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
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
                cursor.advance(piece, |id| found.push(id));
            }
            assert_eq!(found, [41], "split every {split} bytes");
            assert_eq!(cursor.payload_left, 0);
        }
    }

    #[test]
    fn unprocessed_means_above_the_last_stream_id() {
        let seen = GoAwaySeen::new();
        assert!(!seen.unprocessed(99));
        seen.0.store(41, Ordering::Release);
        assert!(!seen.unprocessed(41));
        assert!(seen.unprocessed(43));
    }
}
