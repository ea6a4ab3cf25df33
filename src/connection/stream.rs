//! The connection's byte stream: a plain TCP socket or a TLS session over
//! one. One enum (not a generic `Connection`) keeps a single copy of the
//! connection code; the plain path costs one match per read or write.

use bytes::BytesMut;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

pub enum Stream {
    Plain(TcpStream),
    /// Boxed: the TLS session state is large, and plain connections
    /// should not pay for it.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(s) => s,
            Self::Tls(s) => s.get_ref().0,
        }
    }

    /// Resolves once the socket has something to read: `true` if the
    /// client closed it (or it failed), `false` if data waits. Reads
    /// nothing (a TLS stream never resolves: its bytes are records).
    pub async fn closed_or_data(&self) -> bool {
        match self {
            Self::Plain(s) => {
                let mut byte = [0u8; 1];
                !matches!(s.peek(&mut byte).await, Ok(n) if n > 0)
            }
            Self::Tls(_) => std::future::pending().await,
        }
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.tcp().peer_addr().ok()
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.tcp().local_addr().ok()
    }

    /// A second descriptor for a plain connection's socket, for another
    /// worker to serve it (`migrate.rs`); this stream's own closes when it
    /// drops, after tokio has taken it out of this worker's `epoll`.
    pub fn duplicate(&self) -> io::Result<std::net::TcpStream> {
        use std::os::fd::AsFd;
        match self {
            Self::Plain(s) => {
                let socket = std::net::TcpStream::from(s.as_fd().try_clone_to_owned()?);
                socket.set_nonblocking(true)?;
                Ok(socket)
            }
            Self::Tls(_) => Err(io::Error::other("a TLS session does not move")),
        }
    }

    /// The socket's descriptor (`CLIENT LIST`'s `fd`).
    pub fn fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.tcp().as_raw_fd()
    }

    /// Reads what is available now into `buf`; `WouldBlock` if nothing is.
    /// A TLS session is polled once with a no-op waker: `Pending` means it
    /// holds no plaintext and its socket had nothing, so waiting for the
    /// socket to become [`readable`](Self::readable) is right.
    ///
    /// A plain socket is read through `poll_read` too, not `try_read_buf`:
    /// after a read that left room in `buf` the kernel had nothing more,
    /// and tokio then clears the socket's readiness (edge-triggered epoll
    /// reports the next data again). The connection's next try answers
    /// `WouldBlock` without a `recv` that would return `EAGAIN`: one read
    /// syscall per burst of requests, as Redis's read handler makes.
    pub fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Self::Plain(s) => {
                use std::future::Future;
                use tokio::io::AsyncReadExt;
                poll_now(|cx| std::pin::pin!(s.read_buf(buf)).poll(cx))
            }
            Self::Tls(s) => {
                // Zeroing the spare room costs little next to decryption,
                // and keeps this free of `unsafe`.
                let start = buf.len();
                buf.resize(buf.capacity().max(start + 1), 0);
                let result = poll_now(|cx| {
                    let mut read = ReadBuf::new(&mut buf[start..]);
                    match Pin::new(s.as_mut()).poll_read(cx, &mut read) {
                        Poll::Ready(Ok(())) => Poll::Ready(Ok(read.filled().len())),
                        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                        Poll::Pending => Poll::Pending,
                    }
                });
                buf.truncate(start + *result.as_ref().unwrap_or(&0));
                result
            }
        }
    }

    /// Writes what the socket (or the TLS session's buffer) takes now;
    /// `WouldBlock` if nothing.
    pub fn try_write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.try_write(data),
            Self::Tls(s) => poll_now(|cx| Pin::new(s.as_mut()).poll_write(cx, data)),
        }
    }

    /// Sends what a TLS session still buffers: true once all is sent (at
    /// once for plain sockets, which buffer nothing).
    pub fn try_flush(&mut self) -> io::Result<bool> {
        match self {
            Self::Plain(_) => Ok(true),
            Self::Tls(s) => match poll_now(|cx| Pin::new(s.as_mut()).poll_flush(cx)) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
                Err(e) => Err(e),
            },
        }
    }

    /// Waits until the socket may have data.
    pub async fn readable(&self) -> io::Result<()> {
        self.tcp().readable().await
    }

    /// Waits until the socket may take data.
    pub async fn writable(&self) -> io::Result<()> {
        self.tcp().writable().await
    }
}

/// Polls once without a waker to register: `Pending` becomes `WouldBlock`
/// (the caller then awaits the socket's readiness itself).
fn poll_now<T>(poll: impl FnOnce(&mut Context<'_>) -> Poll<io::Result<T>>) -> io::Result<T> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match poll(&mut cx) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
