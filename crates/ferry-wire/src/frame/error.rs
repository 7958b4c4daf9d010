//! Why a frame was rejected, and what RFC 9113 says to do about it.

use std::fmt;

use super::{Headers, kind};
use crate::{ConnectionError, Error, Reason, StreamError, StreamId};

/// A frame that breaks a rule of RFC 9113 §4 or §6.
///
/// Every variant knows its code ([`FrameError::reason`]) and its scope
/// ([`FrameError::stream_id`]); [`FrameError::into_error`] turns it into the
/// crate-wide [`Error`] with [`crate::Initiator::Remote`], since only a peer's
/// bytes are ever decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame type that belongs to a stream (DATA, HEADERS, PRIORITY,
    /// RST_STREAM, PUSH_PROMISE, CONTINUATION) arrived on stream 0.
    /// Connection error, PROTOCOL_ERROR.
    MissingStreamId {
        /// The raw frame type.
        kind: u8,
    },
    /// A connection-wide frame type (SETTINGS, PING, GOAWAY) arrived on a
    /// stream. Connection error, PROTOCOL_ERROR.
    UnexpectedStreamId {
        /// The raw frame type.
        kind: u8,
        /// The stream it named.
        stream_id: StreamId,
    },
    /// The payload length does not fit the frame type: PING not 8,
    /// RST_STREAM or WINDOW_UPDATE not 4, SETTINGS not a multiple of 6,
    /// GOAWAY under 8, or a padded / prioritised frame too short for its
    /// fixed fields. Connection error, FRAME_SIZE_ERROR (§4.2).
    InvalidLength {
        /// The raw frame type.
        kind: u8,
        /// The payload length received.
        length: u32,
    },
    /// A PRIORITY frame whose payload is not 5 bytes. Stream error,
    /// FRAME_SIZE_ERROR (§6.3).
    InvalidPriorityLength {
        /// The stream the frame named.
        stream_id: StreamId,
        /// The payload length received.
        length: u32,
    },
    /// A SETTINGS frame with the ACK flag and a payload. Connection error,
    /// FRAME_SIZE_ERROR (§6.5).
    SettingsAckWithPayload {
        /// The payload length received.
        length: u32,
    },
    /// The Pad Length is larger than what follows it (after the fixed
    /// fields). Connection error, PROTOCOL_ERROR (§6.1, §6.2, §6.6).
    PaddingTooLong {
        /// The raw frame type.
        kind: u8,
        /// The Pad Length received.
        pad_len: u8,
        /// The bytes that were left for data and padding.
        available: u32,
    },
    /// A PRIORITY frame that makes its stream depend on itself. Stream error,
    /// PROTOCOL_ERROR (§5.3.1).
    PrioritySelfDependency {
        /// The stream.
        stream_id: StreamId,
    },
    /// A HEADERS frame whose priority block makes its stream depend on
    /// itself. Stream error, PROTOCOL_ERROR (§5.3.1).
    ///
    /// The frame is handed back whole because its field-block fragment must
    /// still be fed to the HPACK decoder (and its CONTINUATION frames
    /// awaited) before the stream is reset: skipping it would desynchronise
    /// the connection's compression context (§4.3).
    HeadersSelfDependency(Box<Headers>),
    /// A SETTINGS value out of its range: ENABLE_PUSH or
    /// ENABLE_CONNECT_PROTOCOL not 0 or 1, MAX_FRAME_SIZE outside
    /// 16,384..=16,777,215 (PROTOCOL_ERROR), INITIAL_WINDOW_SIZE above
    /// 2^31 - 1 (FLOW_CONTROL_ERROR). Connection error (§6.5.2).
    InvalidSetting {
        /// The setting identifier.
        id: u16,
        /// The value received.
        value: u32,
    },
    /// A WINDOW_UPDATE with an increment of 0. PROTOCOL_ERROR: a stream
    /// error on a stream, a connection error on stream 0 (§6.9).
    ZeroWindowIncrement {
        /// The stream the frame named (0 for the connection window).
        stream_id: StreamId,
    },
}

impl FrameError {
    /// The error code to send in GOAWAY or RST_STREAM.
    pub fn reason(&self) -> Reason {
        match self {
            FrameError::MissingStreamId { .. }
            | FrameError::UnexpectedStreamId { .. }
            | FrameError::PaddingTooLong { .. }
            | FrameError::PrioritySelfDependency { .. }
            | FrameError::HeadersSelfDependency(_)
            | FrameError::ZeroWindowIncrement { .. } => Reason::PROTOCOL_ERROR,
            FrameError::InvalidLength { .. }
            | FrameError::InvalidPriorityLength { .. }
            | FrameError::SettingsAckWithPayload { .. } => Reason::FRAME_SIZE_ERROR,
            FrameError::InvalidSetting { id, .. } => {
                if *id == super::Settings::INITIAL_WINDOW_SIZE {
                    Reason::FLOW_CONTROL_ERROR
                } else {
                    Reason::PROTOCOL_ERROR
                }
            }
        }
    }

    /// The stream the error is confined to, or `None` when it ends the whole
    /// connection.
    pub fn stream_id(&self) -> Option<StreamId> {
        match self {
            FrameError::InvalidPriorityLength { stream_id, .. }
            | FrameError::PrioritySelfDependency { stream_id } => Some(*stream_id),
            FrameError::HeadersSelfDependency(headers) => Some(headers.stream_id),
            FrameError::ZeroWindowIncrement { stream_id } if !stream_id.is_zero() => {
                Some(*stream_id)
            }
            _ => None,
        }
    }

    /// True when the RFC says the whole connection ends (GOAWAY).
    pub fn is_connection_error(&self) -> bool {
        self.stream_id().is_none()
    }

    /// The crate-wide error with the RFC's scope and code, caused by
    /// [`crate::Initiator::Remote`]; the detail is this error's message.
    pub fn into_error(self) -> Error {
        let reason = self.reason();
        let detail = self.to_string();
        match self.stream_id() {
            Some(stream_id) => Error::Stream(StreamError::remote(stream_id, reason, detail)),
            None => Error::Connection(ConnectionError::remote(reason, detail)),
        }
    }
}

impl From<FrameError> for Error {
    fn from(e: FrameError) -> Error {
        e.into_error()
    }
}

/// Displays a frame type by name, or as a number when unknown.
struct KindName(u8);

impl fmt::Display for KindName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match kind::name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "type 0x{:x}", self.0),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::MissingStreamId { kind } => {
                write!(f, "{} frame on stream 0", KindName(*kind))
            }
            FrameError::UnexpectedStreamId { kind, stream_id } => {
                write!(
                    f,
                    "{} frame on stream {stream_id}, must be 0",
                    KindName(*kind)
                )
            }
            FrameError::InvalidLength { kind, length } => {
                write!(f, "{} frame with invalid length {length}", KindName(*kind))
            }
            FrameError::InvalidPriorityLength { stream_id, length } => {
                write!(
                    f,
                    "PRIORITY frame on stream {stream_id} with length {length}, must be 5"
                )
            }
            FrameError::SettingsAckWithPayload { length } => {
                write!(f, "SETTINGS ACK with a {length}-byte payload")
            }
            FrameError::PaddingTooLong {
                kind,
                pad_len,
                available,
            } => write!(
                f,
                "{} frame pads {pad_len} bytes but only {available} follow",
                KindName(*kind)
            ),
            FrameError::PrioritySelfDependency { stream_id } => {
                write!(
                    f,
                    "PRIORITY frame makes stream {stream_id} depend on itself"
                )
            }
            FrameError::HeadersSelfDependency(headers) => {
                write!(
                    f,
                    "HEADERS frame makes stream {} depend on itself",
                    headers.stream_id
                )
            }
            FrameError::InvalidSetting { id, value } => {
                write!(f, "SETTINGS parameter 0x{id:x} has invalid value {value}")
            }
            FrameError::ZeroWindowIncrement { stream_id } => {
                write!(f, "WINDOW_UPDATE on stream {stream_id} with increment 0")
            }
        }
    }
}

impl std::error::Error for FrameError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Initiator;
    use crate::frame::{PrioritySpec, Settings};
    use bytes::Bytes;

    #[test]
    fn scope_and_code() {
        let e = FrameError::InvalidPriorityLength {
            stream_id: StreamId::new(3),
            length: 4,
        };
        assert_eq!(e.reason(), Reason::FRAME_SIZE_ERROR);
        assert_eq!(e.stream_id(), Some(StreamId::new(3)));
        assert_eq!(
            e.into_error(),
            Error::Stream(StreamError {
                stream_id: StreamId::new(3),
                reason: Reason::FRAME_SIZE_ERROR,
                initiator: Initiator::Remote,
                detail: "PRIORITY frame on stream 3 with length 4, must be 5".into(),
            })
        );

        let e = FrameError::ZeroWindowIncrement {
            stream_id: StreamId::ZERO,
        };
        assert!(e.is_connection_error());
        assert_eq!(
            e.into_error(),
            Error::Connection(ConnectionError {
                reason: Reason::PROTOCOL_ERROR,
                initiator: Initiator::Remote,
                detail: "WINDOW_UPDATE on stream 0 with increment 0".into(),
            })
        );
        let e = FrameError::ZeroWindowIncrement {
            stream_id: StreamId::new(5),
        };
        assert_eq!(e.stream_id(), Some(StreamId::new(5)));
    }

    #[test]
    fn setting_codes() {
        let window = FrameError::InvalidSetting {
            id: Settings::INITIAL_WINDOW_SIZE,
            value: 1 << 31,
        };
        assert_eq!(window.reason(), Reason::FLOW_CONTROL_ERROR);
        assert!(window.is_connection_error());
        let push = FrameError::InvalidSetting {
            id: Settings::ENABLE_PUSH,
            value: 2,
        };
        assert_eq!(push.reason(), Reason::PROTOCOL_ERROR);
    }

    #[test]
    fn headers_self_dependency_is_a_stream_error() {
        let mut h = Headers::new(StreamId::new(9), Bytes::from_static(b"x"), false, true);
        h.priority = Some(PrioritySpec {
            dependency: StreamId::new(9),
            exclusive: false,
            weight: 0,
        });
        let e = FrameError::HeadersSelfDependency(Box::new(h));
        assert_eq!(e.reason(), Reason::PROTOCOL_ERROR);
        assert_eq!(e.stream_id(), Some(StreamId::new(9)));
        assert_eq!(
            e.to_string(),
            "HEADERS frame makes stream 9 depend on itself"
        );
    }

    #[test]
    fn messages_name_the_frame_type() {
        assert_eq!(
            FrameError::MissingStreamId { kind: kind::DATA }.to_string(),
            "DATA frame on stream 0"
        );
        assert_eq!(
            FrameError::InvalidLength {
                kind: 0x42,
                length: 3
            }
            .to_string(),
            "type 0x42 frame with invalid length 3"
        );
    }
}
