//! A Ferry server and client in one process: a hand-written `demo.Echo`
//! service (code generation replaces the hand-written parts later) called
//! with all four call shapes over TCP on 127.0.0.1.
//!
//! ```sh
//! cargo run -p ferry --example echo
//! ```

use std::time::Duration;

use ferry::server::{self, BoxFuture};
use ferry::{
    Channel, ProstCodec, Request, Response, Server, ServerCall, Service, Status, Streaming,
};
use futures_util::StreamExt;
use tokio::net::TcpListener;

#[derive(Clone, PartialEq, prost::Message)]
struct Text {
    #[prost(string, tag = "1")]
    text: String,
}

fn text(s: impl Into<String>) -> Text {
    Text { text: s.into() }
}

type Codec = ProstCodec<Text, Text>;

struct Echo;

impl Service for Echo {
    fn name(&self) -> &str {
        "demo.Echo"
    }

    fn call(&self, call: ServerCall) -> BoxFuture<()> {
        match call.method() {
            "Say" => Box::pin(server::unary(
                call,
                Codec::new(),
                |req: Request<Text>| async move {
                    Ok(Response::new(text(format!(
                        "you said: {}",
                        req.into_inner().text
                    ))))
                },
            )),
            "Count" => Box::pin(server::server_streaming(
                call,
                Codec::new(),
                |req: Request<Text>| async move {
                    let word = req.into_inner().text;
                    let stream = futures_util::stream::iter(
                        (1..=3).map(move |i| Ok(text(format!("{word} {i}")))),
                    );
                    Ok(Response::new(stream))
                },
            )),
            "Join" => Box::pin(server::client_streaming(
                call,
                Codec::new(),
                |req: Request<Streaming<Text>>| async move {
                    let mut parts = Vec::new();
                    let mut stream = req.into_inner();
                    while let Some(t) = stream.message().await? {
                        parts.push(t.text);
                    }
                    Ok(Response::new(text(parts.join(" "))))
                },
            )),
            "Shout" => Box::pin(server::bidi_streaming(
                call,
                Codec::new(),
                |req: Request<Streaming<Text>>| async move {
                    let stream = req
                        .into_inner()
                        .map(|t: Result<Text, Status>| t.map(|t| text(t.text.to_uppercase())));
                    Ok(Response::new(stream))
                },
            )),
            _ => Box::pin(call.unimplemented()),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = Server::builder().add_service(Echo).build();
    let serving = tokio::spawn(server.serve_with_shutdown(listener, async {
        let _ = stopped.await;
    }));
    println!("server: listening on {addr}");

    let channel = Channel::connect(&format!("http://{addr}")).await?;
    let codec = Codec::new();

    let reply = channel
        .unary(
            "/demo.Echo/Say",
            Request::new(text("hello")).with_timeout(Duration::from_secs(5)),
            codec,
        )
        .await?;
    println!("unary:            {}", reply.into_inner().text);

    let mut counted = channel
        .server_streaming("/demo.Echo/Count", Request::new(text("ferry")), codec)
        .await?
        .into_inner();
    while let Some(t) = counted.message().await? {
        println!("server streaming: {}", t.text);
    }

    let words = futures_util::stream::iter(["one", "two", "three"].map(text));
    let joined = channel
        .client_streaming("/demo.Echo/Join", Request::new(words), codec)
        .await?;
    println!("client streaming: {}", joined.into_inner().text);

    let words = futures_util::stream::iter(["ping", "pong"].map(text));
    let mut shouted = channel
        .bidi_streaming("/demo.Echo/Shout", Request::new(words), codec)
        .await?
        .into_inner();
    while let Some(t) = shouted.message().await? {
        println!("bidi streaming:   {}", t.text);
    }

    let missing = channel
        .unary("/demo.Echo/Nope", Request::new(text("?")), codec)
        .await
        .unwrap_err();
    println!(
        "unknown method:   {:?}: {}",
        missing.code(),
        missing.message()
    );

    let _ = stop.send(());
    serving.await??;
    println!("server: shut down gracefully");
    Ok(())
}
