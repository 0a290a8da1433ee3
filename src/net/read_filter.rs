//! A socket whose incoming bytes something looks at (and may cut short or replace) on their way
//! to the protocol code above, with writes passed through untouched. The gateway watches
//! HTTP/1.1 request framing from clients (`listener::http1_guard`) and HTTP/2 frame headers
//! from backends (`upstream::frame_watch`) this way, without a copy and without a parser of its
//! own in the hot path.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What looks at the bytes read.
pub trait ReadFilter {
    /// Before a read: `true` if the filter filled `buf` itself, and the socket is not read.
    fn answer(&mut self, _buf: &mut ReadBuf<'_>) -> bool {
        false
    }

    /// After a read, with the bytes it added to `buf` after `before`; may shorten or extend
    /// them.
    fn inspect(&mut self, buf: &mut ReadBuf<'_>, before: usize);
}

/// `inner` with `filter` on its reads.
pub struct Filtered<T, F> {
    inner: T,
    filter: F,
}

impl<T, F> Filtered<T, F> {
    pub fn new(inner: T, filter: F) -> Self {
        Self { inner, filter }
    }
}

impl<T: AsyncRead + Unpin, F: ReadFilter + Unpin> AsyncRead for Filtered<T, F> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.filter.answer(buf) {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.filter.inspect(buf, before);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin, F: Unpin> AsyncWrite for Filtered<T, F> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
