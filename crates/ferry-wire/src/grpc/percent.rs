//! Percent-encoding of `grpc-message` (PROTOCOL-HTTP2.md, "Status-Message").
//!
//! The message is UTF-8, then every byte outside space and visible ASCII, and
//! `%` itself, becomes `%XX` (uppercase hex). Decoding never fails: the spec
//! says a client must not throw a message away, so a broken escape is kept
//! literally and bytes that are not UTF-8 become U+FFFD.

use std::borrow::Cow;

/// Bytes sent as they are: space and visible ASCII, except `%`.
const fn is_unreserved(b: u8) -> bool {
    matches!(b, 0x20..=0x24 | 0x26..=0x7e)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encodes a status message for `grpc-message`.
///
/// Borrows when nothing needs escaping (the common case), otherwise allocates
/// once with the exact size.
pub fn percent_encode(message: &str) -> Cow<'_, str> {
    let bytes = message.as_bytes();
    let Some(first) = bytes.iter().position(|&b| !is_unreserved(b)) else {
        return Cow::Borrowed(message);
    };
    let escaped = bytes[first..]
        .iter()
        .filter(|&&b| !is_unreserved(b))
        .count();
    let mut out = String::with_capacity(bytes.len() + 2 * escaped);
    // Everything before `first` is ASCII, so `first` is a char boundary.
    out.push_str(&message[..first]);
    for &b in &bytes[first..] {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0f)]));
        }
    }
    Cow::Owned(out)
}

/// Decodes a `grpc-message` value. Never fails.
///
/// Valid `%XX` escapes (either hex case) are decoded; a `%` not followed by two
/// hex digits is kept as it is; the result is read as UTF-8, invalid
/// sequences becoming U+FFFD. Borrows when the value has no `%` and is UTF-8.
pub fn percent_decode(value: &[u8]) -> Cow<'_, str> {
    if !value.contains(&b'%') {
        return String::from_utf8_lossy(value);
    }
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        if b == b'%' {
            let hi = value.get(i + 1).copied().and_then(hex_value);
            let lo = value.get(i + 2).copied().and_then(hex_value);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The interop `special_status_message` case.
    const SPECIAL: &str = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";

    #[test]
    fn plain_ascii_is_borrowed() {
        let m = "Hello, world! ~ (ok)";
        assert!(matches!(percent_encode(m), Cow::Borrowed(s) if s == m));
        assert!(matches!(percent_decode(m.as_bytes()), Cow::Borrowed(s) if s == m));
    }

    #[test]
    fn special_status_message_exact_bytes() {
        let encoded = percent_encode(SPECIAL);
        assert_eq!(
            encoded,
            "%09%0Atest with whitespace%0D%0Aand Unicode BMP %E2%98%BA and non-BMP %F0%9F%98%88%09%0A"
        );
        assert_eq!(percent_decode(encoded.as_bytes()), SPECIAL);
    }

    #[test]
    fn percent_sign_and_controls() {
        assert_eq!(percent_encode("100%"), "100%25");
        assert_eq!(percent_encode("\0\x7f"), "%00%7F");
        assert_eq!(percent_decode(b"100%25"), "100%");
        assert_eq!(percent_decode(b"%e2%98%ba"), "☺");
    }

    #[test]
    fn malformed_escapes_pass_through() {
        assert_eq!(percent_decode(b"%"), "%");
        assert_eq!(percent_decode(b"50%"), "50%");
        assert_eq!(percent_decode(b"%4"), "%4");
        assert_eq!(percent_decode(b"%zz%41"), "%zzA");
        assert_eq!(percent_decode(b"%%41"), "%A");
        assert_eq!(percent_decode(b"a%4g"), "a%4g");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(percent_decode(b"%FF ok"), "\u{fffd} ok");
        assert_eq!(percent_decode(b"\xc3 raw"), "\u{fffd} raw");
        // A truncated multi-byte sequence from a cut escape.
        assert_eq!(percent_decode(b"%E2%98"), "\u{fffd}");
    }

    proptest! {
        #[test]
        fn round_trip(s in any::<String>()) {
            let encoded = percent_encode(&s);
            prop_assert!(encoded.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            prop_assert_eq!(percent_decode(encoded.as_bytes()), s.as_str());
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = percent_decode(&bytes);
        }
    }
}
