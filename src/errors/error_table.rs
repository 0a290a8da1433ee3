//! The effective error table (gRPC code, HTTP status, business code), so tests can check the
//! README's table against the code.

use std::fmt::Write as _;

use http::StatusCode;
use tonic::Code;

use super::business_codes::BusinessCodes;
use super::status_map::{ALL_CODES, code_name, http_status_for_code};

/// One row of the effective error table (used for docs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorTableRow {
    pub code: Code,
    pub name: &'static str,
    pub http_status: StatusCode,
    pub business_code: i32,
}

impl BusinessCodes {
    /// The effective table, one row per gRPC code in numeric order.
    pub fn table(&self) -> [ErrorTableRow; 17] {
        ALL_CODES.map(|code| ErrorTableRow {
            code,
            name: code_name(code),
            http_status: http_status_for_code(code),
            business_code: self.get(code),
        })
    }

    /// The effective table as a Markdown table (`| gRPC code | HTTP | code |`), for the README.
    pub fn markdown_table(&self) -> String {
        let mut out = String::from("| gRPC status | HTTP status | code |\n|---|---|---|\n");
        for row in self.table() {
            // Writing into a String cannot fail.
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                row.name,
                row.http_status.as_u16(),
                row.business_code
            );
        }
        out
    }
}
