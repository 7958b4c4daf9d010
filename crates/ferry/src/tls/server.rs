//! The server side: configuration and the acceptor of TLS connections.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{ALPN_H2, ALPN_NATIVE, Identity, TlsError, TlsStream, TrustRoots, crypto_provider};

/// How long a client has to finish the TLS handshake: grpc-go's default server connection
/// timeout (`grpc.ConnectionTimeout`), 120 seconds.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(120);

/// The TLS configuration of a gRPC server: its certificate and key, which clients it asks for
/// a certificate, and the ALPN protocols it speaks (`h2`).
///
/// ```no_run
/// # fn main() -> Result<(), ferry::tls::TlsError> {
/// use ferry::tls::{Identity, ServerTlsConfig, TrustRoots};
///
/// let identity = Identity::from_pem_files("server.pem", "server.key")?;
/// let acceptor = ServerTlsConfig::new(identity)
///     .client_ca_roots(TrustRoots::from_pem_file("client-ca.pem")?)
///     .acceptor()?;
/// # let _ = acceptor;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ServerTlsConfig {
    identity: Identity,
    client_roots: Option<TrustRoots>,
    client_auth_optional: bool,
    /// In order of preference: `h2`, then the native protocol's `ferry/1`.
    alpn_protocols: Vec<Vec<u8>>,
    handshake_timeout: Duration,
}

impl ServerTlsConfig {
    /// A server presenting `identity`, asking clients for no certificate,
    /// speaking `h2` (gRPC) and `ferry/1` (the native protocol).
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            client_roots: None,
            client_auth_optional: false,
            alpn_protocols: vec![ALPN_H2.to_vec(), ALPN_NATIVE.to_vec()],
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Requires every client to present a certificate issued by `roots` (mutual TLS). Clients
    /// without one, or with one these roots did not issue, are refused during the handshake.
    pub fn client_ca_roots(mut self, roots: TrustRoots) -> Self {
        self.client_roots = Some(roots);
        self
    }

    /// With `true`, clients that present no certificate are accepted too (their
    /// [`TlsStream::peer_identity`] is `None`); a certificate that is presented must still be
    /// issued by the [`client_ca_roots`](Self::client_ca_roots). No effect without those roots.
    pub fn client_auth_optional(mut self, optional: bool) -> Self {
        self.client_auth_optional = optional;
        self
    }

    /// How long a client has to finish the handshake before [`TlsAcceptor::accept`] gives up
    /// with [`TlsError::HandshakeTimeout`]. 120 seconds unless set.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Builds the rustls configuration, checking that the key matches the certificate.
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        let provider = crypto_provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?;
        let builder = match &self.client_roots {
            None => builder.with_no_client_auth(),
            Some(roots) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(roots.store.clone(), provider);
                let verifier = if self.client_auth_optional {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder
                    .with_client_cert_verifier(verifier.build().map_err(TlsError::ClientVerifier)?)
            }
        };
        let mut config = builder
            .with_single_cert(self.identity.chain.clone(), self.identity.key.clone_key())
            .map_err(TlsError::Config)?;
        config.alpn_protocols = self.alpn_protocols.clone();
        Ok(TlsAcceptor {
            inner: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            handshake_timeout: self.handshake_timeout,
            client_auth: match (&self.client_roots, self.client_auth_optional) {
                (None, _) => "none",
                (Some(_), true) => "optional",
                (Some(_), false) => "required",
            },
        })
    }
}

/// Runs the server side of TLS handshakes. Cheap to clone; one serves every connection.
#[derive(Clone)]
pub struct TlsAcceptor {
    inner: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
    /// For `Debug` only.
    client_auth: &'static str,
}

impl TlsAcceptor {
    /// Runs the handshake on an accepted transport. Succeeds only if ALPN selected one of
    /// our protocols (see [`TlsStream::alpn_protocol`]) and, with client authentication, the
    /// client's certificate was verified.
    ///
    /// On failure the transport is dropped (closed); when rustls refused the peer, the peer
    /// was first sent a fatal alert saying why.
    pub async fn accept<IO>(&self, io: IO) -> Result<TlsStream<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let handshake = self.inner.accept(io);
        let stream = tokio::time::timeout(self.handshake_timeout, handshake)
            .await
            .map_err(|_| TlsError::HandshakeTimeout(self.handshake_timeout))?
            .map_err(TlsError::from_handshake)?;
        TlsStream::new(stream.into())
    }
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alpn: Vec<_> = self
            .inner
            .config()
            .alpn_protocols
            .iter()
            .map(|protocol| String::from_utf8_lossy(protocol))
            .collect();
        f.debug_struct("TlsAcceptor")
            .field("alpn_protocols", &alpn)
            .field("client_auth", &self.client_auth)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}
