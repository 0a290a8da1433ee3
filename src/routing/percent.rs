//! Percent-decoding of path parameters, as grpc-httpjson-transcoding does it, but strict.
//!
//! Single-segment variables (`{id}`) are fully decoded: `%2F` becomes `/`. Multi-segment
//! variables (`{name=shelves/*}`, `{path=**}`) keep some escapes so that a decoded `/` cannot be
//! confused with a segment separator; which ones is chosen by [`MultiSegmentDecoding`] (Envoy's
//! `url_unescape_spec`). Escapes that are kept are copied verbatim (original hex case). `+` is a
//! literal plus in a path. Unlike the C++ library, which passes malformed escapes through, a `%`
//! not followed by two hex digits, or bytes that do not decode to UTF-8, are errors: the gateway
//! answers 400 instead of forwarding a value the client did not mean (the decoder itself is
//! `crate::percent`, shared with query strings).

use serde::Deserialize;
use thiserror::Error;

use crate::percent::{DecodeError, Decoding};

/// How multi-segment path variables are percent-decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiSegmentDecoding {
    /// Decode everything except RFC 6570 reserved characters (gen-delims `:/?#[]@` and
    /// sub-delims `!$&'()*+,;=`), which stay percent-encoded. The `google.api.http` default.
    #[default]
    AllExceptReserved,
    /// Decode everything except `%2F`, which stays encoded.
    AllExceptSlash,
    /// Decode everything.
    All,
}

/// A path parameter that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PercentError {
    /// `%` not followed by two hexadecimal digits.
    #[error("malformed percent-escape {escape:?} at byte {offset} of the request path")]
    MalformedEscape {
        /// Byte offset of the `%` (in the request path when returned by the matcher, otherwise in
        /// the decoded input).
        offset: usize,
        /// The offending text, at most three characters from the `%`.
        escape: String,
    },
    /// The decoded bytes are not UTF-8.
    #[error("path parameter {raw:?} does not decode to valid UTF-8")]
    InvalidUtf8 {
        /// The still-encoded parameter.
        raw: String,
    },
}

/// RFC 6570 reserved characters (gen-delims + sub-delims).
fn is_reserved(byte: u8) -> bool {
    b":/?#[]@!$&'()*+,;=".contains(&byte)
}

impl MultiSegmentDecoding {
    /// Whether the escape for `byte` stays encoded in a multi-segment value under this mode.
    pub fn keeps_encoded(self, byte: u8) -> bool {
        match self {
            Self::AllExceptReserved => is_reserved(byte),
            Self::AllExceptSlash => byte == b'/',
            Self::All => false,
        }
    }

    /// Decodes a multi-segment value (segments joined by `/`) according to this mode.
    pub fn decode(self, raw: &str) -> Result<String, PercentError> {
        decode_at(raw, 0, |b| self.keeps_encoded(b))
    }
}

/// Fully decodes a single-segment value.
#[cfg(test)]
pub fn decode_segment(raw: &str) -> Result<String, PercentError> {
    decode_at(raw, 0, |_| false)
}

/// Decodes `raw`, leaving escapes for which `keep` is true untouched. `base` is added to error
/// offsets so the matcher can report positions in the whole request path.
pub(crate) fn decode_at(
    raw: &str,
    base: usize,
    keep: impl Fn(u8) -> bool,
) -> Result<String, PercentError> {
    let decoding = Decoding {
        plus_is_space: false,
        keep,
    };
    decoding.decode(raw).map_err(|err| match err {
        DecodeError::MalformedEscape { offset, escape } => PercentError::MalformedEscape {
            offset: base + offset,
            escape,
        },
        DecodeError::InvalidUtf8 => PercentError::InvalidUtf8 {
            raw: raw.to_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESERVED_ENCODED: &str = "%21%23%24%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D";
    const RESERVED_DECODED: &str = "!#$&'()*+,/:;=?@[]";

    #[test]
    fn single_segment_decodes_everything() {
        let cases = [
            ("plain", "plain"),
            ("a%2Fb", "a/b"),
            ("a%2fb", "a/b"),
            ("p%20q", "p q"),
            ("a+b", "a+b"),
            ("%2B", "+"),
            ("%25", "%"),
            ("%C3%A9t%C3%A9", "été"),
            (RESERVED_ENCODED, RESERVED_DECODED),
        ];
        for (raw, want) in cases {
            assert_eq!(decode_segment(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn multi_segment_modes() {
        use MultiSegmentDecoding::*;
        let cases = [
            (AllExceptReserved, "a%2Fb/c%20d", "a%2Fb/c d"),
            (AllExceptReserved, "a%2fb", "a%2fb"),
            (AllExceptReserved, "a+b%2B", "a+b%2B"),
            (AllExceptReserved, RESERVED_ENCODED, RESERVED_ENCODED),
            (AllExceptReserved, "%41%7E", "A~"),
            (AllExceptSlash, "a%2Fb/c%20d", "a%2Fb/c d"),
            (AllExceptSlash, "a%2fb", "a%2fb"),
            (AllExceptSlash, RESERVED_ENCODED, "!#$&'()*+,%2F:;=?@[]"),
            (All, "a%2Fb/c%20d", "a/b/c d"),
            (All, "a%2fb+", "a/b+"),
            (All, RESERVED_ENCODED, RESERVED_DECODED),
        ];
        for (mode, raw, want) in cases {
            assert_eq!(mode.decode(raw).as_deref(), Ok(want), "{mode:?} {raw}");
        }
    }

    #[test]
    fn malformed_escapes_are_errors_in_every_mode() {
        let cases = [
            ("%", 0, "%"),
            ("ab%4", 2, "%4"),
            ("%zz1", 0, "%zz"),
            ("x%g0", 1, "%g0"),
        ];
        for (raw, offset, escape) in cases {
            let want = Err(PercentError::MalformedEscape {
                offset,
                escape: escape.to_owned(),
            });
            assert_eq!(decode_segment(raw), want, "{raw}");
            for mode in [
                MultiSegmentDecoding::AllExceptReserved,
                MultiSegmentDecoding::AllExceptSlash,
                MultiSegmentDecoding::All,
            ] {
                assert_eq!(mode.decode(raw), want, "{mode:?} {raw}");
            }
        }
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        for raw in ["%FF", "%C3", "a%C3%28"] {
            assert_eq!(
                decode_segment(raw),
                Err(PercentError::InvalidUtf8 {
                    raw: raw.to_owned()
                })
            );
        }
    }

    #[test]
    fn error_offsets_are_shifted_by_base() {
        let err = decode_at("ab%", 10, |_| false);
        assert!(matches!(
            err,
            Err(PercentError::MalformedEscape { offset: 12, .. })
        ));
    }

    #[test]
    fn deserializes_snake_case_and_defaults() {
        let cases = [
            (
                "\"all_except_reserved\"",
                MultiSegmentDecoding::AllExceptReserved,
            ),
            ("\"all_except_slash\"", MultiSegmentDecoding::AllExceptSlash),
            ("\"all\"", MultiSegmentDecoding::All),
        ];
        for (json, want) in cases {
            let got: MultiSegmentDecoding = serde_json::from_str(json).unwrap();
            assert_eq!(got, want);
        }
        assert!(serde_json::from_str::<MultiSegmentDecoding>("\"AllExceptSlash\"").is_err());
        assert_eq!(
            MultiSegmentDecoding::default(),
            MultiSegmentDecoding::AllExceptReserved
        );
    }
}
