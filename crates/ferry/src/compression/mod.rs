//! Message compression (gzip, zstd) and `grpc-encoding` negotiation.
//!
//! A small synchronous API the runtime calls once per message. Each message
//! is compressed on its own (`PROTOCOL-HTTP2.md`: "compression contexts are
//! NOT maintained over message boundaries").
//!
//! ```text
//!  headers   EncodingSet::to_header_value ──▶ grpc-accept-encoding ──▶ EncodingSet::parse_accept
//!                                                                       └ pick(preferred, accepts)
//!  send      message ─ compress(encoding) ─▶ flag 1 + bytes             (identity: flag 0)
//!  receive   grpc-encoding ─ EncodingSet::recv_encoding ─▶ Encoding     (or UNIMPLEMENTED)
//!            flag 1 + bytes ─ decompress(encoding, max_len) ─▶ message  (or RESOURCE_EXHAUSTED,
//!                                                                        INTERNAL)
//! ```
//!
//! # Who sends what
//!
//! Each side lists what it accepts in `grpc-accept-encoding` and names what it
//! sends with in `grpc-encoding`. A sender [`pick`]s its preferred encoding
//! when the peer lists it and identity otherwise; within a stream, any message
//! may still go uncompressed (flag 0). A receiver checks `grpc-encoding`
//! against its own [`EncodingSet`] with [`EncodingSet::recv_encoding`]
//! before it reads a message, and decompresses only messages whose flag is 1.
//!
//! A server's preferred encoding is its builder's, or the one a handler
//! names for its call ([`Response::with_compression`](crate::Response::with_compression)),
//! picked the same way. Applications see each received message's flag:
//! [`Request::arrived_compressed`](crate::Request::arrived_compressed),
//! [`Response::arrived_compressed`](crate::Response::arrived_compressed) and
//! [`Streaming::last_message_compressed`](crate::Streaming::last_message_compressed).
//!
//! # Defaults
//!
//! * gzip at level 6, zlib's default, as grpc-go and the C core use.
//! * zstd at level 3, libzstd's default.
//! * No compression unless enabled ([`EncodingSet::default`] is identity only),
//!   as in grpc-go: compression costs CPU on both sides and helps only some
//!   payloads.
//! * Even on a compressed call, messages under [`DEFAULT_MIN_COMPRESS_SIZE`]
//!   and messages that compression does not make smaller go out uncompressed
//!   (flag 0), and a stream may send any one message uncompressed
//!   ([`Outbound::uncompressed`](crate::Outbound::uncompressed)).
//!
//! # Attacks this module stops
//!
//! * **Decompression bombs.** A 1 KiB gzip message can hold 1 MiB, a zstd
//!   frame far more. [`decompress`] writes only into room it has allocated
//!   under `max_len` and stops at the first byte beyond it, so a bomb costs
//!   the limit in memory and the limit in work, never its declared size.
//! * **Lying sizes.** gzip's trailer and zstd's frame header announce the
//!   decompressed size. It sizes the first allocation (one allocation for an
//!   honest message), but only after capping it by the limit and, for gzip, by
//!   deflate's largest possible ratio; a zstd frame that declares more than
//!   the limit is refused without decoding.
//! * **Huge zstd windows.** A frame may ask for a window of up to 2 GiB, which
//!   libzstd would reserve; windows above the message limit (at least 8 MiB)
//!   are refused.
//! * **Garbage.** Truncation, bad checksums and bytes after the last
//!   gzip member or zstd frame are [`CompressionError::Corrupt`]; nothing here
//!   panics on any input.

mod bounded;
mod cache;
mod encoding;
mod error;
mod gzip;
mod zstd;

use bytes::BytesMut;

pub use encoding::{Encoding, EncodingSet, pick};
pub use error::CompressionError;

/// Messages smaller than this many bytes are sent uncompressed even on a
/// compressed call, unless the builder says otherwise. gzip alone adds 18
/// bytes of header and trailer, and a protobuf message this small has too
/// little repetition to win them back.
pub const DEFAULT_MIN_COMPRESS_SIZE: usize = 64;

/// Appends `src`, compressed with `encoding`, to `dst`.
///
/// Identity appends `src` unchanged; the message then goes out with the
/// compressed flag 0. On error, `dst` is left as it was.
pub fn compress(
    encoding: Encoding,
    src: &[u8],
    dst: &mut BytesMut,
) -> Result<(), CompressionError> {
    match encoding {
        Encoding::Identity => {
            dst.extend_from_slice(src);
            Ok(())
        }
        Encoding::Gzip => gzip::compress(src, dst),
        Encoding::Zstd => zstd::compress(src, dst),
    }
}

/// Appends the decompressed form of `src`, a message received with the
/// compressed flag set and `grpc-encoding: encoding`, to `dst`.
///
/// Fails with [`CompressionError::TooLarge`] as soon as the output would pass
/// `max_len` bytes (the receive limit), having allocated at most `max_len`
/// bytes in `dst` beyond what it held; with [`CompressionError::Corrupt`] if `src` is not a valid
/// stream of `encoding`; and with [`CompressionError::FlagWithoutEncoding`] for
/// identity, since an identity message cannot carry the flag. On error, `dst`
/// is left as it was (its capacity may have grown).
///
/// `dst` may be replaced by a new buffer when it must grow: growth is exact,
/// not doubling, so that the limit really bounds the allocation.
pub fn decompress(
    encoding: Encoding,
    src: &[u8],
    max_len: usize,
    dst: &mut BytesMut,
) -> Result<(), CompressionError> {
    match encoding {
        Encoding::Identity => Err(CompressionError::FlagWithoutEncoding),
        Encoding::Gzip => gzip::decompress(src, max_len, dst),
        Encoding::Zstd => zstd::decompress(src, max_len, dst),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODECS: [Encoding; 2] = [Encoding::Gzip, Encoding::Zstd];

    /// xorshift64: reproducible test data without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }

        /// Bytes that compress: words from a small vocabulary.
        fn text(&mut self, len: usize) -> Vec<u8> {
            const WORDS: [&[u8]; 8] = [
                b"ferry ",
                b"grpc ",
                b"message ",
                b"stream ",
                b"\x08\x96\x01",
                b"\x12\x07",
                b"zstd ",
                b"\0\0\0\0",
            ];
            let mut out = Vec::with_capacity(len + 8);
            while out.len() < len {
                out.extend_from_slice(WORDS[self.below(WORDS.len())]);
            }
            out.truncate(len);
            out
        }
    }

    fn round_trip(encoding: Encoding, data: &[u8]) -> usize {
        let mut compressed = BytesMut::from(&b"head"[..]);
        compress(encoding, data, &mut compressed).unwrap();
        assert_eq!(&compressed[..4], b"head");
        let compressed = &compressed[4..];

        let mut out = BytesMut::from(&b"prefix"[..]);
        decompress(encoding, compressed, data.len(), &mut out).unwrap();
        assert_eq!(&out[..6], b"prefix");
        assert!(out[6..] == *data, "{encoding}: {} bytes", data.len());
        if !data.is_empty() {
            assert_eq!(
                decompress(encoding, compressed, data.len() - 1, &mut out),
                Err(CompressionError::TooLarge {
                    max: data.len() - 1
                })
            );
        }
        compressed.len()
    }

    #[test]
    fn round_trips_at_sizes() {
        let mut rng = Rng(0x5eed);
        for encoding in CODECS {
            for len in [0, 1, 64 << 10, 1 << 20] {
                let zeros = round_trip(encoding, &vec![0; len]);
                let text = round_trip(encoding, &rng.text(len));
                let random = round_trip(encoding, &rng.bytes(len));
                if len >= 64 << 10 {
                    assert!(zeros * 100 < len, "{encoding} zeros {len}: {zeros}");
                    assert!(text * 2 < len, "{encoding} text {len}: {text}");
                    // Incompressible data grows by no more than framing.
                    assert!(
                        random < len + len / 100,
                        "{encoding} random {len}: {random}"
                    );
                }
            }
        }
    }

    #[test]
    fn random_round_trips() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        for _ in 0..200 {
            let encoding = CODECS[rng.below(2)];
            let len = rng.below(20_000);
            let data = if rng.below(2) == 0 {
                rng.text(len)
            } else {
                rng.bytes(len)
            };
            round_trip(encoding, &data);
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = Rng(42);
        for _ in 0..2000 {
            let encoding = CODECS[rng.below(2)];
            let len = rng.below(64);
            let mut src = rng.bytes(len);
            // Half of them start like the real thing.
            if rng.below(2) == 0 {
                let magic: &[u8] = match encoding {
                    Encoding::Zstd => &[0x28, 0xb5, 0x2f, 0xfd],
                    _ => &[0x1f, 0x8b, 8],
                };
                src.splice(0..0, magic.iter().copied());
            }
            let mut dst = BytesMut::new();
            match decompress(encoding, &src, 1 << 16, &mut dst) {
                Ok(()) => assert!(dst.len() <= 1 << 16),
                Err(CompressionError::Corrupt { encoding: e, .. }) => {
                    assert_eq!(e, encoding);
                    assert!(dst.is_empty());
                }
                Err(CompressionError::TooLarge { max }) => {
                    assert_eq!(max, 1 << 16);
                    assert!(dst.is_empty());
                }
                Err(other) => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn damaged_messages_are_corrupt_or_too_large() {
        let mut rng = Rng(7);
        let data = rng.text(5000);
        for encoding in CODECS {
            let mut compressed = BytesMut::new();
            compress(encoding, &data, &mut compressed).unwrap();
            for _ in 0..300 {
                let mut damaged = compressed.to_vec();
                let at = rng.below(damaged.len());
                damaged[at] ^= 1 << rng.below(8);
                let mut out = BytesMut::new();
                match decompress(encoding, &damaged, 1 << 20, &mut out) {
                    // gzip's CRC-32 lets through only harmless flips (header
                    // fields, padding); zstd without a checksum can decode a
                    // flipped literal.
                    Ok(()) if encoding == Encoding::Gzip => assert!(out[..] == data[..]),
                    Ok(()) => {}
                    Err(CompressionError::Corrupt { .. } | CompressionError::TooLarge { .. }) => {}
                    Err(other) => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn reused_contexts_forget_the_previous_message() {
        let mut rng = Rng(3);
        let (a, b) = (rng.text(3000), rng.bytes(70_000));
        for encoding in CODECS {
            let mut outputs = Vec::new();
            for data in [&a, &b, &a] {
                let mut out = BytesMut::new();
                compress(encoding, data, &mut out).unwrap();
                outputs.push(out);
            }
            assert_eq!(outputs[0], outputs[2], "{encoding}");
            // A fresh thread has fresh contexts.
            let a = a.clone();
            let fresh = std::thread::spawn(move || {
                let mut out = BytesMut::new();
                compress(encoding, &a, &mut out).unwrap();
                out
            })
            .join()
            .unwrap();
            assert_eq!(outputs[0], fresh, "{encoding}");
        }
    }

    #[test]
    fn identity() {
        let mut dst = BytesMut::from(&b"a"[..]);
        compress(Encoding::Identity, b"bc", &mut dst).unwrap();
        assert_eq!(&dst[..], b"abc");
        assert_eq!(
            decompress(Encoding::Identity, b"bc", 100, &mut dst),
            Err(CompressionError::FlagWithoutEncoding)
        );
        assert_eq!(&dst[..], b"abc");
    }

    #[test]
    fn empty_input_is_corrupt() {
        for encoding in CODECS {
            let mut dst = BytesMut::new();
            assert!(matches!(
                decompress(encoding, b"", 100, &mut dst),
                Err(CompressionError::Corrupt { encoding: e, .. }) if e == encoding
            ));
        }
    }

    #[test]
    fn reuses_the_callers_buffer() {
        let data = Rng(9).text(10_000);
        for encoding in CODECS {
            let mut compressed = BytesMut::new();
            compress(encoding, &data, &mut compressed).unwrap();
            let mut out = BytesMut::with_capacity(1 << 16);
            let before = out.as_ptr();
            decompress(encoding, &compressed, 1 << 20, &mut out).unwrap();
            assert_eq!(out[..], data[..]);
            assert_eq!(out.as_ptr(), before, "{encoding}");
        }
    }
}
