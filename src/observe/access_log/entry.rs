//! One access-log line, written straight into the worker's batch: as a JSON object (every key
//! present, `null` when unknown) or as logfmt `key=value` pairs (absent ones left out, values
//! with spaces, quotes or `=` JSON-quoted). Nothing is allocated per field.

use std::cell::RefCell;
use std::fmt::{self, Display};
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::super::exchange::Exchange;
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
    client: Option<std::net::SocketAddr>,
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
    pub fn of(exchange: &'a Exchange) -> Self {
        let arrived = &exchange.arrived;
        let route = exchange.route();
        let (bytes_in, bytes_out) = exchange.bytes();
        let (messages_in, messages_out) = exchange.messages();
        let sent = exchange.sent();
        Entry {
            time: Rfc3339Time(arrived.time),
            request_id: exchange.request_id(),
            trace_id: exchange.trace.as_ref().map(|trace| hex(&trace.trace_id)),
            client: arrived.client,
            method: arrived.method.as_str(),
            path: arrived.path.as_deref(),
            route: route.map(|r| &*r.names.http_route).or(arrived.builtin),
            grpc_method: route.map(|r| GrpcMethod(&r.names.rpc_service, &r.names.rpc_method)),
            upstream: exchange.upstream().map(|u| &**u),
            endpoint: sent.and_then(|s| s.endpoint.as_deref()),
            attempts: sent.map(|s| s.attempts),
            status: exchange.status().map(|s| s.as_u16()),
            grpc_status: exchange.grpc_code(),
            bytes_in,
            bytes_out,
            messages_in,
            messages_out,
            duration_ms: Millis(arrived.started.elapsed().as_micros()),
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
        let mut line = Logfmt { out, first: true };
        line.key("time");
        self.time.write_to(line.out);
        line.text("request_id", self.request_id);
        line.text("trace_id", self.trace_id.as_deref());
        if let Some(client) = self.client {
            line.display("client", &client);
        }
        line.text("method", Some(self.method));
        line.text("path", self.path);
        line.text("route", self.route);
        if let Some(GrpcMethod(service, method)) = self.grpc_method {
            line.key("grpc_method");
            line.out.extend_from_slice(service.as_bytes());
            line.out.push(b'/');
            line.out.extend_from_slice(method.as_bytes());
        }
        line.text("upstream", self.upstream);
        line.text("endpoint", self.endpoint);
        line.number("attempts", self.attempts.map(u64::from));
        line.number("status", self.status.map(u64::from));
        line.number("grpc_status", self.grpc_status.map(u64::from));
        line.number("bytes_in", Some(self.bytes_in));
        line.number("bytes_out", Some(self.bytes_out));
        if self.messages_in > 0 || self.messages_out > 0 {
            line.number("messages_in", Some(self.messages_in));
            line.number("messages_out", Some(self.messages_out));
        }
        line.key("duration_ms");
        self.duration_ms.write_to(line.out);
        line.out.push(b'\n');
    }
}

/// logfmt pairs appended to a line.
struct Logfmt<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl Logfmt<'_> {
    /// ` key=`
    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b' ');
        }
        self.first = false;
        self.out.extend_from_slice(key.as_bytes());
        self.out.push(b'=');
    }

    /// `key=value`, JSON-quoted if the value is empty or holds a space, a quote, `=` or a
    /// control character; nothing if absent.
    fn text(&mut self, key: &str, value: Option<&str>) {
        let Some(value) = value else {
            return;
        };
        self.key(key);
        let plain = !value.is_empty()
            && !value
                .bytes()
                .any(|b| matches!(b, b' ' | b'"' | b'=') || b.is_ascii_control());
        if plain {
            self.out.extend_from_slice(value.as_bytes());
        } else {
            let _ = serde_json::to_writer(&mut *self.out, value);
        }
    }

    fn number(&mut self, key: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.key(key);
            self.out
                .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        }
    }

    /// A value that is never quoted (an address).
    fn display(&mut self, key: &str, value: &dyn Display) {
        self.key(key);
        let _ = write!(self.out, "{value}");
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
    fn logfmt_quotes_what_needs_it() {
        let mut out = Vec::new();
        let mut line = Logfmt {
            out: &mut out,
            first: true,
        };
        line.text("route", Some("/v1/{name=shelves/*}"));
        line.text("id", Some("a b"));
        line.text("absent", None);
        line.number("n", Some(7));
        line.key("ms");
        Millis(3_973).write_to(line.out);
        line.key("ms");
        Millis(12).write_to(line.out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"route="/v1/{name=shelves/*}" id="a b" n=7 ms=3.973 ms=0.012"#
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
