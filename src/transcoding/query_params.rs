//! Application of URL query parameters to the request message.
//!
//! Per `http.proto`, fields not bound by the path or the body may be set from the query:
//! primitive fields, repeated primitive fields (`?tag=a&tag=b`), and fields of singular messages
//! via dotted names (`?book.author.display_name=x`, proto or JSON names). Scalar-like well-known
//! types (wrappers, Timestamp, Duration, FieldMask) take one text value. Everything else — maps,
//! repeated messages, other message leaves — is rejected with a precise error, as are fields the
//! path or body already own, and non-repeated fields given twice.

use prost_reflect::{DynamicMessage, Kind, ReflectMessage};

use super::body_rule::BodyRule;
use super::field_path::FieldPath;
use super::message_path;
use super::query_string::parse_query;
use super::resolve_error::ResolveError;
use super::text_value::{parse_field_value, parse_kind};
use super::transcode_error::TranscodeError;
use super::well_known::ScalarLike;

/// Applies the raw query string `raw` to `msg`. `path_bound` are the fields bound by the URL path
/// template; with `ignore_unknown`, unknown parameters and unknown enum names are skipped.
pub(crate) fn apply_query(
    msg: &mut DynamicMessage,
    raw: &str,
    body_rule: &BodyRule,
    path_bound: &[&FieldPath],
    ignore_unknown: bool,
) -> Result<(), TranscodeError> {
    let input = msg.descriptor();
    let mut singular_set: Vec<FieldPath> = Vec::new();
    for pair in parse_query(raw)? {
        let parameter = pair.key;
        if matches!(body_rule, BodyRule::Whole) {
            if ignore_unknown {
                continue;
            }
            return Err(TranscodeError::QueryParameterWithWholeBody { parameter });
        }
        let segments: Vec<&str> = parameter.split('.').collect();
        let path = match FieldPath::resolve(&input, &segments) {
            Ok(path) => path,
            Err(ResolveError::NotTraversable { field, reason, .. }) => {
                return Err(TranscodeError::QueryParameterNotSettable {
                    parameter,
                    field,
                    reason,
                });
            }
            Err(_) if ignore_unknown => continue,
            Err(ResolveError::UnknownField {
                message, segment, ..
            }) => {
                return Err(TranscodeError::UnknownQueryParameter {
                    parameter,
                    message,
                    segment,
                });
            }
            Err(_) => {
                return Err(TranscodeError::UnknownQueryParameter {
                    segment: parameter.clone(),
                    parameter,
                    message: input.full_name().to_owned(),
                });
            }
        };
        check_ownership(&parameter, &path, body_rule, path_bound)?;
        let field = path.proto_path().to_owned();
        let leaf = path.leaf();
        let not_settable = |reason| TranscodeError::QueryParameterNotSettable {
            parameter: parameter.clone(),
            field: field.clone(),
            reason,
        };
        let invalid = |source| TranscodeError::InvalidQueryValue {
            parameter: parameter.clone(),
            field: field.clone(),
            source,
        };
        let kind = leaf.kind();
        let scalar_like = match &kind {
            Kind::Message(desc) => ScalarLike::of(desc).is_some(),
            _ => true,
        };
        if leaf.is_map() {
            return Err(not_settable("a map"));
        } else if leaf.is_list() {
            if matches!(kind, Kind::Message(_)) {
                return Err(not_settable("a repeated message field"));
            }
            if let Some(value) = parse_kind(&kind, &pair.value, ignore_unknown).map_err(invalid)? {
                message_path::push(msg, &path, value)?;
            }
        } else if !scalar_like {
            return Err(not_settable(
                "a message; set its fields individually (e.g. `field.subfield=value`)",
            ));
        } else {
            if singular_set.iter().any(|earlier| earlier.overlaps(&path)) {
                return Err(TranscodeError::DuplicateQueryParameter { parameter, field });
            }
            if let Some(value) =
                parse_field_value(leaf, &pair.value, ignore_unknown).map_err(invalid)?
            {
                message_path::set(msg, &path, value)?;
            }
            singular_set.push(path);
        }
    }
    Ok(())
}

/// Fields bound by the path or mapped to the body belong to them; the query may not touch them.
fn check_ownership(
    parameter: &str,
    path: &FieldPath,
    body_rule: &BodyRule,
    path_bound: &[&FieldPath],
) -> Result<(), TranscodeError> {
    if let Some(body_field) = body_rule.field()
        && path.first().number() == body_field.number()
    {
        return Err(TranscodeError::QueryParameterInBody {
            parameter: parameter.to_owned(),
            body_field: body_field.name().to_owned(),
        });
    }
    if let Some(bound) = path_bound.iter().find(|bound| bound.overlaps(path)) {
        return Err(TranscodeError::QueryParameterBoundByPath {
            parameter: parameter.to_owned(),
            field: bound.proto_path().to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "query_params_tests.rs"]
mod tests;
