//! Frames as plain bytes: the protocol's constants, one builder a frame type, and HPACK
//! header blocks hand-encoded from RFC 7541 literals and indexes, without Huffman coding or
//! dynamic-table state unless a test inserts an entry on purpose. Plain bytes, so an attack can
//! batch thousands of frames into one write.

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
