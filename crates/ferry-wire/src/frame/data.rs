//! DATA frames (RFC 9113 §6.1).
//!
//! ```text
//! +---------------+
//! |Pad Length? (8)|
//! +---------------+-----------------------------------------------+
//! |                            Data (*)                         ...
//! +---------------------------------------------------------------+
//! |                           Padding (*)                       ...
//! +---------------------------------------------------------------+
//! ```

use bytes::{Bytes, BytesMut};

use super::{
    DEFAULT_MAX_FRAME_SIZE, FrameError, FrameHeader, HEADER_LEN, MAX_MAX_FRAME_SIZE,
    encode_pad_len, encode_padding, flag, head_bytes, kind, padded_flag, padding_overhead,
    require_stream, strip_padding, wire_len,
};
use crate::StreamId;

/// A DATA frame: a piece of a stream's body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Data {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// The data, without padding. On decode, a slice of the received payload.
    pub payload: Bytes,
    /// END_STREAM: the sender's last frame on the stream.
    pub end_stream: bool,
    /// `Some(n)` when the frame is PADDED with `n` padding bytes (`n` may be
    /// 0: the Pad Length byte alone).
    pub pad_len: Option<u8>,
}

impl Data {
    /// An unpadded DATA frame.
    pub fn new(stream_id: StreamId, payload: Bytes, end_stream: bool) -> Data {
        Data {
            stream_id,
            payload,
            end_stream,
            pad_len: None,
        }
    }

    /// The bytes this frame counts against flow-control windows: the data,
    /// the padding and, when PADDED, the Pad Length byte (§6.1: "the entire
    /// DATA frame payload is included in flow control").
    pub fn flow_len(&self) -> u32 {
        wire_len(self.payload_len())
    }

    /// The frame's payload length (what goes in the header).
    fn payload_len(&self) -> usize {
        self.payload.len() + padding_overhead(self.pad_len)
    }

    fn flags(&self) -> u8 {
        let end_stream = if self.end_stream { flag::END_STREAM } else { 0 };
        end_stream | padded_flag(self.pad_len)
    }

    /// The number of bytes [`Data::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }

    /// Writes the whole frame.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.reserve(self.encoded_len());
        self.encode_head(dst);
        dst.extend_from_slice(&self.payload);
        self.encode_padding(dst);
    }

    /// Writes only what precedes the data: the 9-byte frame header and, when
    /// PADDED, the Pad Length byte. A runtime can then write `payload` from
    /// its own buffer without copying it (a vectored write), followed by the
    /// bytes of [`Data::encode_padding`] when the frame is padded.
    ///
    /// `head + payload + padding` is byte for byte what [`Data::encode`]
    /// writes.
    pub fn encode_head(&self, dst: &mut BytesMut) {
        dst.extend_from_slice(&head_bytes(
            kind::DATA,
            self.flags(),
            self.stream_id,
            self.payload_len(),
        ));
        encode_pad_len(self.pad_len, dst);
    }
    /// Writes the 9-byte header of an unpadded DATA frame carrying `len`
    /// bytes, for a runtime that writes the payload itself from several
    /// buffers: the same bytes as [`Data::encode_head`] of such a frame.
    pub fn encode_unpadded_head(
        stream_id: StreamId,
        len: usize,
        end_stream: bool,
        dst: &mut BytesMut,
    ) {
        let flags = if end_stream { flag::END_STREAM } else { 0 };
        dst.extend_from_slice(&head_bytes(kind::DATA, flags, stream_id, len));
    }

    /// Writes the padding that follows the data: `pad_len` zero bytes
    /// (nothing when the frame is not padded).
    pub fn encode_padding(&self, dst: &mut BytesMut) {
        encode_padding(self.pad_len, dst);
    }
    pub(super) fn decode(head: &FrameHeader, mut payload: Bytes) -> Result<Data, FrameError> {
        require_stream(head)?;
        let pad_len = strip_padding(head, &mut payload, 0)?;
        Ok(Data {
            stream_id: head.stream_id,
            payload,
            end_stream: head.flags & flag::END_STREAM != 0,
            pad_len,
        })
    }
}

/// Writes `payload` as DATA frames of at most `max_frame_size` payload bytes
/// each (the *peer's* SETTINGS_MAX_FRAME_SIZE), unpadded, with END_STREAM on
/// the last one only when `end_stream`. An empty payload becomes one empty
/// frame. Room for every frame is reserved once.
///
/// `max_frame_size` is clamped to 16,384..=16,777,215, the range a peer may
/// advertise, so a zero or absurd value cannot loop or overflow.
///
/// This copies `payload`; a runtime that wants to avoid the copy splits the
/// `Bytes` itself and uses [`Data::encode_head`].
pub fn encode_data(
    stream_id: StreamId,
    payload: &[u8],
    end_stream: bool,
    max_frame_size: u32,
    dst: &mut BytesMut,
) {
    let max = max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE) as usize;
    let frames = payload.len().div_ceil(max).max(1);
    dst.reserve(frames * HEADER_LEN + payload.len());
    let mut chunks = payload.chunks(max);
    let mut chunk = chunks.next().unwrap_or_default();
    loop {
        let next = chunks.next();
        let last = next.is_none();
        let flags = if last && end_stream {
            flag::END_STREAM
        } else {
            0
        };
        dst.extend_from_slice(&head_bytes(kind::DATA, flags, stream_id, chunk.len()));
        dst.extend_from_slice(chunk);
        match next {
            Some(c) => chunk = c,
            None => break,
        }
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
    fn encode_plain() {
        let f = Data::new(StreamId::new(1), Bytes::from_static(b"hello"), true);
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x05\x00\x01\0\0\0\x01hello");
        assert_eq!(f.flow_len(), 5);
        assert_eq!(f.encoded_len(), 14);
    }

    #[test]
    fn encode_padded() {
        let f = Data {
            stream_id: StreamId::new(3),
            payload: Bytes::from_static(b"hi"),
            end_stream: false,
            pad_len: Some(3),
        };
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x06\x00\x08\0\0\0\x03\x03hi\0\0\0");
        assert_eq!(f.flow_len(), 6);
        assert_eq!(decode(&dst), Ok(Frame::Data(f.clone())));

        // Vectored form gives the same bytes.
        let mut parts = BytesMut::new();
        f.encode_head(&mut parts);
        assert_eq!(parts.len(), 10);
        parts.extend_from_slice(&f.payload);
        f.encode_padding(&mut parts);
        assert_eq!(parts, dst);
    }

    #[test]
    fn padded_with_zero_padding_counts_the_pad_length_byte() {
        let f = Data {
            stream_id: StreamId::new(1),
            payload: Bytes::new(),
            end_stream: true,
            pad_len: Some(0),
        };
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\x01\x00\x09\0\0\0\x01\x00");
        assert_eq!(f.flow_len(), 1);
        assert_eq!(decode(&dst), Ok(Frame::Data(f)));
    }

    #[test]
    fn decode_ignores_unknown_flags_and_padding_content() {
        let frame = decode(b"\0\0\x05\x00\xf7\x80\0\0\x07\x01\x02\x03\x04\x05").unwrap();
        // 0xf7 lacks PADDED (0x08): the whole payload is data.
        assert_eq!(
            frame,
            Frame::Data(Data::new(
                StreamId::new(7),
                Bytes::from_static(b"\x01\x02\x03\x04\x05"),
                true
            ))
        );
        let frame = decode(b"\0\0\x05\x00\x08\0\0\0\x01\x02ab\xff\xee").unwrap();
        assert_eq!(
            frame,
            Frame::Data(Data {
                stream_id: StreamId::new(1),
                payload: Bytes::from_static(b"ab"),
                end_stream: false,
                pad_len: Some(2),
            })
        );
    }

    #[test]
    fn decode_is_zero_copy() {
        let wire = Bytes::from_static(b"\x02abcdef\0\0");
        let head = FrameHeader {
            length: 9,
            kind: kind::DATA,
            flags: flag::PADDED,
            stream_id: StreamId::new(1),
        };
        let Ok(Frame::Data(d)) = Frame::decode(head, wire.clone()) else {
            panic!("not data")
        };
        assert_eq!(&d.payload[..], b"abcdef");
        assert_eq!(d.payload.as_ptr(), wire[1..].as_ptr());
    }

    #[test]
    fn stream_zero_is_a_connection_error() {
        assert_eq!(
            decode(b"\0\0\x01\x00\x00\0\0\0\0x"),
            Err(FrameError::MissingStreamId { kind: kind::DATA })
        );
    }

    #[test]
    fn padding_errors() {
        // Pad length 4 with 4 bytes total: padding would cover the pad byte.
        let err = decode(b"\0\0\x04\x00\x08\0\0\0\x01\x04\0\0\0").unwrap_err();
        assert_eq!(
            err,
            FrameError::PaddingTooLong {
                kind: kind::DATA,
                pad_len: 4,
                available: 3
            }
        );
        assert_eq!(err.reason(), crate::Reason::PROTOCOL_ERROR);
        assert!(err.is_connection_error());
        // Exactly as much padding as remains is legal.
        assert_eq!(
            decode(b"\0\0\x04\x00\x08\0\0\0\x01\x03\0\0\0"),
            Ok(Frame::Data(Data {
                stream_id: StreamId::new(1),
                payload: Bytes::new(),
                end_stream: false,
                pad_len: Some(3),
            }))
        );
        // PADDED with no room for the Pad Length byte.
        let err = decode(b"\0\0\0\x00\x08\0\0\0\x01").unwrap_err();
        assert_eq!(
            err,
            FrameError::InvalidLength {
                kind: kind::DATA,
                length: 0
            }
        );
        assert_eq!(err.reason(), crate::Reason::FRAME_SIZE_ERROR);
    }

    #[test]
    fn split_into_frames() {
        let payload = vec![7u8; 16_384 * 2 + 1];
        let mut dst = BytesMut::new();
        encode_data(StreamId::new(5), &payload, true, 16_384, &mut dst);
        assert_eq!(dst.len(), 3 * 9 + payload.len());
        assert_eq!(&dst[..9], b"\0\x40\x00\x00\x00\0\0\0\x05");
        assert_eq!(
            &dst[9 + 16_384..9 + 16_384 + 9],
            b"\0\x40\x00\x00\x00\0\0\0\x05"
        );
        assert_eq!(
            &dst[2 * (9 + 16_384)..2 * (9 + 16_384) + 10],
            b"\0\0\x01\x00\x01\0\0\0\x05\x07"
        );
    }

    #[test]
    fn split_edge_cases() {
        let mut dst = BytesMut::new();
        encode_data(StreamId::new(1), b"", true, 16_384, &mut dst);
        assert_eq!(&dst[..], b"\0\0\0\x00\x01\0\0\0\x01");

        // Exactly one full frame, no END_STREAM; max 0 is clamped up.
        let mut dst = BytesMut::new();
        encode_data(StreamId::new(1), &[1; 16_384], false, 0, &mut dst);
        assert_eq!(dst.len(), 9 + 16_384);
        assert_eq!(&dst[..9], b"\0\x40\x00\x00\x00\0\0\0\x01");
    }
}
