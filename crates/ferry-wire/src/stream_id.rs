//! Stream identifiers (RFC 9113 §5.1.1).

use std::fmt;

/// A 31-bit HTTP/2 stream identifier.
///
/// Zero names the connection itself. Client-initiated streams are odd,
/// server-initiated ones even; identifiers only ever increase.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId(u32);

impl StreamId {
    /// The connection control stream (0).
    pub const ZERO: StreamId = StreamId(0);
    /// The largest identifier a stream can have (2^31 - 1).
    pub const MAX: StreamId = StreamId(0x7fff_ffff);

    /// Builds an identifier, clearing the reserved high bit as RFC 9113 §4.1
    /// says receivers must.
    pub const fn new(id: u32) -> StreamId {
        StreamId(id & 0x7fff_ffff)
    }

    /// The raw value.
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// True for stream 0 (the connection).
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// True for odd identifiers, the ones a client opens.
    pub const fn is_client_initiated(self) -> bool {
        self.0 & 1 == 1
    }

    /// True for non-zero even identifiers, the ones a server opens.
    pub const fn is_server_initiated(self) -> bool {
        self.0 != 0 && self.0 & 1 == 0
    }

    /// The identifier two higher (the next one the same side may open), or
    /// `None` once the 31-bit space is used up.
    pub const fn next(self) -> Option<StreamId> {
        match self.0.checked_add(2) {
            Some(n) if n <= StreamId::MAX.0 => Some(StreamId(n)),
            _ => None,
        }
    }
}

impl From<u32> for StreamId {
    fn from(id: u32) -> Self {
        StreamId::new(id)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({})", self.0)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_bit_is_cleared() {
        assert_eq!(StreamId::new(0x8000_0001).as_u32(), 1);
    }

    #[test]
    fn parity_and_exhaustion() {
        assert!(StreamId::new(1).is_client_initiated());
        assert!(StreamId::new(2).is_server_initiated());
        assert!(!StreamId::ZERO.is_server_initiated());
        assert_eq!(StreamId::new(1).next(), Some(StreamId::new(3)));
        assert_eq!(StreamId::new(0x7fff_fffd).next(), Some(StreamId::MAX));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::new(0x7fff_fffe).next(), None);
    }
}
