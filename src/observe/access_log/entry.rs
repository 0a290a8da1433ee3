//! One access-log line, written straight into the worker's batch: as a JSON object (every key
//! present, `null` when unknown) or as logfmt `key=value` pairs (absent ones left out, values
//! with spaces, quotes or `=` JSON-quoted). Nothing is allocated per field.

use std::cell::RefCell;
use std::fmt::{self, Display};
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::super::exchange::{Exchange, Learned};
use super::super::traces::hex;

/// One line's fields, borrowed from the exchange.
#[derive(Serialize)]
pub struct Entry<'a> {
    #[serde(serialize_with = "display")]
    time: Rfc3339Time,
    request_id: Option<&'a str>,
    /// The trace the request belongs to, when tracing is on.
    trace_id: Option<String>,
    #[serde(serialize_with = "display_opt")]
    client: Option<SocketAddr>,
    method: &'a str,
    path: Option<&'a str>,
    route: Option<&'a str>,
    #[serde(serialize_with = "display_opt")]
    grpc_method: Option<GrpcMethod<'a>>,
    upstream: Option<&'a str>,
    endpoint: Option<&'a str>,
    attempts: Option<u32>,
    status: Option<u16>,
    grpc_status: Option<u8>,
    bytes_in: u64,
    bytes_out: u64,
    messages_in: u64,
    messages_out: u64,
    duration_ms: Millis,
}

impl<'a> Entry<'a> {
    /// The line of `exchange`, which `took` from its arrival to its end.
    pub fn of(exchange: &'a Exchange, learned: &'a Learned, took: Duration) -> Self {
        let arrived = &exchange.arrived;
        let route = learned.route.as_ref();
        let (bytes_in, bytes_out) = exchange.bytes();
        let (messages_in, messages_out) = exchange.messages();
        let sent = learned.sent.as_ref();
        Entry {
            time: Rfc3339Time(arrived.time),
            request_id: learned.request_id(),
            trace_id: exchange.trace.as_ref().map(|trace| hex(&trace.trace_id)),
            client: arrived
                .connection
                .as_ref()
                .map(|connection| connection.peer()),
            method: arrived.method.as_str(),
            path: arrived.path.as_deref(),
            route: route.map(|r| &*r.names.http_route).or(arrived.builtin),
            grpc_method: route.map(|r| GrpcMethod(&r.names.rpc_service, &r.names.rpc_method)),
            upstream: learned.upstream.as_deref(),
            endpoint: sent.and_then(|s| s.endpoint.as_deref()),
            attempts: sent.map(|s| s.attempts),
            status: exchange.status().map(|s| s.as_u16()),
            grpc_status: exchange.grpc_code(),
            bytes_in,
            bytes_out,
            messages_in,
            messages_out,
            duration_ms: Millis(took.as_micros()),
        }
    }

    /// Appends the line, newline included, as one JSON object.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        if serde_json::to_writer(&mut *out, self).is_ok() {
            out.push(b'\n');
        }
    }

    /// Appends the line, newline included, as logfmt pairs. Text and numbers are copied in
    /// directly (the formatting machinery costs more than the line).
    pub fn write_logfmt(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"time=");
        self.time.write_to(out);
        let mut line = Logfmt { out };
        line.text(" request_id=", self.request_id);
        // Hex digits, and a method token (RFC 9110 tchar): never quoted.
        line.plain(" trace_id=", self.trace_id.as_deref());
        if let Some(client) = self.client {
            line.out.extend_from_slice(b" client=");
            write_address(line.out, client);
        }
        line.plain(" method=", Some(self.method));
        line.text(" path=", self.path);
        line.text(" route=", self.route);
        if let Some(GrpcMethod(service, method)) = self.grpc_method {
            // Protobuf identifiers: never quoted.
            line.plain(" grpc_method=", Some(service));
            line.out.push(b'/');
            line.out.extend_from_slice(method.as_bytes());
        }
        line.text(" upstream=", self.upstream);
        line.text(" endpoint=", self.endpoint);
        line.number(" attempts=", self.attempts.map(u64::from));
        line.number(" status=", self.status.map(u64::from));
        line.number(" grpc_status=", self.grpc_status.map(u64::from));
        line.number(" bytes_in=", Some(self.bytes_in));
        line.number(" bytes_out=", Some(self.bytes_out));
        if self.messages_in > 0 || self.messages_out > 0 {
            line.number(" messages_in=", Some(self.messages_in));
            line.number(" messages_out=", Some(self.messages_out));
        }
        line.out.extend_from_slice(b" duration_ms=");
        self.duration_ms.write_to(line.out);
        line.out.push(b'\n');
    }
}

/// logfmt pairs appended to a line; each key comes with its leading space and `=`
/// (` route=`), so a pair is two copies.
struct Logfmt<'a> {
    out: &'a mut Vec<u8>,
}

/// Whether `byte` makes a logfmt value quoted: space, `"`, `=` and control characters.
const fn quoted(byte: u8) -> bool {
    byte <= 0x20 || byte == 0x7f || byte == b'"' || byte == b'='
}

/// Whether `value` holds a `quoted` byte: eight bytes at a time (a line's text is mostly
/// ids and paths, and a byte at a time cost more than copying them).
fn needs_quotes(value: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    /// Whether a byte of `word` is below `n` (exact for `n` up to 0x80).
    const fn any_below(word: u64, n: u8) -> bool {
        word.wrapping_sub(ONES * n as u64) & !word & HIGHS != 0
    }
    const fn any_equal(word: u64, byte: u8) -> bool {
        any_below(word ^ (ONES * byte as u64), 1)
    }
    let mut words = value.chunks_exact(8);
    for chunk in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(bytes);
        if any_below(word, 0x21)
            || any_equal(word, b'"')
            || any_equal(word, b'=')
            || any_equal(word, 0x7f)
        {
            return true;
        }
    }
    words.remainder().iter().any(|b| quoted(*b))
}

// Inlined, so that each key is a copy of known length.
impl Logfmt<'_> {
    /// `key=value`, JSON-quoted if the value is empty or holds a `quoted` byte; nothing if
    /// absent.
    #[inline(always)]
    fn text(&mut self, key: &str, value: Option<&str>) {
        let Some(value) = value else {
            return;
        };
        let plain = !value.is_empty() && !needs_quotes(value.as_bytes());
        self.out.extend_from_slice(key.as_bytes());
        if plain {
            self.out.extend_from_slice(value.as_bytes());
        } else {
            let _ = serde_json::to_writer(&mut *self.out, value);
        }
    }

    /// `key=value` for a value that never needs quoting; nothing if absent.
    #[inline(always)]
    fn plain(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.out.extend_from_slice(key.as_bytes());
            self.out.extend_from_slice(value.as_bytes());
        }
    }

    #[inline(always)]
    fn number(&mut self, key: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.out.extend_from_slice(key.as_bytes());
            self.out
                .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        }
    }
}

/// `a.b.c.d:port` written digit by digit (an IPv6 address through `Display`, `[…]:port`).
fn write_address(out: &mut Vec<u8>, address: SocketAddr) {
    match address {
        SocketAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(digits.format(octet).as_bytes());
            }
            out.push(b':');
            out.extend_from_slice(digits.format(v4.port()).as_bytes());
        }
        SocketAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// `package.Service/Method`.
#[derive(Clone, Copy)]
struct GrpcMethod<'a>(&'a str, &'a str);

impl Display for GrpcMethod<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

/// A duration in microseconds, shown as milliseconds with three decimals.
struct Millis(u128);

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Below 2^53 µs (285 years): exact in an f64.
        #[allow(clippy::cast_precision_loss)]
        let micros = u64::try_from(self.0).unwrap_or(u64::MAX) as f64;
        serializer.serialize_f64(micros / 1000.0)
    }
}

impl Millis {
    /// `12.345`
    fn write_to(&self, out: &mut Vec<u8>) {
        let whole = u64::try_from(self.0 / 1000).unwrap_or(u64::MAX);
        out.extend_from_slice(itoa::Buffer::new().format(whole).as_bytes());
        out.push(b'.');
        push_padded(out, u32::try_from(self.0 % 1000).unwrap_or(0), 3);
    }
}

/// `value` with leading zeros to `digits` digits.
fn push_padded(out: &mut Vec<u8>, value: u32, digits: usize) {
    let mut buffer = itoa::Buffer::new();
    let text = buffer.format(value);
    out.extend(std::iter::repeat_n(b'0', digits.saturating_sub(text.len())));
    out.extend_from_slice(text.as_bytes());
}

/// A time as RFC 3339 in UTC with microseconds; the date and time of day are formatted once
/// per second per thread.
struct Rfc3339Time(SystemTime);

thread_local! {
    /// The second last formatted, and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl Rfc3339Time {
    /// Calls `with` with the date and time of day, `YYYY-MM-DDTHH:MM:SS`, and the microseconds.
    fn parts<R>(&self, with: impl FnOnce(&str, u32) -> R) -> R {
        let since = self.0.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        SECOND.with(|cached| {
            let mut cached = cached.borrow_mut();
            if cached.0 != secs {
                let whole = i64::try_from(secs)
                    .ok()
                    .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                    .and_then(|t| t.format(&Rfc3339).ok())
                    .unwrap_or_default();
                // "…:SSZ" without its zone: the fraction goes before it.
                cached.1 = whole.trim_end_matches('Z').to_owned();
                cached.0 = secs;
            }
            with(&cached.1, since.subsec_micros())
        })
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        self.parts(|second, micros| {
            out.extend_from_slice(second.as_bytes());
            out.push(b'.');
            push_padded(out, micros, 6);
            out.push(b'Z');
        });
    }
}

impl Display for Rfc3339Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.parts(|second, micros| write!(f, "{second}.{micros:06}Z"))
    }
}

fn display<S: Serializer>(value: &impl Display, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

fn display_opt<S: Serializer, T: Display>(
    value: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.collect_str(value),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_with_microseconds() {
        let time = UNIX_EPOCH + std::time::Duration::from_micros(1_764_509_673_801_156);
        let text = Rfc3339Time(time).to_string();
        assert_eq!(text, "2025-11-30T13:34:33.801156Z");
        // The cached second serves the next line of the same second.
        let later = time + std::time::Duration::from_micros(7);
        assert_eq!(
            Rfc3339Time(later).to_string(),
            "2025-11-30T13:34:33.801163Z"
        );
    }

    #[test]
    fn the_word_scan_finds_what_the_byte_table_finds() {
        let by_byte = |value: &[u8]| value.iter().any(|b| quoted(*b));
        // Every byte value at every position of a word, among plain neighbours.
        for byte in 0..=255u8 {
            for at in 0..17 {
                let mut value = b"abcdefghijklmnopq".to_vec();
                value[at] = byte;
                assert_eq!(needs_quotes(&value), by_byte(&value), "{byte:#x} at {at}");
            }
        }
        // Neighbours that borrow across bytes (high bytes, just above the bounds).
        for a in [0x21u8, 0x22, 0x3c, 0x3e, 0x7e, 0x80, 0xa0, 0xff] {
            for b in [0x00u8, 0x20, 0x21, 0x7f, 0x80, 0xff] {
                let value = [a, b, a, a, b, a, a, a, b];
                assert_eq!(needs_quotes(&value), by_byte(&value), "{a:#x} {b:#x}");
            }
        }
    }

    #[test]
    fn logfmt_quotes_what_needs_it() {
        let mut out = Vec::new();
        let mut line = Logfmt { out: &mut out };
        line.text("route=", Some("/v1/{name=shelves/*}"));
        line.text(" id=", Some("a b"));
        line.text(" tab=", Some("a\tb"));
        line.text(" empty=", Some(""));
        line.text(" absent=", None);
        line.text(" plain=", Some("/v1/users/42"));
        line.number(" n=", Some(7));
        line.out.extend_from_slice(b" ms=");
        Millis(3_973).write_to(line.out);
        line.out.extend_from_slice(b" ms=");
        Millis(12).write_to(line.out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"route="/v1/{name=shelves/*}" id="a b" tab="a\tb" empty="" plain=/v1/users/42 n=7 ms=3.973 ms=0.012"#
        );
        let mut out = Vec::new();
        write_address(&mut out, "10.0.255.7:54321".parse().unwrap());
        out.push(b' ');
        write_address(&mut out, "[::1]:8443".parse().unwrap());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "10.0.255.7:54321 [::1]:8443"
        );
        let time = UNIX_EPOCH + std::time::Duration::from_micros(1_764_509_673_000_042);
        let mut out = Vec::new();
        Rfc3339Time(time).write_to(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2025-11-30T13:34:33.000042Z"
        );
    }
}
