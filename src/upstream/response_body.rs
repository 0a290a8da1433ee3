//! A backend's HTTP/2 response stream as an `http_body::Body` (what tonic's `Streaming`
//! decodes), returning flow-control window as the data is taken, and counting as a call in
//! flight on its endpoint until it is dropped.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use h2::RecvStream;
use http_body::{Body, Frame};
use tonic::Status;

use super::connection::InFlight;
use super::h2_status::h2_status;

pub struct ResponseBody {
    recv: RecvStream,
    data_done: bool,
    _in_flight: InFlight,
}

impl ResponseBody {
    pub fn new(recv: RecvStream, in_flight: InFlight) -> Self {
        Self {
            recv,
            data_done: false,
            _in_flight: in_flight,
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    /// Already a gRPC status, so tonic's decoder passes it on as it is.
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if !self.data_done {
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // The window reopens as the gateway takes the data, not as it arrives:
                    // a client that reads slowly slows the backend down.
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(err)) => return Poll::Ready(Some(Err(h2_status(&err)))),
                None => self.data_done = true,
            }
        }
        match ready!(self.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(err) => Poll::Ready(Some(Err(h2_status(&err)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}
