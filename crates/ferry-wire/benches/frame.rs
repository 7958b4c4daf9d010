//! Frame codec benchmarks: the frames of a typical gRPC unary exchange, one by
//! one and as a batch, plus a full 16 KiB DATA frame (copied, and head-only
//! as a runtime doing vectored writes would use it).
//!
//! `cargo bench -p ferry-wire --bench frame` (add `-- --quick` for a short
//! run).

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput};
use ferry_wire::frame::{
    Data, Frame, FrameHeader, HEADER_LEN, Headers, Ping, Settings, WindowUpdate,
};
use ferry_wire::{Reason, StreamId};

/// A deterministic filler so payloads are not all zeros.
fn filler(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i * 31 + 7) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// The frames a unary call puts on the wire, by name: a ~100-byte request
/// header block, a 105-byte message (5-byte gRPC prefix + 100), the
/// connection WINDOW_UPDATE, a keepalive PING and the client SETTINGS.
fn unary_frames() -> Vec<(&'static str, Frame)> {
    let stream = StreamId::new(1);
    vec![
        (
            "headers_100",
            Frame::Headers(Headers::new(stream, filler(100), false, true)),
        ),
        (
            "data_105",
            Frame::Data(Data::new(stream, filler(105), true)),
        ),
        (
            "window_update",
            Frame::WindowUpdate(WindowUpdate::new(StreamId::ZERO, 105)),
        ),
        (
            "ping",
            Frame::Ping(Ping::new(*b"\x00\x01\x02\x03\x04\x05\x06\x07")),
        ),
        (
            "settings",
            Frame::Settings(Settings {
                enable_push: Some(false),
                max_concurrent_streams: Some(100),
                initial_window_size: Some(1 << 20),
                max_frame_size: Some(16_384),
                max_header_list_size: Some(16 << 10),
                ..Settings::default()
            }),
        ),
    ]
}

fn wire(frame: &Frame) -> Bytes {
    let mut dst = BytesMut::new();
    frame.encode(&mut dst);
    dst.freeze()
}

/// Decodes every frame in `wire` the way a runtime does: header from the
/// first 9 bytes, then a zero-copy slice of the payload.
fn decode_all(wire: &Bytes) -> usize {
    let mut at = 0;
    let mut frames = 0;
    while let Some(head) = wire.get(at..at + HEADER_LEN) {
        let Ok(head) = <&[u8; HEADER_LEN]>::try_from(head) else {
            break;
        };
        let head = FrameHeader::decode(head);
        let start = at + HEADER_LEN;
        let end = start + head.length as usize;
        if end > wire.len() {
            break;
        }
        let payload = wire.slice(start..end);
        if black_box(Frame::decode(head, payload)).is_ok() {
            frames += 1;
        }
        at = end;
    }
    frames
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_encode");
    let mut dst = BytesMut::with_capacity(64 * 1024);
    for (name, frame) in unary_frames() {
        group.throughput(Throughput::Bytes(frame.encoded_len() as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                dst.clear();
                black_box(&frame).encode(&mut dst);
                black_box(&dst);
            })
        });
    }

    let frames: Vec<Frame> = unary_frames().into_iter().map(|(_, f)| f).collect();
    let total: usize = frames.iter().map(Frame::encoded_len).sum();
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function("unary_exchange", |b| {
        b.iter(|| {
            dst.clear();
            for frame in &frames {
                black_box(frame).encode(&mut dst);
            }
            black_box(&dst);
        })
    });

    let big = Data::new(StreamId::new(1), filler(16 * 1024), false);
    group.throughput(Throughput::Bytes(big.encoded_len() as u64));
    group.bench_function("data_16k", |b| {
        b.iter(|| {
            dst.clear();
            black_box(&big).encode(&mut dst);
            black_box(&dst);
        })
    });
    group.bench_function("data_16k_head_only", |b| {
        b.iter(|| {
            dst.clear();
            black_box(&big).encode_head(&mut dst);
            black_box(&dst);
        })
    });

    group.bench_function("header_block_split_40k", |b| {
        let block = filler(40_000);
        b.iter(|| {
            dst.clear();
            ferry_wire::frame::encode_header_block(
                StreamId::new(1),
                &block,
                false,
                16_384,
                &mut dst,
            );
            black_box(&dst);
        })
    });
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_decode");
    for (name, frame) in unary_frames() {
        let bytes = wire(&frame);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| black_box(decode_all(black_box(&bytes))))
        });
    }

    let mut all = BytesMut::new();
    for (_, frame) in unary_frames() {
        frame.encode(&mut all);
    }
    let all = all.freeze();
    group.throughput(Throughput::Bytes(all.len() as u64));
    group.bench_function("unary_exchange", |b| {
        b.iter(|| black_box(decode_all(black_box(&all))))
    });

    let big = wire(&Frame::Data(Data::new(
        StreamId::new(1),
        filler(16 * 1024),
        false,
    )));
    group.throughput(Throughput::Bytes(big.len() as u64));
    group.bench_function("data_16k", |b| {
        b.iter(|| black_box(decode_all(black_box(&big))))
    });

    let error = wire(&Frame::from(ferry_wire::frame::RstStream::new(
        StreamId::new(1),
        Reason::CANCEL,
    )));
    let mut bad = BytesMut::from(&error[..]);
    bad[8] = 0; // RST_STREAM on stream 0: the decoder's error path.
    let bad = bad.freeze();
    group.throughput(Throughput::Bytes(bad.len() as u64));
    group.bench_function("rst_stream_error", |b| {
        b.iter(|| black_box(decode_all(black_box(&bad))))
    });
    group.finish();
}

// What `criterion_group!` / `criterion_main!` expand to, written out because
// the generated function would trip the `missing_docs` lint.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    encode(&mut c);
    decode(&mut c);
    c.final_summary();
}
