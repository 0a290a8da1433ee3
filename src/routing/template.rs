//! A parsed `google.api.http` path template (`/v1/{name=shelves/*}/books:publish`).
//!
//! The representation makes the template's matching shape explicit: a `head` of literals and
//! single-segment wildcards, then optionally a `**` followed only by literals (the `tail`). The
//! grammar of `google/api/http.proto` allows `**` only at the end; grpc-httpjson-transcoding (and
//! so Envoy / ESP) also accept literal segments after it, which we follow. Because a `**` can only
//! be followed by literals, the number of segments it swallows is fixed by the request length, so
//! matching stays a trie walk. Values are built only by [`PathTemplate::parse`].

use std::fmt;

/// One single-segment piece of a template before any `**`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum HeadSegment {
    /// Matches exactly this text (compared with the raw, still percent-encoded request segment).
    Literal(String),
    /// `*`: matches one non-empty segment.
    Wildcard,
}

/// One segment position of the template, as written (used for display and binding spans).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Literal(&'a str),
    Wildcard,
    DoubleWildcard,
}

/// A `{field.path=pattern}` binding of part of the path to a request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    field_path: Vec<String>,
    /// First piece index covered by the variable.
    start: usize,
    /// One past the last piece index covered by the variable (`start < end`).
    end: usize,
    /// Whether the pattern spans several segments or contains `**`.
    multi_segment: bool,
}

impl Variable {
    pub(crate) fn new(field_path: Vec<String>, start: usize, end: usize, multi: bool) -> Self {
        Self {
            field_path,
            start,
            end,
            multi_segment: multi || end.saturating_sub(start) > 1,
        }
    }

    /// The dot-separated field path split into its identifiers (`a.b.c` -> `["a","b","c"]`).
    pub fn field_path(&self) -> &[String] {
        &self.field_path
    }

    /// Whether the bound value may span several segments (pattern with `/` or `**`); such values
    /// are decoded per `MultiSegmentDecoding`, the others fully.
    pub fn is_multi_segment(&self) -> bool {
        self.multi_segment
    }

    /// Piece index range `[start, end)` covered by the variable.
    pub(crate) fn piece_range(&self) -> (usize, usize) {
        (self.start, self.end)
    }
}

/// Displays the dotted field path (`book.name`).
impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.field_path.join("."))
    }
}

/// A validated path template. `Display` prints the canonical text (`{x=*}` is shown as `{x}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    head: Vec<HeadSegment>,
    /// `Some(literals)` when the template contains `**`, followed by these literal segments.
    tail: Option<Vec<String>>,
    variables: Vec<Variable>,
    verb: Option<String>,
}

/// Parsing (`PathTemplate::parse`, `FromStr`) lives in `template_parser`, which builds
/// templates through `from_parts`.
impl PathTemplate {
    pub(crate) fn from_parts(
        head: Vec<HeadSegment>,
        tail: Option<Vec<String>>,
        variables: Vec<Variable>,
        verb: Option<String>,
    ) -> Self {
        Self {
            head,
            tail,
            variables,
            verb,
        }
    }

    /// The variables in template order; `PathBinding::variable` indexes
    /// this slice.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }

    /// The custom verb (`:publish` -> `Some("publish")`).
    pub fn verb(&self) -> Option<&str> {
        self.verb.as_deref()
    }

    pub(crate) fn head(&self) -> &[HeadSegment] {
        &self.head
    }

    pub(crate) fn tail(&self) -> Option<&[String]> {
        self.tail.as_deref()
    }

    /// Number of segment positions, counting a `**` as one.
    pub(crate) fn piece_count(&self) -> usize {
        self.head.len() + self.tail.as_ref().map_or(0, |t| t.len() + 1)
    }

    pub(crate) fn pieces(&self) -> impl Iterator<Item = Piece<'_>> {
        let head = self.head.iter().map(|s| match s {
            HeadSegment::Literal(l) => Piece::Literal(l),
            HeadSegment::Wildcard => Piece::Wildcard,
        });
        let tail = self.tail.iter().flat_map(|t| {
            std::iter::once(Piece::DoubleWildcard).chain(t.iter().map(|l| Piece::Literal(l)))
        });
        head.chain(tail)
    }
}

fn write_piece(f: &mut fmt::Formatter<'_>, piece: Piece<'_>) -> fmt::Result {
    match piece {
        Piece::Literal(l) => f.write_str(l),
        Piece::Wildcard => f.write_str("*"),
        Piece::DoubleWildcard => f.write_str("**"),
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pieces: Vec<Piece<'_>> = self.pieces().collect();
        if pieces.is_empty() {
            f.write_str("/")?;
        }
        let mut index = 0;
        while let Some(&piece) = pieces.get(index) {
            f.write_str("/")?;
            let Some(var) = self.variables.iter().find(|v| v.start == index) else {
                write_piece(f, piece)?;
                index += 1;
                continue;
            };
            write!(f, "{{{var}")?;
            let pattern = pieces.get(var.start..var.end).unwrap_or_default();
            if pattern != [Piece::Wildcard] {
                f.write_str("=")?;
                for (i, &p) in pattern.iter().enumerate() {
                    if i > 0 {
                        f.write_str("/")?;
                    }
                    write_piece(f, p)?;
                }
            }
            f.write_str("}")?;
            // `max` guards against a (parser-excluded) empty range looping forever.
            index = var.end.max(index + 1);
        }
        if let Some(verb) = &self.verb {
            write!(f, ":{verb}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
