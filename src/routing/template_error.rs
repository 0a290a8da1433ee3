//! Errors raised while parsing a `google.api.http` path template.
//!
//! Every variant carries the byte `position` in the template where the problem was detected so
//! that a misconfigured annotation can be fixed without guessing; the messages name the offending
//! construct in the words of the grammar documented in `google/api/http.proto`.

use thiserror::Error;

/// Why a path template was rejected. Positions are 0-based byte offsets into the template text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// The template is empty or does not start with `/`.
    #[error("path template must start with '/'")]
    MissingLeadingSlash,

    /// The template ends with `/` (only the root template `/` may).
    #[error("path template must not end with '/' (trailing slash at byte {position})")]
    TrailingSlash { position: usize },

    /// Two consecutive separators, or a separator directly followed by `:`, `}` or end of a
    /// variable: a path segment is missing.
    #[error("empty path segment at byte {position}")]
    EmptySegment { position: usize },

    /// A `{` inside a variable's pattern.
    #[error("nested variable at byte {position}: a variable pattern must not contain variables")]
    NestedVariable { position: usize },

    /// A `{` without its closing `}`.
    #[error("unclosed '{{' at byte {position}: missing '}}'")]
    UnclosedBrace { position: usize },

    /// A `}` that closes nothing.
    #[error("unmatched '}}' at byte {position}")]
    UnmatchedClosingBrace { position: usize },

    /// A literal (or another variable, or a wildcard) shares a path segment with a variable,
    /// e.g. `/v1/a{b}` or `/v1/{b}c`.
    #[error(
        "variable glued to other text at byte {position}: a variable must occupy whole path segments"
    )]
    LiteralGluedToVariable { position: usize },

    /// A variable appears after a `**`: the span bound by `**` could not be delimited.
    #[error("variable at byte {position} follows '**': only literal segments may follow '**'")]
    VariableAfterDoubleWildcard { position: usize },

    /// A `*` or a second `**` appears after a `**`.
    #[error("wildcard at byte {position} follows '**': only literal segments may follow '**'")]
    WildcardAfterDoubleWildcard { position: usize },

    /// The same field path is bound by two variables.
    #[error("field '{field}' is bound twice (second binding at byte {position})")]
    DuplicateField { field: String, position: usize },

    /// One bound field path is a prefix of another (`{a}` and `{a.b}`): the first would have to
    /// be both a scalar and a message.
    #[error("field '{field}' at byte {position} overlaps the field '{other}' bound earlier")]
    OverlappingFields {
        field: String,
        other: String,
        position: usize,
    },

    /// A field path component is not a protobuf identifier (`[A-Za-z_][A-Za-z0-9_]*`).
    #[error("invalid field name {found:?} at byte {position}: expected a protobuf identifier")]
    InvalidIdentifier { found: String, position: usize },

    /// `:` is not followed by a verb.
    #[error("empty verb after ':' at byte {position}")]
    EmptyVerb { position: usize },

    /// A `%` not followed by two hexadecimal digits inside a literal or verb.
    #[error("malformed percent-escape at byte {position}: '%' must be followed by two hex digits")]
    InvalidPercentEncoding { position: usize },

    /// A character that may not appear in a literal path segment or verb (RFC 3986 `pchar`).
    #[error("character {found:?} at byte {position} is not allowed in a path literal")]
    InvalidCharacter { found: char, position: usize },

    /// A character that is valid on its own but not where it appears.
    #[error("unexpected {found:?} at byte {position}: expected {expected}")]
    UnexpectedCharacter {
        found: char,
        position: usize,
        expected: &'static str,
    },
}
