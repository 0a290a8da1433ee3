//! HTTP/2 failures of an upstream call as gRPC statuses, the same whether the call was
//! waiting for its response headers or was midway through a stream.
//!
//! A lost transport (the connection broke, closed, or went away with GOAWAY) is UNAVAILABLE
//! whatever the reason the backend gave: a GOAWAY's ENHANCE_YOUR_CALM is about the whole
//! connection, and the calls caught in it did nothing to deserve RESOURCE_EXHAUSTED. A reset
//! of the stream alone maps as gRPC's HTTP/2 spec says (PROTOCOL-HTTP2.md, RST_STREAM).

use h2::Reason;
use tonic::Status;

/// The status for an h2 error on an upstream stream.
pub fn h2_status(err: &h2::Error) -> Status {
    let reason = match err.reason() {
        Some(reason) if !err.is_go_away() => reason,
        _ => return Status::unavailable("the backend connection was lost"),
    };
    match reason {
        Reason::REFUSED_STREAM => Status::unavailable("the backend refused the call"),
        Reason::CANCEL => Status::cancelled("the backend cancelled the call"),
        Reason::ENHANCE_YOUR_CALM => {
            Status::resource_exhausted("the backend reset the call: too much traffic")
        }
        Reason::INADEQUATE_SECURITY => {
            Status::permission_denied("the backend reset the call: inadequate security")
        }
        other => Status::internal(format!("the backend reset the call ({other:?})")),
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;

    // A lost connection (io errors, GOAWAY) cannot be built from outside h2; the backend-fault
    // integration tests kill a real backend for it.
    #[test]
    fn stream_resets_map_per_the_grpc_spec() {
        let cases = [
            (Reason::REFUSED_STREAM, Code::Unavailable),
            (Reason::CANCEL, Code::Cancelled),
            (Reason::ENHANCE_YOUR_CALM, Code::ResourceExhausted),
            (Reason::INADEQUATE_SECURITY, Code::PermissionDenied),
            (Reason::PROTOCOL_ERROR, Code::Internal),
            (Reason::INTERNAL_ERROR, Code::Internal),
            (Reason::NO_ERROR, Code::Internal),
        ];
        for (reason, code) in cases {
            assert_eq!(
                h2_status(&h2::Error::from(reason)).code(),
                code,
                "{reason:?}"
            );
        }
    }
}
