//! W3C Trace Context (`traceparent`): the trace a request belongs to, the span it comes from,
//! and whether that trace is sampled. An incoming `traceparent` that does not follow the
//! specification is ignored (the request starts a trace of its own), as §3.2 requires.

use std::fmt::Write as _;

use http::HeaderValue;

use crate::random;

pub type TraceId = [u8; 16];
pub type SpanId = [u8; 8];

/// A `traceparent`'s content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub sampled: bool,
}

const SAMPLED: u8 = 0x01;

impl Parent {
    /// Parses a `traceparent` header value; `None` if it is not a valid one.
    pub fn parse(value: &HeaderValue) -> Option<Self> {
        let text = value.to_str().ok()?;
        let bytes = text.as_bytes();
        // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2.
        if bytes.len() < 55 {
            return None;
        }
        let version = hex_byte(text.get(0..2)?)?;
        let well_formed = match version {
            0xff => false,
            0x00 => bytes.len() == 55,
            // A later version may append fields after another dash.
            _ => bytes.len() == 55 || bytes.get(55) == Some(&b'-'),
        };
        let dashes = [2, 35, 52].iter().all(|at| bytes.get(*at) == Some(&b'-'));
        if !well_formed || !dashes {
            return None;
        }
        let trace_id: TraceId = hex_array(text.get(3..35)?)?;
        let span_id: SpanId = hex_array(text.get(36..52)?)?;
        let flags = hex_byte(text.get(53..55)?)?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            span_id,
            sampled: flags & SAMPLED != 0,
        })
    }

    /// The `traceparent` value (version 00).
    pub fn header(&self) -> HeaderValue {
        let mut text = String::with_capacity(55);
        text.push_str("00-");
        push_hex(&mut text, &self.trace_id);
        text.push('-');
        push_hex(&mut text, &self.span_id);
        text.push_str(if self.sampled { "-01" } else { "-00" });
        HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// A new random trace id (never all zeros).
pub fn new_trace_id() -> TraceId {
    loop {
        let (high, low) = (random::next_u64(), random::next_u64());
        let id = ((u128::from(high) << 64) | u128::from(low)).to_be_bytes();
        if id != [0; 16] {
            return id;
        }
    }
}

/// A new random span id (never all zeros).
pub fn new_span_id() -> SpanId {
    loop {
        let id = random::next_u64().to_be_bytes();
        if id != [0; 8] {
            return id;
        }
    }
}

/// Lowercase hex, as the specification and OTLP's JSON both write ids.
pub fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    push_hex(&mut text, bytes);
    text
}

fn push_hex(text: &mut String, bytes: &[u8]) {
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
}

/// Two lowercase hex digits (the specification forbids uppercase).
fn hex_byte(text: &str) -> Option<u8> {
    let valid = text.len() == 2 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    valid.then(|| u8::from_str_radix(text, 16).ok()).flatten()
}

fn hex_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    for (index, slot) in out.iter_mut().enumerate() {
        *slot = hex_byte(text.get(index * 2..index * 2 + 2)?)?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<Parent> {
        Parent::parse(&HeaderValue::from_str(text).unwrap())
    }

    #[test]
    fn the_specifications_example_round_trips() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parent = parse(text).unwrap();
        assert!(parent.sampled);
        assert_eq!(hex(&parent.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&parent.span_id), "00f067aa0ba902b7");
        assert_eq!(parent.header(), text);
        let unsampled = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!unsampled.sampled);
    }

    #[test]
    fn invalid_values_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        // A later version may carry more after a dash.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert!(parse(later).is_some());
    }

    #[test]
    fn new_ids_are_random_and_never_zero() {
        assert_ne!(new_trace_id(), new_trace_id());
        assert_ne!(new_span_id(), [0; 8]);
    }
}
