//! An established TLS connection.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{PeerIdentity, TlsError};

/// A TLS connection whose handshake finished and whose ALPN protocol was agreed on, over the
/// transport `IO` (usually a `TcpStream`). Reads and writes carry application data.
pub struct TlsStream<IO> {
    inner: tokio_rustls::TlsStream<IO>,
    peer: Option<PeerIdentity>,
}

impl<IO> TlsStream<IO> {
    /// Wraps a finished handshake, refusing it if ALPN selected no protocol: rustls already
    /// refuses a peer that offers only protocols we do not speak, but lets one that offers
    /// none through.
    pub(super) fn new(inner: tokio_rustls::TlsStream<IO>) -> Result<Self, TlsError> {
        let (_, state) = inner.get_ref();
        if state.alpn_protocol().is_none() {
            return Err(TlsError::NoApplicationProtocol);
        }
        let peer = state.peer_certificates().and_then(PeerIdentity::from_chain);
        Ok(Self { inner, peer })
    }

    /// The protocol ALPN selected: one of the configured ones, [`ALPN_H2`](super::ALPN_H2)
    /// unless others were added.
    pub fn alpn_protocol(&self) -> &[u8] {
        // `new` refused connections without one.
        self.inner.get_ref().1.alpn_protocol().unwrap_or_default()
    }

    /// The peer's verified certificate chain: always there on a client (the server's); on a
    /// server, the client's if it presented one (mutual TLS).
    pub fn peer_identity(&self) -> Option<&PeerIdentity> {
        self.peer.as_ref()
    }

    /// The TLS version in use (TLS 1.2 or 1.3).
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.inner.get_ref().1.protocol_version()
    }

    /// The transport under TLS, for example to ask a `TcpStream` for its addresses. Reading
    /// or writing it directly would corrupt the TLS stream.
    pub fn get_ref(&self) -> &IO {
        self.inner.get_ref().0
    }
}

impl<IO> fmt::Debug for TlsStream<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field(
                "alpn_protocol",
                &String::from_utf8_lossy(self.alpn_protocol()),
            )
            .field("protocol_version", &self.protocol_version())
            .field("peer_identity", &self.peer)
            .finish_non_exhaustive()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    /// Sends TLS close_notify, then shuts the transport's write side down.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
