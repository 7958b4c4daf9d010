//! HTTP/2 frames (RFC 9113 §4, §6).
//!
//! This module turns bytes into typed frames and back. It knows the layout
//! and the per-frame rules of RFC 9113 (which stream a frame may use, fixed
//! sizes, padding, setting ranges) and nothing about connection state: whether
//! a frame is allowed *now* (a DATA frame on an idle stream, a CONTINUATION
//! that does not follow HEADERS, a PUSH_PROMISE to a client that disabled
//! push) is for the connection to decide.
//!
//! ```text
//!  socket bytes                                             bytes to send
//!       │                                                        ▲
//!       ▼                                                        │
//!  [u8; 9] ──FrameHeader::decode──▶ FrameHeader           Frame::encode
//!       │      (runtime checks length ≤ local            (or Data::encode_head +
//!       │       SETTINGS_MAX_FRAME_SIZE, buffers          payload, for vectored
//!       ▼       `length` bytes)                            writes)
//!  Bytes payload ──Frame::decode──▶ Frame ──▶ connection ──────┘
//!                      │
//!                      └──▶ FrameError ──into_error──▶ crate::Error
//!                            (GOAWAY or RST_STREAM, with the RFC's code)
//! ```
//!
//! Decoding never copies: DATA payloads, header-block fragments and GOAWAY
//! debug data are slices of the payload `Bytes` the runtime handed in.
//! Encoding writes into a caller-owned `BytesMut`, reserving the whole frame
//! once.
//!
//! # What a decoder checks
//!
//! * Stream identifiers: DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE and
//!   CONTINUATION need a non-zero stream; SETTINGS, PING and GOAWAY need stream
//!   0 (connection error PROTOCOL_ERROR). WINDOW_UPDATE may use either. This is
//!   checked before anything else.
//! * Sizes: PING 8, RST_STREAM 4, WINDOW_UPDATE 4, SETTINGS a multiple of 6,
//!   GOAWAY at least 8, a padded or prioritised frame at least as long as its
//!   fixed fields (connection error FRAME_SIZE_ERROR). PRIORITY must be 5
//!   (a *stream* error FRAME_SIZE_ERROR, §6.3). A SETTINGS ACK must be empty.
//! * Padding longer than what is left after the fixed fields (connection error
//!   PROTOCOL_ERROR). A pad length equal to what is left (an empty fragment)
//!   is legal. The padding's content is not checked (§6.1 allows either).
//! * A stream that depends on itself (stream error PROTOCOL_ERROR).
//! * Setting values (§6.5.2, RFC 8441 §3).
//! * A zero WINDOW_UPDATE increment (stream error on a stream, connection
//!   error on stream 0).
//!
//! Reserved bits are cleared, flags a frame type does not define are ignored,
//! and frame types this module does not know become [`Frame::Unknown`], never
//! an error (§4.1, §5.5). Encoders only ever set the flags a frame defines.
//!
//! The `header.length` given to [`Frame::decode`] is not consulted: the
//! payload's own length is authoritative, so a mismatch cannot make the
//! decoder read out of bounds.

mod continuation;
mod data;
mod error;
mod goaway;
mod head;
mod headers;
mod ping;
mod priority;
mod push_promise;
mod rst_stream;
mod settings;
mod unknown;
mod window_update;

#[cfg(test)]
mod proptests;

use bytes::{Buf, BufMut, Bytes, BytesMut};

pub use continuation::Continuation;
pub use data::{Data, encode_data};
pub use error::FrameError;
pub use goaway::GoAway;
pub use head::FrameHeader;
pub use headers::{Headers, encode_header_block};
pub use ping::Ping;
pub use priority::{Priority, PrioritySpec};
pub use push_promise::PushPromise;
pub use rst_stream::RstStream;
pub use settings::Settings;
pub use unknown::Unknown;
pub use window_update::WindowUpdate;

use crate::StreamId;

/// Length of the fixed frame header that precedes every payload (§4.1).
pub const HEADER_LEN: usize = 9;

/// The initial SETTINGS_MAX_FRAME_SIZE, and the smallest value a peer may
/// advertise (RFC 9113 §6.5.2).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// The largest SETTINGS_MAX_FRAME_SIZE a peer may advertise: 2^24 - 1, all the
/// 24-bit length field can carry (RFC 9113 §6.5.2).
pub const MAX_MAX_FRAME_SIZE: u32 = 16_777_215;

/// Raw frame type codes (RFC 9113 §6, registry in §11.2).
pub mod kind {
    /// DATA (§6.1).
    pub const DATA: u8 = 0x0;
    /// HEADERS (§6.2).
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY (§6.3).
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM (§6.4).
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS (§6.5).
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE (§6.6).
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING (§6.7).
    pub const PING: u8 = 0x6;
    /// GOAWAY (§6.8).
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE (§6.9).
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION (§6.10).
    pub const CONTINUATION: u8 = 0x9;

    /// The RFC name of a frame type, or `None` for a type RFC 9113 does not
    /// define.
    pub const fn name(kind: u8) -> Option<&'static str> {
        Some(match kind {
            DATA => "DATA",
            HEADERS => "HEADERS",
            PRIORITY => "PRIORITY",
            RST_STREAM => "RST_STREAM",
            SETTINGS => "SETTINGS",
            PUSH_PROMISE => "PUSH_PROMISE",
            PING => "PING",
            GOAWAY => "GOAWAY",
            WINDOW_UPDATE => "WINDOW_UPDATE",
            CONTINUATION => "CONTINUATION",
            _ => return None,
        })
    }
}

/// Frame flag bits (RFC 9113 §6). A bit only means something for the frame
/// types that define it; everywhere else it is ignored on receipt and never
/// set on send.
pub mod flag {
    /// DATA, HEADERS: the sender's last frame on this stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: this frame acknowledges the peer's.
    pub const ACK: u8 = 0x1;
    /// HEADERS, PUSH_PROMISE, CONTINUATION: the header block ends here.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS, PUSH_PROMISE: a Pad Length byte and padding are present.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: the exclusive bit, stream dependency and weight are present.
    pub const PRIORITY: u8 = 0x20;
}

/// One decoded HTTP/2 frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// DATA (§6.1).
    Data(Data),
    /// HEADERS (§6.2).
    Headers(Headers),
    /// PRIORITY (§6.3).
    Priority(Priority),
    /// RST_STREAM (§6.4).
    RstStream(RstStream),
    /// SETTINGS (§6.5).
    Settings(Settings),
    /// PUSH_PROMISE (§6.6).
    PushPromise(PushPromise),
    /// PING (§6.7).
    Ping(Ping),
    /// GOAWAY (§6.8).
    GoAway(GoAway),
    /// WINDOW_UPDATE (§6.9).
    WindowUpdate(WindowUpdate),
    /// CONTINUATION (§6.10).
    Continuation(Continuation),
    /// A frame type this module does not know; its payload is dropped (§4.1:
    /// implementations must ignore unknown types).
    Unknown(Unknown),
}

impl Frame {
    /// Decodes one frame's payload.
    ///
    /// The runtime has read the header, checked `header.length` against its
    /// own SETTINGS_MAX_FRAME_SIZE and buffered exactly that many bytes into
    /// `payload`. DATA payloads, header-block fragments and GOAWAY debug data
    /// in the result are slices of `payload`; nothing is copied. (The length
    /// in `header` is not consulted; `payload.len()` is.)
    ///
    /// # Errors
    ///
    /// A [`FrameError`] when the frame breaks a rule of RFC 9113 §4 or §6; its
    /// [`FrameError::into_error`] gives the scope and code to answer with.
    pub fn decode(header: FrameHeader, payload: Bytes) -> Result<Frame, FrameError> {
        match header.kind {
            kind::DATA => Data::decode(&header, payload).map(Frame::Data),
            kind::HEADERS => Headers::decode(&header, payload).map(Frame::Headers),
            kind::PRIORITY => Priority::decode(&header, &payload).map(Frame::Priority),
            kind::RST_STREAM => RstStream::decode(&header, &payload).map(Frame::RstStream),
            kind::SETTINGS => Settings::decode(&header, &payload).map(Frame::Settings),
            kind::PUSH_PROMISE => PushPromise::decode(&header, payload).map(Frame::PushPromise),
            kind::PING => Ping::decode(&header, &payload).map(Frame::Ping),
            kind::GOAWAY => GoAway::decode(&header, payload).map(Frame::GoAway),
            kind::WINDOW_UPDATE => WindowUpdate::decode(&header, &payload).map(Frame::WindowUpdate),
            kind::CONTINUATION => Continuation::decode(&header, payload).map(Frame::Continuation),
            _ => Ok(Frame::Unknown(Unknown::decode(&header, &payload))),
        }
    }

    /// Writes the frame header and payload to `dst`, reserving room for the
    /// whole frame first.
    ///
    /// The frame is written as it is: splitting a payload to the peer's
    /// SETTINGS_MAX_FRAME_SIZE is the caller's job (see [`encode_data`] and
    /// [`encode_header_block`]). A payload longer than
    /// [`MAX_MAX_FRAME_SIZE`] cannot be framed and must never be passed in.
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            Frame::Data(f) => f.encode(dst),
            Frame::Headers(f) => f.encode(dst),
            Frame::Priority(f) => f.encode(dst),
            Frame::RstStream(f) => f.encode(dst),
            Frame::Settings(f) => f.encode(dst),
            Frame::PushPromise(f) => f.encode(dst),
            Frame::Ping(f) => f.encode(dst),
            Frame::GoAway(f) => f.encode(dst),
            Frame::WindowUpdate(f) => f.encode(dst),
            Frame::Continuation(f) => f.encode(dst),
            Frame::Unknown(f) => f.encode(dst),
        }
    }

    /// The number of bytes [`Frame::encode`] writes, header included.
    pub fn encoded_len(&self) -> usize {
        match self {
            Frame::Data(f) => f.encoded_len(),
            Frame::Headers(f) => f.encoded_len(),
            Frame::Priority(f) => f.encoded_len(),
            Frame::RstStream(f) => f.encoded_len(),
            Frame::Settings(f) => f.encoded_len(),
            Frame::PushPromise(f) => f.encoded_len(),
            Frame::Ping(f) => f.encoded_len(),
            Frame::GoAway(f) => f.encoded_len(),
            Frame::WindowUpdate(f) => f.encoded_len(),
            Frame::Continuation(f) => f.encoded_len(),
            Frame::Unknown(f) => f.encoded_len(),
        }
    }

    /// The stream the frame belongs to; [`StreamId::ZERO`] for SETTINGS, PING
    /// and GOAWAY.
    pub fn stream_id(&self) -> StreamId {
        match self {
            Frame::Data(f) => f.stream_id,
            Frame::Headers(f) => f.stream_id,
            Frame::Priority(f) => f.stream_id,
            Frame::RstStream(f) => f.stream_id,
            Frame::PushPromise(f) => f.stream_id,
            Frame::WindowUpdate(f) => f.stream_id,
            Frame::Continuation(f) => f.stream_id,
            Frame::Unknown(f) => f.stream_id,
            Frame::Settings(_) | Frame::Ping(_) | Frame::GoAway(_) => StreamId::ZERO,
        }
    }

    /// The raw frame type code (see [`kind`]).
    pub fn kind(&self) -> u8 {
        match self {
            Frame::Data(_) => kind::DATA,
            Frame::Headers(_) => kind::HEADERS,
            Frame::Priority(_) => kind::PRIORITY,
            Frame::RstStream(_) => kind::RST_STREAM,
            Frame::Settings(_) => kind::SETTINGS,
            Frame::PushPromise(_) => kind::PUSH_PROMISE,
            Frame::Ping(_) => kind::PING,
            Frame::GoAway(_) => kind::GOAWAY,
            Frame::WindowUpdate(_) => kind::WINDOW_UPDATE,
            Frame::Continuation(_) => kind::CONTINUATION,
            Frame::Unknown(f) => f.kind,
        }
    }
}

macro_rules! impl_from_for_frame {
    ($($ty:ident),*) => {$(
        impl From<$ty> for Frame {
            fn from(f: $ty) -> Frame {
                Frame::$ty(f)
            }
        }
    )*};
}

impl_from_for_frame!(
    Data,
    Headers,
    Priority,
    RstStream,
    Settings,
    PushPromise,
    Ping,
    GoAway,
    WindowUpdate,
    Continuation,
    Unknown
);

// ---- helpers shared by the frame files ----

/// A payload length as the `u32` the wire uses. Frames decoded from the wire
/// never exceed 2^24 - 1; saturating keeps a misuse from wrapping.
fn wire_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

// Encoders append with `BytesMut::extend_from_slice` on arrays of a constant
// size: it is inlined down to a few stores, where `BufMut::put_slice` /
// `put_u32` go through an out-of-line call and a libc `memmove` per field
// (measured: encoding a WINDOW_UPDATE went from ~15 ns to ~5 ns).

/// The header bytes of a frame with a payload of `len` bytes.
fn head_bytes(kind: u8, flags: u8, stream_id: StreamId, len: usize) -> [u8; HEADER_LEN] {
    FrameHeader {
        length: wire_len(len),
        kind,
        flags,
        stream_id,
    }
    .to_bytes()
}

/// Writes a frame header for a payload of `len` bytes after reserving room
/// for the whole frame, so the writes that follow never reallocate.
fn encode_head(kind: u8, flags: u8, stream_id: StreamId, len: usize, dst: &mut BytesMut) {
    dst.reserve(HEADER_LEN + len);
    dst.extend_from_slice(&head_bytes(kind, flags, stream_id, len));
}

/// A whole frame with a fixed-size payload (`N` = header + payload), built
/// on the stack so it is written with one constant-size copy.
fn fixed_frame<const N: usize>(
    kind: u8,
    flags: u8,
    stream_id: StreamId,
    payload: &[u8],
) -> [u8; N] {
    let mut out = [0; N];
    let (head, body) = out.split_at_mut(HEADER_LEN.min(N));
    head.copy_from_slice(&head_bytes(kind, flags, stream_id, body.len()));
    // Every caller passes a payload of exactly N - HEADER_LEN bytes.
    for (slot, byte) in body.iter_mut().zip(payload) {
        *slot = *byte;
    }
    out
}

/// Writes the Pad Length byte of a padded frame.
fn encode_pad_len(pad_len: Option<u8>, dst: &mut BytesMut) {
    if let Some(n) = pad_len {
        dst.extend_from_slice(&[n]);
    }
}

/// Writes the zero padding of a padded frame.
fn encode_padding(pad_len: Option<u8>, dst: &mut BytesMut) {
    if let Some(n) = pad_len {
        dst.put_bytes(0, usize::from(n));
    }
}

/// Rejects a stream frame on stream 0.
fn require_stream(head: &FrameHeader) -> Result<(), FrameError> {
    if head.stream_id.is_zero() {
        return Err(FrameError::MissingStreamId { kind: head.kind });
    }
    Ok(())
}

/// Rejects a connection frame on a stream other than 0.
fn require_connection(head: &FrameHeader) -> Result<(), FrameError> {
    if !head.stream_id.is_zero() {
        return Err(FrameError::UnexpectedStreamId {
            kind: head.kind,
            stream_id: head.stream_id,
        });
    }
    Ok(())
}

/// The big-endian `u32` at the start of `src`, or `None` if `src` is shorter
/// than 4 bytes.
fn read_u32(src: &[u8]) -> Option<u32> {
    match src {
        [a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// For a frame that may carry the PADDED flag: removes the Pad Length byte and
/// the trailing padding from `payload` in place (no copy), leaving the `fixed`
/// mandatory bytes (priority block, promised stream id) followed by the data
/// or fragment. Returns the pad length when the frame was padded.
///
/// The payload must hold the Pad Length byte and the fixed fields, or it is a
/// FRAME_SIZE_ERROR (§4.2: "too small to contain mandatory frame data"); the
/// padding may take at most what is left after them, or it is a
/// PROTOCOL_ERROR (§6.1, §6.2, §6.6).
fn strip_padding(
    head: &FrameHeader,
    payload: &mut Bytes,
    fixed: usize,
) -> Result<Option<u8>, FrameError> {
    let length = wire_len(payload.len());
    let too_short = || FrameError::InvalidLength {
        kind: head.kind,
        length,
    };
    if head.flags & flag::PADDED == 0 {
        if payload.len() < fixed {
            return Err(too_short());
        }
        return Ok(None);
    }
    let Some(&pad_len) = payload.first() else {
        return Err(too_short());
    };
    let after_fixed = match (payload.len() - 1).checked_sub(fixed) {
        Some(n) => n,
        None => return Err(too_short()),
    };
    if usize::from(pad_len) > after_fixed {
        return Err(FrameError::PaddingTooLong {
            kind: head.kind,
            pad_len,
            available: wire_len(after_fixed),
        });
    }
    payload.advance(1);
    payload.truncate(fixed + after_fixed - usize::from(pad_len));
    Ok(Some(pad_len))
}

/// The flag byte for a frame that may be padded.
fn padded_flag(pad_len: Option<u8>) -> u8 {
    if pad_len.is_some() { flag::PADDED } else { 0 }
}

/// The number of payload bytes padding adds: the Pad Length byte plus the
/// padding itself.
fn padding_overhead(pad_len: Option<u8>) -> usize {
    pad_len.map_or(0, |n| 1 + usize::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names() {
        assert_eq!(kind::name(kind::DATA), Some("DATA"));
        assert_eq!(kind::name(kind::CONTINUATION), Some("CONTINUATION"));
        assert_eq!(kind::name(0xa), None);
    }

    #[test]
    fn frame_accessors() {
        let f = Frame::from(WindowUpdate::new(StreamId::new(7), 10));
        assert_eq!(f.stream_id(), StreamId::new(7));
        assert_eq!(f.kind(), kind::WINDOW_UPDATE);
        assert_eq!(f.encoded_len(), 13);
        let f = Frame::from(Ping::new(*b"12345678"));
        assert_eq!(f.stream_id(), StreamId::ZERO);
        let mut dst = BytesMut::new();
        f.encode(&mut dst);
        assert_eq!(dst.len(), f.encoded_len());
    }

    #[test]
    fn strip_padding_edges() {
        let head = |flags| FrameHeader {
            length: 0,
            kind: kind::DATA,
            flags,
            stream_id: StreamId::new(1),
        };
        // Not padded: untouched.
        let mut p = Bytes::from_static(b"abc");
        assert_eq!(strip_padding(&head(0), &mut p, 0), Ok(None));
        assert_eq!(&p[..], b"abc");
        // Padded, padding fills everything after the Pad Length byte.
        let mut p = Bytes::from_static(b"\x03\0\0\0");
        assert_eq!(strip_padding(&head(flag::PADDED), &mut p, 0), Ok(Some(3)));
        assert!(p.is_empty());
        // One byte too many.
        let mut p = Bytes::from_static(b"\x04\0\0\0");
        assert_eq!(
            strip_padding(&head(flag::PADDED), &mut p, 0),
            Err(FrameError::PaddingTooLong {
                kind: kind::DATA,
                pad_len: 4,
                available: 3
            })
        );
        // Fixed fields count before padding.
        let mut p = Bytes::from_static(b"\x01ABCDEx\0");
        assert_eq!(strip_padding(&head(flag::PADDED), &mut p, 5), Ok(Some(1)));
        assert_eq!(&p[..], b"ABCDEx");
        let mut p = Bytes::from_static(b"\x01ABCDE");
        assert_eq!(
            strip_padding(&head(flag::PADDED), &mut p, 5),
            Err(FrameError::PaddingTooLong {
                kind: kind::DATA,
                pad_len: 1,
                available: 0
            })
        );
        let mut p = Bytes::from_static(b"\x00ABCD");
        assert_eq!(
            strip_padding(&head(flag::PADDED), &mut p, 5),
            Err(FrameError::InvalidLength {
                kind: kind::DATA,
                length: 5
            })
        );
        let mut p = Bytes::new();
        assert_eq!(
            strip_padding(&head(flag::PADDED), &mut p, 0),
            Err(FrameError::InvalidLength {
                kind: kind::DATA,
                length: 0
            })
        );
    }

    #[test]
    fn read_u32_needs_four_bytes() {
        assert_eq!(read_u32(&[1, 2, 3]), None);
        assert_eq!(read_u32(&[0x80, 0, 0, 1, 9]), Some(0x8000_0001));
    }
}
