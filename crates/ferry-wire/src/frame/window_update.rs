//! WINDOW_UPDATE frames (RFC 9113 §6.9).
//!
//! ```text
//! +-+-------------------------------------------------------------+
//! |R|              Window Size Increment (31)                     |
//! +-+-------------------------------------------------------------+
//! ```
//!
//! Whether an increment overflows a window (above 2^31 - 1) depends on the
//! window, so the connection checks that, as it does the window dribble.

use bytes::BytesMut;

use super::{FrameError, FrameHeader, HEADER_LEN, fixed_frame, kind, read_u32, wire_len};
use crate::StreamId;

/// Length of the payload.
const LEN: usize = 4;

/// A WINDOW_UPDATE frame: the receiver has room for more DATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowUpdate {
    /// The stream whose window grows, or 0 for the connection's.
    pub stream_id: StreamId,
    /// How many bytes the window grows by: 1..=2^31 - 1 (the reserved bit is
    /// cleared on decode and never sent).
    pub increment: u32,
}

impl WindowUpdate {
    /// A WINDOW_UPDATE frame.
    pub fn new(stream_id: StreamId, increment: u32) -> WindowUpdate {
        WindowUpdate {
            stream_id,
            increment,
        }
    }

    /// The number of bytes [`WindowUpdate::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + LEN
    }

    /// Writes the frame (no flags are defined). Only the low 31 bits of the
    /// increment are sent; an increment of 0 makes a frame the peer rejects.
    pub fn encode(&self, dst: &mut BytesMut) {
        let increment = (self.increment & 0x7fff_ffff).to_be_bytes();
        let frame: [u8; HEADER_LEN + LEN] =
            fixed_frame(kind::WINDOW_UPDATE, 0, self.stream_id, &increment);
        dst.extend_from_slice(&frame);
    }

    pub(super) fn decode(head: &FrameHeader, payload: &[u8]) -> Result<WindowUpdate, FrameError> {
        let increment = match read_u32(payload) {
            Some(raw) if payload.len() == LEN => raw & 0x7fff_ffff,
            _ => {
                return Err(FrameError::InvalidLength {
                    kind: head.kind,
                    length: wire_len(payload.len()),
                });
            }
        };
        if increment == 0 {
            return Err(FrameError::ZeroWindowIncrement {
                stream_id: head.stream_id,
            });
        }
        Ok(WindowUpdate {
            stream_id: head.stream_id,
            increment,
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
        let f = WindowUpdate::new(StreamId::new(1), 0x7fff_ffff);
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x04\x08\x00\0\0\0\x01\x7f\xff\xff\xff");
        assert_eq!(decode(&dst), Ok(Frame::WindowUpdate(f)));

        // The reserved bit is never sent.
        let mut dst = BytesMut::new();
        WindowUpdate::new(StreamId::ZERO, 0x8000_0010).encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x04\x08\x00\0\0\0\0\0\0\0\x10");
    }

    #[test]
    fn reserved_bit_cleared_and_flags_ignored() {
        assert_eq!(
            decode(b"\0\0\x04\x08\xff\0\0\0\0\x80\0\x01\0"),
            Ok(Frame::WindowUpdate(WindowUpdate::new(StreamId::ZERO, 256)))
        );
    }

    #[test]
    fn zero_increment_scope_depends_on_stream() {
        let err = decode(b"\0\0\x04\x08\x00\0\0\0\x03\0\0\0\0").unwrap_err();
        assert_eq!(
            err,
            FrameError::ZeroWindowIncrement {
                stream_id: StreamId::new(3)
            }
        );
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert_eq!(err.stream_id(), Some(StreamId::new(3)));

        // Only the reserved bit set: still a zero increment.
        let err = decode(b"\0\0\x04\x08\x00\0\0\0\0\x80\0\0\0").unwrap_err();
        assert_eq!(
            err,
            FrameError::ZeroWindowIncrement {
                stream_id: StreamId::ZERO
            }
        );
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert!(err.is_connection_error());
    }

    #[test]
    fn wrong_length_is_a_connection_error() {
        for bytes in [
            &b"\0\0\x03\x08\x00\0\0\0\x01\0\0\x01"[..],
            b"\0\0\x05\x08\x00\0\0\0\x01\0\0\0\x01\0",
        ] {
            let err = decode(bytes).unwrap_err();
            assert_eq!(
                err,
                FrameError::InvalidLength {
                    kind: kind::WINDOW_UPDATE,
                    length: bytes.len() as u32 - 9
                }
            );
            assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
            assert!(err.is_connection_error());
        }
    }
}
