//! The tonic peer of the benchmarks: `bench.Bench`, implemented exactly as
//! the Ferry server in `bench/src/bin/server.rs` is.
//!
//! ```sh
//! tonic-bench-server [ADDR]        # default 127.0.0.1:50051
//! ```

use std::pin::Pin;

use futures_util::{Stream, StreamExt, stream};
use tonic::{Request, Response, Status, Streaming};

#[allow(missing_docs, unreachable_pub, missing_debug_implementations)]
mod pb {
    tonic::include_proto!("bench");
}

use pb::bench_server::{Bench, BenchServer};
use pb::{Payload, StreamRequest, Summary};

type Replies = Pin<Box<dyn Stream<Item = Result<Payload, Status>> + Send + 'static>>;

struct BenchService;

#[tonic::async_trait]
impl Bench for BenchService {
    async fn unary(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    type ServerStreamStream = Replies;

    async fn server_stream(
        &self,
        request: Request<StreamRequest>,
    ) -> Result<Response<Replies>, Status> {
        let StreamRequest { count, size } = request.into_inner();
        let payload = Payload {
            text: String::new(),
            body: vec![0x5a; size as usize].into(),
        };
        let messages = stream::repeat_with(move || Ok(payload.clone()));
        let stream: Replies = if count == 0 {
            Box::pin(messages)
        } else {
            Box::pin(messages.take(count as usize))
        };
        Ok(Response::new(stream))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<Payload>>,
    ) -> Result<Response<Summary>, Status> {
        let mut requests = request.into_inner();
        let mut summary = Summary::default();
        while let Some(payload) = requests.message().await? {
            summary.messages += 1;
            summary.bytes += (payload.text.len() + payload.body.len()) as u64;
        }
        Ok(Response::new(summary))
    }

    type PingPongStream = Replies;

    async fn ping_pong(
        &self,
        request: Request<Streaming<Payload>>,
    ) -> Result<Response<Replies>, Status> {
        Ok(Response::new(Box::pin(request.into_inner())))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".to_owned())
        .parse()?;
    eprintln!("tonic bench server on {addr}");
    tonic::transport::Server::builder()
        .max_concurrent_streams(1_000)
        .add_service(BenchServer::new(BenchService))
        .serve_with_shutdown(addr, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
