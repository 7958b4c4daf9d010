//! RST_STREAM frames (RFC 9113 §6.4).
//!
//! ```text
//! +---------------------------------------------------------------+
//! |                        Error Code (32)                        |
//! +---------------------------------------------------------------+
//! ```

use bytes::BytesMut;

use super::{
    FrameError, FrameHeader, HEADER_LEN, fixed_frame, kind, read_u32, require_stream, wire_len,
};
use crate::{Reason, StreamId};

/// Length of the payload.
const LEN: usize = 4;

/// A RST_STREAM frame: ends one stream at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RstStream {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// Why; codes the RFC does not define are kept as they are.
    pub reason: Reason,
}

impl RstStream {
    /// A RST_STREAM frame.
    pub fn new(stream_id: StreamId, reason: Reason) -> RstStream {
        RstStream { stream_id, reason }
    }

    /// The number of bytes [`RstStream::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + LEN
    }

    /// Writes the frame (no flags are defined).
    pub fn encode(&self, dst: &mut BytesMut) {
        let frame: [u8; HEADER_LEN + LEN] = fixed_frame(
            kind::RST_STREAM,
            0,
            self.stream_id,
            &self.reason.as_u32().to_be_bytes(),
        );
        dst.extend_from_slice(&frame);
    }

    pub(super) fn decode(head: &FrameHeader, payload: &[u8]) -> Result<RstStream, FrameError> {
        require_stream(head)?;
        match read_u32(payload) {
            Some(code) if payload.len() == LEN => Ok(RstStream {
                stream_id: head.stream_id,
                reason: Reason::from_u32(code),
            }),
            _ => Err(FrameError::InvalidLength {
                kind: head.kind,
                length: wire_len(payload.len()),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use bytes::Bytes;

    fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        let head = FrameHeader::decode(bytes[..9].try_into().unwrap());
        Frame::decode(head, Bytes::copy_from_slice(&bytes[9..]))
    }

    #[test]
    fn encode_exact_bytes() {
        let f = RstStream::new(StreamId::new(1), Reason::CANCEL);
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x04\x03\x00\0\0\0\x01\0\0\0\x08");
        assert_eq!(decode(&dst), Ok(Frame::RstStream(f)));
    }

    #[test]
    fn unknown_code_and_flags_kept_or_ignored() {
        assert_eq!(
            decode(b"\0\0\x04\x03\xff\0\0\0\x03\xde\xad\xbe\xef"),
            Ok(Frame::RstStream(RstStream::new(
                StreamId::new(3),
                Reason::from_u32(0xdead_beef)
            )))
        );
    }

    #[test]
    fn errors() {
        let err = decode(b"\0\0\x04\x03\0\0\0\0\0\0\0\0\x08").unwrap_err();
        assert_eq!(
            err,
            FrameError::MissingStreamId {
                kind: kind::RST_STREAM
            }
        );
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert!(err.is_connection_error());

        for bytes in [
            &b"\0\0\x03\x03\0\0\0\0\x01\0\0\x08"[..],
            b"\0\0\x05\x03\0\0\0\0\x01\0\0\0\x08\0",
        ] {
            let err = decode(bytes).unwrap_err();
            assert_eq!(
                err,
                FrameError::InvalidLength {
                    kind: kind::RST_STREAM,
                    length: bytes.len() as u32 - 9
                }
            );
            assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
            assert!(err.is_connection_error());
        }
    }
}
