//! Who the peer is: its certificate chain, as verified during the handshake, and the names in
//! it.
//!
//! rustls verifies the chain; this module only reads names out of the end-entity certificate
//! for the application (an mTLS client's SPIFFE ID, a DNS name, the subject's common name). It
//! walks the few DER structures on the way to them (RFC 5280 §4.1) and nothing else; input it
//! does not understand yields no names, never a panic.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;

/// The certificate chain a peer presented and that the handshake verified: the server's, seen
/// by a client, or the client's in mutual TLS, seen by a server.
///
/// Cheap to clone (the chain is shared), so it can travel with every request of a connection.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// Never empty: the end-entity certificate, then the intermediates the peer sent.
    chain: Arc<[CertificateDer<'static>]>,
}

impl PeerIdentity {
    /// `None` when the peer presented no certificate.
    pub(super) fn from_chain(chain: &[CertificateDer<'static>]) -> Option<Self> {
        (!chain.is_empty()).then(|| Self {
            chain: chain.into(),
        })
    }

    /// The peer's own (end-entity) certificate, in DER.
    pub fn end_entity(&self) -> &CertificateDer<'static> {
        // `from_chain` refuses empty chains.
        &self.chain[0]
    }

    /// The whole chain as the peer sent it, end-entity certificate first, in DER.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The names of the subjectAltName extension of the end-entity certificate (the names the
    /// certificate was verified against), in certificate order. Kinds other than DNS, URI, IP
    /// and e-mail are skipped.
    pub fn subject_alt_names(&self) -> Vec<SubjectAltName> {
        tbs_certificate(self.end_entity())
            .and_then(|tbs| tbs.subject_alt_names)
            .map(parse_general_names)
            .unwrap_or_default()
    }

    /// The common name (CN) of the end-entity certificate's subject, if it has one that is a
    /// UTF-8, printable, IA5 or BMP string. With several CNs, the last (most specific) one.
    pub fn subject_common_name(&self) -> Option<String> {
        tbs_certificate(self.end_entity()).and_then(|tbs| common_name(tbs.subject))
    }
}

impl fmt::Debug for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerIdentity")
            .field("subject_common_name", &self.subject_common_name())
            .field("subject_alt_names", &self.subject_alt_names())
            .field("certificates", &self.chain.len())
            .finish()
    }
}

/// One name of a certificate's subjectAltName extension (RFC 5280 §4.2.1.6).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubjectAltName {
    /// A `dNSName`, such as `api.example.com`.
    Dns(String),
    /// A `uniformResourceIdentifier`, such as a SPIFFE ID `spiffe://example.org/service`.
    Uri(String),
    /// An `iPAddress`.
    Ip(IpAddr),
    /// An `rfc822Name` (e-mail address).
    Email(String),
}

// DER tags (X.690 §8), as the one identifier octet used in certificates.
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const IA5_STRING: u8 = 0x16;
const BMP_STRING: u8 = 0x1e;
/// `[0] EXPLICIT Version` of a TBSCertificate.
const VERSION: u8 = 0xa0;
/// `[3] EXPLICIT Extensions` of a TBSCertificate.
const EXTENSIONS: u8 = 0xa3;
// GeneralName choices (context-specific, primitive).
const RFC822_NAME: u8 = 0x81;
const DNS_NAME: u8 = 0x82;
const URI: u8 = 0x86;
const IP_ADDRESS: u8 = 0x87;
/// id-ce-subjectAltName, 2.5.29.17, as DER OID contents.
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// id-at-commonName, 2.5.4.3, as DER OID contents.
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// A reader of consecutive DER elements (tag, length, contents).
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    /// The next element's tag and contents, or `None` at the end or on malformed input.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.rest.split_first()?;
        // High tag numbers (0x1f) never occur in the structures read here.
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            // Long form: the low bits count the length octets. Zero is BER's indefinite
            // length; more than four would describe more than 4 GiB.
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (octets, after) = rest.split_at(count);
            rest = after;
            octets
                .iter()
                .fold(0usize, |len, &octet| (len << 8) | usize::from(octet))
        };
        if rest.len() < len {
            return None;
        }
        let (contents, after) = rest.split_at(len);
        self.rest = after;
        Some((tag, contents))
    }

    /// The contents of the next element if it has tag `tag`.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        self.next()
            .and_then(|(found, contents)| (found == tag).then_some(contents))
    }
}

/// The parts of a TBSCertificate this module reads.
struct TbsCertificate<'a> {
    /// The contents of the subject Name SEQUENCE.
    subject: &'a [u8],
    /// The contents of the subjectAltName extension's value, a GeneralNames SEQUENCE.
    subject_alt_names: Option<&'a [u8]>,
}

fn tbs_certificate(certificate: &[u8]) -> Option<TbsCertificate<'_>> {
    let mut certificate = Der::new(Der::new(certificate).expect(SEQUENCE)?);
    let mut fields = Der::new(certificate.expect(SEQUENCE)?);
    let (mut tag, _) = fields.next()?;
    if tag == VERSION {
        (tag, _) = fields.next()?;
    }
    if tag != INTEGER {
        return None; // serialNumber
    }
    fields.expect(SEQUENCE)?; // signature
    fields.expect(SEQUENCE)?; // issuer
    fields.expect(SEQUENCE)?; // validity
    let subject = fields.expect(SEQUENCE)?;
    fields.expect(SEQUENCE)?; // subjectPublicKeyInfo
    // Then the optional issuerUniqueID [1], subjectUniqueID [2] and extensions [3].
    let mut subject_alt_names = None;
    while let Some((tag, contents)) = fields.next() {
        if tag == EXTENSIONS {
            subject_alt_names = find_extension(contents, OID_SUBJECT_ALT_NAME)
                .and_then(|value| Der::new(value).expect(SEQUENCE));
        }
    }
    Some(TbsCertificate {
        subject,
        subject_alt_names,
    })
}

/// The value (contents of extnValue) of the extension `oid` in `[3] Extensions`.
fn find_extension<'a>(explicit: &'a [u8], oid: &[u8]) -> Option<&'a [u8]> {
    let mut extensions = Der::new(Der::new(explicit).expect(SEQUENCE)?);
    while let Some(extension) = extensions.expect(SEQUENCE) {
        let mut fields = Der::new(extension);
        if fields.expect(OID)? != oid {
            continue;
        }
        let (mut tag, mut contents) = fields.next()?;
        if tag == BOOLEAN {
            (tag, contents) = fields.next()?; // critical
        }
        return (tag == OCTET_STRING).then_some(contents);
    }
    None
}

fn parse_general_names(names: &[u8]) -> Vec<SubjectAltName> {
    let mut reader = Der::new(names);
    let mut parsed = Vec::new();
    while let Some((tag, contents)) = reader.next() {
        let name = match tag {
            DNS_NAME => ia5(contents).map(SubjectAltName::Dns),
            URI => ia5(contents).map(SubjectAltName::Uri),
            RFC822_NAME => ia5(contents).map(SubjectAltName::Email),
            IP_ADDRESS => ip_address(contents).map(SubjectAltName::Ip),
            _ => None,
        };
        parsed.extend(name);
    }
    parsed
}

fn ia5(contents: &[u8]) -> Option<String> {
    contents
        .is_ascii()
        .then(|| contents.iter().map(|&byte| char::from(byte)).collect())
}

fn ip_address(contents: &[u8]) -> Option<IpAddr> {
    if let Ok(octets) = <[u8; 4]>::try_from(contents) {
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    <[u8; 16]>::try_from(contents)
        .ok()
        .map(|octets| IpAddr::V6(Ipv6Addr::from(octets)))
}

/// The last common name in a Name: SEQUENCE OF SET OF AttributeTypeAndValue.
fn common_name(subject: &[u8]) -> Option<String> {
    let mut names = Der::new(subject);
    let mut found = None;
    while let Some(set) = names.expect(SET) {
        let mut attributes = Der::new(set);
        while let Some(attribute) = attributes.expect(SEQUENCE) {
            let mut fields = Der::new(attribute);
            if fields.expect(OID) != Some(OID_COMMON_NAME) {
                continue;
            }
            if let Some(name) = fields
                .next()
                .and_then(|(tag, value)| directory_string(tag, value))
            {
                found = Some(name);
            }
        }
    }
    found
}

fn directory_string(tag: u8, value: &[u8]) -> Option<String> {
    match tag {
        UTF8_STRING => std::str::from_utf8(value).ok().map(str::to_owned),
        PRINTABLE_STRING | IA5_STRING => ia5(value),
        BMP_STRING => {
            let units = value.chunks(2).map(|pair| match pair {
                [high, low] => Some(u16::from_be_bytes([*high, *low])),
                _ => None,
            });
            String::from_utf16(&units.collect::<Option<Vec<u16>>>()?).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(params: rcgen::CertificateParams) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().clone()
    }

    fn identity(der: CertificateDer<'static>) -> PeerIdentity {
        PeerIdentity::from_chain(&[der]).expect("one certificate")
    }

    #[test]
    fn reads_every_supported_name_kind_in_order() {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Ferry");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "peer.ferry.test");
        params.subject_alt_names = vec![
            rcgen::SanType::DnsName("peer.ferry.test".try_into().expect("dns")),
            rcgen::SanType::URI("spiffe://ferry.test/peer".try_into().expect("uri")),
            rcgen::SanType::IpAddress("127.0.0.1".parse().expect("v4")),
            rcgen::SanType::IpAddress("::1".parse().expect("v6")),
            rcgen::SanType::Rfc822Name("ops@ferry.test".try_into().expect("email")),
        ];
        let peer = identity(certificate(params));
        assert_eq!(
            peer.subject_alt_names(),
            vec![
                SubjectAltName::Dns("peer.ferry.test".to_owned()),
                SubjectAltName::Uri("spiffe://ferry.test/peer".to_owned()),
                SubjectAltName::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                SubjectAltName::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
                SubjectAltName::Email("ops@ferry.test".to_owned()),
            ]
        );
        assert_eq!(
            peer.subject_common_name().as_deref(),
            Some("peer.ferry.test")
        );
    }

    #[test]
    fn a_certificate_without_names_has_none() {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Ferry");
        let peer = identity(certificate(params));
        assert_eq!(peer.subject_alt_names(), vec![]);
        assert_eq!(peer.subject_common_name(), None);
    }

    #[test]
    fn common_name_strings_of_each_kind_are_decoded() {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            rcgen::DnValue::BmpString("Fähre".try_into().expect("bmp")),
        );
        assert_eq!(
            identity(certificate(params))
                .subject_common_name()
                .as_deref(),
            Some("Fähre")
        );

        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            rcgen::DnValue::PrintableString("Ferry CA".try_into().expect("printable")),
        );
        assert_eq!(
            identity(certificate(params))
                .subject_common_name()
                .as_deref(),
            Some("Ferry CA")
        );
    }

    #[test]
    fn truncated_or_corrupted_certificates_yield_no_names_and_never_panic() {
        let params =
            rcgen::CertificateParams::new(vec!["peer.ferry.test".to_owned()]).expect("params");
        let der = certificate(params).to_vec();
        for len in 0..der.len() {
            let peer = identity(CertificateDer::from(der[..len].to_vec()));
            assert_eq!(peer.subject_alt_names(), vec![], "prefix of {len} bytes");
            assert_eq!(peer.subject_common_name(), None, "prefix of {len} bytes");
        }
        // Corrupting any one byte: the assertion is that nothing panics.
        for index in 0..der.len() {
            let mut corrupted = der.clone();
            corrupted[index] ^= 0xff;
            let peer = identity(CertificateDer::from(corrupted));
            let _ = (peer.subject_alt_names(), peer.subject_common_name());
        }
    }

    #[test]
    fn long_form_lengths_are_read_and_indefinite_ones_refused() {
        let mut long = vec![OCTET_STRING, 0x82, 0x01, 0x00];
        long.extend([7; 256]);
        assert_eq!(
            Der::new(&long).next(),
            Some((OCTET_STRING, &[7u8; 256][..]))
        );
        assert_eq!(Der::new(&[SEQUENCE, 0x80, 0x00, 0x00]).next(), None);
        assert_eq!(Der::new(&[SEQUENCE, 0x85, 1, 0, 0, 0, 0]).next(), None);
        assert_eq!(Der::new(&[SEQUENCE, 0x02, 0x00]).next(), None);
    }

    #[test]
    fn an_empty_chain_is_no_identity() {
        assert_eq!(PeerIdentity::from_chain(&[]), None);
    }
}
