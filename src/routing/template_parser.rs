//! Recursive-descent parser for path templates, following the grammar of `google/api/http.proto`:
//!
//! ```text
//! Template  = "/" | "/" Segments [ Verb ] ;
//! Segments  = Segment { "/" Segment } ;
//! Segment   = "*" | "**" | LITERAL | Variable ;
//! Variable  = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb      = ":" LITERAL ;
//! ```
//!
//! Like grpc-httpjson-transcoding we accept the bare root `/`, and after a `**` we accept literal
//! segments only (no `*`, no second `**`, no variable starting after it). LITERAL is restricted
//! to RFC 3986 `pchar` minus `:` and `*` (with `%XX` escapes validated) and IDENT to protobuf
//! identifiers, so that every rejection names the exact offending byte.

use std::str::FromStr;

use super::template::{HeadSegment, PathTemplate, Variable};
use super::template_error::TemplateError;

impl PathTemplate {
    /// Parses a template per the grammar in `google/api/http.proto`.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        parse(text)
    }
}

impl FromStr for PathTemplate {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

fn parse(text: &str) -> Result<PathTemplate, TemplateError> {
    if text == "/" {
        return Ok(PathTemplate::from_parts(Vec::new(), None, Vec::new(), None));
    }
    if !text.starts_with('/') {
        return Err(TemplateError::MissingLeadingSlash);
    }
    let mut parser = Parser {
        src: text,
        pos: 1,
        head: Vec::new(),
        tail: None,
        variables: Vec::new(),
    };
    parser.segments(None)?;
    let verb = if parser.peek() == Some(':') {
        Some(parser.verb()?)
    } else {
        None
    };
    match parser.peek() {
        None => {}
        Some('}') => {
            return Err(TemplateError::UnmatchedClosingBrace {
                position: parser.pos,
            });
        }
        Some(found) => {
            return Err(TemplateError::UnexpectedCharacter {
                found,
                position: parser.pos,
                expected: if verb.is_some() {
                    "end of template after the verb"
                } else {
                    "'/', ':' or end of template"
                },
            });
        }
    }
    Ok(PathTemplate::from_parts(
        parser.head,
        parser.tail,
        parser.variables,
        verb,
    ))
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    head: Vec<HeadSegment>,
    tail: Option<Vec<String>>,
    variables: Vec<Variable>,
}

/// RFC 3986 `pchar` without `%` (validated separately), `:` (verb separator) and `*` (wildcard).
fn is_literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()+,;=@".contains(c)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.src
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    fn piece_count(&self) -> usize {
        self.head.len() + self.tail.as_ref().map_or(0, |t| t.len() + 1)
    }

    /// `in_variable` holds the position of the enclosing `{`, if any.
    fn segments(&mut self, in_variable: Option<usize>) -> Result<(), TemplateError> {
        loop {
            self.segment(in_variable)?;
            if self.peek() != Some('/') {
                return Ok(());
            }
            self.pos += 1;
        }
    }

    fn segment(&mut self, in_variable: Option<usize>) -> Result<(), TemplateError> {
        let position = self.pos;
        match self.peek() {
            None => Err(match in_variable {
                Some(open) => TemplateError::UnclosedBrace { position: open },
                None => TemplateError::TrailingSlash {
                    position: position.saturating_sub(1),
                },
            }),
            Some('/' | ':') => Err(TemplateError::EmptySegment { position }),
            Some('}') if in_variable.is_some() => Err(TemplateError::EmptySegment { position }),
            Some('}') => Err(TemplateError::UnmatchedClosingBrace { position }),
            Some('{') if in_variable.is_some() => Err(TemplateError::NestedVariable { position }),
            Some('{') => self.variable(),
            Some('*') => self.wildcard(),
            Some(_) => {
                let literal = self.literal(true)?;
                match &mut self.tail {
                    Some(tail) => tail.push(literal),
                    None => self.head.push(HeadSegment::Literal(literal)),
                }
                Ok(())
            }
        }
    }

    fn wildcard(&mut self) -> Result<(), TemplateError> {
        let position = self.pos;
        self.pos += 1;
        let double = self.peek() == Some('*');
        if double {
            self.pos += 1;
        }
        if self.tail.is_some() {
            return Err(TemplateError::WildcardAfterDoubleWildcard { position });
        }
        if double {
            self.tail = Some(Vec::new());
        } else {
            self.head.push(HeadSegment::Wildcard);
        }
        match self.peek() {
            None | Some('/' | ':' | '}') => Ok(()),
            Some(found) => Err(TemplateError::UnexpectedCharacter {
                found,
                position: self.pos,
                expected: "'/' after a wildcard (a wildcard must be a whole segment)",
            }),
        }
    }

    /// Reads a LITERAL up to the next delimiter. `in_path` distinguishes path segments (where a
    /// `{` means a variable glued to the literal) from the verb (where it is just invalid).
    fn literal(&mut self, in_path: bool) -> Result<String, TemplateError> {
        let mut text = String::new();
        loop {
            let position = self.pos;
            match self.peek() {
                None | Some('/' | ':' | '}') => return Ok(text),
                Some('{') if in_path => {
                    return Err(TemplateError::LiteralGluedToVariable { position });
                }
                Some('%') => {
                    let escape = self.src.get(position..position + 3);
                    match escape {
                        Some(e) if e.bytes().skip(1).all(|b| b.is_ascii_hexdigit()) => {
                            text.push_str(e);
                            self.pos += 3;
                        }
                        _ => return Err(TemplateError::InvalidPercentEncoding { position }),
                    }
                }
                Some(c) if is_literal_char(c) => {
                    text.push(c);
                    self.pos += c.len_utf8();
                }
                Some(found) => return Err(TemplateError::InvalidCharacter { found, position }),
            }
        }
    }

    fn variable(&mut self) -> Result<(), TemplateError> {
        let open = self.pos;
        self.pos += 1;
        if self.tail.is_some() {
            return Err(TemplateError::VariableAfterDoubleWildcard { position: open });
        }
        let field_path = self.field_path(open)?;
        let start = self.piece_count();
        match self.peek() {
            Some('=') => {
                self.pos += 1;
                self.segments(Some(open))?;
            }
            Some('}') => self.head.push(HeadSegment::Wildcard),
            Some('{') => return Err(TemplateError::NestedVariable { position: self.pos }),
            None => return Err(TemplateError::UnclosedBrace { position: open }),
            Some(found) => {
                return Err(TemplateError::UnexpectedCharacter {
                    found,
                    position: self.pos,
                    expected: "'=' or '}' after the field path",
                });
            }
        }
        match self.peek() {
            Some('}') => self.pos += 1,
            None => return Err(TemplateError::UnclosedBrace { position: open }),
            Some(found) => {
                return Err(TemplateError::UnexpectedCharacter {
                    found,
                    position: self.pos,
                    expected: "'}' to close the variable",
                });
            }
        }
        self.check_not_bound(&field_path, open)?;
        // A `**` seen by now is inside this variable: variables cannot start after one.
        let has_double_wildcard = self.tail.is_some();
        self.variables.push(Variable::new(
            field_path,
            start,
            self.piece_count(),
            has_double_wildcard,
        ));
        match self.peek() {
            None | Some('/' | ':' | '}') => Ok(()),
            Some(_) => Err(TemplateError::LiteralGluedToVariable { position: self.pos }),
        }
    }

    fn field_path(&mut self, open: usize) -> Result<Vec<String>, TemplateError> {
        let mut path = Vec::new();
        loop {
            let position = self.pos;
            let rest = self.src.get(position..).unwrap_or_default();
            let len = rest.find(['.', '=', '}', '{', '/']).unwrap_or(rest.len());
            if len == rest.len() {
                return Err(TemplateError::UnclosedBrace { position: open });
            }
            let ident = rest.get(..len).unwrap_or_default();
            if !is_identifier(ident) {
                return Err(TemplateError::InvalidIdentifier {
                    found: ident.to_owned(),
                    position,
                });
            }
            path.push(ident.to_owned());
            self.pos += len;
            if self.peek() != Some('.') {
                return Ok(path);
            }
            self.pos += 1;
        }
    }

    fn check_not_bound(&self, path: &[String], position: usize) -> Result<(), TemplateError> {
        for other in &self.variables {
            let other = other.field_path();
            if other == path {
                return Err(TemplateError::DuplicateField {
                    field: path.join("."),
                    position,
                });
            }
            if other.starts_with(path) || path.starts_with(other) {
                return Err(TemplateError::OverlappingFields {
                    field: path.join("."),
                    other: other.join("."),
                    position,
                });
            }
        }
        Ok(())
    }

    fn verb(&mut self) -> Result<String, TemplateError> {
        let colon = self.pos;
        self.pos += 1;
        let verb = self.literal(false)?;
        if verb.is_empty() {
            return Err(TemplateError::EmptyVerb { position: colon });
        }
        Ok(verb)
    }
}
