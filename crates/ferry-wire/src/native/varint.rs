//! Protobuf base-128 varints, as the metadata section uses them.

use super::NativeError;

/// The most bytes a u64 takes.
const MAX_LEN: usize = 10;

/// Appends `value`.
pub(super) fn put(dst: &mut impl bytes::BufMut, mut value: u64) {
    while value >= 0x80 {
        dst.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    dst.put_u8(value as u8);
}

/// How many bytes `value` takes.
pub(super) fn len(value: u64) -> usize {
    // One byte per started group of 7 bits; 0 takes one byte.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads one varint from the front of `src`, advancing it.
pub(super) fn take(src: &mut &[u8]) -> Result<u64, NativeError> {
    let mut value: u64 = 0;
    for i in 0..MAX_LEN {
        let (&byte, rest) = src.split_first().ok_or(NativeError::BadVarint)?;
        *src = rest;
        let low = u64::from(byte & 0x7f);
        // The tenth byte may only carry the top bit of a u64.
        if i == MAX_LEN - 1 && low > 1 {
            return Err(NativeError::BadVarint);
        }
        value |= low << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(NativeError::BadVarint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_edges() {
        for value in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX - 1, u64::MAX] {
            let mut buf = Vec::new();
            put(&mut buf, value);
            let mut src = buf.as_slice();
            assert_eq!(take(&mut src), Ok(value));
            assert!(src.is_empty());
        }
        let mut buf = Vec::new();
        put(&mut buf, 300);
        assert_eq!(buf, [0xac, 0x02]);
        for value in [0, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            put(&mut buf, value);
            assert_eq!(len(value), buf.len(), "{value}");
        }
    }

    #[test]
    fn rejects_long_overflowing_and_cut_varints() {
        let eleven = [0x80u8; 10]
            .iter()
            .copied()
            .chain([0x01])
            .collect::<Vec<_>>();
        assert_eq!(take(&mut eleven.as_slice()), Err(NativeError::BadVarint));
        let overflow = [0xffu8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(take(&mut overflow.as_slice()), Err(NativeError::BadVarint));
        assert_eq!(take(&mut [0x80u8].as_slice()), Err(NativeError::BadVarint));
        assert_eq!(take(&mut [].as_slice()), Err(NativeError::BadVarint));
    }
}
