//! HTTP/1.1 message framing checked as the bytes arrive, before hyper parses them: a bare LF
//! (a line feed without its carriage return) in a request head or chunked framing is refused.
//!
//! hyper's parser (httparse) accepts a bare LF as a line end, which RFC 9112 §2.2 allows but a
//! proxy in front of the gateway may not: a proxy that ends lines only at CRLF and the gateway
//! would then see different requests in the same bytes (request smuggling). So the first bare
//! LF is replaced by bytes no HTTP parser accepts (`NUL CR LF CR LF`): hyper answers the
//! message it was reading with 400 and closes the connection, after the answers to any
//! requests before it, and nothing after the bare LF is ever read.
//!
//! To know where heads are, the guard follows the request framing: a head up to its blank
//! line, then a body of `Content-Length` bytes or chunked (chunked wins over a length, as in
//! hyper), then the next head. It stops looking at a connection that turns out to be HTTP/2
//! (the prior-knowledge preface), that upgrades (WebSocket), or whose head outgrows what it
//! keeps (hyper refuses such a head itself).

use tokio::io::ReadBuf;

use crate::net::{Filtered, ReadFilter};

/// What a client message that breaks the framing is replaced with: invalid in a request line
/// and in a header, so the message fails to parse wherever it stood.
const POISON: &[u8] = b"\0\r\n\r\n";
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Head bytes kept to read its framing headers; a longer head stops the checking.
const MAX_HEAD: usize = 64 * 1024;

pub struct Http1Guard {
    framing: Framing,
    /// Poison bytes still to hand to hyper.
    poison_left: usize,
}

/// Where the client's byte stream stands.
#[derive(Debug)]
enum Framing {
    /// The first bytes might be the HTTP/2 preface (plaintext connections).
    Sniffing {
        seen: usize,
    },
    Head(HeadScan),
    Body(Body),
    /// Not (or no longer) HTTP/1.1 messages: passed through untouched.
    Opaque,
    /// A bare LF was found: the poison was (or is being) delivered, then end of stream.
    Refused,
}

#[derive(Debug, Default)]
struct HeadScan {
    bytes: Vec<u8>,
}

#[derive(Debug)]
enum Body {
    Length(u64),
    Chunked(Chunk),
}

#[derive(Debug)]
enum Chunk {
    /// A chunk-size line (or a trailer line, after the last chunk) being read.
    Line {
        line: Vec<u8>,
        trailers: bool,
    },
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd {
        got_cr: bool,
    },
}

/// What one byte did to the framing.
enum Step {
    Continue,
    BareLf,
}

impl Http1Guard {
    /// `inner` with its client's HTTP/1.1 framing checked; `maybe_h2`: the connection may still
    /// turn out to be HTTP/2 with prior knowledge.
    pub fn socket<T>(inner: T, maybe_h2: bool) -> Filtered<T, Http1Guard> {
        Filtered::new(inner, Self::new(maybe_h2))
    }

    fn new(maybe_h2: bool) -> Self {
        let framing = if maybe_h2 {
            Framing::Sniffing { seen: 0 }
        } else {
            Framing::Head(HeadScan::default())
        };
        Self {
            framing,
            poison_left: 0,
        }
    }

    /// Follows `bytes`; the offset of the first bare LF, if any.
    fn follow(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while let Some(&byte) = bytes.get(i) {
            // Body bytes are skipped in bulk; only framing is looked at byte by byte.
            let left = match &mut self.framing {
                Framing::Opaque | Framing::Refused => return None,
                Framing::Body(Body::Length(left))
                | Framing::Body(Body::Chunked(Chunk::Data(left))) => left,
                Framing::Head(head) => {
                    // Only a line end can change a head's framing: the bytes up to the next
                    // LF are taken in bulk, and the LF itself is stepped through.
                    let rest = bytes.get(i..).unwrap_or_default();
                    let line = memchr::memchr(b'\n', rest)
                        .map_or(rest, |lf| rest.get(..lf).unwrap_or_default());
                    if head.bytes.len() + line.len() > MAX_HEAD {
                        self.framing = Framing::Opaque;
                        return None;
                    }
                    head.bytes.extend_from_slice(line);
                    i += line.len();
                    if i < bytes.len() {
                        if let Step::BareLf = self.step(b'\n') {
                            self.framing = Framing::Refused;
                            self.poison_left = POISON.len();
                            return Some(i);
                        }
                        i += 1;
                    }
                    continue;
                }
                _ => {
                    if let Step::BareLf = self.step(byte) {
                        self.framing = Framing::Refused;
                        self.poison_left = POISON.len();
                        return Some(i);
                    }
                    i += 1;
                    continue;
                }
            };
            let take = (*left).min(u64::try_from(bytes.len() - i).unwrap_or(u64::MAX));
            *left -= take;
            i += usize::try_from(take).unwrap_or(usize::MAX);
            if *left == 0 {
                self.framing = match self.framing {
                    Framing::Body(Body::Length(_)) => Framing::Head(HeadScan::default()),
                    _ => Framing::Body(Body::Chunked(Chunk::DataEnd { got_cr: false })),
                };
            }
        }
        None
    }

    fn step(&mut self, byte: u8) -> Step {
        match &mut self.framing {
            Framing::Sniffing { seen } => {
                if H2_PREFACE.get(*seen) == Some(&byte) {
                    *seen += 1;
                    if *seen == H2_PREFACE.len() {
                        self.framing = Framing::Opaque;
                    }
                    return Step::Continue;
                }
                // Not the preface: an HTTP/1.1 head, whose first bytes were the preface's.
                let mut head = HeadScan::default();
                head.bytes
                    .extend_from_slice(H2_PREFACE.get(..*seen).unwrap_or_default());
                self.framing = Framing::Head(head);
                self.step(byte)
            }
            Framing::Head(head) => {
                if byte == b'\n' && head.bytes.last() != Some(&b'\r') {
                    return Step::BareLf;
                }
                head.bytes.push(byte);
                if head.bytes.len() > MAX_HEAD {
                    self.framing = Framing::Opaque;
                } else if head.bytes.ends_with(b"\r\n\r\n") {
                    self.framing = after_head(&head.bytes);
                } else if head.bytes == b"\r\n" {
                    // Blank lines before a request line are allowed (RFC 9112 §2.2).
                    head.bytes.clear();
                }
                Step::Continue
            }
            // Skipped in bulk by `follow`.
            Framing::Body(Body::Length(_)) => Step::Continue,
            Framing::Body(Body::Chunked(chunk)) => match chunk {
                Chunk::Line { line, trailers } => {
                    if byte == b'\n' {
                        if line.last() != Some(&b'\r') {
                            return Step::BareLf;
                        }
                        line.pop();
                        self.framing = after_chunk_line(line, *trailers);
                    } else if line.len() < 4096 {
                        line.push(byte);
                    } else {
                        self.framing = Framing::Opaque;
                    }
                    Step::Continue
                }
                Chunk::Data(_) => Step::Continue,
                Chunk::DataEnd { got_cr } => match (byte, *got_cr) {
                    (b'\r', false) => {
                        *got_cr = true;
                        Step::Continue
                    }
                    (b'\n', true) => {
                        *chunk = Chunk::Line {
                            line: Vec::new(),
                            trailers: false,
                        };
                        Step::Continue
                    }
                    (b'\n', false) => Step::BareLf,
                    // Not the CRLF a chunk ends with: hyper rejects that itself.
                    _ => {
                        self.framing = Framing::Opaque;
                        Step::Continue
                    }
                },
            },
            Framing::Opaque | Framing::Refused => Step::Continue,
        }
    }
}

/// What follows a complete head: its body, or the next head, or nothing more to check.
fn after_head(head: &[u8]) -> Framing {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = line.split_at(colon);
        let value = value.get(1..).unwrap_or_default().trim_ascii();
        if name.eq_ignore_ascii_case(b"upgrade") {
            // Once upgraded the stream is no longer HTTP/1.1 (and if the upgrade is refused,
            // hyper still frames what follows).
            return Framing::Opaque;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked |= value
                .split(|&b| b == b',')
                .any(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let parsed = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            match parsed {
                Some(len) => length = Some(len),
                // Malformed or repeated lengths are hyper's to refuse.
                None => return Framing::Opaque,
            }
        }
    }
    match (chunked, length) {
        (true, _) => Framing::Body(Body::Chunked(Chunk::Line {
            line: Vec::new(),
            trailers: false,
        })),
        (false, Some(len)) if len > 0 => Framing::Body(Body::Length(len)),
        _ => Framing::Head(HeadScan::default()),
    }
}

/// After a chunk-size line (or a trailer line): the chunk's data, the trailers, or the end.
fn after_chunk_line(line: &[u8], trailers: bool) -> Framing {
    if trailers {
        return if line.is_empty() {
            Framing::Head(HeadScan::default())
        } else {
            Framing::Body(Body::Chunked(Chunk::Line {
                line: Vec::new(),
                trailers: true,
            }))
        };
    }
    let size = line
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let size = std::str::from_utf8(size)
        .ok()
        .and_then(|hex| u64::from_str_radix(hex, 16).ok());
    match size {
        Some(0) => Framing::Body(Body::Chunked(Chunk::Line {
            line: Vec::new(),
            trailers: true,
        })),
        Some(size) => Framing::Body(Body::Chunked(Chunk::Data(size))),
        // A malformed size is hyper's to refuse.
        None => Framing::Opaque,
    }
}

impl ReadFilter for Http1Guard {
    fn answer(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        if !matches!(self.framing, Framing::Refused) {
            return false;
        }
        // The poison, then the end: nothing the client sent after the bare LF is read.
        let start = POISON.len() - self.poison_left;
        let take = self.poison_left.min(buf.remaining());
        if let Some(bytes) = POISON.get(start..start + take) {
            buf.put_slice(bytes);
        }
        self.poison_left -= take;
        true
    }

    fn inspect(&mut self, buf: &mut ReadBuf<'_>, before: usize) {
        if matches!(self.framing, Framing::Opaque) {
            return;
        }
        let new = buf.filled().get(before..).unwrap_or_default();
        if let Some(offset) = self.follow(new) {
            buf.set_filled(before + offset);
            let take = self.poison_left.min(buf.remaining());
            if let Some(bytes) = POISON.get(..take) {
                buf.put_slice(bytes);
            }
            self.poison_left -= take;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offset of the first bare LF in `stream`, however it is split into reads.
    fn bare_lf(stream: &[u8], maybe_h2: bool) -> Option<usize> {
        let mut found = None;
        for split in [1, 2, 3, 7, stream.len().max(1)] {
            let mut guard = Http1Guard::new(maybe_h2);
            let mut offset = 0;
            let mut here = None;
            for piece in stream.chunks(split) {
                if let Some(at) = guard.follow(piece) {
                    here = Some(offset + at);
                    break;
                }
                offset += piece.len();
            }
            match found {
                None => found = Some(here),
                Some(earlier) => assert_eq!(earlier, here, "split {split}"),
            }
        }
        found.flatten()
    }

    /// `follow` as it was written first, stepping through every byte of a head: the reference
    /// the bulk reading must agree with.
    fn follow_bytewise(guard: &mut Http1Guard, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while let Some(&byte) = bytes.get(i) {
            let left = match &mut guard.framing {
                Framing::Opaque | Framing::Refused => return None,
                Framing::Body(Body::Length(left))
                | Framing::Body(Body::Chunked(Chunk::Data(left))) => left,
                Framing::Head(head) => {
                    if byte == b'\n' && head.bytes.last() != Some(&b'\r') {
                        guard.framing = Framing::Refused;
                        return Some(i);
                    }
                    head.bytes.push(byte);
                    if head.bytes.len() > MAX_HEAD {
                        guard.framing = Framing::Opaque;
                    } else if head.bytes.ends_with(b"\r\n\r\n") {
                        guard.framing = after_head(&head.bytes);
                    } else if head.bytes == b"\r\n" {
                        head.bytes.clear();
                    }
                    i += 1;
                    continue;
                }
                _ => {
                    if let Step::BareLf = guard.step(byte) {
                        guard.framing = Framing::Refused;
                        return Some(i);
                    }
                    i += 1;
                    continue;
                }
            };
            let take = (*left).min(u64::try_from(bytes.len() - i).unwrap());
            *left -= take;
            i += usize::try_from(take).unwrap();
            if *left == 0 {
                guard.framing = match guard.framing {
                    Framing::Body(Body::Length(_)) => Framing::Head(HeadScan::default()),
                    _ => Framing::Body(Body::Chunked(Chunk::DataEnd { got_cr: false })),
                };
            }
        }
        None
    }

    /// Where a guard fed `stream` in pieces of `split` bytes finds a bare LF, and in what state
    /// it ends.
    fn run(
        stream: &[u8],
        split: usize,
        maybe_h2: bool,
        follow: fn(&mut Http1Guard, &[u8]) -> Option<usize>,
    ) -> (Option<usize>, String) {
        let mut guard = Http1Guard::new(maybe_h2);
        let mut offset = 0;
        for piece in stream.chunks(split.max(1)) {
            if let Some(at) = follow(&mut guard, piece) {
                return (Some(offset + at), "refused".into());
            }
            offset += piece.len();
        }
        (None, format!("{:?}", guard.framing))
    }

    #[test]
    fn reading_heads_in_bulk_agrees_with_reading_them_byte_by_byte() {
        // Streams built from the pieces framing turns on, in a fixed pseudo-random order.
        let pieces: [&[u8]; 16] = [
            b"GET / HTTP/1.1",
            b"POST /p HTTP/1.1",
            b"\r\n",
            b"\n",
            b"\r",
            b"Host: a",
            b"Content-Length: 3",
            b"Content-Length: 0",
            b"Transfer-Encoding: chunked",
            b"Upgrade: websocket",
            b"abc",
            b"3",
            b"0",
            b"X-Long: ",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"\r\n\r\n",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..4000 {
            let mut stream = Vec::new();
            for _ in 0..(next() % 24) {
                stream.extend_from_slice(pieces[(next() % 16) as usize]);
            }
            if next() % 50 == 0 {
                // Past the kept head's size.
                stream.extend(std::iter::repeat_n(b'x', MAX_HEAD));
                stream.extend_from_slice(b"\n");
            }
            let maybe_h2 = next() % 2 == 0;
            for split in [1, 2, 5, 16, stream.len().max(1)] {
                assert_eq!(
                    run(&stream, split, maybe_h2, Http1Guard::follow),
                    run(&stream, split, maybe_h2, follow_bytewise),
                    "split {split}, h2 {maybe_h2}: {:?}",
                    String::from_utf8_lossy(&stream)
                );
            }
        }
    }

    #[test]
    fn well_formed_pipelines_pass() {
        let streams: [&[u8]; 5] = [
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
            // Bodies may hold bare LFs (NDJSON).
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\n{}\n{}\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\n}\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\n\n\n",
        ];
        for stream in streams {
            assert_eq!(
                bare_lf(stream, true),
                None,
                "{:?}",
                String::from_utf8_lossy(stream)
            );
        }
    }

    #[test]
    fn bare_lfs_in_heads_and_chunk_lines_are_found() {
        let cases: [(&[u8], &[u8]); 4] = [
            (b"GET / HTTP/1.1\nHost: a\n\n", b"GET / HTTP/1.1"),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nX: x\nContent-Length: 5\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: a\r\nX: x",
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\nHost: a\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1",
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n0\r\n\r\n",
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2",
            ),
        ];
        for (stream, before) in cases {
            assert_eq!(
                bare_lf(stream, true),
                Some(before.len()),
                "{:?}",
                String::from_utf8_lossy(stream)
            );
        }
    }

    #[test]
    fn an_upgrade_stops_the_checking() {
        let stream = b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n\x81\x05a\nb\nc";
        assert_eq!(bare_lf(stream, false), None);
    }
}
