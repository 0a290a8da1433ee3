//! `[[traffic]]`: how calls to some methods are split across upstreams (weights, header
//! overrides, sticky hashing), and `[discovery]`. Values users may get wrong keep their place
//! in the file, so `h2gate check` can name the line of the offending key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficConfig {
    /// Full method names (`demo.v1.UserService/GetUser`); a trailing `*` matches the rest.
    pub methods: Vec<Spanned<String>>,
    /// Upstream name → weight (a positive integer); absent: calls no override matches go to
    /// the upstream that serves the service.
    #[serde(default)]
    pub weights: Option<BTreeMap<String, Spanned<toml::Value>>>,
    /// The same value of this request header always lands on the same upstream.
    #[serde(default)]
    pub hash_header: Option<Spanned<String>>,
    /// Tried in order before the weights; the first match decides.
    #[serde(default)]
    pub overrides: Vec<OverrideConfig>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideConfig {
    pub header: Spanned<String>,
    /// Absent: any value of the header matches.
    #[serde(default)]
    pub value: Option<String>,
    pub upstream: Spanned<String>,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    /// DNS servers (`ip:port`) that resolve `dns://` endpoints; the system's resolver
    /// configuration when empty.
    pub nameservers: Vec<SocketAddr>,
}

/// Where the config came from, to turn a key's byte span into `origin:line`.
#[derive(Debug, Clone, Default)]
pub struct Source {
    origin: String,
    line_starts: Vec<usize>,
}

impl Source {
    pub fn new(origin: &str, text: &str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Self {
            origin: origin.to_owned(),
            line_starts,
        }
    }

    /// `origin:line` of the byte span (`origin` alone for a config built in code).
    pub fn locate(&self, span: Range<usize>) -> String {
        if self.line_starts.is_empty() {
            return self.origin.clone();
        }
        let line = self
            .line_starts
            .partition_point(|&start| start <= span.start);
        format!("{}:{line}", self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_become_lines() {
        let source = Source::new("g.toml", "a = 1\nb = 2\n\nc = 3\n");
        assert_eq!(source.locate(0..1), "g.toml:1");
        assert_eq!(source.locate(6..7), "g.toml:2");
        assert_eq!(source.locate(13..14), "g.toml:4");
    }
}
