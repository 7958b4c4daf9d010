//! Decompression into the caller's buffer under a hard output limit.
//!
//! The decoders only ever write into slices this driver hands them, and the
//! driver never hands out room past the limit: memory for the output is
//! bounded by `max_len` whatever the input claims or contains. Two details
//! keep it cheap for honest peers:
//!
//! * The first region is the size the stream announces (gzip's `ISIZE`, a zstd
//!   frame's content size), capped at the limit, so an honest message is
//!   decoded in one allocation, and zstd takes its single-pass path.
//! * When a region is full, a small probe read on the stack finds the end of
//!   the stream before anything grows. The same probe finds a bomb: one byte
//!   more than the limit allows is enough to stop.
//!
//! Growth is exact (a new allocation of the wanted size) rather than
//! `BytesMut`'s doubling, which could reserve up to twice the limit.

use bytes::BytesMut;

use super::CompressionError;

/// A decompressor reading from an in-memory message.
pub(super) trait Decode {
    /// Writes decompressed bytes into `out` (never empty) and returns how many.
    /// 0 means the stream ended cleanly; a stream that stops early or is
    /// malformed is an error.
    fn decode(&mut self, out: &mut [u8]) -> Result<usize, CompressionError>;
}

/// The first region when the stream announces no size: small messages stay
/// one allocation, larger ones double from here.
const MIN_REGION: usize = 4 * 1024;

/// The stack buffer read after a full region.
const PROBE_LEN: usize = 64;

/// Appends everything `decoder` produces to `dst`, or fails with
/// [`CompressionError::TooLarge`] as soon as it produces more than `max_len`
/// bytes. `size_hint` is what the stream announces about its decompressed size
/// (untrusted). On error, `dst` is left as it was.
pub(super) fn decode_bounded(
    decoder: &mut impl Decode,
    dst: &mut BytesMut,
    max_len: usize,
    size_hint: Option<usize>,
    src_len: usize,
) -> Result<(), CompressionError> {
    let start = dst.len();
    // A guess for streams that announce nothing: compressed protobuf rarely
    // shrinks more than fourfold.
    let first = size_hint.unwrap_or_else(|| src_len.saturating_mul(4).max(MIN_REGION));
    let result = fill(decoder, dst, start, max_len, first);
    if result.is_err() {
        dst.truncate(start);
    }
    result
}

fn fill(
    decoder: &mut impl Decode,
    dst: &mut BytesMut,
    start: usize,
    max_len: usize,
    first: usize,
) -> Result<(), CompressionError> {
    let limit = start.saturating_add(max_len);
    // dst[..len] is the caller's prefix and the output so far.
    let mut len = start;
    // Room already reserved after len for the next fill.
    let mut region = first.min(max_len);
    loop {
        if region > 0 {
            let end = len + region;
            reserve_exact(dst, end);
            dst.resize(end, 0);
            while len < end {
                let n = decoder.decode(&mut dst[len..end])?;
                if n == 0 {
                    dst.truncate(len);
                    return Ok(());
                }
                len += n;
            }
        }
        let mut probe = [0; PROBE_LEN];
        let n = decoder.decode(&mut probe)?;
        if n == 0 {
            return Ok(());
        }
        let room = limit - len;
        if n > room {
            return Err(CompressionError::TooLarge { max: max_len });
        }
        // Double the output so far, within the limit; n <= PROBE_LEN <= MIN_REGION.
        region = (len - start).max(MIN_REGION).min(room);
        reserve_exact(dst, len + region);
        dst.extend_from_slice(&probe[..n]);
        len += n;
        region -= n;
    }
}

/// Makes room for `total` bytes in `dst` (prefix included) without
/// over-allocating.
fn reserve_exact(dst: &mut BytesMut, total: usize) {
    if dst.capacity() < total {
        let mut grown = BytesMut::with_capacity(total);
        grown.extend_from_slice(dst);
        *dst = grown;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Produces `len` bytes of a counting pattern, at most `step` per call, or
    /// fails after `fail_after` bytes.
    struct Pattern {
        len: usize,
        step: usize,
        done: usize,
        fail_after: Option<usize>,
        calls: usize,
    }

    impl Pattern {
        fn new(len: usize, step: usize) -> Pattern {
            Pattern {
                len,
                step,
                done: 0,
                fail_after: None,
                calls: 0,
            }
        }
    }

    impl Decode for Pattern {
        fn decode(&mut self, out: &mut [u8]) -> Result<usize, CompressionError> {
            assert!(!out.is_empty());
            self.calls += 1;
            if self.fail_after.is_some_and(|after| self.done >= after) {
                return Err(CompressionError::Corrupt {
                    encoding: super::super::Encoding::Gzip,
                    detail: "test".into(),
                });
            }
            let n = out.len().min(self.step).min(self.len - self.done);
            for (i, byte) in out[..n].iter_mut().enumerate() {
                *byte = (self.done + i) as u8;
            }
            self.done += n;
            Ok(n)
        }
    }

    fn expected(len: usize) -> Vec<u8> {
        (0..len).map(|i| i as u8).collect()
    }

    #[test]
    fn exact_hint_is_one_allocation() {
        let mut dst = BytesMut::new();
        let mut decoder = Pattern::new(100_000, usize::MAX);
        decode_bounded(&mut decoder, &mut dst, 1 << 20, Some(100_000), 10).unwrap();
        assert_eq!(dst[..], expected(100_000)[..]);
        assert_eq!(dst.capacity(), 100_000);
        // One fill, one probe that finds the end.
        assert_eq!(decoder.calls, 2);
    }

    #[test]
    fn lying_hints_still_decode() {
        for hint in [0, 1, 63, 64, 65, 4095, 50_000, 99_999, 100_001, 1 << 30] {
            for step in [1, 7, 64, 1000, usize::MAX] {
                let mut dst = BytesMut::from(&b"prefix"[..]);
                let mut decoder = Pattern::new(100_000, step);
                decode_bounded(&mut decoder, &mut dst, 100_000, Some(hint), 10).unwrap();
                assert_eq!(&dst[..6], b"prefix");
                assert_eq!(dst[6..], expected(100_000)[..], "hint {hint} step {step}");
                assert!(dst.capacity() <= 6 + 100_000, "hint {hint} step {step}");
            }
        }
    }

    #[test]
    fn stops_one_byte_past_the_limit() {
        for (len, max) in [(1, 0), (101, 100), (1 << 20, 4096), (5000, 4999)] {
            for hint in [None, Some(0), Some(max), Some(len)] {
                let mut dst = BytesMut::from(&b"keep"[..]);
                let mut decoder = Pattern::new(len, 1000);
                assert_eq!(
                    decode_bounded(&mut decoder, &mut dst, max, hint, 10),
                    Err(CompressionError::TooLarge { max })
                );
                assert_eq!(&dst[..], b"keep");
                assert!(dst.capacity() <= 4 + max, "{len} {max}");
                assert!(
                    decoder.done <= max + PROBE_LEN,
                    "read {} of {len}",
                    decoder.done
                );
            }
        }
    }

    #[test]
    fn exactly_the_limit_fits() {
        for len in [0, 1, 64, 4096, 4097, 100_000] {
            for hint in [None, Some(0), Some(len), Some(len / 2)] {
                let mut dst = BytesMut::new();
                let mut decoder = Pattern::new(len, 333);
                decode_bounded(&mut decoder, &mut dst, len, hint, 10).unwrap();
                assert_eq!(dst[..], expected(len)[..]);
                assert!(dst.capacity() <= len, "{len}");
            }
        }
    }

    #[test]
    fn errors_restore_the_buffer() {
        let mut dst = BytesMut::from(&b"keep"[..]);
        let mut decoder = Pattern::new(1 << 20, 100);
        decoder.fail_after = Some(10_000);
        assert!(matches!(
            decode_bounded(&mut decoder, &mut dst, 1 << 20, None, 10),
            Err(CompressionError::Corrupt { .. })
        ));
        assert_eq!(&dst[..], b"keep");
    }
}
