//! The Ferry peer of the benchmarks: `bench.Bench` from `proto/bench.proto`,
//! served with the code `ferry-build` generates, as an application would.
//!
//! ```sh
//! ferry-bench-server [ADDR]        # default 127.0.0.1:50051
//! ```

use ferry::{Request, Response, ResponseStream, Server, Status, Streaming};
use futures_util::stream;

// Generated items are `pub`; in a binary nothing outside can reach them.
#[allow(unreachable_pub)]
mod pb {
    ferry::include_proto!("bench");
}

use pb::bench_server::{Bench, BenchServer};
use pb::{Payload, StreamRequest, Summary};

struct BenchService;

impl Bench for BenchService {
    async fn unary(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        Ok(Response::new(request.into_inner()))
    }

    async fn server_stream(
        &self,
        request: Request<StreamRequest>,
    ) -> Result<Response<ResponseStream<Payload>>, Status> {
        let StreamRequest { count, size } = request.into_inner();
        let payload = Payload {
            text: String::new(),
            body: vec![0x5a; size as usize].into(),
        };
        let messages = stream::repeat_with(move || Ok(payload.clone()));
        let stream = if count == 0 {
            ResponseStream::new(messages)
        } else {
            ResponseStream::new(futures_util::StreamExt::take(messages, count as usize))
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

    async fn ping_pong(
        &self,
        request: Request<Streaming<Payload>>,
    ) -> Result<Response<ResponseStream<Payload>>, Status> {
        Ok(Response::new(ResponseStream::new(request.into_inner())))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("ferry bench server on {}", listener.local_addr()?);
    let server = Server::builder()
        .max_concurrent_streams(1_000)
        .add_service(BenchServer::new(BenchService))
        .build();
    server
        .serve_with_shutdown(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
