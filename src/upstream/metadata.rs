//! Which HTTP request headers become gRPC metadata, and how gRPC response metadata comes back.
//!
//! Inbound, only `Grpc-Metadata-<key>` headers (as `<key>`) and an allowlist of headers pass;
//! never hop-by-hop or gRPC-reserved names, which would corrupt the upstream call. Outbound,
//! response headers become `Grpc-Metadata-<key>` and trailers `Grpc-Trailer-<key>`.

use std::collections::HashSet;
use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use tonic::metadata::MetadataMap;

const METADATA_PREFIX: &str = "grpc-metadata-";
const TRAILER_PREFIX: &str = "grpc-trailer-";

/// Forwarded as they are unless the operator adds more.
pub const DEFAULT_FORWARDED: [&str; 4] =
    ["authorization", "x-request-id", "traceparent", "tracestate"];

/// Names that must never be set from a client header.
const FORBIDDEN: [&str; 12] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-type",
    "content-length",
];

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("forward_headers: {0:?} is not a valid header name")]
    BadName(String),
    #[error("forward_headers: {0:?} may not be forwarded (hop-by-hop or reserved)")]
    Reserved(String),
    #[error(
        "invalid Grpc-Timeout header {0:?} (expected 1-8 digits and a unit H, M, S, m, u or n)"
    )]
    BadTimeout(String),
}

/// The inbound header policy, built once from config.
#[derive(Debug, Clone)]
pub struct HeaderForwarding {
    allowed: HashSet<HeaderName>,
}

impl HeaderForwarding {
    pub fn new(extra: &[String]) -> Result<Self, MetadataError> {
        let mut allowed = HashSet::new();
        for name in DEFAULT_FORWARDED
            .iter()
            .copied()
            .chain(extra.iter().map(String::as_str))
        {
            let header = HeaderName::try_from(name.to_ascii_lowercase())
                .map_err(|_| MetadataError::BadName(name.to_owned()))?;
            if is_reserved(header.as_str()) {
                return Err(MetadataError::Reserved(name.to_owned()));
            }
            allowed.insert(header);
        }
        Ok(Self { allowed })
    }

    /// The metadata for the upstream call, including `x-forwarded-*` for the hop just made.
    /// `authority` is the request URI's (HTTP/2 `:authority`), used when there is no `Host`.
    pub fn request_metadata(
        &self,
        headers: &HeaderMap,
        authority: Option<&str>,
        peer_ip: Option<&HeaderValue>,
        tls: bool,
    ) -> MetadataMap {
        let mut out = HeaderMap::with_capacity(headers.len() + 4);
        for (name, value) in headers {
            if let Some(key) = name.as_str().strip_prefix(METADATA_PREFIX) {
                if is_reserved(key) || self.is_asserted(key) {
                    continue;
                }
                if let Ok(key) = HeaderName::try_from(key) {
                    out.append(key, value.clone());
                }
            } else if self.allowed.contains(name) {
                out.append(name.clone(), value.clone());
            }
        }
        if let Some(ip) = peer_ip {
            let earlier = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
            let forwarded_for = match (earlier, ip.to_str()) {
                (Some(earlier), Ok(ip)) => HeaderValue::try_from(format!("{earlier}, {ip}")).ok(),
                _ => Some(ip.clone()),
            };
            if let Some(value) = forwarded_for {
                out.insert("x-forwarded-for", value);
            }
        }
        let host = headers
            .get(http::header::HOST)
            .cloned()
            .or_else(|| authority.and_then(|authority| HeaderValue::try_from(authority).ok()));
        if let Some(host) = host {
            out.insert("x-forwarded-host", host);
        }
        out.insert(
            "x-forwarded-proto",
            HeaderValue::from_static(if tls { "https" } else { "http" }),
        );
        MetadataMap::from_headers(out)
    }
}

impl HeaderForwarding {
    /// Keys that reach the backend only from their own header or from the gateway itself: a
    /// `Grpc-Metadata-` header naming one could slip past a front proxy that cleans the real
    /// header (`Authorization`), or forge what the gateway vouches for (`x-forwarded-*`).
    fn is_asserted(&self, key: &str) -> bool {
        GATEWAY_ASSERTED.contains(&key)
            || key.starts_with("x-forwarded-")
            || self.allowed.iter().any(|name| name.as_str() == key)
    }
}

/// Keys the gateway sets itself (beyond `x-forwarded-*`).
const GATEWAY_ASSERTED: [&str; 2] = ["forwarded", "x-real-ip"];

fn is_reserved(name: &str) -> bool {
    name.starts_with("grpc-") || name.starts_with(':') || FORBIDDEN.contains(&name)
}

/// The client's `Grpc-Timeout` (gRPC wire format: `100m`, `5S`, ...), if any.
pub fn grpc_timeout(headers: &HeaderMap) -> Result<Option<Duration>, MetadataError> {
    let Some(value) = headers.get("grpc-timeout") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default();
    let bad = || MetadataError::BadTimeout(text.to_owned());
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let amount: u64 = digits.parse().map_err(|_| bad())?;
    let duration = match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return Err(bad()),
    };
    Ok(Some(duration))
}

/// Copies gRPC response headers (`trailers = false`) or trailers into HTTP response headers.
pub fn copy_to_response(metadata: &MetadataMap, trailers: bool, out: &mut HeaderMap) {
    let prefix = if trailers {
        TRAILER_PREFIX
    } else {
        METADATA_PREFIX
    };
    let headers: &HeaderMap = metadata.as_ref();
    for (name, value) in headers {
        if is_reserved(name.as_str()) {
            continue;
        }
        if let Some(name) = prefixed(prefix, name) {
            out.append(name, value.clone());
        }
    }
}

/// `prefix` + `name`, joined on the stack when short (every response carries some metadata:
/// formatting a `String` per header cost more than the rest of copying it).
fn prefixed(prefix: &str, name: &HeaderName) -> Option<HeaderName> {
    let (prefix, name) = (prefix.as_bytes(), name.as_str().as_bytes());
    let len = prefix.len() + name.len();
    let mut short = [0u8; 64];
    let mut long = Vec::new();
    let joined = match short.get_mut(..len) {
        Some(joined) => joined,
        None => {
            long.resize(len, 0);
            long.as_mut_slice()
        }
    };
    let (head, tail) = joined.split_at_mut(prefix.len());
    head.copy_from_slice(prefix);
    tail.copy_from_slice(name);
    HeaderName::from_bytes(joined).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::try_from(*k).unwrap(),
                    HeaderValue::try_from(*v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn response_metadata_keeps_its_name_behind_the_prefix() {
        let long = format!("x-{}", "n".repeat(80));
        let metadata = MetadataMap::from_headers(headers(&[
            ("x-user", "ada"),
            (long.as_str(), "long"),
            ("grpc-status", "0"),
        ]));
        let mut out = HeaderMap::new();
        copy_to_response(&metadata, false, &mut out);
        copy_to_response(&metadata, true, &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(out["grpc-metadata-x-user"], "ada");
        assert_eq!(out["grpc-trailer-x-user"], "ada");
        assert_eq!(out[format!("grpc-metadata-{long}").as_str()], "long");
        assert_eq!(out[format!("grpc-trailer-{long}").as_str()], "long");
    }

    #[test]
    fn only_prefixed_and_allowlisted_headers_pass() {
        let policy = HeaderForwarding::new(&["x-tenant".into()]).unwrap();
        let input = headers(&[
            ("grpc-metadata-user", "ada"),
            ("grpc-metadata-grpc-timeout", "1S"),
            ("grpc-metadata-te", "trailers"),
            ("grpc-metadata-authorization", "Bearer forged"),
            ("grpc-metadata-x-tenant", "forged"),
            ("grpc-metadata-x-forwarded-for", "6.6.6.6"),
            ("authorization", "Bearer t"),
            ("x-tenant", "acme"),
            ("cookie", "secret"),
            ("connection", "close"),
            ("host", "api.example"),
        ]);
        let peer = HeaderValue::from_static("10.1.2.3");
        let out = policy
            .request_metadata(&input, None, Some(&peer), true)
            .into_headers();
        assert_eq!(out.get("user").unwrap(), "ada");
        assert_eq!(out.get_all("authorization").iter().count(), 1);
        assert_eq!(out.get("authorization").unwrap(), "Bearer t");
        assert_eq!(out.get("x-tenant").unwrap(), "acme");
        assert_eq!(out.get("x-forwarded-for").unwrap(), "10.1.2.3");
        assert_eq!(out.get("x-forwarded-host").unwrap(), "api.example");
        assert_eq!(out.get("x-forwarded-proto").unwrap(), "https");
        for absent in ["grpc-timeout", "te", "cookie", "connection", "host"] {
            assert!(out.get(absent).is_none(), "{absent} leaked");
        }
    }

    #[test]
    fn forwarded_host_falls_back_to_the_authority() {
        let policy = HeaderForwarding::new(&[]).unwrap();
        let out = policy
            .request_metadata(&HeaderMap::new(), Some("api.example:8443"), None, false)
            .into_headers();
        assert_eq!(out.get("x-forwarded-host").unwrap(), "api.example:8443");
        assert_eq!(out.get("x-forwarded-proto").unwrap(), "http");
    }

    #[test]
    fn reserved_names_cannot_be_allowlisted() {
        assert!(HeaderForwarding::new(&["connection".into()]).is_err());
        assert!(HeaderForwarding::new(&["grpc-status".into()]).is_err());
        assert!(HeaderForwarding::new(&["bad name".into()]).is_err());
    }

    #[test]
    fn grpc_timeout_units() {
        let cases = [
            ("1H", Some(Duration::from_secs(3600))),
            ("2M", Some(Duration::from_secs(120))),
            ("3S", Some(Duration::from_secs(3))),
            ("100m", Some(Duration::from_millis(100))),
            ("5u", Some(Duration::from_micros(5))),
            ("7n", Some(Duration::from_nanos(7))),
        ];
        for (text, expected) in cases {
            let got = grpc_timeout(&headers(&[("grpc-timeout", text)])).unwrap();
            assert_eq!(got, expected, "{text}");
        }
        for bad in ["", "S", "10", "1x", "123456789S", "-1S"] {
            assert!(
                grpc_timeout(&headers(&[("grpc-timeout", bad)])).is_err(),
                "{bad:?}"
            );
        }
        assert_eq!(grpc_timeout(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn response_metadata_gets_prefixes() {
        let mut md = MetadataMap::new();
        md.insert("x-served-by", "demo".parse().unwrap());
        md.insert("content-type", "application/grpc".parse().unwrap());
        let mut out = HeaderMap::new();
        copy_to_response(&md, false, &mut out);
        copy_to_response(&md, true, &mut out);
        assert_eq!(out.get("grpc-metadata-x-served-by").unwrap(), "demo");
        assert_eq!(out.get("grpc-trailer-x-served-by").unwrap(), "demo");
        assert!(out.get("grpc-metadata-content-type").is_none());
    }
}
