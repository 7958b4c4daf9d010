//! The HPACK decoder on hostile input.
//!
//! The first byte chooses the advertised table size and small list limits; the
//! rest is cut into header blocks (a length byte, then that many bytes) fed in
//! order to one `Decoder`. Nothing may panic; a decoded list must respect the
//! limits; a stream error (`HeaderListTooLarge`) must leave `out` empty and the
//! decoder usable; any other error ends the input, as it ends a connection.
//!
//! Every list that decodes is then re-encoded by our `Encoder` and decoded by
//! a second `Decoder` (one such pair per input, so its tables carry over from
//! block to block): the fields must come back equal, and a field that arrived
//! never-indexed must stay never-indexed.

#![no_main]

use bytes::{Bytes, BytesMut};
use ferry_wire::HeaderField;
use ferry_wire::hpack::{DEFAULT_TABLE_SIZE, Decoder, DecoderError, Encoder};
use libfuzzer_sys::fuzz_target;

const TABLE_SIZES: [usize; 4] = [0, 64, 256, DEFAULT_TABLE_SIZE];
const LIST_SIZES: [usize; 4] = [0, 256, 1024, 8192];
const FIELD_COUNTS: [usize; 4] = [1, 4, 16, 200];

fuzz_target!(|data: &[u8]| {
    let Some((&control, mut rest)) = data.split_first() else {
        return;
    };
    let advertised = TABLE_SIZES[usize::from(control & 3)];
    let max_list = LIST_SIZES[usize::from((control >> 2) & 3)];
    let max_fields = FIELD_COUNTS[usize::from((control >> 4) & 3)];
    // Half the inputs lower the advertised size after the first block, so the
    // "size update required" path is reached too.
    let lower_later = control & 0x40 != 0;

    let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);
    decoder.set_max_table_size(advertised);
    decoder.set_limits(max_list, max_fields);

    let mut encoder = Encoder::new();
    let mut echo = Decoder::new(DEFAULT_TABLE_SIZE);
    echo.set_limits(usize::MAX, usize::MAX);

    let mut first = true;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (block, tail) = tail.split_at(len);
        rest = tail;
        let block = Bytes::copy_from_slice(block);

        let mut out = Vec::new();
        match decoder.decode(&block, &mut out) {
            Ok(()) => {
                assert!(out.len() <= max_fields);
                assert!(out.iter().map(HeaderField::size).sum::<usize>() <= max_list);
                round_trip(&mut encoder, &mut echo, &out);
            }
            Err(e @ DecoderError::HeaderListTooLarge { .. }) => {
                assert!(!e.is_connection_error());
                assert!(out.is_empty());
            }
            Err(e) => {
                assert!(e.is_connection_error());
                assert!(e.to_connection_error().is_some());
                assert!(out.is_empty());
                return;
            }
        }
        assert!(decoder.table_size() <= DEFAULT_TABLE_SIZE);
        if first && lower_later {
            decoder.set_max_table_size(advertised / 2);
        }
        first = false;
    }
});

fn round_trip(encoder: &mut Encoder, echo: &mut Decoder, fields: &[HeaderField]) {
    let mut block = BytesMut::new();
    encoder.encode(fields, &mut block);
    let mut back = Vec::new();
    if let Err(e) = echo.decode(&block.freeze(), &mut back) {
        panic!("our decoder rejected our encoder's block: {e}");
    }
    assert_eq!(back.len(), fields.len());
    for (got, sent) in back.iter().zip(fields) {
        assert_eq!(got.name, sent.name);
        assert_eq!(got.value, sent.value);
        assert!(got.sensitive || !sent.sensitive);
    }
    assert_eq!(echo.table_size(), encoder.table_size());
}
