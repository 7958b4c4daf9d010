//! SETTINGS frames (RFC 9113 §6.5; ENABLE_CONNECT_PROTOCOL from RFC 8441).
//!
//! ```text
//! +-------------------------------+
//! |       Identifier (16)         |
//! +-------------------------------+-------------------------------+
//! |                        Value (32)                             |
//! +---------------------------------------------------------------+
//! ```
//! (repeated; the payload is a multiple of 6 bytes)
//!
//! Parameters are processed in order (§6.5.3), so a repeated identifier ends
//! with its last value. Each value is range-checked as it is read. Unknown
//! identifiers are skipped (§6.5.2). Ferry sends the parameters it sets in
//! identifier order, which makes the bytes stable.

use bytes::BytesMut;

use super::{
    DEFAULT_MAX_FRAME_SIZE, FrameError, FrameHeader, HEADER_LEN, MAX_MAX_FRAME_SIZE, flag,
    head_bytes, kind, require_connection, wire_len,
};
use crate::StreamId;

/// Length of one parameter on the wire.
const PARAM_LEN: usize = 6;

/// The largest flow-control window (2^31 - 1, RFC 9113 §6.9.1).
const MAX_WINDOW_SIZE: u32 = 0x7fff_ffff;

/// A SETTINGS frame: the parameters it carries, or an acknowledgement.
///
/// `None` means the frame did not mention the parameter (the receiver keeps
/// its current value). [`Settings::default`] is an empty, non-ACK frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// ACK: acknowledges the peer's SETTINGS. An ACK carries no parameters;
    /// [`Settings::encode`] ignores any that are set on one.
    pub ack: bool,
    /// SETTINGS_HEADER_TABLE_SIZE (0x1): the HPACK table size the sender's
    /// decoder allows.
    pub header_table_size: Option<u32>,
    /// SETTINGS_ENABLE_PUSH (0x2).
    pub enable_push: Option<bool>,
    /// SETTINGS_MAX_CONCURRENT_STREAMS (0x3).
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE (0x4), at most 2^31 - 1.
    pub initial_window_size: Option<u32>,
    /// SETTINGS_MAX_FRAME_SIZE (0x5), within 16,384..=16,777,215.
    pub max_frame_size: Option<u32>,
    /// SETTINGS_MAX_HEADER_LIST_SIZE (0x6).
    pub max_header_list_size: Option<u32>,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (0x8, RFC 8441).
    pub enable_connect_protocol: Option<bool>,
}

impl Settings {
    /// Identifier of SETTINGS_HEADER_TABLE_SIZE.
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// Identifier of SETTINGS_ENABLE_PUSH.
    pub const ENABLE_PUSH: u16 = 0x2;
    /// Identifier of SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// Identifier of SETTINGS_INITIAL_WINDOW_SIZE.
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// Identifier of SETTINGS_MAX_FRAME_SIZE.
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// Identifier of SETTINGS_MAX_HEADER_LIST_SIZE.
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    /// Identifier of SETTINGS_ENABLE_CONNECT_PROTOCOL.
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;

    /// A SETTINGS ACK.
    pub fn ack() -> Settings {
        Settings {
            ack: true,
            ..Settings::default()
        }
    }

    /// The parameters that are set, in identifier order, as (identifier,
    /// wire value) pairs.
    fn params(&self) -> [(u16, Option<u32>); 7] {
        [
            (Settings::HEADER_TABLE_SIZE, self.header_table_size),
            (Settings::ENABLE_PUSH, self.enable_push.map(u32::from)),
            (
                Settings::MAX_CONCURRENT_STREAMS,
                self.max_concurrent_streams,
            ),
            (Settings::INITIAL_WINDOW_SIZE, self.initial_window_size),
            (Settings::MAX_FRAME_SIZE, self.max_frame_size),
            (Settings::MAX_HEADER_LIST_SIZE, self.max_header_list_size),
            (
                Settings::ENABLE_CONNECT_PROTOCOL,
                self.enable_connect_protocol.map(u32::from),
            ),
        ]
    }

    fn payload_len(&self) -> usize {
        if self.ack {
            return 0;
        }
        self.params().iter().filter(|(_, v)| v.is_some()).count() * PARAM_LEN
    }

    /// The number of bytes [`Settings::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }

    /// Writes the frame on stream 0: the ACK flag alone with an empty payload,
    /// or the parameters that are set in identifier order. Values are written
    /// as they are; a value out of its range makes a frame the peer rejects.
    pub fn encode(&self, dst: &mut BytesMut) {
        let flags = if self.ack { flag::ACK } else { 0 };
        // At most 7 parameters: the whole frame is built on the stack and
        // written with one copy.
        let mut frame = [0u8; HEADER_LEN + 7 * PARAM_LEN];
        let (head, body) = frame.split_at_mut(HEADER_LEN);
        let mut len = 0;
        if !self.ack {
            let set = self
                .params()
                .into_iter()
                .filter_map(|(id, v)| Some((id, v?)));
            for (slot, (id, value)) in body.chunks_exact_mut(PARAM_LEN).zip(set) {
                let [i0, i1] = id.to_be_bytes();
                let [v0, v1, v2, v3] = value.to_be_bytes();
                slot.copy_from_slice(&[i0, i1, v0, v1, v2, v3]);
                len += PARAM_LEN;
            }
        }
        head.copy_from_slice(&head_bytes(kind::SETTINGS, flags, StreamId::ZERO, len));
        dst.extend_from_slice(frame.get(..HEADER_LEN + len).unwrap_or_default());
    }

    pub(super) fn decode(head: &FrameHeader, payload: &[u8]) -> Result<Settings, FrameError> {
        require_connection(head)?;
        if head.flags & flag::ACK != 0 {
            if !payload.is_empty() {
                return Err(FrameError::SettingsAckWithPayload {
                    length: wire_len(payload.len()),
                });
            }
            return Ok(Settings::ack());
        }
        if payload.len() % PARAM_LEN != 0 {
            return Err(FrameError::InvalidLength {
                kind: head.kind,
                length: wire_len(payload.len()),
            });
        }
        let mut settings = Settings::default();
        for param in payload.chunks_exact(PARAM_LEN) {
            let &[i0, i1, v0, v1, v2, v3] = param else {
                continue; // chunks_exact only yields PARAM_LEN bytes
            };
            settings.apply(
                u16::from_be_bytes([i0, i1]),
                u32::from_be_bytes([v0, v1, v2, v3]),
            )?;
        }
        Ok(settings)
    }

    /// Records one received parameter after checking its range (§6.5.2).
    fn apply(&mut self, id: u16, value: u32) -> Result<(), FrameError> {
        let invalid = FrameError::InvalidSetting { id, value };
        let flag = |value| match value {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(invalid.clone()),
        };
        match id {
            Settings::HEADER_TABLE_SIZE => self.header_table_size = Some(value),
            Settings::ENABLE_PUSH => self.enable_push = Some(flag(value)?),
            Settings::MAX_CONCURRENT_STREAMS => self.max_concurrent_streams = Some(value),
            Settings::INITIAL_WINDOW_SIZE => {
                if value > MAX_WINDOW_SIZE {
                    return Err(invalid);
                }
                self.initial_window_size = Some(value);
            }
            Settings::MAX_FRAME_SIZE => {
                if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) {
                    return Err(invalid);
                }
                self.max_frame_size = Some(value);
            }
            Settings::MAX_HEADER_LIST_SIZE => self.max_header_list_size = Some(value),
            Settings::ENABLE_CONNECT_PROTOCOL => self.enable_connect_protocol = Some(flag(value)?),
            _ => {} // unknown identifiers must be ignored (§6.5.2)
        }
        Ok(())
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

    fn settings_frame(params: &[(u16, u32)]) -> Vec<u8> {
        let mut out = vec![
            0,
            0,
            (params.len() * 6) as u8,
            kind::SETTINGS,
            0,
            0,
            0,
            0,
            0,
        ];
        for (id, value) in params {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&value.to_be_bytes());
        }
        out
    }

    #[test]
    fn encode_in_identifier_order() {
        let s = Settings {
            enable_connect_protocol: Some(true),
            header_table_size: Some(4096),
            initial_window_size: Some(65_535),
            enable_push: Some(false),
            max_frame_size: Some(16_384),
            max_concurrent_streams: Some(100),
            max_header_list_size: Some(16 << 20),
            ack: false,
        };
        let mut dst = BytesMut::new();
        s.encode(&mut dst);
        assert_eq!(
            &dst[..],
            settings_frame(&[
                (1, 4096),
                (2, 0),
                (3, 100),
                (4, 65_535),
                (5, 16_384),
                (6, 16 << 20),
                (8, 1)
            ])
        );
        assert_eq!(s.encoded_len(), dst.len());
        assert_eq!(decode(&dst), Ok(Frame::Settings(s)));
    }

    #[test]
    fn encode_empty_and_ack() {
        let mut dst = BytesMut::new();
        Settings::default().encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\0\x04\x00\0\0\0\0");

        let mut dst = BytesMut::new();
        Settings::ack().encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\0\x04\x01\0\0\0\0");
        assert_eq!(decode(&dst), Ok(Frame::Settings(Settings::ack())));

        // Parameters set on an ACK are not sent.
        let mut dst = BytesMut::new();
        Settings {
            max_frame_size: Some(20_000),
            ..Settings::ack()
        }
        .encode(&mut dst);
        assert_eq!(&dst[..], b"\0\0\0\x04\x01\0\0\0\0");
    }

    #[test]
    fn last_value_wins_and_unknown_ids_are_ignored() {
        let frame = settings_frame(&[(3, 10), (0x99, 7), (3, 20), (0, 1), (7, 5)]);
        assert_eq!(
            decode(&frame),
            Ok(Frame::Settings(Settings {
                max_concurrent_streams: Some(20),
                ..Settings::default()
            }))
        );
    }

    #[test]
    fn decode_ignores_unknown_flags() {
        let mut frame = settings_frame(&[(2, 1)]);
        frame[4] = 0xfe;
        assert_eq!(
            decode(&frame),
            Ok(Frame::Settings(Settings {
                enable_push: Some(true),
                ..Settings::default()
            }))
        );
    }

    #[test]
    fn value_ranges() {
        let cases: [(u16, u32, Option<Reason>); 14] = [
            (2, 0, None),
            (2, 1, None),
            (2, 2, Some(Reason::PROTOCOL_ERROR)),
            (4, 0x7fff_ffff, None),
            (4, 0x8000_0000, Some(Reason::FLOW_CONTROL_ERROR)),
            (4, u32::MAX, Some(Reason::FLOW_CONTROL_ERROR)),
            (5, 16_383, Some(Reason::PROTOCOL_ERROR)),
            (5, 16_384, None),
            (5, 16_777_215, None),
            (5, 16_777_216, Some(Reason::PROTOCOL_ERROR)),
            (8, 1, None),
            (8, 2, Some(Reason::PROTOCOL_ERROR)),
            (1, u32::MAX, None),
            (6, u32::MAX, None),
        ];
        for (id, value, expected) in cases {
            let result = decode(&settings_frame(&[(id, value)]));
            match expected {
                None => assert!(result.is_ok(), "{id} = {value}: {result:?}"),
                Some(reason) => {
                    let err = result.unwrap_err();
                    assert_eq!(err, FrameError::InvalidSetting { id, value });
                    assert_eq!(err.reason(), reason);
                    assert!(err.is_connection_error());
                }
            }
        }
    }

    #[test]
    fn an_invalid_value_fails_even_if_overridden_later() {
        let frame = settings_frame(&[(2, 5), (2, 1)]);
        assert_eq!(
            decode(&frame),
            Err(FrameError::InvalidSetting { id: 2, value: 5 })
        );
    }

    #[test]
    fn framing_errors() {
        let err = decode(b"\0\0\x06\x04\x01\0\0\0\0\0\x01\0\0\0\0").unwrap_err();
        assert_eq!(err, FrameError::SettingsAckWithPayload { length: 6 });
        assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);
        assert!(err.is_connection_error());

        let err = decode(b"\0\0\x05\x04\x00\0\0\0\0\0\x01\0\0\0").unwrap_err();
        assert_eq!(
            err,
            FrameError::InvalidLength {
                kind: kind::SETTINGS,
                length: 5
            }
        );
        assert_eq!(err.reason(), Reason::FRAME_SIZE_ERROR);

        let err = decode(b"\0\0\0\x04\x00\0\0\0\x01").unwrap_err();
        assert_eq!(
            err,
            FrameError::UnexpectedStreamId {
                kind: kind::SETTINGS,
                stream_id: StreamId::new(1)
            }
        );
        assert_eq!(err.reason(), Reason::PROTOCOL_ERROR);
        assert!(err.is_connection_error());
    }
}
