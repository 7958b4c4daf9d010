//! What a connection tells its runtime, and the errors of its methods.

use std::fmt;

use bytes::Bytes;

use crate::frame::Settings;
use crate::{ConnectionError, HeaderField, Reason, StreamError, StreamId};

/// Something the runtime must act on, taken with
/// [`Connection::poll_event`](super::Connection::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Server side: the peer opened a stream with these request headers
    /// (already checked against HTTP/2's rules for a request).
    StreamOpened {
        /// The new stream.
        stream_id: StreamId,
        /// The request headers, pseudo-headers first.
        headers: Vec<HeaderField>,
        /// The request has no body (END_STREAM on HEADERS).
        end_stream: bool,
    },
    /// Client side: response headers (the first header block of a stream we
    /// opened). With `end_stream` it is a gRPC Trailers-Only response.
    Headers {
        /// The stream.
        stream_id: StreamId,
        /// The response headers.
        headers: Vec<HeaderField>,
        /// No body or trailers follow.
        end_stream: bool,
    },
    /// A body chunk. The runtime must hand `data.len()` back with
    /// [`Connection::release_capacity`](super::Connection::release_capacity)
    /// once the application has consumed it; until then the peer's window
    /// stays closed by that much.
    Data {
        /// The stream.
        stream_id: StreamId,
        /// The payload (padding removed).
        data: Bytes,
        /// The peer is done sending on this stream.
        end_stream: bool,
    },
    /// The trailing header block, which ends the peer's side of the stream.
    Trailers {
        /// The stream.
        stream_id: StreamId,
        /// The trailers (no pseudo-headers).
        trailers: Vec<HeaderField>,
    },
    /// The stream ended abnormally: the peer sent RST_STREAM, broke a rule
    /// on this stream (we then sent RST_STREAM), or a GOAWAY showed the
    /// stream was never processed (reason REFUSED_STREAM: safe to retry).
    Reset(StreamError),
    /// The stream we were sending on can take more data: its buffered bytes
    /// fell below [`Config::stream_send_buffer`](super::Config::stream_send_buffer).
    Writable {
        /// The stream.
        stream_id: StreamId,
    },
    /// The peer sent GOAWAY: no new streams; streams above `last_stream_id`
    /// were already reported as refused.
    GoAway {
        /// The highest stream id the peer may have processed.
        last_stream_id: StreamId,
        /// Why the peer is going away.
        reason: Reason,
        /// Opaque diagnostic data from the peer.
        debug_data: Bytes,
    },
    /// The ACK of a PING the runtime sent with
    /// [`Connection::send_ping`](super::Connection::send_ping).
    PingAck {
        /// The payload of the PING.
        payload: [u8; 8],
    },
    /// The peer's SETTINGS changed (the values now in force).
    SettingsChanged(Settings),
    /// Client side: a stream slot freed up after
    /// [`OpenError::AtCapacity`], so a waiting call may open its stream.
    StreamsAvailable,
    /// Client side: stream ids are nearly used up (fewer than
    /// [`STREAM_ID_RESERVE`](super::STREAM_ID_RESERVE) left); the runtime
    /// should open a new connection for new calls. Sent once.
    StreamIdsExhausted,
    /// The connection is finished: after a graceful shutdown with no stream
    /// left, or at once on an error. Flush `poll_transmit` (it may hold a
    /// GOAWAY), then close the socket. Sent once, last.
    Closed(ConnectionError),
}

/// Why a stream could not be opened. None of them reached the peer, so the
/// call may be tried on another connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS is reached; wait for
    /// [`Event::StreamsAvailable`].
    AtCapacity,
    /// No stream ids are left on this connection.
    IdsExhausted,
    /// A GOAWAY was sent or received: this connection takes no new streams.
    GoingAway,
    /// The connection is closed.
    Closed,
    /// Only a client opens streams (Ferry does not use server push).
    NotClient,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpenError::AtCapacity => "peer's concurrent stream limit reached",
            OpenError::IdsExhausted => "stream ids exhausted on this connection",
            OpenError::GoingAway => "connection is going away",
            OpenError::Closed => "connection is closed",
            OpenError::NotClient => "only clients open streams",
        })
    }
}

impl std::error::Error for OpenError {}

/// Why something could not be sent on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// No such stream: never opened, or already closed or reset.
    UnknownStream,
    /// Our side of the stream has already ended (END_STREAM queued).
    Finished,
    /// Response headers were already sent (use trailers or data).
    HeadersAlreadySent,
    /// Data or trailers before the response headers.
    HeadersNotSent,
    /// The connection is closed.
    Closed,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::UnknownStream => "unknown or closed stream",
            SendError::Finished => "stream already finished sending",
            SendError::HeadersAlreadySent => "headers already sent",
            SendError::HeadersNotSent => "headers not sent yet",
            SendError::Closed => "connection is closed",
        })
    }
}

impl std::error::Error for SendError {}
