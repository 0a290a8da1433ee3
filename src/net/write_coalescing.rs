//! Write coalescing for a socket shared by many concurrent HTTP/2 streams.
//!
//! hyper and h2 flush their connection every time a stream has something to send. Under load
//! the task that answers one stream wakes the connection task, which runs next and writes just
//! that stream's frames: one `writev` per request and direction, and on loopback each write
//! also pays for the receiver's TCP processing. This adapter buffers written bytes and, on the
//! first flush, yields once to the scheduler instead of writing: every other task that is
//! already runnable (the other streams' answers) gets to add its frames first, and the next
//! poll writes them all with one syscall. On an idle runtime the yield costs nothing but a
//! re-poll, so latency is unchanged; it is the event-loop batching proxies like Envoy do.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Past this many buffered bytes, writes go out before more are accepted, so the buffer
/// stays small and a bulk transfer is not copied twice.
const MAX_BUFFERED: usize = 64 * 1024;

/// Buffer capacity kept between flushes (more is freed: many connections sit idle).
const KEPT_CAPACITY: usize = 16 * 1024;

/// A stream whose writes are held until a flush, and whose flushes yield once first.
#[derive(Debug)]
pub struct CoalescingStream<T> {
    inner: T,
    pending: Vec<u8>,
    /// Sent bytes at the front of `pending` (a partial write).
    written: usize,
    /// The current flush has already yielded once.
    yielded: bool,
}

impl<T> CoalescingStream<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            written: 0,
            yielded: false,
        }
    }
}

impl<T: AsyncWrite + Unpin> CoalescingStream<T> {
    /// Writes out everything buffered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(unwritten) = self.pending.get(self.written..).filter(|u| !u.is_empty()) {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, unwritten))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        // A burst's buffer is not kept for an idle connection: a few answers' worth stays.
        if self.pending.capacity() > KEPT_CAPACITY {
            self.pending = Vec::new();
        }
        Poll::Ready(Ok(()))
    }

    /// Makes room for `incoming` bytes; `true` when they should bypass the buffer.
    fn poll_room(&mut self, cx: &mut Context<'_>, incoming: usize) -> Poll<io::Result<bool>> {
        if self.pending.len() + incoming <= MAX_BUFFERED {
            return Poll::Ready(Ok(false));
        }
        ready!(self.poll_drain(cx))?;
        Poll::Ready(Ok(incoming > MAX_BUFFERED))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for CoalescingStream<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CoalescingStream<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if ready!(this.poll_room(cx, buf.len()))? {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        this.pending.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if ready!(this.poll_room(cx, total))? {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        for buf in bufs {
            this.pending.extend_from_slice(buf);
        }
        Poll::Ready(Ok(total))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pending.is_empty() {
            this.yielded = false;
            return Pin::new(&mut this.inner).poll_flush(cx);
        }
        if !this.yielded {
            // Waking itself puts this task at the back of the run queue (tokio treats a
            // self-wake as a yield), behind the tasks that may add to this write.
            this.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        ready!(this.poll_drain(cx))?;
        this.yielded = false;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use futures_util::FutureExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

    use super::*;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whatever the peer can read right now, without waiting.
    fn readable_now(peer: &mut DuplexStream) -> Vec<u8> {
        let mut buf = vec![0; 4 * MAX_BUFFERED];
        match peer.read(&mut buf).now_or_never() {
            Some(Ok(n)) => buf[..n].to_vec(),
            _ => Vec::new(),
        }
    }

    #[tokio::test]
    async fn writes_wait_for_a_flush_which_yields_once_then_sends_them_together() {
        let (near, mut peer) = duplex(1 << 20);
        let mut stream = CoalescingStream::new(near);
        stream.write_all(b"first ").await.unwrap();
        stream.write_all(b"second").await.unwrap();
        assert!(readable_now(&mut peer).is_empty());

        let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let std_waker = std::task::Waker::from(Arc::clone(&waker));
        let mut cx = Context::from_waker(&std_waker);
        assert!(Pin::new(&mut stream).poll_flush(&mut cx).is_pending());
        assert_eq!(waker.0.load(Ordering::Relaxed), 1, "the flush wakes itself");
        assert!(readable_now(&mut peer).is_empty());

        assert!(matches!(
            Pin::new(&mut stream).poll_flush(&mut cx),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(readable_now(&mut peer), b"first second");

        // Nothing buffered: a flush goes straight through.
        assert!(matches!(
            Pin::new(&mut stream).poll_flush(&mut cx),
            Poll::Ready(Ok(()))
        ));
    }

    #[tokio::test]
    async fn a_large_write_is_not_held() {
        let (near, mut peer) = duplex(1 << 20);
        let mut stream = CoalescingStream::new(near);
        stream.write_all(b"head").await.unwrap();
        let bulk = vec![7u8; MAX_BUFFERED + 1];
        stream.write_all(&bulk).await.unwrap();
        let mut seen = readable_now(&mut peer);
        seen.extend(readable_now(&mut peer));
        assert_eq!(
            seen.len(),
            4 + bulk.len(),
            "buffered bytes go first, then the bulk"
        );
        assert_eq!(&seen[..4], b"head");
    }

    #[tokio::test]
    async fn shutdown_sends_what_is_buffered() {
        let (near, mut peer) = duplex(1 << 20);
        let mut stream = CoalescingStream::new(near);
        stream.write_all(b"last words").await.unwrap();
        stream.shutdown().await.unwrap();
        let mut all = Vec::new();
        peer.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"last words");
    }
}
