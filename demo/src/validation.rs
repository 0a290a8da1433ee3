//! Field rules for `demo.v1.User`. All violations of a request are collected (not just the first)
//! so one INVALID_ARGUMENT carries a complete `google.rpc.BadRequest`.

use super::pb::{Role, User, google::rpc::bad_request::FieldViolation};

use super::errors::violation;

/// Inclusive bounds for `User.age`.
pub const AGE_RANGE: std::ops::RangeInclusive<i32> = 0..=150;
/// Longest accepted `User.name`, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest accepted `user_id`; ids appear in URL paths, hence the small charset too.
pub const MAX_USER_ID_CHARS: usize = 64;
/// Most tags a user may carry.
pub const MAX_TAGS: usize = 20;

/// Checks every writable field of `user`; `prefix` is the path of the user inside the request
/// (`""` for CreateUser whose request *is* the user, `"user."` for UpdateUser).
pub fn user_violations(user: &User, prefix: &str) -> Vec<FieldViolation> {
    let mut out = Vec::new();
    let name = user.name.trim();
    if name.is_empty() {
        out.push(violation(format!("{prefix}name"), "must not be empty"));
    } else if user.name.chars().count() > MAX_NAME_CHARS {
        out.push(violation(
            format!("{prefix}name"),
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if !AGE_RANGE.contains(&user.age) {
        out.push(violation(
            format!("{prefix}age"),
            format!(
                "must be between {} and {}, got {}",
                AGE_RANGE.start(),
                AGE_RANGE.end(),
                user.age
            ),
        ));
    }
    if !user.email.is_empty() && !is_plausible_email(&user.email) {
        out.push(violation(
            format!("{prefix}email"),
            format!("'{}' is not a valid email address", user.email),
        ));
    }
    if user.tags.len() > MAX_TAGS {
        out.push(violation(
            format!("{prefix}tags"),
            format!(
                "at most {MAX_TAGS} tags are allowed, got {}",
                user.tags.len()
            ),
        ));
    }
    for (i, tag) in user.tags.iter().enumerate() {
        if tag.trim().is_empty() {
            out.push(violation(format!("{prefix}tags[{i}]"), "must not be empty"));
        }
    }
    if Role::try_from(user.role).is_err() {
        out.push(violation(
            format!("{prefix}role"),
            format!("unknown role value {}", user.role),
        ));
    }
    out
}

/// Checks a user about to be created (CreateUser, each ImportUsers message): the writable fields,
/// plus the id when the client chose one. `prefix` is as for [`user_violations`].
pub fn new_user_violations(user: &User, prefix: &str) -> Vec<FieldViolation> {
    let mut out = Vec::new();
    if !user.user_id.is_empty() {
        out.extend(user_id_violation(
            &user.user_id,
            &format!("{prefix}user_id"),
        ));
    }
    out.extend(user_violations(user, prefix));
    out
}

/// Checks a client-chosen user id: 1 to 64 characters from `[A-Za-z0-9_-]`.
pub fn user_id_violation(id: &str, field: &str) -> Option<FieldViolation> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if id.is_empty() || id.len() > MAX_USER_ID_CHARS || !ok_chars {
        Some(violation(
            field,
            format!(
                "must be 1 to {MAX_USER_ID_CHARS} characters of [A-Za-z0-9_-], got '{}'",
                id.escape_debug()
            ),
        ))
    } else {
        None
    }
}

/// Deliberately loose: one `@`, a non-empty local part, a dotted domain, no whitespace.
fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !email.chars().any(char::is_whitespace)
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_user() -> User {
        User {
            name: "Ada Lovelace".into(),
            age: 36,
            email: "ada@example.com".into(),
            tags: vec!["math".into()],
            role: Role::Member as i32,
            ..User::default()
        }
    }

    #[test]
    fn valid_user_has_no_violations() {
        assert!(user_violations(&valid_user(), "").is_empty());
        let minimal = User {
            name: "X".into(),
            ..User::default()
        };
        assert!(user_violations(&minimal, "").is_empty());
    }

    #[test]
    fn each_rule_reports_its_field() {
        type Edit = fn(&mut User);
        let cases: [(Edit, &str); 10] = [
            (|u| u.name = "   ".into(), "name"),
            (|u| u.name = "n".repeat(101), "name"),
            (|u| u.age = -1, "age"),
            (|u| u.age = 151, "age"),
            (|u| u.email = "not-an-email".into(), "email"),
            (|u| u.email = "a@b".into(), "email"),
            (|u| u.email = "a b@example.com".into(), "email"),
            (|u| u.tags = vec!["ok".into(), "".into()], "tags[1]"),
            (|u| u.tags = vec!["t".into(); 21], "tags"),
            (|u| u.role = 9, "role"),
        ];
        for (edit, field) in cases {
            let mut user = valid_user();
            edit(&mut user);
            let violations = user_violations(&user, "user.");
            assert_eq!(violations.len(), 1, "{user:?}: {violations:?}");
            assert_eq!(violations[0].field, format!("user.{field}"));
        }
    }

    #[test]
    fn all_violations_are_collected() {
        let user = User {
            name: String::new(),
            age: 200,
            email: "@@".into(),
            ..User::default()
        };
        let fields: Vec<String> = user_violations(&user, "")
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["name", "age", "email"]);
    }

    #[test]
    fn new_users_also_check_a_chosen_id() {
        let cases = [
            ("", vec![]),
            ("ok-1", vec![]),
            ("bad/id", vec!["users[3].user_id"]),
        ];
        for (id, expected) in cases {
            let user = User {
                user_id: id.into(),
                ..valid_user()
            };
            let fields: Vec<String> = new_user_violations(&user, "users[3].")
                .into_iter()
                .map(|v| v.field)
                .collect();
            assert_eq!(fields, expected, "{id}");
        }
        let fields: Vec<String> = new_user_violations(&User::default(), "")
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["name"]);
    }

    #[test]
    fn user_ids() {
        for ok in ["1", "42", "user_7-b", &"a".repeat(64)] {
            assert_eq!(user_id_violation(ok, "user_id"), None, "{ok}");
        }
        for bad in ["", "a/b", "a b", "é", &"a".repeat(65)] {
            assert!(user_id_violation(bad, "user_id").is_some(), "{bad}");
        }
    }
}
