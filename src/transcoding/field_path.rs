//! A dotted field path resolved once against a message descriptor, so per-request code never
//! looks names up again and cannot hold a path that does not exist.

use std::fmt;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

use super::resolve_error::ResolveError;
use super::well_known::ScalarLike;

/// A non-empty chain of fields starting at `root`: every field but the last is a singular message
/// field whose message type contains the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    root: MessageDescriptor,
    parents: Vec<FieldDescriptor>,
    leaf: FieldDescriptor,
    /// Proto names joined by dots, computed once for error messages and comparisons.
    dotted: String,
}

impl FieldPath {
    /// Resolves `path` against `msg`. Each segment may be the proto name (`display_name`) or the
    /// JSON name (`displayName`); the leaf may be of any type.
    pub fn resolve(
        msg: &MessageDescriptor,
        path: &[impl AsRef<str>],
    ) -> Result<FieldPath, ResolveError> {
        let original = path.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(".");
        let mut segments = path.iter().map(AsRef::as_ref);
        let first = segments.next().ok_or(ResolveError::EmptyPath)?;
        let mut leaf = lookup(msg, first, &original)?;
        let mut parents = Vec::new();
        let mut dotted = leaf.name().to_owned();
        for segment in segments {
            let inner = traversable_message(&leaf, &dotted, &original)?;
            let next = lookup(&inner, segment, &original)?;
            dotted.push('.');
            dotted.push_str(next.name());
            parents.push(std::mem::replace(&mut leaf, next));
        }
        Ok(FieldPath {
            root: msg.clone(),
            parents,
            leaf,
            dotted,
        })
    }

    /// Resolves a path split at dots (`"book.author.display_name"`).
    pub fn resolve_dotted(
        msg: &MessageDescriptor,
        dotted: &str,
    ) -> Result<FieldPath, ResolveError> {
        let segments: Vec<&str> = dotted.split('.').collect();
        Self::resolve(msg, &segments)
    }

    /// Like [`FieldPath::resolve`], and additionally requires the leaf to be settable from one
    /// string, as a URL path variable must be: a singular scalar or enum field, or a singular
    /// wrapper / Timestamp / Duration / FieldMask field.
    pub fn resolve_path_variable(
        msg: &MessageDescriptor,
        path: &[impl AsRef<str>],
    ) -> Result<FieldPath, ResolveError> {
        let resolved = Self::resolve(msg, path)?;
        let leaf = resolved.leaf();
        let reason = if leaf.is_map() {
            Some("a map")
        } else if leaf.is_list() {
            Some("repeated")
        } else {
            match leaf.kind() {
                Kind::Message(inner) if ScalarLike::of(&inner).is_none() => Some("a message"),
                _ => None,
            }
        };
        match reason {
            Some(reason) => Err(ResolveError::PathVariableNotScalar {
                path: resolved.dotted,
                reason,
            }),
            None => Ok(resolved),
        }
    }

    /// The message the path starts at.
    pub fn root(&self) -> &MessageDescriptor {
        &self.root
    }

    /// The fields leading to the leaf (empty for a top-level field).
    pub fn parents(&self) -> &[FieldDescriptor] {
        &self.parents
    }

    /// The field the path designates.
    pub fn leaf(&self) -> &FieldDescriptor {
        &self.leaf
    }

    /// Proto names joined by dots, e.g. `book.author.display_name`.
    pub fn proto_path(&self) -> &str {
        &self.dotted
    }

    /// The first field of the path (a field of the root message).
    pub fn first(&self) -> &FieldDescriptor {
        self.parents.first().unwrap_or(&self.leaf)
    }

    /// All fields, root-most first.
    pub fn fields(&self) -> impl Iterator<Item = &FieldDescriptor> {
        self.parents.iter().chain(std::iter::once(&self.leaf))
    }

    /// Whether one path is a prefix of the other (or they are equal): setting one would touch
    /// the field designated by the other.
    pub(crate) fn overlaps(&self, other: &FieldPath) -> bool {
        self.root == other.root
            && self
                .fields()
                .zip(other.fields())
                .all(|(a, b)| a.number() == b.number())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dotted)
    }
}

/// Finds a field by proto name first, then by JSON name: proto names are what templates usually
/// use, and a clash the other way round would need a field whose proto name is another's JSON name.
pub(crate) fn lookup_field(msg: &MessageDescriptor, name: &str) -> Option<FieldDescriptor> {
    msg.get_field_by_name(name)
        .or_else(|| msg.get_field_by_json_name(name))
}

fn lookup(
    msg: &MessageDescriptor,
    segment: &str,
    path: &str,
) -> Result<FieldDescriptor, ResolveError> {
    lookup_field(msg, segment).ok_or_else(|| ResolveError::UnknownField {
        message: msg.full_name().to_owned(),
        segment: segment.to_owned(),
        path: path.to_owned(),
    })
}

/// `so_far` is the dotted proto path ending at `field`, reported as the offending field.
fn traversable_message(
    field: &FieldDescriptor,
    so_far: &str,
    path: &str,
) -> Result<MessageDescriptor, ResolveError> {
    let reason = if field.is_map() {
        "a map"
    } else if field.is_list() {
        "repeated"
    } else {
        match field.kind() {
            Kind::Message(inner) => return Ok(inner),
            _ => "not a message",
        }
    };
    Err(ResolveError::NotTraversable {
        path: path.to_owned(),
        field: so_far.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcoding::test_support::everything;

    #[test]
    fn resolves_proto_and_json_names() {
        let msg = everything();
        let cases: &[(&[&str], &str)] = &[
            (&["name"], "name"),
            (
                &["book", "author", "display_name"],
                "book.author.display_name",
            ),
            (
                &["book", "author", "displayName"],
                "book.author.display_name",
            ),
            (&["book", "pageCount"], "book.page_count"),
            (&["choice_text"], "choice_text"),
            (&["choiceText"], "choice_text"),
            (&["when", "seconds"], "when.seconds"),
        ];
        for (segments, expected) in cases {
            let path = FieldPath::resolve(&msg, segments).expect("resolves");
            assert_eq!(path.proto_path(), *expected);
            assert_eq!(path.to_string(), *expected);
            assert_eq!(path.root(), &msg);
            assert_eq!(path.fields().count(), segments.len());
        }
    }

    #[test]
    fn rejects_bad_paths() {
        let msg = everything();
        let empty: &[&str] = &[];
        assert_eq!(
            FieldPath::resolve(&msg, empty),
            Err(ResolveError::EmptyPath)
        );
        let cases: &[(&[&str], &str)] = &[
            (&["nope"], "has no field named `nope`"),
            (
                &["book", "nope"],
                "`test.v1.Book` has no field named `nope`",
            ),
            (
                &["name", "x"],
                "`name` in field path `name.x` is not a message",
            ),
            (
                &["books", "title"],
                "`books` in field path `books.title` is repeated",
            ),
            (
                &["labels", "k"],
                "`labels` in field path `labels.k` is a map",
            ),
            (&[""], "has no field named ``"),
        ];
        for (segments, expected) in cases {
            let err = FieldPath::resolve(&msg, segments).expect_err("must fail");
            assert!(err.to_string().contains(expected), "{segments:?}: {err}");
        }
    }

    #[test]
    fn path_variables_must_be_scalar_like() {
        let msg = everything();
        for ok in [
            "name",
            "i64",
            "color",
            "nickname",
            "when",
            "timeout",
            "update_mask",
            "book.name",
            "data",
        ] {
            FieldPath::resolve_path_variable(&msg, &ok.split('.').collect::<Vec<_>>())
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, reason) in [
            ("tags", "repeated"),
            ("labels", "a map"),
            ("book", "a message"),
            ("extra", "a message"),
            ("books", "repeated"),
        ] {
            let err = FieldPath::resolve_path_variable(&msg, &[bad]).expect_err(bad);
            assert_eq!(
                err,
                ResolveError::PathVariableNotScalar {
                    path: bad.to_owned(),
                    reason
                }
            );
        }
    }

    #[test]
    fn overlap_is_prefix_in_either_direction() {
        let msg = everything();
        let p = |s: &str| FieldPath::resolve_dotted(&msg, s).expect("resolves");
        assert!(p("book").overlaps(&p("book.name")));
        assert!(p("book.name").overlaps(&p("book")));
        assert!(p("book.name").overlaps(&p("book.name")));
        assert!(!p("book.name").overlaps(&p("book.title")));
        assert!(!p("name").overlaps(&p("book")));
    }
}
