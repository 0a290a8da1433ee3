//! The gateway's single error shape: every error leaving h2gate, whether raised by the gateway
//! or returned by the gRPC backend, is rendered as one JSON body
//! `{"code", "message", "status", "detail"?, "details": [...]}` with an HTTP status derived from
//! the gRPC code.

mod business_codes;
mod details;
mod error_body;
#[cfg(test)]
mod error_table;
mod gateway_error;
mod rejection;
mod status_map;

pub use business_codes::BusinessCodes;
pub use gateway_error::GatewayError;
pub use rejection::Rejection;
pub use status_map::{code_for_http_status, code_from_name, code_name, code_number};
