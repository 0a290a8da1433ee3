//! Reading and writing a `DynamicMessage` along a resolved [`FieldPath`], with the checks that
//! writes from different parts of a request need: intermediate messages are created on demand,
//! and a write never silently clears another member of a oneof (prost-reflect would).

use std::borrow::Cow;

use prost_reflect::{DynamicMessage, FieldDescriptor, Value};

use super::field_path::FieldPath;
use super::transcode_error::TranscodeError;

/// The leaf's value when the leaf and every message above it are set; `None` otherwise.
pub(crate) fn get_if_set(msg: &DynamicMessage, path: &FieldPath) -> Option<Value> {
    let mut current = msg;
    for parent in path.parents() {
        if !current.has_field(parent) {
            return None;
        }
        match current.get_field(parent) {
            Cow::Borrowed(Value::Message(inner)) => current = inner,
            _ => return None,
        }
    }
    let leaf = path.leaf();
    current
        .has_field(leaf)
        .then(|| current.get_field(leaf).into_owned())
}

/// The message that directly holds the leaf, creating missing intermediate messages. Fails if
/// the leaf or an intermediate field is in a oneof whose other member is already set.
pub(crate) fn leaf_parent_mut<'m>(
    msg: &'m mut DynamicMessage,
    path: &FieldPath,
) -> Result<&'m mut DynamicMessage, TranscodeError> {
    let mut current = msg;
    let mut prefix = String::new();
    for parent in path.parents() {
        check_oneof(current, parent, &prefix)?;
        let next = current
            .get_field_mut(parent)
            .as_message_mut()
            .ok_or_else(|| mismatch(parent))?;
        current = next;
        prefix.push_str(parent.name());
        prefix.push('.');
    }
    check_oneof(current, path.leaf(), &prefix)?;
    Ok(current)
}

/// Sets the leaf of `path` to `value`.
pub(crate) fn set(
    msg: &mut DynamicMessage,
    path: &FieldPath,
    value: Value,
) -> Result<(), TranscodeError> {
    let parent = leaf_parent_mut(msg, path)?;
    parent
        .try_set_field(path.leaf(), value)
        .map_err(|_| mismatch(path.leaf()))
}

/// Appends `value` to the repeated leaf of `path`.
pub(crate) fn push(
    msg: &mut DynamicMessage,
    path: &FieldPath,
    value: Value,
) -> Result<(), TranscodeError> {
    let leaf = path.leaf();
    let parent = leaf_parent_mut(msg, path)?;
    let list = parent
        .get_field_mut(leaf)
        .as_list_mut()
        .ok_or_else(|| mismatch(leaf))?;
    list.push(value);
    Ok(())
}

/// Sets a top-level field, refusing to displace another member of its oneof.
pub(crate) fn set_top_level(
    msg: &mut DynamicMessage,
    field: &FieldDescriptor,
    value: Value,
) -> Result<(), TranscodeError> {
    check_oneof(msg, field, "")?;
    msg.try_set_field(field, value).map_err(|_| mismatch(field))
}

fn check_oneof(
    msg: &DynamicMessage,
    field: &FieldDescriptor,
    prefix: &str,
) -> Result<(), TranscodeError> {
    let Some(oneof) = field.containing_oneof() else {
        return Ok(());
    };
    match oneof
        .fields()
        .find(|other| other.number() != field.number() && msg.has_field(other))
    {
        Some(other) => Err(TranscodeError::OneofConflict {
            field: format!("{prefix}{}", field.name()),
            other: format!("{prefix}{}", other.name()),
        }),
        None => Ok(()),
    }
}

pub(crate) fn mismatch(field: &FieldDescriptor) -> TranscodeError {
    TranscodeError::DescriptorMismatch {
        field: field.full_name().to_owned(),
        message: field.parent_message().full_name().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcoding::test_support::everything;

    fn path(dotted: &str) -> FieldPath {
        FieldPath::resolve_dotted(&everything(), dotted).expect("resolves")
    }

    #[test]
    fn set_creates_intermediates_and_get_reads_back() {
        let mut msg = DynamicMessage::new(everything());
        let p = path("book.author.display_name");
        assert_eq!(get_if_set(&msg, &p), None);
        set(&mut msg, &p, Value::String("Ann".into())).expect("set");
        assert_eq!(get_if_set(&msg, &p), Some(Value::String("Ann".into())));
        assert_eq!(get_if_set(&msg, &path("book.author.age")), None);
        push(&mut msg, &path("tags"), Value::String("a".into())).expect("push");
        push(&mut msg, &path("tags"), Value::String("b".into())).expect("push");
        assert_eq!(
            get_if_set(&msg, &path("tags")),
            Some(Value::List(vec![
                Value::String("a".into()),
                Value::String("b".into())
            ]))
        );
    }

    #[test]
    fn oneof_members_are_never_displaced() {
        let mut msg = DynamicMessage::new(everything());
        set(&mut msg, &path("choice_text"), Value::String("x".into())).expect("set");
        let err = set(&mut msg, &path("choice_number"), Value::I32(1)).expect_err("conflict");
        assert_eq!(
            err,
            TranscodeError::OneofConflict {
                field: "choice_number".into(),
                other: "choice_text".into()
            }
        );
        let err = set(&mut msg, &path("choice_author.age"), Value::I32(1)).expect_err("conflict");
        assert!(matches!(err, TranscodeError::OneofConflict { .. }), "{err}");
        assert_eq!(
            get_if_set(&msg, &path("choice_text")),
            Some(Value::String("x".into()))
        );
        // Re-setting the same member is fine.
        set(&mut msg, &path("choice_text"), Value::String("y".into())).expect("same member");
    }
}
