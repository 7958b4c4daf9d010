//! TLS for gRPC servers and clients, with rustls.
//!
//! ```text
//!  PEM bytes / files                        rustls (ring provider)
//!  ─────────────────                        ──────────────────────
//!  Identity::from_pem ─┐
//!  TrustRoots::from_pem ┼─> ServerTlsConfig ──acceptor()──> TlsAcceptor ──accept(io)──┐
//!                       └─> ClientTlsConfig ──connector()─> TlsConnector ─connect(io)──┤
//!                                                                                      v
//!                                 TlsStream<IO>: AsyncRead + AsyncWrite, ALPN "h2" checked,
//!                                 peer_identity() = the peer's verified certificate chain
//! ```
//!
//! A configuration is a plain value: certificates and keys are parsed when they are given
//! ([`Identity::from_pem`], [`TrustRoots::from_pem`]), so a bad file fails where it is named,
//! and the rustls configuration is built once by [`ServerTlsConfig::acceptor`] or
//! [`ClientTlsConfig::connector`]. The acceptor and connector are cheap to clone (an `Arc`
//! inside) and are shared by every connection.
//!
//! # Decisions
//!
//! - **The crypto provider is chosen here**, not taken from a process-wide default: every
//!   configuration is built with `rustls::crypto::ring::default_provider()` and rustls's safe
//!   default protocol versions (TLS 1.2 and 1.3). A program that installs another default
//!   provider, or none, gets the same behaviour from Ferry.
//! - **ALPN must select `h2`, on both sides.** gRPC runs on HTTP/2, and TLS peers agree on it
//!   by ALPN (RFC 9113 §3.2). grpc-go rejects TLS connections without ALPN `h2` in both its
//!   client and server handshakes, and gRPC core (grpcio) clients fail with "missing selected
//!   ALPN property"; every real gRPC peer offers `h2`. So a peer that offers ALPN without `h2`
//!   is refused by rustls during the handshake, and a peer that sends no ALPN at all is refused
//!   by us right after it ([`TlsError::NoApplicationProtocol`]): accepting it would mean
//!   guessing the protocol. The server offers `h2` and the native protocol's `ferry/1`
//!   ([`ALPN_NATIVE`]); [`TlsStream::alpn_protocol`] tells which one was chosen, and the
//!   decrypted bytes are sniffed like a plaintext connection's.
//! - **Client certificates** are off by default. [`ServerTlsConfig::client_ca_roots`] makes
//!   them mandatory: a client without a certificate, or with one not issued by those roots, is
//!   refused during the handshake. [`ServerTlsConfig::client_auth_optional`] accepts clients
//!   without a certificate but still verifies the ones that are presented.
//! - **A server handshake has a deadline** ([`ServerTlsConfig::handshake_timeout`]), so a peer
//!   that opens a TCP connection and stays silent cannot hold a task forever. A client
//!   bounds its own connection attempt (the dial deadline covers the handshake).
//! - **Errors say who refused.** A handshake that we abort (the peer's certificate is not
//!   trusted, its messages are invalid) is [`TlsError::Handshake`] with the rustls error; a
//!   handshake the peer aborts (it sent a fatal alert) is [`TlsError::RejectedByPeer`].

mod client;
mod error;
mod peer;
mod pem;
mod server;
mod stream;

pub use client::{ClientTlsConfig, TlsConnector};
pub use error::TlsError;
pub use peer::{PeerIdentity, SubjectAltName};
pub use pem::{Identity, TrustRoots};
pub use server::{ServerTlsConfig, TlsAcceptor};
pub use stream::TlsStream;

/// The rustls version Ferry's TLS types are built on, for callers that need its types
/// ([`rustls::RootCertStore`], [`rustls::Error`], [`rustls::pki_types::CertificateDer`]).
pub use rustls;

/// The ALPN protocol identifier of HTTP/2 over TLS (RFC 9113 §3.2), the one gRPC requires.
pub const ALPN_H2: &[u8] = b"h2";

/// The ALPN identifier of Ferry's native protocol over TLS.
pub const ALPN_NATIVE: &[u8] = b"ferry/1";

use std::sync::Arc;

/// The crypto provider of every configuration built here: ring, chosen explicitly so that no
/// process-wide default has to be installed.
fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
