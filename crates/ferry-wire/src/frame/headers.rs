//! HEADERS frames (RFC 9113 §6.2), and the writer that splits a header block
//! into HEADERS + CONTINUATION frames.
//!
//! ```text
//! +---------------+
//! |Pad Length? (8)|
//! +-+-------------+-----------------------------------------------+
//! |E|                 Stream Dependency? (31)                     |
//! +-+-------------+-----------------------------------------------+
//! |  Weight? (8)  |
//! +-+-------------+-----------------------------------------------+
//! |                   Field Block Fragment (*)                  ...
//! +---------------------------------------------------------------+
//! |                           Padding (*)                       ...
//! +---------------------------------------------------------------+
//! ```

use bytes::{Bytes, BytesMut};

use super::{
    DEFAULT_MAX_FRAME_SIZE, FrameError, FrameHeader, HEADER_LEN, MAX_MAX_FRAME_SIZE, PrioritySpec,
    encode_head, encode_pad_len, encode_padding, flag, head_bytes, kind, padded_flag,
    padding_overhead, require_stream, strip_padding, wire_len,
};
use crate::StreamId;

/// A HEADERS frame: opens a stream or carries trailers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headers {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// This frame's piece of the HPACK-encoded header block. On decode, a
    /// slice of the received payload.
    pub fragment: Bytes,
    /// END_STREAM: no DATA follows on this stream.
    pub end_stream: bool,
    /// END_HEADERS: the block is complete; otherwise CONTINUATION frames
    /// follow.
    pub end_headers: bool,
    /// The priority block, present when the PRIORITY flag is set.
    pub priority: Option<PrioritySpec>,
    /// `Some(n)` when PADDED with `n` padding bytes.
    pub pad_len: Option<u8>,
}

impl Headers {
    /// An unpadded HEADERS frame without priority.
    pub fn new(
        stream_id: StreamId,
        fragment: Bytes,
        end_stream: bool,
        end_headers: bool,
    ) -> Headers {
        Headers {
            stream_id,
            fragment,
            end_stream,
            end_headers,
            priority: None,
            pad_len: None,
        }
    }

    fn payload_len(&self) -> usize {
        let priority = if self.priority.is_some() {
            PrioritySpec::LEN
        } else {
            0
        };
        padding_overhead(self.pad_len) + priority + self.fragment.len()
    }

    fn flags(&self) -> u8 {
        let mut flags = padded_flag(self.pad_len);
        if self.end_stream {
            flags |= flag::END_STREAM;
        }
        if self.end_headers {
            flags |= flag::END_HEADERS;
        }
        if self.priority.is_some() {
            flags |= flag::PRIORITY;
        }
        flags
    }

    /// The number of bytes [`Headers::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }

    /// Writes the frame, with zero bytes as padding.
    pub fn encode(&self, dst: &mut BytesMut) {
        encode_head(
            kind::HEADERS,
            self.flags(),
            self.stream_id,
            self.payload_len(),
            dst,
        );
        encode_pad_len(self.pad_len, dst);
        if let Some(spec) = &self.priority {
            spec.encode(dst);
        }
        dst.extend_from_slice(&self.fragment);
        encode_padding(self.pad_len, dst);
    }

    pub(super) fn decode(head: &FrameHeader, mut payload: Bytes) -> Result<Headers, FrameError> {
        require_stream(head)?;
        let has_priority = head.flags & flag::PRIORITY != 0;
        let fixed = if has_priority { PrioritySpec::LEN } else { 0 };
        let pad_len = strip_padding(head, &mut payload, fixed)?;
        let priority = if has_priority {
            // strip_padding has checked that the 5 bytes are there.
            let spec = PrioritySpec::decode(&payload).ok_or(FrameError::InvalidLength {
                kind: head.kind,
                length: wire_len(payload.len()),
            })?;
            bytes::Buf::advance(&mut payload, PrioritySpec::LEN);
            Some(spec)
        } else {
            None
        };
        let headers = Headers {
            stream_id: head.stream_id,
            fragment: payload,
            end_stream: head.flags & flag::END_STREAM != 0,
            end_headers: head.flags & flag::END_HEADERS != 0,
            priority,
            pad_len,
        };
        if priority.is_some_and(|p| p.dependency == head.stream_id) {
            return Err(FrameError::HeadersSelfDependency(Box::new(headers)));
        }
        Ok(headers)
    }
}

/// Writes a whole header block as one HEADERS frame followed by as many
/// CONTINUATION frames as `max_frame_size` (the *peer's*
/// SETTINGS_MAX_FRAME_SIZE) requires. END_STREAM goes on the HEADERS frame
/// when `end_stream`; END_HEADERS on the last frame. No padding or priority.
/// Room for every frame is reserved once.
///
/// `max_frame_size` is clamped to 16,384..=16,777,215, the range a peer may
/// advertise, so a zero or absurd value cannot loop or overflow.
pub fn encode_header_block(
    stream_id: StreamId,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
    dst: &mut BytesMut,
) {
    let max = max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE) as usize;
    let frames = block.len().div_ceil(max).max(1);
    dst.reserve(frames * HEADER_LEN + block.len());
    let (first, mut rest) = block.split_at(block.len().min(max));
    let mut flags = if end_stream { flag::END_STREAM } else { 0 };
    if rest.is_empty() {
        flags |= flag::END_HEADERS;
    }
    dst.extend_from_slice(&head_bytes(kind::HEADERS, flags, stream_id, first.len()));
    dst.extend_from_slice(first);
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(max));
        rest = tail;
        let flags = if rest.is_empty() {
            flag::END_HEADERS
        } else {
            0
        };
        dst.extend_from_slice(&head_bytes(
            kind::CONTINUATION,
            flags,
            stream_id,
            chunk.len(),
        ));
        dst.extend_from_slice(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reason;
    use crate::frame::{Continuation, Frame};

    fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        let head = FrameHeader::decode(bytes[..9].try_into().unwrap());
        Frame::decode(head, Bytes::copy_from_slice(&bytes[9..]))
    }

    #[test]
    fn encode_plain() {
        let f = Headers::new(
            StreamId::new(1),
            Bytes::from_static(b"\x82\x86"),
            false,
            true,
        );
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x02\x01\x04\0\0\0\x01\x82\x86");
        assert_eq!(decode(&dst), Ok(Frame::Headers(f)));
    }

    #[test]
    fn encode_padded_with_priority() {
        let f = Headers {
            stream_id: StreamId::new(3),
            fragment: Bytes::from_static(b"ab"),
            end_stream: true,
            end_headers: false,
            priority: Some(PrioritySpec {
                dependency: StreamId::new(1),
                exclusive: true,
                weight: 16,
            }),
            pad_len: Some(2),
        };
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(
            &dst[..],
            b"\0\0\x0a\x01\x29\0\0\0\x03\x02\x80\0\0\x01\x10ab\0\0"
        );
        assert_eq!(f.encoded_len(), dst.len());
        assert_eq!(decode(&dst), Ok(Frame::Headers(f)));
    }

    #[test]
    fn decode_padded_empty_fragment() {
        // Padding may take everything after the Pad Length byte.
        assert_eq!(
            decode(b"\0\0\x03\x01\x0c\0\0\0\x01\x02\0\0"),
            Ok(Frame::Headers(Headers {
                stream_id: StreamId::new(1),
                fragment: Bytes::new(),
                end_stream: false,
                end_headers: true,
                priority: None,
                pad_len: Some(2),
            }))
        );
    }

    #[test]
    fn decode_ignores_unknown_flags() {
        // 0xd2: bits 0x80, 0x40, 0x10, 0x02 are undefined for HEADERS.
        assert_eq!(
            decode(b"\0\0\x01\x01\xd2\0\0\0\x01z"),
            Ok(Frame::Headers(Headers::new(
                StreamId::new(1),
                Bytes::from_static(b"z"),
                false,
                false
            )))
        );
    }

    #[test]
    fn stream_zero_is_a_connection_error() {
        let err = decode(b"\0\0\x01\x01\x04\0\0\0\0z").unwrap_err();
        assert_eq!(
            err,
            FrameError::MissingStreamId {
                kind: kind::HEADERS
            }
        );
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert!(err.is_connection_error());
    }

    #[test]
    fn padding_too_long() {
        // Priority block takes 5 of the 7 bytes after the Pad Length byte.
        let err = decode(b"\0\0\x08\x01\x28\0\0\0\x01\x03\0\0\0\x00\x10\0\0").unwrap_err();
        assert_eq!(
            err,
            FrameError::PaddingTooLong {
                kind: kind::HEADERS,
                pad_len: 3,
                available: 2
            }
        );
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert!(err.is_connection_error());
    }

    #[test]
    fn too_short_for_priority() {
        let err = decode(b"\0\0\x04\x01\x20\0\0\0\x01\0\0\0\0").unwrap_err();
        assert_eq!(
            err,
            FrameError::InvalidLength {
                kind: kind::HEADERS,
                length: 4
            }
        );
        assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
        assert!(err.is_connection_error());
        let err = decode(b"\0\0\x00\x01\x08\0\0\0\x01").unwrap_err();
        assert_eq!(
            err,
            FrameError::InvalidLength {
                kind: kind::HEADERS,
                length: 0
            }
        );
    }

    #[test]
    fn self_dependency_returns_the_frame() {
        let err = decode(b"\0\0\x07\x01\x25\0\0\0\x05\0\0\0\x05\x10hi").unwrap_err();
        let FrameError::HeadersSelfDependency(headers) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(&headers.fragment[..], b"hi");
        assert!(headers.end_stream && headers.end_headers);
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert_eq!(err.stream_id(), Some(StreamId::new(5)));
    }

    fn frames(mut wire: Bytes) -> Vec<Frame> {
        let mut out = Vec::new();
        while !wire.is_empty() {
            let head = FrameHeader::decode(wire[..9].try_into().unwrap());
            let _ = wire.split_to(9);
            let payload = wire.split_to(head.length as usize);
            out.push(Frame::decode(head, payload).unwrap());
        }
        out
    }

    #[test]
    fn header_block_fits_one_frame() {
        let mut dst = BytesMut::new();
        encode_header_block(StreamId::new(1), b"abc", true, 16_384, &mut dst);
        assert_eq!(&dst[..], b"\0\0\x03\x01\x05\0\0\0\x01abc");

        let mut dst = BytesMut::new();
        encode_header_block(StreamId::new(1), b"", false, 16_384, &mut dst);
        assert_eq!(&dst[..], b"\0\0\0\x01\x04\0\0\0\x01");
    }

    #[test]
    fn header_block_split_into_continuations() {
        let block: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        let mut dst = BytesMut::new();
        // 0 is clamped up to 16,384.
        encode_header_block(StreamId::new(3), &block, true, 0, &mut dst);
        assert_eq!(dst.len(), 3 * 9 + block.len());
        let frames = frames(dst.freeze());
        assert_eq!(
            frames,
            vec![
                Frame::Headers(Headers::new(
                    StreamId::new(3),
                    Bytes::copy_from_slice(&block[..16_384]),
                    true,
                    false
                )),
                Frame::Continuation(Continuation::new(
                    StreamId::new(3),
                    Bytes::copy_from_slice(&block[16_384..32_768]),
                    false
                )),
                Frame::Continuation(Continuation::new(
                    StreamId::new(3),
                    Bytes::copy_from_slice(&block[32_768..]),
                    true
                )),
            ]
        );
    }

    #[test]
    fn header_block_exact_multiple() {
        let block = vec![1u8; 32_768];
        let mut dst = BytesMut::new();
        encode_header_block(StreamId::new(1), &block, false, 16_384, &mut dst);
        let frames = frames(dst.freeze());
        assert_eq!(frames.len(), 2);
        assert!(matches!(&frames[0], Frame::Headers(h) if !h.end_headers && !h.end_stream));
        assert!(
            matches!(&frames[1], Frame::Continuation(c) if c.end_headers && c.fragment.len() == 16_384)
        );
    }
}
