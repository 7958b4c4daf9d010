//! What can go wrong compressing or decompressing one message.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;

use ferry_wire::grpc::{Code, Status};

use super::Encoding;

/// A message could not be compressed or decompressed.
///
/// The scope is always one call: the runtime ends that call with
/// [`to_status`](Self::to_status) and the connection carries on. Every variant
/// but [`Compress`](Self::Compress) is the remote peer's doing
/// ([`caused_by_peer`](Self::caused_by_peer)).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompressionError {
    /// The message decompresses to more than `max` bytes, the receive limit
    /// (a decompression bomb, or just a large message). Decompression stopped
    /// at the limit, so the real size is unknown. → `RESOURCE_EXHAUSTED`.
    TooLarge {
        /// The receive limit, in bytes.
        max: usize,
    },
    /// The message is not a valid stream of its encoding: truncated, a bad
    /// checksum, garbage after the end, a zstd window larger than the limit
    /// allows. → `INTERNAL`.
    Corrupt {
        /// The encoding the message claimed.
        encoding: Encoding,
        /// What the decoder reported, for the status message.
        detail: Cow<'static, str>,
    },
    /// The peer's `grpc-encoding` names an encoding that Ferry does not
    /// implement or that this endpoint disabled. → `UNIMPLEMENTED`.
    Unsupported {
        /// The name as received (invalid UTF-8 replaced).
        name: String,
    },
    /// A message has the compressed flag set while `grpc-encoding` is
    /// identity or absent, which `PROTOCOL-HTTP2.md` forbids. → `INTERNAL`.
    FlagWithoutEncoding,
    /// Compressing a local message failed inside the codec library (in
    /// practice only when it cannot allocate). → `INTERNAL`.
    Compress {
        /// The encoding that failed.
        encoding: Encoding,
        /// What the library reported.
        detail: Cow<'static, str>,
    },
}

impl CompressionError {
    /// The status a call ends with, with grpc-go's codes and messages, so
    /// that logs and tests read the same across implementations.
    ///
    /// grpc-go words a bomb two ways: `larger than max (N vs. M)` when it
    /// decompressed the whole message, and `larger than max M` when it stopped
    /// at the limit, as Ferry always does (the real N is never computed).
    pub fn to_status(&self) -> Status {
        match self {
            CompressionError::TooLarge { max } => Status::new(
                Code::ResourceExhausted,
                format!("grpc: received message after decompression larger than max {max}"),
            ),
            CompressionError::Corrupt { detail, .. } => Status::new(
                Code::Internal,
                format!("grpc: failed to decompress the received message: {detail}"),
            ),
            CompressionError::Unsupported { name } => Status::new(
                Code::Unimplemented,
                format!("grpc: Decompressor is not installed for grpc-encoding {name:?}"),
            ),
            CompressionError::FlagWithoutEncoding => Status::new(
                Code::Internal,
                "grpc: compressed flag set with identity or empty encoding",
            ),
            CompressionError::Compress { detail, .. } => Status::new(
                Code::Internal,
                format!("grpc: error while compressing: {detail}"),
            ),
        }
    }

    /// Whether the remote peer caused the error (everything but
    /// [`Compress`](Self::Compress)).
    pub fn caused_by_peer(&self) -> bool {
        !matches!(self, CompressionError::Compress { .. })
    }
}

impl fmt::Display for CompressionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompressionError::TooLarge { max } => {
                write!(f, "message decompresses to more than {max} bytes")
            }
            CompressionError::Corrupt { encoding, detail } => {
                write!(f, "corrupt {encoding} message: {detail}")
            }
            CompressionError::Unsupported { name } => {
                write!(f, "unsupported grpc-encoding {name:?}")
            }
            CompressionError::FlagWithoutEncoding => {
                f.write_str("compressed flag set without a grpc-encoding")
            }
            CompressionError::Compress { encoding, detail } => {
                write!(f, "{encoding} compression failed: {detail}")
            }
        }
    }
}

impl Error for CompressionError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_grpc_go() {
        // (error, code, message, caused by the peer)
        let cases = [
            (
                CompressionError::TooLarge { max: 4_194_304 },
                Code::ResourceExhausted,
                "grpc: received message after decompression larger than max 4194304",
                true,
            ),
            (
                CompressionError::Corrupt {
                    encoding: Encoding::Gzip,
                    detail: "unexpected EOF".into(),
                },
                Code::Internal,
                "grpc: failed to decompress the received message: unexpected EOF",
                true,
            ),
            (
                CompressionError::Unsupported {
                    name: "snappy".to_owned(),
                },
                Code::Unimplemented,
                "grpc: Decompressor is not installed for grpc-encoding \"snappy\"",
                true,
            ),
            (
                CompressionError::Unsupported {
                    name: "a\"b\n".to_owned(),
                },
                Code::Unimplemented,
                r#"grpc: Decompressor is not installed for grpc-encoding "a\"b\n""#,
                true,
            ),
            (
                CompressionError::FlagWithoutEncoding,
                Code::Internal,
                "grpc: compressed flag set with identity or empty encoding",
                true,
            ),
            (
                CompressionError::Compress {
                    encoding: Encoding::Zstd,
                    detail: "Allocation error : not enough memory".into(),
                },
                Code::Internal,
                "grpc: error while compressing: Allocation error : not enough memory",
                false,
            ),
        ];
        for (error, code, message, by_peer) in cases {
            let status = error.to_status();
            assert_eq!(status.code(), code, "{error}");
            assert_eq!(status.message(), message);
            assert_eq!(error.caused_by_peer(), by_peer, "{error}");
        }
    }

    #[test]
    fn display() {
        assert_eq!(
            CompressionError::TooLarge { max: 10 }.to_string(),
            "message decompresses to more than 10 bytes"
        );
        assert_eq!(
            CompressionError::Corrupt {
                encoding: Encoding::Zstd,
                detail: "Unknown frame descriptor".into()
            }
            .to_string(),
            "corrupt zstd message: Unknown frame descriptor"
        );
        assert_eq!(
            CompressionError::FlagWithoutEncoding.to_string(),
            "compressed flag set without a grpc-encoding"
        );
    }
}
