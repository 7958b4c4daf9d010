//! The fixed header, frames, and the incremental frame decoder.

use std::fmt;
use std::ops::BitOr;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{Meta, NativeError};

/// The first two bytes of every frame.
pub const MAGIC: [u8; 2] = [0xFE, 0x52];
/// The version this crate speaks.
pub const VERSION: u8 = 1;
/// The length of version 1's fixed header.
pub const HEADER_LEN: usize = 24;
/// The default limit on a frame's metadata section.
pub const DEFAULT_MAX_META: u32 = 16 * 1024;
/// The default limit on a frame's body (and so on one message).
pub const DEFAULT_MAX_BODY: u32 = 4 * 1024 * 1024;

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Settings, first frame of each side.
    Hello,
    /// Opens a call or carries a request message.
    Request,
    /// A response message, or the end of a call.
    Response,
    /// The client gave up on a call.
    Cancel,
    /// More credit for a call.
    Credit,
    /// A liveness probe or its reply.
    Heartbeat,
    /// No more new calls; the last id processed.
    Goaway,
    /// A kind this version does not know: skipped whole.
    Unknown(u8),
}

impl Kind {
    /// The kind of a kind byte.
    pub fn from_u8(byte: u8) -> Kind {
        match byte {
            0 => Kind::Hello,
            1 => Kind::Request,
            2 => Kind::Response,
            3 => Kind::Cancel,
            4 => Kind::Credit,
            5 => Kind::Heartbeat,
            6 => Kind::Goaway,
            other => Kind::Unknown(other),
        }
    }

    /// The kind byte.
    pub fn as_u8(self) -> u8 {
        match self {
            Kind::Hello => 0,
            Kind::Request => 1,
            Kind::Response => 2,
            Kind::Cancel => 3,
            Kind::Credit => 4,
            Kind::Heartbeat => 5,
            Kind::Goaway => 6,
            Kind::Unknown(other) => other,
        }
    }
}

/// The flag bits. Unknown bits are kept as they came, and ignored.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    /// The sender's last frame of the call.
    pub const END_STREAM: Flags = Flags(0x01);
    /// The client wants no response.
    pub const ONE_WAY: Flags = Flags(0x02);
    /// The status came from the framework, not the handler.
    pub const FRAMEWORK_ERROR: Flags = Flags(0x04);
    /// The body is compressed with the call's encoding.
    pub const COMPRESSED: Flags = Flags(0x08);
    /// A heartbeat that answers one.
    pub const REPLY: Flags = Flags(0x10);
    /// First step of a graceful shutdown.
    pub const DRAINING: Flags = Flags(0x20);
    /// The frame carries one message (its body, possibly empty).
    pub const MESSAGE: Flags = Flags(0x40);
    /// The server did not start the call: safe to retry.
    pub const REFUSED: Flags = Flags(0x80);

    /// No flags.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// Flags from their byte, unknown bits included.
    pub const fn from_bits(bits: u8) -> Flags {
        Flags(bits)
    }

    /// The byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Flags {
    type Output = Flags;

    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(Flags, &str); 8] = [
            (Flags::END_STREAM, "END_STREAM"),
            (Flags::ONE_WAY, "ONE_WAY"),
            (Flags::FRAMEWORK_ERROR, "FRAMEWORK_ERROR"),
            (Flags::COMPRESSED, "COMPRESSED"),
            (Flags::REPLY, "REPLY"),
            (Flags::DRAINING, "DRAINING"),
            (Flags::MESSAGE, "MESSAGE"),
            (Flags::REFUSED, "REFUSED"),
        ];
        let mut list = f.debug_set();
        let mut known = 0;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                list.entry(&format_args!("{name}"));
            }
            known |= flag.0;
        }
        if self.0 & !known != 0 {
            list.entry(&format_args!("{:#04x}", self.0 & !known));
        }
        list.finish()
    }
}

/// How a body is serialized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Serialization {
    /// Protocol buffers.
    Protobuf,
    /// JSON (the protobuf JSON mapping).
    Json,
    /// Bytes the application interprets itself.
    Raw,
    /// A value this version does not know.
    Unknown(u8),
}

impl Serialization {
    /// The serialization of its byte.
    pub fn from_u8(byte: u8) -> Serialization {
        match byte {
            0 => Serialization::Protobuf,
            1 => Serialization::Json,
            2 => Serialization::Raw,
            other => Serialization::Unknown(other),
        }
    }

    /// The byte.
    pub fn as_u8(self) -> u8 {
        match self {
            Serialization::Protobuf => 0,
            Serialization::Json => 1,
            Serialization::Raw => 2,
            Serialization::Unknown(other) => other,
        }
    }
}

/// One frame: the fixed header's fields, the raw metadata section (parse
/// it with [`Meta::decode`](super::Meta::decode)) and the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The version byte the frame came with (or goes out with).
    pub version: u8,
    /// What the frame is.
    pub kind: Kind,
    /// Flag bits.
    pub flags: Flags,
    /// How the body is serialized.
    pub serialization: Serialization,
    /// A gRPC status code on a frame that ends a response.
    pub status: u8,
    /// The call id (0 for connection frames).
    pub id: u64,
    /// The metadata section, undecoded.
    pub meta: Bytes,
    /// The body.
    pub body: Bytes,
}

impl Frame {
    /// A version-1 protobuf frame with no flags, metadata or body.
    pub fn new(kind: Kind, id: u64) -> Frame {
        Frame {
            version: VERSION,
            kind,
            flags: Flags::empty(),
            serialization: Serialization::Protobuf,
            status: 0,
            id,
            meta: Bytes::new(),
            body: Bytes::new(),
        }
    }

    /// A CREDIT frame granting `increment` more bytes on call `id`.
    pub fn credit(id: u64, increment: u32) -> Frame {
        Frame {
            body: Bytes::copy_from_slice(&increment.to_be_bytes()),
            ..Frame::new(Kind::Credit, id)
        }
    }

    /// A GOAWAY frame: `last_id` is the last call processed; `draining`
    /// marks the first of the two steps.
    pub fn goaway(last_id: u64, draining: bool) -> Frame {
        Frame {
            flags: if draining {
                Flags::DRAINING
            } else {
                Flags::empty()
            },
            body: Bytes::copy_from_slice(&last_id.to_be_bytes()),
            ..Frame::new(Kind::Goaway, 0)
        }
    }

    /// A HEARTBEAT, or its reply.
    pub fn heartbeat(id: u64, reply: bool) -> Frame {
        Frame {
            flags: if reply { Flags::REPLY } else { Flags::empty() },
            ..Frame::new(Kind::Heartbeat, id)
        }
    }

    /// The increment of a CREDIT frame (the decoder has checked its shape).
    pub fn credit_increment(&self) -> Result<u32, NativeError> {
        match <[u8; 4]>::try_from(self.body.as_ref()) {
            Ok(bytes) if self.kind == Kind::Credit && u32::from_be_bytes(bytes) > 0 => {
                Ok(u32::from_be_bytes(bytes))
            }
            _ => Err(NativeError::MalformedBody {
                kind: self.kind.as_u8(),
            }),
        }
    }

    /// The last id of a GOAWAY frame (the decoder has checked its shape).
    pub fn goaway_last_id(&self) -> Result<u64, NativeError> {
        match <[u8; 8]>::try_from(self.body.as_ref()) {
            Ok(bytes) if self.kind == Kind::Goaway => Ok(u64::from_be_bytes(bytes)),
            _ => Err(NativeError::MalformedBody {
                kind: self.kind.as_u8(),
            }),
        }
    }

    /// Whether a flag is set.
    pub fn has(&self, flag: Flags) -> bool {
        self.flags.contains(flag)
    }

    /// Bytes on the wire.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.meta.len() + self.body.len()
    }

    /// Writes the 24-byte fixed header only, for a writer that sends the
    /// metadata and body from their own buffers (vectored writes).
    ///
    /// A section of 4 GiB or more is announced as `u32::MAX` bytes, which
    /// every receiver's limit refuses: senders check a message against the
    /// peer's `max_body` before framing it.
    pub fn encode_header(&self, dst: &mut impl BufMut) {
        self.encode_header_with(self.meta.len(), dst);
    }

    /// The fixed header announcing a metadata section of `meta_len` bytes.
    fn encode_header_with(&self, meta_len: usize, dst: &mut impl BufMut) {
        let meta_len = u32::try_from(meta_len).unwrap_or(u32::MAX);
        let body_len = u32::try_from(self.body.len()).unwrap_or(u32::MAX);
        // Built on the stack and written once: a `put` per field costs a
        // capacity check each.
        let mut header = [0u8; HEADER_LEN];
        header[..2].copy_from_slice(&MAGIC);
        header[2] = VERSION;
        header[3] = HEADER_LEN as u8;
        header[4] = self.kind.as_u8();
        header[5] = self.flags.bits();
        header[6] = self.serialization.as_u8();
        header[7] = self.status;
        header[8..16].copy_from_slice(&self.id.to_be_bytes());
        header[16..20].copy_from_slice(&meta_len.to_be_bytes());
        header[20..24].copy_from_slice(&body_len.to_be_bytes());
        dst.put_slice(&header);
    }

    /// Writes the whole frame.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        self.encode_header(dst);
        dst.put_slice(&self.meta);
        dst.put_slice(&self.body);
    }

    /// Writes the whole frame with `meta` as its metadata section (in place
    /// of [`meta`](Frame::meta), which should be empty), encoding it
    /// straight into `dst`: the same bytes as `Frame { meta:
    /// meta.to_bytes(), .. }.encode(dst)` without the section's own buffer.
    pub fn encode_with_meta(&self, meta: &Meta, dst: &mut BytesMut) {
        let meta_len = meta.encoded_len() + self.meta.len();
        dst.reserve(HEADER_LEN + meta_len + self.body.len());
        self.encode_header_with(meta_len, dst);
        meta.encode(dst);
        dst.put_slice(&self.meta);
        dst.put_slice(&self.body);
    }
}

/// Cuts whole frames off the front of a receive buffer.
#[derive(Clone, Copy, Debug)]
pub struct FrameDecoder {
    max_meta: u32,
    max_body: u32,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new()
    }
}

impl FrameDecoder {
    /// A decoder with the default limits (16 KiB metadata, 4 MiB body).
    pub fn new() -> FrameDecoder {
        FrameDecoder::with_limits(DEFAULT_MAX_META, DEFAULT_MAX_BODY)
    }

    /// A decoder with these limits.
    pub fn with_limits(max_meta: u32, max_body: u32) -> FrameDecoder {
        FrameDecoder { max_meta, max_body }
    }

    /// The body limit (what HELLO advertises as `max_body`).
    pub fn max_body(&self) -> u32 {
        self.max_body
    }

    /// The most bytes one frame can take under these limits, fixed header
    /// included: what a reader may have to buffer.
    pub fn max_frame_len(&self) -> usize {
        usize::from(u8::MAX) + self.max_meta as usize + self.max_body as usize
    }

    /// The next whole frame from the front of `src`, which loses its bytes;
    /// `Ok(None)` when more bytes are needed. An error leaves `src` as it
    /// was; every error here is a connection error.
    pub fn decode(&self, src: &mut BytesMut) -> Result<Option<Frame>, NativeError> {
        if let Some(magic) = src.get(..2)
            && magic != MAGIC
        {
            return Err(NativeError::BadMagic([magic[0], magic[1]]));
        }
        let Some(mut header) = src.get(..HEADER_LEN) else {
            return Ok(None);
        };
        header.advance(2);
        let version = header.get_u8();
        let header_len = header.get_u8();
        let kind = Kind::from_u8(header.get_u8());
        let flags = Flags::from_bits(header.get_u8());
        let serialization = Serialization::from_u8(header.get_u8());
        let status = header.get_u8();
        let id = header.get_u64();
        let meta_len = header.get_u32();
        let body_len = header.get_u32();
        if usize::from(header_len) < HEADER_LEN {
            return Err(NativeError::BadHeaderLength(header_len));
        }
        if meta_len > self.max_meta {
            return Err(NativeError::MetaTooLarge {
                len: meta_len,
                max: self.max_meta,
            });
        }
        if body_len > self.max_body {
            return Err(NativeError::BodyTooLarge {
                len: body_len,
                max: self.max_body,
            });
        }
        let body_ok = match kind {
            Kind::Credit => body_len == 4,
            Kind::Goaway => body_len == 8,
            _ => true,
        };
        if !body_ok {
            return Err(NativeError::MalformedBody { kind: kind.as_u8() });
        }
        let total = usize::from(header_len) + meta_len as usize + body_len as usize;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        let mut whole = src.split_to(total).freeze();
        whole.advance(usize::from(header_len));
        let meta = whole.split_to(meta_len as usize);
        let frame = Frame {
            version,
            kind,
            flags,
            serialization,
            status,
            id,
            meta,
            body: whole,
        };
        if kind == Kind::Credit && frame.credit_increment().is_err() {
            return Err(NativeError::MalformedBody { kind: kind.as_u8() });
        }
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, NativeError> {
        let decoder = FrameDecoder::new();
        let mut buf = BytesMut::from(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = decoder.decode(&mut buf)? {
            frames.push(frame);
        }
        assert!(buf.is_empty(), "{} bytes left over", buf.len());
        Ok(frames)
    }

    #[test]
    fn metadata_encoded_in_place_is_the_same_frame() {
        let meta = Meta {
            service: Some("bench.Bench".into()),
            method: Some("Unary".into()),
            timeout: Some(std::time::Duration::from_millis(250)),
            headers: vec![("x-user".into(), Bytes::from_static(b"ann"))],
            ..Meta::default()
        };
        let frame = Frame {
            flags: Flags::MESSAGE | Flags::END_STREAM,
            body: Bytes::from_static(b"hello"),
            ..Frame::new(Kind::Request, 7)
        };
        let mut in_place = BytesMut::new();
        frame.encode_with_meta(&meta, &mut in_place);
        let mut separate = BytesMut::new();
        Frame {
            meta: meta.to_bytes(),
            ..frame.clone()
        }
        .encode(&mut separate);
        assert_eq!(in_place, separate);
    }

    #[test]
    fn the_fixed_header_is_laid_out_as_documented() {
        let frame = Frame {
            flags: Flags::END_STREAM | Flags::COMPRESSED,
            status: 5,
            meta: Bytes::from_static(b"\x01\x01a"),
            body: Bytes::from_static(b"xy"),
            ..Frame::new(Kind::Response, 0x0102_0304_0506_0708)
        };
        let mut buf = BytesMut::new();
        frame.encode(&mut buf);
        assert_eq!(
            &buf[..],
            &[
                0xFE, 0x52, 1, 24, 2, 0x09, 0,
                5, // magic, version, hdr_len, kind, flags, serial, status
                1, 2, 3, 4, 5, 6, 7, 8, // call id
                0, 0, 0, 3, 0, 0, 0, 2, // meta_len, body_len
                1, 1, b'a', b'x', b'y',
            ][..]
        );
        assert_eq!(frame.encoded_len(), buf.len());
        assert_eq!(decode_all(&buf), Ok(vec![frame]));
    }

    #[test]
    fn frames_split_at_every_byte_decode_the_same() {
        let frames = vec![
            Frame::new(Kind::Hello, 0),
            Frame {
                meta: Bytes::from_static(b"\x02\x03Say"),
                body: Bytes::from_static(b"hello"),
                flags: Flags::END_STREAM,
                ..Frame::new(Kind::Request, 1)
            },
            Frame::credit(1, 65_536),
            Frame::heartbeat(9, true),
            Frame::goaway(7, true),
        ];
        let mut wire = BytesMut::new();
        for frame in &frames {
            frame.encode(&mut wire);
        }
        let decoder = FrameDecoder::new();
        for cut in 0..=wire.len() {
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for part in [&wire[..cut], &wire[cut..]] {
                buf.extend_from_slice(part);
                while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                    got.push(frame);
                }
            }
            assert_eq!(got, frames, "cut at {cut}");
        }
    }

    #[test]
    fn a_longer_header_is_skipped_and_unknown_kinds_and_flags_kept() {
        let mut wire = vec![0xFE, 0x52, 2, 28, 42, 0x41, 7, 0];
        wire.extend_from_slice(&3u64.to_be_bytes());
        wire.extend_from_slice(&0u32.to_be_bytes());
        wire.extend_from_slice(&1u32.to_be_bytes());
        wire.extend_from_slice(&[9, 9, 9, 9]); // a future fixed field
        wire.push(b'!');
        let frames = decode_all(&wire).unwrap();
        assert_eq!(frames[0].version, 2);
        assert_eq!(frames[0].kind, Kind::Unknown(42));
        assert!(frames[0].has(Flags::END_STREAM));
        assert_eq!(frames[0].flags.bits(), 0x41);
        assert_eq!(frames[0].serialization, Serialization::Unknown(7));
        assert_eq!(&frames[0].body[..], b"!");
    }

    #[test]
    fn limits_and_bad_headers_are_refused_before_buffering() {
        let decoder = FrameDecoder::with_limits(8, 16);
        let header = |hdr_len: u8, kind: u8, meta: u32, body: u32| {
            let mut h = vec![0xFE, 0x52, 1, hdr_len, kind, 0, 0, 0];
            h.extend_from_slice(&1u64.to_be_bytes());
            h.extend_from_slice(&meta.to_be_bytes());
            h.extend_from_slice(&body.to_be_bytes());
            BytesMut::from(&h[..])
        };
        let cases = [
            (
                header(24, 1, 9, 0),
                NativeError::MetaTooLarge { len: 9, max: 8 },
            ),
            (
                header(24, 1, 0, 17),
                NativeError::BodyTooLarge { len: 17, max: 16 },
            ),
            (header(23, 1, 0, 0), NativeError::BadHeaderLength(23)),
            (header(24, 4, 0, 3), NativeError::MalformedBody { kind: 4 }),
            (header(24, 6, 0, 4), NativeError::MalformedBody { kind: 6 }),
            (
                BytesMut::from(&b"PRI * HTTP/2.0"[..]),
                NativeError::BadMagic(*b"PR"),
            ),
        ];
        for (mut buf, expected) in cases {
            let before = buf.clone();
            assert_eq!(decoder.decode(&mut buf), Err(expected.clone()));
            assert!(expected.is_connection_error());
            assert_eq!(buf, before, "an error consumes nothing");
        }
        // A zero credit increment is malformed too.
        let mut zero = BytesMut::new();
        Frame::credit(1, 0).encode(&mut zero);
        assert_eq!(
            decoder.decode(&mut zero),
            Err(NativeError::MalformedBody { kind: 4 })
        );
        // The magic is checked from the second byte on.
        assert_eq!(
            decoder.decode(&mut BytesMut::from(&b"\x16\x03"[..])),
            Err(NativeError::BadMagic([0x16, 0x03]))
        );
        assert_eq!(decoder.decode(&mut BytesMut::from(&b"\xFE"[..])), Ok(None));
    }

    #[test]
    fn control_frame_bodies_read_back() {
        assert_eq!(Frame::credit(3, 77).credit_increment(), Ok(77));
        assert_eq!(
            Frame::goaway(u64::MAX, false).goaway_last_id(),
            Ok(u64::MAX)
        );
        assert!(Frame::goaway(1, true).has(Flags::DRAINING));
        assert!(Frame::new(Kind::Request, 1).credit_increment().is_err());
        assert_eq!(
            format!("{:?}", Flags::from_bits(0x41)),
            "{END_STREAM, MESSAGE}"
        );
    }
}
