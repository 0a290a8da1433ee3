//! The gateway's single error shape: every error leaving h2gate, whether raised by the gateway
//! or returned by the gRPC backend, is rendered as one JSON body
//! `{"code", "message", "status", "detail"?, "details": [...]}` with an HTTP status derived from
//! the gRPC code.

mod business_codes;
mod details;
mod error_body;
mod gateway_error;
mod status_map;

pub use business_codes::{BusinessCodes, ErrorTableRow, UnknownCodeName};
pub use details::{BAD_REQUEST_TYPE_URL, STATUS_TYPE_URL, any_to_json, decode_status_details};
pub use gateway_error::GatewayError;
pub use status_map::{
    ALL_CODES, code_for_http_status, code_from_name, code_name, http_status_for_code,
    http_status_for_raw_code,
};
