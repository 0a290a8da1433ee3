//! The gateway's fixed mapping between gRPC status codes and HTTP.
//!
//! Guarantees:
//! - every gRPC code (and every raw `i32`, known or not) maps to exactly one HTTP status;
//!   unknown numeric codes map to 500 like `UNKNOWN`;
//! - every gRPC code has its canonical upper-case name (`NOT_FOUND`), and names parse back;
//! - a backend that answered without a gRPC status is classified per gRPC's
//!   `doc/http-grpc-status-mapping.md` (the same table tonic uses internally).
//!
//! The functions are exhaustive `match`es so adding a code to `tonic::Code` breaks the build
//! here instead of silently falling into a default.

use http::StatusCode;
use tonic::Code;

/// All 17 gRPC codes in numeric order (`OK` = 0 … `UNAUTHENTICATED` = 16).
pub const ALL_CODES: [Code; 17] = [
    Code::Ok,
    Code::Cancelled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

/// HTTP status a gRPC code is rendered with.
pub fn http_status_for_code(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        // 499 "Client Closed Request" (nginx convention, also used by grpc-gateway).
        Code::Cancelled => client_closed_request(),
        Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition => StatusCode::BAD_REQUEST,
        Code::Aborted => StatusCode::CONFLICT,
        Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
    }
}

/// HTTP status for a raw numeric gRPC code as read off the wire; codes outside 0..=16 → 500.
#[cfg(test)]
pub fn http_status_for_raw_code(code: i32) -> StatusCode {
    // `Code::from_i32` maps every out-of-range value to `Code::Unknown`, which is 500.
    http_status_for_code(Code::from_i32(code))
}

/// Canonical upper-case name of a gRPC code, as used in the `status` field of error bodies.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A gRPC code as its number, as the metrics label it (`rpc_grpc_status_code`).
pub fn code_number(code: Code) -> &'static str {
    const NUMBERS: [&str; 17] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    NUMBERS
        .get(usize::try_from(code as i32).unwrap_or(usize::MAX))
        .copied()
        .unwrap_or("2")
}

/// Parses a canonical upper-case gRPC code name (exact match, e.g. `NOT_FOUND`).
pub fn code_from_name(name: &str) -> Option<Code> {
    ALL_CODES.into_iter().find(|code| code_name(*code) == name)
}

/// gRPC code for a backend response that carried no gRPC status (plain HTTP error,
/// wrong content-type, missing trailers), per gRPC's `http-grpc-status-mapping.md`.
pub fn code_for_http_status(status: StatusCode) -> Code {
    match status {
        StatusCode::BAD_REQUEST => Code::Internal,
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::PermissionDenied,
        StatusCode::NOT_FOUND => Code::Unimplemented,
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::BAD_GATEWAY
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => Code::Unavailable,
        _ => Code::Unknown,
    }
}

fn client_closed_request() -> StatusCode {
    // 499 is within 100..=999, so `from_u16` cannot fail; the fallback only keeps this panic-free.
    StatusCode::from_u16(499).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (code, numeric value, name, HTTP status) — the spec table, row by row.
    const TABLE: [(Code, i32, &str, u16); 17] = [
        (Code::Ok, 0, "OK", 200),
        (Code::Cancelled, 1, "CANCELLED", 499),
        (Code::Unknown, 2, "UNKNOWN", 500),
        (Code::InvalidArgument, 3, "INVALID_ARGUMENT", 400),
        (Code::DeadlineExceeded, 4, "DEADLINE_EXCEEDED", 504),
        (Code::NotFound, 5, "NOT_FOUND", 404),
        (Code::AlreadyExists, 6, "ALREADY_EXISTS", 409),
        (Code::PermissionDenied, 7, "PERMISSION_DENIED", 403),
        (Code::ResourceExhausted, 8, "RESOURCE_EXHAUSTED", 429),
        (Code::FailedPrecondition, 9, "FAILED_PRECONDITION", 400),
        (Code::Aborted, 10, "ABORTED", 409),
        (Code::OutOfRange, 11, "OUT_OF_RANGE", 400),
        (Code::Unimplemented, 12, "UNIMPLEMENTED", 501),
        (Code::Internal, 13, "INTERNAL", 500),
        (Code::Unavailable, 14, "UNAVAILABLE", 503),
        (Code::DataLoss, 15, "DATA_LOSS", 500),
        (Code::Unauthenticated, 16, "UNAUTHENTICATED", 401),
    ];

    #[test]
    fn every_code_maps_to_its_http_status_and_name() {
        for (code, raw, name, http) in TABLE {
            assert_eq!(http_status_for_code(code).as_u16(), http, "{name}");
            assert_eq!(
                http_status_for_raw_code(raw).as_u16(),
                http,
                "{name} as i32"
            );
            assert_eq!(code_name(code), name);
            assert_eq!(code_from_name(name), Some(code));
            assert_eq!(code as i32, raw, "{name} numeric value");
        }
    }

    #[test]
    fn all_codes_is_in_numeric_order_and_complete() {
        for (index, code) in ALL_CODES.into_iter().enumerate() {
            assert_eq!(usize::try_from(code as i32).ok(), Some(index));
        }
    }

    #[test]
    fn unknown_numeric_codes_are_500() {
        for raw in [17, 99, -1, i32::MIN, i32::MAX] {
            assert_eq!(
                http_status_for_raw_code(raw),
                StatusCode::INTERNAL_SERVER_ERROR,
                "{raw}"
            );
        }
    }

    #[test]
    fn names_are_exact_and_case_sensitive() {
        for bad in ["not_found", "NotFound", "NOT FOUND", "", " OK", "OK "] {
            assert_eq!(code_from_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn http_status_without_grpc_status_maps_per_grpc_doc() {
        let cases = [
            (400, Code::Internal),
            (401, Code::Unauthenticated),
            (403, Code::PermissionDenied),
            (404, Code::Unimplemented),
            (429, Code::Unavailable),
            (502, Code::Unavailable),
            (503, Code::Unavailable),
            (504, Code::Unavailable),
            (200, Code::Unknown),
            (405, Code::Unknown),
            (415, Code::Unknown),
            (500, Code::Unknown),
            (501, Code::Unknown),
        ];
        for (http, expected) in cases {
            let status = StatusCode::from_u16(http).expect("valid test status");
            assert_eq!(code_for_http_status(status), expected, "{http}");
        }
    }
}
