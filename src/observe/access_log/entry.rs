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

    /// Appends the line, newline included, as logfmt pairs.
    pub fn write_logfmt(&self, out: &mut Vec<u8>) {
        let mut line = Logfmt { out, first: true };
        line.pair("time", &self.time);
        line.optional("request_id", self.request_id);
        line.optional("trace_id", self.trace_id.as_deref());
        line.optional("client", self.client);
        line.pair("method", &self.method);
        line.optional("path", self.path);
        line.optional("route", self.route);
        line.optional("grpc_method", self.grpc_method.as_ref());
        line.optional("upstream", self.upstream);
        line.optional("endpoint", self.endpoint);
        line.optional("attempts", self.attempts);
        line.optional("status", self.status);
        line.optional("grpc_status", self.grpc_status);
        line.pair("bytes_in", &self.bytes_in);
        line.pair("bytes_out", &self.bytes_out);
        if self.messages_in > 0 || self.messages_out > 0 {
            line.pair("messages_in", &self.messages_in);
            line.pair("messages_out", &self.messages_out);
        }
        line.pair("duration_ms", &self.duration_ms);
        line.out.push(b'\n');
    }
}

/// logfmt pairs appended to a line.
struct Logfmt<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl Logfmt<'_> {
    fn optional(&mut self, key: &str, value: Option<impl Display>) {
        if let Some(value) = value {
            self.pair(key, &value);
        }
    }

    /// `key=value`, the value written in place and quoted afterwards if it must be.
    fn pair(&mut self, key: &str, value: &dyn Display) {
        if !self.first {
            self.out.push(b' ');
        }
        self.first = false;
        self.out.extend_from_slice(key.as_bytes());
        self.out.push(b'=');
        let start = self.out.len();
        let _ = write!(self.out, "{value}");
        let written = self.out.get(start..).unwrap_or_default();
        let plain = !written.is_empty()
            && !written
                .iter()
                .any(|b| matches!(b, b' ' | b'"' | b'=') || b.is_ascii_control());
        if !plain {
            let text = String::from_utf8_lossy(written).into_owned();
            self.out.truncate(start);
            let _ = serde_json::to_writer(&mut *self.out, &text);
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

impl Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// A time as RFC 3339 in UTC with microseconds; the date and time of day are formatted once
/// per second per thread.
struct Rfc3339Time(SystemTime);

thread_local! {
    /// The second last formatted, and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl Display for Rfc3339Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
            f.write_str(&cached.1)
        })?;
        write!(f, ".{:06}Z", since.subsec_micros())
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
        line.pair("route", &"/v1/{name=shelves/*}");
        line.pair("id", &"a b");
        line.pair("n", &7);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"route="/v1/{name=shelves/*}" id="a b" n=7"#
        );
        assert_eq!(Millis(3_973).to_string(), "3.973");
        assert_eq!(Millis(12).to_string(), "0.012");
    }
}
