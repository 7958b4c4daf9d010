//! Frames of a type this module does not know (RFC 9113 §4.1, §5.5).
//!
//! They must be ignored, so only their header is kept. Extension types Ferry
//! does not implement (ALTSVC, ORIGIN, PRIORITY_UPDATE...) land here too.

use bytes::{BufMut, BytesMut};

use super::{FrameHeader, HEADER_LEN, wire_len};
use crate::StreamId;

/// The header of a frame of unknown type; its payload was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unknown {
    /// The raw frame type.
    pub kind: u8,
    /// The raw flag byte (no flag of an unknown type has a known meaning).
    pub flags: u8,
    /// The stream named by the header (any value is allowed).
    pub stream_id: StreamId,
    /// The payload length.
    pub length: u32,
}

impl Unknown {
    /// The number of bytes [`Unknown::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }

    fn payload_len(&self) -> usize {
        // A 24-bit length always fits in usize.
        (self.length & 0x00ff_ffff) as usize
    }

    /// Writes the header followed by `length` zero bytes, since the payload
    /// was not kept: a well-framed frame that decodes to the same value. Only
    /// useful to test that a peer ignores unknown types (only the low 24 bits
    /// of `length` fit in a header).
    pub fn encode(&self, dst: &mut BytesMut) {
        let len = self.payload_len();
        dst.reserve(HEADER_LEN + len);
        FrameHeader {
            length: wire_len(len),
            kind: self.kind,
            flags: self.flags,
            stream_id: self.stream_id,
        }
        .encode(dst);
        dst.put_bytes(0, len);
    }

    pub(super) fn decode(head: &FrameHeader, payload: &[u8]) -> Unknown {
        Unknown {
            kind: head.kind,
            flags: head.flags,
            stream_id: head.stream_id,
            length: wire_len(payload.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use bytes::Bytes;

    #[test]
    fn unknown_types_are_never_an_error() {
        for kind in 0x0a..=0xff {
            let head = FrameHeader {
                length: 3,
                kind,
                flags: 0xff,
                stream_id: StreamId::new(0x8000_0005),
            };
            assert_eq!(
                Frame::decode(head, Bytes::from_static(b"xyz")),
                Ok(Frame::Unknown(Unknown {
                    kind,
                    flags: 0xff,
                    stream_id: StreamId::new(5),
                    length: 3
                }))
            );
        }
    }

    #[test]
    fn encode_zero_fills_the_payload() {
        let f = Unknown {
            kind: 0xbb,
            flags: 0x42,
            stream_id: StreamId::ZERO,
            length: 2,
        };
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x02\xbb\x42\0\0\0\0\0\0");
        assert_eq!(f.encoded_len(), dst.len());
    }
}
