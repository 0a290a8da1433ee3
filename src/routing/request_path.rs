//! Splitting a raw request path into what the trie matches, without allocating.
//!
//! Normalisation is deliberately small and mirrors grpc-httpjson-transcoding: the query string (if
//! the caller left one) is dropped, and a single trailing `/` is ignored. A trailing `:xyz` after
//! the last `/` is a *candidate* verb; the matcher tries it as a verb only when some route
//! registers `xyz`, and falls back to treating the colon as data. A path ending in `/` has no
//! verb (`/v1/a:b/` is the segment `a:b`), as in the C++ library. Nothing is percent-decoded here:
//! literals are compared with the raw segments.

/// The parts of a request path relevant to matching; all slices borrow the request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestPath<'a> {
    /// Segments joined by `/`, without the leading `/`, trailing `/` or candidate verb split.
    pub(crate) body: &'a str,
    /// `(segments before the colon, verb)` when the last segment contains a `:`.
    pub(crate) verb_split: Option<(&'a str, &'a str)>,
}

/// Byte offset of `body` in the request path (the leading `/`).
pub(crate) const BODY_OFFSET: usize = 1;

impl<'a> RequestPath<'a> {
    /// `None` when the path does not start with `/` (e.g. the `*` of `OPTIONS *`).
    pub(crate) fn parse(path: &'a str) -> Option<Self> {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let body = path.strip_prefix('/')?;
        if let Some(body) = body.strip_suffix('/') {
            return Some(Self {
                body,
                verb_split: None,
            });
        }
        let last_segment_start = body.rfind('/').map_or(0, |i| i + 1);
        let verb_split = body
            .get(last_segment_start..)
            .and_then(|last| last.rfind(':'))
            .and_then(|colon| {
                let colon = last_segment_start + colon;
                Some((body.get(..colon)?, body.get(colon + 1..)?))
            });
        Some(Self { body, verb_split })
    }
}

/// The segments of `body` for [`Node::walk`](super::trie::Node::walk): `None` for no segment.
pub(crate) fn segments(body: &str) -> Option<&str> {
    (!body.is_empty()).then_some(body)
}

/// Number of segments in `body`.
pub(crate) fn segment_count(body: &str) -> usize {
    if body.is_empty() {
        0
    } else {
        body.bytes().filter(|&b| b == b'/').count() + 1
    }
}

/// Byte range in `body` of segments `[from, to)` (`to > from`), joined by their `/`.
pub(crate) fn segment_span(body: &str, from: usize, to: usize) -> Option<(usize, usize)> {
    let mut start = None;
    let mut offset = 0;
    for (index, segment) in body.split('/').enumerate() {
        if index == from {
            start = Some(offset);
        }
        if index + 1 == to {
            return Some((start?, offset + segment.len()));
        }
        offset += segment.len() + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (body, verb split) expected from a path.
    type Parsed<'a> = Option<(&'a str, Option<(&'a str, &'a str)>)>;

    #[test]
    fn parse_normalises_and_finds_verb_candidates() {
        let cases: &[(&str, Parsed<'_>)] = &[
            ("/", Some(("", None))),
            ("//", Some(("", None))),
            ("/a/b", Some(("a/b", None))),
            ("/a/b/", Some(("a/b", None))),
            ("/a/b?x=1", Some(("a/b", None))),
            ("/a/b:verb", Some(("a/b:verb", Some(("a/b", "verb"))))),
            ("/a:x/b", Some(("a:x/b", None))),
            ("/a/b:c:d", Some(("a/b:c:d", Some(("a/b:c", "d"))))),
            ("/a/b:verb/", Some(("a/b:verb", None))),
            ("/:v", Some((":v", Some(("", "v"))))),
            ("a/b", None),
            ("*", None),
            ("", None),
        ];
        for &(path, want) in cases {
            let got = RequestPath::parse(path).map(|p| (p.body, p.verb_split));
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn spans_and_counts() {
        assert_eq!(segment_count(""), 0);
        assert_eq!(segment_count("a"), 1);
        assert_eq!(segment_count("a//b"), 3);
        assert_eq!(segment_span("ab/cd/ef", 0, 1), Some((0, 2)));
        assert_eq!(segment_span("ab/cd/ef", 1, 3), Some((3, 8)));
        assert_eq!(segment_span("ab/cd/ef", 0, 3), Some((0, 8)));
        assert_eq!(segment_span("ab//ef", 1, 2), Some((3, 3)));
        assert_eq!(segment_span("ab/cd", 1, 3), None);
    }
}
