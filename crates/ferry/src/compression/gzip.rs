//! gzip (RFC 1952) through flate2.
//!
//! Compression reuses one raw deflate state per thread and writes the gzip
//! header and trailer itself. Deflate at level 6 works in some 300 KiB of
//! tables and buffers; set up per message, a 100-byte message took 23 µs at
//! best and 130 µs when glibc gave the memory back to the kernel after each
//! message (three `brk` calls and fresh page faults per message, seen with
//! `strace`). Reset and reused: 16 µs (release build, this machine).
//!
//! Decompression uses flate2's gzip reader afresh for each message (about
//! 40 KiB of state; reusing it would save 3 of 9 µs on 100 bytes). It accepts
//! several concatenated members, as Go's `gzip.Reader` (and so grpc-go) does,
//! checks every member's CRC-32 and length, and rejects anything after the
//! last member.

use std::borrow::Cow;
use std::cell::Cell;
use std::io::{self, Read};

use bytes::{BufMut, BytesMut};
use flate2::bufread::MultiGzDecoder;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};

use super::bounded::{Decode, decode_bounded};
use super::cache::with_cached;
use super::{CompressionError, Encoding};

/// zlib's default level (`Z_DEFAULT_COMPRESSION`), which grpc-go
/// (`gzip.DefaultCompression`) and the C core use.
const LEVEL: u32 = 6;

/// The most deflate can expand: a 258-byte match costs at least 2 bits, so
/// one compressed byte yields at most 1032 bytes. A trailer claiming more
/// than this lies and is not trusted as a size hint.
const MAX_RATIO: usize = 1032;

/// The member header Ferry writes: deflate, no flags, no mtime, no extra
/// flags, OS unknown (as flate2's own encoder writes it).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

thread_local! {
    static DEFLATE: Cell<Option<Compress>> = const { Cell::new(None) };
}

fn new_deflate() -> Compress {
    Compress::new(Compression::new(LEVEL), false)
}

pub(super) fn compress(src: &[u8], dst: &mut BytesMut) -> Result<(), CompressionError> {
    let start = dst.len();
    with_cached(&DEFLATE, new_deflate, |deflate| {
        // Also drops whatever a failed message left behind.
        deflate.reset();
        dst.extend_from_slice(&HEADER);
        deflate_into(deflate, src, dst)
    })
    .map_err(|detail| {
        dst.truncate(start);
        CompressionError::Compress {
            encoding: Encoding::Gzip,
            detail: detail.into(),
        }
    })?;
    let mut crc = Crc::new();
    crc.update(src);
    dst.put_u32_le(crc.sum());
    // ISIZE is the length modulo 2^32 (RFC 1952 §2.3.1).
    dst.put_u32_le(src.len() as u32);
    Ok(())
}

/// Appends the raw deflate stream of `src` to `dst`.
fn deflate_into(deflate: &mut Compress, src: &[u8], dst: &mut BytesMut) -> Result<(), String> {
    // Roughly what compressed protobuf takes, then doubling.
    let mut room = src.len() / 2 + 64;
    let mut len = dst.len();
    let mut read = 0;
    loop {
        dst.resize(len + room, 0);
        let (in_before, out_before) = (deflate.total_in(), deflate.total_out());
        let status = deflate
            .compress(&src[read..], &mut dst[len..], FlushCompress::Finish)
            .map_err(|error| error.to_string());
        // Both at most the length of the slice just passed in.
        let consumed = (deflate.total_in() - in_before) as usize;
        let written = (deflate.total_out() - out_before) as usize;
        read += consumed;
        len += written;
        dst.truncate(len);
        match status? {
            Status::StreamEnd => return Ok(()),
            _ if consumed == 0 && written == 0 => {
                return Err("deflate made no progress".to_owned());
            }
            _ => room = room.saturating_mul(2),
        }
    }
}

pub(super) fn decompress(
    src: &[u8],
    max_len: usize,
    dst: &mut BytesMut,
) -> Result<(), CompressionError> {
    let mut decoder = Gunzip(MultiGzDecoder::new(src));
    decode_bounded(&mut decoder, dst, max_len, size_hint(src), src.len())
}

/// The decompressed size the (last) member's trailer announces, modulo 2^32,
/// unless it is impossible.
fn size_hint(src: &[u8]) -> Option<usize> {
    let trailer = src.last_chunk::<4>()?;
    let size = usize::try_from(u32::from_le_bytes(*trailer)).ok()?;
    Some(size.min(src.len().saturating_mul(MAX_RATIO)))
}

struct Gunzip<'a>(MultiGzDecoder<&'a [u8]>);

impl Decode for Gunzip<'_> {
    fn decode(&mut self, out: &mut [u8]) -> Result<usize, CompressionError> {
        self.0.read(out).map_err(|error| CompressionError::Corrupt {
            encoding: Encoding::Gzip,
            detail: match error.kind() {
                // flate2 says "failed to fill whole buffer"; Go says this.
                io::ErrorKind::UnexpectedEof => Cow::Borrowed("unexpected EOF"),
                _ => Cow::Owned(error.to_string()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `printf hello | gzip -n` (gzip 1.12).
    const HELLO: [u8; 25] = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9,
        0x07, 0x00, 0x86, 0xa6, 0x10, 0x36, 0x05, 0x00, 0x00, 0x00,
    ];

    fn gunzip(src: &[u8], max_len: usize) -> Result<BytesMut, CompressionError> {
        let mut dst = BytesMut::new();
        decompress(src, max_len, &mut dst).map(|()| dst)
    }

    fn is_corrupt(result: Result<BytesMut, CompressionError>) -> bool {
        matches!(
            result,
            Err(CompressionError::Corrupt {
                encoding: Encoding::Gzip,
                ..
            })
        )
    }

    #[test]
    fn decodes_the_gzip_tool() {
        assert_eq!(gunzip(&HELLO, 5).unwrap(), &b"hello"[..]);
        assert_eq!(
            gunzip(&HELLO, 4),
            Err(CompressionError::TooLarge { max: 4 })
        );
    }

    #[test]
    fn decodes_header_fields() {
        // `gzip -c` of a file named hello.txt holding "hello": FNAME and an
        // mtime, which the decoder must skip.
        let mut named = vec![
            0x1f, 0x8b, 0x08, 0x08, 0x00, 0x2d, 0x31, 0x4d, 0x00, 0x03, b'h', b'e', b'l', b'l',
            b'o', b'.', b't', b'x', b't', 0x00,
        ];
        named.extend_from_slice(&HELLO[10..]);
        assert_eq!(gunzip(&named, 100).unwrap(), &b"hello"[..]);
    }

    #[test]
    fn decodes_concatenated_members() {
        let mut two = BytesMut::new();
        compress(b"hel", &mut two).unwrap();
        compress(b"", &mut two).unwrap();
        two.extend_from_slice(&HELLO);
        assert_eq!(gunzip(&two, 8).unwrap(), &b"helhello"[..]);
        assert_eq!(gunzip(&two, 7), Err(CompressionError::TooLarge { max: 7 }));
    }

    #[test]
    fn output_is_plain_gzip() {
        let mut dst = BytesMut::new();
        compress(b"hello", &mut dst).unwrap();
        // Fixed header: no name, mtime 0, OS unknown.
        assert_eq!(dst[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        // The same deflate stream and trailer as the gzip tool at level 6.
        assert_eq!(dst[10..], HELLO[10..]);
        // flate2's plain reader, another code path, agrees.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&dst[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hello");
    }

    #[test]
    fn every_truncation_is_corrupt() {
        for len in 0..HELLO.len() {
            assert!(is_corrupt(gunzip(&HELLO[..len], 100)), "{len} bytes");
        }
    }

    #[test]
    fn damage_is_caught() {
        // One bit flipped anywhere after the header: the CRC-32 catches what
        // the decoder does not, so the outcome is the original or an error.
        let mut harmless = Vec::new();
        for at in 10..HELLO.len() {
            for bit in 0..8 {
                let mut damaged = HELLO;
                damaged[at] ^= 1 << bit;
                // A limit far above what 25 bytes can expand to: every
                // outcome is the checksum's or the decoder's verdict.
                match gunzip(&damaged, 1 << 20) {
                    Ok(out) => {
                        assert_eq!(out, &b"hello"[..]);
                        harmless.push((at, bit));
                    }
                    result => assert!(is_corrupt(result), "byte {at} bit {bit}"),
                }
            }
        }
        // Only the padding after the end-of-block code, which decoders skip.
        assert_eq!(
            harmless,
            [(16, 2), (16, 3), (16, 4), (16, 5), (16, 6), (16, 7)]
        );

        let mut bad_magic = HELLO;
        bad_magic[0] = 0x1e;
        assert!(is_corrupt(gunzip(&bad_magic, 100)));
        let mut bad_method = HELLO;
        bad_method[2] = 7;
        assert!(is_corrupt(gunzip(&bad_method, 100)));
    }

    #[test]
    fn trailing_garbage_is_corrupt() {
        for garbage in [&b"x"[..], b"\0", b"\x1f\x8b", b"junk after the end"] {
            let mut src = HELLO.to_vec();
            src.extend_from_slice(garbage);
            assert!(is_corrupt(gunzip(&src, 100)), "{garbage:?}");
        }
    }

    #[test]
    fn checksum_and_length_are_checked() {
        let mut wrong_crc = HELLO;
        wrong_crc[17] ^= 0xff;
        assert_eq!(
            gunzip(&wrong_crc, 100),
            Err(CompressionError::Corrupt {
                encoding: Encoding::Gzip,
                detail: "corrupt gzip stream does not have a matching checksum".into()
            })
        );
        let mut wrong_len = HELLO;
        wrong_len[21] = 6;
        assert!(is_corrupt(gunzip(&wrong_len, 100)));
        assert_eq!(
            gunzip(&HELLO[..20], 100),
            Err(CompressionError::Corrupt {
                encoding: Encoding::Gzip,
                detail: "unexpected EOF".into()
            })
        );
    }

    #[test]
    fn size_hints() {
        assert_eq!(size_hint(&HELLO), Some(5));
        assert_eq!(size_hint(&[]), None);
        assert_eq!(size_hint(&[1, 2, 3]), None);
        // A 4-byte "message" cannot hold more than 4 * 1032 bytes.
        assert_eq!(size_hint(&[0xff; 4]), Some(4 * MAX_RATIO));
    }

    /// Deflates `input` and flushes with `flush`, returning what came out.
    fn deflate_piece(deflate: &mut Compress, input: &[u8], flush: FlushCompress) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        let before = deflate.total_in();
        loop {
            let consumed = usize::try_from(deflate.total_in() - before).unwrap();
            if out.len() == out.capacity() {
                out.reserve(4096);
            }
            deflate
                .compress_vec(&input[consumed..], &mut out, flush)
                .unwrap();
            let consumed = usize::try_from(deflate.total_in() - before).unwrap();
            if consumed == input.len() && out.len() < out.capacity() {
                return out;
            }
        }
    }

    /// A gzip member of `mib` MiB of zeros, built without holding them.
    ///
    /// Streaming 1 GiB through the encoder takes half a minute in an
    /// unoptimized test build, so only the first two MiB go through it, each
    /// ended by a sync flush (which byte-aligns and empties the encoder). Once
    /// the 32 KiB window holds only zeros, the second piece decodes to one MiB
    /// of zeros wherever it is placed, so it is repeated for the rest. The
    /// CRC is combined per MiB. [`zeros_stream_is_valid`] decodes a small one
    /// whole.
    fn gzip_of_zeros(mib: usize) -> Vec<u8> {
        assert!(mib >= 2);
        let zeros = vec![0; 1 << 20];
        let mut deflate = Compress::new(Compression::new(LEVEL), false);
        let first = deflate_piece(&mut deflate, &zeros, FlushCompress::Sync);
        let steady = deflate_piece(&mut deflate, &zeros, FlushCompress::Sync);
        let end = deflate_piece(&mut deflate, &[], FlushCompress::Finish);
        let mut one = Crc::new();
        one.update(&zeros);
        let mut crc = Crc::new();
        for _ in 0..mib {
            crc.combine(&one);
        }

        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        out.extend_from_slice(&first);
        for _ in 1..mib {
            out.extend_from_slice(&steady);
        }
        out.extend_from_slice(&end);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&crc.amount().to_le_bytes());
        out
    }

    #[test]
    fn zeros_stream_is_valid() {
        let src = gzip_of_zeros(5);
        let out = gunzip(&src, 5 << 20).unwrap();
        assert_eq!(out.len(), 5 << 20);
        assert!(out.iter().all(|&byte| byte == 0));
    }

    #[test]
    fn gigabyte_of_zeros_stops_at_the_limit() {
        let src = gzip_of_zeros(1024);
        assert!(src.len() < 2 << 20, "{}", src.len());
        let max = 4 << 20;
        let mut dst = BytesMut::from(&b"prefix"[..]);
        assert_eq!(
            decompress(&src, max, &mut dst),
            Err(CompressionError::TooLarge { max })
        );
        assert_eq!(&dst[..], b"prefix");
        assert!(dst.capacity() <= 6 + max, "{}", dst.capacity());
    }
}
