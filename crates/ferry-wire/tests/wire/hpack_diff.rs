//! Differential test of `ferry_wire::hpack` against Python's `hpack`, an
//! independent HPACK implementation.
//!
//! Seeded random sequences of header blocks (gRPC-like fields, random names,
//! sensitive fields, long values, non-ASCII bytes, table size changes between
//! blocks), through one compression context per sequence, both directions:
//!
//! * our `Encoder` → hpack's `Decoder`: the decoded list must be the list we
//!   encoded, never-indexed exactly where our policy says, and hpack's dynamic
//!   table must be as large as ours after every block;
//! * hpack's `Encoder` → our `Decoder`: the same checks the other way, with
//!   `sensitive` set exactly on the fields hpack was told were sensitive.
//!
//! One long-lived Python process (`tests/py/hpack_diff.py`) answers a line per
//! request. The interpreter comes from `FERRY_PYTHON` or from
//! `scripts/python-env.sh`; without it the test fails, it never skips.

use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};
use ferry_wire::HeaderField;
use ferry_wire::hpack::{DEFAULT_TABLE_SIZE, Decoder, Encoder};

use crate::reference::{Rng, hex, unhex};

/// One request per line to `hpack_diff.py`, answers in order.
fn ask(requests: &[String]) -> Vec<String> {
    crate::reference::ask("hpack_diff.py", "hpack", requests)
}

/// Sequences of blocks per direction.
const SEQUENCES: usize = 300;
/// At most this many blocks per sequence.
const MAX_BLOCKS: u64 = 12;

// ---- deterministic randomness ----

const NAMES: &[&str] = &[
    ":method",
    ":scheme",
    ":path",
    ":authority",
    ":status",
    "content-type",
    "te",
    "user-agent",
    "grpc-timeout",
    "grpc-encoding",
    "grpc-accept-encoding",
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "content-length",
    "date",
    "authorization",
    "proxy-authorization",
    "cookie",
    "accept-encoding",
    "x-request-id",
    "x-trace-bin",
    "x-grpc-test-echo-initial",
];

const VALUES: &[&str] = &[
    "",
    "POST",
    "GET",
    "http",
    "https",
    "200",
    "0",
    "/helloworld.Greeter/SayHello",
    "/grpc.testing.TestService/UnaryCall",
    "localhost:50051",
    "application/grpc",
    "application/grpc+proto",
    "trailers",
    "grpc-rust-ferry/0.1",
    "identity,deflate,gzip",
    "gzip, deflate",
    "100m",
    "Bearer abc.def.ghi",
];

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_";
const PRINTABLE: &[u8] = b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

fn random_field(rng: &mut Rng) -> HeaderField {
    let name: Bytes = match rng.below(10) {
        0..=5 => Bytes::from_static(rng.pick(NAMES).as_bytes()),
        6..=8 => {
            let len = 1 + rng.below(20) as usize;
            Bytes::from(rng.bytes_from(len, LOWER))
        }
        // HPACK treats names as opaque bytes.
        _ => {
            let len = rng.below(12) as usize;
            Bytes::from(rng.any_bytes(len))
        }
    };
    let value: Bytes = match rng.below(40) {
        0..=17 => Bytes::from_static(rng.pick(VALUES).as_bytes()),
        18..=29 => {
            let len = rng.below(40) as usize;
            Bytes::from(rng.bytes_from(len, PRINTABLE))
        }
        // Non-ASCII and control bytes.
        30..=38 => {
            let len = rng.below(60) as usize;
            Bytes::from(rng.any_bytes(len))
        }
        // Long values (rare: Python's Huffman coder is slow): some larger
        // than a quarter of the table, some larger than the whole table.
        _ => {
            let len = 500 + rng.below(4_500) as usize;
            if rng.one_in(2) {
                Bytes::from(rng.bytes_from(len, PRINTABLE))
            } else {
                Bytes::from(rng.any_bytes(len))
            }
        }
    };
    HeaderField {
        name,
        value,
        sensitive: rng.one_in(8),
    }
}

fn random_list(rng: &mut Rng) -> Vec<HeaderField> {
    let n = match rng.below(10) {
        0 => 0,
        1..=7 => 1 + rng.below(12),
        _ => 1 + rng.below(40),
    };
    // Repeat earlier fields often, as real header lists do.
    let mut list: Vec<HeaderField> = Vec::new();
    for _ in 0..n {
        if !list.is_empty() && rng.one_in(4) {
            let i = rng.below(list.len() as u64) as usize;
            list.push(list[i].clone());
        } else {
            list.push(random_field(rng));
        }
    }
    list
}

fn random_table_size(rng: &mut Rng) -> usize {
    match rng.below(8) {
        0 => 0,
        1 => 64,
        2 => 256,
        3 => 1_000,
        4 => DEFAULT_TABLE_SIZE,
        5 => 8_192,
        6 => 65_536,
        _ => rng.below(5_000) as usize,
    }
}

/// A sequence of blocks sharing one compression context: each block's list,
/// and the table size announced before it, if it changed.
fn random_sequence(rng: &mut Rng) -> Vec<(Option<usize>, Vec<HeaderField>)> {
    let blocks = 1 + rng.below(MAX_BLOCKS);
    let mut seq: Vec<(Option<usize>, Vec<HeaderField>)> = Vec::new();
    for _ in 0..blocks {
        let resize = rng.one_in(5).then(|| random_table_size(rng));
        // Often send the previous list again: the steady state of a channel.
        let list = match seq.last() {
            Some((_, prev)) if rng.one_in(3) => prev.clone(),
            _ => random_list(rng),
        };
        seq.push((resize, list));
    }
    seq
}

// ---- the Python side ----

// ---- line format ----

/// `OK <table size> <rest...>`: the size and the rest of the words.
fn ok_answer(answer: &str) -> (usize, Vec<&str>) {
    let mut words = answer.split(' ');
    assert_eq!(
        words.next(),
        Some("OK"),
        "hpack_diff.py answered {answer:?}"
    );
    let size = words
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no table size in {answer:?}"));
    (size, words.filter(|w| !w.is_empty()).collect())
}

/// Whether our encoder sends `f` never-indexed (the policy in encoder.rs).
fn never_indexed_by_policy(f: &HeaderField) -> bool {
    f.sensitive
        || match &f.name[..] {
            b"authorization" | b"proxy-authorization" => true,
            b"cookie" => f.value.len() < 20,
            _ => false,
        }
}

fn describe(list: &[HeaderField]) -> String {
    list.iter()
        .map(|f| format!("{:?}{}", f, if f.sensitive { " (s)" } else { "" }))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---- the two directions ----

/// Our encoder → hpack's decoder.
#[test]
fn ours_to_python() {
    let mut rng = Rng::new(0x5eed_0001);
    let mut requests = Vec::new();
    /// What a `D` request must decode to.
    struct Sent {
        sequence: usize,
        block: usize,
        list: Vec<HeaderField>,
        /// Our encoder's dynamic table size after the block.
        table_size: usize,
    }
    let mut expected: Vec<Option<Sent>> = Vec::new();
    let mut blocks_total = 0;
    for s in 0..SEQUENCES {
        let mut encoder = match rng.below(4) {
            0 => Encoder::with_table_size_cap(random_table_size(&mut rng)),
            _ => Encoder::new(),
        };
        if rng.one_in(6) {
            encoder.set_use_huffman(false);
        }
        requests.push("RESET".to_owned());
        expected.push(None);
        for (b, (resize, list)) in random_sequence(&mut rng).into_iter().enumerate() {
            if let Some(size) = resize {
                encoder.set_max_table_size(size);
                requests.push(format!("DMAX {size}"));
                expected.push(None);
            }
            let mut block = BytesMut::new();
            encoder.encode(&list, &mut block);
            requests.push(format!("D {}", hex(&block)));
            expected.push(Some(Sent {
                sequence: s,
                block: b,
                list,
                table_size: encoder.table_size(),
            }));
            blocks_total += 1;
        }
    }
    let answers = ask(&requests);
    let mut fields_total = 0;
    for ((request, answer), want) in requests.iter().zip(&answers).zip(expected) {
        let Some(Sent {
            sequence: s,
            block: b,
            list,
            table_size,
        }) = want
        else {
            assert_eq!(answer, "OK", "{request}");
            continue;
        };
        let context = || {
            format!(
                "sequence {s} block {b}: sent [{}]\nblock {request}\nanswer {answer}",
                describe(&list)
            )
        };
        assert!(answer.starts_with("OK "), "{}", context());
        let (python_table, words) = ok_answer(answer);
        assert_eq!(words.len(), list.len(), "{}", context());
        for (word, f) in words.iter().zip(&list) {
            let mut parts = word.split(':');
            let (name, value, flag) = (parts.next(), parts.next(), parts.next());
            assert_eq!(
                name.map(unhex).as_deref(),
                Some(&f.name[..]),
                "{}",
                context()
            );
            assert_eq!(
                value.map(unhex).as_deref(),
                Some(&f.value[..]),
                "{}",
                context()
            );
            let want_flag = if never_indexed_by_policy(f) { "N" } else { "I" };
            assert_eq!(flag, Some(want_flag), "{}: {f:?}", context());
        }
        assert_eq!(
            python_table,
            table_size,
            "dynamic table sizes differ; {}",
            context()
        );
        fields_total += list.len();
    }
    // The generator must really have produced work.
    assert!(
        blocks_total > SEQUENCES * 3 && fields_total > blocks_total * 4,
        "{blocks_total} {fields_total}"
    );
}

/// hpack's encoder → our decoder.
#[test]
fn python_to_ours() {
    let mut rng = Rng::new(0x5eed_0002);
    let mut requests = Vec::new();
    enum Step {
        Reset,
        Resize(usize),
        Block(usize, usize, Vec<HeaderField>),
    }
    let mut steps = Vec::new();
    for s in 0..SEQUENCES {
        requests.push("RESET".to_owned());
        steps.push(Step::Reset);
        for (b, (resize, list)) in random_sequence(&mut rng).into_iter().enumerate() {
            if let Some(size) = resize {
                requests.push(format!("ESIZE {size}"));
                steps.push(Step::Resize(size));
            }
            let huffman = u8::from(rng.one_in(2));
            let mut line = format!("E {huffman}");
            for f in &list {
                let _ = write!(
                    line,
                    " {}:{}:{}",
                    hex(&f.name),
                    hex(&f.value),
                    u8::from(f.sensitive)
                );
            }
            requests.push(line);
            steps.push(Step::Block(s, b, list));
        }
    }
    let answers = ask(&requests);
    let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);
    let mut blocks_total = 0;
    let mut size_updates_seen = 0;
    let mut never_indexed = 0;
    for (answer, step) in answers.iter().zip(steps) {
        match step {
            Step::Reset | Step::Resize(_) => {
                assert_eq!(answer, "OK");
                match step {
                    Step::Reset => {
                        decoder = Decoder::new(DEFAULT_TABLE_SIZE);
                        decoder.set_limits(usize::MAX, usize::MAX);
                    }
                    Step::Resize(size) => decoder.set_max_table_size(size),
                    Step::Block(..) => unreachable!(),
                }
            }
            Step::Block(s, b, list) => {
                let (python_table, words) = ok_answer(answer);
                // With an empty list the block and the flags are both empty
                // words, which `ok_answer` drops.
                let block = Bytes::from(unhex(words.first().copied().unwrap_or("")));
                let flags = words.get(1).copied().unwrap_or("");
                if block.first().is_some_and(|&b| b & 0xe0 == 0x20) {
                    size_updates_seen += 1;
                }
                let context = || {
                    format!(
                        "sequence {s} block {b}: sent [{}]\nanswer {answer}",
                        describe(&list)
                    )
                };
                let mut out = Vec::new();
                if let Err(e) = decoder.decode(&block, &mut out) {
                    panic!("our decoder failed with {e:?}; {}", context());
                }
                assert_eq!(out.len(), list.len(), "{}", context());
                assert_eq!(flags.len(), list.len(), "{}", context());
                for ((got, sent), flag) in out.iter().zip(&list).zip(flags.chars()) {
                    assert_eq!(got.name, sent.name, "{}", context());
                    assert_eq!(got.value, sent.value, "{}", context());
                    // Never-indexed exactly where hpack's own decoder says so,
                    // and hpack never-indexes only sensitive fields (it sends
                    // a sensitive field that is already in its table indexed).
                    assert_eq!(got.sensitive, flag == 'N', "{}: {got:?}", context());
                    if got.sensitive {
                        never_indexed += 1;
                    }
                    assert!(sent.sensitive || !got.sensitive, "{}: {got:?}", context());
                }
                assert_eq!(
                    decoder.table_size(),
                    python_table,
                    "dynamic table sizes differ; {}",
                    context()
                );
                blocks_total += 1;
            }
        }
    }
    assert!(blocks_total > SEQUENCES * 3, "{blocks_total}");
    // Table size changes and never-indexed fields were really exercised.
    assert!(size_updates_seen > SEQUENCES / 4, "{size_updates_seen}");
    assert!(never_indexed > SEQUENCES, "{never_indexed}");
}
