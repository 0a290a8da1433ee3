//! The gRPC length-prefixed message framing (uncompressed): a zero flag byte, the length as a
//! big-endian u32, the message. A message that a u32 cannot measure is refused, never sent
//! with a truncated length that would desynchronise the stream.

use bytes::{BufMut, Bytes, BytesMut};

/// The largest message a gRPC frame can carry.
pub const MAX_FRAMED_MESSAGE: u64 = u32::MAX as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {0}-byte message is larger than a gRPC frame can carry ({MAX_FRAMED_MESSAGE} bytes)")]
pub struct MessageTooLarge(pub usize);

/// The five-byte prefix for a message of `len` bytes.
pub fn frame_header(len: usize) -> Result<[u8; 5], MessageTooLarge> {
    let len32 = u32::try_from(len).map_err(|_| MessageTooLarge(len))?;
    let [a, b, c, d] = len32.to_be_bytes();
    Ok([0, a, b, c, d])
}

/// `message` framed for the wire.
pub fn grpc_frame(message: &[u8]) -> Result<Bytes, MessageTooLarge> {
    let header = frame_header(message.len())?;
    let mut frame = BytesMut::with_capacity(header.len() + message.len());
    frame.put_slice(&header);
    frame.put_slice(message);
    Ok(frame.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_messages_are_prefixed_with_their_length() {
        assert_eq!(
            grpc_frame(b"abc").unwrap(),
            &[0, 0, 0, 0, 3, b'a', b'b', b'c'][..]
        );
        assert_eq!(grpc_frame(b"").unwrap(), &[0, 0, 0, 0, 0][..]);
    }

    #[test]
    fn lengths_a_frame_cannot_express_are_refused() {
        assert_eq!(frame_header(u32::MAX as usize), Ok([0, 255, 255, 255, 255]));
        #[cfg(target_pointer_width = "64")]
        for len in [u32::MAX as usize + 1, usize::MAX] {
            assert_eq!(frame_header(len), Err(MessageTooLarge(len)));
        }
    }
}
