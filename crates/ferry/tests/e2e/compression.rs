//! Compression both ways, negotiation, and the decompression bomb.

use ferry::compression::{Encoding, EncodingSet};
use ferry::{Channel, Code, Request, Server};
use futures_util::StreamExt;
use tokio::net::TcpListener;

use crate::support::{Msg, Running, codec, msg, path};

async fn server(builder: ferry::ServerBuilder) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Running::start_on(listener, builder)
}

#[tokio::test]
async fn gzip_and_zstd_both_ways() {
    for (request_encoding, response_encoding) in [
        (Encoding::Gzip, Encoding::Zstd),
        (Encoding::Zstd, Encoding::Gzip),
        (Encoding::Identity, Encoding::Gzip),
    ] {
        let server = server(Server::builder().send_compressed(response_encoding)).await;
        let channel = Channel::builder(&server.uri())
            .unwrap()
            .send_compressed(request_encoding)
            .connect()
            .await
            .unwrap();
        let big = Msg {
            payload: vec![b'z'; 1 << 20],
            ..msg("compressible")
        };
        let reply = channel
            .unary(&path("Unary"), Request::new(big), codec())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.payload.len(), 1 << 20);
        // Streams too, and a per-call override.
        let req = Msg {
            count: 5,
            payload: vec![1; 1000],
            ..msg("s")
        };
        let stream = channel
            .server_streaming(
                &path("ServerStream"),
                Request::new(req).with_compression(Encoding::Gzip),
                codec(),
            )
            .await
            .unwrap()
            .into_inner();
        let got: Vec<String> = stream.map(|m| m.unwrap().text).collect().await;
        assert_eq!(got, vec!["s#0", "s#1", "s#2", "s#3", "s#4"]);
        let requests = futures_util::stream::iter((0..10).map(|i| msg(&i.to_string())));
        let reply = channel
            .client_streaming(&path("ClientStream"), Request::new(requests), codec())
            .await
            .unwrap();
        assert_eq!(reply.into_inner().text, "0123456789");
        server.stop().await;
    }
}

#[tokio::test]
async fn an_encoding_the_server_does_not_accept_is_unimplemented() {
    let server = server(Server::builder().accept_compressed(EncodingSet::identity_only())).await;
    let channel = Channel::builder(&server.uri())
        .unwrap()
        .send_compressed(Encoding::Gzip)
        .connect()
        .await
        .unwrap();
    let status = channel
        .unary(&path("Unary"), Request::new(msg("x")), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(
        status.message(),
        "grpc: Decompressor is not installed for grpc-encoding \"gzip\""
    );
    // The same channel without compression still works.
    let reply = channel
        .unary(
            &path("Unary"),
            Request::new(msg("plain")).with_compression(Encoding::Identity),
            codec(),
        )
        .await;
    assert_eq!(reply.unwrap().into_inner().text, "plain");
    server.stop().await;
}

#[tokio::test]
async fn a_decompression_bomb_is_resource_exhausted() {
    // 8 MiB of zeros compress to a few KiB: small enough for the length
    // prefix check, far over the 1 MiB limit once decompressed.
    let server = server(Server::builder().max_recv_message_size(1 << 20)).await;
    let channel = Channel::builder(&server.uri())
        .unwrap()
        .send_compressed(Encoding::Gzip)
        .connect()
        .await
        .unwrap();
    let bomb = Msg {
        payload: vec![0; 8 << 20],
        ..msg("bomb")
    };
    let status = channel
        .unary(&path("Unary"), Request::new(bomb), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("larger than max"),
        "{}",
        status.message()
    );
    server.stop().await;
}
