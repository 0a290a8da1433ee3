//! A call's response head, read into headers and a message stream: a trailers-only answer
//! (the status in the head), a non-gRPC answer (a proxy's error page, mapped by its HTTP
//! status), or a normal gRPC response whose messages and trailers follow.

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use http_body::Frame;
use http_body_util::BodyExt;
use tonic::codec::Streaming;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use super::BytesCodec;
use super::endpoint::InFlight;
use super::response_body::ResponseBody;
use crate::errors::code_for_http_status;

/// An open call: the backend's response headers and its message stream, whose trailers (or
/// error status) arrive at its end. Dropping it cancels the call upstream.
pub struct OpenStream {
    pub headers: MetadataMap,
    pub messages: Streaming<Bytes>,
}

/// Reads `response` into an open call (whose body counts the call in flight until it ends),
/// or the status it carries instead (told to `in_flight` before it is dropped).
pub fn read_head(
    response: http::Response<h2::RecvStream>,
    mut in_flight: InFlight,
    max_message: usize,
) -> Result<OpenStream, Status> {
    in_flight.head_arrived();
    read_parts(response, in_flight, max_message).map_err(|(status, in_flight)| {
        in_flight.ended(status.code());
        status
    })
}

fn read_parts(
    response: http::Response<h2::RecvStream>,
    in_flight: InFlight,
    max_message: usize,
) -> Result<OpenStream, (Status, InFlight)> {
    let (mut parts, recv) = response.into_parts();
    drop_malformed_details(&mut parts.headers);
    // Trailers-only (grpc-go and grpc-python answer an empty stream, or an error raised
    // before the first message, with one HEADERS frame carrying the status): the head is
    // also the trailers, and no trailers frame will follow.
    let trailers_only = match Status::from_header_map(&parts.headers) {
        Some(status) if status.code() != Code::Ok => return Err((status, in_flight)),
        Some(_) => true,
        None => false,
    };
    let is_grpc = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if parts.status != StatusCode::OK || !is_grpc {
        let status = Status::new(
            code_for_http_status(parts.status),
            format!(
                "the backend answered HTTP {} ({}) instead of gRPC",
                parts.status,
                parts
                    .headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("no content-type")
            ),
        );
        return Err((status, in_flight));
    }
    if trailers_only {
        in_flight.ended(Code::Ok);
    }
    let body = ResponseBody::new(recv, in_flight, max_message).map_frame(|frame| {
        match frame.into_trailers() {
            Ok(mut trailers) => {
                drop_malformed_details(&mut trailers);
                Frame::trailers(trailers)
            }
            Err(frame) => frame,
        }
    });
    let messages = if trailers_only {
        Streaming::new_empty(BytesCodec, body)
    } else {
        // The size limit is the response body's own (`max_response_bytes`), checked before
        // anything is buffered; tonic's would only repeat it.
        Streaming::new_response(BytesCodec, body, parts.status, None, Some(usize::MAX))
    };
    Ok(OpenStream {
        headers: MetadataMap::from_headers(parts.headers),
        messages,
    })
}

/// tonic panics on a `grpc-status-details-bin` that is not base64. A backend must not be able
/// to crash a request (or, mid-stream, a client's connection), so such a value is dropped; the
/// status code and message still arrive.
fn drop_malformed_details(headers: &mut http::HeaderMap) {
    let malformed = headers
        .get(STATUS_DETAILS)
        .is_some_and(|value| DETAILS_BASE64.decode(value.as_bytes()).is_err());
    if malformed {
        headers.remove(STATUS_DETAILS);
    }
}

const STATUS_DETAILS: &str = "grpc-status-details-bin";

/// The alphabet and padding rules tonic decodes `-bin` values with.
const DETAILS_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
