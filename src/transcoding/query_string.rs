//! Splitting and decoding of a raw URL query string (`application/x-www-form-urlencoded` rules:
//! `&` separates pairs, the first `=` separates key from value, `+` and `%20` are spaces).
//! Malformed percent-encoding and non-UTF-8 results are errors rather than being passed through
//! mangled.

use super::transcode_error::TranscodeError;
use crate::percent::{DecodeError, Decoding};

/// One decoded `key=value` pair, in the order it appeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueryPair {
    pub(crate) key: String,
    pub(crate) value: String,
}

/// Decodes a raw query string (without the leading `?`). Empty pieces (`a=1&&b=2`) are skipped;
/// a piece without `=` has an empty value.
pub(crate) fn parse_query(raw: &str) -> Result<Vec<QueryPair>, TranscodeError> {
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            let key = decode_component(key)?;
            let value = decode_component(value).map_err(|err| match err {
                TranscodeError::MalformedQuery { reason } => TranscodeError::MalformedQuery {
                    reason: format!("{reason} in the value of `{key}`"),
                },
                other => other,
            })?;
            Ok(QueryPair { key, value })
        })
        .collect()
}

fn decode_component(raw: &str) -> Result<String, TranscodeError> {
    let decoding = Decoding {
        plus_is_space: true,
        keep: |_| false,
    };
    decoding
        .decode(raw)
        .map_err(|err| TranscodeError::MalformedQuery {
            reason: match err {
                DecodeError::MalformedEscape { escape, .. } => {
                    format!("invalid percent-encoding `{escape}`")
                }
                DecodeError::InvalidUtf8 => "percent-decoding produced invalid UTF-8".to_owned(),
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &str) -> Vec<(String, String)> {
        parse_query(raw)
            .expect("valid query")
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    }

    #[test]
    fn decodes_pairs() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            ("a=1", &[("a", "1")]),
            ("a=1&&b=2&", &[("a", "1"), ("b", "2")]),
            ("a=x+y%20z", &[("a", "x y z")]),
            ("flag", &[("flag", "")]),
            ("a=b=c", &[("a", "b=c")]),
            ("tag=a&tag=b", &[("tag", "a"), ("tag", "b")]),
            ("k%2Ey=%2B%26%3d", &[("k.y", "+&=")]),
            ("name=%C3%A9t%C3%A9", &[("name", "été")]),
            (
                "book.author.displayName=Ann",
                &[("book.author.displayName", "Ann")],
            ),
        ];
        for (raw, expected) in cases {
            let expected: Vec<(String, String)> = expected
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            assert_eq!(pairs(raw), expected, "{raw}");
        }
    }

    #[test]
    fn rejects_malformed_encoding() {
        let cases = [
            (
                "a=%zz",
                "invalid percent-encoding `%zz` in the value of `a`",
            ),
            ("a=%4", "invalid percent-encoding `%4`"),
            ("a=%", "invalid percent-encoding `%`"),
            ("%g1=x", "invalid percent-encoding `%g1`"),
            ("a=%FF", "invalid UTF-8"),
        ];
        for (raw, expected) in cases {
            let err = parse_query(raw).expect_err(raw);
            assert!(
                matches!(err, TranscodeError::MalformedQuery { .. }),
                "{raw}"
            );
            assert!(err.to_string().contains(expected), "{raw}: {err}");
        }
    }
}
