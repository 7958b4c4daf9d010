//! Error codes and the error types shared by every layer of the wire core.
//!
//! Every error says three things: its *scope* (the whole connection, or one
//! stream), the RFC 9113 §7 *code* that goes on the wire, and *who caused it*
//! (the local user, the library itself, or the remote peer).

use std::borrow::Cow;
use std::fmt;

use crate::StreamId;

/// An HTTP/2 error code (RFC 9113 §7), as carried by RST_STREAM and GOAWAY.
///
/// Codes the RFC does not define are kept as they are: a peer may send them and
/// the RFC says they must not trigger any special behaviour (they are treated
/// like `INTERNAL_ERROR` where a meaning is needed).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reason(u32);

impl Reason {
    /// The graceful shutdown code.
    pub const NO_ERROR: Reason = Reason(0x0);
    /// The peer broke a protocol rule.
    pub const PROTOCOL_ERROR: Reason = Reason(0x1);
    /// The endpoint hit an unexpected internal error.
    pub const INTERNAL_ERROR: Reason = Reason(0x2);
    /// The peer broke the flow-control protocol.
    pub const FLOW_CONTROL_ERROR: Reason = Reason(0x3);
    /// A SETTINGS frame was not acknowledged in time.
    pub const SETTINGS_TIMEOUT: Reason = Reason(0x4);
    /// A frame arrived on a half-closed stream.
    pub const STREAM_CLOSED: Reason = Reason(0x5);
    /// A frame had an invalid size.
    pub const FRAME_SIZE_ERROR: Reason = Reason(0x6);
    /// The stream was refused before any application processing.
    pub const REFUSED_STREAM: Reason = Reason(0x7);
    /// The stream is no longer needed.
    pub const CANCEL: Reason = Reason(0x8);
    /// The HPACK compression context could not be kept.
    pub const COMPRESSION_ERROR: Reason = Reason(0x9);
    /// A CONNECT tunnel failed.
    pub const CONNECT_ERROR: Reason = Reason(0xa);
    /// The peer behaves in a way that may be generating excessive load.
    pub const ENHANCE_YOUR_CALM: Reason = Reason(0xb);
    /// The transport does not meet minimum security requirements.
    pub const INADEQUATE_SECURITY: Reason = Reason(0xc);
    /// HTTP/1.1 must be used instead.
    pub const HTTP_1_1_REQUIRED: Reason = Reason(0xd);

    /// Wraps a raw code from the wire.
    pub const fn from_u32(code: u32) -> Reason {
        Reason(code)
    }

    /// The raw code as sent on the wire.
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// The RFC name of the code, or `None` for codes the RFC does not define.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0 => "NO_ERROR",
            0x1 => "PROTOCOL_ERROR",
            0x2 => "INTERNAL_ERROR",
            0x3 => "FLOW_CONTROL_ERROR",
            0x4 => "SETTINGS_TIMEOUT",
            0x5 => "STREAM_CLOSED",
            0x6 => "FRAME_SIZE_ERROR",
            0x7 => "REFUSED_STREAM",
            0x8 => "CANCEL",
            0x9 => "COMPRESSION_ERROR",
            0xa => "CONNECT_ERROR",
            0xb => "ENHANCE_YOUR_CALM",
            0xc => "INADEQUATE_SECURITY",
            0xd => "HTTP_1_1_REQUIRED",
            _ => return None,
        })
    }
}

impl From<u32> for Reason {
    fn from(code: u32) -> Reason {
        Reason(code)
    }
}

impl From<Reason> for u32 {
    fn from(reason: Reason) -> u32 {
        reason.0
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Reason(0x{:x})", self.0),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown error code 0x{:x}", self.0),
        }
    }
}

/// Who caused an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// The application using this endpoint (for example a cancelled call).
    User,
    /// This library (a local limit, a timer, an internal inconsistency).
    Library,
    /// The remote peer (a frame it sent broke a rule, or it sent RST_STREAM /
    /// GOAWAY).
    Remote,
}

/// An error that ends the whole connection (answered with GOAWAY).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionError {
    /// The code sent (or received) in GOAWAY.
    pub reason: Reason,
    /// Who caused it.
    pub initiator: Initiator,
    /// A human-readable explanation; for local errors it is also sent as
    /// GOAWAY debug data.
    pub detail: Cow<'static, str>,
}

impl ConnectionError {
    /// A connection error caused by something the peer sent.
    pub fn remote(reason: Reason, detail: impl Into<Cow<'static, str>>) -> Self {
        ConnectionError {
            reason,
            initiator: Initiator::Remote,
            detail: detail.into(),
        }
    }

    /// A connection error raised by the library (a limit or timer).
    pub fn library(reason: Reason, detail: impl Into<Cow<'static, str>>) -> Self {
        ConnectionError {
            reason,
            initiator: Initiator::Library,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.initiator {
            Initiator::User => "by the application",
            Initiator::Library => "by the library",
            Initiator::Remote => "by the peer",
        };
        if self.reason == Reason::NO_ERROR {
            write!(f, "connection closed {who}: {}", self.detail)
        } else {
            write!(
                f,
                "connection error {} raised {who}: {}",
                self.reason, self.detail
            )
        }
    }
}

impl std::error::Error for ConnectionError {}

/// An error that ends one stream (answered with RST_STREAM); the connection
/// goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamError {
    /// The stream it ends.
    pub stream_id: StreamId,
    /// The code sent (or received) in RST_STREAM.
    pub reason: Reason,
    /// Who caused it.
    pub initiator: Initiator,
    /// A human-readable explanation (never sent on the wire).
    pub detail: Cow<'static, str>,
}

impl StreamError {
    /// A stream error caused by something the peer sent.
    pub fn remote(
        stream_id: StreamId,
        reason: Reason,
        detail: impl Into<Cow<'static, str>>,
    ) -> Self {
        StreamError {
            stream_id,
            reason,
            initiator: Initiator::Remote,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stream {} error {} ({:?}): {}",
            self.stream_id.as_u32(),
            self.reason,
            self.initiator,
            self.detail
        )
    }
}

impl std::error::Error for StreamError {}

/// Either scope of HTTP/2 error.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The connection ends.
    Connection(ConnectionError),
    /// One stream ends.
    Stream(StreamError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connection(e) => e.fmt(f),
            Error::Stream(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConnectionError> for Error {
    fn from(e: ConnectionError) -> Self {
        Error::Connection(e)
    }
}

impl From<StreamError> for Error {
    fn from(e: StreamError) -> Self {
        Error::Stream(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_and_raw_codes() {
        assert_eq!(Reason::ENHANCE_YOUR_CALM.as_u32(), 0xb);
        assert_eq!(format!("{:?}", Reason::REFUSED_STREAM), "REFUSED_STREAM");
        assert_eq!(format!("{:?}", Reason::from_u32(0x42)), "Reason(0x42)");
        assert_eq!(Reason::from_u32(0x42).name(), None);
        assert_eq!(Reason::from(0xd), Reason::HTTP_1_1_REQUIRED);
    }
}
