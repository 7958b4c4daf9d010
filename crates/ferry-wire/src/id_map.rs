//! A hash map keyed by stream or call ids.
//!
//! Ids are small integers and a connection holds a few hundred calls at
//! most (its concurrency limit also bounds what ids a peer picks to collide
//! can cost), so a multiplicative hash does the job at a fraction of
//! SipHash's cost, which showed up in profiles of the unary path.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` keyed by ids (`StreamId`, `u32`, `u64`), hashed with
/// [`IdHasher`].
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A multiplicative (Fibonacci) hash for integer ids. Not keyed: use it
/// only where the number of entries is bounded by a limit.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b) ^ self.0);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        let h = (n ^ self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // Fold the high bits down: the table indexes with the low ones.
        self.0 = h ^ (h >> 29);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StreamId;

    #[test]
    fn consecutive_ids_spread_over_the_low_bits() {
        let mut buckets = [0u32; 64];
        for id in (1..=1_024u32).step_by(2) {
            let mut h = IdHasher::default();
            h.write_u32(id);
            buckets[(h.finish() & 63) as usize] += 1;
        }
        // 512 odd ids over 64 buckets: none empty, none crowded.
        assert!(
            buckets.iter().all(|&n| (1..=24).contains(&n)),
            "{buckets:?}"
        );
    }

    #[test]
    fn maps_by_stream_id_and_by_integer() {
        let mut map: IdMap<StreamId, &str> = IdMap::default();
        map.insert(StreamId::new(1), "one");
        map.insert(StreamId::new(3), "three");
        assert_eq!(map.get(&StreamId::new(3)), Some(&"three"));
        let mut calls: IdMap<u32, u32> = IdMap::default();
        for id in 1..1_000 {
            calls.insert(id, id * 2);
        }
        assert!((1..1_000).all(|id| calls[&id] == id * 2));
    }
}
