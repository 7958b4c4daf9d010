//! PRIORITY frames and the priority block of HEADERS (RFC 9113 §6.3, §5.3).
//!
//! RFC 9113 deprecates this prioritisation scheme; Ferry parses it (the frame
//! rules still apply) and then ignores it.
//!
//! ```text
//! +-+-------------------------------------------------------------+
//! |E|                  Stream Dependency (31)                     |
//! +-+-------------+-----------------------------------------------+
//! | Weight (8)    |
//! +---------------+
//! ```

use bytes::BytesMut;

use super::{
    FrameError, FrameHeader, HEADER_LEN, fixed_frame, kind, read_u32, require_stream, wire_len,
};
use crate::StreamId;

/// The exclusive bit, stream dependency and weight of a PRIORITY frame or a
/// HEADERS frame with the PRIORITY flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PrioritySpec {
    /// The stream this one depends on (0: the root).
    pub dependency: StreamId,
    /// The E bit: the dependency is exclusive.
    pub exclusive: bool,
    /// The weight byte as sent; the weight it stands for is this plus one
    /// (1..=256).
    pub weight: u8,
}

impl PrioritySpec {
    /// Length of the block on the wire.
    pub const LEN: usize = 5;

    /// Parses the 5-byte block at the start of `src`, or `None` when `src` is
    /// shorter.
    pub(super) fn decode(src: &[u8]) -> Option<PrioritySpec> {
        let word = read_u32(src)?;
        let weight = *src.get(4)?;
        Some(PrioritySpec {
            dependency: StreamId::new(word),
            exclusive: word & 0x8000_0000 != 0,
            weight,
        })
    }
    /// The 5-byte block.
    pub fn to_bytes(&self) -> [u8; PrioritySpec::LEN] {
        let e = if self.exclusive { 0x8000_0000 } else { 0 };
        let [d0, d1, d2, d3] = (self.dependency.as_u32() | e).to_be_bytes();
        [d0, d1, d2, d3, self.weight]
    }

    /// Appends the 5-byte block.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.extend_from_slice(&self.to_bytes());
    }
}

/// A PRIORITY frame. Parsed and checked, then ignored by the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    /// The stream being prioritised (never 0).
    pub stream_id: StreamId,
    /// The new priority.
    pub spec: PrioritySpec,
}

impl Priority {
    /// A PRIORITY frame.
    pub fn new(stream_id: StreamId, spec: PrioritySpec) -> Priority {
        Priority { stream_id, spec }
    }

    /// The number of bytes [`Priority::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + PrioritySpec::LEN
    }

    /// Writes the frame (no flags are defined).
    pub fn encode(&self, dst: &mut BytesMut) {
        let frame: [u8; HEADER_LEN + PrioritySpec::LEN] =
            fixed_frame(kind::PRIORITY, 0, self.stream_id, &self.spec.to_bytes());
        dst.extend_from_slice(&frame);
    }

    pub(super) fn decode(head: &FrameHeader, payload: &[u8]) -> Result<Priority, FrameError> {
        require_stream(head)?;
        let spec = match PrioritySpec::decode(payload) {
            Some(spec) if payload.len() == PrioritySpec::LEN => spec,
            _ => {
                return Err(FrameError::InvalidPriorityLength {
                    stream_id: head.stream_id,
                    length: wire_len(payload.len()),
                });
            }
        };
        if spec.dependency == head.stream_id {
            return Err(FrameError::PrioritySelfDependency {
                stream_id: head.stream_id,
            });
        }
        Ok(Priority {
            stream_id: head.stream_id,
            spec,
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
        let f = Priority::new(
            StreamId::new(3),
            PrioritySpec {
                dependency: StreamId::new(1),
                exclusive: true,
                weight: 255,
            },
        );
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x05\x02\x00\0\0\0\x03\x80\0\0\x01\xff");
        assert_eq!(decode(&dst), Ok(Frame::Priority(f)));
    }

    #[test]
    fn decode_ignores_flags() {
        assert_eq!(
            decode(b"\0\0\x05\x02\xff\0\0\0\x03\0\0\0\x01\x0f"),
            Ok(Frame::Priority(Priority::new(
                StreamId::new(3),
                PrioritySpec {
                    dependency: StreamId::new(1),
                    exclusive: false,
                    weight: 15
                },
            )))
        );
    }

    #[test]
    fn wrong_length_is_a_stream_error() {
        for bytes in [
            &b"\0\0\x04\x02\0\0\0\0\x03\0\0\0\x01"[..],
            b"\0\0\x06\x02\0\0\0\0\x03\0\0\0\x01\x0f\x00",
        ] {
            let err = decode(bytes).unwrap_err();
            assert_eq!(
                err,
                FrameError::InvalidPriorityLength {
                    stream_id: StreamId::new(3),
                    length: bytes.len() as u32 - 9,
                }
            );
            assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
            assert_eq!(err.stream_id(), Some(StreamId::new(3)));
        }
    }

    #[test]
    fn stream_zero_is_a_connection_error() {
        let err = decode(b"\0\0\x05\x02\0\0\0\0\0\0\0\0\x01\x0f").unwrap_err();
        assert_eq!(
            err,
            FrameError::MissingStreamId {
                kind: kind::PRIORITY
            }
        );
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert!(err.is_connection_error());
    }

    #[test]
    fn self_dependency_is_a_stream_error() {
        // Also with the E bit set: the dependency is still stream 3.
        let err = decode(b"\0\0\x05\x02\0\0\0\0\x03\x80\0\0\x03\x0f").unwrap_err();
        assert_eq!(
            err,
            FrameError::PrioritySelfDependency {
                stream_id: StreamId::new(3)
            }
        );
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert_eq!(err.stream_id(), Some(StreamId::new(3)));
    }
}
