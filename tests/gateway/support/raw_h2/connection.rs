//! One raw HTTP/2 connection to the gateway, over h2c (prior knowledge) or TLS (ALPN `h2`):
//! a writing half that sends bytes or bounded floods of frames, and a reading half that parses
//! the gateway's frames and notes how and when it closed the connection.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpSocket;

use super::frames::{PREFACE, flag, kind, settings};
use crate::support::tls_client::tls_handshake_over;

// ---------------------------------------------------------------------------------------------
// Connecting

pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Socket options for an attacker. A small receive buffer makes a peer that never reads look
/// full to the gateway sooner, so backpressure shows within the test's volume.
#[derive(Debug, Clone, Copy, Default)]
pub struct SocketOptions {
    pub recv_buffer: Option<u32>,
}

/// Opens a connection (TLS with ALPN `h2`, or h2c with prior knowledge), sends the preface
/// and an empty SETTINGS frame. The server's SETTINGS are left unacknowledged: h2 applies its
/// own limits from the first frame anyway.
pub async fn connect(
    addr: SocketAddr,
    tls: bool,
    options: SocketOptions,
) -> (FrameReader, FrameWriter) {
    let socket = TcpSocket::new_v4().expect("socket");
    if let Some(size) = options.recv_buffer {
        socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
    }
    let tcp = socket.connect(addr).await.expect("connect to the gateway");
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = if tls {
        let stream = tls_handshake_over(tcp, &[b"h2"]).await;
        assert_eq!(
            stream.get_ref().1.alpn_protocol(),
            Some(&b"h2"[..]),
            "ALPN picked h2"
        );
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let (read, write) = tokio::io::split(io);
    let mut writer = FrameWriter { io: write };
    let mut hello = PREFACE.to_vec();
    hello.extend(settings(&[]));
    writer.send(&hello).await.expect("write the preface");
    (
        FrameReader {
            io: read,
            buf: BytesMut::with_capacity(32 * 1024),
        },
        writer,
    )
}

// ---------------------------------------------------------------------------------------------
// The writing half, with bounded floods

pub struct FrameWriter {
    io: WriteHalf<Box<dyn Io>>,
}

/// Bounds every flood: it stops by itself after `max_frames` or `max_time`, and calls the
/// peer stalled when it accepts nothing for `stall`.
#[derive(Debug, Clone, Copy)]
pub struct FloodLimits {
    pub max_frames: u64,
    pub max_time: Duration,
    pub stall: Duration,
}

/// Why a flood stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloodEnd {
    /// Every frame was accepted by the socket.
    AllSent,
    /// `max_time` passed while the peer was still accepting bytes.
    TimeUp,
    /// The peer accepted nothing for `stall`: it stopped reading.
    Stalled,
    /// The write failed: the peer closed or reset the connection.
    Closed(io::ErrorKind),
}

#[derive(Debug, Clone, Copy)]
pub struct Flood {
    /// Frames fully handed to the socket.
    pub frames: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    pub end: FloodEnd,
}

impl FrameWriter {
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await
    }

    /// Writes copies of `frame` (pre-encoded), batched into large writes, within `limits`.
    pub async fn flood(&mut self, frame: &[u8], limits: FloodLimits) -> Flood {
        let per_batch = (64 * 1024 / frame.len()).max(1) as u64;
        let batch = frame.repeat(per_batch as usize);
        self.flood_with(limits, |out, room| {
            let n = per_batch.min(room);
            out.extend_from_slice(&batch[..n as usize * frame.len()]);
            n
        })
        .await
    }

    /// Writes, batch after batch, the frames `next` appends (it is told how many may still be
    /// sent and returns how many it added; 0 ends the flood), within `limits`.
    pub async fn flood_with(
        &mut self,
        limits: FloodLimits,
        mut next: impl FnMut(&mut Vec<u8>, u64) -> u64,
    ) -> Flood {
        let started = Instant::now();
        let mut frames = 0u64;
        let mut bytes = 0u64;
        let mut batch = Vec::with_capacity(64 * 1024);
        let end = loop {
            if frames >= limits.max_frames {
                break FloodEnd::AllSent;
            }
            batch.clear();
            let count = next(&mut batch, limits.max_frames - frames);
            if count == 0 {
                break FloodEnd::AllSent;
            }
            let mut offset = 0;
            let stopped = loop {
                if offset == batch.len() {
                    break None;
                }
                if started.elapsed() >= limits.max_time {
                    break Some(FloodEnd::TimeUp);
                }
                match tokio::time::timeout(limits.stall, self.io.write(&batch[offset..])).await {
                    Ok(Ok(0)) => break Some(FloodEnd::Closed(io::ErrorKind::WriteZero)),
                    Ok(Ok(n)) => offset += n,
                    Ok(Err(err)) => break Some(FloodEnd::Closed(err.kind())),
                    Err(_) => break Some(FloodEnd::Stalled),
                }
            };
            bytes += offset as u64;
            // A batch cut short counts the frames it got through, assuming equal sizes.
            frames += count * offset as u64 / batch.len() as u64;
            if let Some(end) = stopped {
                break end;
            }
        };
        let _ = tokio::time::timeout(limits.stall, self.io.flush()).await;
        Flood {
            frames,
            bytes,
            elapsed: started.elapsed(),
            end,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The reading half

#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoAway {
    pub last_stream_id: u32,
    pub error_code: u32,
    pub debug: String,
}

impl Frame {
    pub fn goaway(&self) -> Option<GoAway> {
        if self.kind != kind::GOAWAY || self.payload.len() < 8 {
            return None;
        }
        let mut payload = self.payload.clone();
        Some(GoAway {
            last_stream_id: payload.get_u32() & 0x7fff_ffff,
            error_code: payload.get_u32(),
            debug: String::from_utf8_lossy(&payload).into_owned(),
        })
    }

    pub fn is_ping_ack(&self, payload: [u8; 8]) -> bool {
        self.kind == kind::PING
            && self.stream == 0
            && self.flags & flag::ACK != 0
            && self.payload[..] == payload
    }
}

/// How a connection ended, seen from the client.
#[derive(Debug, Clone, Default)]
pub struct Closing {
    /// The last GOAWAY the gateway sent.
    pub goaway: Option<GoAway>,
    /// The gateway closed the connection (EOF or reset) within the limit.
    pub closed: bool,
    /// From the start given to [`FrameReader::until_closed`] to the GOAWAY and to the close.
    pub goaway_after: Option<Duration>,
    pub closed_after: Option<Duration>,
    pub frames: u64,
    /// RST_STREAM frames received.
    pub resets: u64,
}

pub struct FrameReader {
    io: ReadHalf<Box<dyn Io>>,
    buf: BytesMut,
}

impl FrameReader {
    /// The next frame; `Ok(None)` at EOF.
    pub async fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let head = self.buf.split_to(9);
                    let payload = self.buf.split_to(len).freeze();
                    return Ok(Some(Frame {
                        kind: head[3],
                        flags: head[4],
                        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]])
                            & 0x7fff_ffff,
                        payload,
                    }));
                }
            }
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Reads until a frame matches `wanted`; `None` on EOF, error or after `limit`.
    pub async fn wait_for(
        &mut self,
        limit: Duration,
        mut wanted: impl FnMut(&Frame) -> bool,
    ) -> Option<Frame> {
        let search = async {
            while let Ok(Some(frame)) = self.next_frame().await {
                if wanted(&frame) {
                    return Some(frame);
                }
            }
            None
        };
        tokio::time::timeout(limit, search).await.ok().flatten()
    }

    /// Reads everything until the gateway closes the connection or `limit` passes (measured
    /// from `started`), noting GOAWAY and when things happened.
    pub async fn until_closed(&mut self, started: Instant, limit: Duration) -> Closing {
        let mut closing = Closing::default();
        let deadline = tokio::time::Instant::from_std(started + limit);
        loop {
            match tokio::time::timeout_at(deadline, self.next_frame()).await {
                Ok(Ok(Some(frame))) => {
                    closing.frames += 1;
                    if frame.kind == kind::RST_STREAM {
                        closing.resets += 1;
                    }
                    if let Some(goaway) = frame.goaway() {
                        closing.goaway = Some(goaway);
                        closing.goaway_after = Some(started.elapsed());
                    }
                }
                // EOF, or a reset after the gateway closed with our frames still unread.
                Ok(Ok(None) | Err(_)) => {
                    closing.closed = true;
                    closing.closed_after = Some(started.elapsed());
                    return closing;
                }
                Err(_) => return closing,
            }
        }
    }
}

impl FrameReader {
    /// [`FrameReader::until_closed`] on a task of its own, so the attacker can keep writing.
    pub fn spawn_until_closed(
        mut self,
        started: Instant,
        limit: Duration,
    ) -> tokio::task::JoinHandle<Closing> {
        tokio::spawn(async move { self.until_closed(started, limit).await })
    }
}
