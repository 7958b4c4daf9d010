//! The static Huffman code of HPACK string literals (RFC 7541 §5.2, Appendix B).
//!
//! Encoding packs each byte's code into a 64-bit accumulator and writes 32 bits
//! at a time; the last byte is padded with the most significant bits of EOS
//! (all ones).
//!
//! Decoding walks the code tree four bits at a time. The tree of a complete
//! prefix code over 257 symbols has exactly 256 inner nodes, so a decoder state
//! is one byte and a transition table of `256 states × 16 nibbles` (12 KiB) says,
//! for every state and nibble, the next state, the symbol completed on the way
//! (at most one: the shortest code has 5 bits) and whether the walk hit EOS. The
//! table is computed by `const fn` at compile time, never per call.
//!
//! What the RFC requires of a decoder (§5.2), and how the table encodes it:
//!
//! - EOS inside a string is an error: a transition that completes EOS is
//!   flagged `FAIL`.
//! - Padding longer than 7 bits is an error, and padding must be a prefix of
//!   EOS (all ones): the only states where the input may end are the root and
//!   the nodes reached from it by one to seven `1` bits; they are flagged
//!   `ACCEPT`.

use super::huffman_table::CODES;

/// The EOS symbol.
const EOS: u16 = 256;
/// Marks a tree child as a leaf; the low 9 bits are its symbol.
const LEAF: u16 = 0x8000;
/// Number of inner nodes of the code tree (a complete binary tree with 257
/// leaves has 256 of them).
const NODES: usize = 256;

/// A symbol was completed during this transition; it is in `Step::sym`.
const EMIT: u8 = 1;
/// The input may end in the state this transition leads to.
const ACCEPT: u8 = 2;
/// The transition completes EOS: the string is invalid.
const FAIL: u8 = 4;

/// One entry of the decoder's transition table.
#[derive(Clone, Copy)]
struct Step {
    next: u8,
    sym: u8,
    flags: u8,
}

/// The code tree: `TREE[node][bit]` is an inner node index or `LEAF | symbol`.
/// Node 0 is the root; it is never anyone's child, so 0 also means "unset"
/// while the tree is built.
const TREE: [[u16; 2]; NODES] = build_tree();

/// `DECODE[state * 16 + nibble]`.
static DECODE: [Step; NODES * 16] = build_decode_table();

const fn build_tree() -> [[u16; 2]; NODES] {
    let mut tree = [[0u16; 2]; NODES];
    let mut used = 1usize;
    let mut sym = 0usize;
    while sym < CODES.len() {
        let (code, len) = CODES[sym];
        let mut node = 0usize;
        let mut bit_pos = len as u32;
        // Walk (and create) the inner nodes for every bit but the last.
        while bit_pos > 1 {
            bit_pos -= 1;
            let bit = ((code >> bit_pos) & 1) as usize;
            if tree[node][bit] == 0 {
                assert!(used < NODES, "Huffman table is not a prefix code");
                tree[node][bit] = used as u16;
                used += 1;
            }
            let child = tree[node][bit];
            assert!(child & LEAF == 0, "Huffman table is not a prefix code");
            node = child as usize;
        }
        let last = (code & 1) as usize;
        assert!(tree[node][last] == 0, "Huffman table is not a prefix code");
        tree[node][last] = LEAF | sym as u16;
        sym += 1;
    }
    assert!(used == NODES, "Huffman table is not a complete code");
    tree
}

const fn build_decode_table() -> [Step; NODES * 16] {
    // The states where input may end: the root and the nodes reached from it
    // by 1..=7 one-bits (padding is a prefix of EOS, shorter than a byte).
    let mut accept = [false; NODES];
    accept[0] = true;
    let mut node = 0usize;
    let mut depth = 0;
    while depth < 7 {
        node = TREE[node][1] as usize;
        accept[node] = true;
        depth += 1;
    }

    let mut table = [Step {
        next: 0,
        sym: 0,
        flags: 0,
    }; NODES * 16];
    let mut state = 0usize;
    while state < NODES {
        let mut nibble = 0usize;
        while nibble < 16 {
            let mut node = state;
            let mut flags = 0u8;
            let mut sym = 0u8;
            let mut bit_pos = 4;
            while bit_pos > 0 {
                bit_pos -= 1;
                let child = TREE[node][(nibble >> bit_pos) & 1];
                if child & LEAF == 0 {
                    node = child as usize;
                } else if child & !LEAF == EOS {
                    flags |= FAIL;
                    break;
                } else {
                    sym = (child & !LEAF) as u8;
                    flags |= EMIT;
                    node = 0;
                }
            }
            if flags & FAIL == 0 && accept[node] {
                flags |= ACCEPT;
            }
            table[state * 16 + nibble] = Step {
                next: node as u8,
                sym,
                flags,
            };
            nibble += 1;
        }
        state += 1;
    }
    table
}

/// The Huffman code was invalid: EOS inside the string, padding longer than 7
/// bits, or padding that is not all ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InvalidHuffman;

/// The length in bytes of `src` once Huffman-encoded.
pub(crate) fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src
        .iter()
        .map(|&b| usize::from(CODES[usize::from(b)].1))
        .sum();
    bits.div_ceil(8)
}

/// Appends the Huffman encoding of `src` to `dst`.
pub(crate) fn encode(src: &[u8], dst: &mut Vec<u8>) {
    // Callers reserve: they know `encoded_len` already.
    // `acc` holds `pending` not-yet-written bits in its low end; codes are at
    // most 30 bits, so it never holds more than 31 + 30 bits.
    let mut acc: u64 = 0;
    let mut pending: u32 = 0;
    for &b in src {
        let (code, len) = CODES[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        pending += u32::from(len);
        if pending >= 32 {
            pending -= 32;
            dst.extend_from_slice(&((acc >> pending) as u32).to_be_bytes());
        }
    }
    while pending >= 8 {
        pending -= 8;
        dst.push((acc >> pending) as u8);
    }
    if pending > 0 {
        // Pad with the high bits of EOS, which are all ones.
        let last = (acc << (8 - pending)) as u8 | (0xff >> pending);
        dst.push(last);
    }
}

/// Appends the decoding of the Huffman-encoded `src` to `dst`.
pub(crate) fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), InvalidHuffman> {
    // Every symbol takes at least 5 bits.
    dst.reserve(src.len() * 8 / 5);
    let mut state = 0usize;
    let mut flags = ACCEPT;
    for &byte in src {
        for nibble in [byte >> 4, byte & 0x0f] {
            let step = DECODE[state * 16 + usize::from(nibble)];
            if step.flags & FAIL != 0 {
                return Err(InvalidHuffman);
            }
            if step.flags & EMIT != 0 {
                dst.push(step.sym);
            }
            state = usize::from(step.next);
            flags = step.flags;
        }
    }
    if flags & ACCEPT == 0 {
        return Err(InvalidHuffman);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(s: &[u8]) -> Vec<u8> {
        let mut dst = Vec::new();
        encode(s, &mut dst);
        assert_eq!(dst.len(), encoded_len(s));
        dst.to_vec()
    }

    fn dec(s: &[u8]) -> Result<Vec<u8>, InvalidHuffman> {
        let mut out = Vec::new();
        decode(s, &mut out).map(|()| out)
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The transcribed table is the canonical Huffman code of its own lengths
    /// (RFC 7541 Appendix B is canonical) and it is complete (Kraft sum 1).
    #[test]
    fn table_is_the_canonical_complete_code() {
        let mut order: Vec<usize> = (0..CODES.len()).collect();
        order.sort_by_key(|&s| (CODES[s].1, s));
        let mut code: u64 = 0;
        let mut prev_len = CODES[order[0]].1;
        for &sym in &order {
            let (want, len) = CODES[sym];
            code <<= len - prev_len;
            prev_len = len;
            assert_eq!(code, u64::from(want), "symbol {sym}");
            code += 1;
        }
        // After the last (longest) code, the next code would be 2^30.
        assert_eq!(code, 1 << 30);
        assert_eq!(CODES[256], (0x3fff_ffff, 30));
        assert_eq!(CODES[usize::from(b'0')], (0x0, 5));
        assert_eq!(CODES[usize::from(b'e')], (0x5, 5));
    }

    /// Strings from RFC 7541 Appendix C.4 and C.6.
    #[test]
    fn rfc_examples() {
        let cases: &[(&str, &str)] = &[
            ("www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
            ("no-cache", "a8eb 1064 9cbf"),
            ("custom-key", "25a8 49e9 5ba9 7d7f"),
            ("custom-value", "25a8 49e9 5bb8 e8b4 bf"),
            ("302", "6402"),
            ("private", "aec3 771a 4b"),
            (
                "Mon, 21 Oct 2013 20:13:21 GMT",
                "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
            ),
            (
                "https://www.example.com",
                "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3",
            ),
            ("307", "640e ff"),
            (
                "Mon, 21 Oct 2013 20:13:22 GMT",
                "d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff",
            ),
            ("gzip", "9bd9 ab"),
            (
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
                "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 \
                 3160 65c0 03ed 4ee5 b106 3d50 07",
            ),
        ];
        for &(plain, coded) in cases {
            assert_eq!(enc(plain.as_bytes()), hex(coded), "encoding {plain:?}");
            assert_eq!(
                dec(&hex(coded)).unwrap(),
                plain.as_bytes(),
                "decoding {plain:?}"
            );
        }
    }

    #[test]
    fn empty_string() {
        assert_eq!(enc(b""), Vec::<u8>::new());
        assert_eq!(dec(b"").unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn padding_rules() {
        // 'a' is 00011 (5 bits): 3 bits of padding, must be ones.
        assert_eq!(dec(&[0b0001_1111]).unwrap(), b"a");
        assert_eq!(dec(&[0b0001_1110]), Err(InvalidHuffman));
        assert_eq!(dec(&[0b0001_1011]), Err(InvalidHuffman));
        // A whole byte of padding (8 bits) is too long.
        assert_eq!(dec(&[0b0001_1111, 0xff]), Err(InvalidHuffman));
        assert_eq!(dec(&[0xff]), Err(InvalidHuffman));
        // Seven bits of padding after an exact byte is fine: '0' '0' '0' (15
        // bits) + 1 bit of padding.
        assert_eq!(dec(&[0x00, 0x01]).unwrap(), b"000");
        // 0xfe: 7 one-bits then a zero: not a prefix of EOS.
        assert_eq!(dec(&[0xfe]), Err(InvalidHuffman));
        // Ending inside a long code: 15 ones and a zero is a prefix of the
        // backslash's 19-bit code, not padding.
        assert_eq!(dec(&[0xff, 0xfe]), Err(InvalidHuffman));
        // While 11111111 11001 is '$', followed by 3 bits of padding.
        assert_eq!(dec(&[0xff, 0xcf]).unwrap(), b"$");
    }

    #[test]
    fn eos_is_rejected() {
        // EOS (30 ones) followed by 2 bits of padding.
        assert_eq!(dec(&[0xff, 0xff, 0xff, 0xff]), Err(InvalidHuffman));
        // 'a' then EOS.
        let mut bits: u64 = 0b00011;
        bits = (bits << 30) | 0x3fff_ffff;
        bits = (bits << 5) | 0b11111; // pad to 40 bits
        let bytes = bits.to_be_bytes()[3..].to_vec();
        assert_eq!(dec(&bytes), Err(InvalidHuffman));
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(dec(&enc(&all)).unwrap(), all);
        for b in 0..=255u8 {
            assert_eq!(dec(&enc(&[b])).unwrap(), [b]);
        }
    }

    proptest! {
        #[test]
        fn round_trip(s in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(dec(&enc(&s)).unwrap(), s);
        }

        #[test]
        fn decode_never_panics(s in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = dec(&s);
        }
    }
}
