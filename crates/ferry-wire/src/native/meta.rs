//! The metadata section: tagged entries, optional below tag 128 (skipped
//! when unknown) and critical from 128 (refused when unknown).

use std::time::Duration;

use bytes::{BufMut, Bytes};

use super::{NativeError, varint};

/// The metadata tags of version 1.
pub mod tag {
    /// Fully qualified service name.
    pub const SERVICE: u8 = 1;
    /// Method name.
    pub const METHOD: u8 = 2;
    /// Time left until the deadline, varint microseconds.
    pub const TIMEOUT: u8 = 3;
    /// One application metadata pair.
    pub const HEADER: u8 = 4;
    /// Status message.
    pub const STATUS_MESSAGE: u8 = 5;
    /// Status details (as `grpc-status-details-bin`).
    pub const STATUS_DETAILS: u8 = 6;
    /// Compression of COMPRESSED bodies.
    pub const ENCODING: u8 = 7;
    /// Which implementation of the service to call.
    pub const IMPLEMENTATION: u8 = 8;
    /// One trailing metadata pair (on the frame that ends a response).
    pub const TRAILER: u8 = 9;
    /// The encodings the client decompresses, comma-separated.
    pub const ACCEPT_ENCODING: u8 = 10;
    /// One HELLO setting: id byte, varint value.
    pub const SETTING: u8 = 16;
    /// Free-text peer description.
    pub const AGENT: u8 = 17;
    /// Tags from here on are critical.
    pub const FIRST_CRITICAL: u8 = 128;
}

/// HELLO setting ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting;

impl Setting {
    /// Largest body this side accepts.
    pub const MAX_BODY: u8 = 1;
    /// Credit the peer has on a new call, in body bytes.
    pub const INITIAL_CREDIT: u8 = 2;
    /// Calls this side serves at once.
    pub const MAX_CALLS: u8 = 3;
    /// Heartbeat interval on an idle connection, in milliseconds.
    pub const HEARTBEAT_MS: u8 = 4;
}

/// A decoded metadata section. Single-valued entries appear at most once;
/// headers and settings may repeat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Fully qualified service name.
    pub service: Option<String>,
    /// Method name.
    pub method: Option<String>,
    /// Time left until the client's deadline.
    pub timeout: Option<Duration>,
    /// Application metadata, in order.
    pub headers: Vec<(String, Bytes)>,
    /// Trailing metadata, in order.
    pub trailers: Vec<(String, Bytes)>,
    /// Status message.
    pub status_message: Option<String>,
    /// Status details.
    pub status_details: Option<Bytes>,
    /// Compression of COMPRESSED bodies.
    pub encoding: Option<String>,
    /// Implementation name.
    pub implementation: Option<String>,
    /// The encodings the client decompresses, comma-separated (as
    /// `grpc-accept-encoding`).
    pub accept_encoding: Option<String>,
    /// HELLO settings `(id, value)`, in order; unknown ids kept.
    pub settings: Vec<(u8, u64)>,
    /// Peer description.
    pub agent: Option<String>,
}

impl Meta {
    /// Decodes a whole section.
    pub fn decode(mut src: &[u8]) -> Result<Meta, NativeError> {
        let mut meta = Meta::default();
        while let Some((&tag, rest)) = src.split_first() {
            src = rest;
            let len = varint::take(&mut src)?;
            let len = usize::try_from(len)
                .ok()
                .filter(|&len| len <= src.len())
                .ok_or(NativeError::TruncatedEntry { tag })?;
            let (value, rest) = src.split_at(len);
            src = rest;
            meta.apply(tag, value)?;
        }
        Ok(meta)
    }

    fn apply(&mut self, tag: u8, value: &[u8]) -> Result<(), NativeError> {
        let text = |value: &[u8]| {
            std::str::from_utf8(value)
                .map(str::to_owned)
                .map_err(|_| NativeError::InvalidUtf8 { tag })
        };
        let once = |slot_taken: bool| {
            if slot_taken {
                Err(NativeError::MalformedEntry { tag })
            } else {
                Ok(())
            }
        };
        match tag {
            tag::SERVICE => {
                once(self.service.is_some())?;
                self.service = Some(text(value)?);
            }
            tag::METHOD => {
                once(self.method.is_some())?;
                self.method = Some(text(value)?);
            }
            tag::TIMEOUT => {
                once(self.timeout.is_some())?;
                let mut v = value;
                let micros = varint::take(&mut v)?;
                if !v.is_empty() {
                    return Err(NativeError::MalformedEntry { tag });
                }
                self.timeout = Some(Duration::from_micros(micros));
            }
            tag::HEADER | tag::TRAILER => {
                let mut v = value;
                let key_len = varint::take(&mut v)?;
                let key_len = usize::try_from(key_len)
                    .ok()
                    .filter(|&n| n > 0 && n <= v.len())
                    .ok_or(NativeError::MalformedEntry { tag })?;
                let (key, val) = v.split_at(key_len);
                let pair = (text(key)?, Bytes::copy_from_slice(val));
                if tag == tag::HEADER {
                    self.headers.push(pair);
                } else {
                    self.trailers.push(pair);
                }
            }
            tag::STATUS_MESSAGE => {
                once(self.status_message.is_some())?;
                self.status_message = Some(text(value)?);
            }
            tag::STATUS_DETAILS => {
                once(self.status_details.is_some())?;
                self.status_details = Some(Bytes::copy_from_slice(value));
            }
            tag::ENCODING => {
                once(self.encoding.is_some())?;
                self.encoding = Some(text(value)?);
            }
            tag::IMPLEMENTATION => {
                once(self.implementation.is_some())?;
                self.implementation = Some(text(value)?);
            }
            tag::ACCEPT_ENCODING => {
                once(self.accept_encoding.is_some())?;
                self.accept_encoding = Some(text(value)?);
            }
            tag::SETTING => {
                let (&id, mut v) = value
                    .split_first()
                    .ok_or(NativeError::MalformedEntry { tag })?;
                let setting = varint::take(&mut v)?;
                if !v.is_empty() {
                    return Err(NativeError::MalformedEntry { tag });
                }
                self.settings.push((id, setting));
            }
            tag::AGENT => {
                once(self.agent.is_some())?;
                self.agent = Some(text(value)?);
            }
            tag if tag >= tag::FIRST_CRITICAL => {
                return Err(NativeError::UnknownCritical { tag });
            }
            // An optional entry of a later version.
            _ => {}
        }
        Ok(())
    }

    /// The last value of a HELLO setting.
    pub fn setting(&self, id: u8) -> Option<u64> {
        self.settings
            .iter()
            .rev()
            .find(|(i, _)| *i == id)
            .map(|&(_, v)| v)
    }

    /// Splits a leading `timeout` entry off a section: the timeout and the
    /// rest, or `None` when the section does not start with a well-formed
    /// one. Ferry's clients write the timeout first, so the rest of a
    /// request's section repeats call after call and a receiver can
    /// recognise it whole.
    pub fn split_leading_timeout(section: &[u8]) -> Option<(Duration, &[u8])> {
        let (&first, mut rest) = section.split_first()?;
        if first != tag::TIMEOUT {
            return None;
        }
        let len = usize::try_from(varint::take(&mut rest).ok()?).ok()?;
        if len > rest.len() {
            return None;
        }
        let (mut value, rest) = rest.split_at(len);
        let micros = varint::take(&mut value).ok()?;
        value
            .is_empty()
            .then_some((Duration::from_micros(micros), rest))
    }

    /// Appends the encoded section ([`encoded_len`](Meta::encoded_len)
    /// bytes).
    pub fn encode(&self, dst: &mut impl BufMut) {
        self.visit(|tag, parts| {
            dst.put_u8(tag);
            varint::put(dst, parts.len() as u64);
            match parts {
                Value::Bytes(value) => dst.put_slice(value),
                Value::Varint(value) => varint::put(dst, value),
                Value::Pair(key, value) => {
                    varint::put(dst, key.len() as u64);
                    dst.put_slice(key);
                    dst.put_slice(value);
                }
                Value::Setting(id, value) => {
                    dst.put_u8(id);
                    varint::put(dst, value);
                }
            }
        });
    }

    /// The length of the encoded section.
    pub fn encoded_len(&self) -> usize {
        let mut total = 0;
        self.visit(|_, value| {
            let len = value.len();
            total += 1 + varint::len(len as u64) + len;
        });
        total
    }

    /// Calls `f` with each entry's tag and value, in encoding order.
    fn visit(&self, mut f: impl FnMut(u8, Value<'_>)) {
        fn text(s: &Option<String>) -> Option<&[u8]> {
            s.as_deref().map(str::as_bytes)
        }
        if let Some(service) = text(&self.service) {
            f(tag::SERVICE, Value::Bytes(service));
        }
        if let Some(method) = text(&self.method) {
            f(tag::METHOD, Value::Bytes(method));
        }
        if let Some(timeout) = self.timeout {
            let micros = u64::try_from(timeout.as_micros()).unwrap_or(u64::MAX);
            f(tag::TIMEOUT, Value::Varint(micros));
        }
        for (tag, pairs) in [(tag::HEADER, &self.headers), (tag::TRAILER, &self.trailers)] {
            for (key, value) in pairs {
                f(tag, Value::Pair(key.as_bytes(), value));
            }
        }
        if let Some(message) = text(&self.status_message) {
            f(tag::STATUS_MESSAGE, Value::Bytes(message));
        }
        if let Some(details) = &self.status_details {
            f(tag::STATUS_DETAILS, Value::Bytes(details));
        }
        if let Some(encoding) = text(&self.encoding) {
            f(tag::ENCODING, Value::Bytes(encoding));
        }
        if let Some(implementation) = text(&self.implementation) {
            f(tag::IMPLEMENTATION, Value::Bytes(implementation));
        }
        if let Some(accept) = text(&self.accept_encoding) {
            f(tag::ACCEPT_ENCODING, Value::Bytes(accept));
        }
        for &(id, value) in &self.settings {
            f(tag::SETTING, Value::Setting(id, value));
        }
        if let Some(agent) = text(&self.agent) {
            f(tag::AGENT, Value::Bytes(agent));
        }
    }

    /// The encoded section as [`Bytes`], for [`Frame::meta`](super::Frame::meta).
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = Vec::with_capacity(self.encoded_len());
        self.encode(&mut dst);
        Bytes::from(dst)
    }
}

/// One entry's value, as `Meta::visit` hands it out.
#[derive(Clone, Copy)]
enum Value<'a> {
    Bytes(&'a [u8]),
    /// A varint (the timeout).
    Varint(u64),
    /// A header or trailer: the key's length, the key, the value.
    Pair(&'a [u8], &'a [u8]),
    /// A setting: its id byte, then its value as a varint.
    Setting(u8, u64),
}

impl Value<'_> {
    /// The value's encoded length.
    fn len(self) -> usize {
        match self {
            Value::Bytes(value) => value.len(),
            Value::Varint(value) => varint::len(value),
            Value::Pair(key, value) => varint::len(key.len() as u64) + key.len() + value.len(),
            Value::Setting(_, value) => 1 + varint::len(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn full() -> Meta {
        Meta {
            service: Some("aihub.ChatHub".into()),
            method: Some("Chat".into()),
            timeout: Some(Duration::from_micros(1_500_000)),
            headers: vec![
                ("x-user".into(), Bytes::from_static(b"ann")),
                ("trace-bin".into(), Bytes::from_static(b"\x00\xff")),
                ("x-user".into(), Bytes::from_static(b"bob")),
            ],
            trailers: vec![("x-cost".into(), Bytes::from_static(b"3"))],
            status_message: Some("ünïcode ok".into()),
            status_details: Some(Bytes::from_static(b"\x08\x03")),
            encoding: Some("gzip".into()),
            implementation: Some("demo2".into()),
            accept_encoding: Some("gzip,zstd".into()),
            settings: vec![(Setting::MAX_BODY, 4 << 20), (99, 1)],
            agent: Some("ferry/0.1.0".into()),
        }
    }

    #[test]
    fn a_leading_timeout_splits_off() {
        let timeout = Meta {
            timeout: Some(Duration::from_millis(1_500)),
            ..Meta::default()
        };
        let rest = Meta {
            service: Some("a.S".into()),
            method: Some("M".into()),
            ..Meta::default()
        };
        let mut section = timeout.to_bytes().to_vec();
        section.extend_from_slice(&rest.to_bytes());
        let (t, tail) = Meta::split_leading_timeout(&section).unwrap();
        assert_eq!(t, Duration::from_millis(1_500));
        assert_eq!(tail, &rest.to_bytes()[..]);
        // Not first, or not well formed: no split.
        assert_eq!(Meta::split_leading_timeout(&rest.to_bytes()), None);
        assert_eq!(Meta::split_leading_timeout(&section[..2]), None);
        assert_eq!(
            Meta::split_leading_timeout(&[tag::TIMEOUT, 2, 0x80, 0x80]),
            None
        );
        assert_eq!(Meta::split_leading_timeout(&[]), None);
    }

    #[test]
    fn entries_are_laid_out_as_documented() {
        let meta = Meta {
            service: Some("a.B".into()),
            method: Some("C".into()),
            timeout: Some(Duration::from_micros(300)),
            headers: vec![("k".into(), Bytes::from_static(b"v"))],
            ..Meta::default()
        };
        assert_eq!(
            &meta.to_bytes()[..],
            b"\x01\x03a.B\x02\x01C\x03\x02\xac\x02\x04\x03\x01kv"
        );
    }

    #[test]
    fn unknown_optional_entries_are_skipped_and_critical_ones_refused() {
        let mut section = full().to_bytes().to_vec();
        section.extend_from_slice(b"\x7f\x02zz");
        assert_eq!(Meta::decode(&section), Ok(full()));
        section.extend_from_slice(b"\x80\x00");
        assert_eq!(
            Meta::decode(&section),
            Err(NativeError::UnknownCritical { tag: 128 })
        );
    }

    #[test]
    fn malformed_entries_are_refused() {
        let cases: [(&[u8], NativeError); 8] = [
            (b"\x01\x05ab", NativeError::TruncatedEntry { tag: 1 }),
            (b"\x01", NativeError::BadVarint),
            (b"\x02\x01\xff", NativeError::InvalidUtf8 { tag: 2 }),
            (
                b"\x01\x01a\x01\x01b",
                NativeError::MalformedEntry { tag: 1 },
            ),
            (b"\x03\x02\x01\x01", NativeError::MalformedEntry { tag: 3 }),
            (b"\x04\x02\x05a", NativeError::MalformedEntry { tag: 4 }),
            (b"\x04\x01\x00", NativeError::MalformedEntry { tag: 4 }),
            (b"\x10\x00", NativeError::MalformedEntry { tag: 16 }),
        ];
        for (section, expected) in cases {
            assert_eq!(Meta::decode(section), Err(expected.clone()), "{section:?}");
            assert!(!expected.is_connection_error());
        }
    }

    #[test]
    fn settings_read_back_last_value_wins() {
        let meta = Meta {
            settings: vec![(Setting::INITIAL_CREDIT, 1), (Setting::INITIAL_CREDIT, 2)],
            ..Meta::default()
        };
        let back = Meta::decode(&meta.to_bytes()).unwrap();
        assert_eq!(back.setting(Setting::INITIAL_CREDIT), Some(2));
        assert_eq!(back.setting(Setting::MAX_CALLS), None);
    }

    proptest! {
        #[test]
        fn round_trips(
            service in proptest::option::of(".{0,20}"),
            method in proptest::option::of("[A-Za-z]{1,12}"),
            micros in proptest::option::of(any::<u64>()),
            headers in proptest::collection::vec(("[a-z-]{1,10}", proptest::collection::vec(any::<u8>(), 0..20)), 0..5),
            settings in proptest::collection::vec((any::<u8>(), any::<u64>()), 0..4),
            details in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..30)),
        ) {
            let meta = Meta {
                service,
                method,
                timeout: micros.map(Duration::from_micros),
                headers: headers.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect(),
                status_details: details.map(Bytes::from),
                settings,
                ..Meta::default()
            };
            let bytes = meta.to_bytes();
            prop_assert_eq!(bytes.len(), meta.encoded_len());
            prop_assert_eq!(Meta::decode(&bytes), Ok(meta));
        }

        #[test]
        fn never_panics(section in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Meta::decode(&section);
        }
    }
}
