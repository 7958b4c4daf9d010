//! HPACK encode and decode of the header blocks a unary gRPC call sends:
//! the request headers (first block on a fresh connection, and the steady
//! state on a warm table), the response headers and the trailers.
//!
//! `cargo bench -p ferry-wire --bench hpack` (add `-- --quick` for a short
//! run).

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput};
use ferry_wire::HeaderField;
use ferry_wire::hpack::{DEFAULT_TABLE_SIZE, Decoder, Encoder};

fn request() -> Vec<HeaderField> {
    vec![
        HeaderField::from_static(":method", "POST"),
        HeaderField::from_static(":scheme", "http"),
        HeaderField::from_static(":path", "/helloworld.Greeter/SayHello"),
        HeaderField::from_static(":authority", "localhost:50051"),
        HeaderField::from_static("content-type", "application/grpc"),
        HeaderField::from_static("te", "trailers"),
        HeaderField::from_static("user-agent", "grpc-rust-ferry/0.1.0"),
        HeaderField::from_static("grpc-accept-encoding", "identity,deflate,gzip"),
        HeaderField::from_static("grpc-timeout", "4999m"),
    ]
}

fn response() -> Vec<HeaderField> {
    vec![
        HeaderField::from_static(":status", "200"),
        HeaderField::from_static("content-type", "application/grpc"),
    ]
}

fn trailers() -> Vec<HeaderField> {
    vec![HeaderField::from_static("grpc-status", "0")]
}

fn encode_once(encoder: &mut Encoder, fields: &[HeaderField]) -> Bytes {
    let mut dst = BytesMut::new();
    encoder.encode(fields, &mut dst);
    dst.freeze()
}

fn bench_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("hpack_encode");
    for (name, fields) in [
        ("request", request()),
        ("response", response()),
        ("trailers", trailers()),
    ] {
        group.throughput(Throughput::Elements(1));
        // A fresh encoder per block: the first call on a connection.
        group.bench_function(format!("{name}/first"), |b| {
            let mut dst = BytesMut::with_capacity(512);
            b.iter_batched_ref(
                Encoder::new,
                |encoder| {
                    dst.clear();
                    encoder.encode(black_box(&fields), &mut dst);
                    black_box(dst.len());
                },
                BatchSize::SmallInput,
            )
        });
        // A warm table: every later call.
        group.bench_function(format!("{name}/steady"), |b| {
            let mut encoder = Encoder::new();
            let mut dst = BytesMut::with_capacity(512);
            encoder.encode(&fields, &mut dst);
            b.iter(|| {
                dst.clear();
                encoder.encode(black_box(&fields), &mut dst);
                black_box(dst.len());
            })
        });
    }
    group.finish();
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("hpack_decode");
    for (name, fields) in [
        ("request", request()),
        ("response", response()),
        ("trailers", trailers()),
    ] {
        group.throughput(Throughput::Elements(1));
        let mut encoder = Encoder::new();
        let first = encode_once(&mut encoder, &fields);
        let steady = encode_once(&mut encoder, &fields);
        println!(
            "{name}: first block {} bytes, steady block {} bytes",
            first.len(),
            steady.len()
        );

        group.bench_function(format!("{name}/first"), |b| {
            let mut out = Vec::with_capacity(16);
            b.iter_batched_ref(
                || Decoder::new(DEFAULT_TABLE_SIZE),
                |decoder| {
                    out.clear();
                    decoder.decode(black_box(&first), &mut out).unwrap();
                    black_box(out.len());
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("{name}/steady"), |b| {
            let mut decoder = Decoder::new(DEFAULT_TABLE_SIZE);
            let mut out = Vec::with_capacity(16);
            decoder.decode(&first, &mut out).unwrap();
            b.iter(|| {
                out.clear();
                decoder.decode(black_box(&steady), &mut out).unwrap();
                black_box(out.len());
            })
        });
    }
    group.finish();
}

// What `criterion_group!` / `criterion_main!` expand to, written out because
// the generated function would trip the `missing_docs` lint.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_encode(&mut c);
    bench_decode(&mut c);
    c.final_summary();
}
