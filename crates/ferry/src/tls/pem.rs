//! Certificates and keys read from PEM: our own identity, and the roots we trust.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// A certificate chain and its private key: what a server presents, or a client presents
/// for mutual TLS.
///
/// The PEM text is parsed when the identity is made, so a bad file fails here; whether the key
/// matches the certificate is checked when the configuration is built.
pub struct Identity {
    pub(super) chain: Vec<CertificateDer<'static>>,
    pub(super) key: PrivateKeyDer<'static>,
}

impl Identity {
    /// An identity from PEM text: `cert_chain` holds one or more `CERTIFICATE` sections, the
    /// end-entity certificate first; `key` holds its private key (`PRIVATE KEY` (PKCS#8),
    /// `RSA PRIVATE KEY` or `EC PRIVATE KEY`). Sections of other kinds are ignored, so both
    /// may be the same text.
    pub fn from_pem(cert_chain: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> Result<Self, TlsError> {
        Ok(Self {
            chain: certificates_from_pem(cert_chain.as_ref(), "certificate chain")?,
            key: private_key_from_pem(key.as_ref())?,
        })
    }

    /// An identity from two PEM files, as [`from_pem`](Self::from_pem).
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        Self::from_pem(read(cert_chain.as_ref())?, read(key.as_ref())?)
    }
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of logs.
        f.debug_struct("Identity")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// The certificate authorities trusted to issue the peer's certificate: a server's for a
/// client, or the client certificates' ones for a server.
///
/// Ferry bundles no public roots; give the CA that issued your peers' certificates, or build
/// a [`RootCertStore`] from any source and convert it.
#[derive(Clone, Debug)]
pub struct TrustRoots {
    pub(super) store: Arc<RootCertStore>,
}

impl TrustRoots {
    /// Roots from PEM text holding one or more `CERTIFICATE` sections.
    pub fn from_pem(pem: impl AsRef<[u8]>) -> Result<Self, TlsError> {
        let mut store = RootCertStore::empty();
        for certificate in certificates_from_pem(pem.as_ref(), "trust roots")? {
            store.add(certificate).map_err(TlsError::Config)?;
        }
        Ok(Self {
            store: Arc::new(store),
        })
    }

    /// Roots from a PEM file, as [`from_pem`](Self::from_pem).
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, TlsError> {
        Self::from_pem(read(path.as_ref())?)
    }
}

impl From<RootCertStore> for TrustRoots {
    fn from(store: RootCertStore) -> Self {
        Self {
            store: Arc::new(store),
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::ReadFile {
        path: path.to_owned(),
        source,
    })
}

fn certificates_from_pem(
    text: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { what, source })?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificates { what });
    }
    Ok(certificates)
}

fn private_key_from_pem(text: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(text).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey,
        source => TlsError::Pem {
            what: "private key",
            source,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["pem.test".to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn identity_parses_a_chain_and_a_key_even_from_one_text() {
        let (cert, key) = self_signed();
        let identity = Identity::from_pem(&cert, &key).expect("identity");
        assert_eq!(identity.chain.len(), 1);

        let both = format!("{cert}{key}");
        let identity = Identity::from_pem(&both, &both).expect("identity from one text");
        assert_eq!(identity.chain.len(), 1);
        assert_eq!(format!("{identity:?}"), "Identity { certificates: 1, .. }");
    }

    #[test]
    fn missing_sections_are_reported_by_kind() {
        let (cert, key) = self_signed();
        assert!(matches!(
            Identity::from_pem(&key, &key),
            Err(TlsError::NoCertificates {
                what: "certificate chain"
            })
        ));
        assert!(matches!(
            Identity::from_pem(&cert, &cert),
            Err(TlsError::NoPrivateKey)
        ));
        assert!(matches!(
            TrustRoots::from_pem("not pem at all"),
            Err(TlsError::NoCertificates {
                what: "trust roots"
            })
        ));
    }

    #[test]
    fn malformed_pem_is_reported_with_what_it_was_for() {
        let (cert, key) = self_signed();
        let truncated = &cert[..cert.len() - 30];
        assert!(matches!(
            Identity::from_pem(truncated, &key),
            Err(TlsError::Pem {
                what: "certificate chain",
                source: pem::Error::MissingSectionEnd { .. }
            })
        ));
        let bad_base64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            TrustRoots::from_pem(bad_base64),
            Err(TlsError::Pem {
                what: "trust roots",
                source: pem::Error::Base64Decode(_)
            })
        ));
    }

    #[test]
    fn a_root_that_is_not_a_certificate_is_refused() {
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            TrustRoots::from_pem(garbage),
            Err(TlsError::Config(_))
        ));
    }

    #[test]
    fn unreadable_files_name_the_file() {
        let missing = Path::new("/nonexistent/ferry-tls-test.pem");
        match TrustRoots::from_pem_file(missing) {
            Err(TlsError::ReadFile { path, source }) => {
                assert_eq!(path, missing);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected ReadFile, got {other:?}"),
        }
    }
}
