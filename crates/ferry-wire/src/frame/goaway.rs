//! GOAWAY frames (RFC 9113 §6.8).
//!
//! ```text
//! +-+-------------------------------------------------------------+
//! |R|                  Last-Stream-ID (31)                        |
//! +-+-------------------------------------------------------------+
//! |                      Error Code (32)                          |
//! +---------------------------------------------------------------+
//! |                  Additional Debug Data (*)                    |
//! +---------------------------------------------------------------+
//! ```

use bytes::{Buf, Bytes, BytesMut};

use super::{
    FrameError, FrameHeader, HEADER_LEN, encode_head, kind, read_u32, require_connection, wire_len,
};
use crate::{Reason, StreamId};

/// Length of the fixed part of the payload.
const FIXED_LEN: usize = 8;

/// A GOAWAY frame: the sender stops accepting new streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoAway {
    /// The highest stream the sender may have processed (reserved bit
    /// cleared); streams above it can be retried elsewhere.
    pub last_stream_id: StreamId,
    /// Why the connection is closing.
    pub reason: Reason,
    /// Opaque diagnostic bytes. On decode, a slice of the received payload;
    /// never interpret it as trusted text.
    pub debug_data: Bytes,
}

impl GoAway {
    /// A GOAWAY frame.
    pub fn new(last_stream_id: StreamId, reason: Reason, debug_data: Bytes) -> GoAway {
        GoAway {
            last_stream_id,
            reason,
            debug_data,
        }
    }

    /// The number of bytes [`GoAway::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + FIXED_LEN + self.debug_data.len()
    }

    /// Writes the frame on stream 0 (no flags are defined).
    pub fn encode(&self, dst: &mut BytesMut) {
        encode_head(
            kind::GOAWAY,
            0,
            StreamId::ZERO,
            FIXED_LEN + self.debug_data.len(),
            dst,
        );
        let [l0, l1, l2, l3] = self.last_stream_id.as_u32().to_be_bytes();
        let [c0, c1, c2, c3] = self.reason.as_u32().to_be_bytes();
        dst.extend_from_slice(&[l0, l1, l2, l3, c0, c1, c2, c3]);
        dst.extend_from_slice(&self.debug_data);
    }

    pub(super) fn decode(head: &FrameHeader, mut payload: Bytes) -> Result<GoAway, FrameError> {
        require_connection(head)?;
        let (Some(last), Some(code)) = (read_u32(&payload), payload.get(4..).and_then(read_u32))
        else {
            return Err(FrameError::InvalidLength {
                kind: head.kind,
                length: wire_len(payload.len()),
            });
        };
        payload.advance(FIXED_LEN);
        Ok(GoAway {
            last_stream_id: StreamId::new(last),
            reason: Reason::from_u32(code),
            debug_data: payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;

    fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        let head = FrameHeader::decode(bytes[..9].try_into().unwrap());
        Frame::decode(head, Bytes::copy_from_slice(&bytes[9..]))
    }

    #[test]
    fn encode_exact_bytes() {
        let f = GoAway::new(
            StreamId::new(7),
            Reason::ENHANCE_YOUR_CALM,
            Bytes::from_static(b"calm"),
        );
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(
            &dst[..],
            b"\0\0\x0c\x07\x00\0\0\0\0\0\0\0\x07\0\0\0\x0bcalm"
        );
        assert_eq!(f.encoded_len(), dst.len());
        assert_eq!(decode(&dst), Ok(Frame::GoAway(f)));
    }

    #[test]
    fn reserved_bit_cleared_and_flags_ignored() {
        assert_eq!(
            decode(b"\0\0\x08\x07\xff\0\0\0\0\xff\xff\xff\xff\0\0\0\x00"),
            Ok(Frame::GoAway(GoAway::new(
                StreamId::MAX,
                Reason::NO_ERROR,
                Bytes::new()
            )))
        );
    }

    #[test]
    fn errors() {
        let err = decode(b"\0\0\x08\x07\x00\0\0\0\x03\0\0\0\0\0\0\0\0").unwrap_err();
        assert_eq!(
            err,
            FrameError::UnexpectedStreamId {
                kind: kind::GOAWAY,
                stream_id: StreamId::new(3)
            }
        );
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert!(err.is_connection_error());

        for len in [0usize, 4, 7] {
            let mut bytes = vec![0, 0, len as u8, kind::GOAWAY, 0, 0, 0, 0, 0];
            bytes.resize(9 + len, 0);
            let err = decode(&bytes).unwrap_err();
            assert_eq!(
                err,
                FrameError::InvalidLength {
                    kind: kind::GOAWAY,
                    length: len as u32
                }
            );
            assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
            assert!(err.is_connection_error());
        }
    }
}
