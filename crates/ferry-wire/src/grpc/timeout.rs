//! The `grpc-timeout` header: 1 to 8 ASCII digits and one unit letter
//! (PROTOCOL-HTTP2.md, "Timeout").

use std::fmt;
use std::time::Duration;

/// The largest value the 8 digits can hold.
const MAX_VALUE: u64 = 99_999_999;
const MAX_DIGITS: usize = 8;

/// The units, finest first, with their length in nanoseconds.
const UNITS: [(u8, u64); 6] = [
    (b'n', 1),
    (b'u', 1_000),
    (b'm', 1_000_000),
    (b'S', 1_000_000_000),
    (b'M', 60 * 1_000_000_000),
    (b'H', 3_600 * 1_000_000_000),
];

/// Why a `grpc-timeout` value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutError {
    /// The value is empty.
    Empty,
    /// The last byte is not one of `H M S m u n`.
    InvalidUnit,
    /// A unit with no digits before it.
    MissingDigits,
    /// More than the 8 digits the spec allows.
    TooManyDigits,
    /// Something other than an ASCII digit before the unit (a sign, a space,
    /// a decimal point, a non-ASCII byte).
    InvalidDigit,
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutError::Empty => "empty grpc-timeout",
            TimeoutError::InvalidUnit => "grpc-timeout unit is not one of H M S m u n",
            TimeoutError::MissingDigits => "grpc-timeout has no digits",
            TimeoutError::TooManyDigits => "grpc-timeout has more than 8 digits",
            TimeoutError::InvalidDigit => "grpc-timeout value is not all ASCII digits",
        })
    }
}

impl std::error::Error for TimeoutError {}

/// Parses a `grpc-timeout` value.
///
/// Accepts exactly 1 to 8 ASCII digits followed by one of `H M S m u n`;
/// leading zeros and a value of zero (an already expired deadline) are
/// accepted. Anything else is an error; nothing panics. The largest value,
/// `99999999H`, is about 11,400 years and fits in a [`Duration`].
pub fn decode_timeout(value: &[u8]) -> Result<Duration, TimeoutError> {
    let Some((&unit, digits)) = value.split_last() else {
        return Err(TimeoutError::Empty);
    };
    let Some(&(_, unit_nanos)) = UNITS.iter().find(|(letter, _)| *letter == unit) else {
        return Err(TimeoutError::InvalidUnit);
    };
    if digits.is_empty() {
        return Err(TimeoutError::MissingDigits);
    }
    if digits.len() > MAX_DIGITS {
        return Err(TimeoutError::TooManyDigits);
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(TimeoutError::InvalidDigit);
        }
        n = n * 10 + u64::from(d - b'0');
    }
    // n < 10^8 and a unit is at most 3.6 * 10^12 ns: the product fits in u128
    // and the result in a Duration (at most 3.6 * 10^11 seconds).
    let nanos = u128::from(n) * u128::from(unit_nanos);
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    let sub = (nanos % 1_000_000_000) as u32;
    Ok(Duration::new(secs, sub))
}

/// Formats a timeout for `grpc-timeout`.
///
/// Picks the finest unit whose value fits in 8 digits, the choice grpc-go
/// makes, so the loss is under one unit: below 0.1 s the value is exact in
/// nanoseconds, below 100 s it is within a microsecond, and so on. The value
/// is rounded *up*: the deadline the server computes is never earlier than
/// the client's, and a non-zero timeout never becomes `0`. A zero timeout is
/// `0n` (the deadline has already passed); anything beyond `99999999H`
/// (about 11,400 years) is clamped to it.
pub fn encode_timeout(timeout: Duration) -> String {
    let nanos = timeout.as_nanos();
    for (letter, unit_nanos) in UNITS {
        let value = nanos.div_ceil(u128::from(unit_nanos));
        if value <= u128::from(MAX_VALUE) {
            return format!("{value}{}", char::from(letter));
        }
    }
    format!("{MAX_VALUE}H")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_every_unit() {
        assert_eq!(decode_timeout(b"1H"), Ok(Duration::from_secs(3600)));
        assert_eq!(decode_timeout(b"2M"), Ok(Duration::from_secs(120)));
        assert_eq!(decode_timeout(b"3S"), Ok(Duration::from_secs(3)));
        assert_eq!(decode_timeout(b"4m"), Ok(Duration::from_millis(4)));
        assert_eq!(decode_timeout(b"5u"), Ok(Duration::from_micros(5)));
        assert_eq!(decode_timeout(b"6n"), Ok(Duration::from_nanos(6)));
        assert_eq!(decode_timeout(b"0n"), Ok(Duration::ZERO));
        assert_eq!(decode_timeout(b"00000010S"), Ok(Duration::from_secs(10)));
        assert_eq!(
            decode_timeout(b"99999999H"),
            Ok(Duration::from_secs(99_999_999 * 3600))
        );
        assert_eq!(
            decode_timeout(b"99999999n"),
            Ok(Duration::from_nanos(99_999_999))
        );
    }

    #[test]
    fn rejects_malformed_values() {
        let cases: [(&[u8], TimeoutError); 16] = [
            (b"", TimeoutError::Empty),
            (b"S", TimeoutError::MissingDigits),
            (b"1", TimeoutError::InvalidUnit),
            (b"10", TimeoutError::InvalidUnit),
            (b"1s", TimeoutError::InvalidUnit),
            (b"1h", TimeoutError::InvalidUnit),
            (b"1S ", TimeoutError::InvalidUnit),
            (b"1\xff", TimeoutError::InvalidUnit),
            (b"123456789S", TimeoutError::TooManyDigits),
            (b"000000001n", TimeoutError::TooManyDigits),
            (b"-1S", TimeoutError::InvalidDigit),
            (b"+1S", TimeoutError::InvalidDigit),
            (b" 1S", TimeoutError::InvalidDigit),
            (b"1.5S", TimeoutError::InvalidDigit),
            (b"\xd9\xa1S", TimeoutError::InvalidDigit), // Arabic-Indic digit one
            (b"0x1S", TimeoutError::InvalidDigit),
        ];
        for (value, error) in cases {
            assert_eq!(
                decode_timeout(value),
                Err(error),
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn encodes_exact_strings() {
        let cases = [
            (Duration::ZERO, "0n"),
            (Duration::from_nanos(1), "1n"),
            (Duration::from_nanos(99_999_999), "99999999n"),
            (Duration::from_nanos(100_000_000), "100000u"),
            (Duration::from_nanos(100_000_001), "100001u"), // rounded up
            (Duration::from_millis(250), "250000u"),
            (Duration::from_secs(1), "1000000u"),
            (Duration::from_secs(30), "30000000u"),
            (Duration::from_secs(100), "100000m"),
            (Duration::from_secs(3600), "3600000m"),
            (Duration::from_secs(100_000), "100000S"),
            (Duration::from_secs(100_000_000), "1666667M"), // 1666666.67 minutes, rounded up
            (Duration::from_secs(99_999_999 * 60 + 1), "1666667H"),
            (Duration::from_secs(99_999_999 * 3600), "99999999H"),
            (Duration::MAX, "99999999H"),
        ];
        for (timeout, text) in cases {
            assert_eq!(encode_timeout(timeout), text, "{timeout:?}");
        }
    }

    proptest! {
        /// Encoding never shortens the timeout, loses less than one unit, and
        /// re-encoding what a server decodes gives the same text.
        #[test]
        fn round_trip(nanos in 0u128..=(99_999_999u128 * 3_600_000_000_000)) {
            let secs = (nanos / 1_000_000_000) as u64;
            let timeout = Duration::new(secs, (nanos % 1_000_000_000) as u32);
            let text = encode_timeout(timeout);
            prop_assert!(text.len() <= 9);
            let decoded = decode_timeout(text.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(decoded >= timeout);
            let unit = text.as_bytes()[text.len() - 1];
            let unit_nanos = UNITS.iter().find(|(l, _)| *l == unit).map_or(0, |u| u.1);
            prop_assert!(decoded.as_nanos() - timeout.as_nanos() < u128::from(unit_nanos));
            prop_assert_eq!(encode_timeout(decoded), text);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            let _ = decode_timeout(&bytes);
        }
    }
}
