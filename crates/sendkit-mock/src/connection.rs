//! A served connection that a fault can end with a reset, or break with a TLS record the client cannot take.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How a connection is to end, as a fault set it: shared between the connection and the request handler.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ending(Arc<AtomicU8>);

impl Ending {
    const RESET: u8 = 1;
    const TLS_ALERT: u8 = 2;

    /// Close with an RST instead of an orderly FIN.
    pub(crate) fn reset(&self) {
        self.0.store(Self::RESET, Ordering::Relaxed);
    }

    /// From now on, write a plaintext fatal alert record in place of whatever the TLS layer writes (close_notify,
    /// the next frame), then close with an RST: the client's TLS layer fails on it.
    pub(crate) fn tls_alert(&self) {
        self.0.store(Self::TLS_ALERT, Ordering::Relaxed);
    }

    fn get(&self) -> u8 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A TLS 1.2-framed fatal `internal_error` alert, unencrypted: after the handshake, no client accepts it.
const PLAIN_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50];

/// A TCP stream whose [`Ending`] a fault can set.
pub(crate) struct Connection {
    stream: TcpStream,
    ending: Ending,
    alerted: bool,
}

impl Connection {
    pub(crate) fn new(stream: TcpStream) -> (Self, Ending) {
        let ending = Ending::default();
        (Self { stream, ending: ending.clone(), alerted: false }, ending)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.ending.get() == Ending::TLS_ALERT && !self.alerted {
            let _ = self.stream.try_write(&PLAIN_ALERT);
        }
        if self.ending.get() != 0 {
            // A zero linger makes the close send RST: what a crashed server or a middlebox looks like.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl Connection {
    /// Writes the alert once in place of the TLS layer's bytes, which are swallowed.
    fn poll_alert(&mut self, cx: &mut Context<'_>, swallowed: usize) -> Poll<io::Result<usize>> {
        if !self.alerted {
            match Pin::new(&mut self.stream).poll_write(cx, &PLAIN_ALERT) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                // A record this small goes out whole on a fresh send buffer.
                Poll::Ready(Ok(_)) => self.alerted = true,
            }
        }
        Poll::Ready(Ok(swallowed))
    }
}

impl AsyncRead for Connection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.ending.get() == Ending::TLS_ALERT {
            return this.poll_alert(cx, buf.len());
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.ending.get() == Ending::TLS_ALERT {
            return this.poll_alert(cx, bufs.iter().map(|buf| buf.len()).sum());
        }
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
