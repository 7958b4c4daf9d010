//! One port, several protocols: the first bytes of a connection say which
//! one it speaks.
//!
//! | first bytes | protocol |
//! |---|---|
//! | `0xFE 0x52` | Ferry native protocol (`docs/native-protocol.md`) |
//! | an HTTP/1.x method (`GET `, `POST `, ...) | HTTP/1.1: answered with 505 and closed |
//! | anything else (`PRI * HTTP/2.0` ...) | HTTP/2: the gRPC driver, which closes a bad preface with GOAWAY |
//!
//! TLS is decided before this: a server with TLS configured accepts only
//! TLS, and sniffs the decrypted bytes. A connection that says too little
//! within the handshake timeout is handed to HTTP/2, whose handshake timer
//! (running since accept) closes it with a GOAWAY saying why.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Bytes needed to tell an HTTP/1.x request line from the others.
const HTTP1_PROBE: usize = 8;

/// What a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http2,
    Native,
    Http1,
}

/// Reads until the protocol is known and hands back the connection with
/// those bytes still to be read. `None`: the peer sent too little within
/// `timeout` to tell (the caller treats it as HTTP/2, whose handshake timer
/// then closes it with a GOAWAY that says why). An error: the peer closed
/// or the read failed.
pub(crate) async fn sniff<IO>(
    io: IO,
    timeout: Duration,
) -> io::Result<(Option<Protocol>, Prefixed<IO>)>
where
    IO: AsyncRead + AsyncWrite,
{
    let mut io = Box::pin(io);
    let mut buf = BytesMut::with_capacity(64);
    let read = async {
        loop {
            if let Some(protocol) = decide(&buf) {
                return Ok(protocol);
            }
            if io.read_buf(&mut buf).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed before saying its protocol",
                ));
            }
        }
    };
    let protocol = match tokio::time::timeout(timeout, read).await {
        Ok(result) => Some(result?),
        Err(_) => None,
    };
    Ok((protocol, Prefixed { prefix: buf, io }))
}

/// The protocol of a connection that began with `bytes`, once they say.
fn decide(bytes: &[u8]) -> Option<Protocol> {
    if bytes.len() < 2 {
        return None;
    }
    if bytes[..2] == ferry_wire::native::MAGIC {
        return Some(Protocol::Native);
    }
    if !bytes[0].is_ascii_uppercase() || bytes.starts_with(b"PR") {
        return Some(Protocol::Http2);
    }
    // An upper-case start: an HTTP/1.x method, unless the request line
    // turns out otherwise.
    let probe = &bytes[..bytes.len().min(HTTP1_PROBE)];
    let method_len = probe.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if method_len < probe.len() {
        return Some(if probe[method_len] == b' ' {
            Protocol::Http1
        } else {
            Protocol::Http2
        });
    }
    (bytes.len() >= HTTP1_PROBE).then_some(Protocol::Http2)
}

/// Answers an HTTP/1.x request on a port that serves HTTP/2 and the native
/// protocol, then closes.
pub(crate) async fn refuse_http1<IO: AsyncWrite + Unpin>(mut io: IO) {
    let body = "This port serves gRPC over HTTP/2 and the Ferry native protocol; \
                HTTP/1.1 is not supported here.\n";
    let response = format!(
        "HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        io.write_all(response.as_bytes()).await?;
        io.shutdown().await
    })
    .await;
}

/// A connection with bytes already read put back in front.
pub(crate) struct Prefixed<IO> {
    prefix: BytesMut,
    io: Pin<Box<IO>>,
}

impl<IO> Prefixed<IO> {
    /// Takes the bytes read ahead, for a driver that wants them directly.
    pub(crate) fn take_prefix(&mut self) -> BytesMut {
        std::mem::take(&mut self.prefix)
    }
}

impl<IO: AsyncRead> AsyncRead for Prefixed<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        this.io.as_mut().poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite> AsyncWrite for Prefixed<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io.as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io.as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().io.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().io.as_mut().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_decide() {
        assert_eq!(decide(b""), None);
        assert_eq!(decide(b"P"), None);
        assert_eq!(decide(b"PRI * HTTP/2.0\r\n"), Some(Protocol::Http2));
        assert_eq!(decide(&[0xFE, 0x52, 1]), Some(Protocol::Native));
        assert_eq!(decide(&[0x16, 0x03]), Some(Protocol::Http2));
        assert_eq!(decide(b"GE"), None);
        assert_eq!(decide(b"GET / HTTP/1.1"), Some(Protocol::Http1));
        assert_eq!(decide(b"POST /x"), Some(Protocol::Http1));
        assert_eq!(decide(b"OPTIONS "), Some(Protocol::Http1));
        assert_eq!(decide(b"ABCDEFGH"), Some(Protocol::Http2));
        assert_eq!(decide(b"Get /"), Some(Protocol::Http2));
    }
}
