//! Message framing: the 5-byte prefix in front of every gRPC message.
//!
//! ```text
//! +------------+---------------------------+-----------------+
//! | compressed |  length (u32, big endian) |  message bytes  |
//! |  1 byte    |          4 bytes          |  length bytes   |
//! +------------+---------------------------+-----------------+
//! ```
//!
//! DATA frame boundaries have nothing to do with message boundaries: one frame
//! may hold many messages, one message may span many frames. The
//! [`MessageDecoder`] accepts any split.

use std::collections::VecDeque;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::status::{Code, Status};

/// Length of the prefix in front of every message.
pub const MESSAGE_HEADER_LEN: usize = 5;

/// Default largest message a receiver accepts: 4 MiB, the default of grpc-go,
/// grpc-java and the C core.
pub const DEFAULT_MAX_RECV_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// One received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The compressed flag: the bytes are compressed with the stream's
    /// `grpc-encoding`.
    pub compressed: bool,
    /// The message bytes (still compressed when `compressed` is set).
    pub data: Bytes,
}

/// A message could not be framed for sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The message is longer than the 4-byte length prefix can say
    /// (4 GiB - 1).
    TooLarge {
        /// The message length.
        len: usize,
    },
}

impl EncodeError {
    /// The status a call fails with: `RESOURCE_EXHAUSTED`.
    pub fn to_status(&self) -> Status {
        Status::new(Code::ResourceExhausted, self.to_string())
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLarge { len } => {
                write!(
                    f,
                    "trying to send message larger than max ({len} vs. {})",
                    u32::MAX
                )
            }
        }
    }
}

impl std::error::Error for EncodeError {}

impl From<EncodeError> for Status {
    fn from(e: EncodeError) -> Status {
        e.to_status()
    }
}

/// The 5-byte prefix for a message of `len` bytes.
///
/// Useful to patch a prefix in place after encoding a message behind a
/// 5-byte placeholder, or to send the prefix and a large payload as two
/// buffers without copying the payload.
pub fn message_header(
    compressed: bool,
    len: usize,
) -> Result<[u8; MESSAGE_HEADER_LEN], EncodeError> {
    let len32 = u32::try_from(len).map_err(|_| EncodeError::TooLarge { len })?;
    let [a, b, c, d] = len32.to_be_bytes();
    Ok([u8::from(compressed), a, b, c, d])
}

/// Writes the 5-byte prefix for a message of `len` bytes into `dst`.
pub fn encode_message_header(
    compressed: bool,
    len: usize,
    dst: &mut impl BufMut,
) -> Result<(), EncodeError> {
    dst.put_slice(&message_header(compressed, len)?);
    Ok(())
}

/// Writes prefix and payload into `dst`, reserving room for both at once.
pub fn encode_message(
    compressed: bool,
    payload: &[u8],
    dst: &mut BytesMut,
) -> Result<(), EncodeError> {
    let header = message_header(compressed, payload.len())?;
    dst.reserve(MESSAGE_HEADER_LEN + payload.len());
    dst.put_slice(&header);
    dst.put_slice(payload);
    Ok(())
}

/// A received message stream broke the framing rules.
///
/// Each error is a stream-scoped failure caused by the remote peer; the call
/// ends with [`to_status`](DecodeError::to_status) and the stream is reset.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The length prefix announces a message over the receive limit. Raised
    /// from the prefix alone, before any of the body is buffered.
    TooLarge {
        /// The announced length.
        len: usize,
        /// The receive limit.
        max: usize,
    },
    /// The compressed-flag byte is neither 0 nor 1.
    InvalidCompressedFlag {
        /// The byte received.
        flag: u8,
    },
    /// The stream ended inside a message.
    Truncated {
        /// Bytes the message needs, prefix included.
        expected: usize,
        /// Bytes received of it, prefix included.
        received: usize,
    },
}

impl DecodeError {
    /// The gRPC code the call ends with: `RESOURCE_EXHAUSTED` for a message
    /// over the limit, `INTERNAL` for broken framing.
    pub fn code(&self) -> Code {
        match self {
            DecodeError::TooLarge { .. } => Code::ResourceExhausted,
            DecodeError::InvalidCompressedFlag { .. } | DecodeError::Truncated { .. } => {
                Code::Internal
            }
        }
    }

    /// The status the call ends with.
    pub fn to_status(&self) -> Status {
        Status::new(self.code(), self.to_string())
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge { len, max } => {
                write!(f, "received message larger than max ({len} vs. {max})")
            }
            DecodeError::InvalidCompressedFlag { flag } => {
                write!(
                    f,
                    "received message with invalid compressed flag {flag} (must be 0 or 1)"
                )
            }
            DecodeError::Truncated { expected, received } => {
                write!(
                    f,
                    "stream ended inside a message: received {received} of {expected} bytes"
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<DecodeError> for Status {
    fn from(e: DecodeError) -> Status {
        e.to_status()
    }
}

#[derive(Clone, Debug)]
enum State {
    /// Waiting for the 5-byte prefix (fewer than 5 bytes are buffered).
    Header,
    /// The prefix is read; waiting for `len` body bytes.
    Body { compressed: bool, len: usize },
    /// A framing error; every later call reports it, and input is dropped.
    Failed(DecodeError),
}

/// Splits a stream of DATA payloads into messages.
///
/// Call [`push`](MessageDecoder::push) with each DATA payload, then
/// [`next_message`](MessageDecoder::next_message) until it returns
/// `Ok(None)`; at END_STREAM, call [`finish`](MessageDecoder::finish).
///
/// * **Zero copy** when a message lies inside one pushed chunk: the message
///   is a slice of it.
/// * **One allocation** otherwise, of exactly the message length, made when
///   the last byte has arrived. Allocating only then means a peer cannot make
///   us reserve memory it has not sent: a 6-byte input claiming a 4 MiB
///   message costs 6 bytes. The chunks held meanwhile are bounded by the
///   stream's flow-control window.
/// * **The limit** is checked from the prefix as soon as it is complete,
///   before any of the body is buffered; after an error further input is
///   dropped.
#[derive(Debug)]
pub struct MessageDecoder {
    chunks: VecDeque<Bytes>,
    /// Total bytes in `chunks`.
    buffered: usize,
    max_message_size: usize,
    state: State,
}

impl MessageDecoder {
    /// A decoder with the default 4 MiB receive limit.
    pub fn new() -> MessageDecoder {
        MessageDecoder::with_max_message_size(DEFAULT_MAX_RECV_MESSAGE_SIZE)
    }

    /// A decoder that rejects messages longer than `max` bytes.
    pub fn with_max_message_size(max: usize) -> MessageDecoder {
        MessageDecoder {
            chunks: VecDeque::new(),
            buffered: 0,
            max_message_size: max,
            state: State::Header,
        }
    }

    /// The receive limit.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Adds the payload of one DATA frame (any length, any split).
    pub fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() || matches!(self.state, State::Failed(_)) {
            return;
        }
        self.buffered += chunk.len();
        self.chunks.push_back(chunk);
        self.read_header();
    }

    /// The next complete message, `Ok(None)` when more input is needed.
    ///
    /// After an error, every later call returns the same error.
    pub fn next_message(&mut self) -> Result<Option<Message>, DecodeError> {
        let (compressed, len) = match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::Header => return Ok(None),
            State::Body { compressed, len } => (*compressed, *len),
        };
        if self.buffered < len {
            return Ok(None);
        }
        let data = self.take(len);
        self.state = State::Header;
        self.read_header();
        Ok(Some(Message { compressed, data }))
    }

    /// The length of the message being received, from its prefix; `None`
    /// until a whole prefix has arrived (or after an error).
    ///
    /// The runtime uses it to open the stream's flow-control window ahead of
    /// a message larger than the window.
    pub fn pending_len(&self) -> Option<usize> {
        match self.state {
            State::Body { len, .. } => Some(len),
            State::Header | State::Failed(_) => None,
        }
    }

    /// Bytes pushed and not yet returned as messages (prefix excluded once
    /// read).
    pub fn buffered_len(&self) -> usize {
        self.buffered
    }

    /// Checks, at the end of the stream, that no message was cut short.
    ///
    /// Call it once `next_message` has returned `Ok(None)`: any byte still
    /// buffered then belongs to an incomplete message.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match &self.state {
            State::Failed(e) => Err(e.clone()),
            State::Header if self.buffered == 0 => Ok(()),
            State::Header => Err(DecodeError::Truncated {
                expected: MESSAGE_HEADER_LEN,
                received: self.buffered,
            }),
            State::Body { len, .. } => Err(DecodeError::Truncated {
                expected: MESSAGE_HEADER_LEN.saturating_add(*len),
                received: MESSAGE_HEADER_LEN + self.buffered,
            }),
        }
    }

    /// Reads the prefix if it is complete, checking flag and limit.
    fn read_header(&mut self) {
        if !matches!(self.state, State::Header) || self.buffered < MESSAGE_HEADER_LEN {
            return;
        }
        let mut header = [0u8; MESSAGE_HEADER_LEN];
        self.copy_out(&mut header);
        let [flag, a, b, c, d] = header;
        // u32 always fits in usize on the 32- and 64-bit targets we support;
        // saturate rather than trust that.
        let len = usize::try_from(u32::from_be_bytes([a, b, c, d])).unwrap_or(usize::MAX);
        let compressed = match flag {
            0 => false,
            1 => true,
            flag => return self.fail(DecodeError::InvalidCompressedFlag { flag }),
        };
        if len > self.max_message_size {
            return self.fail(DecodeError::TooLarge {
                len,
                max: self.max_message_size,
            });
        }
        self.state = State::Body { compressed, len };
    }

    fn fail(&mut self, error: DecodeError) {
        self.chunks = VecDeque::new();
        self.buffered = 0;
        self.state = State::Failed(error);
    }

    /// Removes `dst.len()` buffered bytes into `dst`; the caller checked
    /// that enough are buffered.
    fn copy_out(&mut self, dst: &mut [u8]) {
        let mut filled = 0;
        while filled < dst.len() {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let n = front.len().min(dst.len() - filled);
            dst[filled..filled + n].copy_from_slice(&front[..n]);
            filled += n;
            if n == front.len() {
                self.chunks.pop_front();
            } else {
                let _ = front.split_to(n);
            }
        }
        self.buffered -= filled;
    }

    /// Removes `len` buffered bytes as one `Bytes`; the caller checked that
    /// enough are buffered.
    fn take(&mut self, len: usize) -> Bytes {
        if len == 0 {
            return Bytes::new();
        }
        if let Some(front) = self.chunks.front_mut() {
            if front.len() >= len {
                self.buffered -= len;
                return if front.len() == len {
                    self.chunks.pop_front().unwrap_or_default()
                } else {
                    front.split_to(len)
                };
            }
        }
        let mut out = BytesMut::with_capacity(len);
        while out.len() < len {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let n = front.len().min(len - out.len());
            out.extend_from_slice(&front[..n]);
            if n == front.len() {
                self.chunks.pop_front();
            } else {
                let _ = front.split_to(n);
            }
        }
        self.buffered -= out.len();
        out.freeze()
    }
}

impl Default for MessageDecoder {
    fn default() -> MessageDecoder {
        MessageDecoder::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn framed(messages: &[(bool, &[u8])]) -> BytesMut {
        let mut buf = BytesMut::new();
        for (compressed, payload) in messages {
            encode_message(*compressed, payload, &mut buf).unwrap();
        }
        buf
    }

    fn drain(decoder: &mut MessageDecoder) -> Vec<Message> {
        let mut out = Vec::new();
        while let Some(m) = decoder.next_message().unwrap() {
            out.push(m);
        }
        out
    }

    #[test]
    fn header_bytes() {
        assert_eq!(message_header(false, 0), Ok([0, 0, 0, 0, 0]));
        assert_eq!(message_header(true, 0x0102_0304), Ok([1, 1, 2, 3, 4]));
        assert_eq!(
            message_header(false, u32::MAX as usize),
            Ok([0, 0xff, 0xff, 0xff, 0xff])
        );
        let mut buf = BytesMut::new();
        encode_message_header(true, 300, &mut buf).unwrap();
        assert_eq!(&buf[..], &[1, 0, 0, 1, 44]);
        let mut buf = BytesMut::new();
        encode_message(false, b"hi", &mut buf).unwrap();
        assert_eq!(&buf[..], b"\x00\x00\x00\x00\x02hi");
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn header_rejects_lengths_over_u32() {
        let len = u32::MAX as usize + 1;
        assert_eq!(
            message_header(false, len),
            Err(EncodeError::TooLarge { len })
        );
        let status = EncodeError::TooLarge { len }.to_status();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "trying to send message larger than max (4294967296 vs. 4294967295)"
        );
    }

    #[test]
    fn decodes_messages_in_one_chunk_without_copying() {
        let chunk = framed(&[(false, b"hello"), (true, b""), (false, b"world!")]).freeze();
        let range = chunk.as_ptr() as usize..chunk.as_ptr() as usize + chunk.len();
        let mut d = MessageDecoder::new();
        d.push(chunk.clone());
        let messages = drain(&mut d);
        assert_eq!(
            messages,
            vec![
                Message {
                    compressed: false,
                    data: Bytes::from_static(b"hello")
                },
                Message {
                    compressed: true,
                    data: Bytes::new()
                },
                Message {
                    compressed: false,
                    data: Bytes::from_static(b"world!")
                },
            ]
        );
        for m in messages.iter().filter(|m| !m.data.is_empty()) {
            assert!(
                range.contains(&(m.data.as_ptr() as usize)),
                "message was copied"
            );
        }
        assert_eq!(d.buffered_len(), 0);
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn assembles_a_message_split_across_chunks() {
        let bytes = framed(&[(false, b"abcdefghij")]).freeze();
        let mut d = MessageDecoder::new();
        d.push(bytes.slice(0..3));
        assert_eq!(d.pending_len(), None);
        assert_eq!(d.next_message(), Ok(None));
        d.push(bytes.slice(3..7));
        assert_eq!(d.pending_len(), Some(10));
        assert_eq!(d.buffered_len(), 2);
        assert_eq!(d.next_message(), Ok(None));
        assert_eq!(
            d.finish(),
            Err(DecodeError::Truncated {
                expected: 15,
                received: 7
            }),
            "finish in the middle of the body"
        );
        d.push(bytes.slice(7..));
        assert_eq!(
            d.next_message(),
            Ok(Some(Message {
                compressed: false,
                data: Bytes::from_static(b"abcdefghij")
            }))
        );
        assert_eq!(d.pending_len(), None);
        assert_eq!(d.next_message(), Ok(None));
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn truncated_prefix_is_reported() {
        let mut d = MessageDecoder::new();
        d.push(Bytes::from_static(&[0, 0, 0]));
        assert_eq!(d.next_message(), Ok(None));
        let err = d.finish().unwrap_err();
        assert_eq!(
            err,
            DecodeError::Truncated {
                expected: 5,
                received: 3
            }
        );
        assert_eq!(err.code(), Code::Internal);
        assert_eq!(
            err.to_string(),
            "stream ended inside a message: received 3 of 5 bytes"
        );
    }

    #[test]
    fn invalid_flag_is_internal_and_sticky() {
        let mut d = MessageDecoder::new();
        d.push(Bytes::from_static(&[2, 0, 0, 0, 1, b'x']));
        let err = DecodeError::InvalidCompressedFlag { flag: 2 };
        assert_eq!(d.next_message(), Err(err.clone()));
        assert_eq!(d.next_message(), Err(err.clone()));
        assert_eq!(d.finish(), Err(err.clone()));
        assert_eq!(Status::from(err).code(), Code::Internal);
        d.push(Bytes::from_static(b"more"));
        assert_eq!(d.buffered_len(), 0);
    }

    #[test]
    fn limit_is_inclusive() {
        let mut d = MessageDecoder::with_max_message_size(4);
        d.push(framed(&[(false, b"1234")]).freeze());
        assert_eq!(
            d.next_message().unwrap().map(|m| m.data),
            Some(Bytes::from_static(b"1234"))
        );
        d.push(framed(&[(false, b"12345")]).freeze());
        assert_eq!(
            d.next_message(),
            Err(DecodeError::TooLarge { len: 5, max: 4 })
        );
    }

    /// A 4 GiB - 1 prefix on the default 4 MiB limit fails as soon as the
    /// prefix is complete: no body was ever pushed, nothing is buffered, and
    /// later input is dropped instead of piling up.
    #[test]
    fn hostile_length_prefix_fails_before_buffering() {
        let mut d = MessageDecoder::new();
        d.push(Bytes::from_static(&[0, 0xff, 0xff]));
        assert_eq!(d.next_message(), Ok(None));
        d.push(Bytes::from_static(&[0xff, 0xff]));
        let err = DecodeError::TooLarge {
            len: 0xffff_ffff,
            max: DEFAULT_MAX_RECV_MESSAGE_SIZE,
        };
        assert_eq!(d.next_message(), Err(err.clone()));
        assert_eq!(d.buffered_len(), 0);
        assert_eq!(d.pending_len(), None);
        for _ in 0..1000 {
            d.push(Bytes::from_static(&[0u8; 1024]));
        }
        assert_eq!(d.buffered_len(), 0);
        assert_eq!(d.chunks.capacity(), 0);
        let status = err.to_status();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "received message larger than max (4294967295 vs. 4194304)"
        );
    }

    /// A message after the last complete one may be over the limit: the good
    /// message still comes out first.
    #[test]
    fn error_after_a_good_message_comes_next() {
        let mut bytes = framed(&[(false, b"ok")]);
        bytes.extend_from_slice(&[0, 0, 0, 0, 9]);
        let mut d = MessageDecoder::with_max_message_size(8);
        d.push(bytes.freeze());
        assert_eq!(
            d.next_message().unwrap().map(|m| m.data),
            Some(Bytes::from_static(b"ok"))
        );
        assert_eq!(
            d.next_message(),
            Err(DecodeError::TooLarge { len: 9, max: 8 })
        );
    }

    fn messages_strategy() -> impl Strategy<Value = Vec<(bool, Vec<u8>)>> {
        proptest::collection::vec(
            (
                any::<bool>(),
                proptest::collection::vec(any::<u8>(), 0..200),
            ),
            0..8,
        )
    }

    proptest! {
        /// However the byte stream is cut, the same messages come out.
        #[test]
        fn any_split_yields_the_same_messages(
            messages in messages_strategy(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
        ) {
            let refs: Vec<(bool, &[u8])> = messages.iter().map(|(c, m)| (*c, m.as_slice())).collect();
            let stream = framed(&refs).freeze();
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            points.push(0);
            points.push(stream.len());
            points.sort_unstable();
            let mut d = MessageDecoder::new();
            let mut out = Vec::new();
            for pair in points.windows(2) {
                d.push(stream.slice(pair[0]..pair[1]));
                while let Some(m) = d.next_message().map_err(|e| TestCaseError::fail(e.to_string()))? {
                    out.push((m.compressed, m.data.to_vec()));
                }
            }
            prop_assert_eq!(d.finish(), Ok(()));
            prop_assert_eq!(d.buffered_len(), 0);
            prop_assert_eq!(out, messages);
        }

        /// Arbitrary bytes in arbitrary chunks never panic and never yield a
        /// message over the limit.
        #[test]
        fn arbitrary_input_never_panics(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..10),
        ) {
            let mut d = MessageDecoder::with_max_message_size(16);
            for chunk in chunks {
                d.push(Bytes::from(chunk));
                while let Ok(Some(m)) = d.next_message() {
                    prop_assert!(m.data.len() <= 16);
                }
            }
            let _ = d.finish();
        }
    }
}
