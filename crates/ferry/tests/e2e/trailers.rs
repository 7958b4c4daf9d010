//! Trailing metadata on calls that end OK: a handler puts it on its
//! `Response`, the client reads it from the unary `Response` or from the
//! response stream (the interop case custom_metadata needs both).

use std::time::Duration;

use ferry::server::{BoxFuture, ServerCall, Service};
use ferry::{Request, Response, Server, Status};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::{Msg, codec, msg};

struct Trailing;

fn with_trailer<T>(message: T, value: &str) -> Result<Response<T>, Status> {
    let mut response = Response::new(message);
    response
        .metadata_mut()
        .insert("x-head", value)
        .map_err(|e| Status::internal(e.to_string()))?;
    response
        .trailers_mut()
        .insert("x-trailer", value)
        .map_err(|e| Status::internal(e.to_string()))?;
    response
        .trailers_mut()
        .insert_bin("x-trailer-bin", vec![0xab, 0xab])
        .map_err(|e| Status::internal(e.to_string()))?;
    Ok(response)
}

impl Service for Trailing {
    fn name(&self) -> &str {
        "test.Trailing"
    }

    fn call(&self, call: ServerCall) -> BoxFuture<()> {
        match call.method() {
            "Unary" => Box::pin(ferry::server::unary(
                call,
                codec(),
                |req: Request<Msg>| async move { with_trailer(req.into_inner(), "unary") },
            )),
            "Stream" => Box::pin(ferry::server::server_streaming(
                call,
                codec(),
                |req: Request<Msg>| async move {
                    let m = req.into_inner();
                    let replies = futures_util::stream::iter([Ok(m.clone()), Ok(m)]);
                    with_trailer(replies, "stream")
                },
            )),
            _ => Box::pin(call.unimplemented()),
        }
    }
}

#[tokio::test]
async fn ok_trailers_reach_unary_and_streaming_clients() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = Server::builder().add_service(Trailing).build();
    let task = tokio::spawn(server.serve_with_shutdown(listener, async move {
        let _ = stopped.await;
    }));
    // Over both protocols: a unary answer is one command, which each
    // driver turns into its own frames.
    for scheme in ["http", "ferry"] {
        check_trailers(&format!("{scheme}://{addr}")).await;
    }
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("server stops in time")
        .unwrap()
        .unwrap();
}

async fn check_trailers(uri: &str) {
    let channel = ferry::Channel::connect(uri).await.unwrap();
    let reply = channel
        .unary("/test.Trailing/Unary", Request::new(msg("a")), codec())
        .await
        .unwrap();
    assert_eq!(reply.get_ref().text, "a");
    let trailer = reply.trailers().get("x-trailer").and_then(|v| v.as_str());
    assert_eq!(trailer, Some("unary"));
    let bin = reply.trailers().get("x-trailer-bin").map(|v| v.to_bytes());
    assert_eq!(bin.as_deref(), Some(&[0xab, 0xab][..]));
    // Trailers are not response headers, and the other way round.
    assert!(reply.metadata().get("x-trailer").is_none());
    let head = reply.metadata().get("x-head").and_then(|v| v.as_str());
    assert_eq!(head, Some("unary"), "{uri}");
    assert!(reply.trailers().get("x-head").is_none());

    let mut replies = channel
        .server_streaming("/test.Trailing/Stream", Request::new(msg("b")), codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replies.message().await.unwrap().unwrap().text, "b");
    assert_eq!(replies.message().await.unwrap().unwrap().text, "b");
    assert_eq!(replies.message().await.unwrap(), None);
    let trailers = replies.trailers().expect("trailers after the end");
    assert_eq!(
        trailers.get("x-trailer").and_then(|v| v.as_str()),
        Some("stream")
    );

    drop(replies);
    drop(channel);
}
