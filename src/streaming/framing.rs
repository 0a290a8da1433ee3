//! How streamed messages are framed in an HTTP response body (public contract).
//!
//! NDJSON (the default, grpc-gateway compatible): one `{"result": <message>}` line per
//! message, a final `{"error": <ErrorResponse>}` line if the stream fails after it started.
//! Server-Sent Events (`Accept: text/event-stream`): `data: <message>` per message and
//! `event: error` with the ErrorResponse as data. JSON is written compact, so it never holds a
//! raw newline that would break either framing.

use bytes::{BufMut, Bytes, BytesMut};
use http::header::ACCEPT;
use http::{HeaderMap, HeaderValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Ndjson,
    Sse,
}

impl Framing {
    /// SSE when the client accepts `text/event-stream`, NDJSON otherwise.
    pub fn negotiate(headers: &HeaderMap) -> Self {
        let wants_sse = headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("text/event-stream"));
        if wants_sse { Self::Sse } else { Self::Ndjson }
    }

    pub fn content_type(self) -> HeaderValue {
        match self {
            Self::Ndjson => HeaderValue::from_static("application/x-ndjson"),
            Self::Sse => HeaderValue::from_static("text/event-stream"),
        }
    }

    pub fn message(self, json: &[u8]) -> Bytes {
        match self {
            Self::Ndjson => wrap(b"{\"result\":", json, b"}\n"),
            Self::Sse => wrap(b"data: ", json, b"\n\n"),
        }
    }

    pub fn error(self, json: &[u8]) -> Bytes {
        match self {
            Self::Ndjson => wrap(b"{\"error\":", json, b"}\n"),
            Self::Sse => wrap(b"event: error\ndata: ", json, b"\n\n"),
        }
    }
}

fn wrap(prefix: &[u8], json: &[u8], suffix: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(prefix.len() + json.len() + suffix.len());
    out.put_slice(prefix);
    out.put_slice(json);
    out.put_slice(suffix);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let cases = [
            (Framing::Ndjson, true, "{\"result\":{\"a\":1}}\n"),
            (Framing::Ndjson, false, "{\"error\":{\"a\":1}}\n"),
            (Framing::Sse, true, "data: {\"a\":1}\n\n"),
            (Framing::Sse, false, "event: error\ndata: {\"a\":1}\n\n"),
        ];
        for (framing, ok, expected) in cases {
            let json = br#"{"a":1}"#;
            let got = if ok {
                framing.message(json)
            } else {
                framing.error(json)
            };
            assert_eq!(got, expected.as_bytes(), "{framing:?} {ok}");
        }
    }

    #[test]
    fn negotiation() {
        let mut headers = HeaderMap::new();
        assert_eq!(Framing::negotiate(&headers), Framing::Ndjson);
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("text/html, Text/Event-Stream;q=0.9"),
        );
        assert_eq!(Framing::negotiate(&headers), Framing::Sse);
    }
}
