//! PUSH_PROMISE frames (RFC 9113 §6.6).
//!
//! ```text
//! +---------------+
//! |Pad Length? (8)|
//! +-+-------------+-----------------------------------------------+
//! |R|                  Promised Stream ID (31)                    |
//! +-+-----------------------------+-------------------------------+
//! |                   Field Block Fragment (*)                  ...
//! +---------------------------------------------------------------+
//! |                           Padding (*)                       ...
//! +---------------------------------------------------------------+
//! ```
//!
//! Whether the promised identifier is acceptable (a new even stream, push
//! enabled, sent by a server) depends on connection state and is checked by
//! the connection, not here.

use bytes::{Buf, Bytes, BytesMut};

use super::{
    FrameError, FrameHeader, HEADER_LEN, encode_head, encode_pad_len, encode_padding, flag, kind,
    padded_flag, padding_overhead, read_u32, require_stream, strip_padding, wire_len,
};
use crate::StreamId;

/// Length of the Promised Stream ID field.
const PROMISED_ID_LEN: usize = 4;

/// A PUSH_PROMISE frame: a server announces a stream it will open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushPromise {
    /// The stream the promise is associated with (never 0).
    pub stream_id: StreamId,
    /// The stream being promised (reserved bit cleared).
    pub promised_id: StreamId,
    /// This frame's piece of the promised request's header block. On decode,
    /// a slice of the received payload.
    pub fragment: Bytes,
    /// END_HEADERS: the block is complete.
    pub end_headers: bool,
    /// `Some(n)` when PADDED with `n` padding bytes.
    pub pad_len: Option<u8>,
}

impl PushPromise {
    /// An unpadded PUSH_PROMISE frame.
    pub fn new(
        stream_id: StreamId,
        promised_id: StreamId,
        fragment: Bytes,
        end_headers: bool,
    ) -> PushPromise {
        PushPromise {
            stream_id,
            promised_id,
            fragment,
            end_headers,
            pad_len: None,
        }
    }

    fn payload_len(&self) -> usize {
        padding_overhead(self.pad_len) + PROMISED_ID_LEN + self.fragment.len()
    }

    /// The number of bytes [`PushPromise::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }

    /// Writes the frame, with zero bytes as padding.
    pub fn encode(&self, dst: &mut BytesMut) {
        let mut flags = padded_flag(self.pad_len);
        if self.end_headers {
            flags |= flag::END_HEADERS;
        }
        encode_head(
            kind::PUSH_PROMISE,
            flags,
            self.stream_id,
            self.payload_len(),
            dst,
        );
        encode_pad_len(self.pad_len, dst);
        dst.extend_from_slice(&self.promised_id.as_u32().to_be_bytes());
        dst.extend_from_slice(&self.fragment);
        encode_padding(self.pad_len, dst);
    }

    pub(super) fn decode(
        head: &FrameHeader,
        mut payload: Bytes,
    ) -> Result<PushPromise, FrameError> {
        require_stream(head)?;
        let pad_len = strip_padding(head, &mut payload, PROMISED_ID_LEN)?;
        // strip_padding has checked that the 4 bytes are there.
        let promised = read_u32(&payload).ok_or(FrameError::InvalidLength {
            kind: head.kind,
            length: wire_len(payload.len()),
        })?;
        payload.advance(PROMISED_ID_LEN);
        Ok(PushPromise {
            stream_id: head.stream_id,
            promised_id: StreamId::new(promised),
            fragment: payload,
            end_headers: head.flags & flag::END_HEADERS != 0,
            pad_len,
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
    fn encode_plain() {
        let f = PushPromise::new(
            StreamId::new(1),
            StreamId::new(2),
            Bytes::from_static(b"\x82"),
            true,
        );
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x05\x05\x04\0\0\0\x01\0\0\0\x02\x82");
        assert_eq!(decode(&dst), Ok(Frame::PushPromise(f)));
    }

    #[test]
    fn encode_padded() {
        let f = PushPromise {
            stream_id: StreamId::new(1),
            promised_id: StreamId::new(4),
            fragment: Bytes::from_static(b"xy"),
            end_headers: false,
            pad_len: Some(1),
        };
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x08\x05\x08\0\0\0\x01\x01\0\0\0\x04xy\0");
        assert_eq!(f.encoded_len(), dst.len());
        assert_eq!(decode(&dst), Ok(Frame::PushPromise(f)));
    }

    #[test]
    fn reserved_bit_of_promised_id_is_cleared() {
        let Ok(Frame::PushPromise(f)) = decode(b"\0\0\x04\x05\x04\0\0\0\x01\x80\0\0\x02") else {
            panic!("not a push promise")
        };
        assert_eq!(f.promised_id, StreamId::new(2));
    }

    #[test]
    fn errors() {
        let err = decode(b"\0\0\x04\x05\x04\0\0\0\0\0\0\0\x02").unwrap_err();
        assert_eq!(
            err,
            FrameError::MissingStreamId {
                kind: kind::PUSH_PROMISE
            }
        );
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);

        let err = decode(b"\0\0\x03\x05\x04\0\0\0\x01\0\0\0").unwrap_err();
        assert_eq!(
            err,
            FrameError::InvalidLength {
                kind: kind::PUSH_PROMISE,
                length: 3
            }
        );
        assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
        assert!(err.is_connection_error());

        // 1 + 4 + 1 bytes: one byte after the promised id, padding of 2.
        let err = decode(b"\0\0\x06\x05\x08\0\0\0\x01\x02\0\0\0\x02\0").unwrap_err();
        assert_eq!(
            err,
            FrameError::PaddingTooLong {
                kind: kind::PUSH_PROMISE,
                pad_len: 2,
                available: 1
            }
        );
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert!(err.is_connection_error());
    }
}
