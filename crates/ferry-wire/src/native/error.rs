//! What can be wrong with native-protocol bytes.

use std::fmt;

/// A framing or metadata error. Every variant is a protocol violation by the
/// peer; [`NativeError::is_connection_error`] says whether the connection
/// can go on (the frame's bounds were known and it was skipped) or must
/// close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NativeError {
    /// The first two bytes are not the native magic.
    BadMagic([u8; 2]),
    /// A header length below the version-1 fixed header.
    BadHeaderLength(u8),
    /// The metadata section is longer than the limit.
    MetaTooLarge {
        /// The length announced.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// The body is longer than the limit.
    BodyTooLarge {
        /// The length announced.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// A varint longer than 10 bytes, overflowing 64 bits, or cut short.
    BadVarint,
    /// A metadata entry runs past the end of the section.
    TruncatedEntry {
        /// The entry's tag.
        tag: u8,
    },
    /// A string entry that is not UTF-8.
    InvalidUtf8 {
        /// The entry's tag.
        tag: u8,
    },
    /// A critical entry (tag 128 and above) this side does not know.
    UnknownCritical {
        /// The entry's tag.
        tag: u8,
    },
    /// An entry whose value has the wrong shape (a setting without an id,
    /// a header without its key).
    MalformedEntry {
        /// The entry's tag.
        tag: u8,
    },
    /// A CREDIT body that is not 4 bytes, or a zero increment; a GOAWAY
    /// body that is not 8 bytes.
    MalformedBody {
        /// The frame's kind byte.
        kind: u8,
    },
}

impl NativeError {
    /// Whether the connection must close. Framing errors (magic, header and
    /// length limits) lose the frame boundary or come from a broken peer;
    /// metadata errors concern one frame and fail only its call.
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            NativeError::BadMagic(_)
                | NativeError::BadHeaderLength(_)
                | NativeError::MetaTooLarge { .. }
                | NativeError::BodyTooLarge { .. }
                | NativeError::MalformedBody { .. }
        )
    }
}

impl fmt::Display for NativeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NativeError::BadMagic(m) => {
                write!(f, "not a native frame: magic {:#04x} {:#04x}", m[0], m[1])
            }
            NativeError::BadHeaderLength(n) => {
                write!(f, "fixed header length {n} is below the minimum of 24")
            }
            NativeError::MetaTooLarge { len, max } => {
                write!(f, "metadata of {len} bytes exceeds the limit of {max}")
            }
            NativeError::BodyTooLarge { len, max } => {
                write!(f, "body of {len} bytes exceeds the limit of {max}")
            }
            NativeError::BadVarint => f.write_str("malformed varint in metadata"),
            NativeError::TruncatedEntry { tag } => {
                write!(f, "metadata entry with tag {tag} runs past the section")
            }
            NativeError::InvalidUtf8 { tag } => {
                write!(f, "metadata entry with tag {tag} is not valid UTF-8")
            }
            NativeError::UnknownCritical { tag } => {
                write!(f, "unknown critical metadata entry with tag {tag}")
            }
            NativeError::MalformedEntry { tag } => {
                write!(f, "malformed metadata entry with tag {tag}")
            }
            NativeError::MalformedBody { kind } => {
                write!(f, "malformed body for frame kind {kind}")
            }
        }
    }
}

impl std::error::Error for NativeError {}
