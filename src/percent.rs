//! Strict percent-decoding, shared by path parameters (`routing`) and query strings
//! (`transcoding`). Unlike decoders that pass malformed input through, a `%` not followed by
//! two hex digits, or bytes that do not decode to UTF-8, are errors: the gateway answers 400
//! instead of forwarding a value the client did not mean.

/// How one kind of text is decoded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decoding<Keep> {
    /// `+` is a space (`application/x-www-form-urlencoded` query strings); in a path it is a
    /// literal plus.
    pub plus_is_space: bool,
    /// Escapes of the bytes this answers true for stay encoded, copied verbatim (original hex
    /// case), so a decoded `/` cannot be confused with a segment separator.
    pub keep: Keep,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// `%` at byte `offset` of the input not followed by two hexadecimal digits; `escape` is
    /// at most three characters from the `%`.
    MalformedEscape { offset: usize, escape: String },
    /// The decoded bytes are not UTF-8.
    InvalidUtf8,
}

impl<Keep: Fn(u8) -> bool> Decoding<Keep> {
    pub(crate) fn decode(&self, raw: &str) -> Result<String, DecodeError> {
        let bytes = raw.as_bytes();
        let plain = |b: &u8| *b != b'%' && !(self.plus_is_space && *b == b'+');
        if bytes.iter().all(plain) {
            return Ok(raw.to_owned());
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&byte) = bytes.get(i) {
            match byte {
                b'+' if self.plus_is_space => {
                    out.push(b' ');
                    i += 1;
                }
                b'%' => {
                    let decoded = match (bytes.get(i + 1), bytes.get(i + 2)) {
                        (Some(&hi), Some(&lo)) => {
                            hex_value(hi).zip(hex_value(lo)).map(|(h, l)| h << 4 | l)
                        }
                        _ => None,
                    };
                    let Some(decoded) = decoded else {
                        return Err(DecodeError::MalformedEscape {
                            offset: i,
                            escape: raw.get(i..).unwrap_or_default().chars().take(3).collect(),
                        });
                    };
                    if (self.keep)(decoded) {
                        out.extend_from_slice(bytes.get(i..i + 3).unwrap_or_default());
                    } else {
                        out.push(decoded);
                    }
                    i += 3;
                }
                other => {
                    out.push(other);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| DecodeError::InvalidUtf8)
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(raw: &str) -> Result<String, DecodeError> {
        Decoding {
            plus_is_space: false,
            keep: |b| b == b'/',
        }
        .decode(raw)
    }

    fn query(raw: &str) -> Result<String, DecodeError> {
        Decoding {
            plus_is_space: true,
            keep: |_| false,
        }
        .decode(raw)
    }

    #[test]
    fn plus_is_a_space_only_in_queries() {
        assert_eq!(path("a+b").as_deref(), Ok("a+b"));
        assert_eq!(query("a+b").as_deref(), Ok("a b"));
        assert_eq!(query("a%2Bb").as_deref(), Ok("a+b"));
    }

    #[test]
    fn kept_escapes_are_copied_verbatim() {
        assert_eq!(path("a%2fb%41").as_deref(), Ok("a%2fbA"));
        assert_eq!(query("a%2fb").as_deref(), Ok("a/b"));
    }

    #[test]
    fn malformed_escapes_and_bad_utf8_are_errors() {
        let malformed = |offset: usize, escape: &str| {
            Err(DecodeError::MalformedEscape {
                offset,
                escape: escape.to_owned(),
            })
        };
        assert_eq!(query("ab%4"), malformed(2, "%4"));
        assert_eq!(query("%"), malformed(0, "%"));
        assert_eq!(path("x%g1y"), malformed(1, "%g1"));
        assert_eq!(path("%e2%82"), Err(DecodeError::InvalidUtf8));
        assert_eq!(query("%ff"), Err(DecodeError::InvalidUtf8));
    }
}
