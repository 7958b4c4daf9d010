//! HPACK's two primitive types: integers with an N-bit prefix (RFC 7541 §5.1)
//! and string literals, raw or Huffman-coded (§5.2).
//!
//! ```text
//!   integer, N = 5:  ? ? ? | 1 1 1 1 1 |   (prefix full: value >= 31)
//!                    1 | value - 31, low 7 bits
//!                    0 | next 7 bits           (last byte)
//!
//!   string:          H | length (7-bit prefix integer)
//!                    length bytes (Huffman-coded if H)
//! ```

use super::DecoderError;
use super::huffman;

/// The largest integer the decoder accepts. Every HPACK integer is an index,
/// a string length or a table size, none of which can sensibly exceed 2^32 - 1
/// (RFC 7541 §5.1 lets a decoder pick its limit).
pub(crate) const MAX_INT: u64 = u32::MAX as u64;

/// Continuation bytes after a full prefix: 5 × 7 bits already exceed
/// [`MAX_INT`], so a sixth can only be padding or overflow.
const MAX_CONTINUATION_BYTES: u32 = 5;

/// How a literal representation affects the dynamic table (RFC 7541 §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Indexing {
    /// `01xxxxxx`: the field is added to the dynamic table.
    Incremental,
    /// `0000xxxx`: the table is left alone.
    Without,
    /// `0001xxxx`: the table is left alone, and any intermediary that
    /// re-encodes the field must use this representation too.
    Never,
}

impl Indexing {
    /// The representation's pattern bits and the size of its name-index
    /// prefix.
    pub(crate) fn pattern(self) -> (u8, u8) {
        match self {
            Indexing::Incremental => (0x40, 6),
            Indexing::Without => (0x00, 4),
            Indexing::Never => (0x10, 4),
        }
    }
}

/// Appends `value` with a `prefix_bits`-bit prefix; `flags` fills the bits of
/// the first byte above the prefix.
pub(crate) fn encode_int(value: usize, prefix_bits: u8, flags: u8, dst: &mut Vec<u8>) {
    debug_assert!((1..=8).contains(&prefix_bits));
    let max_prefix = (1usize << prefix_bits) - 1;
    if value < max_prefix {
        dst.push(flags | value as u8);
        return;
    }
    dst.push(flags | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        dst.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    dst.push(rest as u8);
}

/// Reads an integer with a `prefix_bits`-bit prefix at `*pos`, advancing `pos`.
pub(crate) fn decode_int(
    src: &[u8],
    pos: &mut usize,
    prefix_bits: u8,
) -> Result<usize, DecoderError> {
    debug_assert!((1..=8).contains(&prefix_bits));
    let first = *src.get(*pos).ok_or(DecoderError::Truncated)?;
    *pos += 1;
    let max_prefix = u8::MAX >> (8 - prefix_bits);
    let prefix = first & max_prefix;
    if prefix < max_prefix {
        return Ok(usize::from(prefix));
    }
    let mut value = u64::from(max_prefix);
    let mut shift = 0u32;
    loop {
        let byte = *src.get(*pos).ok_or(DecoderError::Truncated)?;
        *pos += 1;
        value += u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift >= 7 * MAX_CONTINUATION_BYTES {
            return Err(DecoderError::IntegerOverflow);
        }
    }
    if value > MAX_INT {
        return Err(DecoderError::IntegerOverflow);
    }
    usize::try_from(value).map_err(|_| DecoderError::IntegerOverflow)
}

/// Appends a string literal, Huffman-coded if that is shorter and `huffman`
/// allows it.
pub(crate) fn encode_str(s: &[u8], huffman: bool, dst: &mut Vec<u8>) {
    if huffman {
        let len = huffman::encoded_len(s);
        if len < s.len() {
            dst.reserve(len + 5);
            encode_int(len, 7, 0x80, dst);
            huffman::encode(s, dst);
            return;
        }
    }
    encode_int(s.len(), 7, 0, dst);
    dst.extend_from_slice(s);
}

/// Where a decoded string literal's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Str {
    /// Raw bytes: this range of the input.
    Raw(usize, usize),
    /// Huffman-coded: decoded into this range of the scratch buffer.
    Decoded(usize, usize),
}

impl Str {
    #[cfg(test)]
    pub(crate) fn len(self) -> usize {
        match self {
            Str::Raw(start, end) | Str::Decoded(start, end) => end - start,
        }
    }

    /// The bytes, given the input and the scratch buffer.
    pub(crate) fn bytes<'a>(self, src: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
        match self {
            Str::Raw(start, end) => &src[start..end],
            Str::Decoded(start, end) => &scratch[start..end],
        }
    }
}

/// Reads a string literal at `*pos`, advancing `pos`. Raw strings are left in
/// place; Huffman-coded ones are decoded onto the end of `scratch`.
pub(crate) fn decode_str(
    src: &[u8],
    pos: &mut usize,
    scratch: &mut Vec<u8>,
) -> Result<Str, DecoderError> {
    let huffman = *src.get(*pos).ok_or(DecoderError::Truncated)? & 0x80 != 0;
    let len = decode_int(src, pos, 7)?;
    let start = *pos;
    let remaining = src.len() - start;
    if len > remaining {
        return Err(DecoderError::StringPastEnd { len, remaining });
    }
    *pos += len;
    let coded = &src[start..start + len];
    if huffman {
        let from = scratch.len();
        huffman::decode(coded, scratch).map_err(|_| DecoderError::InvalidHuffman)?;
        Ok(Str::Decoded(from, scratch.len()))
    } else {
        Ok(Str::Raw(start, start + len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn int(value: usize, prefix: u8, flags: u8) -> Vec<u8> {
        let mut dst = Vec::new();
        encode_int(value, prefix, flags, &mut dst);
        dst
    }

    fn read_int(src: &[u8], prefix: u8) -> Result<(usize, usize), DecoderError> {
        let mut pos = 0;
        decode_int(src, &mut pos, prefix).map(|v| (v, pos))
    }

    /// RFC 7541 C.1.1–C.1.3.
    #[test]
    fn rfc_c1_integers() {
        assert_eq!(int(10, 5, 0), [0x0a]);
        assert_eq!(read_int(&[0x0a], 5), Ok((10, 1)));
        assert_eq!(int(1337, 5, 0), [0x1f, 0x9a, 0x0a]);
        assert_eq!(read_int(&[0x1f, 0x9a, 0x0a], 5), Ok((1337, 3)));
        assert_eq!(int(42, 8, 0), [0x2a]);
        assert_eq!(read_int(&[0x2a], 8), Ok((42, 1)));
        // Bits above the prefix are not part of the value.
        assert_eq!(read_int(&[0xea, 0xff], 5), Ok((10, 1)));
        assert_eq!(read_int(&[0xff, 0x9a, 0x0a], 5), Ok((1337, 3)));
    }

    #[test]
    fn prefix_boundaries() {
        assert_eq!(int(30, 5, 0x20), [0x3e]);
        assert_eq!(int(31, 5, 0x20), [0x3f, 0x00]);
        assert_eq!(int(31 + 127, 5, 0), [0x1f, 0x7f]);
        assert_eq!(int(31 + 128, 5, 0), [0x1f, 0x80, 0x01]);
        assert_eq!(int(254, 8, 0), [0xfe]);
        assert_eq!(int(255, 8, 0), [0xff, 0x00]);
        assert_eq!(int(0, 1, 0xfe), [0xfe]);
        assert_eq!(int(1, 1, 0xfe), [0xff, 0x00]);
        assert_eq!(read_int(&[0x3f, 0x00], 5), Ok((31, 2)));
        assert_eq!(read_int(&[0xff, 0x00], 1), Ok((1, 2)));
    }

    #[test]
    fn integer_limits() {
        // 2^32 - 1 is the largest accepted value.
        let max = int(u32::MAX as usize, 5, 0);
        assert_eq!(max, [0x1f, 0xe0, 0xff, 0xff, 0xff, 0x0f]);
        assert_eq!(read_int(&max, 5), Ok((u32::MAX as usize, 6)));
        assert_eq!(
            read_int(&[0x1f, 0xe1, 0xff, 0xff, 0xff, 0x0f], 5),
            Err(DecoderError::IntegerOverflow)
        );
        // Five continuation bytes, even of zeros, are allowed; a sixth is not.
        assert_eq!(
            read_int(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x00], 5),
            Ok((31, 6))
        );
        assert_eq!(
            read_int(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 5),
            Err(DecoderError::IntegerOverflow)
        );
        assert_eq!(
            read_int(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], 5),
            Err(DecoderError::IntegerOverflow)
        );
        // Truncation.
        assert_eq!(read_int(&[], 5), Err(DecoderError::Truncated));
        assert_eq!(read_int(&[0x1f], 5), Err(DecoderError::Truncated));
        assert_eq!(read_int(&[0x1f, 0x80], 5), Err(DecoderError::Truncated));
    }

    #[test]
    fn strings() {
        let mut dst = Vec::new();
        encode_str(b"custom-key", false, &mut dst);
        assert_eq!(&dst[..], b"\x0acustom-key");
        dst.clear();
        encode_str(b"custom-key", true, &mut dst);
        assert_eq!(
            &dst[..],
            [0x88, 0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xa9, 0x7d, 0x7f]
        );
        // Huffman only when strictly shorter: bytes with long codes stay raw.
        dst.clear();
        encode_str(&[0x00, 0x01], true, &mut dst);
        assert_eq!(&dst[..], [0x02, 0x00, 0x01]);

        let mut scratch = Vec::new();
        let mut pos = 0;
        let s = decode_str(&dst, &mut pos, &mut scratch).unwrap();
        assert_eq!((s, pos), (Str::Raw(1, 3), 3));
        let coded = [0x88, 0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xa9, 0x7d, 0x7f];
        pos = 0;
        let s = decode_str(&coded, &mut pos, &mut scratch).unwrap();
        assert_eq!(s.bytes(&coded, &scratch), b"custom-key");
        assert_eq!((s.len(), pos), (10, 9));

        pos = 0;
        assert_eq!(
            decode_str(&[0x05, b'a', b'b'], &mut pos, &mut scratch),
            Err(DecoderError::StringPastEnd {
                len: 5,
                remaining: 2
            })
        );
        pos = 0;
        assert_eq!(
            decode_str(&[0x81, 0xff], &mut pos, &mut scratch),
            Err(DecoderError::InvalidHuffman)
        );
        pos = 0;
        assert_eq!(
            decode_str(&[], &mut pos, &mut scratch),
            Err(DecoderError::Truncated)
        );
        // A length bigger than any input: the length check, not an allocation.
        pos = 0;
        assert_eq!(
            decode_str(
                &[0x7f, 0xe0, 0xff, 0xff, 0xff, 0x07],
                &mut pos,
                &mut scratch
            ),
            Err(DecoderError::StringPastEnd {
                len: (1 << 31) + 95,
                remaining: 0
            })
        );
    }

    proptest! {
        #[test]
        fn int_round_trip(value in 0..=u32::MAX as usize, prefix in 1u8..=8, flags in any::<u8>()) {
            let flags = flags & !((1u16 << prefix) - 1) as u8;
            let bytes = int(value, prefix, flags);
            prop_assert_eq!(bytes[0] & flags, flags);
            prop_assert_eq!(read_int(&bytes, prefix), Ok((value, bytes.len())));
        }

        #[test]
        fn int_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..12), prefix in 1u8..=8) {
            let _ = read_int(&bytes, prefix);
        }
    }
}
