//! Cheap lexical scans over raw JSON bytes, without building a value:
//! a nesting-depth check that runs before any recursive parser sees the input (so a body like
//! `[[[[…` 100 000 levels deep is rejected instead of overflowing the stack), and a locator that
//! turns an error position into the JSON path of the value being parsed there (so data errors
//! from the deserializer can name the field).
//!
//! Both skip string contents, honouring backslash escapes, so brackets inside strings are ignored.

/// Maximum nesting of JSON objects/arrays accepted in a request body.
pub const MAX_JSON_DEPTH: usize = 64;

/// What the structural scan found wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Structure {
    /// Objects/arrays nest more than the limit.
    TooDeep,
    /// An object holds the same key twice; the offset is just past the second one.
    DuplicateKey { offset: usize },
}

/// Checks nesting depth (at most `limit` levels) and that no object repeats a key: a parser
/// would keep the last value and silently drop the first, which hides client bugs and lets
/// two readers of the same body disagree. Malformed input is not judged here; the parser
/// reports it afterwards.
pub(crate) fn check_structure(bytes: &[u8], limit: usize) -> Result<(), Structure> {
    // Open containers: whether each is an object, whether a key comes next, and where its
    // keys start in `keys`.
    let mut levels: Vec<(bool, bool, usize)> = Vec::new();
    let mut keys: Vec<(usize, usize)> = Vec::new();
    let mut string_start: Option<usize> = None;
    let mut escaped = false;
    for (i, &byte) in bytes.iter().enumerate() {
        if let Some(start) = string_start {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                string_start = None;
                if let Some((true, expect_key @ true, _)) = levels.last_mut() {
                    *expect_key = false;
                    keys.push((start, i + 1));
                }
            }
            continue;
        }
        match byte {
            b'"' => string_start = Some(i),
            b'[' | b'{' => {
                if levels.len() >= limit {
                    return Err(Structure::TooDeep);
                }
                levels.push((byte == b'{', true, keys.len()));
            }
            b']' | b'}' => {
                if let Some((true, _, from)) = levels.pop() {
                    if let Some(offset) = repeated_key(bytes, keys.get(from..).unwrap_or_default())
                    {
                        return Err(Structure::DuplicateKey { offset });
                    }
                    keys.truncate(from);
                }
            }
            b',' => {
                if let Some((true, expect_key, _)) = levels.last_mut() {
                    *expect_key = true;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The end of the second occurrence of a key that `ranges` (quoted keys of one object, in
/// order) holds twice, if any.
fn repeated_key(bytes: &[u8], ranges: &[(usize, usize)]) -> Option<usize> {
    let raw = |&(start, end): &(usize, usize)| bytes.get(start..end).unwrap_or_default();
    // Escapes make one key spellable many ways: compare decoded keys then.
    if ranges.iter().any(|range| raw(range).contains(&b'\\')) {
        let mut seen = std::collections::HashSet::new();
        return ranges
            .iter()
            .find(|range| !seen.insert(decode_key(raw(range))))
            .map(|&(_, end)| end);
    }
    if ranges.len() <= 8 {
        return ranges.iter().enumerate().find_map(|(i, range)| {
            let key = raw(range);
            ranges
                .iter()
                .take(i)
                .any(|earlier| raw(earlier) == key)
                .then_some(range.1)
        });
    }
    let mut sorted: Vec<(&[u8], usize)> =
        ranges.iter().map(|range| (raw(range), range.1)).collect();
    sorted.sort_unstable();
    sorted.windows(2).find_map(|pair| match pair {
        [(a, _), (b, end_b)] if a == b => Some(*end_b),
        _ => None,
    })
}

/// Converts a serde_json error position (1-based line, byte column within the line = bytes
/// consumed on that line) into a byte offset.
pub(crate) fn offset_of(bytes: &[u8], line: usize, column: usize) -> Option<usize> {
    let line_start = if line <= 1 {
        0
    } else {
        bytes
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(line - 2)
            .map(|(i, _)| i + 1)?
    };
    Some(line_start.saturating_add(column).min(bytes.len()))
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonStep {
    Key(String),
    Index(usize),
}

enum Frame {
    Object {
        key: Option<String>,
        expect_key: bool,
    },
    Array {
        index: usize,
    },
}

/// The path of the value being parsed when the parser stood at `offset`: the key or index under
/// which the innermost open container holds it. Best effort for error messages only.
pub(crate) fn path_at(bytes: &[u8], offset: usize) -> Vec<JsonStep> {
    let prefix = bytes.get(..offset).unwrap_or(bytes);
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while let Some(&byte) = prefix.get(i) {
        match byte {
            b'"' => {
                let end = string_end(prefix, i + 1);
                if let Some(Frame::Object {
                    key,
                    expect_key: true,
                }) = stack.last_mut()
                {
                    *key = Some(decode_key(prefix.get(i..end).unwrap_or_default()));
                }
                i = end;
                continue;
            }
            b'{' => stack.push(Frame::Object {
                key: None,
                expect_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(Frame::Object { expect_key, .. }) = stack.last_mut() {
                    *expect_key = false;
                }
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { expect_key, .. }) => *expect_key = true,
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    stack
        .into_iter()
        .filter_map(|frame| match frame {
            Frame::Object { key, .. } => key.map(JsonStep::Key),
            Frame::Array { index } => Some(JsonStep::Index(index)),
        })
        .collect()
}

/// Renders steps as `a.b[2].c`, after an optional leading field name.
pub(crate) fn render_path(prefix: Option<&str>, steps: &[JsonStep]) -> Option<String> {
    let mut out = prefix.unwrap_or_default().to_owned();
    for step in steps {
        match step {
            JsonStep::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            JsonStep::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Index just past the closing quote of the string whose content starts at `start` (or the end
/// of input when unterminated).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// `quoted` includes both quotes; escapes are resolved by serde_json, and a key that fails to
/// decode is shown lossily rather than dropped.
fn decode_key(quoted: &[u8]) -> String {
    serde_json::from_slice::<String>(quoted).unwrap_or_else(|_| {
        let inner = quoted
            .get(1..quoted.len().saturating_sub(1))
            .unwrap_or_default();
        String::from_utf8_lossy(inner).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_counted_outside_strings() {
        let cases: &[(&str, usize, bool)] = &[
            ("{}", 1, false),
            ("[[]]", 1, true),
            ("[[]]", 2, false),
            (r#"{"a":[{"b":{}}]}"#, 4, false),
            (r#"{"a":[{"b":{}}]}"#, 3, true),
            (r#"["[[[[[[", "\"[[[["]"#, 1, false),
            (r#"{"a\\":[[]]}"#, 2, true),
            ("[][][][]", 1, false),
        ];
        let too_deep =
            |json: &str, limit| check_structure(json.as_bytes(), limit) == Err(Structure::TooDeep);
        for (json, limit, expected) in cases {
            assert_eq!(too_deep(json, *limit), *expected, "{json} / {limit}");
        }
        let deep = "[".repeat(100_000);
        assert!(too_deep(&deep, MAX_JSON_DEPTH));
        let ok = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        assert!(!too_deep(&ok, MAX_JSON_DEPTH));
    }

    #[test]
    fn a_key_repeated_in_one_object_is_found() {
        let repeated: &[(&str, &str)] = &[
            (r#"{"a":1,"a":2}"#, r#"{"a":1,"a""#),
            (r#"{"b":{"x":1,"y":2,"x":3}}"#, r#"{"b":{"x":1,"y":2,"x""#),
            (
                r#"[{"a":1},{"c":[1,{"d":1,"d":2}]}]"#,
                r#"[{"a":1},{"c":[1,{"d":1,"d""#,
            ),
            // The same key spelled with an escape.
            (r#"{"name":1,"name":2}"#, r#"{"name":1,"name""#),
        ];
        for (json, up_to) in repeated {
            assert_eq!(
                check_structure(json.as_bytes(), MAX_JSON_DEPTH),
                Err(Structure::DuplicateKey {
                    offset: up_to.len()
                }),
                "{json}"
            );
        }
        let many: Vec<String> = (0..100).map(|i| format!("\"k{i}\":{i}")).collect();
        let wide = format!("{{{},\"k57\":0}}", many.join(","));
        assert!(matches!(
            check_structure(wide.as_bytes(), MAX_JSON_DEPTH),
            Err(Structure::DuplicateKey { .. })
        ));
        let fine: &[&str] = &[
            r#"{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}"#,
            r#"{"a":"a","b":["a","a"]}"#,
            r#"{"a\"":1,"a":2}"#,
            &format!("{{{}}}", many.join(",")),
        ];
        for json in fine {
            assert_eq!(
                check_structure(json.as_bytes(), MAX_JSON_DEPTH),
                Ok(()),
                "{json}"
            );
        }
    }

    #[test]
    fn locates_the_value_at_an_offset() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (r#"{"a": 1"#, "1", Some("a")),
            (r#"{"a": {"b": "x""#, "\"x\"", Some("a.b")),
            (r#"{"a": [1, 2, "x""#, "\"x\"", Some("a[2]")),
            (
                r#"{"a": {"b": 1}, "c": [{"d": true"#,
                "true",
                Some("c[0].d"),
            ),
            (r#"{"k\"ey": 5"#, "5", Some("k\"ey")),
            (r#"{"a": "}{,:", "b": 3"#, "3", Some("b")),
            (r#"{"unknown""#, "\"unknown\"", Some("unknown")),
            ("7", "7", None),
        ];
        for (json, marker, expected) in cases {
            let end = json.rfind(marker).expect("marker") + marker.len();
            let steps = path_at(json.as_bytes(), end);
            assert_eq!(render_path(None, &steps).as_deref(), *expected, "{json}");
        }
    }

    #[test]
    fn renders_with_prefix() {
        let steps = [JsonStep::Index(1), JsonStep::Key("x".into())];
        assert_eq!(
            render_path(Some("books"), &steps).as_deref(),
            Some("books[1].x")
        );
        assert_eq!(render_path(Some("book"), &[]).as_deref(), Some("book"));
        assert_eq!(render_path(None, &[]), None);
    }

    #[test]
    fn offsets_follow_serde_json_positions() {
        let json = b"{\n  \"a\": 1,\n  \"b\": x\n}";
        let err = serde_json::from_slice::<serde_json::Value>(json).expect_err("invalid");
        let offset = offset_of(json, err.line(), err.column()).expect("offset");
        assert_eq!(json.get(offset - 1), Some(&b'x'));
        assert_eq!(offset_of(json, 9, 0), None);
    }
}
