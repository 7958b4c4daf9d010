//! CONTINUATION frames (RFC 9113 §6.10).
//!
//! ```text
//! +---------------------------------------------------------------+
//! |                   Field Block Fragment (*)                  ...
//! +---------------------------------------------------------------+
//! ```
//!
//! Whether a CONTINUATION may arrive at all (right after HEADERS,
//! PUSH_PROMISE or CONTINUATION without END_HEADERS, on the same stream) and
//! how many are too many (the CONTINUATION flood) is the connection's call.

use bytes::{Bytes, BytesMut};

use super::{FrameError, FrameHeader, HEADER_LEN, encode_head, flag, kind, require_stream};
use crate::StreamId;

/// A CONTINUATION frame: the next piece of a header block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Continuation {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// This frame's piece of the header block. On decode, the received
    /// payload itself.
    pub fragment: Bytes,
    /// END_HEADERS: the block is complete.
    pub end_headers: bool,
}

impl Continuation {
    /// A CONTINUATION frame.
    pub fn new(stream_id: StreamId, fragment: Bytes, end_headers: bool) -> Continuation {
        Continuation {
            stream_id,
            fragment,
            end_headers,
        }
    }

    /// The number of bytes [`Continuation::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.fragment.len()
    }

    /// Writes the frame.
    pub fn encode(&self, dst: &mut BytesMut) {
        let flags = if self.end_headers {
            flag::END_HEADERS
        } else {
            0
        };
        encode_head(
            kind::CONTINUATION,
            flags,
            self.stream_id,
            self.fragment.len(),
            dst,
        );
        dst.extend_from_slice(&self.fragment);
    }

    pub(super) fn decode(head: &FrameHeader, payload: Bytes) -> Result<Continuation, FrameError> {
        require_stream(head)?;
        Ok(Continuation {
            stream_id: head.stream_id,
            fragment: payload,
            end_headers: head.flags & flag::END_HEADERS != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reason;
    use crate::frame::Frame;

    fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        let head = FrameHeader::decode(bytes[..9].try_into().unwrap());
        Frame::decode(head, Bytes::copy_from_slice(&bytes[9..]))
    }

    #[test]
    fn encode_exact_bytes() {
        let f = Continuation::new(StreamId::new(5), Bytes::from_static(b"abc"), true);
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x03\x09\x04\0\0\0\x05abc");
        assert_eq!(decode(&dst), Ok(Frame::Continuation(f)));

        let f = Continuation::new(StreamId::new(5), Bytes::new(), false);
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\0\x09\x00\0\0\0\x05");
    }

    #[test]
    fn decode_ignores_padded_and_other_flags() {
        // CONTINUATION defines no PADDED flag: the 0x08 bit is meaningless.
        assert_eq!(
            decode(b"\0\0\x02\x09\xfb\0\0\0\x01\x05z"),
            Ok(Frame::Continuation(Continuation::new(
                StreamId::new(1),
                Bytes::from_static(b"\x05z"),
                false
            )))
        );
    }

    #[test]
    fn stream_zero_is_a_connection_error() {
        let err = decode(b"\0\0\0\x09\x04\0\0\0\0").unwrap_err();
        assert_eq!(
            err,
            FrameError::MissingStreamId {
                kind: kind::CONTINUATION
            }
        );
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert!(err.is_connection_error());
    }
}
