//! The client-writable fields of `demo.v1.User` and the parsing of an `update_mask` into them.
//! Parsing happens once, up front: an UpdateUser either gets a valid, duplicate-free list of
//! fields to copy or a BadRequest naming every bad mask path.

use prost_types::FieldMask;

use super::errors::{DemoError, violation};
use super::pb::User;

/// A `User` field a client may set. Output-only fields (`user_id`, timestamps, `padding`) are not
/// listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserField {
    Name,
    Age,
    Email,
    Tags,
    Role,
}

/// Paths that exist on `User` but are owned by the server.
const OUTPUT_ONLY: &[&str] = &["user_id", "created_at", "updated_at", "padding"];

impl UserField {
    /// Every writable field; what an empty (or `*`) mask means.
    pub const ALL: [UserField; 5] = [Self::Name, Self::Age, Self::Email, Self::Tags, Self::Role];

    /// The proto field name, which is also its field-mask path.
    pub fn path(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Age => "age",
            Self::Email => "email",
            Self::Tags => "tags",
            Self::Role => "role",
        }
    }

    fn from_path(path: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.path() == path)
    }

    /// Copies this field's value from `from` into `to`.
    pub fn copy(self, from: &User, to: &mut User) {
        match self {
            Self::Name => to.name.clone_from(&from.name),
            Self::Age => to.age = from.age,
            Self::Email => to.email.clone_from(&from.email),
            Self::Tags => to.tags.clone_from(&from.tags),
            Self::Role => to.role = from.role,
        }
    }
}

/// Resolves an update mask (paths relative to the `User`, as in AIP-134) to the fields to replace.
/// An absent or empty mask, or the single path `*`, selects every writable field.
pub fn parse_update_mask(mask: Option<&FieldMask>) -> Result<Vec<UserField>, DemoError> {
    let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() || paths == ["*"] {
        return Ok(UserField::ALL.to_vec());
    }
    let mut fields = Vec::with_capacity(paths.len());
    let mut violations = Vec::new();
    for path in paths {
        match UserField::from_path(path) {
            Some(field) if !fields.contains(&field) => fields.push(field),
            Some(_) => {} // a repeated path is harmless
            None if OUTPUT_ONLY.contains(&path.as_str()) => violations.push(violation(
                "update_mask",
                format!("field '{path}' is output only and cannot be updated"),
            )),
            None if path == "*" => violations.push(violation(
                "update_mask",
                "'*' must be the only path when present",
            )),
            None => violations.push(violation(
                "update_mask",
                format!("unknown field '{path}' (updatable: name, age, email, tags, role)"),
            )),
        }
    }
    if violations.is_empty() {
        Ok(fields)
    } else {
        Err(DemoError::InvalidArgument(violations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(paths: &[&str]) -> FieldMask {
        FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn valid_masks() {
        use UserField::*;
        let cases: [(Option<FieldMask>, Vec<UserField>); 5] = [
            (None, UserField::ALL.to_vec()),
            (Some(mask(&[])), UserField::ALL.to_vec()),
            (Some(mask(&["*"])), UserField::ALL.to_vec()),
            (Some(mask(&["age", "name"])), vec![Age, Name]),
            (Some(mask(&["tags", "tags", "role"])), vec![Tags, Role]),
        ];
        for (mask, expected) in cases {
            assert_eq!(parse_update_mask(mask.as_ref()), Ok(expected), "{mask:?}");
        }
    }

    #[test]
    fn invalid_masks_name_every_bad_path() {
        let cases = [
            (mask(&["nickname"]), vec!["unknown field 'nickname'"]),
            (mask(&["user_id"]), vec!["field 'user_id' is output only"]),
            (mask(&["padding"]), vec!["field 'padding' is output only"]),
            (
                mask(&["created_at", "name", "bogus"]),
                vec!["field 'created_at' is output only", "unknown field 'bogus'"],
            ),
            (mask(&["name", "*"]), vec!["'*' must be the only path"]),
            (mask(&["Name"]), vec!["unknown field 'Name'"]),
        ];
        for (mask, expected) in cases {
            let Err(DemoError::InvalidArgument(violations)) = parse_update_mask(Some(&mask)) else {
                panic!("{mask:?} should be rejected");
            };
            assert_eq!(violations.len(), expected.len(), "{mask:?}");
            for (v, want) in violations.iter().zip(expected) {
                assert_eq!(v.field, "update_mask");
                assert!(
                    v.description.starts_with(want),
                    "{} vs {want}",
                    v.description
                );
            }
        }
    }

    #[test]
    fn copy_moves_only_the_selected_field() {
        let from = User {
            name: "New".into(),
            age: 9,
            email: "n@example.com".into(),
            tags: vec!["t".into()],
            role: 2,
            ..User::default()
        };
        for field in UserField::ALL {
            let mut to = User::default();
            field.copy(&from, &mut to);
            let mut expected = User::default();
            match field {
                UserField::Name => expected.name = "New".into(),
                UserField::Age => expected.age = 9,
                UserField::Email => expected.email = "n@example.com".into(),
                UserField::Tags => expected.tags = vec!["t".into()],
                UserField::Role => expected.role = 2,
            }
            assert_eq!(to, expected, "{field:?}");
        }
    }
}
