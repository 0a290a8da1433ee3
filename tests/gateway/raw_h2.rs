//! A tiny HTTP/2 client that writes frames byte by byte, for the attacks a conforming client
//! library refuses to express (a header block that never ends, a stream reset the moment it
//! opens, acknowledgements never read). Frames are built as plain bytes so an attack can batch
//! thousands of them into one write; HPACK blocks are hand-encoded from RFC 7541 literals and
//! indexes, without Huffman coding or dynamic-table state unless a test inserts an entry on
//! purpose. Works over h2c (prior knowledge) and TLS (ALPN `h2`).

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpSocket;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags.
pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
}

/// Error codes (RFC 9113 §7).
pub mod code {
    pub const CANCEL: u32 = 0x8;
    pub const FLOW_CONTROL_ERROR: u32 = 0x3;
    pub const COMPRESSION_ERROR: u32 = 0x9;
    pub const ENHANCE_YOUR_CALM: u32 = 0xb;
}

// ---------------------------------------------------------------------------------------------
// Writing frames

/// Appends one frame to `out`.
pub fn put_frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("frame payload fits 24 bits");
    assert!(len < 1 << 24, "frame payload fits 24 bits");
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
}

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + payload.len());
    put_frame(&mut out, kind, flags, stream, payload);
    out
}

/// A SETTINGS frame with `(identifier, value)` parameters.
pub fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let payload: Vec<u8> = params
        .iter()
        .flat_map(|(id, value)| id.to_be_bytes().into_iter().chain(value.to_be_bytes()))
        .collect();
    frame(kind::SETTINGS, 0, 0, &payload)
}

pub fn ping(payload: [u8; 8]) -> Vec<u8> {
    frame(kind::PING, 0, 0, &payload)
}

pub fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    frame(kind::WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

pub fn rst_stream(stream: u32, error_code: u32) -> Vec<u8> {
    frame(kind::RST_STREAM, 0, stream, &error_code.to_be_bytes())
}

pub fn data(stream: u32, payload: &[u8], end_stream: bool) -> Vec<u8> {
    let flags = if end_stream { flag::END_STREAM } else { 0 };
    frame(kind::DATA, flags, stream, payload)
}

pub fn headers(stream: u32, block: &[u8], end_headers: bool, end_stream: bool) -> Vec<u8> {
    let mut flags = 0;
    if end_headers {
        flags |= flag::END_HEADERS;
    }
    if end_stream {
        flags |= flag::END_STREAM;
    }
    frame(kind::HEADERS, flags, stream, block)
}

pub fn continuation(stream: u32, block: &[u8], end_headers: bool) -> Vec<u8> {
    let flags = if end_headers { flag::END_HEADERS } else { 0 };
    frame(kind::CONTINUATION, flags, stream, block)
}

/// HPACK representations (RFC 7541 §6), enough to write requests and attacks by hand.
pub mod hpack {
    /// Static table indexes (RFC 7541 Appendix A).
    pub const AUTHORITY: usize = 1;
    pub const METHOD_GET: usize = 2;
    pub const METHOD_POST: usize = 3;
    pub const PATH: usize = 4;
    pub const SCHEME_HTTP: usize = 6;
    pub const SCHEME_HTTPS: usize = 7;
    pub const CONTENT_LENGTH: usize = 28;
    pub const CONTENT_TYPE: usize = 31;
    /// The first dynamic-table index: the entry inserted last.
    pub const NEWEST_DYNAMIC: usize = 62;

    /// An integer with an N-bit prefix; `first` holds the representation's leading bits.
    fn integer(out: &mut Vec<u8>, first: u8, prefix_bits: u32, value: usize) {
        let max = (1usize << prefix_bits) - 1;
        if value < max {
            out.push(first | value as u8);
            return;
        }
        out.push(first | max as u8);
        let mut rest = value - max;
        while rest >= 128 {
            out.push((rest % 128) as u8 | 0x80);
            rest /= 128;
        }
        out.push(rest as u8);
    }

    /// A string literal without Huffman coding.
    fn string(out: &mut Vec<u8>, text: &[u8]) {
        integer(out, 0x00, 7, text.len());
        out.extend_from_slice(text);
    }

    /// Indexed header field (§6.1): one byte for indexes below 127.
    pub fn indexed(out: &mut Vec<u8>, index: usize) {
        integer(out, 0x80, 7, index);
    }

    /// Literal with incremental indexing, new name (§6.2.1): inserted into the dynamic table.
    pub fn literal_with_indexing(out: &mut Vec<u8>, name: &str, value: &[u8]) {
        out.push(0x40);
        string(out, name.as_bytes());
        string(out, value);
    }

    /// Literal without indexing, new name (§6.2.2).
    pub fn literal(out: &mut Vec<u8>, name: &str, value: &[u8]) {
        out.push(0x00);
        string(out, name.as_bytes());
        string(out, value);
    }

    /// Literal without indexing, name from the table (§6.2.2).
    pub fn literal_indexed_name(out: &mut Vec<u8>, name_index: usize, value: &[u8]) {
        integer(out, 0x00, 4, name_index);
        string(out, value);
    }

    /// A self-contained request header block (nothing enters the dynamic table, so the same
    /// bytes can open any number of streams).
    pub fn request(
        method: &str,
        path: &str,
        authority: &str,
        tls: bool,
        extra: &[(&str, &str)],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        match method {
            "GET" => indexed(&mut out, METHOD_GET),
            "POST" => indexed(&mut out, METHOD_POST),
            other => literal_indexed_name(&mut out, METHOD_GET, other.as_bytes()),
        }
        indexed(&mut out, if tls { SCHEME_HTTPS } else { SCHEME_HTTP });
        literal_indexed_name(&mut out, PATH, path.as_bytes());
        literal_indexed_name(&mut out, AUTHORITY, authority.as_bytes());
        for (name, value) in extra {
            match *name {
                "content-length" => {
                    literal_indexed_name(&mut out, CONTENT_LENGTH, value.as_bytes())
                }
                "content-type" => literal_indexed_name(&mut out, CONTENT_TYPE, value.as_bytes()),
                other => literal(&mut out, other, value.as_bytes()),
            }
        }
        out
    }
}

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
        let connector = crate::support::tls_connector(&[b"h2"]);
        let name = ServerName::try_from("localhost").expect("server name");
        let stream = tokio::time::timeout(Duration::from_secs(15), connector.connect(name, tcp))
            .await
            .expect("TLS handshake timed out")
            .expect("TLS handshake");
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

/// A readable name for an HTTP/2 error code.
pub fn code_name(code: u32) -> &'static str {
    match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        _ => "other",
    }
}
