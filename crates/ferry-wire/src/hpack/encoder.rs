//! The HPACK encoder and its indexing policy.
//!
//! # Policy
//!
//! HPACK lets the encoder choose, field by field, whether to reference a
//! table, to add the field to the dynamic table, or to send it as a literal.
//! Ferry's choices are tuned for gRPC, where a connection carries many calls
//! with nearly the same headers:
//!
//! 1. **Sensitive fields are never indexed** (`0001xxxx`, RFC 7541 §7.1.3):
//!    fields marked [`HeaderField::sensitive`], every `authorization` and
//!    `proxy-authorization`, and `cookie` values shorter than 20 bytes (short
//!    cookies have little entropy and could be guessed by probing the table,
//!    the CRIME family of attacks). The representation also tells any
//!    intermediary to keep them out of its tables. They are literals even if
//!    the same field happens to be in a table.
//! 2. **Full matches are indexed** (one byte for most gRPC fields): the static
//!    table first, then the dynamic table.
//! 3. **Values that change on every call are literals without indexing**
//!    (`0000xxxx`): `grpc-timeout`, `content-length`, `grpc-message`, `date`
//!    and `grpc-status-details-bin`, and any field larger than a quarter of the
//!    table (it would evict several useful entries to be used maybe once).
//!    Indexing them would only churn the table.
//! 4. **Everything else is added to the table** (`01xxxxxx`): `:path`,
//!    `:authority`, `content-type`, `te`, `user-agent`, `grpc-encoding`,
//!    `grpc-accept-encoding`, custom metadata. From the second call on, a
//!    typical request header block is one byte per field.
//!
//! Literal names use a table index when one exists (the static table first,
//! then the newest dynamic entry with that name). Strings are Huffman-coded
//! when that is strictly shorter.
//!
//! # Table size
//!
//! The encoder's dynamic table starts at 4,096 bytes, the size every HTTP/2
//! peer allows before its SETTINGS arrive. When the peer's
//! SETTINGS_HEADER_TABLE_SIZE changes, the encoder uses the smaller of that and
//! its own cap (4,096 bytes unless built with
//! [`with_table_size_cap`](Encoder::with_table_size_cap): a larger table buys
//! little for gRPC and costs memory per connection) and announces the change at
//! the start of the next block (RFC 7541 §4.2).

use bytes::{Bytes, BytesMut};

use super::DEFAULT_TABLE_SIZE;
use super::codec::{self, Indexing};
use super::memo::Memo;
use super::table::{self, EncoderTable, Entry};
use crate::HeaderField;

/// The scratch buffer is dropped after a block that grew it past this, so one
/// huge header does not keep memory for the life of the connection.
const BUF_KEEP: usize = 16 * 1024;

/// `cookie` values shorter than this are never indexed (RFC 7541 §7.1.3
/// suggests treating short cookie values as sensitive).
const SHORT_COOKIE: usize = 20;

/// Encodes the header blocks of one direction of a connection.
///
/// Order of calls: [`new`](Encoder::new), then
/// [`encode`](Encoder::encode) for every header block in the order the blocks
/// are sent, and [`set_max_table_size`](Encoder::set_max_table_size) whenever a
/// SETTINGS frame from the peer carries SETTINGS_HEADER_TABLE_SIZE.
#[derive(Debug)]
pub struct Encoder {
    table: EncoderTable,
    /// The largest table this encoder will use, whatever the peer allows.
    cap: usize,
    /// Table size changes to announce at the start of the next block.
    pending: Option<SizeUpdate>,
    huffman: bool,
    /// Scratch space for the block being encoded.
    buf: Vec<u8>,
    /// Codes of recent blocks' indexed fields (see `memo.rs`).
    memo: Memo,
}

/// Size changes since the last block: the smallest and the final size
/// (RFC 7541 §4.2).
#[derive(Clone, Copy, Debug)]
struct SizeUpdate {
    min: usize,
    last: usize,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder with the protocol's initial table size, 4,096 bytes, and a
    /// cap of 4,096 bytes.
    pub fn new() -> Encoder {
        Encoder::with_table_size_cap(DEFAULT_TABLE_SIZE)
    }

    /// An encoder that never uses more than `cap` bytes of dynamic table,
    /// whatever the peer allows. A cap below 4,096 is announced at the start of
    /// the first block.
    pub fn with_table_size_cap(cap: usize) -> Encoder {
        let mut encoder = Encoder {
            table: EncoderTable::new(DEFAULT_TABLE_SIZE),
            cap,
            pending: None,
            huffman: true,
            buf: Vec::new(),
            memo: Memo::default(),
        };
        encoder.set_max_table_size(DEFAULT_TABLE_SIZE);
        encoder
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed: the encoder picks
    /// min(`size`, its own cap), and emits the dynamic table size update(s) at
    /// the start of the next header block (RFC 7541 §4.2: if the size shrank
    /// and then grew between blocks, the minimum then the final).
    pub fn set_max_table_size(&mut self, size: usize) {
        let size = size.min(self.cap);
        match &mut self.pending {
            Some(update) => {
                update.min = update.min.min(size);
                update.last = size;
            }
            None if size != self.table.max_size() => {
                self.pending = Some(SizeUpdate {
                    min: size,
                    last: size,
                });
            }
            None => {}
        }
    }

    /// Whether string literals may be Huffman-coded (when that is shorter).
    /// On by default; turning it off only helps when reading a capture.
    pub fn set_use_huffman(&mut self, huffman: bool) {
        self.huffman = huffman;
    }

    /// The bytes the dynamic table's entries take, as RFC 7541 §4.1 counts.
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Frees the scratch buffer and the memory of recent blocks (the
    /// dynamic table stays: it is the connection's state), for an idle
    /// connection. The next blocks encode as usual.
    pub fn release_buffers(&mut self) {
        self.buf = Vec::new();
        self.memo.clear();
    }

    /// Encodes one header block (appends to `dst`).
    pub fn encode<'a, I: IntoIterator<Item = &'a HeaderField>>(
        &mut self,
        fields: I,
        dst: &mut BytesMut,
    ) {
        // The block is built in a reusable `Vec` (whose pushes inline to a
        // store) and appended to `dst` with one copy.
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        if let Some(SizeUpdate { min, last }) = self.pending.take() {
            if min < last {
                codec::encode_int(min, 5, 0x20, &mut buf);
                self.table.set_max_size(min);
            }
            codec::encode_int(last, 5, 0x20, &mut buf);
            self.table.set_max_size(last);
        }
        let mut fields = fields.into_iter().peekable();
        let generation = self.table.generation();
        self.memo.begin(fields.peek().copied(), generation);
        let mut len = 0;
        for (index, field) in fields.enumerate() {
            len = index + 1;
            if self.table.generation() != generation {
                // An insertion in this block moved every dynamic index.
                self.memo.stop_replaying();
            }
            if self.memo.replay(index, field, &mut buf) {
                continue;
            }
            let indexing = self.policy(field);
            let start = buf.len();
            let indexed = self.encode_field(field, indexing, &mut buf);
            self.memo
                .record(index, field, indexed.then(|| &buf[start..]));
        }
        let unchanged = self.table.generation() == generation;
        self.memo.finish(len, unchanged.then_some(generation));
        dst.extend_from_slice(&buf);
        if buf.capacity() <= BUF_KEEP {
            self.buf = buf;
        }
    }

    /// How `field` is to be represented if it is not fully indexed (see the
    /// module documentation).
    fn policy(&self, field: &HeaderField) -> Indexing {
        let name: &[u8] = &field.name;
        let sensitive = field.sensitive
            || match name {
                b"authorization" | b"proxy-authorization" => true,
                b"cookie" => field.value.len() < SHORT_COOKIE,
                _ => false,
            };
        if sensitive {
            return Indexing::Never;
        }
        let volatile = matches!(
            name,
            b"grpc-timeout"
                | b"content-length"
                | b"grpc-message"
                | b"date"
                | b"grpc-status-details-bin"
        );
        if volatile || field.size() > self.table.max_size() / 4 {
            return Indexing::Without;
        }
        Indexing::Incremental
    }

    /// Encodes one field: indexed if it is in a table (unless `Never`), else
    /// as a literal with `indexing`. True when it went out as an index.
    fn encode_field(&mut self, field: &HeaderField, indexing: Indexing, dst: &mut Vec<u8>) -> bool {
        let (name, value): (&[u8], &[u8]) = (&field.name, &field.value);
        let in_static = table::static_lookup(name, value);
        let use_dynamic = self.table.len() > 0;
        let mut field_hash = None;
        if indexing != Indexing::Never {
            if let Some(m) = in_static.filter(|m| m.full) {
                codec::encode_int(m.index, 7, 0x80, dst);
                return true;
            }
            if use_dynamic {
                let hash = table::hash_field(name, value);
                field_hash = Some(hash);
                if let Some(index) = self.table.find_field(hash, name, value) {
                    codec::encode_int(index, 7, 0x80, dst);
                    return true;
                }
            }
        }

        let mut name_hash = None;
        let name_index = match in_static {
            Some(m) => Some(m.index),
            None if use_dynamic => {
                let hash = table::hash_name(name);
                name_hash = Some(hash);
                self.table.find_name(hash, name)
            }
            None => None,
        };
        let (pattern, prefix_bits) = indexing.pattern();
        match name_index {
            Some(index) => codec::encode_int(index, prefix_bits, pattern, dst),
            None => {
                codec::encode_int(0, prefix_bits, pattern, dst);
                codec::encode_str(name, self.huffman, dst);
            }
        }
        codec::encode_str(value, self.huffman, dst);

        if indexing == Indexing::Incremental {
            let field_hash = field_hash.unwrap_or_else(|| table::hash_field(name, value));
            let name_hash = name_hash.unwrap_or_else(|| table::hash_name(name));
            self.table
                .insert(compact(name, value), field_hash, name_hash);
        }
        false
    }
}

/// One allocation holding both strings: the table must not keep alive a large
/// buffer the caller's `Bytes` may be a slice of.
fn compact(name: &[u8], value: &[u8]) -> Entry {
    let mut both = BytesMut::with_capacity(name.len() + value.len());
    both.extend_from_slice(name);
    both.extend_from_slice(value);
    let mut value: Bytes = both.freeze();
    let name = value.split_to(name.len());
    Entry { name, value }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpack::decoder::tests::{C3, C4, C5, C6, hex};
    use crate::hpack::{Decoder, DecoderError};
    use proptest::prelude::*;

    fn fields(list: &[(&'static str, &'static str)]) -> Vec<HeaderField> {
        list.iter()
            .map(|&(n, v)| HeaderField::from_static(n, v))
            .collect()
    }

    fn encode(e: &mut Encoder, list: &[HeaderField]) -> Bytes {
        let mut dst = BytesMut::new();
        e.encode(list, &mut dst);
        dst.freeze()
    }

    fn table(e: &Encoder) -> Vec<(Bytes, Bytes)> {
        e.table
            .table()
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect()
    }

    fn grpc_request() -> Vec<HeaderField> {
        vec![
            HeaderField::from_static(":method", "POST"),
            HeaderField::from_static(":scheme", "http"),
            HeaderField::from_static(":path", "/helloworld.Greeter/SayHello"),
            HeaderField::from_static(":authority", "localhost:50051"),
            HeaderField::from_static("content-type", "application/grpc"),
            HeaderField::from_static("te", "trailers"),
            HeaderField::from_static("user-agent", "ferry/0.1"),
            HeaderField::from_static("grpc-accept-encoding", "identity,gzip"),
            HeaderField::from_static("grpc-timeout", "100m"),
        ]
    }

    const REQ: [&[(&str, &str)]; 3] = [
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
            ("cache-control", "no-cache"),
        ],
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ],
    ];

    const RESP: [&[(&str, &str)]; 3] = [
        &[
            (":status", "302"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("location", "https://www.example.com"),
        ],
        &[
            (":status", "307"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("location", "https://www.example.com"),
        ],
        &[
            (":status", "200"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
            ("location", "https://www.example.com"),
            ("content-encoding", "gzip"),
            (
                "set-cookie",
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            ),
        ],
    ];

    /// Our policy indexes `:authority`, `cache-control` and custom fields, as
    /// the RFC's example encoder does: C.3 comes out byte for byte.
    #[test]
    fn rfc_c3_requests_without_huffman() {
        let mut e = Encoder::new();
        e.set_use_huffman(false);
        for (list, want) in REQ.iter().zip(C3) {
            assert_eq!(encode(&mut e, &fields(list)), hex(want));
        }
        assert_eq!(e.table_size(), 164);
        assert_eq!(
            table(&e),
            vec![
                (Bytes::from("custom-key"), Bytes::from("custom-value")),
                (Bytes::from("cache-control"), Bytes::from("no-cache")),
                (Bytes::from(":authority"), Bytes::from("www.example.com")),
            ]
        );
    }

    #[test]
    fn rfc_c4_requests_with_huffman() {
        let mut e = Encoder::new();
        for (list, want) in REQ.iter().zip(C4) {
            assert_eq!(encode(&mut e, &fields(list)), hex(want));
        }
        assert_eq!(e.table_size(), 164);
    }

    /// An encoder whose table is already 256 bytes, as in the RFC examples.
    fn encoder_256(huffman: bool) -> Encoder {
        let mut e = Encoder::with_table_size_cap(256);
        e.pending = None;
        e.table.set_max_size(256);
        e.set_use_huffman(huffman);
        e
    }

    /// C.5 and C.6 index `date`, which our policy does not: the primitives
    /// (indexed and literal-with-indexing, eviction at 256 bytes) are checked
    /// with the representation forced to incremental indexing.
    ///
    /// C.6.2 Huffman-codes "307" into 3 bytes, no shorter than the raw string;
    /// we only use Huffman when it is strictly shorter, so our second C.6 block
    /// carries "307" raw, as in C.5.2.
    #[test]
    fn rfc_c5_c6_responses_with_forced_indexing() {
        let c6 = [C6[0], C5[1], C6[2]];
        assert_eq!(C6[1], "4883 640e ffc1 c0bf");
        for (huffman, blocks) in [(false, C5), (true, c6)] {
            let mut e = encoder_256(huffman);
            for (list, want) in RESP.iter().zip(blocks) {
                let mut dst = Vec::new();
                for f in fields(list) {
                    e.encode_field(&f, Indexing::Incremental, &mut dst);
                }
                assert_eq!(Bytes::from(dst), hex(want));
            }
            assert_eq!(e.table_size(), 215);
            assert_eq!(
                table(&e),
                vec![
                    (
                        Bytes::from("set-cookie"),
                        Bytes::from("foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1")
                    ),
                    (Bytes::from("content-encoding"), Bytes::from("gzip")),
                    (
                        Bytes::from("date"),
                        Bytes::from("Mon, 21 Oct 2013 20:13:22 GMT")
                    ),
                ]
            );
        }
    }

    /// C.5 with our own policy: `date` goes without indexing, so the indices
    /// differ from the RFC's; the decoder reads it back.
    #[test]
    fn rfc_c5_responses_with_our_policy() {
        let mut e = encoder_256(false);
        let mut d = Decoder::new(256);
        let want = [
            // :status 302 (name 8), cache-control private (name 24), date
            // without indexing (name 33 = 15 + 18), location (name 46).
            "4803 3330 3258 0770 7269 7661 7465 0f12 1d4d 6f6e 2c20 3231 204f 6374 2032 3031 \
             3320 3230 3a31 333a 3231 2047 4d54 6e17 6874 7470 733a 2f2f 7777 772e 6578 616d \
             706c 652e 636f 6d",
            // :status 307 literal (name 8); private is at 64, location at 63.
            "4803 3330 37c0 0f12 1d4d 6f6e 2c20 3231 204f 6374 2032 3031 3320 3230 3a31 333a \
             3231 2047 4d54 bf",
        ];
        for (list, want) in RESP.iter().zip(want) {
            let block = encode(&mut e, &fields(list));
            assert_eq!(block, hex(want));
            let mut out = Vec::new();
            d.decode(&block, &mut out).unwrap();
            assert_eq!(out, fields(list));
            assert_eq!(d.table_size(), e.table_size());
        }
    }

    /// Repeated blocks replay remembered codes (the same bytes, which still
    /// decode), and a block that changes the table makes the next ones look
    /// their fields up again: after a new `:path` is inserted, every dynamic
    /// index of the request has moved by one.
    #[test]
    fn repeated_blocks_reuse_their_codes_until_the_table_changes() {
        let mut e = Encoder::new();
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        let mut send = |list: &[HeaderField]| {
            let block = encode(&mut e, list);
            let mut out = Vec::new();
            d.decode(&block, &mut out).unwrap();
            assert_eq!(out, list);
            block
        };
        let request = grpc_request();
        let trailers = fields(&[("grpc-status", "0")]);
        send(&request);
        send(&trailers);
        let warm = send(&request);
        let warm_trailers = send(&trailers);
        for _ in 0..3 {
            assert_eq!(send(&request), warm);
            assert_eq!(send(&trailers), warm_trailers);
        }
        let mut other = request.clone();
        let path = other.iter().position(|f| &f.name[..] == b":path").unwrap();
        other[path] = HeaderField::from_static(":path", "/pkg.Svc/Other");
        send(&other);
        let moved = send(&request);
        assert_ne!(moved, warm);
        assert_eq!(send(&request), moved);
    }

    #[test]
    fn grpc_request_is_one_byte_per_field_when_warm() {
        let mut e = Encoder::new();
        let first = encode(&mut e, &grpc_request());
        let second = encode(&mut e, &grpc_request());
        // :method POST and :scheme http are static; 6 fields are inserted;
        // grpc-timeout is a literal without indexing both times.
        assert_eq!(&first[..2], [0x83, 0x86]);
        assert_eq!(table(&e).len(), 6);
        // Checked against Python's hpack (which indexes it: 0x40 instead of 0x00).
        let timeout = [
            0x00, 0x89, 0x9a, 0xca, 0xc8, 0xb2, 0x4d, 0x49, 0x4f, 0x6a, 0x7f, 0x83, 0x08, 0x01,
            0x4f,
        ];
        assert_eq!(&first[first.len() - timeout.len()..], timeout);
        // Newest first: grpc-accept-encoding is 62, :path is 67.
        assert_eq!(
            &second[..],
            [
                &[0x83, 0x86, 0xc3, 0xc2, 0xc1, 0xc0, 0xbf, 0xbe][..],
                &timeout[..]
            ]
            .concat()
        );
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        for block in [first, second] {
            let mut out = Vec::new();
            d.decode(&block, &mut out).unwrap();
            assert_eq!(out, grpc_request());
        }
    }

    #[test]
    fn policy_never_indexed() {
        let mut e = Encoder::new();
        e.set_use_huffman(false);
        let list = [
            HeaderField::from_static("authorization", "Bearer x"),
            HeaderField::from_static("proxy-authorization", "y"),
            HeaderField::from_static("cookie", "short=1"),
            HeaderField::sensitive("x-token", "t"),
            // Sensitive even though the field is in the static table.
            HeaderField::sensitive(":method", "GET"),
        ];
        let block = encode(&mut e, &list);
        let want = "1f08 0842 6561 7265 7220 78 \
                    1f22 0179 \
                    1f11 0773 686f 7274 3d31 \
                    1007 782d 746f 6b65 6e01 74 \
                    1203 4745 54";
        assert_eq!(block, hex(want));
        assert_eq!(e.table_size(), 0);
        let mut out = Vec::new();
        Decoder::new(DEFAULT_TABLE_SIZE)
            .decode(&block, &mut out)
            .unwrap();
        assert!(out.iter().all(|f| f.sensitive));
        // A long cookie is indexed.
        let long = HeaderField::from_static("cookie", "session=0123456789abcdef");
        assert_eq!(encode(&mut e, std::slice::from_ref(&long))[0], 0x60);
        assert_eq!(encode(&mut e, &[long])[..], [0xbe]);
    }

    #[test]
    fn policy_without_indexing() {
        let mut e = Encoder::new();
        e.set_use_huffman(false);
        let list = [
            HeaderField::from_static("grpc-timeout", "1S"),
            HeaderField::from_static("content-length", "5"),
            HeaderField::from_static("grpc-message", "m"),
            HeaderField::from_static("date", "d"),
            HeaderField::from_static("grpc-status-details-bin", "b"),
        ];
        let block = encode(&mut e, &list);
        let want = "000c 6772 7063 2d74 696d 656f 7574 0231 53 \
                    0f0d 0135 \
                    000c 6772 7063 2d6d 6573 7361 6765 016d \
                    0f12 0164 \
                    0017 6772 7063 2d73 7461 7475 732d 6465 7461 696c 732d 6269 6e01 62";
        assert_eq!(block, hex(want));
        assert_eq!(e.table_size(), 0);
        // Larger than a quarter of the table: not indexed.
        let big = HeaderField::new("x-big", vec![b'a'; 1024 - 32 - 5 + 1]);
        let block = encode(&mut e, &[big]);
        assert_eq!(block[0], 0x00);
        assert_eq!(e.table_size(), 0);
        let fits = HeaderField::new("x-big", vec![b'a'; 1024 - 32 - 5]);
        assert_eq!(encode(&mut e, &[fits])[0], 0x40);
        assert_eq!(e.table_size(), 1024);
        // Its name is reused from the dynamic table.
        let other = HeaderField::new("x-big", "b");
        assert_eq!(&encode(&mut e, &[other])[..], [0x7e, 0x01, b'b']);
    }

    #[test]
    fn table_size_updates() {
        let mut e = Encoder::new();
        // No change, no update.
        e.set_max_table_size(4096);
        assert_eq!(&encode(&mut e, &fields(&[(":method", "GET")]))[..], [0x82]);
        // Above the cap: still 4096.
        e.set_max_table_size(65536);
        assert_eq!(&encode(&mut e, &fields(&[(":method", "GET")]))[..], [0x82]);
        // Shrink: one update, only at the start of the next block.
        e.set_max_table_size(100);
        assert_eq!(&encode(&mut e, &[])[..], [0x3f, 0x45]);
        assert!(encode(&mut e, &[]).is_empty());
        // Shrink then grow between blocks: the minimum, then the final.
        e.set_max_table_size(0);
        e.set_max_table_size(4096);
        assert_eq!(
            &encode(&mut e, &fields(&[(":method", "GET")]))[..],
            [0x20, 0x3f, 0xe1, 0x1f, 0x82]
        );
        // A shrink evicts.
        encode(&mut e, &fields(&[("a", "b")]));
        assert_eq!(e.table_size(), 34);
        e.set_max_table_size(33);
        encode(&mut e, &[]);
        assert_eq!(e.table_size(), 0);
        // A cap below the default is announced in the first block.
        let mut e = Encoder::with_table_size_cap(0);
        assert_eq!(
            &encode(&mut e, &fields(&[("a", "b")]))[..],
            [0x20, 0x00, 0x01, b'a', 0x01, b'b']
        );
        assert_eq!(e.table_size(), 0);
        // The decoder that advertised those sizes accepts them.
        let mut e = Encoder::with_table_size_cap(65536);
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        d.set_max_table_size(65536);
        e.set_max_table_size(65536);
        let block = encode(&mut e, &fields(&[("a", "b")]));
        assert_eq!(&block[..4], [0x3f, 0xe1, 0xff, 0x03]);
        let mut out = Vec::new();
        d.decode(&block, &mut out).unwrap();
        d.set_max_table_size(1000);
        assert_eq!(
            d.decode(&hex("be"), &mut out),
            Err(DecoderError::SizeUpdateMissing)
        );
    }

    /// A field whose name came from an entry this insertion evicts.
    #[test]
    fn name_from_evicted_entry() {
        let mut e = encoder_256(false);
        let mut d = Decoder::new(256);
        let v1 = HeaderField::new("x-name", vec![b'1'; 150]);
        let v2 = HeaderField::new("x-name", vec![b'2'; 150]);
        for list in [vec![v1], vec![v2.clone()], vec![v2]] {
            let block = encode(&mut e, &list);
            let mut out = Vec::new();
            d.decode(&block, &mut out).unwrap();
            assert_eq!(out, list);
            assert_eq!(d.table_size(), e.table_size());
        }
    }

    /// Fields from a small set, so blocks share first fields and
    /// indices (what the memory of recent blocks keys on).
    fn common_field() -> impl Strategy<Value = HeaderField> {
        proptest::sample::select(vec![
            (":method", "POST"),
            (":path", "/a.B/C"),
            (":path", "/a.B/D"),
            (":status", "200"),
            ("grpc-status", "0"),
            ("x-custom", "1"),
            ("x-custom", "2"),
            ("grpc-timeout", "1S"),
        ])
        .prop_map(|(name, value)| HeaderField::from_static(name, value))
    }

    fn field_strategy() -> impl Strategy<Value = HeaderField> {
        let names = prop_oneof![
            Just(Bytes::from_static(b":path")),
            Just(Bytes::from_static(b":method")),
            Just(Bytes::from_static(b":status")),
            Just(Bytes::from_static(b"content-type")),
            Just(Bytes::from_static(b"grpc-timeout")),
            Just(Bytes::from_static(b"authorization")),
            Just(Bytes::from_static(b"cookie")),
            Just(Bytes::from_static(b"x-custom")),
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(Bytes::from),
        ];
        let values = prop_oneof![
            Just(Bytes::from_static(b"")),
            Just(Bytes::from_static(b"GET")),
            Just(Bytes::from_static(b"200")),
            Just(Bytes::from_static(b"application/grpc")),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from),
            proptest::collection::vec(any::<u8>(), 0..1500).prop_map(Bytes::from),
        ];
        (names, values, any::<bool>()).prop_map(|(name, value, sensitive)| HeaderField {
            name,
            value,
            sensitive,
        })
    }

    proptest! {
        /// Blocks that repeat (a pool of four, in any order, with table
        /// size changes between them) encode to exactly the bytes an
        /// encoder without the memory of recent blocks writes.
        #[test]
        fn remembered_codes_change_no_byte(
            pool in proptest::collection::vec(proptest::collection::vec(
                prop_oneof![3 => common_field(), 1 => field_strategy()], 0..10), 4),
            order in proptest::collection::vec((0usize..4, proptest::option::of(0usize..5000)), 1..24),
        ) {
            let mut e = Encoder::new();
            let mut fresh = Encoder::new();
            for (i, new_size) in order {
                if let Some(size) = new_size.filter(|_| i == 0) {
                    e.set_max_table_size(size);
                    fresh.set_max_table_size(size);
                }
                fresh.release_buffers();
                prop_assert_eq!(encode(&mut e, &pool[i]), encode(&mut fresh, &pool[i]));
            }
        }

        #[test]
        fn round_trip_sequences(
            blocks in proptest::collection::vec(
                (proptest::collection::vec(field_strategy(), 0..12), proptest::option::of(0usize..5000), any::<bool>()),
                1..8,
            ),
            cap in prop_oneof![Just(0usize), Just(64), Just(4096), Just(16384)],
        ) {
            let mut e = Encoder::with_table_size_cap(cap);
            let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
            d.set_limits(usize::MAX, usize::MAX);
            for (list, new_size, huffman) in blocks {
                if let Some(size) = new_size {
                    e.set_max_table_size(size);
                    d.set_max_table_size(size);
                }
                e.set_use_huffman(huffman);
                let mut dst = BytesMut::new();
                e.encode(&list, &mut dst);
                let mut out = Vec::new();
                d.decode(&dst.freeze(), &mut out).unwrap();
                prop_assert_eq!(out.len(), list.len());
                for (got, sent) in out.iter().zip(&list) {
                    prop_assert_eq!(&got.name, &sent.name);
                    prop_assert_eq!(&got.value, &sent.value);
                    // Sensitivity survives the trip (policy may add more).
                    prop_assert!(got.sensitive >= sent.sensitive);
                }
                prop_assert_eq!(d.table_size(), e.table_size());
                prop_assert!(e.table_size() <= cap.min(e.table.max_size()));
            }
        }
    }
}
