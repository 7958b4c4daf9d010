//! Encoding names, the set an endpoint enables, and negotiation.
//!
//! Names follow `Content-Coding` in gRPC's `PROTOCOL-HTTP2.md`. They are
//! compared without regard to ASCII case: the spec writes them as quoted ABNF
//! strings, which are case-insensitive (RFC 5234 §2.3), and HTTP content
//! codings are case-insensitive too (RFC 9110 §8.4.1). Ferry always sends them
//! in lowercase, as every gRPC implementation does; grpc-go compares them
//! case-sensitively, so accepting `GZIP` costs nothing and breaks no one.

use std::fmt;

use bytes::Bytes;

use super::CompressionError;

/// A message encoding (`grpc-encoding`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// No compression. Every peer accepts it, listed or not.
    #[default]
    Identity,
    /// gzip (RFC 1952), the one compression every gRPC implementation ships.
    Gzip,
    /// Zstandard (RFC 8878): faster than gzip at a better ratio; grpc-go and
    /// grpc-java need an extra package for it, the C core lacks it.
    Zstd,
}

impl Encoding {
    /// Every encoding, in the order `grpc-accept-encoding` lists them.
    const ALL: [Encoding; 3] = [Encoding::Identity, Encoding::Gzip, Encoding::Zstd];

    /// The name on the wire: `"identity"`, `"gzip"` or `"zstd"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
        }
    }

    /// The encoding a name stands for, ignoring ASCII case; `None` for names
    /// Ferry does not implement (`deflate`, `snappy`, anything else).
    ///
    /// The name is matched whole: a header value with surrounding spaces is
    /// malformed in HTTP/2 and is not trimmed here.
    pub fn from_name(name: &[u8]) -> Option<Encoding> {
        // By length first: every request's accept list is parsed.
        let candidates: &[Encoding] = match name.len() {
            4 => &[Encoding::Gzip, Encoding::Zstd],
            8 => &[Encoding::Identity],
            _ => &[],
        };
        candidates
            .iter()
            .copied()
            .find(|encoding| name.eq_ignore_ascii_case(encoding.as_str().as_bytes()))
    }

    /// Whether this is [`Encoding::Identity`] (messages go out uncompressed,
    /// with the compressed flag 0).
    pub const fn is_identity(self) -> bool {
        matches!(self, Encoding::Identity)
    }

    const fn bit(self) -> u8 {
        match self {
            Encoding::Identity => 1,
            Encoding::Gzip => 2,
            Encoding::Zstd => 4,
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of encodings: what this endpoint enables, or what a peer accepts.
///
/// Identity is always in the set: the compressed flag can always be 0, so no
/// endpoint can refuse uncompressed messages, and [`remove`](Self::remove)
/// ignores it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncodingSet {
    bits: u8,
}

impl EncodingSet {
    /// Every encoding Ferry implements.
    pub const fn all() -> EncodingSet {
        EncodingSet {
            bits: Encoding::Identity.bit() | Encoding::Gzip.bit() | Encoding::Zstd.bit(),
        }
    }

    /// Identity alone: the endpoint neither sends nor accepts compressed
    /// messages.
    pub const fn identity_only() -> EncodingSet {
        EncodingSet {
            bits: Encoding::Identity.bit(),
        }
    }

    fn without(mut set: EncodingSet, encoding: Encoding) -> EncodingSet {
        set.remove(encoding);
        set
    }

    /// Whether the set holds `encoding` (always true for identity).
    pub const fn contains(&self, encoding: Encoding) -> bool {
        self.bits & encoding.bit() != 0
    }

    /// Adds `encoding` to the set.
    pub fn insert(&mut self, encoding: Encoding) {
        self.bits |= encoding.bit();
    }

    /// Removes `encoding` from the set; identity stays.
    pub fn remove(&mut self, encoding: Encoding) {
        if !encoding.is_identity() {
            self.bits &= !encoding.bit();
        }
    }

    /// The encodings in the set, identity first.
    pub fn iter(&self) -> impl Iterator<Item = Encoding> + use<> {
        let set = *self;
        Encoding::ALL
            .into_iter()
            .filter(move |encoding| set.contains(*encoding))
    }

    /// The `grpc-accept-encoding` value for this set, for example
    /// `identity,gzip,zstd`. Does not allocate.
    ///
    /// Identity is listed, as the C core does (grpc-go and grpc-java list only
    /// real compressors): implied or not, it keeps the value a non-empty
    /// `Content-Coding *("," Content-Coding)` even for
    /// [`identity_only`](Self::identity_only), which peers read the same as
    /// no header at all.
    pub fn to_header_value(&self) -> Bytes {
        let gzip = self.contains(Encoding::Gzip);
        let zstd = self.contains(Encoding::Zstd);
        Bytes::from_static(match (gzip, zstd) {
            (false, false) => b"identity",
            (true, false) => b"identity,gzip",
            (false, true) => b"identity,zstd",
            (true, true) => b"identity,gzip,zstd",
        })
    }

    /// Reads a peer's `grpc-accept-encoding`: names separated by commas, with
    /// optional spaces or tabs around each. Names Ferry does not implement and
    /// empty items are skipped; the result always holds identity.
    pub fn parse_accept(value: &[u8]) -> EncodingSet {
        // Every request carries one, nearly always in the form
        // `to_header_value` writes: those are recognised whole.
        let all = EncodingSet::all();
        for canonical in [
            all,
            Self::without(all, Encoding::Zstd),
            Self::without(all, Encoding::Gzip),
        ] {
            if value == canonical.to_header_value() {
                return canonical;
            }
        }
        let mut set = EncodingSet::identity_only();
        for item in value.split(|&byte| byte == b',') {
            if let Some(encoding) = Encoding::from_name(item.trim_ascii()) {
                set.insert(encoding);
            }
        }
        set
    }

    /// Checks a received `grpc-encoding` against this (local) set and says how
    /// to decompress the messages that carry the compressed flag.
    ///
    /// A missing header means identity. A name that Ferry does not implement,
    /// or that this endpoint disabled, is
    /// [`CompressionError::Unsupported`], which answers `UNIMPLEMENTED` (the
    /// server should list its `grpc-accept-encoding` in that response).
    pub fn recv_encoding(
        &self,
        grpc_encoding: Option<&[u8]>,
    ) -> Result<Encoding, CompressionError> {
        let Some(name) = grpc_encoding else {
            return Ok(Encoding::Identity);
        };
        match Encoding::from_name(name) {
            Some(encoding) if self.contains(encoding) => Ok(encoding),
            _ => Err(CompressionError::Unsupported {
                name: String::from_utf8_lossy(name).into_owned(),
            }),
        }
    }
}

impl Default for EncodingSet {
    /// [`EncodingSet::identity_only`]: compression is opt-in.
    fn default() -> EncodingSet {
        EncodingSet::identity_only()
    }
}

impl fmt::Debug for EncodingSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Encoding::as_str))
            .finish()
    }
}

/// The encoding to send with: `preferred` if the peer accepts it, identity
/// otherwise.
///
/// `peer_accepts` is the peer's [`grpc-accept-encoding`](EncodingSet::parse_accept).
/// A client that has not heard from the server yet has no such list; it sends
/// with its configured encoding and learns from an `UNIMPLEMENTED` answer.
pub fn pick(preferred: Encoding, peer_accepts: &EncodingSet) -> Encoding {
    if peer_accepts.contains(preferred) {
        preferred
    } else {
        Encoding::Identity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(encodings: &[Encoding]) -> EncodingSet {
        let mut set = EncodingSet::identity_only();
        for &encoding in encodings {
            set.insert(encoding);
        }
        set
    }

    #[test]
    fn names_round_trip() {
        for encoding in Encoding::ALL {
            assert_eq!(
                Encoding::from_name(encoding.as_str().as_bytes()),
                Some(encoding)
            );
            assert_eq!(encoding.to_string(), encoding.as_str());
        }
        assert_eq!(Encoding::Identity.as_str(), "identity");
        assert_eq!(Encoding::Gzip.as_str(), "gzip");
        assert_eq!(Encoding::Zstd.as_str(), "zstd");
    }

    #[test]
    fn from_name_ignores_case_only() {
        assert_eq!(Encoding::from_name(b"GZIP"), Some(Encoding::Gzip));
        assert_eq!(Encoding::from_name(b"Zstd"), Some(Encoding::Zstd));
        assert_eq!(Encoding::from_name(b"IDENTITY"), Some(Encoding::Identity));
        for name in [
            &b""[..],
            b"deflate",
            b"snappy",
            b" gzip",
            b"gzip ",
            b"gzi",
            b"gzipp",
            b"gzip,zstd",
            b"\xffgzip",
        ] {
            assert_eq!(Encoding::from_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn default_encoding_is_identity() {
        assert_eq!(Encoding::default(), Encoding::Identity);
        assert!(Encoding::Identity.is_identity());
        assert!(!Encoding::Gzip.is_identity());
        assert!(!Encoding::Zstd.is_identity());
    }

    #[test]
    fn set_membership() {
        let all = EncodingSet::all();
        let none = EncodingSet::identity_only();
        for encoding in Encoding::ALL {
            assert!(all.contains(encoding));
            assert_eq!(none.contains(encoding), encoding.is_identity());
        }
        assert_eq!(EncodingSet::default(), none);

        let mut set = none;
        set.insert(Encoding::Zstd);
        assert!(set.contains(Encoding::Zstd));
        assert!(!set.contains(Encoding::Gzip));
        set.insert(Encoding::Gzip);
        assert_eq!(set, all);
        set.remove(Encoding::Gzip);
        set.remove(Encoding::Identity);
        assert_eq!(set, self::set(&[Encoding::Zstd]));
        assert!(set.contains(Encoding::Identity));
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Encoding::Identity, Encoding::Zstd]
        );
        assert_eq!(format!("{all:?}"), r#"{"identity", "gzip", "zstd"}"#);
    }

    #[test]
    fn header_values() {
        let cases: [(&[Encoding], &[u8]); 4] = [
            (&[], b"identity"),
            (&[Encoding::Gzip], b"identity,gzip"),
            (&[Encoding::Zstd], b"identity,zstd"),
            (&[Encoding::Zstd, Encoding::Gzip], b"identity,gzip,zstd"),
        ];
        for (encodings, value) in cases {
            let set = set(encodings);
            assert_eq!(set.to_header_value(), value);
            assert_eq!(EncodingSet::parse_accept(value), set);
        }
        assert_eq!(EncodingSet::all().to_header_value(), "identity,gzip,zstd");
    }

    #[test]
    fn parse_accept_edge_cases() {
        let cases: [(&[u8], &[Encoding]); 12] = [
            (b"gzip, zstd", &[Encoding::Gzip, Encoding::Zstd]),
            (b" identity ,gzip", &[Encoding::Gzip]),
            (b"", &[]),
            (b"foo,,gzip", &[Encoding::Gzip]),
            (b"gzip", &[Encoding::Gzip]),
            (b"identity", &[]),
            (b",,, ,", &[]),
            (b"deflate,snappy", &[]),
            (b"\tzstd\t,  GZIP  ", &[Encoding::Gzip, Encoding::Zstd]),
            (b"gzip;q=1", &[]),
            (b"gzip zstd", &[]),
            (b"zstd,\xff\x00,zstd", &[Encoding::Zstd]),
        ];
        for (value, encodings) in cases {
            assert_eq!(
                EncodingSet::parse_accept(value),
                set(encodings),
                "{value:?}"
            );
        }
    }

    #[test]
    fn negotiation() {
        let all = EncodingSet::all();
        let none = EncodingSet::identity_only();
        let gzip = set(&[Encoding::Gzip]);
        assert_eq!(pick(Encoding::Gzip, &all), Encoding::Gzip);
        assert_eq!(pick(Encoding::Zstd, &all), Encoding::Zstd);
        assert_eq!(pick(Encoding::Identity, &all), Encoding::Identity);
        assert_eq!(pick(Encoding::Gzip, &none), Encoding::Identity);
        assert_eq!(pick(Encoding::Zstd, &none), Encoding::Identity);
        assert_eq!(pick(Encoding::Zstd, &gzip), Encoding::Identity);
        assert_eq!(pick(Encoding::Gzip, &gzip), Encoding::Gzip);
        // What grpc-go sends.
        assert_eq!(
            pick(Encoding::Zstd, &EncodingSet::parse_accept(b"gzip")),
            Encoding::Identity
        );
    }

    #[test]
    fn recv_encoding_checks_the_local_set() {
        let all = EncodingSet::all();
        let gzip = set(&[Encoding::Gzip]);
        assert_eq!(all.recv_encoding(None), Ok(Encoding::Identity));
        assert_eq!(
            EncodingSet::identity_only().recv_encoding(None),
            Ok(Encoding::Identity)
        );
        assert_eq!(all.recv_encoding(Some(b"zstd")), Ok(Encoding::Zstd));
        assert_eq!(gzip.recv_encoding(Some(b"gzip")), Ok(Encoding::Gzip));
        assert_eq!(
            gzip.recv_encoding(Some(b"identity")),
            Ok(Encoding::Identity)
        );
        assert_eq!(
            gzip.recv_encoding(Some(b"zstd")),
            Err(CompressionError::Unsupported {
                name: "zstd".to_owned()
            })
        );
        assert_eq!(
            all.recv_encoding(Some(b"snappy")),
            Err(CompressionError::Unsupported {
                name: "snappy".to_owned()
            })
        );
        assert_eq!(
            all.recv_encoding(Some(b"x\xff")),
            Err(CompressionError::Unsupported {
                name: "x\u{fffd}".to_owned()
            })
        );
    }
}
