//! The HPACK indexing tables (RFC 7541 §2.3): the static table of Appendix A
//! and the dynamic table, a FIFO of recently sent fields bounded in bytes.
//!
//! Both tables share one index space: 1..=61 is the static table, 62.. the
//! dynamic table, newest entry first.
//!
//! ```text
//!   1 ........... 61 | 62 (newest) ........ 61+len (oldest)
//!   static table     | dynamic table: insert here -->  evict there
//! ```
//!
//! The decoder only needs "entry at index"; the encoder also needs "index of
//! this name and value" in about constant time. For the static table that is a
//! `match` on the name ([`static_lookup`]); for the dynamic table the encoder
//! keeps two small hash maps beside the FIFO ([`EncoderTable`]).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use bytes::Bytes;

use crate::FIELD_OVERHEAD;

/// Number of entries in the static table.
pub(crate) const STATIC_LEN: usize = 61;

/// RFC 7541 Appendix A, in index order (index 1 is `STATIC[0]`).
pub(crate) static STATIC: [(&str, &str); STATIC_LEN] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// A hit in the static table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StaticMatch {
    /// The index of the full match, or else of the first entry with this name.
    pub(crate) index: usize,
    /// True if the value matched too.
    pub(crate) full: bool,
}

/// Finds `name` (and, if possible, `name: value`) in the static table.
pub(crate) fn static_lookup(name: &[u8], value: &[u8]) -> Option<StaticMatch> {
    // Names that appear with several values: check the values.
    let with_values = |first: usize, count: usize| {
        let full = (first..first + count).find(|&i| STATIC[i - 1].1.as_bytes() == value);
        Some(match full {
            Some(index) => StaticMatch { index, full: true },
            None => StaticMatch {
                index: first,
                full: false,
            },
        })
    };
    let index = match name {
        b":authority" => 1,
        b":method" => return with_values(2, 2),
        b":path" => return with_values(4, 2),
        b":scheme" => return with_values(6, 2),
        b":status" => return with_values(8, 7),
        b"accept-charset" => 15,
        b"accept-encoding" => return with_values(16, 1),
        b"accept-language" => 17,
        b"accept-ranges" => 18,
        b"accept" => 19,
        b"access-control-allow-origin" => 20,
        b"age" => 21,
        b"allow" => 22,
        b"authorization" => 23,
        b"cache-control" => 24,
        b"content-disposition" => 25,
        b"content-encoding" => 26,
        b"content-language" => 27,
        b"content-length" => 28,
        b"content-location" => 29,
        b"content-range" => 30,
        b"content-type" => 31,
        b"cookie" => 32,
        b"date" => 33,
        b"etag" => 34,
        b"expect" => 35,
        b"expires" => 36,
        b"from" => 37,
        b"host" => 38,
        b"if-match" => 39,
        b"if-modified-since" => 40,
        b"if-none-match" => 41,
        b"if-range" => 42,
        b"if-unmodified-since" => 43,
        b"last-modified" => 44,
        b"link" => 45,
        b"location" => 46,
        b"max-forwards" => 47,
        b"proxy-authenticate" => 48,
        b"proxy-authorization" => 49,
        b"range" => 50,
        b"referer" => 51,
        b"refresh" => 52,
        b"retry-after" => 53,
        b"server" => 54,
        b"set-cookie" => 55,
        b"strict-transport-security" => 56,
        b"transfer-encoding" => 57,
        b"user-agent" => 58,
        b"vary" => 59,
        b"via" => 60,
        b"www-authenticate" => 61,
        _ => return None,
    };
    // Every other static entry has an empty value.
    Some(StaticMatch {
        index,
        full: value.is_empty(),
    })
}

/// The `'static` copy of a well-known field name: every static-table name and
/// the names gRPC adds. Decoded names that match are handed out as
/// `Bytes::from_static`, so they cost neither an allocation nor, when cloned
/// and dropped, an atomic reference count (the largest cost of decoding a
/// block whose fields are all indexed).
pub(crate) fn intern_name(name: &[u8]) -> Option<&'static str> {
    if let Some(m) = static_lookup(name, b"\xff") {
        return Some(STATIC[m.index - 1].0);
    }
    Some(match name {
        b"te" => "te",
        b"grpc-timeout" => "grpc-timeout",
        b"grpc-encoding" => "grpc-encoding",
        b"grpc-accept-encoding" => "grpc-accept-encoding",
        b"grpc-status" => "grpc-status",
        b"grpc-message" => "grpc-message",
        b"grpc-status-details-bin" => "grpc-status-details-bin",
        b"grpc-previous-rpc-attempts" => "grpc-previous-rpc-attempts",
        b"grpc-retry-pushback-ms" => "grpc-retry-pushback-ms",
        b"grpc-trace-bin" => "grpc-trace-bin",
        b"grpc-tags-bin" => "grpc-tags-bin",
        _ => return None,
    })
}

/// The `'static` copy of a well-known gRPC field value (see [`intern_name`]).
pub(crate) fn intern_value(value: &[u8]) -> Option<&'static str> {
    /// `grpc-status` values.
    const CODES: [&str; 17] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    Some(match value {
        b"application/grpc" => "application/grpc",
        b"application/grpc+proto" => "application/grpc+proto",
        b"application/grpc+json" => "application/grpc+json",
        b"trailers" => "trailers",
        b"identity" => "identity",
        b"gzip" => "gzip",
        b"deflate" => "deflate",
        b"identity,gzip" => "identity,gzip",
        b"identity,deflate,gzip" => "identity,deflate,gzip",
        b"POST" => "POST",
        b"http" => "http",
        b"https" => "https",
        b"200" => "200",
        _ => return CODES.iter().copied().find(|c| c.as_bytes() == value),
    })
}

/// One dynamic-table entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: Bytes,
    pub(crate) value: Bytes,
}

impl Entry {
    /// The entry's size as RFC 7541 §4.1 counts it.
    pub(crate) fn size(&self) -> usize {
        self.name.len() + self.value.len() + FIELD_OVERHEAD
    }
}

/// The dynamic table: entries newest first, their total size, and the maximum
/// size the encoder chose (RFC 7541 §4).
#[derive(Debug)]
pub(crate) struct DynamicTable {
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
}

impl DynamicTable {
    pub(crate) fn new(max_size: usize) -> DynamicTable {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Sum of the entries' sizes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    /// The entry at 0-based position `i` (0 is the newest, HPACK index 62).
    pub(crate) fn get(&self, i: usize) -> Option<&Entry> {
        self.entries.get(i)
    }

    /// Entries newest first.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Changes the maximum size, evicting the oldest entries until the table
    /// fits (RFC 7541 §4.3). `on_evict` sees each evicted entry.
    pub(crate) fn set_max_size(&mut self, max_size: usize, on_evict: impl FnMut(Entry)) {
        self.max_size = max_size;
        self.evict_to(max_size, on_evict);
    }

    /// Inserts `entry` as the newest, evicting what it needs (RFC 7541 §4.4).
    /// An entry larger than the whole table empties the table and is not
    /// inserted; returns whether it was.
    pub(crate) fn insert(&mut self, entry: Entry, mut on_evict: impl FnMut(Entry)) -> bool {
        let size = entry.size();
        if size > self.max_size {
            self.evict_to(0, &mut on_evict);
            return false;
        }
        self.evict_to(self.max_size - size, &mut on_evict);
        self.size += size;
        self.entries.push_front(entry);
        true
    }

    fn evict_to(&mut self, target: usize, mut on_evict: impl FnMut(Entry)) {
        while self.size > target {
            match self.entries.pop_back() {
                Some(old) => {
                    self.size -= old.size();
                    on_evict(old);
                }
                // Unreachable while `size` is kept as the sum of the entries;
                // stop rather than loop if it ever were not.
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
}

/// A fast non-cryptographic hash of byte strings, for the encoder's lookups.
///
/// The keys come from the local application (or from metadata a proxy
/// forwards); a crafted collision can only make a lookup miss or scan a bucket,
/// and the table never holds more than `max_size / 32` entries.
fn hash_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    let mix = |h: u64, word: u64| (h.rotate_left(5) ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        h = mix(h, read_u64(chunk));
    }
    // The tail is read with whole-word loads (overlapping the last chunk, or
    // two overlapping 4-byte halves), not copied into a zeroed buffer: a
    // variable-length copy followed by a load stalls store forwarding, which
    // showed up as the encoder's hottest instruction.
    let len = bytes.len();
    let rest = chunks.remainder().len();
    let tail = match len {
        _ if rest == 0 => 0,
        8.. => read_u64(&bytes[len - 8..]),
        4..=7 => u64::from(read_u32(bytes)) << 32 | u64::from(read_u32(&bytes[len - 4..])),
        _ => u64::from(bytes[0]) << 16 | u64::from(bytes[len / 2]) << 8 | u64::from(bytes[len - 1]),
    };
    mix(mix(h, tail), len as u64)
}

/// The first 8 bytes of `b` (which has at least 8), little-endian.
fn read_u64(b: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&b[..8]);
    u64::from_le_bytes(word)
}

/// The first 4 bytes of `b` (which has at least 4), little-endian.
fn read_u32(b: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&b[..4]);
    u32::from_le_bytes(word)
}

/// The hash of a name, as the encoder's name map keys it.
pub(crate) fn hash_name(name: &[u8]) -> u64 {
    finish(hash_bytes(name.len() as u64, name))
}

/// The hash of a name and value, as the encoder's field map keys it.
pub(crate) fn hash_field(name: &[u8], value: &[u8]) -> u64 {
    finish(hash_bytes(hash_bytes(name.len() as u64, name), value))
}

fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// Hasher for keys that already are good 64-bit hashes.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `HashMap<u64, _>`; fold anything else.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashIndex = HashMap<u64, u64, BuildHasherDefault<IdentityHasher>>;

/// The encoder's dynamic table: the FIFO plus maps from the hash of a field
/// and of a name to the insertion number of the newest entry with it.
///
/// Entry number `n` (counting insertions from 0) sits at HPACK index
/// `62 + (inserted - 1 - n)`. A map hit is verified against the entry's bytes,
/// so a hash collision costs a miss, never a wrong index. The hashes of each
/// live entry are kept beside it so eviction removes its map keys in O(1).
#[derive(Debug)]
pub(crate) struct EncoderTable {
    table: DynamicTable,
    /// `(field hash, name hash)` per entry, newest first, like `table`.
    hashes: VecDeque<(u64, u64)>,
    inserted: u64,
    /// Changes with every insertion and size change: an index found at one
    /// generation is right while the generation stays.
    generation: u64,
    by_field: HashIndex,
    by_name: HashIndex,
}

impl EncoderTable {
    pub(crate) fn new(max_size: usize) -> EncoderTable {
        EncoderTable {
            table: DynamicTable::new(max_size),
            hashes: VecDeque::new(),
            inserted: 0,
            generation: 0,
            by_field: HashIndex::default(),
            by_name: HashIndex::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn size(&self) -> usize {
        self.table.size()
    }

    pub(crate) fn max_size(&self) -> usize {
        self.table.max_size()
    }

    #[cfg(test)]
    pub(crate) fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Position (0 = newest) of insertion number `n`, if it is still there.
    fn position(&self, n: u64) -> Option<usize> {
        let pos = usize::try_from(self.inserted.checked_sub(n)?.checked_sub(1)?).ok()?;
        (pos < self.table.len()).then_some(pos)
    }

    /// HPACK index of the newest entry equal to `name: value`.
    pub(crate) fn find_field(&self, hash: u64, name: &[u8], value: &[u8]) -> Option<usize> {
        let pos = self.position(*self.by_field.get(&hash)?)?;
        let e = self.table.get(pos)?;
        (e.name == name && e.value == value).then_some(STATIC_LEN + 1 + pos)
    }

    /// HPACK index of the newest entry named `name`.
    pub(crate) fn find_name(&self, hash: u64, name: &[u8]) -> Option<usize> {
        let pos = self.position(*self.by_name.get(&hash)?)?;
        let e = self.table.get(pos)?;
        (e.name == name).then_some(STATIC_LEN + 1 + pos)
    }

    /// See the field: changes whenever an index could.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Inserts a field whose hashes are `field_hash` and `name_hash`.
    pub(crate) fn insert(&mut self, entry: Entry, field_hash: u64, name_hash: u64) {
        self.generation += 1;
        let mut oldest = self.inserted - self.hashes.len() as u64;
        let (hashes, by_field, by_name) = (&mut self.hashes, &mut self.by_field, &mut self.by_name);
        let inserted = self.table.insert(entry, |_| {
            forget_oldest(hashes, by_field, by_name, oldest);
            oldest += 1;
        });
        if inserted {
            let n = self.inserted;
            self.inserted += 1;
            self.hashes.push_front((field_hash, name_hash));
            self.by_field.insert(field_hash, n);
            self.by_name.insert(name_hash, n);
        }
    }

    pub(crate) fn set_max_size(&mut self, max_size: usize) {
        self.generation += 1;
        let mut oldest = self.inserted - self.hashes.len() as u64;
        let (hashes, by_field, by_name) = (&mut self.hashes, &mut self.by_field, &mut self.by_name);
        self.table.set_max_size(max_size, |_| {
            forget_oldest(hashes, by_field, by_name, oldest);
            oldest += 1;
        });
    }
}

/// The oldest entry, insertion number `n`, was just evicted: drops its hashes
/// and the map keys that still point at it (a newer duplicate owns them
/// otherwise).
fn forget_oldest(
    hashes: &mut VecDeque<(u64, u64)>,
    by_field: &mut HashIndex,
    by_name: &mut HashIndex,
    n: u64,
) {
    if let Some((field_hash, name_hash)) = hashes.pop_back() {
        if by_field.get(&field_hash) == Some(&n) {
            by_field.remove(&field_hash);
        }
        if by_name.get(&name_hash) == Some(&n) {
            by_name.remove(&name_hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &'static str, value: &'static str) -> Entry {
        Entry {
            name: Bytes::from_static(name.as_bytes()),
            value: Bytes::from_static(value.as_bytes()),
        }
    }

    #[test]
    fn static_lookup_agrees_with_the_table() {
        for (i, &(name, value)) in STATIC.iter().enumerate() {
            let m = static_lookup(name.as_bytes(), value.as_bytes()).unwrap();
            assert_eq!(
                m,
                StaticMatch {
                    index: i + 1,
                    full: true
                },
                "{name}: {value}"
            );
            let m = static_lookup(name.as_bytes(), b"\x00other").unwrap();
            assert!(!m.full);
            assert_eq!(STATIC[m.index - 1].0, name);
            // The name index is the first entry with that name.
            assert_eq!(
                m.index,
                STATIC.iter().position(|e| e.0 == name).unwrap() + 1
            );
        }
        assert_eq!(static_lookup(b"te", b"trailers"), None);
        assert_eq!(
            static_lookup(b":method", b"PUT"),
            Some(StaticMatch {
                index: 2,
                full: false
            })
        );
        assert_eq!(
            static_lookup(b":status", b"500"),
            Some(StaticMatch {
                index: 14,
                full: true
            })
        );
        assert_eq!(
            static_lookup(b"content-type", b""),
            Some(StaticMatch {
                index: 31,
                full: true
            })
        );
        assert_eq!(STATIC[60], ("www-authenticate", ""));
    }

    #[test]
    fn interned_strings() {
        assert_eq!(intern_name(b"content-type"), Some("content-type"));
        assert_eq!(intern_name(b":method"), Some(":method"));
        assert_eq!(intern_name(b"te"), Some("te"));
        assert_eq!(intern_name(b"x-custom"), None);
        assert_eq!(intern_value(b"application/grpc"), Some("application/grpc"));
        assert_eq!(intern_value(b"16"), Some("16"));
        assert_eq!(intern_value(b"17"), None);
        assert_eq!(intern_value(b""), None);
    }

    #[test]
    fn eviction_and_oversized_entries() {
        let mut t = DynamicTable::new(100);
        let mut evicted = Vec::new();
        assert!(t.insert(entry("a", "1"), |e| evicted.push(e))); // 34
        assert!(t.insert(entry("b", "2"), |e| evicted.push(e))); // 68
        assert!(t.insert(entry("c", "3"), |e| evicted.push(e))); // 102 > 100: evict a
        assert_eq!(evicted, vec![entry("a", "1")]);
        assert_eq!((t.len(), t.size()), (2, 68));
        assert_eq!(t.get(0), Some(&entry("c", "3")));
        assert_eq!(t.get(1), Some(&entry("b", "2")));
        assert_eq!(t.get(2), None);
        // Larger than the table: empties it, not inserted.
        let big = Entry {
            name: Bytes::from_static(b"x"),
            value: Bytes::from(vec![b'v'; 68]),
        };
        assert!(!t.insert(big, |e| evicted.push(e)));
        assert_eq!((t.len(), t.size()), (0, 0));
        assert_eq!(evicted.len(), 3);
        // Exactly the table size fits.
        let fits = Entry {
            name: Bytes::from_static(b"x"),
            value: Bytes::from(vec![b'v'; 67]),
        };
        assert!(t.insert(fits, |_| {}));
        assert_eq!(t.size(), 100);
        t.set_max_size(99, |_| {});
        assert_eq!((t.len(), t.size()), (0, 0));
    }

    #[test]
    fn encoder_table_indexes_track_insertions_and_evictions() {
        let mut t = EncoderTable::new(34 * 3);
        let ins = |t: &mut EncoderTable, n: &'static str, v: &'static str| {
            t.insert(
                entry(n, v),
                hash_field(n.as_bytes(), v.as_bytes()),
                hash_name(n.as_bytes()),
            )
        };
        let field = |t: &EncoderTable, n: &str, v: &str| {
            t.find_field(
                hash_field(n.as_bytes(), v.as_bytes()),
                n.as_bytes(),
                v.as_bytes(),
            )
        };
        let name = |t: &EncoderTable, n: &str| t.find_name(hash_name(n.as_bytes()), n.as_bytes());
        ins(&mut t, "a", "1");
        ins(&mut t, "b", "2");
        assert_eq!(field(&t, "a", "1"), Some(63));
        assert_eq!(field(&t, "b", "2"), Some(62));
        assert_eq!(field(&t, "b", "3"), None);
        assert_eq!(name(&t, "b"), Some(62));
        ins(&mut t, "a", "2");
        assert_eq!(name(&t, "a"), Some(62));
        assert_eq!(field(&t, "a", "1"), Some(64));
        ins(&mut t, "c", "3"); // evicts a: 1
        assert_eq!(field(&t, "a", "1"), None);
        assert_eq!(name(&t, "a"), Some(63));
        assert_eq!(field(&t, "b", "2"), Some(64));
        t.set_max_size(34);
        assert_eq!(field(&t, "c", "3"), Some(62));
        assert_eq!(name(&t, "a"), None);
        assert_eq!(name(&t, "b"), None);
        t.set_max_size(0);
        assert_eq!(field(&t, "c", "3"), None);
        assert_eq!(t.size(), 0);
    }
}
