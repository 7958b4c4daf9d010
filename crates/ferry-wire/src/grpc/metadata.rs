//! Custom metadata: the application's key/value pairs carried as headers.
//!
//! Keys are `0-9 a-z _ - .` (PROTOCOL-HTTP2.md, "Header-Name"). Keys ending in
//! `-bin` carry arbitrary bytes, base64-encoded on the wire: sent without
//! padding, accepted with or without, and split on `,` first because a proxy
//! may join repeated headers. Other values are printable ASCII.
//!
//! Keys the protocol owns are *reserved*: every `grpc-` key, and the
//! transport's own headers (`content-type`, `te`, `user-agent`, the
//! connection-specific ones...). Users cannot add them and they are filtered
//! out of received metadata; the request and response types expose the ones
//! that mean something.
//!
//! Received metadata is lenient where the spec asks it to be: a header whose
//! name is not a gRPC key or whose ASCII value is outside the allowed range
//! is dropped, not an error (an application may echo what it received, so
//! what is kept must be sendable). Only undecodable `-bin` values are errors.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};
use bytes::Bytes;

use crate::HeaderField;

/// Decodes standard base64 with or without padding. Non-zero trailing bits
/// are tolerated, as Go's decoder does, to accept what every peer sends.
pub(crate) const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Why a metadata entry was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataError {
    /// The key is empty, a pseudo-header, or has a byte outside
    /// `0-9 a-z _ - .` (uppercase letters are lowered, not refused).
    InvalidKey {
        /// The key as given (lossy UTF-8).
        key: String,
    },
    /// The key belongs to gRPC or the transport (`grpc-*`, `content-type`,
    /// `te`, `user-agent`, connection headers...).
    ReservedKey {
        /// The key.
        key: String,
    },
    /// An ASCII value with a byte outside space..`~`, or leading or trailing
    /// spaces.
    InvalidValue {
        /// The key of the value.
        key: String,
    },
    /// A binary value for a key that does not end in `-bin`.
    ExpectedBinaryKey {
        /// The key.
        key: String,
    },
    /// An ASCII value for a key that ends in `-bin`.
    ExpectedAsciiKey {
        /// The key.
        key: String,
    },
    /// A received `-bin` value that is not base64.
    InvalidBase64 {
        /// The key of the value.
        key: String,
    },
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::InvalidKey { key } => write!(f, "invalid metadata key {key:?}"),
            MetadataError::ReservedKey { key } => write!(f, "metadata key {key:?} is reserved"),
            MetadataError::InvalidValue { key } => {
                write!(f, "invalid ASCII value for metadata key {key:?}")
            }
            MetadataError::ExpectedBinaryKey { key } => {
                write!(f, "binary metadata key {key:?} must end in \"-bin\"")
            }
            MetadataError::ExpectedAsciiKey { key } => {
                write!(
                    f,
                    "metadata key {key:?} ends in \"-bin\" and needs a binary value"
                )
            }
            MetadataError::InvalidBase64 { key } => {
                write!(f, "malformed base64 in binary metadata {key:?}")
            }
        }
    }
}

impl std::error::Error for MetadataError {}

/// One metadata value: printable ASCII, or bytes for a `-bin` key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MetadataValue {
    /// ASCII text, or the decoded bytes of a `-bin` value.
    bytes: Bytes,
    binary: bool,
}

impl MetadataValue {
    /// The value's bytes (decoded, for a binary value).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The value as text; `None` for a binary value.
    pub fn as_str(&self) -> Option<&str> {
        if self.binary {
            None
        } else {
            std::str::from_utf8(&self.bytes).ok()
        }
    }

    /// True for the value of a `-bin` key.
    pub fn is_binary(&self) -> bool {
        self.binary
    }

    /// The value's bytes as a shared buffer (no copy).
    pub fn to_bytes(&self) -> Bytes {
        self.bytes.clone()
    }
}

impl fmt::Debug for MetadataValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.binary {
            write!(f, "{:?}", self.bytes)
        } else {
            write!(f, "{:?}", String::from_utf8_lossy(&self.bytes))
        }
    }
}

/// An ordered multimap of metadata: keys lowercase, several values per key
/// allowed, insertion order kept.
///
/// `Debug` hides the values of credential keys (`authorization`,
/// `proxy-authorization`), which also go out as never-indexed header fields.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    entries: Vec<(Bytes, MetadataValue)>,
}

impl Metadata {
    /// Empty metadata (no allocation).
    pub fn new() -> Metadata {
        Metadata {
            entries: Vec::new(),
        }
    }

    /// Number of values (a key with three values counts three).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an ASCII value. The key is lowered; the value must be printable
    /// ASCII (space to `~`) without leading or trailing spaces.
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        let key = user_key(key)?;
        if is_binary_key(&key) {
            return Err(MetadataError::ExpectedAsciiKey { key: lossy(&key) });
        }
        if !is_sendable_ascii(value.as_bytes()) {
            return Err(MetadataError::InvalidValue { key: lossy(&key) });
        }
        let bytes = Bytes::copy_from_slice(value.as_bytes());
        self.entries.push((
            key,
            MetadataValue {
                bytes,
                binary: false,
            },
        ));
        Ok(())
    }

    /// Adds a binary value under a key ending in `-bin`.
    pub fn append_bin(&mut self, key: &str, value: impl Into<Bytes>) -> Result<(), MetadataError> {
        let key = user_key(key)?;
        if !is_binary_key(&key) {
            return Err(MetadataError::ExpectedBinaryKey { key: lossy(&key) });
        }
        self.entries.push((
            key,
            MetadataValue {
                bytes: value.into(),
                binary: true,
            },
        ));
        Ok(())
    }

    /// Replaces every value of an ASCII key with `value`.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        let mut one = Metadata::new();
        one.append(key, value)?;
        self.replace(one);
        Ok(())
    }

    /// Replaces every value of a `-bin` key with `value`.
    pub fn insert_bin(&mut self, key: &str, value: impl Into<Bytes>) -> Result<(), MetadataError> {
        let mut one = Metadata::new();
        one.append_bin(key, value)?;
        self.replace(one);
        Ok(())
    }

    fn replace(&mut self, one: Metadata) {
        for (key, value) in one.entries {
            self.entries.retain(|(k, _)| *k != key);
            self.entries.push((key, value));
        }
    }

    /// The first value of `key` (compared ignoring ASCII case).
    pub fn get(&self, key: &str) -> Option<&MetadataValue> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key.as_bytes()))
            .map(|(_, v)| v)
    }

    /// Every value of `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a MetadataValue> + 'a {
        self.entries
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key.as_bytes()))
            .map(|(_, v)| v)
    }

    /// Removes every value of `key`; returns how many there were.
    pub fn remove(&mut self, key: &str) -> usize {
        let before = self.entries.len();
        self.entries
            .retain(|(k, _)| !k.eq_ignore_ascii_case(key.as_bytes()));
        before - self.entries.len()
    }

    /// Every (key, value) pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &MetadataValue)> {
        self.entries.iter().map(|(k, v)| (key_str(k), v))
    }

    /// Appends every entry of `other`.
    pub fn extend(&mut self, other: Metadata) {
        self.entries.extend(other.entries);
    }

    /// Collects the custom metadata of a received header block.
    ///
    /// Skips pseudo-headers, reserved keys, names that are not gRPC keys and
    /// ASCII values outside the allowed range (after trimming surrounding
    /// spaces and tabs); splits `-bin` values on `,` and decodes each.
    /// Names and ASCII values are shared with `fields`, not copied.
    pub fn decode(fields: &[HeaderField]) -> Result<Metadata, MetadataError> {
        let mut md = Metadata::new();
        for field in fields {
            if !is_valid_key(&field.name) || is_reserved_key(&field.name) {
                continue;
            }
            if is_binary_key(&field.name) {
                for piece in field.value.split(|&b| b == b',') {
                    let piece = piece.trim_ascii();
                    let decoded =
                        LENIENT_BASE64
                            .decode(piece)
                            .map_err(|_| MetadataError::InvalidBase64 {
                                key: lossy(&field.name),
                            })?;
                    md.entries.push((
                        field.name.clone(),
                        MetadataValue {
                            bytes: decoded.into(),
                            binary: true,
                        },
                    ));
                }
            } else {
                let value = trim_bytes(&field.value);
                if value.iter().all(|&b| is_ascii_value_byte(b)) {
                    md.entries.push((
                        field.name.clone(),
                        MetadataValue {
                            bytes: value,
                            binary: false,
                        },
                    ));
                }
            }
        }
        Ok(md)
    }

    /// Appends the metadata as header fields to `dst`: ASCII values shared,
    /// binary values base64-encoded without padding, credentials marked
    /// never-indexed.
    pub fn encode(&self, dst: &mut Vec<HeaderField>) {
        dst.reserve(self.entries.len());
        for (key, value) in &self.entries {
            let bytes = if value.binary {
                Bytes::from(STANDARD_NO_PAD.encode(&value.bytes))
            } else {
                value.bytes.clone()
            };
            dst.push(HeaderField {
                name: key.clone(),
                value: bytes,
                sensitive: is_sensitive_key(key),
            });
        }
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in &self.entries {
            if is_sensitive_key(key) {
                map.entry(&key_str(key), &format_args!("<sensitive>"));
            } else {
                map.entry(&key_str(key), value);
            }
        }
        map.finish()
    }
}

/// Validates and lowers a key given by the application.
fn user_key(key: &str) -> Result<Bytes, MetadataError> {
    let lowered = key.to_ascii_lowercase();
    if !is_valid_key(lowered.as_bytes()) {
        return Err(MetadataError::InvalidKey {
            key: key.to_owned(),
        });
    }
    if is_reserved_key(lowered.as_bytes()) {
        return Err(MetadataError::ReservedKey { key: lowered });
    }
    Ok(Bytes::from(lowered))
}

/// `1*( 0-9 / a-z / "_" / "-" / "." )`; rules out pseudo-headers too.
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    !key.is_empty()
        && key
            .iter()
            .all(|&b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'-' | b'.'))
}

/// Keys gRPC or the transport own.
pub(crate) fn is_reserved_key(key: &[u8]) -> bool {
    key.starts_with(b"grpc-")
        || matches!(
            key,
            b"content-type"
                | b"content-length"
                | b"te"
                | b"user-agent"
                | b"host"
                | b"connection"
                | b"keep-alive"
                | b"proxy-connection"
                | b"transfer-encoding"
                | b"upgrade"
        )
}

fn is_binary_key(key: &[u8]) -> bool {
    key.ends_with(b"-bin")
}

fn is_sensitive_key(key: &[u8]) -> bool {
    matches!(key, b"authorization" | b"proxy-authorization")
}

fn is_ascii_value_byte(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// What this library sends as an ASCII value: printable, no surrounding space.
pub(crate) fn is_sendable_ascii(value: &[u8]) -> bool {
    value.iter().all(|&b| is_ascii_value_byte(b))
        && value.first() != Some(&b' ')
        && value.last() != Some(&b' ')
}

/// The value without leading and trailing spaces and tabs, sharing memory.
pub(crate) fn trim_bytes(value: &Bytes) -> Bytes {
    let start = value
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    value.slice(start..end)
}

/// A validated key as text. Keys are checked ASCII before they are stored, so
/// the fallback is never taken.
fn key_str(key: &[u8]) -> &str {
    std::str::from_utf8(key).unwrap_or("")
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn field(name: &'static str, value: &'static str) -> HeaderField {
        HeaderField::from_static(name, value)
    }

    #[test]
    fn append_get_and_order() {
        let mut md = Metadata::new();
        md.append("x-user", "alice").unwrap();
        md.append("X-Trace", "abc").unwrap();
        md.append("x-user", "bob").unwrap();
        md.append_bin("x-blob-bin", &b"\x00\xff"[..]).unwrap();
        assert_eq!(md.len(), 4);
        assert_eq!(
            md.get("x-user").and_then(MetadataValue::as_str),
            Some("alice")
        );
        assert_eq!(
            md.get("X-USER").and_then(MetadataValue::as_str),
            Some("alice")
        );
        let users: Vec<_> = md
            .get_all("x-user")
            .filter_map(MetadataValue::as_str)
            .collect();
        assert_eq!(users, ["alice", "bob"]);
        assert_eq!(
            md.get("x-blob-bin").map(MetadataValue::as_bytes),
            Some(&b"\x00\xff"[..])
        );
        assert_eq!(md.get("x-blob-bin").and_then(MetadataValue::as_str), None);
        let keys: Vec<_> = md.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["x-user", "x-trace", "x-user", "x-blob-bin"]);
        assert_eq!(md.remove("x-user"), 2);
        assert_eq!(md.len(), 2);
        md.insert("x-trace", "def").unwrap();
        md.insert_bin("x-blob-bin", Bytes::from_static(b"z"))
            .unwrap();
        assert_eq!(
            format!("{md:?}"),
            r#"{"x-trace": "def", "x-blob-bin": b"z"}"#
        );
    }

    #[test]
    fn key_validation() {
        let mut md = Metadata::new();
        assert_eq!(
            md.append("", "v"),
            Err(MetadataError::InvalidKey { key: "".into() })
        );
        assert_eq!(
            md.append(":path", "v"),
            Err(MetadataError::InvalidKey {
                key: ":path".into()
            })
        );
        assert_eq!(
            md.append("x y", "v"),
            Err(MetadataError::InvalidKey { key: "x y".into() })
        );
        assert_eq!(
            md.append("x/y", "v"),
            Err(MetadataError::InvalidKey { key: "x/y".into() })
        );
        assert_eq!(
            md.append("é", "v"),
            Err(MetadataError::InvalidKey { key: "é".into() })
        );
        for key in [
            "grpc-status",
            "GRPC-foo",
            "grpc-trace-bin",
            "content-type",
            "te",
            "user-agent",
            "connection",
        ] {
            let err = md.append_bin(key, Bytes::new()).unwrap_err();
            assert!(
                matches!(err, MetadataError::ReservedKey { .. }),
                "{key}: {err:?}"
            );
        }
        assert_eq!(
            md.append("x-bin", "v"),
            Err(MetadataError::ExpectedAsciiKey {
                key: "x-bin".into()
            })
        );
        assert_eq!(
            md.append_bin("x", Bytes::new()),
            Err(MetadataError::ExpectedBinaryKey { key: "x".into() })
        );
        md.append("a.b_c-9", "").unwrap();
        assert!(md.insert("grpc-x", "v").is_err());
        assert_eq!(md.len(), 1);
    }

    #[test]
    fn value_validation() {
        let mut md = Metadata::new();
        for bad in ["tab\there", "new\nline", " lead", "trail ", "é", "\x7f"] {
            assert_eq!(
                md.append("k", bad),
                Err(MetadataError::InvalidValue { key: "k".into() }),
                "{bad:?}"
            );
        }
        md.append("k", "in side ~!").unwrap();
        assert_eq!(md.len(), 1);
    }

    #[test]
    fn encode_binary_unpadded_and_credentials_sensitive() {
        let mut md = Metadata::new();
        md.append("authorization", "Bearer t0k3n").unwrap();
        md.append_bin("x-bin", &b"\x01\x02"[..]).unwrap();
        md.append("x-plain", "v").unwrap();
        let mut fields = vec![field(":status", "200")];
        md.encode(&mut fields);
        assert_eq!(
            fields,
            vec![
                field(":status", "200"),
                HeaderField::sensitive("authorization", "Bearer t0k3n"),
                field("x-bin", "AQI"),
                field("x-plain", "v"),
            ]
        );
        assert_eq!(
            format!("{md:?}"),
            r#"{"authorization": <sensitive>, "x-bin": b"\x01\x02", "x-plain": "v"}"#
        );
    }

    #[test]
    fn decode_filters_and_shares() {
        let fields = vec![
            field(":path", "/a/b"),
            field("content-type", "application/grpc"),
            field("te", "trailers"),
            field("user-agent", "grpc-go/1.33"),
            field("grpc-timeout", "1S"),
            field("grpc-trace-bin", "AAAA"),
            field("x-ok", "  padded\t"),
            field("x-tab", "a\tb"),
            field("X-Upper", "v"),
            field("x-high", "caf\u{e9}"),
            field("x-bin", "AQI"),
            field("x-padded-bin", "AQI="),
            field("x-joined-bin", "AQI=, AAEC"),
            field("x-empty", ""),
        ];
        let md = Metadata::decode(&fields).unwrap();
        let pairs: Vec<(&str, Vec<u8>)> =
            md.iter().map(|(k, v)| (k, v.as_bytes().to_vec())).collect();
        assert_eq!(
            pairs,
            vec![
                ("x-ok", b"padded".to_vec()),
                ("x-bin", vec![1, 2]),
                ("x-padded-bin", vec![1, 2]),
                ("x-joined-bin", vec![1, 2]),
                ("x-joined-bin", vec![0, 1, 2]),
                ("x-empty", vec![]),
            ]
        );
        // ASCII values are slices of the received field, not copies.
        let received = fields[6].value.as_ptr() as usize;
        let kept = md.get("x-ok").map_or(0, |v| v.as_bytes().as_ptr() as usize);
        assert_eq!(kept, received + 2);
        // What was received can be sent back.
        let mut echo = Metadata::new();
        for (k, v) in md.iter() {
            match v.as_str() {
                Some(s) => echo.append(k, s).unwrap(),
                None => echo.append_bin(k, v.to_bytes()).unwrap(),
            }
        }
        assert_eq!(echo, md);
    }

    #[test]
    fn decode_rejects_bad_base64() {
        for bad in ["A", "AQI*", "AQ==AQ", "!!", "AQI=="] {
            let fields = vec![HeaderField::new("x-bin", bad)];
            assert_eq!(
                Metadata::decode(&fields),
                Err(MetadataError::InvalidBase64 {
                    key: "x-bin".into()
                }),
                "{bad:?}"
            );
        }
        let err = MetadataError::InvalidBase64 {
            key: "x-bin".into(),
        };
        assert_eq!(
            err.to_string(),
            r#"malformed base64 in binary metadata "x-bin""#
        );
    }

    proptest! {
        /// Binary values survive encode then decode, whatever the bytes.
        #[test]
        fn binary_round_trip(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..4)) {
            let mut md = Metadata::new();
            for v in &values {
                md.append_bin("x-data-bin", Bytes::from(v.clone())).unwrap();
            }
            let mut fields = Vec::new();
            md.encode(&mut fields);
            prop_assert!(fields.iter().all(|f| !f.value.contains(&b'=')));
            prop_assert_eq!(Metadata::decode(&fields).unwrap(), md.clone());
            // Padded input (what grpc-java and the C core may send) decodes too.
            let padded: Vec<HeaderField> = values
                .iter()
                .map(|v| HeaderField::new("x-data-bin", base64::engine::general_purpose::STANDARD.encode(v)))
                .collect();
            prop_assert_eq!(Metadata::decode(&padded).unwrap(), md);
        }

        #[test]
        fn decode_never_panics(name in "[a-z:-]{0,8}(-bin)?", value in proptest::collection::vec(any::<u8>(), 0..40)) {
            let fields = vec![HeaderField::new(name, value)];
            let _ = Metadata::decode(&fields);
        }
    }
}
