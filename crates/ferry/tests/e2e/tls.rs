//! TLS handshakes over loopback TCP: ALPN `h2`, server verification and name override, mutual
//! TLS, and the refusals, each with the exact error on each side.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ferry::tls::rustls::pki_types::pem::PemObject;
use ferry::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use ferry::tls::rustls::{
    self, AlertDescription, CertificateError, ClientConfig, ProtocolVersion, RootCertStore,
    ServerConfig,
};
use ferry::tls::{
    ALPN_H2, ClientTlsConfig, PeerIdentity, ServerTlsConfig, SubjectAltName, TlsAcceptor,
    TlsConnector, TlsError, TlsStream, TrustRoots,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::certs::{CLIENT_COMMON_NAME, CLIENT_DNS_NAME, CLIENT_URI, SERVER_NAMES, pki};

/// The bound on every test: handshakes on loopback take milliseconds.
const LIMIT: Duration = Duration::from_secs(10);

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("test did not finish within its time limit")
}

/// What the server side saw of a connection it accepted.
#[derive(Debug)]
struct Served {
    alpn: Vec<u8>,
    version: Option<ProtocolVersion>,
    peer: Option<PeerIdentity>,
}

/// Listens on loopback and handshakes with one client; on success, echoes what the client
/// writes until it shuts its side down.
async fn serve_one(acceptor: TlsAcceptor) -> (SocketAddr, JoinHandle<Result<Served, TlsError>>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let stream = acceptor.accept(tcp).await?;
        let served = Served {
            alpn: stream.alpn_protocol().to_vec(),
            version: stream.protocol_version(),
            peer: stream.peer_identity().cloned(),
        };
        echo(stream).await.unwrap();
        Ok(served)
    });
    (addr, task)
}

async fn echo<IO: AsyncRead + AsyncWrite + Unpin>(stream: TlsStream<IO>) -> io::Result<()> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    tokio::io::copy(&mut reader, &mut writer).await?;
    writer.shutdown().await
}

/// Sends bytes through an established connection and checks they come back.
async fn ping<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    let sent = b"ping over TLS".repeat(1000);
    stream.write_all(&sent).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed).await.unwrap();
    assert_eq!(echoed, sent);
}

fn acceptor() -> TlsAcceptor {
    ServerTlsConfig::new(pki().server_identity())
        .acceptor()
        .unwrap()
}

fn mtls_acceptor(optional: bool) -> TlsAcceptor {
    ServerTlsConfig::new(pki().server_identity())
        .client_ca_roots(pki().roots())
        .client_auth_optional(optional)
        .acceptor()
        .unwrap()
}

fn connector() -> TlsConnector {
    ClientTlsConfig::new(pki().roots()).connector().unwrap()
}

async fn dial(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
}

/// The rustls error an I/O error of an established TLS stream carries.
fn rustls_error(err: &io::Error) -> Option<&rustls::Error> {
    err.get_ref()?.downcast_ref()
}

/// Reads from a connection the server refused after the client finished its handshake (TLS
/// 1.3 clients finish first) and returns the alert that refused it.
async fn refusal_alert<S: AsyncRead + Unpin>(stream: &mut S) -> rustls::Error {
    let err = stream.read(&mut [0; 16]).await.unwrap_err();
    rustls_error(&err)
        .cloned()
        .unwrap_or_else(|| panic!("not a TLS error: {err:?}"))
}

fn raw_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(pki().ca_pem.as_bytes()) {
        roots.add(certificate.unwrap()).unwrap();
    }
    roots
}

/// A plain rustls client trusting the test CA, offering `alpn`.
fn raw_connector(alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(raw_roots())
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

#[tokio::test]
async fn handshake_selects_h2_and_bytes_echo() {
    bounded(async {
        let (addr, server) = serve_one(acceptor()).await;
        let mut tls = connector()
            .connect("localhost", dial(addr).await)
            .await
            .unwrap();
        assert_eq!(tls.alpn_protocol(), ALPN_H2);
        assert_eq!(tls.protocol_version(), Some(ProtocolVersion::TLSv1_3));
        assert_eq!(tls.get_ref().peer_addr().unwrap(), addr);

        let server_identity = tls.peer_identity().unwrap().clone();
        assert_eq!(
            server_identity.subject_common_name().as_deref(),
            Some("ferry test server")
        );
        assert_eq!(
            server_identity.subject_alt_names(),
            vec![
                SubjectAltName::Dns(SERVER_NAMES[0].to_owned()),
                SubjectAltName::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                SubjectAltName::Dns(SERVER_NAMES[2].to_owned()),
            ]
        );
        assert_eq!(server_identity.certificates().len(), 1);
        ping(&mut tls).await;

        let served = server.await.unwrap().unwrap();
        assert_eq!(served.alpn, b"h2");
        assert_eq!(served.version, Some(ProtocolVersion::TLSv1_3));
        assert_eq!(served.peer, None, "no client certificate was asked for");
    })
    .await;
}

#[tokio::test]
async fn a_tls12_client_offering_h2_is_served() {
    bounded(async {
        let (addr, server) = serve_one(acceptor()).await;
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(&[&rustls::version::TLS12])
                .unwrap()
                .with_root_certificates(raw_roots())
                .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let mut tls = connector
            .connect(localhost(), dial(addr).await)
            .await
            .unwrap();
        ping(&mut tls).await;

        let served = server.await.unwrap().unwrap();
        assert_eq!(served.alpn, b"h2");
        assert_eq!(served.version, Some(ProtocolVersion::TLSv1_2));
    })
    .await;
}

#[tokio::test]
async fn client_refuses_a_server_its_roots_did_not_issue() {
    bounded(async {
        let (addr, server) = serve_one(acceptor()).await;
        let connector = ClientTlsConfig::new(pki().untrusted_roots())
            .connector()
            .unwrap();
        let err = connector
            .connect("localhost", dial(addr).await)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::Handshake(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer
                ))
            ),
            "{err:?}"
        );
        let err = server.await.unwrap().unwrap_err();
        assert!(
            matches!(err, TlsError::RejectedByPeer(AlertDescription::UnknownCA)),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn client_refuses_a_certificate_not_valid_for_the_name() {
    bounded(async {
        let (addr, server) = serve_one(acceptor()).await;
        let err = connector()
            .connect("other.example", dial(addr).await)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::Handshake(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                ))
            ),
            "{err:?}"
        );
        let err = server.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::RejectedByPeer(AlertDescription::BadCertificate)
            ),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn server_name_override_replaces_the_dialled_name() {
    bounded(async {
        // Roots given as a rustls store, as a caller with its own sources would.
        let roots = TrustRoots::from(raw_roots());

        // Dial 127.0.0.1, verify as the interop name.
        let (addr, server) = serve_one(acceptor()).await;
        let connector = ClientTlsConfig::new(roots.clone())
            .server_name_override("foo.test.google.fr")
            .connector()
            .unwrap();
        let mut tls = connector
            .connect("127.0.0.1", dial(addr).await)
            .await
            .unwrap();
        assert_eq!(tls.alpn_protocol(), b"h2");
        ping(&mut tls).await;
        server.await.unwrap().unwrap();

        // The override wins even over a name the certificate holds.
        let (addr, server) = serve_one(acceptor()).await;
        let connector = ClientTlsConfig::new(roots)
            .server_name_override("bar.example")
            .connector()
            .unwrap();
        let err = connector
            .connect("localhost", dial(addr).await)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::Handshake(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                ))
            ),
            "{err:?}"
        );
        assert!(server.await.unwrap().is_err());
    })
    .await;
}

#[tokio::test]
async fn invalid_server_names_are_refused_before_any_byte_is_sent() {
    let err = ClientTlsConfig::new(pki().roots())
        .server_name_override("not a name")
        .connector()
        .unwrap_err();
    assert!(
        matches!(err, TlsError::InvalidServerName(ref name) if name == "not a name"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "invalid TLS server name \"not a name\": expected a DNS name or an IP address"
    );

    bounded(async {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let tcp = dial(listener.local_addr().unwrap()).await;
        let err = connector().connect("host:443", tcp).await.unwrap_err();
        assert!(matches!(err, TlsError::InvalidServerName(ref name) if name == "host:443"));
    })
    .await;
}

#[tokio::test]
async fn mutual_tls_accepts_a_trusted_client_and_reveals_its_identity() {
    bounded(async {
        let (addr, server) = serve_one(mtls_acceptor(false)).await;
        let connector = ClientTlsConfig::new(pki().roots())
            .identity(pki().client_identity())
            .connector()
            .unwrap();
        let mut tls = connector
            .connect("localhost", dial(addr).await)
            .await
            .unwrap();
        ping(&mut tls).await;

        let served = server.await.unwrap().unwrap();
        let client = served.peer.expect("the client's identity");
        assert_eq!(
            client.subject_common_name().as_deref(),
            Some(CLIENT_COMMON_NAME)
        );
        assert_eq!(
            client.subject_alt_names(),
            vec![
                SubjectAltName::Dns(CLIENT_DNS_NAME.to_owned()),
                SubjectAltName::Uri(CLIENT_URI.to_owned()),
            ]
        );
        let expected = CertificateDer::from_pem_slice(pki().client_cert_pem.as_bytes()).unwrap();
        assert_eq!(client.end_entity(), &expected);
        assert_eq!(client.certificates(), [expected]);
    })
    .await;
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_certificate() {
    bounded(async {
        let (addr, server) = serve_one(mtls_acceptor(false)).await;
        let mut tls = connector()
            .connect("localhost", dial(addr).await)
            .await
            .unwrap();
        assert_eq!(
            refusal_alert(&mut tls).await,
            rustls::Error::AlertReceived(AlertDescription::CertificateRequired)
        );
        let err = server.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::Handshake(rustls::Error::NoCertificatesPresented)
            ),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_certificate_from_another_ca() {
    bounded(async {
        let (addr, server) = serve_one(mtls_acceptor(false)).await;
        let connector = ClientTlsConfig::new(pki().roots())
            .identity(pki().untrusted_client_identity())
            .connector()
            .unwrap();
        let mut tls = connector
            .connect("localhost", dial(addr).await)
            .await
            .unwrap();
        assert_eq!(
            refusal_alert(&mut tls).await,
            rustls::Error::AlertReceived(AlertDescription::UnknownCA)
        );
        let err = server.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::Handshake(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer
                ))
            ),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn optional_client_auth_accepts_both_but_still_verifies_certificates() {
    bounded(async {
        let (addr, server) = serve_one(mtls_acceptor(true)).await;
        let mut tls = connector()
            .connect("localhost", dial(addr).await)
            .await
            .unwrap();
        ping(&mut tls).await;
        assert_eq!(server.await.unwrap().unwrap().peer, None);

        let (addr, server) = serve_one(mtls_acceptor(true)).await;
        let connector = ClientTlsConfig::new(pki().roots())
            .identity(pki().client_identity())
            .connector()
            .unwrap();
        let mut tls = connector
            .connect("localhost", dial(addr).await)
            .await
            .unwrap();
        ping(&mut tls).await;
        let peer = server
            .await
            .unwrap()
            .unwrap()
            .peer
            .expect("the client's identity");
        assert_eq!(
            peer.subject_common_name().as_deref(),
            Some(CLIENT_COMMON_NAME)
        );

        let (addr, server) = serve_one(mtls_acceptor(true)).await;
        let connector = ClientTlsConfig::new(pki().roots())
            .identity(pki().untrusted_client_identity())
            .connector()
            .unwrap();
        let mut tls = connector
            .connect("localhost", dial(addr).await)
            .await
            .unwrap();
        assert_eq!(
            refusal_alert(&mut tls).await,
            rustls::Error::AlertReceived(AlertDescription::UnknownCA)
        );
        let err = server.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::Handshake(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer
                ))
            ),
            "{err:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn server_refuses_a_client_offering_only_http1() {
    bounded(async {
        let (addr, server) = serve_one(acceptor()).await;
        let err = raw_connector(&[b"http/1.1"])
            .connect(localhost(), dial(addr).await)
            .await
            .unwrap_err();
        assert_eq!(
            rustls_error(&err),
            Some(&rustls::Error::AlertReceived(
                AlertDescription::NoApplicationProtocol
            ))
        );
        let err = server.await.unwrap().unwrap_err();
        assert!(matches!(err, TlsError::NoApplicationProtocol), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn server_refuses_a_client_without_alpn() {
    bounded(async {
        let (addr, server) = serve_one(acceptor()).await;
        let mut tls = raw_connector(&[])
            .connect(localhost(), dial(addr).await)
            .await
            .unwrap();
        let err = server.await.unwrap().unwrap_err();
        assert!(matches!(err, TlsError::NoApplicationProtocol), "{err:?}");
        // The server closed the connection without a word.
        let err = tls.read(&mut [0; 16]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    })
    .await;
}

#[tokio::test]
async fn client_refuses_a_server_that_selects_no_alpn() {
    bounded(async {
        let chain = CertificateDer::pem_slice_iter(pki().server_cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(pki().server_key_pem.as_bytes()).unwrap();
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
        let raw_acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = raw_acceptor.accept(tcp).await.unwrap();
            tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
        });
        let err = connector()
            .connect("localhost", dial(addr).await)
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::NoApplicationProtocol), "{err:?}");
        assert_eq!(server.await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_silent_client_runs_into_the_handshake_timeout() {
    bounded(async {
        let acceptor = ServerTlsConfig::new(pki().server_identity())
            .handshake_timeout(Duration::from_millis(200))
            .acceptor()
            .unwrap();
        let (addr, server) = serve_one(acceptor).await;
        let mut silent = dial(addr).await;
        let err = server.await.unwrap().unwrap_err();
        assert!(
            matches!(err, TlsError::HandshakeTimeout(limit) if limit == Duration::from_millis(200)),
            "{err:?}"
        );
        // The server dropped the connection.
        assert_eq!(silent.read(&mut [0; 16]).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn a_key_that_does_not_match_the_certificate_is_refused() {
    let mismatched =
        ferry::tls::Identity::from_pem(&pki().server_cert_pem, &pki().client_key_pem).unwrap();
    let err = ServerTlsConfig::new(mismatched.clone())
        .acceptor()
        .unwrap_err();
    assert!(matches!(err, TlsError::Config(_)), "{err:?}");
    let err = ClientTlsConfig::new(pki().roots())
        .identity(mismatched)
        .connector()
        .unwrap_err();
    assert!(matches!(err, TlsError::Config(_)), "{err:?}");
}
