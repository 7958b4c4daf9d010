//! A received request's head, the two ways it arrives: an HTTP/2 header
//! block checked by `RequestHead::decode`, and the native protocol's typed
//! fields checked by `RequestHead::from_parts` (the server's per-call cost
//! the native path saves).
//!
//! `cargo bench -p ferry-wire --bench request` (add `-- --quick` for a short
//! run).

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::Criterion;
use ferry_wire::HeaderField;
use ferry_wire::grpc::{RequestHead, Scheme};

fn bench(c: &mut Criterion) {
    let sent = RequestHead::new(Scheme::Http, "127.0.0.1:50051", "/bench.Bench/Unary")
        .with_timeout(Duration::from_millis(250))
        .with_accept_encoding("gzip");
    let headers = sent.encode();
    let path = Bytes::from_static(b"/bench.Bench/Unary");
    let metadata: Vec<HeaderField> = Vec::new();
    let mut group = c.benchmark_group("request_head");
    group.bench_function("decode_http2_headers", |b| {
        b.iter(|| RequestHead::decode(black_box(&headers)))
    });
    group.bench_function("from_native_parts", |b| {
        b.iter(|| {
            RequestHead::from_parts(
                black_box(path.clone()),
                Some(Duration::from_millis(250)),
                None,
                black_box(&metadata),
            )
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
