//! The client side: configuration and the connector of TLS connections.

use std::fmt;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{ALPN_H2, ALPN_NATIVE, Identity, TlsError, TlsStream, TrustRoots, crypto_provider};

/// The TLS configuration of a gRPC client: the roots it trusts, an optional certificate of
/// its own (mutual TLS), an optional name to verify every server as, and ALPN `h2`.
///
/// ```no_run
/// # fn main() -> Result<(), ferry::tls::TlsError> {
/// use ferry::tls::{ClientTlsConfig, TrustRoots};
///
/// // The gRPC interop test CA issues its server certificate for *.test.google.fr.
/// let connector = ClientTlsConfig::new(TrustRoots::from_pem_file("ca.pem")?)
///     .server_name_override("foo.test.google.fr")
///     .connector()?;
/// # let _ = connector;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ClientTlsConfig {
    roots: TrustRoots,
    identity: Option<Identity>,
    server_name_override: Option<String>,
    /// In order of preference: `h2`, or `ferry/1` for the native protocol.
    alpn_protocols: Vec<Vec<u8>>,
}

impl ClientTlsConfig {
    /// A client trusting servers whose certificates `roots` issued, presenting no certificate.
    pub fn new(roots: TrustRoots) -> Self {
        Self {
            roots,
            identity: None,
            server_name_override: None,
            alpn_protocols: vec![ALPN_H2.to_vec()],
        }
    }

    /// Presents `identity` to servers that ask for a client certificate (mutual TLS).
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Offers the native protocol's ALPN identifier instead of `h2`.
    pub(crate) fn native(mut self) -> Self {
        self.alpn_protocols = vec![ALPN_NATIVE.to_vec()];
        self
    }

    /// Verifies every server as `name` (and sends it as SNI), whatever name
    /// [`TlsConnector::connect`] is given: for test CAs and for servers reached by an
    /// address their certificate does not name.
    pub fn server_name_override(mut self, name: impl Into<String>) -> Self {
        self.server_name_override = Some(name.into());
        self
    }

    /// Builds the rustls configuration, checking the client key and the override name.
    pub fn connector(&self) -> Result<TlsConnector, TlsError> {
        let builder = ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_root_certificates(self.roots.store.clone());
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(TlsError::Config)?,
        };
        config.alpn_protocols = self.alpn_protocols.clone();
        let server_name_override = self
            .server_name_override
            .as_deref()
            .map(server_name)
            .transpose()?;
        Ok(TlsConnector {
            inner: tokio_rustls::TlsConnector::from(Arc::new(config)),
            server_name_override,
        })
    }
}

/// Runs the client side of TLS handshakes. Cheap to clone; one serves every connection.
#[derive(Clone)]
pub struct TlsConnector {
    inner: tokio_rustls::TlsConnector,
    server_name_override: Option<ServerName<'static>>,
}

impl TlsConnector {
    /// Runs the handshake on a connected transport, verifying the server's certificate for
    /// `server_name` (a DNS name or an IP address, without port; an IPv6 address may be in
    /// brackets), or for the configured override. Succeeds only if the server selected ALPN
    /// `h2`.
    ///
    /// The connection attempt is not bounded here: put the dial and this call under one
    /// deadline.
    pub async fn connect<IO>(&self, server_name: &str, io: IO) -> Result<TlsStream<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name = match &self.server_name_override {
            Some(name) => name.clone(),
            None => self::server_name(server_name)?,
        };
        let stream = self
            .inner
            .connect(name, io)
            .await
            .map_err(TlsError::from_handshake)?;
        TlsStream::new(stream.into())
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("server_name_override", &self.server_name_override)
            .field(
                "client_certificate",
                &self.inner.config().client_auth_cert_resolver.has_certs(),
            )
            .finish_non_exhaustive()
    }
}

fn server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = name
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(name);
    ServerName::try_from(bare)
        .map(|parsed| parsed.to_owned())
        .map_err(|_| TlsError::InvalidServerName(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_are_dns_names_or_ip_addresses() {
        assert_eq!(
            server_name("foo.test.google.fr").expect("dns"),
            ServerName::try_from("foo.test.google.fr").expect("dns")
        );
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(server_name("[::1]"), Ok(ServerName::IpAddress(_))));
        assert!(matches!(server_name("::1"), Ok(ServerName::IpAddress(_))));
        for bad in ["", "exa mple.com", "host:443", "[::1]:443"] {
            match server_name(bad) {
                Err(TlsError::InvalidServerName(name)) => assert_eq!(name, bad),
                other => panic!("{bad:?}: expected InvalidServerName, got {other:?}"),
            }
        }
    }
}
