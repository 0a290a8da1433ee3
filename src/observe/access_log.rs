//! The access log: one line per request on stdout, written when the request is over (for a
//! stream, when the stream ended), as JSON (`[access_log] format = "json"`) or as logfmt
//! `key=value` pairs (`"text"`, the default).
//!
//! Lines leave the request path through a bounded channel to a writer thread that writes them
//! in batches, so a slow stdout (a full pipe, a slow log collector) never blocks a request:
//! when the channel is full, lines are dropped and counted instead
//! (`h2gate_access_log_dropped_total`).

use std::fmt::Write as _;
use std::io::{BufWriter, Write as _};
use std::time::SystemTime;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};

use super::exchange::Exchange;
use super::traces::hex;
use crate::config::AccessLogFormat;

/// Lines waiting for the writer thread before new ones are dropped.
const QUEUED_LINES: usize = 64 * 1024;
/// The writer thread's buffer: one write to stdout per batch of lines.
const WRITE_BUFFER: usize = 64 * 1024;

pub struct AccessLog {
    json: bool,
    writer: NonBlocking,
}

/// Keeps the writer thread running; dropping it writes out what is queued and stops it.
pub struct AccessLogGuard(#[allow(dead_code)] WorkerGuard);

impl AccessLog {
    /// The log `format` asks for, with its writer thread; `None` for `off`.
    pub fn start(format: AccessLogFormat) -> Option<(Self, AccessLogGuard)> {
        let json = match format {
            AccessLogFormat::Off => return None,
            AccessLogFormat::Json => true,
            AccessLogFormat::Text => false,
        };
        let stdout = BufWriter::with_capacity(WRITE_BUFFER, std::io::stdout());
        let (writer, guard) = NonBlockingBuilder::default()
            .buffered_lines_limit(QUEUED_LINES)
            .lossy(true)
            .thread_name("h2gate-access-log")
            .finish(stdout);
        Some((Self { json, writer }, AccessLogGuard(guard)))
    }

    /// Lines dropped because the writer thread fell behind.
    pub fn dropped(&self) -> ErrorCounter {
        self.writer.error_counter()
    }

    pub fn write(&self, exchange: &Exchange) {
        let entry = Entry::of(exchange);
        let line = if self.json {
            let mut line = serde_json::to_vec(&entry).unwrap_or_default();
            line.push(b'\n');
            line
        } else {
            entry.logfmt().into_bytes()
        };
        if line.len() <= 1 {
            return;
        }
        // Lossy: a full queue drops the line (counted), it never waits.
        let _ = self.writer.clone().write_all(&line);
    }
}

/// One line's fields; absent ones are `null` in JSON and left out in text.
#[derive(Serialize)]
struct Entry<'a> {
    time: String,
    request_id: Option<&'a str>,
    /// The trace the request belongs to, when tracing is on.
    trace_id: Option<String>,
    client: Option<String>,
    method: &'a str,
    path: Option<&'a str>,
    route: Option<&'a str>,
    grpc_method: Option<String>,
    upstream: Option<&'a str>,
    endpoint: Option<&'a str>,
    attempts: Option<u32>,
    status: Option<u16>,
    grpc_status: Option<u8>,
    bytes_in: u64,
    bytes_out: u64,
    messages_in: u64,
    messages_out: u64,
    duration_ms: f64,
}

impl<'a> Entry<'a> {
    fn of(exchange: &'a Exchange) -> Self {
        let arrived = &exchange.arrived;
        let route = exchange.route();
        let (bytes_in, bytes_out) = exchange.bytes();
        let (messages_in, messages_out) = exchange.messages();
        let sent = exchange.sent();
        let micros = arrived.started.elapsed().as_micros();
        // Below 2^53 µs (285 years): exact in an f64.
        #[allow(clippy::cast_precision_loss)]
        let duration_ms = u64::try_from(micros).unwrap_or(u64::MAX) as f64 / 1000.0;
        Entry {
            time: rfc3339(arrived.time),
            request_id: exchange.request_id(),
            trace_id: exchange.trace.as_ref().map(|trace| hex(&trace.trace_id)),
            client: arrived.client.map(|client| client.to_string()),
            method: arrived.method.as_str(),
            path: arrived.path.as_deref(),
            route: route.map(|r| &*r.names.http_route).or(arrived.builtin),
            grpc_method: route.map(|r| format!("{}/{}", r.names.rpc_service, r.names.rpc_method)),
            upstream: exchange.upstream().map(|u| &**u),
            endpoint: sent.and_then(|s| s.endpoint.as_deref()),
            attempts: sent.map(|s| s.attempts),
            status: exchange.status().map(|s| s.as_u16()),
            grpc_status: exchange.grpc_code(),
            bytes_in,
            bytes_out,
            messages_in,
            messages_out,
            duration_ms,
        }
    }

    /// `key=value` pairs; values with spaces, quotes or `=` are JSON-quoted.
    fn logfmt(&self) -> String {
        let mut line = String::with_capacity(256);
        let mut pair = |key: &str, value: &dyn std::fmt::Display| {
            let text = value.to_string();
            let plain = !text.is_empty()
                && !text
                    .chars()
                    .any(|c| c == ' ' || c == '"' || c == '=' || c.is_control());
            if !line.is_empty() {
                line.push(' ');
            }
            if plain {
                let _ = write!(line, "{key}={text}");
            } else {
                let quoted = serde_json::to_string(&text).unwrap_or_default();
                let _ = write!(line, "{key}={quoted}");
            }
        };
        pair("time", &self.time);
        let optional: [(&str, Option<&dyn std::fmt::Display>); 10] = [
            ("request_id", self.request_id.as_ref().map(|v| v as _)),
            ("trace_id", self.trace_id.as_ref().map(|v| v as _)),
            ("client", self.client.as_ref().map(|v| v as _)),
            ("method", Some(&self.method)),
            ("path", self.path.as_ref().map(|v| v as _)),
            ("route", self.route.as_ref().map(|v| v as _)),
            ("grpc_method", self.grpc_method.as_ref().map(|v| v as _)),
            ("upstream", self.upstream.as_ref().map(|v| v as _)),
            ("endpoint", self.endpoint.as_ref().map(|v| v as _)),
            ("attempts", self.attempts.as_ref().map(|v| v as _)),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                pair(key, value);
            }
        }
        if let Some(status) = self.status {
            pair("status", &status);
        }
        if let Some(code) = self.grpc_status {
            pair("grpc_status", &code);
        }
        pair("bytes_in", &self.bytes_in);
        pair("bytes_out", &self.bytes_out);
        if self.messages_in > 0 || self.messages_out > 0 {
            pair("messages_in", &self.messages_in);
            pair("messages_out", &self.messages_out);
        }
        pair("duration_ms", &format_args!("{:.3}", self.duration_ms));
        line.push('\n');
        line
    }
}

fn rfc3339(time: SystemTime) -> String {
    OffsetDateTime::from(time)
        .format(&Rfc3339)
        .unwrap_or_default()
}
