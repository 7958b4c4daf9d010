//! Compression both ways, negotiation, and the decompression bomb.

use ferry::compression::{Encoding, EncodingSet};
use ferry::{Channel, Code, Outbound, Request, Server};
use futures_util::StreamExt;
use tokio::net::TcpListener;

use crate::support::{Msg, Running, codec, msg, path};
use crate::wiretap::Wiretap;

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

/// A message whose payload gzip and zstd shrink to almost nothing.
fn compressible(text: &str, len: usize) -> Msg {
    Msg {
        payload: vec![b'z'; len],
        ..msg(text)
    }
}

/// A message whose payload no compressor shrinks (xorshift bytes).
fn incompressible(text: &str, len: usize) -> Msg {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let payload = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    Msg {
        payload,
        ..msg(text)
    }
}

async fn tapped(builder: ferry::ServerBuilder) -> (Running, Wiretap) {
    let server = server(builder).await;
    let tap = Wiretap::start(server.addr).await;
    (server, tap)
}

#[tokio::test]
async fn small_and_incompressible_messages_go_uncompressed_on_a_compressed_call() {
    for encoding in [Encoding::Gzip, Encoding::Zstd] {
        let (server, tap) = tapped(Server::builder().send_compressed(encoding)).await;
        let channel = Channel::builder(&tap.uri())
            .unwrap()
            .send_compressed(encoding)
            .connect()
            .await
            .unwrap();
        let requests = futures_util::stream::iter(vec![
            msg("a"),
            compressible("b", 1000),
            incompressible("c", 1000),
            msg("d"),
        ]);
        let reply = channel
            .client_streaming(&path("ClientStream"), Request::new(requests), codec())
            .await
            .unwrap()
            .into_inner();
        assert_eq!((reply.text.as_str(), reply.payload.len()), ("abcd", 2000));
        // Under 64 bytes, compressed, no gain, under 64 bytes; the reply
        // (1000 'z' and 1000 random bytes) shrinks by half: compressed.
        assert_eq!(tap.request_flags(), [0, 1, 0, 0], "{encoding}");
        assert_eq!(tap.response_flags(), [1], "{encoding}");
        tap.clear();

        let request = Msg {
            count: 3,
            ..compressible("s", 500)
        };
        let stream = channel
            .server_streaming(&path("ServerStream"), Request::new(request), codec())
            .await
            .unwrap()
            .into_inner();
        let got: Vec<usize> = stream.map(|m| m.unwrap().payload.len()).collect().await;
        assert_eq!(got, [500, 500, 500]);
        assert_eq!(tap.request_flags(), [1], "{encoding}");
        assert_eq!(tap.response_flags(), [1, 1, 1], "{encoding}");
        drop(channel);
        tap.stop().await;
        server.stop().await;
    }
}

#[tokio::test]
async fn min_compress_size_is_set_on_both_builders() {
    // A 40-byte payload makes a 43-byte message: under the default, and
    // gzip still shrinks it.
    let small = compressible("m", 40);
    for (min, want) in [(None, 0), (Some(0), 1), (Some(2000), 0)] {
        let mut builder = Server::builder().send_compressed(Encoding::Gzip);
        if let Some(min) = min {
            builder = builder.min_compress_size(min);
        }
        let (server, tap) = tapped(builder).await;
        let mut channel = Channel::builder(&tap.uri())
            .unwrap()
            .send_compressed(Encoding::Gzip);
        if let Some(min) = min {
            channel = channel.min_compress_size(min);
        }
        let channel = channel.connect().await.unwrap();
        let reply = channel
            .unary(&path("Unary"), Request::new(small.clone()), codec())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply, small);
        assert_eq!(tap.request_flags(), [want], "min {min:?}");
        assert_eq!(tap.response_flags(), [want], "min {min:?}");
        tap.clear();
        // 1000 compressible bytes: compressed unless the minimum is 2000.
        let big = compressible("b", 1000);
        channel
            .unary(&path("Unary"), Request::new(big), codec())
            .await
            .unwrap();
        let want = u8::from(min != Some(2000));
        assert_eq!(tap.request_flags(), [want], "min {min:?}");
        assert_eq!(tap.response_flags(), [want], "min {min:?}");
        drop(channel);
        tap.stop().await;
        server.stop().await;
    }
}

#[tokio::test]
async fn a_stream_can_send_one_message_uncompressed() {
    let (server, tap) = tapped(Server::builder().send_compressed(Encoding::Zstd)).await;
    let channel = Channel::builder(&tap.uri())
        .unwrap()
        .send_compressed(Encoding::Gzip)
        .connect()
        .await
        .unwrap();
    // Client stream: one message opted out, the others as the call says.
    let requests = futures_util::stream::iter(vec![
        Outbound::uncompressed(compressible("a", 1000)),
        Outbound::new(compressible("b", 1000)),
        compressible("c", 1000).into(),
    ]);
    let reply = channel
        .client_streaming(&path("ClientStream"), Request::new(requests), codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.text.as_str(), reply.payload.len()), ("abc", 3000));
    assert_eq!(tap.request_flags(), [0, 1, 1]);
    tap.clear();

    // Server stream: the handler sends every odd message uncompressed.
    let request = Msg {
        count: 4,
        ..compressible("m", 1000)
    };
    let stream = channel
        .server_streaming(&path("Mixed"), Request::new(request), codec())
        .await
        .unwrap()
        .into_inner();
    let got: Vec<(String, usize)> = stream
        .map(|m| m.map(|m| (m.text, m.payload.len())).unwrap())
        .collect()
        .await;
    let want: Vec<(String, usize)> = (0..4).map(|i| (format!("m#{i}"), 1000)).collect();
    assert_eq!(got, want);
    assert_eq!(tap.response_flags(), [1, 0, 1, 0]);
    tap.clear();

    // Bidi: the same per message, both ways.
    let requests = futures_util::stream::iter(vec![
        Outbound::new(compressible("x", 1000)),
        Outbound::uncompressed(compressible("y", 1000)),
    ]);
    let stream = channel
        .bidi_streaming(&path("Bidi"), Request::new(requests), codec())
        .await
        .unwrap()
        .into_inner();
    let got: Vec<String> = stream.map(|m| m.unwrap().text).collect().await;
    assert_eq!(got, ["x", "y"]);
    assert_eq!(tap.request_flags(), [1, 0]);
    // The Bidi handler echoes plain messages: both compressed.
    assert_eq!(tap.response_flags(), [1, 1]);
    drop(channel);
    tap.stop().await;
    server.stop().await;
}

/// Answers with what it saw: the text of each reply is the compressed flag
/// of the request (message by message for a stream, as `0`/`1`). `count`
/// asks for response compression: 1 gzip, 2 zstd, 3 identity, 0 the
/// server's default. ServerStream sends `payload.len()`-sized replies for
/// each request flag, every other one opted out with `Outbound`.
struct Flags;

type MsgCodec = ferry::ProstCodec<Msg, Msg>;

fn choice(count: u32) -> Option<Encoding> {
    match count {
        1 => Some(Encoding::Gzip),
        2 => Some(Encoding::Zstd),
        3 => Some(Encoding::Identity),
        _ => None,
    }
}

fn answer(count: u32, text: String, len: usize) -> ferry::Response<Msg> {
    let reply = ferry::Response::new(compressible(&text, len));
    match choice(count) {
        Some(encoding) => reply.with_compression(encoding),
        None => reply,
    }
}

impl ferry::Service for Flags {
    fn name(&self) -> &str {
        "test.Flags"
    }

    fn call(&self, call: ferry::ServerCall) -> ferry::server::BoxFuture<()> {
        use ferry::server;
        match call.method() {
            "Unary" => Box::pin(server::unary(
                call,
                MsgCodec::new(),
                |req: Request<Msg>| async move {
                    let flag = u8::from(req.arrived_compressed()).to_string();
                    let req = req.into_inner();
                    Ok(answer(req.count, flag, req.payload.len()))
                },
            )),
            "ClientStream" => Box::pin(server::client_streaming(
                call,
                MsgCodec::new(),
                |req: Request<ferry::Streaming<Msg>>| async move {
                    let mut requests = req.into_inner();
                    let (mut flags, mut count, mut len) = (String::new(), 0, 0);
                    while let Some(m) = requests.message().await? {
                        flags.push_str(if requests.last_message_compressed() {
                            "1"
                        } else {
                            "0"
                        });
                        (count, len) = (m.count, m.payload.len());
                    }
                    Ok(answer(count, flags, len))
                },
            )),
            "ServerStream" => Box::pin(server::server_streaming(
                call,
                MsgCodec::new(),
                |req: Request<Msg>| async move {
                    let req = req.into_inner();
                    let replies = (0..4).map(move |i| {
                        let reply = compressible(&i.to_string(), req.payload.len());
                        Ok(if i % 2 == 1 {
                            Outbound::uncompressed(reply)
                        } else {
                            Outbound::new(reply)
                        })
                    });
                    let stream = ferry::ResponseStream::new(futures_util::stream::iter(replies));
                    let response = ferry::Response::new(stream);
                    Ok(match choice(req.count) {
                        Some(encoding) => response.with_compression(encoding),
                        None => response,
                    })
                },
            )),
            // Two replies from a producer task, the second opted out.
            "Fed" => Box::pin(server::server_streaming(
                call,
                MsgCodec::new(),
                |req: Request<Msg>| async move {
                    let req = req.into_inner();
                    let (tx, replies) = ferry::ResponseStream::channel(1);
                    tokio::spawn(async move {
                        let len = req.payload.len();
                        let _ = tx.send(Ok(compressible("a", len))).await;
                        let _ = tx
                            .send_outbound(Outbound::uncompressed(compressible("b", len)))
                            .await;
                    });
                    Ok(ferry::Response::new(replies).with_compression(Encoding::Gzip))
                },
            )),
            _ => Box::pin(call.unimplemented()),
        }
    }
}

fn flags_path(method: &str) -> String {
    format!("/test.Flags/{method}")
}

#[tokio::test]
async fn a_handler_sees_whether_each_request_arrived_compressed() {
    let (server, tap) = tapped(Server::builder().add_service(Flags)).await;
    let channel = Channel::connect(&tap.uri()).await.unwrap();
    // Unary: compressed by the call, then not.
    for (encoding, want) in [(Encoding::Gzip, "1"), (Encoding::Identity, "0")] {
        let reply = channel
            .unary(
                &flags_path("Unary"),
                Request::new(compressible("u", 1000)).with_compression(encoding),
                codec(),
            )
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.text, want, "{encoding}");
    }
    assert_eq!(tap.request_flags(), [1, 0]);
    tap.clear();
    // A stream: the flag of each message as it arrived; a small message goes
    // uncompressed on a compressed call, and so does an opted-out one.
    let requests = futures_util::stream::iter(vec![
        Outbound::new(compressible("a", 1000)),
        Outbound::uncompressed(compressible("b", 1000)),
        Outbound::new(msg("c")),
        Outbound::new(compressible("d", 1000)),
    ]);
    let reply = channel
        .client_streaming(
            &flags_path("ClientStream"),
            Request::new(requests).with_compression(Encoding::Zstd),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "1001");
    assert_eq!(tap.request_flags(), [1, 0, 0, 1]);
    drop(channel);
    tap.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_handler_chooses_response_compression_per_call() {
    // The server compresses nothing by default; a handler asks for gzip,
    // zstd or identity per call.
    for default in [Encoding::Identity, Encoding::Gzip] {
        let (server, tap) = tapped(
            Server::builder()
                .send_compressed(default)
                .add_service(Flags),
        )
        .await;
        let channel = Channel::connect(&tap.uri()).await.unwrap();
        let default_flag = u8::from(!default.is_identity());
        for (count, want) in [(1, 1), (2, 1), (3, 0), (0, default_flag)] {
            let request = Msg {
                count,
                ..compressible("u", 1000)
            };
            let reply = channel
                .unary(&flags_path("Unary"), Request::new(request), codec())
                .await
                .unwrap();
            // What the client reports is what went over the wire.
            assert_eq!(tap.response_flags(), [want], "{default} {count}");
            assert_eq!(reply.arrived_compressed(), want == 1, "{default} {count}");
            assert_eq!(reply.get_ref().payload.len(), 1000);
            tap.clear();
        }
        // Client streaming: the same choice for its one response.
        let requests = futures_util::stream::iter(vec![Msg {
            count: 1,
            ..compressible("c", 1000)
        }]);
        let reply = channel
            .client_streaming(&flags_path("ClientStream"), Request::new(requests), codec())
            .await
            .unwrap();
        assert!(reply.arrived_compressed());
        assert_eq!(tap.response_flags(), [1]);
        tap.clear();
        // Server streaming: compressed per call, every other message opted
        // out; the client sees each message's flag.
        for (count, want) in [(2, [1, 0, 1, 0]), (3, [0, 0, 0, 0])] {
            let request = Msg {
                count,
                ..compressible("s", 1000)
            };
            let mut replies = channel
                .server_streaming(&flags_path("ServerStream"), Request::new(request), codec())
                .await
                .unwrap()
                .into_inner();
            let mut seen = Vec::new();
            while let Some(reply) = replies.message().await.unwrap() {
                assert_eq!(reply.payload.len(), 1000);
                seen.push(u8::from(replies.last_message_compressed()));
            }
            assert_eq!(seen, want, "{default} {count}");
            assert_eq!(tap.response_flags(), want, "{default} {count}");
            tap.clear();
        }
        // ResponseStream::channel: per message through the sender.
        let replies = channel
            .server_streaming(
                &flags_path("Fed"),
                Request::new(compressible("f", 1000)),
                codec(),
            )
            .await
            .unwrap()
            .into_inner();
        let got: Vec<String> = replies.map(|m| m.unwrap().text).collect().await;
        assert_eq!(got, ["a", "b"]);
        assert_eq!(tap.response_flags(), [1, 0], "{default}");
        tap.clear();
        drop(channel);
        tap.stop().await;
        server.stop().await;
    }
}

#[tokio::test]
async fn a_per_call_encoding_the_client_does_not_accept_goes_uncompressed() {
    let (server, tap) = tapped(Server::builder().add_service(Flags)).await;
    let mut gzip_only = EncodingSet::identity_only();
    gzip_only.insert(Encoding::Gzip);
    let channel = Channel::builder(&tap.uri())
        .unwrap()
        .accept_compressed(gzip_only)
        .connect()
        .await
        .unwrap();
    // The handler asks for zstd, which this client did not list in
    // grpc-accept-encoding: the reply goes uncompressed (and decodes, so
    // no grpc-encoding the client cannot handle was sent). Gzip it takes.
    for (count, want) in [(2, 0), (1, 1)] {
        let request = Msg {
            count,
            ..compressible("u", 1000)
        };
        let reply = channel
            .unary(&flags_path("Unary"), Request::new(request), codec())
            .await
            .unwrap();
        assert_eq!(reply.arrived_compressed(), want == 1);
        assert_eq!(tap.response_flags(), [want]);
        tap.clear();
    }
    drop(channel);
    tap.stop().await;
    server.stop().await;
}

/// Over the native protocol the client's accepted encodings travel in the
/// request metadata, so a handler's per-call choice and the server's
/// default work as over gRPC; a client that accepts nothing compressed
/// gets plain responses whatever the handler asks.
#[tokio::test]
async fn response_compression_over_the_native_protocol() {
    for default in [Encoding::Identity, Encoding::Gzip] {
        let server = server(
            Server::builder()
                .send_compressed(default)
                .add_service(Flags),
        )
        .await;
        let uri = format!("ferry://{}", server.addr);
        let channel = Channel::connect(&uri).await.unwrap();
        let plain = Channel::builder(&uri)
            .unwrap()
            .accept_compressed(EncodingSet::identity_only())
            .connect()
            .await
            .unwrap();
        let default_compressed = !default.is_identity();
        for (count, want) in [(1, true), (2, true), (3, false), (0, default_compressed)] {
            let request = Msg {
                count,
                ..compressible("u", 1000)
            };
            let reply = channel
                .unary(&flags_path("Unary"), Request::new(request.clone()), codec())
                .await
                .unwrap();
            assert_eq!(reply.arrived_compressed(), want, "{default} {count}");
            assert_eq!(reply.get_ref().payload.len(), 1000);
            let reply = plain
                .unary(&flags_path("Unary"), Request::new(request), codec())
                .await
                .unwrap();
            assert!(!reply.arrived_compressed(), "{default} {count}");
        }
        drop((channel, plain));
        server.stop().await;
    }
}
