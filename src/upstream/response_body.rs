//! A backend's HTTP/2 response stream as an `http_body::Body` (what tonic's `Streaming`
//! decodes): flow-control window returned as the data is taken, each gRPC message's declared
//! length checked against `max_response_bytes` before anything of it is buffered, h2 errors
//! turned into gRPC statuses, and the call counted in flight until it is dropped.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use h2::RecvStream;
use http_body::{Body, Frame};
use tonic::{Code, Status};

use super::endpoint::InFlight;
use super::h2_status::h2_status;

pub struct ResponseBody {
    recv: RecvStream,
    data_done: bool,
    /// A message found too large after messages before it in the same data were delivered.
    refused: Option<Status>,
    lengths: MessageLengths,
    /// Held until the body is dropped; told how the call ended.
    in_flight: InFlight,
}

impl ResponseBody {
    pub fn new(recv: RecvStream, in_flight: InFlight, max_message: usize) -> Self {
        Self {
            recv,
            data_done: false,
            refused: None,
            lengths: MessageLengths::new(max_message),
            in_flight,
        }
    }
}

impl ResponseBody {
    /// The stream broke (the backend reset it, or its connection was lost).
    fn broke(&self, err: &h2::Error) -> Status {
        let status = h2_status(err);
        self.in_flight.ended(status.code());
        status
    }
}

impl Body for ResponseBody {
    /// Already a gRPC status, so tonic's decoder passes it on as it is.
    type Error = Status;
    type Data = Bytes;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if let Some(status) = self.refused.take() {
            // Dropping the call then resets the stream: the rest is not wanted.
            return Poll::Ready(Some(Err(status)));
        }
        if !self.data_done {
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(mut data)) => {
                    // The window reopens as the gateway takes the data, not as it arrives:
                    // a client that reads slowly slows the backend down.
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    if let Err((at, status)) = self.lengths.follow(&data) {
                        if at == 0 {
                            return Poll::Ready(Some(Err(status)));
                        }
                        // The messages before the oversized one still go out.
                        data.truncate(at);
                        self.refused = Some(status);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(err)) => return Poll::Ready(Some(Err(self.broke(&err)))),
                None => self.data_done = true,
            }
        }
        match ready!(self.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => {
                let code = trailers
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map_or(Code::Unknown, Code::from_i32);
                self.in_flight.ended(code);
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            Ok(None) => Poll::Ready(None),
            Err(err) => Poll::Ready(Some(Err(self.broke(&err)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}

/// Follows the gRPC message framing through the data (a flag byte and a four-byte length,
/// then the message) to refuse a message longer than the limit as soon as its length is read.
struct MessageLengths {
    max: usize,
    header: [u8; 5],
    header_len: usize,
    /// Bytes of the current message still to come.
    message_left: usize,
}

impl MessageLengths {
    fn new(max: usize) -> Self {
        Self {
            max,
            header: [0; 5],
            header_len: 0,
            message_left: 0,
        }
    }

    /// Follows `data`; on a message over the limit, where its header began in `data` (or 0
    /// if before) and the error.
    fn follow(&mut self, data: &[u8]) -> Result<(), (usize, Status)> {
        let total = data.len();
        let mut data = data;
        while !data.is_empty() {
            if self.message_left > 0 {
                let take = self.message_left.min(data.len());
                self.message_left -= take;
                data = data.get(take..).unwrap_or_default();
                continue;
            }
            let take = (5 - self.header_len).min(data.len());
            if let (Some(slot), Some(bytes)) = (
                self.header.get_mut(self.header_len..self.header_len + take),
                data.get(..take),
            ) {
                slot.copy_from_slice(bytes);
            }
            self.header_len += take;
            data = data.get(take..).unwrap_or_default();
            if self.header_len == 5 {
                self.header_len = 0;
                let [_, a, b, c, d] = self.header;
                let len = u32::from_be_bytes([a, b, c, d]) as usize;
                if len > self.max {
                    let header_start = (total - data.len()).saturating_sub(5);
                    let status = Status::internal(format!(
                        "the backend's reply message of {len} bytes is larger than \
                         max_response_bytes ({})",
                        self.max
                    ));
                    return Err((header_start, status));
                }
                self.message_left = len;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: u32) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&len.to_be_bytes());
        out.extend(std::iter::repeat_n(7u8, len as usize));
        out
    }

    #[test]
    fn messages_within_the_limit_pass_however_split() {
        let mut bytes = frame(10);
        bytes.extend(frame(0));
        bytes.extend(frame(100));
        for split in [1, 2, 4, 5, 6, 11, bytes.len()] {
            let mut lengths = MessageLengths::new(100);
            for piece in bytes.chunks(split) {
                lengths.follow(piece).unwrap();
            }
            assert_eq!((lengths.header_len, lengths.message_left), (0, 0));
        }
    }

    #[test]
    fn a_message_over_the_limit_is_refused_at_its_header() {
        let mut lengths = MessageLengths::new(100);
        lengths.follow(&frame(100)).unwrap();
        let (at, status) = lengths.follow(&[0, 0, 0, 0, 101]).unwrap_err();
        assert_eq!(at, 0);
        assert_eq!(status.code(), tonic::Code::Internal);
        // After a good message in the same data: the good one is kept.
        let mut lengths = MessageLengths::new(100);
        let mut data = frame(3);
        data.extend_from_slice(&[0, 0, 0, 1, 0]);
        assert_eq!(lengths.follow(&data).unwrap_err().0, 8);
        assert!(
            status.message().contains("max_response_bytes"),
            "{status:?}"
        );
    }
}
