//! The HPACK decoder: one complete header block in, header fields out.
//!
//! ```text
//!   header block ──► representation ──► field ──► limit check ──► out
//!                       │    ▲
//!                       ▼    │ lookups
//!                   dynamic table (updated even after the limit is hit)
//! ```
//!
//! Hostile input (DESIGN.md "Hostile input"): every integer is bounded
//! (2^32 - 1, at most 5 continuation bytes), every string length is checked
//! against the bytes that remain before anything is allocated, and the decoded
//! header list is counted as RFC 9113 §6.5.2 counts it (name + value + 32 per
//! field) together with the number of fields. Past either limit the decoder
//! stops collecting fields but still decodes the rest of the block, because
//! the dynamic table must stay in step with the peer's encoder: the error is a
//! stream error and the connection survives. An HPACK bomb (one large entry
//! referenced thousands of times, CVE-2016-6581) therefore costs one table
//! entry and a counter, never a large list.
//!
//! Zero copy: names and values from the static table, and well-known gRPC
//! names and values however they arrive (`te`, `grpc-status`, `trailers`,
//! `application/grpc`, ...), are `Bytes::from_static`: no allocation, and no
//! atomic reference count to bump each time an indexed field is handed out.
//! Other raw (non-Huffman) literals that are not indexed are slices of the
//! input block. Fields that enter the dynamic table are copied once, and the
//! copy is shared by the table and the output, so a small table entry never
//! pins a whole header block in memory.

use std::fmt;

use bytes::Bytes;

use super::codec::{self, Indexing, Str};
use super::table::{self, DynamicTable, Entry, STATIC, STATIC_LEN};
use crate::{ConnectionError, HeaderField, Reason};

/// Default cap on the decoded size of one header list (name + value + 32 per
/// field): 16 KiB, gRPC C-core's default hard limit on received metadata.
pub const DEFAULT_MAX_LIST_SIZE: usize = 16 * 1024;

/// Default cap on the number of fields in one header list: the most 32-byte
/// minimum-size fields that fit in [`DEFAULT_MAX_LIST_SIZE`].
pub const DEFAULT_MAX_FIELDS: usize = DEFAULT_MAX_LIST_SIZE / crate::FIELD_OVERHEAD;

/// The scratch buffer for Huffman-decoded strings is dropped after a block if
/// it grew past this, so one large header does not keep memory for the life of
/// the connection.
const SCRATCH_KEEP: usize = 4 * 1024;

/// Decodes the header blocks of one direction of a connection.
///
/// Order of calls: create with the table size we advertise (a connection
/// creates it with [`DEFAULT_TABLE_SIZE`](super::DEFAULT_TABLE_SIZE), the size
/// the peer may use before our SETTINGS is acknowledged), call
/// [`set_limits`](Decoder::set_limits) once, then [`decode`](Decoder::decode)
/// every complete header block in the order received, and
/// [`set_max_table_size`](Decoder::set_max_table_size) when a SETTINGS frame
/// that changes our SETTINGS_HEADER_TABLE_SIZE is acknowledged.
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// What we advertise: the peer's size updates may not exceed it.
    max_allowed: usize,
    /// We lowered our limit below the table's current size: the next block
    /// must start with a size update (RFC 7541 §4.2).
    update_required: bool,
    max_list_size: usize,
    max_fields: usize,
    /// Huffman-decoded strings of the current field.
    scratch: Vec<u8>,
}

/// Why a header block could not be decoded.
///
/// Every variant but [`HeaderListTooLarge`](DecoderError::HeaderListTooLarge)
/// means the decoder lost sync with the peer's encoder: the connection must
/// end with COMPRESSION_ERROR (RFC 9113 §4.3).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecoderError {
    /// The header list exceeded the size or field-count limit. The block was
    /// still decoded to the end so the dynamic table stays in sync: this is a
    /// stream error (the connection survives), and `out` holds no fields from
    /// this block.
    HeaderListTooLarge {
        /// The decoded size of the whole list (name + value + 32 per field).
        size: usize,
        /// The number of fields in the whole list.
        fields: usize,
    },
    /// The block ended inside a representation.
    Truncated,
    /// An integer was larger than 2^32 - 1 or used more than 5 continuation
    /// bytes.
    IntegerOverflow,
    /// A string literal's length runs past the end of the block.
    StringPastEnd {
        /// The length the literal declared.
        len: usize,
        /// The bytes that were left in the block.
        remaining: usize,
    },
    /// A Huffman-coded string contained EOS, or its padding was longer than 7
    /// bits or not all ones.
    InvalidHuffman,
    /// An index was 0 or past the end of the dynamic table.
    InvalidIndex {
        /// The index received.
        index: usize,
    },
    /// A dynamic table size update exceeded the size we advertise.
    SizeUpdateTooLarge {
        /// The size the peer asked for.
        size: usize,
        /// The largest size allowed.
        max: usize,
    },
    /// A dynamic table size update came after a header field representation.
    SizeUpdateNotFirst,
    /// We lowered SETTINGS_HEADER_TABLE_SIZE below the table's size and the
    /// block did not start with the size update that must follow.
    SizeUpdateMissing,
}

impl DecoderError {
    /// True for the errors that end the connection (COMPRESSION_ERROR); false
    /// for [`HeaderListTooLarge`](DecoderError::HeaderListTooLarge), which only
    /// ends the stream.
    pub fn is_connection_error(&self) -> bool {
        !matches!(self, DecoderError::HeaderListTooLarge { .. })
    }

    /// The COMPRESSION_ERROR connection error this error causes, or `None` for
    /// the stream-scoped [`HeaderListTooLarge`](DecoderError::HeaderListTooLarge).
    pub fn to_connection_error(&self) -> Option<ConnectionError> {
        self.is_connection_error()
            .then(|| ConnectionError::remote(Reason::COMPRESSION_ERROR, format!("HPACK: {self}")))
    }
}

impl fmt::Display for DecoderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecoderError::HeaderListTooLarge { size, fields } => {
                write!(f, "header list too large ({size} bytes, {fields} fields)")
            }
            DecoderError::Truncated => f.write_str("header block truncated"),
            DecoderError::IntegerOverflow => f.write_str("integer too large"),
            DecoderError::StringPastEnd { len, remaining } => {
                write!(f, "string of {len} bytes with {remaining} bytes left")
            }
            DecoderError::InvalidHuffman => f.write_str("invalid Huffman code"),
            DecoderError::InvalidIndex { index } => write!(f, "invalid table index {index}"),
            DecoderError::SizeUpdateTooLarge { size, max } => {
                write!(f, "table size update to {size} exceeds {max}")
            }
            DecoderError::SizeUpdateNotFirst => {
                f.write_str("table size update after a header field")
            }
            DecoderError::SizeUpdateMissing => f.write_str("required table size update missing"),
        }
    }
}

impl std::error::Error for DecoderError {}

/// A literal's name: from a table, or a string literal to extract.
enum Name {
    Indexed(Bytes),
    Literal(Str),
}

/// Running totals of the header list being decoded.
struct ListCount {
    size: usize,
    fields: usize,
    over: bool,
}

impl Decoder {
    /// A decoder whose table starts at `max_table_size` bytes, which is also
    /// what we advertise as SETTINGS_HEADER_TABLE_SIZE: the peer's size
    /// updates may not exceed it. Limits start at [`DEFAULT_MAX_LIST_SIZE`]
    /// and [`DEFAULT_MAX_FIELDS`].
    pub fn new(max_table_size: usize) -> Decoder {
        Decoder {
            table: DynamicTable::new(max_table_size),
            max_allowed: max_table_size,
            update_required: false,
            max_list_size: DEFAULT_MAX_LIST_SIZE,
            max_fields: DEFAULT_MAX_FIELDS,
            scratch: Vec::new(),
        }
    }

    /// Our SETTINGS_HEADER_TABLE_SIZE changed (call once it is acknowledged).
    /// If it is now below the size the peer's encoder uses, the peer's next
    /// block must start with a size update that brings it down, or decoding
    /// fails with [`DecoderError::SizeUpdateMissing`].
    pub fn set_max_table_size(&mut self, size: usize) {
        self.max_allowed = size;
        self.update_required = self.table.max_size() > size;
    }

    /// Limits on one decoded header list: the total of name + value + 32 per
    /// field, and the number of fields.
    pub fn set_limits(&mut self, max_list_size: usize, max_fields: usize) {
        self.max_list_size = max_list_size;
        self.max_fields = max_fields;
    }

    /// The bytes the dynamic table's entries take, as RFC 7541 §4.1 counts.
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Decodes one complete header block (all CONTINUATIONs already joined),
    /// pushing its fields to `out`.
    ///
    /// On any error `out` is left as it was (fields of this block are removed).
    /// Only [`DecoderError::HeaderListTooLarge`] leaves the decoder usable.
    pub fn decode(&mut self, src: &Bytes, out: &mut Vec<HeaderField>) -> Result<(), DecoderError> {
        let start = out.len();
        let result = self.decode_block(src, out, start);
        if result.is_err() {
            out.truncate(start);
        }
        if self.scratch.capacity() > SCRATCH_KEEP {
            self.scratch = Vec::new();
        }
        result
    }

    fn decode_block(
        &mut self,
        src: &Bytes,
        out: &mut Vec<HeaderField>,
        start: usize,
    ) -> Result<(), DecoderError> {
        let buf: &[u8] = src;
        let mut pos = 0;
        let mut count = ListCount {
            size: 0,
            fields: 0,
            over: false,
        };
        let mut at_start = true;
        while let Some(&first) = buf.get(pos) {
            if first & 0xe0 == 0x20 {
                // 001xxxxx: dynamic table size update (§6.3).
                if !at_start {
                    return Err(DecoderError::SizeUpdateNotFirst);
                }
                let size = codec::decode_int(buf, &mut pos, 5)?;
                if size > self.max_allowed {
                    return Err(DecoderError::SizeUpdateTooLarge {
                        size,
                        max: self.max_allowed,
                    });
                }
                self.table.set_max_size(size, drop);
                self.update_required = false;
                continue;
            }
            if at_start {
                if self.update_required {
                    return Err(DecoderError::SizeUpdateMissing);
                }
                at_start = false;
            }
            let field = if first & 0x80 != 0 {
                // 1xxxxxxx: indexed field (§6.1).
                let index = codec::decode_int(buf, &mut pos, 7)?;
                self.field_at(index)?
            } else if first & 0x40 != 0 {
                // 01xxxxxx: literal with incremental indexing (§6.2.1).
                self.literal(src, &mut pos, Indexing::Incremental)?
            } else if first & 0x10 != 0 {
                // 0001xxxx: literal never indexed (§6.2.3).
                self.literal(src, &mut pos, Indexing::Never)?
            } else {
                // 0000xxxx: literal without indexing (§6.2.2).
                self.literal(src, &mut pos, Indexing::Without)?
            };
            count.size = count.size.saturating_add(field.size());
            count.fields += 1;
            if count.over {
                continue;
            }
            if count.size > self.max_list_size || count.fields > self.max_fields {
                count.over = true;
                out.truncate(start);
            } else {
                out.push(field);
            }
        }
        if count.over {
            return Err(DecoderError::HeaderListTooLarge {
                size: count.size,
                fields: count.fields,
            });
        }
        Ok(())
    }

    fn field_at(&self, index: usize) -> Result<HeaderField, DecoderError> {
        if let Some(&(name, value)) = index.checked_sub(1).and_then(|i| STATIC.get(i)) {
            return Ok(HeaderField::from_static(name, value));
        }
        let entry = index
            .checked_sub(STATIC_LEN + 1)
            .and_then(|i| self.table.get(i))
            .ok_or(DecoderError::InvalidIndex { index })?;
        Ok(HeaderField {
            name: entry.name.clone(),
            value: entry.value.clone(),
            sensitive: false,
        })
    }

    fn name_at(&self, index: usize) -> Result<Bytes, DecoderError> {
        if let Some(&(name, _)) = index.checked_sub(1).and_then(|i| STATIC.get(i)) {
            return Ok(Bytes::from_static(name.as_bytes()));
        }
        index
            .checked_sub(STATIC_LEN + 1)
            .and_then(|i| self.table.get(i))
            .map(|entry| entry.name.clone())
            .ok_or(DecoderError::InvalidIndex { index })
    }

    /// Decodes a literal representation.
    fn literal(
        &mut self,
        src: &Bytes,
        pos: &mut usize,
        indexing: Indexing,
    ) -> Result<HeaderField, DecoderError> {
        let buf: &[u8] = src;
        let (_, prefix_bits) = indexing.pattern();
        let name_index = codec::decode_int(buf, pos, prefix_bits)?;
        self.scratch.clear();
        let name = if name_index == 0 {
            Name::Literal(codec::decode_str(buf, pos, &mut self.scratch)?)
        } else {
            Name::Indexed(self.name_at(name_index)?)
        };
        let value = codec::decode_str(buf, pos, &mut self.scratch)?;

        let name = match name {
            Name::Indexed(name) => name,
            Name::Literal(s) => {
                let bytes = s.bytes(buf, &self.scratch);
                match table::intern_name(bytes) {
                    Some(name) => Bytes::from_static(name.as_bytes()),
                    None if indexing == Indexing::Incremental => Bytes::copy_from_slice(bytes),
                    None => self.extract(src, s),
                }
            }
        };
        let value = match table::intern_value(value.bytes(buf, &self.scratch)) {
            Some(value) => Bytes::from_static(value.as_bytes()),
            // A compact copy for the table: an entry must not keep the whole
            // header block alive.
            None if indexing == Indexing::Incremental => {
                Bytes::copy_from_slice(value.bytes(buf, &self.scratch))
            }
            None => self.extract(src, value),
        };
        if indexing == Indexing::Incremental {
            let entry = Entry {
                name: name.clone(),
                value: value.clone(),
            };
            self.table.insert(entry, drop);
        }
        Ok(HeaderField {
            name,
            value,
            sensitive: indexing == Indexing::Never,
        })
    }

    /// The bytes of a string literal: a slice of the input if raw, a copy of
    /// the scratch buffer if Huffman-decoded.
    fn extract(&self, src: &Bytes, s: Str) -> Bytes {
        match s {
            Str::Raw(start, end) => src.slice(start..end),
            Str::Decoded(start, end) => Bytes::copy_from_slice(&self.scratch[start..end]),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hpack::DEFAULT_TABLE_SIZE;

    pub(crate) fn hex(s: &str) -> Bytes {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes: Vec<u8> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect();
        Bytes::from(bytes)
    }

    fn fields(list: &[(&'static str, &'static str)]) -> Vec<HeaderField> {
        list.iter()
            .map(|&(n, v)| HeaderField::from_static(n, v))
            .collect()
    }

    fn table(d: &Decoder) -> Vec<(String, String)> {
        d.table
            .iter()
            .map(|e| {
                (
                    String::from_utf8(e.name.to_vec()).unwrap(),
                    String::from_utf8(e.value.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|&(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    fn decode(d: &mut Decoder, block: &str) -> Result<Vec<HeaderField>, DecoderError> {
        let mut out = Vec::new();
        d.decode(&hex(block), &mut out).map(|()| out)
    }

    /// Checks one step of an RFC 7541 Appendix C sequence: the fields, the
    /// dynamic table (newest first) and its size.
    #[track_caller]
    fn step(
        d: &mut Decoder,
        block: &str,
        want: &[(&'static str, &'static str)],
        want_table: &[(&str, &str)],
        want_size: usize,
    ) {
        assert_eq!(decode(d, block).unwrap(), fields(want));
        assert_eq!(table(d), owned(want_table));
        assert_eq!(d.table_size(), want_size);
    }

    #[test]
    fn rfc_c2_1_literal_with_indexing() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        step(
            &mut d,
            "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
            &[("custom-key", "custom-header")],
            &[("custom-key", "custom-header")],
            55,
        );
    }

    #[test]
    fn rfc_c2_2_literal_without_indexing() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        step(
            &mut d,
            "040c 2f73 616d 706c 652f 7061 7468",
            &[(":path", "/sample/path")],
            &[],
            0,
        );
    }

    #[test]
    fn rfc_c2_3_literal_never_indexed() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        let out = decode(&mut d, "1008 7061 7373 776f 7264 0673 6563 7265 74").unwrap();
        assert_eq!(out, vec![HeaderField::sensitive("password", "secret")]);
        assert!(out[0].sensitive);
        assert_eq!(d.table_size(), 0);
    }

    #[test]
    fn rfc_c2_4_indexed() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        step(&mut d, "82", &[(":method", "GET")], &[], 0);
    }

    const REQ1: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ];
    const REQ2: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
        ("cache-control", "no-cache"),
    ];
    const REQ3: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/index.html"),
        (":authority", "www.example.com"),
        ("custom-key", "custom-value"),
    ];
    const REQ_TABLE1: &[(&str, &str)] = &[(":authority", "www.example.com")];
    const REQ_TABLE2: &[(&str, &str)] = &[
        ("cache-control", "no-cache"),
        (":authority", "www.example.com"),
    ];
    const REQ_TABLE3: &[(&str, &str)] = &[
        ("custom-key", "custom-value"),
        ("cache-control", "no-cache"),
        (":authority", "www.example.com"),
    ];

    pub(crate) const C3: [&str; 3] = [
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ];
    pub(crate) const C4: [&str; 3] = [
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ];

    #[test]
    fn rfc_c3_requests_without_huffman() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        step(&mut d, C3[0], REQ1, REQ_TABLE1, 57);
        step(&mut d, C3[1], REQ2, REQ_TABLE2, 110);
        step(&mut d, C3[2], REQ3, REQ_TABLE3, 164);
    }

    #[test]
    fn rfc_c4_requests_with_huffman() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        step(&mut d, C4[0], REQ1, REQ_TABLE1, 57);
        step(&mut d, C4[1], REQ2, REQ_TABLE2, 110);
        step(&mut d, C4[2], REQ3, REQ_TABLE3, 164);
    }

    const RESP1: &[(&str, &str)] = &[
        (":status", "302"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ];
    const RESP2: &[(&str, &str)] = &[
        (":status", "307"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ];
    const RESP3: &[(&str, &str)] = &[
        (":status", "200"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
        ("location", "https://www.example.com"),
        ("content-encoding", "gzip"),
        (
            "set-cookie",
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        ),
    ];
    const RESP_TABLE1: &[(&str, &str)] = &[
        ("location", "https://www.example.com"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("cache-control", "private"),
        (":status", "302"),
    ];
    const RESP_TABLE2: &[(&str, &str)] = &[
        (":status", "307"),
        ("location", "https://www.example.com"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("cache-control", "private"),
    ];
    const RESP_TABLE3: &[(&str, &str)] = &[
        (
            "set-cookie",
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        ),
        ("content-encoding", "gzip"),
        ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ];

    pub(crate) const C5: [&str; 3] = [
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 \
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 \
         6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d \
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 \
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e \
         3d31",
    ];
    pub(crate) const C6: [&str; 3] = [
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 \
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab \
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f \
         9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ];

    #[test]
    fn rfc_c5_responses_without_huffman() {
        let mut d = Decoder::new(256);
        step(&mut d, C5[0], RESP1, RESP_TABLE1, 222);
        step(&mut d, C5[1], RESP2, RESP_TABLE2, 222);
        step(&mut d, C5[2], RESP3, RESP_TABLE3, 215);
    }

    #[test]
    fn rfc_c6_responses_with_huffman() {
        let mut d = Decoder::new(256);
        step(&mut d, C6[0], RESP1, RESP_TABLE1, 222);
        step(&mut d, C6[1], RESP2, RESP_TABLE2, 222);
        step(&mut d, C6[2], RESP3, RESP_TABLE3, 215);
    }

    #[test]
    fn zero_copy() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        // :method GET (static), :path /sample/path without indexing (raw).
        let block = hex("82 040c 2f73 616d 706c 652f 7061 7468");
        let mut out = Vec::new();
        d.decode(&block, &mut out).unwrap();
        assert_eq!(out[0].name.as_ptr(), STATIC[1].0.as_ptr());
        assert_eq!(out[0].value.as_ptr(), STATIC[1].1.as_ptr());
        assert_eq!(out[1].name.as_ptr(), STATIC[3].0.as_ptr());
        let range = block.as_ptr() as usize..block.as_ptr() as usize + block.len();
        assert!(range.contains(&(out[1].value.as_ptr() as usize)));
        // Indexed fields share the table's bytes.
        let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572 be");
        let mut out = Vec::new();
        d.decode(&block, &mut out).unwrap();
        assert_eq!(out[0], out[1]);
        assert_eq!(out[0].value.as_ptr(), out[1].value.as_ptr());
        assert!(!range.contains(&(out[0].value.as_ptr() as usize)));
        // Well-known names and values are static however they arrive:
        // te: trailers, literal with indexing, then indexed.
        let block = hex("4002 7465 0874 7261 696c 6572 73 be");
        let mut out = Vec::new();
        d.decode(&block, &mut out).unwrap();
        assert_eq!(out, fields(&[("te", "trailers"), ("te", "trailers")]));
        for f in &out {
            assert_eq!(f.name.as_ptr(), table::intern_name(b"te").unwrap().as_ptr());
            assert_eq!(
                f.value.as_ptr(),
                table::intern_value(b"trailers").unwrap().as_ptr()
            );
        }
    }

    #[test]
    fn appends_to_out() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        let mut out = vec![HeaderField::from_static("x", "y")];
        d.decode(&hex("82"), &mut out).unwrap();
        assert_eq!(out, fields(&[("x", "y"), (":method", "GET")]));
        // An error removes only this block's fields.
        assert_eq!(
            d.decode(&hex("82 80"), &mut out),
            Err(DecoderError::InvalidIndex { index: 0 })
        );
        assert_eq!(out, fields(&[("x", "y"), (":method", "GET")]));
    }

    #[test]
    fn empty_block() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        assert_eq!(decode(&mut d, "").unwrap(), vec![]);
    }

    #[test]
    fn error_truncated() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        assert_eq!(decode(&mut d, "ff"), Err(DecoderError::Truncated));
        assert_eq!(decode(&mut d, "40"), Err(DecoderError::Truncated));
        assert_eq!(decode(&mut d, "4001 61"), Err(DecoderError::Truncated));
        assert_eq!(decode(&mut d, "04"), Err(DecoderError::Truncated));
        assert_eq!(decode(&mut d, "3f"), Err(DecoderError::Truncated));
        assert!(DecoderError::Truncated.is_connection_error());
    }

    #[test]
    fn error_integer_overflow() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        assert_eq!(
            decode(&mut d, "ff ffff ffff ff7f"),
            Err(DecoderError::IntegerOverflow)
        );
        assert_eq!(
            decode(&mut d, "ff 8080 8080 8080 00"),
            Err(DecoderError::IntegerOverflow)
        );
        assert_eq!(
            decode(&mut d, "00 7f ffff ffff 7f"),
            Err(DecoderError::IntegerOverflow)
        );
        assert_eq!(
            decode(&mut d, "3f ffff ffff 7f"),
            Err(DecoderError::IntegerOverflow)
        );
    }

    #[test]
    fn error_string_past_end() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        assert_eq!(
            decode(&mut d, "0003 6162"),
            Err(DecoderError::StringPastEnd {
                len: 3,
                remaining: 2
            })
        );
        assert_eq!(
            decode(&mut d, "0401 6162").unwrap_err(),
            DecoderError::Truncated
        );
        assert_eq!(
            decode(&mut d, "0401 61").unwrap(),
            fields(&[(":path", "a")])
        );
        assert_eq!(
            decode(&mut d, "047f ffff ff0f"),
            Err(DecoderError::StringPastEnd {
                len: 127 + 0x7f + (0x7f << 7) + (0x7f << 14) + (0x0f << 21),
                remaining: 0
            })
        );
    }

    #[test]
    fn error_invalid_huffman() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        // Padding not all ones ('a' = 00011 then 000).
        assert_eq!(decode(&mut d, "0481 18"), Err(DecoderError::InvalidHuffman));
        // Padding of 8 bits.
        assert_eq!(
            decode(&mut d, "0482 1fff"),
            Err(DecoderError::InvalidHuffman)
        );
        // EOS.
        assert_eq!(
            decode(&mut d, "0484 ffff ffff"),
            Err(DecoderError::InvalidHuffman)
        );
        // In a literal name, too.
        assert_eq!(
            decode(&mut d, "4081 1800"),
            Err(DecoderError::InvalidHuffman)
        );
    }

    #[test]
    fn error_invalid_index() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        assert_eq!(
            decode(&mut d, "80"),
            Err(DecoderError::InvalidIndex { index: 0 })
        );
        assert_eq!(
            decode(&mut d, "be"),
            Err(DecoderError::InvalidIndex { index: 62 })
        );
        assert_eq!(
            decode(&mut d, "7e01 61"),
            Err(DecoderError::InvalidIndex { index: 62 })
        );
        assert_eq!(
            decode(&mut d, "0f2f 0161"),
            Err(DecoderError::InvalidIndex { index: 62 })
        );
        assert_eq!(
            decode(&mut d, "ff 8080 8008"),
            Err(DecoderError::InvalidIndex {
                index: 127 + (8 << 21)
            })
        );
        // 61 is the last static entry; after one insertion 62 is valid, 63 not.
        assert_eq!(
            decode(&mut d, "bd").unwrap(),
            fields(&[("www-authenticate", "")])
        );
        decode(&mut d, "4001 6101 62").unwrap();
        assert_eq!(decode(&mut d, "be").unwrap(), fields(&[("a", "b")]));
        assert_eq!(
            decode(&mut d, "bf"),
            Err(DecoderError::InvalidIndex { index: 63 })
        );
    }

    #[test]
    fn error_size_update_too_large() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        // 4097 = 31 + 4066 = 0x3f e2 1f.
        assert_eq!(
            decode(&mut d, "3fe2 1f"),
            Err(DecoderError::SizeUpdateTooLarge {
                size: 4097,
                max: 4096
            })
        );
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        assert_eq!(
            decode(&mut d, "3fe1 1f 82").unwrap(),
            fields(&[(":method", "GET")])
        );
        d.set_max_table_size(100);
        assert_eq!(
            decode(&mut d, "3f46"),
            Err(DecoderError::SizeUpdateTooLarge {
                size: 101,
                max: 100
            })
        );
    }

    #[test]
    fn error_size_update_not_first() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        assert_eq!(
            decode(&mut d, "82 20"),
            Err(DecoderError::SizeUpdateNotFirst)
        );
        // Several updates at the start are fine (RFC 7541 §4.2: min then final).
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        assert_eq!(
            decode(&mut d, "20 3fe1 1f 82").unwrap(),
            fields(&[(":method", "GET")])
        );
    }

    #[test]
    fn error_size_update_missing() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        decode(&mut d, "4001 6101 62").unwrap();
        d.set_max_table_size(1000);
        assert_eq!(decode(&mut d, "82"), Err(DecoderError::SizeUpdateMissing));
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        d.set_max_table_size(1000);
        // An empty block carries no representation: still pending.
        assert_eq!(decode(&mut d, "").unwrap(), vec![]);
        assert_eq!(
            decode(&mut d, "3fc9 07 82").unwrap(),
            fields(&[(":method", "GET")])
        );
        assert_eq!(decode(&mut d, "82").unwrap(), fields(&[(":method", "GET")]));
        // Raising the limit needs no update.
        d.set_max_table_size(8192);
        assert_eq!(decode(&mut d, "82").unwrap(), fields(&[(":method", "GET")]));
        // Lowering then raising back before any block needs none either.
        d.set_max_table_size(10);
        d.set_max_table_size(8192);
        assert_eq!(decode(&mut d, "82").unwrap(), fields(&[(":method", "GET")]));
    }

    #[test]
    fn size_update_evicts() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        decode(&mut d, C3[0]).unwrap();
        decode(&mut d, C3[1]).unwrap();
        assert_eq!(d.table_size(), 110);
        // Shrink to 60: only the newest entry (53) stays.
        decode(&mut d, "3f1d").unwrap();
        assert_eq!(table(&d), owned(&[("cache-control", "no-cache")]));
        decode(&mut d, "20").unwrap();
        assert_eq!(d.table_size(), 0);
        // Back up to 4096: no entries come back.
        assert_eq!(
            decode(&mut d, "3fe1 1f be"),
            Err(DecoderError::InvalidIndex { index: 62 })
        );
    }

    #[test]
    fn error_header_list_too_large_keeps_table_in_sync() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        d.set_limits(100, 10);
        // custom-key: custom-header (55) twice = 110 > 100.
        let block =
            "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572 be 4001 6101 62";
        let mut out = vec![HeaderField::from_static("keep", "me")];
        let err = d.decode(&hex(block), &mut out).unwrap_err();
        assert_eq!(
            err,
            DecoderError::HeaderListTooLarge {
                size: 55 + 55 + 34,
                fields: 3
            }
        );
        assert!(!err.is_connection_error());
        assert_eq!(err.to_connection_error(), None);
        assert_eq!(out, fields(&[("keep", "me")]));
        // The insertion after the limit was still made.
        assert_eq!(
            table(&d),
            owned(&[("a", "b"), ("custom-key", "custom-header")])
        );
        assert_eq!(
            decode(&mut d, "be bf").unwrap(),
            fields(&[("a", "b"), ("custom-key", "custom-header")])
        );
        // The field-count limit.
        d.set_limits(10_000, 2);
        assert_eq!(
            decode(&mut d, "82 82 82"),
            Err(DecoderError::HeaderListTooLarge {
                size: 3 * 42,
                fields: 3
            })
        );
        assert_eq!(decode(&mut d, "82 82").unwrap().len(), 2);
        // Exactly at the size limit is allowed.
        d.set_limits(42, 2);
        assert_eq!(decode(&mut d, "82").unwrap().len(), 1);
    }

    /// CVE-2016-6581: one 4 KiB entry referenced thousands of times.
    #[test]
    fn hpack_bomb() {
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        let value = vec![b'x'; 4000];
        let mut block = Vec::new();
        block.extend_from_slice(&[0x40, 0x04]);
        block.extend_from_slice(b"bomb");
        codec::encode_int(value.len(), 7, 0, &mut block);
        block.extend_from_slice(&value);
        let refs = 16_000;
        block.extend_from_slice(&vec![0xbe; refs]);
        let block = Bytes::from(block);
        let mut out = Vec::new();
        let err = d.decode(&block, &mut out).unwrap_err();
        let one = 4 + 4000 + 32;
        assert_eq!(
            err,
            DecoderError::HeaderListTooLarge {
                size: one * (refs + 1),
                fields: refs + 1
            }
        );
        assert!(out.is_empty());
        // Bounded memory: nothing was kept beyond the one table entry; `out`
        // never held more than the limit allows.
        assert!(
            out.capacity() <= DEFAULT_MAX_LIST_SIZE / one + 1,
            "capacity {}",
            out.capacity()
        );
        assert_eq!(d.table_size(), one);
        // The next block decodes against the same table.
        let out = decode(&mut d, "82 be").unwrap();
        assert_eq!(out[0], HeaderField::from_static(":method", "GET"));
        assert_eq!(&out[1].name[..], b"bomb");
        assert_eq!(out[1].value.len(), 4000);
    }

    proptest::proptest! {
        /// Arbitrary blocks: no panic, limits respected, nothing left in
        /// `out` on error, and the table within the advertised size.
        #[test]
        fn arbitrary_blocks(
            blocks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), 1..6),
            max_list in 0usize..300,
            max_fields in 0usize..6,
        ) {
            let mut d = Decoder::new(256);
            d.set_limits(max_list, max_fields);
            for block in blocks {
                let mut out = Vec::new();
                match d.decode(&Bytes::from(block), &mut out) {
                    Ok(()) => {
                        proptest::prop_assert!(out.len() <= max_fields);
                        proptest::prop_assert!(out.iter().map(HeaderField::size).sum::<usize>() <= max_list);
                    }
                    Err(e) => {
                        proptest::prop_assert!(out.is_empty());
                        if e.is_connection_error() {
                            break;
                        }
                    }
                }
                proptest::prop_assert!(d.table_size() <= 256);
            }
        }
    }

    #[test]
    fn connection_errors_convert() {
        let e = DecoderError::InvalidHuffman.to_connection_error().unwrap();
        assert_eq!(e.reason, Reason::COMPRESSION_ERROR);
        assert_eq!(e.initiator, crate::Initiator::Remote);
        assert_eq!(e.detail, "HPACK: invalid Huffman code");
        for err in [
            DecoderError::Truncated,
            DecoderError::IntegerOverflow,
            DecoderError::StringPastEnd {
                len: 1,
                remaining: 0,
            },
            DecoderError::InvalidHuffman,
            DecoderError::InvalidIndex { index: 0 },
            DecoderError::SizeUpdateTooLarge { size: 1, max: 0 },
            DecoderError::SizeUpdateNotFirst,
            DecoderError::SizeUpdateMissing,
        ] {
            assert!(err.is_connection_error(), "{err}");
        }
    }
}
