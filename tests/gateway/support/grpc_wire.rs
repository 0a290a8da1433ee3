//! gRPC's wire format as the tests write and read it by hand: length-prefixed message frames
//! (whole, or a header declaring more than follows) and a demo message to put in them, for
//! scripted backend replies; and the `grpc-timeout` value a backend saw, parsed back with the
//! gateway's own parser.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};

/// One gRPC message frame: the flag byte (1: compressed), the length, the message.
pub fn grpc_frame(flag: u8, message: &[u8]) -> Vec<u8> {
    let len = u32::try_from(message.len()).expect("test message fits a frame");
    let mut frame = vec![flag];
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

/// The five-byte header of a message declaring `len` bytes, without the message.
pub fn declared_frame(len: u32) -> Vec<u8> {
    let mut header = vec![0];
    header.extend_from_slice(&len.to_be_bytes());
    header
}

/// A small, valid `demo.v1.User` message.
pub fn encoded_user(user_id: &str) -> Vec<u8> {
    use prost::Message as _;
    h2gate_demo::pb::User {
        user_id: user_id.to_owned(),
        name: "Scripted".to_owned(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Parses a gRPC timeout value (`100m`, `4999873u`, ...) as the backend saw it, with the
/// gateway's own parser.
pub fn parse_grpc_timeout(text: &str) -> Option<Duration> {
    let mut headers = HeaderMap::new();
    headers.insert("grpc-timeout", HeaderValue::try_from(text).ok()?);
    h2gate::internals::grpc_timeout(&headers).ok().flatten()
}
