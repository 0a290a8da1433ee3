//! Business error codes: the numeric `code` field of every error body, one per gRPC code.
//!
//! Guarantees: every gRPC code has exactly one business code (defaults below, overridable per
//! canonical code name from configuration); an override naming a code that does not exist is
//! rejected at construction, so a typo in config fails at startup rather than being ignored.
//! The effective table, for checking documentation against the code, is in `error_table`.

use tonic::Code;

use super::status_map::{ALL_CODES, code_from_name};

/// A configuration override named a gRPC code that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown gRPC code name {name:?} in business code overrides; expected one of the upper-case \
     gRPC code names: OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND, \
     ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ABORTED, \
     OUT_OF_RANGE, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED"
)]
pub struct UnknownCodeName {
    /// The name as it appeared in the configuration.
    pub name: String,
}

/// Business code per gRPC code. Cheap to copy; build once at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessCodes {
    /// Indexed by the gRPC code's numeric value (0..=16).
    by_code: [i32; 17],
}

impl BusinessCodes {
    /// The default table, with `overrides` (upper-case gRPC code name → business code) applied.
    /// A later override for the same name wins.
    pub fn with_overrides(
        overrides: impl IntoIterator<Item = (String, i32)>,
    ) -> Result<BusinessCodes, UnknownCodeName> {
        let mut codes = BusinessCodes::default();
        for (name, value) in overrides {
            let code = code_from_name(&name).ok_or(UnknownCodeName { name })?;
            if let Some(slot) = codes.by_code.get_mut(index_of(code)) {
                *slot = value;
            }
        }
        Ok(codes)
    }

    /// The business code for a gRPC code.
    pub fn get(&self, code: Code) -> i32 {
        self.by_code
            .get(index_of(code))
            .copied()
            .unwrap_or_else(|| default_business_code(code))
    }
}

impl Default for BusinessCodes {
    fn default() -> Self {
        BusinessCodes {
            by_code: ALL_CODES.map(default_business_code),
        }
    }
}

fn index_of(code: Code) -> usize {
    // Codes are 0..=16, so the conversion cannot fail; 2 (UNKNOWN) only keeps this total.
    usize::try_from(code as i32).unwrap_or(2)
}

fn default_business_code(code: Code) -> i32 {
    match code {
        Code::Ok => 0,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 10001,
        Code::NotFound => 10002,
        Code::AlreadyExists => 10003,
        Code::Aborted => 10004,
        Code::PermissionDenied => 10005,
        Code::Unauthenticated => 10006,
        Code::ResourceExhausted => 10007,
        Code::Cancelled => 10008,
        Code::Unimplemented => 10009,
        Code::Unavailable | Code::DeadlineExceeded => 20001,
        Code::Internal | Code::Unknown | Code::DataLoss => 50000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_TABLE: &str = "\
| gRPC status | HTTP status | code |
|---|---|---|
| OK | 200 | 0 |
| CANCELLED | 499 | 10008 |
| UNKNOWN | 500 | 50000 |
| INVALID_ARGUMENT | 400 | 10001 |
| DEADLINE_EXCEEDED | 504 | 20001 |
| NOT_FOUND | 404 | 10002 |
| ALREADY_EXISTS | 409 | 10003 |
| PERMISSION_DENIED | 403 | 10005 |
| RESOURCE_EXHAUSTED | 429 | 10007 |
| FAILED_PRECONDITION | 400 | 10001 |
| ABORTED | 409 | 10004 |
| OUT_OF_RANGE | 400 | 10001 |
| UNIMPLEMENTED | 501 | 10009 |
| INTERNAL | 500 | 50000 |
| UNAVAILABLE | 503 | 20001 |
| DATA_LOSS | 500 | 50000 |
| UNAUTHENTICATED | 401 | 10006 |
";

    #[test]
    fn default_business_codes() {
        let cases = [
            (Code::Ok, 0),
            (Code::InvalidArgument, 10001),
            (Code::FailedPrecondition, 10001),
            (Code::OutOfRange, 10001),
            (Code::NotFound, 10002),
            (Code::AlreadyExists, 10003),
            (Code::Aborted, 10004),
            (Code::PermissionDenied, 10005),
            (Code::Unauthenticated, 10006),
            (Code::ResourceExhausted, 10007),
            (Code::Cancelled, 10008),
            (Code::Unimplemented, 10009),
            (Code::Unavailable, 20001),
            (Code::DeadlineExceeded, 20001),
            (Code::Internal, 50000),
            (Code::Unknown, 50000),
            (Code::DataLoss, 50000),
        ];
        assert_eq!(cases.len(), ALL_CODES.len(), "every code has a case");
        let codes = BusinessCodes::default();
        for (code, expected) in cases {
            assert_eq!(codes.get(code), expected, "{code:?}");
        }
    }

    #[test]
    fn default_table_matches_documentation() {
        let table = BusinessCodes::default().markdown_table();
        println!("{table}");
        assert_eq!(table, DEFAULT_TABLE);
    }

    #[test]
    fn overrides_replace_only_the_named_codes() {
        let codes = BusinessCodes::with_overrides([
            ("NOT_FOUND".to_string(), 404),
            ("INTERNAL".to_string(), 1),
            ("INTERNAL".to_string(), 2),
        ])
        .expect("valid names");
        assert_eq!(codes.get(Code::NotFound), 404);
        assert_eq!(codes.get(Code::Internal), 2, "later override wins");
        assert_eq!(codes.get(Code::Unknown), 50000, "shared default untouched");
        assert_eq!(codes.get(Code::InvalidArgument), 10001);
    }

    #[test]
    fn empty_overrides_are_the_defaults() {
        let codes = BusinessCodes::with_overrides(Vec::new()).expect("no names");
        assert_eq!(codes, BusinessCodes::default());
    }

    #[test]
    fn unknown_override_name_is_rejected_and_named() {
        for bad in ["NOT_FOUNDD", "not_found", ""] {
            let err = BusinessCodes::with_overrides([("OK".to_string(), 1), (bad.to_string(), 7)])
                .expect_err("unknown name");
            assert_eq!(err.name, bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }
}

#[cfg(test)]
mod readme_tests {
    use super::BusinessCodes;

    /// The README's error table is the contract users read; it must match the code.
    #[test]
    fn readme_lists_the_default_table() {
        let readme = include_str!("../../README.md");
        let table = BusinessCodes::default().markdown_table();
        assert!(
            readme.contains(&table),
            "README error table differs from:\n{table}"
        );
    }
}
