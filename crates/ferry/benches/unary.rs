//! The runtime's per-call path, end to end in one process: a unary call
//! with a 100-byte message from a `Channel` to a `Server` over loopback
//! TCP, on a one-thread runtime, one call at a time and 256 at a time. It
//! guards what the peer benchmarks measure across processes (the call and
//! handler futures, framing, the drivers' write batching), with less noise.
//!
//! `taskset -c 1 cargo bench -p ferry --bench unary -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::Criterion;
use ferry::server::{self, BoxFuture};
use ferry::{BytesCodec, Channel, Request, Response, Server, ServerCall, Service};
use futures_util::future::join_all;
use tokio::net::TcpListener;

const PATH: &str = "/bench.Echo/Unary";

/// Answers each request with its own bytes.
struct Echo;

impl Service for Echo {
    fn name(&self) -> &str {
        "bench.Echo"
    }

    fn call(&self, call: ServerCall) -> BoxFuture<()> {
        match call.method() {
            "Unary" => Box::pin(server::unary(call, BytesCodec, |req: Request<Bytes>| {
                std::future::ready(Ok(Response::new(req.into_inner())))
            })),
            _ => Box::pin(call.unimplemented()),
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let channel = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = Server::builder().add_service(Echo).build();
        tokio::spawn(server.serve_with_shutdown(listener, std::future::pending()));
        Channel::connect(&format!("http://{addr}"))
            .await
            .expect("connect")
    });
    let payload = Bytes::from(vec![7u8; 100]);
    let call = |channel: &Channel| {
        let request = Request::new(payload.clone());
        let channel = channel.clone();
        async move {
            let reply = channel.unary(PATH, request, BytesCodec).await;
            black_box(reply.expect("call").into_inner().len())
        }
    };

    let mut group = c.benchmark_group("runtime");
    group.bench_function("unary_100B_one_in_flight", |b| {
        b.iter(|| rt.block_on(call(&channel)))
    });
    group.bench_function("unary_100B_256_in_flight", |b| {
        // Per call: each iteration is a batch of 256 calls in flight at once.
        b.iter_custom(|iters| {
            let batches = iters.div_ceil(256);
            let start = Instant::now();
            rt.block_on(async {
                for _ in 0..batches {
                    join_all((0..256).map(|_| call(&channel))).await;
                }
            });
            start
                .elapsed()
                .mul_f64(iters as f64 / (batches * 256) as f64)
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
}
