//! Output waiting for the socket, for vectored writes.
//!
//! [`Connection::poll_transmit`](super::Connection::poll_transmit) copies
//! every byte it produces into one `BytesMut`, DATA payloads included.
//! [`Connection::poll_transmit_buf`](super::Connection::poll_transmit_buf)
//! writes into an [`OutBuf`] instead: frame headers, control frames and
//! header blocks are still copied (they are small and many), but a DATA
//! payload of at least [`OutBuf::min_by_reference`] bytes is kept as the
//! `Bytes` the application queued, and the runtime hands the pieces to one
//! `writev` ([`OutBuf::chunks`]). That takes one copy of every byte sent
//! off the send path.
//!
//! ```text
//!   segments: [ HEADERS + DATA head ][ payload (by reference) ][ DATA head ][ payload ] ...
//!   tail:     [ small frames still being appended ]
//! ```
//!
//! An `OutBuf` that is empty holds no allocation after
//! [`OutBuf::release`], so an idle connection costs nothing here.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// DATA payloads at least this long are written by reference: below it, a
/// copy costs less than the extra `iovec` and reference count.
pub const DEFAULT_MIN_BY_REFERENCE: usize = 2 * 1024;

/// Bytes waiting to be written, in order: finished segments, then a tail of
/// small frames still being appended. See the [module docs](self).
#[derive(Debug)]
pub struct OutBuf {
    segments: VecDeque<Bytes>,
    /// Bytes in `segments`.
    segments_len: usize,
    tail: BytesMut,
    min_by_reference: usize,
}

impl Default for OutBuf {
    fn default() -> OutBuf {
        OutBuf::new()
    }
}

impl OutBuf {
    /// An empty buffer that keeps DATA payloads of at least
    /// [`DEFAULT_MIN_BY_REFERENCE`] bytes by reference. It allocates
    /// nothing until something is written into it.
    pub fn new() -> OutBuf {
        OutBuf::with_min_by_reference(DEFAULT_MIN_BY_REFERENCE)
    }

    /// An empty buffer that keeps DATA payloads of at least `min` bytes by
    /// reference; `usize::MAX` copies everything into one contiguous buffer
    /// (for a writer without vectored writes).
    pub fn with_min_by_reference(min: usize) -> OutBuf {
        OutBuf {
            segments: VecDeque::new(),
            segments_len: 0,
            tail: BytesMut::new(),
            min_by_reference: min,
        }
    }

    /// The smallest payload kept by reference.
    pub fn min_by_reference(&self) -> usize {
        self.min_by_reference
    }

    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.segments_len + self.tail.len()
    }

    /// True when nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends bytes by copying them.
    pub fn put_slice(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
    }

    /// Appends a payload: by reference when it is long enough, else copied.
    pub fn put_bytes(&mut self, bytes: Bytes) {
        if bytes.len() < self.min_by_reference {
            self.tail.extend_from_slice(&bytes);
            return;
        }
        self.seal_tail();
        self.segments_len += bytes.len();
        self.segments.push_back(bytes);
    }

    /// The buffer small frames are encoded into (it follows every segment).
    pub(crate) fn tail_mut(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Ends the tail as a segment, so a payload can follow it.
    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            let sealed = self.tail.split().freeze();
            self.segments_len += sealed.len();
            self.segments.push_back(sealed);
        }
    }

    /// Fills `dst` with the bytes to write next, in order, and returns how
    /// many slices it filled (0 when empty). Pass them to one vectored
    /// write, then [`advance`](OutBuf::advance) by what it wrote.
    pub fn chunks<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for segment in &self.segments {
            if n == dst.len() {
                return n;
            }
            dst[n] = IoSlice::new(segment);
            n += 1;
        }
        if n < dst.len() && !self.tail.is_empty() {
            dst[n] = IoSlice::new(&self.tail);
            n += 1;
        }
        n
    }

    /// The first contiguous run of bytes to write (empty when nothing is
    /// left), for a writer without vectored writes.
    pub fn chunk(&self) -> &[u8] {
        match self.segments.front() {
            Some(segment) => segment,
            None => &self.tail,
        }
    }

    /// Drops the first `n` bytes, which were written. `n` larger than
    /// [`len`](OutBuf::len) drops everything.
    pub fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.segments.front_mut() else {
                break;
            };
            if n < front.len() {
                front.advance(n);
                self.segments_len -= n;
                return;
            }
            n -= front.len();
            self.segments_len -= front.len();
            self.segments.pop_front();
        }
        let n = n.min(self.tail.len());
        self.tail.advance(n);
    }

    /// Drops everything unwritten (the connection is gone).
    pub fn clear(&mut self) {
        self.segments.clear();
        self.segments_len = 0;
        self.tail.clear();
    }

    /// Frees the buffer's memory when nothing waits in it, so a connection
    /// that has gone quiet holds no output buffer. The next write allocates
    /// again.
    pub fn release(&mut self) {
        if self.is_empty() {
            self.segments = VecDeque::new();
            self.tail = BytesMut::new();
        }
    }

    /// Bytes of memory the buffer keeps for its own use (capacity of the
    /// tail and of the segment list; the segments' payloads are the
    /// application's).
    pub fn capacity(&self) -> usize {
        self.tail.capacity() + self.segments.capacity() * std::mem::size_of::<Bytes>()
    }
}

/// Where `poll_transmit` writes: a plain buffer (payloads copied) or an
/// [`OutBuf`] (large payloads by reference).
pub(crate) trait Sink {
    /// The buffer frames are encoded into.
    fn buf(&mut self) -> &mut BytesMut;
    /// Appends a DATA payload.
    fn put_payload(&mut self, payload: Bytes);
    /// Bytes written so far and not yet consumed.
    fn written(&self) -> usize;
}

impl Sink for BytesMut {
    fn buf(&mut self) -> &mut BytesMut {
        self
    }

    fn put_payload(&mut self, payload: Bytes) {
        self.extend_from_slice(&payload);
    }

    fn written(&self) -> usize {
        self.len()
    }
}

impl Sink for OutBuf {
    fn buf(&mut self) -> &mut BytesMut {
        self.tail_mut()
    }

    fn put_payload(&mut self, payload: Bytes) {
        self.put_bytes(payload);
    }

    fn written(&self) -> usize {
        self.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gather(buf: &OutBuf) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 64];
        let n = buf.chunks(&mut slices);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn small_payloads_are_copied_and_large_ones_referenced() {
        let mut buf = OutBuf::with_min_by_reference(4);
        buf.put_slice(b"h1");
        buf.put_bytes(Bytes::from_static(b"abc"));
        buf.put_slice(b"h2");
        let big = Bytes::from(vec![7u8; 10]);
        let ptr = big.as_ptr();
        buf.put_bytes(big);
        buf.put_slice(b"t");
        let mut slices = [IoSlice::new(&[]); 8];
        let n = buf.chunks(&mut slices);
        assert_eq!(n, 3);
        assert_eq!(&*slices[0], b"h1abch2");
        assert_eq!(slices[1].as_ptr(), ptr, "the payload is not copied");
        assert_eq!(&*slices[2], b"t");
        assert_eq!(buf.len(), 7 + 10 + 1);
    }

    #[test]
    fn advance_across_segments_and_tail() {
        let mut buf = OutBuf::with_min_by_reference(1);
        buf.put_slice(b"ab");
        buf.put_bytes(Bytes::from_static(b"cdef"));
        buf.put_slice(b"gh");
        assert_eq!(gather(&buf), b"abcdefgh");
        buf.advance(3);
        assert_eq!(gather(&buf), b"defgh");
        assert_eq!(buf.chunk(), b"def");
        buf.advance(4);
        assert_eq!(gather(&buf), b"h");
        assert_eq!(buf.chunk(), b"h");
        assert_eq!(buf.len(), 1);
        buf.advance(5);
        assert!(buf.is_empty());
        assert_eq!(buf.chunk(), b"");
    }

    #[test]
    fn chunks_stop_at_the_slice_count() {
        let mut buf = OutBuf::with_min_by_reference(1);
        for i in 0..5u8 {
            buf.put_slice(&[i]);
            buf.put_bytes(Bytes::from(vec![i; 2]));
        }
        let mut slices = [IoSlice::new(&[]); 3];
        assert_eq!(buf.chunks(&mut slices), 3);
        assert_eq!(&*slices[2], &[1u8]);
    }

    #[test]
    fn copy_everything_without_vectored_writes() {
        let mut buf = OutBuf::with_min_by_reference(usize::MAX);
        buf.put_slice(b"head");
        buf.put_bytes(Bytes::from(vec![1u8; 100_000]));
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(buf.chunks(&mut slices), 1);
        assert_eq!(buf.chunk().len(), 100_004);
    }

    #[test]
    fn release_frees_only_an_empty_buffer() {
        let mut buf = OutBuf::new();
        buf.put_slice(&[0; 1000]);
        buf.release();
        assert_eq!(buf.len(), 1000, "unwritten bytes are kept");
        assert!(buf.capacity() >= 1000);
        buf.advance(1000);
        buf.release();
        assert_eq!(buf.capacity(), 0);
        buf.put_slice(b"again");
        assert_eq!(buf.chunk(), b"again");
    }
}
