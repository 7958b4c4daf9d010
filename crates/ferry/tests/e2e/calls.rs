//! The four call shapes with 0, 1 and many messages, sizes, statuses and
//! concurrency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferry::{Code, Delivery, Request};
use futures_util::StreamExt;

use crate::support::{Msg, Running, codec, msg, path};

#[tokio::test]
async fn unary_echoes_and_carries_business_errors() {
    let server = Running::start().await;
    let channel = server.channel().await;
    let reply = channel
        .unary(&path("Unary"), Request::new(msg("hello")), codec())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "hello");

    let failing = Msg {
        fail_code: Code::NotFound as i32,
        ..msg("missing")
    };
    let status = channel
        .unary(&path("Unary"), Request::new(failing), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "failed as asked: missing");
    assert_eq!(status.delivery(), Delivery::Answered);
    server.stop().await;
}

#[tokio::test]
async fn unknown_method_and_service_are_unimplemented() {
    let server = Running::start().await;
    let channel = server.channel().await;
    let status = channel
        .unary("/test.Echo/Nope", Request::new(msg("x")), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(
        status.message(),
        "method Nope not found in service test.Echo"
    );
    let status = channel
        .unary("/other.Svc/Unary", Request::new(msg("x")), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(status.message(), "unknown service other.Svc");
    server.stop().await;
}

#[tokio::test]
async fn server_streaming_with_zero_one_and_many_messages() {
    let server = Running::start().await;
    let channel = server.channel().await;
    for count in [0u32, 1, 100] {
        let req = Msg { count, ..msg("s") };
        let mut stream = channel
            .server_streaming(&path("ServerStream"), Request::new(req), codec())
            .await
            .unwrap()
            .into_inner();
        let mut got = Vec::new();
        while let Some(m) = stream.message().await.unwrap() {
            got.push(m.text);
        }
        let want: Vec<String> = (0..count).map(|i| format!("s#{i}")).collect();
        assert_eq!(got, want);
        // The end is reported once; afterwards the stream stays ended.
        assert_eq!(stream.message().await.unwrap(), None);
    }
    // A stream that fails after two messages: both arrive, then the status.
    let req = Msg {
        count: 2,
        fail_code: Code::Aborted as i32,
        ..msg("f")
    };
    let mut stream = channel
        .server_streaming(&path("ServerStream"), Request::new(req), codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().text, "f#0");
    assert_eq!(stream.message().await.unwrap().unwrap().text, "f#1");
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(
        stream.message().await.unwrap(),
        None,
        "the error is reported exactly once"
    );
    server.stop().await;
}

#[tokio::test]
async fn client_streaming_with_zero_one_and_many_messages() {
    let server = Running::start().await;
    let channel = server.channel().await;
    for n in [0usize, 1, 50] {
        let requests = futures_util::stream::iter((0..n).map(|i| msg(&i.to_string())));
        let reply = channel
            .client_streaming(&path("ClientStream"), Request::new(requests), codec())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.count as usize, n);
        let want: String = (0..n).map(|i| i.to_string()).collect();
        assert_eq!(reply.text, want);
    }
    server.stop().await;
}

/// Messages whose large field is sent by reference (in pieces, one DATA
/// frame) arrive byte for byte, over both protocols, in both directions,
/// at sizes around the threshold where the sender stops copying.
#[tokio::test]
async fn large_fields_on_streams_arrive_byte_for_byte() {
    let server = Running::start().await;
    let sizes = [8 * 1024 - 1, 8 * 1024, 8 * 1024 + 1, 100_000, 1 << 20];
    let messages: Vec<Msg> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| Msg {
            count: i as u32,
            payload: (0..size).map(|j| (j * 31 + i) as u8).collect(),
            ..msg(&format!("m{i}"))
        })
        .collect();
    for uri in [server.uri(), format!("ferry://{}", server.addr)] {
        let channel = ferry::Channel::connect(&uri).await.unwrap();
        let echoed: Vec<Msg> = channel
            .bidi_streaming(
                &path("Bidi"),
                Request::new(futures_util::stream::iter(messages.clone())),
                codec(),
            )
            .await
            .unwrap()
            .into_inner()
            .map(|m| m.unwrap())
            .collect()
            .await;
        assert!(echoed == messages, "{uri}: the echo differs");
        let total = channel
            .client_streaming(
                &path("ClientStream"),
                Request::new(futures_util::stream::iter(messages.clone())),
                codec(),
            )
            .await
            .unwrap()
            .into_inner();
        let want: Vec<u8> = messages.iter().flat_map(|m| m.payload.clone()).collect();
        assert!(total.payload == want, "{uri}: the client stream differs");
        assert_eq!(total.count as usize, sizes.len());
    }
    server.stop().await;
}

#[tokio::test]
async fn bidi_ping_pong() {
    let server = Running::start().await;
    let channel = server.channel().await;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let requests =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    let mut replies = channel
        .bidi_streaming(&path("Bidi"), Request::new(requests), codec())
        .await
        .unwrap()
        .into_inner();
    for i in 0..20 {
        tx.send(msg(&format!("ping {i}"))).unwrap();
        let reply = replies.message().await.unwrap().unwrap();
        assert_eq!(reply.text, format!("ping {i}"));
    }
    drop(tx);
    assert_eq!(replies.message().await.unwrap(), None);
    server.stop().await;
}

#[tokio::test]
async fn large_messages_both_ways_and_the_size_limit() {
    let server = Running::start().await;
    let channel = server.channel().await;
    for size in [0usize, 1, 64 << 10, 1 << 20, (4 << 20) - 64] {
        let req = Msg {
            payload: vec![0xab; size],
            ..msg("big")
        };
        let reply = channel
            .unary(&path("Unary"), Request::new(req), codec())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.payload.len(), size);
        assert!(reply.payload.iter().all(|b| *b == 0xab));
    }
    // Over the 4 MiB default: the server refuses from the length prefix.
    let req = Msg {
        payload: vec![1; (4 << 20) + 1],
        ..msg("too big")
    };
    let status = channel
        .unary(&path("Unary"), Request::new(req), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    // Many messages of 1 MiB stream through one call.
    let req = Msg {
        count: 8,
        payload: vec![7; 1 << 20],
        ..msg("many")
    };
    let stream = channel
        .server_streaming(&path("ServerStream"), Request::new(req), codec())
        .await
        .unwrap()
        .into_inner();
    let sizes: Vec<usize> = stream.map(|m| m.unwrap().payload.len()).collect().await;
    assert_eq!(sizes, vec![1 << 20; 8]);
    server.stop().await;
}

#[tokio::test]
async fn a_thousand_concurrent_calls_on_one_channel() {
    let server = Running::start().await;
    let channel = server.channel().await;
    let calls = (0..1000).map(|i| {
        let channel = channel.clone();
        async move {
            let reply = channel
                .unary(
                    &path("Unary"),
                    Request::new(msg(&format!("call {i}"))),
                    codec(),
                )
                .await?;
            Ok::<_, ferry::Status>(reply.into_inner().text == format!("call {i}"))
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let ok = results.iter().filter(|r| matches!(r, Ok(true))).count();
    assert_eq!(
        ok,
        1000,
        "{:?}",
        results.iter().find(|r| !matches!(r, Ok(true)))
    );
    server.stop().await;
}

#[tokio::test]
async fn deadlines_reach_the_handler_and_expire_on_both_sides() {
    let server = Running::start().await;
    let channel = server.channel().await;
    let reply = channel
        .unary(
            &path("Unary"),
            Request::new(msg("in time")).with_timeout(Duration::from_secs(5)),
            codec(),
        )
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "in time (deadline)");

    let slow = Msg {
        sleep_ms: 5_000,
        ..msg("slow")
    };
    let started = tokio::time::Instant::now();
    let status = channel
        .unary(
            &path("Unary"),
            Request::new(slow).with_timeout(Duration::from_millis(200)),
            codec(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(started.elapsed() < Duration::from_secs(2));
    // The server's handler was dropped: its work did not go on.
    wait_until(|| {
        server
            .probe
            .cancelled
            .load(std::sync::atomic::Ordering::SeqCst)
            == 1
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn client_cancel_stops_the_handler() {
    let server = Running::start().await;
    let channel = server.channel().await;
    let stream = long_stream(&channel, |r| r).await;
    drop(stream);
    wait_until(|| server.probe.cancelled.load(Ordering::SeqCst) == 1).await;
    assert_eq!(
        server
            .probe
            .finished
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    server.stop().await;
}

#[tokio::test]
async fn an_explicit_cancel_reports_cancelled_and_stops_the_handler() {
    let server = Running::start().await;
    let channel = server.channel().await;
    let mut stream = long_stream(&channel, |r| r).await;
    let status = stream.cancel();
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    // Nothing more comes, and the server's handler was dropped.
    assert_eq!(stream.message().await.unwrap(), None);
    wait_until(|| server.probe.cancelled.load(Ordering::SeqCst) == 1).await;

    // A call that already ended keeps its outcome.
    let req = Msg {
        count: 2,
        ..msg("short")
    };
    let mut stream = channel
        .server_streaming(&path("ServerStream"), Request::new(req), codec())
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}
    assert_eq!(stream.cancel().code(), Code::Ok);
    drop(stream);
    drop(channel);
    server.stop().await;
}

/// A server stream of 1,000 messages 20 ms apart (so it is still running
/// when a test cancels it), opened with the request `adjust` makes and read
/// up to its first message.
pub(crate) async fn long_stream(
    channel: &ferry::Channel,
    adjust: impl FnOnce(Request<Msg>) -> Request<Msg>,
) -> ferry::Streaming<Msg> {
    let req = Msg {
        count: 1000,
        sleep_ms: 20,
        ..msg("long")
    };
    let mut stream = channel
        .server_streaming(&path("ServerStream"), adjust(Request::new(req)), codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().text, "long#0");
    stream
}

/// Polls `f` until it holds, for at most five seconds.
pub(crate) async fn wait_until(f: impl Fn() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached in 5 s");
}

/// A client that reads slowly holds the server's handler back through flow
/// control: the handler produces only what the windows and the send buffer
/// let through, not the whole stream.
#[tokio::test]
async fn a_slow_reader_pushes_back_on_the_handler() {
    let server = Running::start().await;
    // Fixed windows on the reading side, so the bound below is exact: BDP
    // growth (tested in the wire core) may widen the stream window up to
    // `max_window`.
    let config = ferry_wire::conn::Config {
        adaptive_window: false,
        ..ferry_wire::conn::Config::default()
    };
    let channel = ferry::Channel::builder(&server.uri())
        .unwrap()
        .connection_config(config)
        .connect()
        .await
        .unwrap();
    let req = Msg {
        count: 1_000,
        payload: vec![7; 64 << 10],
        ..msg("big")
    };
    let mut stream = channel
        .server_streaming(&path("ServerStream"), Request::new(req), codec())
        .await
        .unwrap()
        .into_inner();
    for _ in 0..5 {
        assert_eq!(
            stream.message().await.unwrap().unwrap().payload.len(),
            64 << 10
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let produced = server
        .probe
        .produced
        .load(std::sync::atomic::Ordering::SeqCst);
    // 64 MiB were asked for. What may exist, in bytes of 65,541-byte framed
    // messages: the five read; the client's stream window, which
    // `expect_message` opens to room for two messages (so the next one is in
    // flight while one is read); and the server's send buffer, where the
    // handler may queue a message while less than 64 KiB waits, so 64 KiB
    // plus one message. 8 messages and 64 KiB: the handler can be 8
    // messages in (8 seen), never 9; without backpressure it runs to 1,000.
    const FRAMED: usize = (64 << 10) + 5;
    let bound = 5 * FRAMED + 2 * FRAMED + (64 << 10) + FRAMED;
    assert!(
        produced * FRAMED <= bound,
        "the handler ran ahead: {produced} messages produced, bound {bound} bytes"
    );
    drop(stream);
    wait_until(|| {
        server
            .probe
            .cancelled
            .load(std::sync::atomic::Ordering::SeqCst)
            == 1
    })
    .await;
    server.stop().await;
}

/// The other direction: a client-streaming handler that stops reading holds
/// the client's producer back through flow control. The application's
/// stream is pulled only as fast as the windows and the send buffer drain,
/// not buffered without bound.
#[tokio::test]
async fn a_slow_handler_pushes_back_on_the_client_stream() {
    // Fixed windows, so the bound below is exact: BDP growth (tested in the
    // wire core) may widen the stream window by a few messages' worth.
    let config = ferry_wire::conn::Config {
        adaptive_window: false,
        ..ferry_wire::conn::Config::default()
    };
    let server = Running::start_with(ferry::Server::builder().connection_config(config)).await;
    let channel = server.channel().await;
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    // 1,000 messages of 64 KiB; the handler reads six and then sleeps on
    // the sixth far longer than this test runs.
    let requests = futures_util::stream::iter(0..1_000u32).map(move |i| {
        counter.fetch_add(1, Ordering::SeqCst);
        Msg {
            sleep_ms: if i == 5 { 60_000 } else { 0 },
            payload: vec![7; 64 << 10],
            ..msg("big")
        }
    });
    let call = tokio::spawn({
        let channel = channel.clone();
        async move {
            channel
                .client_streaming(&path("ClientStream"), Request::new(requests), codec())
                .await
        }
    });
    wait_until(|| pulled.load(Ordering::SeqCst) >= 6).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let taken = pulled.load(Ordering::SeqCst);
    // 64 MiB were offered; what was taken is, in 65,541-byte framed
    // messages: the six the handler read, two in the stream window (opened
    // to room for two messages), the send buffer's 64 KiB plus the message
    // queued while less than that waited, and the one the pump holds while
    // it waits for room. Ten messages and 64 KiB: ten at most (nine seen).
    assert!(
        taken <= 10,
        "the client stream ran ahead: {taken} messages taken"
    );
    call.abort();
    let _ = call.await;
    wait_until(|| server.probe.cancelled.load(Ordering::SeqCst) == 1).await;
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        taken,
        "nothing more taken after the cancel"
    );
    drop(channel);
    server.stop().await;
}

/// What generated code does: call the runtime from functions generic over
/// the message types, with request streams of plain messages. The
/// per-message `IntoOutbound` bound must resolve there without annotations.
async fn generic_client_streaming<Req, Resp, S>(
    channel: &ferry::Channel,
    path: &str,
    requests: S,
) -> Result<ferry::Response<Resp>, ferry::Status>
where
    Req: prost::Message + Default + 'static,
    Resp: prost::Message + Default + 'static,
    S: futures_core::Stream<Item = Req> + Send + 'static,
{
    channel
        .client_streaming(
            path,
            Request::new(requests),
            ferry::ProstCodec::<Req, Resp>::new(),
        )
        .await
}

async fn generic_bidi<Req, Resp, S>(
    channel: &ferry::Channel,
    path: &str,
    requests: S,
) -> Result<ferry::Response<ferry::Streaming<Resp>>, ferry::Status>
where
    Req: prost::Message + Default + 'static,
    Resp: prost::Message + Default + 'static,
    S: futures_core::Stream<Item = Req> + Send + 'static,
{
    channel
        .bidi_streaming(
            path,
            Request::new(requests),
            ferry::ProstCodec::<Req, Resp>::new(),
        )
        .await
}

#[tokio::test]
async fn generic_callers_and_empty_request_streams() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let server = Running::start().await;
    let channel = server.channel().await;
    let reply: Msg = generic_client_streaming(
        &channel,
        &path("ClientStream"),
        futures_util::stream::iter(Vec::<Msg>::new()),
    )
    .await
    .unwrap()
    .into_inner();
    assert_eq!(reply.count, 0);
    let stream = generic_bidi::<Msg, Msg, _>(
        &channel,
        &path("Bidi"),
        futures_util::stream::iter(vec![msg("one")]),
    )
    .await
    .unwrap()
    .into_inner();
    // Response streams can be shared across tasks and threads.
    send_sync(&stream);
    let got: Vec<String> = stream.map(|m| m.unwrap().text).collect().await;
    assert_eq!(got, ["one"]);
    drop(channel);
    server.stop().await;
}
