//! A test PKI made with rcgen, once per test binary: a CA, a server certificate it issued, a
//! client certificate it issued, and a second CA, trusted by nobody, with its own client.

use std::sync::OnceLock;

use ferry::tls::{Identity, TrustRoots};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

/// The names in the server certificate: what a local test dials, and the name the gRPC
/// interop tests verify their server as.
pub(crate) const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "foo.test.google.fr"];
/// The subject common name of the trusted client certificate.
pub(crate) const CLIENT_COMMON_NAME: &str = "ferry test client";
/// The names in the trusted client certificate.
pub(crate) const CLIENT_DNS_NAME: &str = "client.ferry.test";
/// The SPIFFE ID in the trusted client certificate.
pub(crate) const CLIENT_URI: &str = "spiffe://ferry.test/client";

/// PEM texts of the test PKI.
#[derive(Debug)]
pub(crate) struct TestPki {
    pub(crate) ca_pem: String,
    pub(crate) server_cert_pem: String,
    pub(crate) server_key_pem: String,
    pub(crate) client_cert_pem: String,
    pub(crate) client_key_pem: String,
    pub(crate) untrusted_ca_pem: String,
    pub(crate) untrusted_client_cert_pem: String,
    pub(crate) untrusted_client_key_pem: String,
}

impl TestPki {
    /// The roots that issued the server and the trusted client.
    pub(crate) fn roots(&self) -> TrustRoots {
        TrustRoots::from_pem(&self.ca_pem).unwrap()
    }

    /// Roots that issued neither.
    pub(crate) fn untrusted_roots(&self) -> TrustRoots {
        TrustRoots::from_pem(&self.untrusted_ca_pem).unwrap()
    }

    pub(crate) fn server_identity(&self) -> Identity {
        Identity::from_pem(&self.server_cert_pem, &self.server_key_pem).unwrap()
    }

    pub(crate) fn client_identity(&self) -> Identity {
        Identity::from_pem(&self.client_cert_pem, &self.client_key_pem).unwrap()
    }

    /// A client certificate the untrusted CA issued.
    pub(crate) fn untrusted_client_identity(&self) -> Identity {
        Identity::from_pem(
            &self.untrusted_client_cert_pem,
            &self.untrusted_client_key_pem,
        )
        .unwrap()
    }
}

/// The test PKI, generated on first use.
pub(crate) fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(generate)
}

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

fn new_ca(common_name: &str) -> Ca {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca { cert, key }
}

/// A leaf certificate issued by `ca`, with its key in PEM.
fn leaf(
    ca: &Ca,
    common_name: &str,
    names: Vec<SanType>,
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.subject_alt_names = names;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "Ferry tests");
    name.push(DnType::CommonName, common_name);
    name
}

fn san(name: &str) -> SanType {
    match name.parse() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(name.try_into().unwrap()),
    }
}

fn generate() -> TestPki {
    let ca = new_ca("ferry test CA");
    let (server_cert_pem, server_key_pem) = leaf(
        &ca,
        "ferry test server",
        SERVER_NAMES.iter().map(|name| san(name)).collect(),
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert_pem, client_key_pem) = leaf(
        &ca,
        CLIENT_COMMON_NAME,
        vec![
            san(CLIENT_DNS_NAME),
            SanType::URI(CLIENT_URI.try_into().unwrap()),
        ],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    let untrusted = new_ca("ferry untrusted CA");
    let (untrusted_client_cert_pem, untrusted_client_key_pem) = leaf(
        &untrusted,
        "ferry untrusted client",
        vec![san(CLIENT_DNS_NAME)],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    TestPki {
        ca_pem: ca.cert.pem(),
        server_cert_pem,
        server_key_pem,
        client_cert_pem,
        client_key_pem,
        untrusted_ca_pem: untrusted.cert.pem(),
        untrusted_client_cert_pem,
        untrusted_client_key_pem,
    }
}
