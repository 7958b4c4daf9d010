//! The 9-byte frame header (RFC 9113 §4.1).

use bytes::BytesMut;

use super::HEADER_LEN;
use crate::StreamId;

/// The fixed header in front of every frame.
///
/// ```text
/// +-----------------------------------------------+
/// |                 Length (24)                   |
/// +---------------+---------------+---------------+
/// |   Type (8)    |   Flags (8)   |
/// +-+-------------+---------------+-------------------------------+
/// |R|                 Stream Identifier (31)                      |
/// +-+-------------------------------------------------------------+
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length in bytes (24 bits on the wire).
    pub length: u32,
    /// Raw frame type (see [`super::kind`]).
    pub kind: u8,
    /// Raw flag byte, including bits the type does not define.
    pub flags: u8,
    /// The stream, with the reserved bit cleared.
    pub stream_id: StreamId,
}

impl FrameHeader {
    /// Parses a header. Cannot fail: every 9-byte string is a header, and
    /// whether its length, type and stream are acceptable is decided later.
    /// The reserved bit is cleared, as §4.1 requires of receivers.
    pub fn decode(src: &[u8; HEADER_LEN]) -> FrameHeader {
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = *src;
        FrameHeader {
            length: u32::from_be_bytes([0, l0, l1, l2]),
            kind,
            flags,
            stream_id: StreamId::new(u32::from_be_bytes([s0, s1, s2, s3])),
        }
    }

    /// The header's wire bytes. Only the low 24 bits of `length` fit; the
    /// reserved bit is always sent as 0.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let [_, l0, l1, l2] = self.length.to_be_bytes();
        let [s0, s1, s2, s3] = self.stream_id.as_u32().to_be_bytes();
        [l0, l1, l2, self.kind, self.flags, s0, s1, s2, s3]
    }

    /// Appends the header's 9 bytes to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.extend_from_slice(&self.to_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_clears_reserved_bit() {
        let h = FrameHeader::decode(&[0x01, 0x02, 0x03, 0x08, 0xff, 0x80, 0, 0, 0x05]);
        assert_eq!(
            h,
            FrameHeader {
                length: 0x01_0203,
                kind: 8,
                flags: 0xff,
                stream_id: StreamId::new(5),
            }
        );
        assert_eq!(h.stream_id.as_u32(), 5);
    }

    #[test]
    fn encode_exact_bytes() {
        let h = FrameHeader {
            length: 16_777_215,
            kind: 1,
            flags: 0x25,
            stream_id: StreamId::MAX,
        };
        let mut dst = BytesMut::new();
        h.encode(&mut dst);
        assert_eq!(
            &dst[..],
            &[0xff, 0xff, 0xff, 0x01, 0x25, 0x7f, 0xff, 0xff, 0xff]
        );
        assert_eq!(FrameHeader::decode(&h.to_bytes()), h);
    }
}
