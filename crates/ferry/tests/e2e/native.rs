//! The native protocol on the same port as gRPC: the same service, all four
//! call shapes, statuses, deadlines and cancellation, both protocols at
//! once, and what the port says to an HTTP/1.1 client.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ferry::{Channel, Code, Request};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Msg, Running, codec, msg, path};

fn native_uri(server: &Running) -> String {
    format!("ferry://{}", server.addr)
}

#[tokio::test]
async fn all_four_shapes_over_the_native_protocol() {
    let server = Running::start().await;
    let channel = Channel::connect(&native_uri(&server)).await.unwrap();

    let reply = channel
        .unary(&path("Unary"), Request::new(msg("hi")), codec())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "hi");

    let mut stream = channel
        .server_streaming(
            &path("ServerStream"),
            Request::new(Msg {
                text: "s".into(),
                count: 5,
                ..Msg::default()
            }),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    let mut texts = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        texts.push(m.text);
    }
    assert_eq!(texts, ["s#0", "s#1", "s#2", "s#3", "s#4"]);

    let parts = futures_util::stream::iter(["a", "b", "c"].map(msg));
    let joined = channel
        .client_streaming(&path("ClientStream"), Request::new(parts), codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!((joined.text.as_str(), joined.count), ("abc", 3));

    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(1);
    let requests =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    let mut replies = channel
        .bidi_streaming(&path("Bidi"), Request::new(requests), codec())
        .await
        .unwrap()
        .into_inner();
    for word in ["ping", "pong", "pang"] {
        tx.send(msg(word)).await.unwrap();
        assert_eq!(replies.message().await.unwrap().unwrap().text, word);
    }
    drop(tx);
    assert_eq!(replies.message().await.unwrap(), None);

    // An empty client stream and an empty message both work.
    let none = futures_util::stream::iter(Vec::<Msg>::new());
    let joined = channel
        .client_streaming(&path("ClientStream"), Request::new(none), codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(joined, Msg::default());
    let empty = channel
        .unary(&path("Unary"), Request::new(Msg::default()), codec())
        .await
        .unwrap();
    assert_eq!(empty.into_inner(), Msg::default());

    drop((channel, replies, stream));
    server.stop().await;
}

#[tokio::test]
async fn statuses_metadata_and_unknown_methods() {
    let server = Running::start().await;
    let channel = Channel::connect(&native_uri(&server)).await.unwrap();

    let failing = Msg {
        text: "ünï/code%".into(),
        fail_code: Code::FailedPrecondition as i32,
        ..Msg::default()
    };
    let status = channel
        .unary(&path("Unary"), Request::new(failing), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "failed as asked: ünï/code%");

    let status = channel
        .unary(&path("Nope"), Request::new(msg("?")), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    let status = channel
        .unary("/no.Such/Method", Request::new(msg("?")), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);

    let mut request = Request::new(msg("meta"));
    request.metadata_mut().insert("x-user", "ann").unwrap();
    request
        .metadata_mut()
        .insert_bin("x-blob-bin", vec![0u8, 255, 7])
        .unwrap();
    let reply = channel
        .unary(&path("Unary"), request, codec())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "meta");

    drop(channel);
    server.stop().await;
}

#[tokio::test]
async fn large_messages_and_many_calls_at_once() {
    let server = Running::start().await;
    let channel = Channel::connect(&native_uri(&server)).await.unwrap();
    let big = Msg {
        payload: vec![7u8; 3 << 20],
        ..msg("big")
    };
    let reply = channel
        .unary(&path("Unary"), Request::new(big.clone()), codec())
        .await
        .unwrap();
    assert_eq!(reply.into_inner(), big);

    // A stream far larger than the initial credit.
    let mut stream = channel
        .server_streaming(
            &path("ServerStream"),
            Request::new(Msg {
                count: 64,
                payload: vec![1u8; 256 << 10],
                ..msg("x")
            }),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(m) = stream.message().await.unwrap() {
        assert_eq!(m.payload.len(), 256 << 10);
        n += 1;
    }
    assert_eq!(n, 64);

    let calls = (0..200).map(|i| {
        let channel = channel.clone();
        async move {
            channel
                .unary(&path("Unary"), Request::new(msg(&i.to_string())), codec())
                .await
                .map(|r| r.into_inner().text)
        }
    });
    let texts: Vec<_> = futures_util::future::join_all(calls).await;
    for (i, text) in texts.into_iter().enumerate() {
        assert_eq!(text.unwrap(), i.to_string());
    }
    drop((channel, stream));
    server.stop().await;
}

#[tokio::test]
async fn a_slow_reader_holds_back_the_server_by_credit() {
    let server = Running::start().await;
    let channel = Channel::connect(&native_uri(&server)).await.unwrap();
    let mut stream = channel
        .server_streaming(
            &path("ServerStream"),
            Request::new(Msg {
                count: 1000,
                payload: vec![0u8; 64 << 10],
                ..msg("x")
            }),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    for _ in 0..5 {
        stream.message().await.unwrap().unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let produced = server.probe.produced.load(Ordering::SeqCst);
    // 1 MiB of credit is 16 such messages; a few more sit in the
    // handler's send path.
    assert!(produced < 40, "the server produced {produced} of 1000");
    drop((stream, channel));
    server.stop().await;
}

#[tokio::test]
async fn deadlines_and_cancellation_stop_the_handler() {
    let server = Running::start().await;
    let channel = Channel::connect(&native_uri(&server)).await.unwrap();
    let slow = Msg {
        sleep_ms: 10_000,
        ..msg("slow")
    };
    let status = channel
        .unary(
            &path("Unary"),
            Request::new(slow).with_timeout(Duration::from_millis(200)),
            codec(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);

    let mut stream = channel
        .server_streaming(
            &path("ServerStream"),
            Request::new(Msg {
                count: 1000,
                sleep_ms: 20,
                ..msg("c")
            }),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    stream.message().await.unwrap().unwrap();
    drop(stream);

    let probe = server.probe.clone();
    for _ in 0..500 {
        if probe.cancelled.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(probe.cancelled.load(Ordering::SeqCst), 2, "{probe:?}");
    drop(channel);
    server.stop().await;
}

#[tokio::test]
async fn grpc_and_native_clients_share_the_port() {
    let server = Running::start().await;
    let grpc = Channel::connect(&server.uri()).await.unwrap();
    let native = Channel::builder(&server.uri())
        .unwrap()
        .native_protocol(true)
        .connect()
        .await
        .unwrap();
    let calls = (0..50).map(|i| {
        let channel = if i % 2 == 0 {
            grpc.clone()
        } else {
            native.clone()
        };
        async move {
            channel
                .unary(&path("Unary"), Request::new(msg(&i.to_string())), codec())
                .await
                .map(|r| r.into_inner().text)
        }
    });
    let texts: Vec<_> = futures_util::stream::iter(calls)
        .buffer_unordered(50)
        .collect()
        .await;
    assert_eq!(texts.iter().filter(|t| t.is_ok()).count(), 50);
    drop((grpc, native));
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_lets_native_calls_finish() {
    let server = Running::start().await;
    let channel = Channel::connect(&native_uri(&server)).await.unwrap();
    let slow = Msg {
        sleep_ms: 300,
        ..msg("slow")
    };
    let call = {
        let channel = channel.clone();
        tokio::spawn(async move {
            channel
                .unary(&path("Unary"), Request::new(slow), codec())
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = tokio::spawn(server.stop());
    let reply = call.await.unwrap().unwrap();
    assert_eq!(reply.into_inner().text, "slow");
    drop(channel);
    stopping.await.unwrap();
}

#[tokio::test]
async fn an_http1_request_gets_a_clear_answer() {
    let server = Running::start().await;
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    sock.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), sock.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 505 "), "{answer}");
    assert!(answer.contains("gRPC over HTTP/2"), "{answer}");
    drop(sock);
    server.stop().await;
}

#[tokio::test]
async fn garbage_after_the_native_magic_closes_the_connection() {
    let server = Running::start().await;
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // The magic, then a header with an absurd metadata length.
    let mut frame = vec![0xFE, 0x52, 1, 24, 1, 0, 0, 0];
    frame.extend_from_slice(&1u64.to_be_bytes());
    frame.extend_from_slice(&u32::MAX.to_be_bytes());
    frame.extend_from_slice(&0u32.to_be_bytes());
    sock.write_all(&frame).await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the server closes the connection");
    // A well-behaved client is still served.
    let channel = Channel::connect(&native_uri(&server)).await.unwrap();
    let reply = channel
        .unary(&path("Unary"), Request::new(msg("ok")), codec())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "ok");
    drop((channel, sock));
    server.stop().await;
}

/// A native client's first bytes, written by hand: HELLO, then a unary
/// `test.Echo/Unary` request carrying `text` with `flags` added.
pub(crate) fn raw_unary(text: &str, flags: ferry_wire::native::Flags) -> bytes::BytesMut {
    raw_request("Unary", text, flags)
}

/// As [`raw_unary`], for any `test.Echo` method: the request's one message
/// and its end in the first REQUEST frame.
fn raw_request(method: &str, text: &str, flags: ferry_wire::native::Flags) -> bytes::BytesMut {
    use ferry_wire::native::{Flags, Frame, Kind, Meta};
    use prost::Message as _;

    let mut out = bytes::BytesMut::new();
    Frame::new(Kind::Hello, 0).encode(&mut out);
    let meta = Meta {
        service: Some("test.Echo".into()),
        method: Some(method.into()),
        ..Meta::default()
    };
    Frame {
        flags: Flags::MESSAGE | Flags::END_STREAM | flags,
        meta: meta.to_bytes(),
        body: msg(text).encode_to_vec().into(),
        ..Frame::new(Kind::Request, 1)
    }
    .encode(&mut out);
    out
}

#[tokio::test]
async fn the_server_speaks_native_frames_on_the_wire() {
    use ferry_wire::native::{Flags, Kind, Meta, Setting};
    use prost::Message as _;

    let server = Running::start().await;
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let out = raw_unary("raw", Flags::empty());
    sock.write_all(&out).await.unwrap();

    let frames = frames_until_end(&mut sock).await;
    assert_eq!(frames[0].kind, Kind::Hello);
    let hello = Meta::decode(&frames[0].meta).unwrap();
    assert!(hello.setting(Setting::MAX_BODY).is_some());
    // A unary reply is one frame: message, end and status together.
    assert_eq!(frames.len(), 2, "{frames:?}");
    let reply = &frames[1];
    assert_eq!(reply.kind, Kind::Response);
    assert!(reply.has(Flags::MESSAGE) && reply.has(Flags::END_STREAM));
    assert_eq!(reply.status, 0);
    assert_eq!(Msg::decode(reply.body.clone()).unwrap().text, "raw");
    drop(sock);
    server.stop().await;
}

/// The server's frames up to the first that ends a call.
async fn frames_until_end(sock: &mut tokio::net::TcpStream) -> Vec<ferry_wire::native::Frame> {
    use ferry_wire::native::{Flags, Frame, FrameDecoder};

    let decoder = FrameDecoder::new();
    let mut buf = bytes::BytesMut::new();
    let mut frames = Vec::new();
    while frames
        .last()
        .is_none_or(|f: &Frame| !f.has(Flags::END_STREAM))
    {
        match decoder.decode(&mut buf).unwrap() {
            Some(frame) => frames.push(frame),
            None => {
                let n = tokio::time::timeout(Duration::from_secs(10), sock.read_buf(&mut buf))
                    .await
                    .unwrap()
                    .unwrap();
                assert!(n > 0, "connection closed after {frames:?}");
            }
        }
    }
    frames
}

/// A request whose one message and end come in its first frame reaches the
/// handler whole, without a request stream: decompression, the receive
/// limit (checked after decompressing) and handlers that read a stream
/// treat it as a request that came in pieces, and as gRPC does.
#[tokio::test]
async fn a_request_that_arrives_whole_follows_the_stream_rules() {
    use ferry::compression::Encoding;
    use ferry_wire::native::{Flags, Kind};
    use prost::Message as _;

    let server = Running::start_with(ferry::Server::builder().max_recv_message_size(1_000)).await;
    let mut messages = Vec::new();
    for uri in [native_uri(&server), format!("http://{}", server.addr)] {
        let zipped = Channel::builder(&uri)
            .unwrap()
            .send_compressed(Encoding::Gzip)
            .connect()
            .await
            .unwrap();
        let small = Msg {
            payload: vec![1; 500],
            ..msg("small")
        };
        let reply = zipped
            .unary(&path("Unary"), Request::new(small), codec())
            .await
            .unwrap();
        assert_eq!(reply.into_inner().payload.len(), 500, "{uri}");
        // A few dozen bytes on the wire, 4 KB once decompressed.
        let big = Msg {
            payload: vec![1; 4_000],
            ..msg("big")
        };
        let status = zipped
            .unary(&path("Unary"), Request::new(big), codec())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{uri}: {status:?}");
        messages.push(status.message().to_owned());
    }
    assert_eq!(messages[0], messages[1]);

    // A client-streaming method whose only message comes whole.
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    sock.write_all(&raw_request("ClientStream", "one", Flags::empty()))
        .await
        .unwrap();
    let frames = frames_until_end(&mut sock).await;
    let reply = frames.last().unwrap();
    assert_eq!(reply.kind, Kind::Response);
    assert_eq!(reply.status, 0, "{frames:?}");
    let total = Msg::decode(reply.body.clone()).unwrap();
    assert_eq!((total.count, total.text.as_str()), (1, "one"));
    drop(sock);
    server.stop().await;
}

/// Calls to one method repeat their metadata section (the client writes
/// it from a cache, the server reuses the head it decoded): a deadline on
/// one call and not the next, and another method in between, still reach
/// the handler as sent.
#[tokio::test]
async fn repeated_calls_keep_their_own_deadlines_and_methods() {
    let server = Running::start().await;
    let channel = Channel::connect(&native_uri(&server)).await.unwrap();
    for round in 0..3 {
        for with_deadline in [false, true, true, false] {
            let mut request = Request::new(msg("d"));
            if with_deadline {
                request = request.with_timeout(Duration::from_secs(30));
            }
            let reply = channel
                .unary(&path("Unary"), request, codec())
                .await
                .unwrap();
            let want = if with_deadline { "d (deadline)" } else { "d" };
            assert_eq!(reply.into_inner().text, want, "round {round}");
        }
        let status = channel
            .unary(&path("Nope"), Request::new(msg("?")), codec())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented);
        assert!(status.message().contains("Nope"), "{status:?}");
    }
    drop(channel);
    server.stop().await;
}

/// A TCP proxy that can stop forwarding while keeping both connections
/// open: a peer that is still connected but no longer answers.
struct FreezingProxy {
    addr: std::net::SocketAddr,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl FreezingProxy {
    async fn start(target: std::net::SocketAddr) -> FreezingProxy {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let frozen = Arc::new(AtomicBool::new(false));
        let flag = frozen.clone();
        let task = tokio::spawn(async move {
            let mut pipes = tokio::task::JoinSet::new();
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                    continue;
                };
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                for (mut from, mut to) in [
                    (
                        Box::new(ri) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                        Box::new(wo) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
                    ),
                    (Box::new(ro), Box::new(wi)),
                ] {
                    let flag = flag.clone();
                    pipes.spawn(async move {
                        let mut buf = vec![0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            if flag.load(Ordering::SeqCst) {
                                // Swallow everything from now on.
                                continue;
                            }
                            if to.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    });
                }
            }
        });
        FreezingProxy { addr, frozen, task }
    }

    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn heartbeats_find_a_peer_that_stopped_answering() {
    let server = Running::start_with(
        ferry::Server::builder().keepalive(Duration::from_millis(200), Duration::from_millis(300)),
    )
    .await;
    let proxy = FreezingProxy::start(server.addr).await;
    let channel = Channel::builder(&format!("ferry://{}", proxy.addr))
        .unwrap()
        .keepalive(Duration::from_millis(200), Duration::from_millis(300))
        .connect()
        .await
        .unwrap();

    // Heartbeats on an idle connection are invisible to calls.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let reply = channel
        .unary(&path("Unary"), Request::new(msg("alive")), codec())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "alive");

    let mut stream = channel
        .server_streaming(
            &path("ServerStream"),
            Request::new(Msg {
                count: 100_000,
                sleep_ms: 1_000,
                ..msg("hb")
            }),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    proxy.freeze();
    let started = std::time::Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the stream ended cleanly"),
                Err(status) => return status,
            }
        }
    })
    .await
    .expect("the client notices within its heartbeat timeout");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // The server noticed too and cancelled the handler.
    let probe = server.probe.clone();
    for _ in 0..500 {
        if probe.cancelled.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(probe.cancelled.load(Ordering::SeqCst), 1, "{probe:?}");
    drop((stream, channel, proxy));
    server.stop().await;
}

#[tokio::test]
async fn native_over_tls_beside_grpc_over_tls() {
    use ferry::tls::{ClientTlsConfig, ServerTlsConfig};

    use crate::certs::pki;

    let server = Running::start_with(
        ferry::Server::builder().tls(ServerTlsConfig::new(pki().server_identity())),
    )
    .await;
    let uri = format!("https://localhost:{}", server.addr.port());
    let native = Channel::builder(&uri)
        .unwrap()
        .tls(ClientTlsConfig::new(pki().roots()))
        .native_protocol(true)
        .connect()
        .await
        .unwrap();
    let grpc = Channel::builder(&uri)
        .unwrap()
        .tls(ClientTlsConfig::new(pki().roots()))
        .connect()
        .await
        .unwrap();
    for channel in [&native, &grpc] {
        let reply = channel
            .unary(&path("Unary"), Request::new(msg("sealed")), codec())
            .await
            .unwrap();
        assert_eq!(reply.into_inner().text, "sealed");
    }
    drop((native, grpc));
    server.stop().await;
}

#[tokio::test]
async fn a_native_peer_that_never_says_hello_is_closed() {
    let config = ferry_wire::conn::Config {
        handshake_timeout: Duration::from_millis(300),
        ..ferry_wire::conn::Config::default()
    };
    let server = Running::start_with(ferry::Server::builder().connection_config(config)).await;
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // The magic decides the protocol; then nothing more.
    sock.write_all(&[0xFE, 0x52]).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server closes the silent connection");
    // A connection that never sends a byte is closed as well.
    let mut silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), silent.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "the server closes the connection that said nothing"
    );
    drop((sock, silent));
    server.stop().await;
}

#[tokio::test]
async fn a_handler_past_its_deadline_ends_the_call_with_deadline_exceeded() {
    use bytes::BytesMut;
    use ferry_wire::native::{Flags, Frame, FrameDecoder, Kind, Meta};
    use prost::Message as _;

    let server = Running::start().await;
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut out = BytesMut::new();
    Frame::new(Kind::Hello, 0).encode(&mut out);
    // A client that sends a deadline but keeps no timer of its own: the
    // server's status is what it hears.
    let meta = Meta {
        service: Some("test.Echo".into()),
        method: Some("Unary".into()),
        timeout: Some(Duration::from_millis(100)),
        ..Meta::default()
    };
    let slow = Msg {
        sleep_ms: 10_000,
        ..msg("slow")
    };
    Frame {
        flags: Flags::MESSAGE | Flags::END_STREAM,
        meta: meta.to_bytes(),
        body: slow.encode_to_vec().into(),
        ..Frame::new(Kind::Request, 1)
    }
    .encode(&mut out);
    sock.write_all(&out).await.unwrap();
    let decoder = FrameDecoder::new();
    let mut buf = BytesMut::new();
    let reply = loop {
        match decoder.decode(&mut buf).unwrap() {
            Some(frame) if frame.kind == Kind::Response => break frame,
            Some(_) => continue,
            None => {
                let n = tokio::time::timeout(Duration::from_secs(10), sock.read_buf(&mut buf))
                    .await
                    .unwrap()
                    .unwrap();
                assert!(n > 0, "connection closed");
            }
        }
    };
    assert!(reply.has(Flags::END_STREAM) && reply.has(Flags::FRAMEWORK_ERROR));
    assert_eq!(reply.status, Code::DeadlineExceeded as u8);
    drop(sock);
    server.stop().await;
}

/// A reply that arrives whole (headers, one message and trailers at once
/// over gRPC) is held to the client's receive limit as one read from the
/// stream is, and the channel goes on. (Over native, the server knows the
/// limit from the client's HELLO and refuses to send.)
#[tokio::test]
async fn a_whole_reply_is_held_to_the_clients_receive_limit() {
    let server = Running::start().await;
    for uri in [native_uri(&server), format!("http://{}", server.addr)] {
        let channel = Channel::builder(&uri)
            .unwrap()
            .max_recv_message_size(1_000)
            .connect()
            .await
            .unwrap();
        let unary = path("Unary");
        let call = |size: usize| {
            let req = Msg {
                payload: vec![9; size],
                ..msg("sized")
            };
            channel.unary(&unary, Request::new(req), codec())
        };
        let reply = call(500).await.unwrap().into_inner();
        assert_eq!(reply.payload, vec![9; 500], "{uri}");
        let status = call(2_000).await.unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{uri}: {status:?}");
        assert!(status.message().contains("1000"), "{uri}: {status:?}");
        let reply = call(10).await.unwrap().into_inner();
        assert_eq!(reply.payload, vec![9; 10], "{uri}");
    }
}
