//! The one error type of the TLS layer.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use rustls::AlertDescription;
use rustls::pki_types::pem;
use rustls::server::VerifierBuilderError;

/// Why a TLS configuration could not be built or a TLS handshake did not complete.
///
/// Configuration errors (the first group of variants) are the local user's: a file, a PEM
/// text or a key that is not usable. Handshake errors concern one connection only, and each
/// variant says who ended it: we refused the peer ([`Handshake`](Self::Handshake),
/// [`NoApplicationProtocol`](Self::NoApplicationProtocol),
/// [`HandshakeTimeout`](Self::HandshakeTimeout)), the peer refused us
/// ([`RejectedByPeer`](Self::RejectedByPeer)), or the transport failed ([`Io`](Self::Io)).
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A file given in the configuration could not be read.
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: io::Error,
    },
    /// PEM text is malformed (bad base64, a section without its END line, ...).
    Pem {
        /// What the PEM text was meant to hold: "certificate chain", "private key" or
        /// "trust roots".
        what: &'static str,
        /// The parser's complaint.
        source: pem::Error,
    },
    /// PEM text holds no `CERTIFICATE` section.
    NoCertificates {
        /// What the PEM text was meant to hold: "certificate chain" or "trust roots".
        what: &'static str,
    },
    /// PEM text holds no private key (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`).
    NoPrivateKey,
    /// The name to verify the server as is neither a DNS name nor an IP address.
    InvalidServerName(String),
    /// rustls refused a certificate, a key or the configuration: a root certificate that does
    /// not parse, a private key that does not match the certificate or has an unsupported
    /// type.
    Config(rustls::Error),
    /// The verifier of client certificates could not be built (for example from an empty set
    /// of roots).
    ClientVerifier(VerifierBuilderError),
    /// We aborted the handshake: the peer's certificate is not trusted or not valid for the
    /// expected name, a client certificate is required but none was sent, or the peer's
    /// messages broke the protocol. The peer was sent a fatal alert.
    Handshake(rustls::Error),
    /// The peer aborted the handshake with this fatal alert: typically `UnknownCA` or
    /// `BadCertificate` when it does not trust our certificate, `CertificateRequired` when it
    /// wants a client certificate, `NoApplicationProtocol` when it does not speak `h2`.
    RejectedByPeer(AlertDescription),
    /// The peers did not agree on an application protocol by ALPN: the peer offered no
    /// protocol we speak (gRPC needs `h2`), or did not use ALPN at all.
    NoApplicationProtocol,
    /// The handshake did not finish within the configured time.
    HandshakeTimeout(Duration),
    /// The transport failed during the handshake (connection reset, closed early, ...).
    Io(io::Error),
}

impl TlsError {
    /// Classifies an error that rustls or the transport raised during a handshake:
    /// tokio-rustls carries rustls's errors inside `io::Error`.
    pub(crate) fn from_handshake(err: io::Error) -> Self {
        match err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls) => Self::from_rustls_handshake(tls.clone()),
            None => Self::Io(err),
        }
    }

    fn from_rustls_handshake(err: rustls::Error) -> Self {
        match err {
            rustls::Error::AlertReceived(alert) => Self::RejectedByPeer(alert),
            rustls::Error::NoApplicationProtocol => Self::NoApplicationProtocol,
            other => Self::Handshake(other),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReadFile { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            Self::Pem { what, source } => write!(f, "malformed PEM in the {what}: {source}"),
            Self::NoCertificates { what } => {
                write!(f, "the PEM {what} holds no CERTIFICATE section")
            }
            Self::NoPrivateKey => f.write_str(
                "no private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) in the PEM text",
            ),
            Self::InvalidServerName(name) => write!(
                f,
                "invalid TLS server name {name:?}: expected a DNS name or an IP address"
            ),
            Self::Config(err) => write!(f, "rustls refused the TLS configuration: {err}"),
            Self::ClientVerifier(err) => {
                write!(f, "cannot build the client certificate verifier: {err}")
            }
            Self::Handshake(err) => write!(f, "TLS handshake aborted by us: {err}"),
            Self::RejectedByPeer(alert) => {
                write!(f, "TLS handshake aborted by the peer with alert {alert:?}")
            }
            Self::NoApplicationProtocol => {
                f.write_str("TLS handshake failed: ALPN did not select \"h2\", which gRPC requires")
            }
            Self::HandshakeTimeout(limit) => {
                write!(f, "TLS handshake did not finish within {limit:?}")
            }
            Self::Io(err) => write!(f, "I/O error during the TLS handshake: {err}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ReadFile { source, .. } => Some(source),
            Self::Pem { source, .. } => Some(source),
            Self::Config(err) | Self::Handshake(err) => Some(err),
            Self::ClientVerifier(err) => Some(err),
            Self::Io(err) => Some(err),
            Self::NoCertificates { .. }
            | Self::NoPrivateKey
            | Self::InvalidServerName(_)
            | Self::RejectedByPeer(_)
            | Self::NoApplicationProtocol
            | Self::HandshakeTimeout(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_errors_inside_io_errors_are_classified_by_who_refused() {
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(AlertDescription::UnknownCA),
        );
        assert!(matches!(
            TlsError::from_handshake(alert),
            TlsError::RejectedByPeer(AlertDescription::UnknownCA)
        ));

        let no_alpn = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::NoApplicationProtocol,
        );
        assert!(matches!(
            TlsError::from_handshake(no_alpn),
            TlsError::NoApplicationProtocol
        ));

        let local = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::NoCertificatesPresented,
        );
        assert!(matches!(
            TlsError::from_handshake(local),
            TlsError::Handshake(rustls::Error::NoCertificatesPresented)
        ));

        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        match TlsError::from_handshake(reset) {
            TlsError::Io(err) => assert_eq!(err.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[test]
    fn messages_say_what_failed_and_who_refused() {
        assert_eq!(
            TlsError::RejectedByPeer(AlertDescription::UnknownCA).to_string(),
            "TLS handshake aborted by the peer with alert UnknownCA"
        );
        assert_eq!(
            TlsError::Handshake(rustls::Error::NoCertificatesPresented).to_string(),
            "TLS handshake aborted by us: peer sent no certificates"
        );
        assert_eq!(
            TlsError::NoApplicationProtocol.to_string(),
            "TLS handshake failed: ALPN did not select \"h2\", which gRPC requires"
        );
        assert_eq!(
            TlsError::HandshakeTimeout(Duration::from_secs(120)).to_string(),
            "TLS handshake did not finish within 120s"
        );
        assert_eq!(
            TlsError::NoCertificates {
                what: "trust roots"
            }
            .to_string(),
            "the PEM trust roots holds no CERTIFICATE section"
        );
    }
}
