//! The seed's export/refer and per-interface isolation: several named
//! implementations of one service, and per-service concurrency limits, over
//! gRPC and the native protocol alike.

use std::sync::Arc;
use std::time::Duration;

use ferry::server::{BoxFuture, ServiceLimit};
use ferry::{Channel, Code, Request, ServerCall, Service};

use crate::support::{Msg, Probe, Running, TestService, codec, msg, path};

/// A service that answers every call with its own label.
struct Labelled(&'static str);

impl Service for Labelled {
    fn name(&self) -> &str {
        "test.Echo"
    }

    fn call(&self, call: ServerCall) -> BoxFuture<()> {
        let label = self.0;
        Box::pin(ferry::server::unary(
            call,
            codec(),
            move |_req: Request<Msg>| async move { Ok(ferry::Response::new(msg(label))) },
        ))
    }
}

/// Exports the test service under another name.
struct Renamed(&'static str, TestService);

impl Service for Renamed {
    fn name(&self) -> &str {
        self.0
    }

    fn call(&self, call: ServerCall) -> BoxFuture<()> {
        self.1.call(call)
    }
}

fn uris(server: &Running) -> [String; 2] {
    [server.uri(), format!("ferry://{}", server.addr)]
}

#[tokio::test]
async fn a_client_picks_an_implementation_by_name() {
    let builder = ferry::Server::builder()
        .add_named_service("demo2", Labelled("demo2"))
        .add_named_service("demo3", Labelled("demo3"));
    // The default implementation is the support's TestService.
    let server = Running::start_with(builder).await;
    for uri in uris(&server) {
        let channel = Channel::connect(&uri).await.unwrap();
        let call = |implementation: Option<&'static str>| {
            let channel = channel.clone();
            async move {
                let mut request = Request::new(msg("default"));
                if let Some(name) = implementation {
                    request = request.with_implementation(name);
                }
                channel
                    .unary(&path("Unary"), request, codec())
                    .await
                    .map(|r| r.into_inner().text)
            }
        };
        assert_eq!(call(None).await.unwrap(), "default", "{uri}");
        assert_eq!(call(Some("demo2")).await.unwrap(), "demo2", "{uri}");
        assert_eq!(call(Some("demo3")).await.unwrap(), "demo3", "{uri}");
        let status = call(Some("demo9")).await.unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented, "{uri}");
        assert!(
            status.message().contains("\"demo9\"") && status.message().contains("demo2, demo3"),
            "{uri}: {}",
            status.message()
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn only_named_implementations_say_how_to_pick_one() {
    let server = Running::start_with(ferry::Server::builder().add_named_service(
        "a",
        Renamed(
            "test.Other",
            TestService {
                probe: Arc::new(Probe::default()),
            },
        ),
    ))
    .await;
    let channel = Channel::connect(&server.uri()).await.unwrap();
    let status = channel
        .unary("/test.Other/Unary", Request::new(msg("x")), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(
        status.message().contains("ferry-implementation"),
        "{}",
        status.message()
    );
    let reply = channel
        .unary(
            "/test.Other/Unary",
            Request::new(msg("x")).with_implementation("a"),
            codec(),
        )
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "x");
    drop(channel);
    server.stop().await;
}

#[tokio::test]
async fn a_slow_service_at_its_limit_does_not_delay_another() {
    let other_probe = Arc::new(Probe::default());
    let builder = ferry::Server::builder()
        .add_service(Renamed(
            "test.Fast",
            TestService {
                probe: other_probe.clone(),
            },
        ))
        .limit_service(
            "test.Echo",
            ServiceLimit {
                max_concurrent_calls: 2,
                queue: 1,
            },
        );
    let server = Running::start_with(builder).await;
    for uri in uris(&server) {
        let channel = Channel::connect(&uri).await.unwrap();
        let slow = |ms: u64| {
            let channel = channel.clone();
            tokio::spawn(async move {
                channel
                    .unary(
                        &path("Unary"),
                        Request::new(Msg {
                            sleep_ms: ms,
                            ..msg("slow")
                        }),
                        codec(),
                    )
                    .await
            })
        };
        // Two run, one waits in the queue.
        let running = [slow(3_000), slow(3_000), slow(10)];
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The fourth finds the service and its queue full: refused at once.
        let refused = channel
            .unary(&path("Unary"), Request::new(msg("4th")), codec())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted, "{uri}");
        assert!(
            refused.message().contains("test.Echo"),
            "{}",
            refused.message()
        );
        // Meanwhile another service answers, before any slow call is done.
        for i in 0..20 {
            let reply = channel
                .unary(
                    "/test.Fast/Unary",
                    Request::new(msg(&i.to_string())),
                    codec(),
                )
                .await
                .unwrap();
            assert_eq!(reply.into_inner().text, i.to_string());
        }
        assert!(
            running.iter().all(|call| !call.is_finished()),
            "{uri}: the other service waited for the slow one"
        );
        // The queued call runs once a turn frees up.
        for call in running {
            assert_eq!(call.await.unwrap().unwrap().into_inner().text, "slow");
        }
        // A queued call still ends at its deadline.
        let blockers = [slow(1_000), slow(1_000)];
        tokio::time::sleep(Duration::from_millis(100)).await;
        let status = channel
            .unary(
                &path("Unary"),
                Request::new(msg("late")).with_timeout(Duration::from_millis(200)),
                codec(),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded, "{uri}");
        for call in blockers {
            call.await.unwrap().unwrap();
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn framework_errors_are_told_apart_from_handler_errors() {
    let open = Running::start().await;
    for uri in uris(&open) {
        let channel = Channel::connect(&uri).await.unwrap();
        // A handler's own error, even with a code the framework also uses.
        let failing = Msg {
            fail_code: Code::Unavailable as i32,
            ..msg("business")
        };
        let status = channel
            .unary(&path("Unary"), Request::new(failing), codec())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable);
        assert!(!status.is_framework_error(), "{uri}: {status:?}");
        assert!(status.metadata().get("ferry-error-source").is_none());

        let status = channel
            .unary(&path("Missing"), Request::new(msg("?")), codec())
            .await
            .unwrap_err();
        assert!(status.is_framework_error(), "{uri}: {status:?}");

        let slow = Msg {
            sleep_ms: 5_000,
            ..msg("slow")
        };
        let status = channel
            .unary(
                &path("Unary"),
                Request::new(slow).with_timeout(Duration::from_millis(100)),
                codec(),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert!(status.is_framework_error(), "{uri}: {status:?}");
    }
    open.stop().await;
    let server = Running::start_with(ferry::Server::builder().limit_service(
        "test.Echo",
        ServiceLimit {
            max_concurrent_calls: 0,
            queue: 0,
        },
    ))
    .await;
    for uri in uris(&server) {
        let channel = Channel::connect(&uri).await.unwrap();
        let status = channel
            .unary(&path("Unary"), Request::new(msg("x")), codec())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{uri}");
        assert!(status.is_framework_error(), "{uri}: {status:?}");
    }
    server.stop().await;
}

#[tokio::test]
async fn one_way_calls_return_before_the_handler_finishes() {
    use std::sync::atomic::Ordering;
    let server = Running::start().await;
    for (i, uri) in uris(&server).into_iter().enumerate() {
        let channel = Channel::connect(&uri).await.unwrap();
        let slow = Msg {
            sleep_ms: 1_500,
            ..msg("fire and forget")
        };
        channel
            .one_way(&path("Unary"), Request::new(slow), codec())
            .await
            .unwrap();
        let probe = server.probe.clone();
        // Returned while the handler still runs (or has not even started).
        assert_eq!(probe.finished.load(Ordering::SeqCst), i, "{uri}");
        for _ in 0..500 {
            if probe.finished.load(Ordering::SeqCst) == i + 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            probe.finished.load(Ordering::SeqCst),
            i + 1,
            "{uri}: the handler ran to the end"
        );
        assert_eq!(probe.cancelled.load(Ordering::SeqCst), 0, "{uri}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_one_way_native_call_gets_no_frame_back() {
    use bytes::BytesMut;
    use ferry_wire::native::{Flags, FrameDecoder, Kind};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let server = Running::start().await;
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let out = crate::native::raw_unary("quiet", Flags::ONE_WAY);
    sock.write_all(&out).await.unwrap();
    let probe = server.probe.clone();
    for _ in 0..500 {
        if probe.finished.load(std::sync::atomic::Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(probe.finished.load(std::sync::atomic::Ordering::SeqCst), 1);
    // After the handler finished, only the server's HELLO has come back.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut buf = BytesMut::new();
    let _ = tokio::time::timeout(Duration::from_millis(300), sock.read_buf(&mut buf)).await;
    let mut frames = Vec::new();
    while let Some(frame) = FrameDecoder::new().decode(&mut buf).unwrap() {
        frames.push(frame.kind);
    }
    assert_eq!(frames, [Kind::Hello]);
    drop(sock);
    server.stop().await;
}
