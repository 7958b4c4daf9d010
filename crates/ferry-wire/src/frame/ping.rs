//! PING frames (RFC 9113 §6.7).
//!
//! ```text
//! +---------------------------------------------------------------+
//! |                      Opaque Data (64)                         |
//! +---------------------------------------------------------------+
//! ```
//!
//! How many PINGs are too many (the ping flood) is the connection's call.

use bytes::BytesMut;

use super::{
    FrameError, FrameHeader, HEADER_LEN, fixed_frame, flag, kind, require_connection, wire_len,
};
use crate::StreamId;

/// Length of the payload.
const LEN: usize = 8;

/// A PING frame, or its acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping {
    /// ACK: this answers the peer's PING with the same payload.
    pub ack: bool,
    /// The opaque data, echoed back in the ACK.
    pub payload: [u8; 8],
}

impl Ping {
    /// A PING to send.
    pub fn new(payload: [u8; 8]) -> Ping {
        Ping {
            ack: false,
            payload,
        }
    }

    /// The acknowledgement of a PING carrying `payload`.
    pub fn ack(payload: [u8; 8]) -> Ping {
        Ping { ack: true, payload }
    }

    /// The number of bytes [`Ping::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + LEN
    }

    /// Writes the frame on stream 0.
    pub fn encode(&self, dst: &mut BytesMut) {
        let flags = if self.ack { flag::ACK } else { 0 };
        let frame: [u8; HEADER_LEN + LEN] =
            fixed_frame(kind::PING, flags, StreamId::ZERO, &self.payload);
        dst.extend_from_slice(&frame);
    }

    pub(super) fn decode(head: &FrameHeader, payload: &[u8]) -> Result<Ping, FrameError> {
        require_connection(head)?;
        let Ok(payload) = <[u8; LEN]>::try_from(payload) else {
            return Err(FrameError::InvalidLength {
                kind: head.kind,
                length: wire_len(payload.len()),
            });
        };
        Ok(Ping {
            ack: head.flags & flag::ACK != 0,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reason;
    use crate::frame::Frame;
    use bytes::Bytes;

    fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        let head = FrameHeader::decode(bytes[..9].try_into().unwrap());
        Frame::decode(head, Bytes::copy_from_slice(&bytes[9..]))
    }

    #[test]
    fn encode_exact_bytes() {
        let mut dst = BytesMut::new();
        Ping::new(*b"abcdefgh").encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x08\x06\x00\0\0\0\0abcdefgh");
        let mut dst = BytesMut::new();
        Ping::ack(*b"abcdefgh").encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x08\x06\x01\0\0\0\0abcdefgh");
        assert_eq!(decode(&dst), Ok(Frame::Ping(Ping::ack(*b"abcdefgh"))));
    }

    #[test]
    fn decode_ignores_unknown_flags() {
        assert_eq!(
            decode(b"\0\0\x08\x06\xfe\0\0\0\0abcdefgh"),
            Ok(Frame::Ping(Ping::new(*b"abcdefgh")))
        );
    }

    #[test]
    fn errors() {
        let err = decode(b"\0\0\x08\x06\x00\0\0\0\x01abcdefgh").unwrap_err();
        assert_eq!(
            err,
            FrameError::UnexpectedStreamId {
                kind: kind::PING,
                stream_id: StreamId::new(1)
            }
        );
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert!(err.is_connection_error());

        for bytes in [
            &b"\0\0\x07\x06\x00\0\0\0\0abcdefg"[..],
            b"\0\0\x09\x06\x00\0\0\0\0abcdefghi",
            b"\0\0\0\x06\x00\0\0\0\0",
        ] {
            let err = decode(bytes).unwrap_err();
            assert_eq!(
                err,
                FrameError::InvalidLength {
                    kind: kind::PING,
                    length: bytes.len() as u32 - 9
                }
            );
            assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
            assert!(err.is_connection_error());
        }
    }
}
