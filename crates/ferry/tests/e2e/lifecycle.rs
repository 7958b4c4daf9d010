//! Connections over their life: graceful shutdown with calls in flight,
//! reconnecting after a restart, fail-fast versus wait-for-ready, refused
//! streams retried transparently, Unix sockets, TLS and mutual TLS.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ferry::tls::{ClientTlsConfig, ServerTlsConfig};
use ferry::{Channel, Code, Delivery, Request, Server};
use tokio::net::TcpListener;

use crate::calls::wait_until;
use crate::certs::pki;
use crate::support::{Msg, Running, TestService, codec, msg, path};
use crate::wiretap::{Wire, Wiretap};

#[tokio::test]
async fn graceful_shutdown_finishes_calls_in_flight() {
    let server = Running::start().await;
    let channel = server.channel().await;
    let slow = |i: usize| {
        let channel = channel.clone();
        tokio::spawn(async move {
            let req = Msg {
                sleep_ms: 300,
                ..msg(&format!("slow {i}"))
            };
            channel
                .unary(&path("Unary"), Request::new(req), codec())
                .await
        })
    };
    let calls: Vec<_> = (0..20).map(slow).collect();
    wait_until(|| server.probe.started.load(Ordering::SeqCst) == 20).await;
    let probe = server.probe.clone();
    let stopping = tokio::spawn(server.stop());
    for (i, call) in calls.into_iter().enumerate() {
        let reply = call.await.unwrap().expect("an accepted call is not lost");
        assert_eq!(reply.into_inner().text, format!("slow {i}"));
    }
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(probe.finished.load(Ordering::SeqCst), 20);
    assert_eq!(probe.cancelled.load(Ordering::SeqCst), 0);
    // The server is gone: a new call fails fast, before anything was sent.
    let status = channel
        .unary(&path("Unary"), Request::new(msg("late")), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.delivery(), Delivery::NotSent);
}

#[tokio::test]
async fn calls_past_the_grace_period_are_cancelled() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Running::start_on(
        listener,
        Server::builder().grace_period(Duration::from_millis(200)),
    );
    let channel = server.channel().await;
    let req = Msg {
        sleep_ms: 10_000,
        ..msg("too slow")
    };
    let call = tokio::spawn({
        let channel = channel.clone();
        async move {
            channel
                .unary(&path("Unary"), Request::new(req), codec())
                .await
        }
    });
    wait_until(|| server.probe.started.load(Ordering::SeqCst) == 1).await;
    let probe = server.probe.clone();
    server.stop().await;
    let status = call.await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.delivery(), Delivery::Unknown);
    wait_until(|| probe.cancelled.load(Ordering::SeqCst) == 1).await;
}

#[tokio::test]
async fn channel_reconnects_after_the_server_restarts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Running::start_on(listener, Server::builder());
    let channel = server.channel().await;
    assert!(
        channel
            .unary(&path("Unary"), Request::new(msg("before")), codec())
            .await
            .is_ok()
    );
    server.stop().await;
    // Down: fail fast.
    let status = channel
        .unary(&path("Unary"), Request::new(msg("down")), codec())
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.delivery()),
        (Code::Unavailable, Delivery::NotSent)
    );
    // Back on the same port: a wait-for-ready call rides out the backoff
    // (1 s ± 20 %) and gets through.
    let listener = TcpListener::bind(addr).await.unwrap();
    let server = Running::start_on(listener, Server::builder());
    let reply = channel
        .unary(
            &path("Unary"),
            Request::new(msg("after"))
                .wait_for_ready(true)
                .with_timeout(Duration::from_secs(5)),
            codec(),
        )
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "after (deadline)");
    server.stop().await;
}

#[tokio::test]
async fn wait_for_ready_waits_until_the_deadline() {
    // Nothing listens on this port.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let channel = Channel::lazy(&format!("http://{addr}")).unwrap();
    let fail_fast = channel
        .unary(&path("Unary"), Request::new(msg("x")), codec())
        .await
        .unwrap_err();
    assert_eq!(
        (fail_fast.code(), fail_fast.delivery()),
        (Code::Unavailable, Delivery::NotSent)
    );
    let started = tokio::time::Instant::now();
    let waited = channel
        .unary(
            &path("Unary"),
            Request::new(msg("x"))
                .wait_for_ready(true)
                .with_timeout(Duration::from_millis(300)),
            codec(),
        )
        .await
        .unwrap_err();
    assert_eq!(waited.code(), Code::DeadlineExceeded);
    assert!(started.elapsed() >= Duration::from_millis(290));
}

#[tokio::test]
async fn refused_streams_are_retried_transparently() {
    // One call at a time on the whole server: the others are refused with
    // REFUSED_STREAM and retried; some succeed on a later attempt.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Running::start_on(listener, Server::builder().max_concurrent_calls(1));
    let channel = server.channel().await;
    let calls = (0..5).map(|i| {
        let channel = channel.clone();
        async move {
            let req = Msg {
                sleep_ms: 50,
                ..msg(&i.to_string())
            };
            channel
                .unary(&path("Unary"), Request::new(req), codec())
                .await
        }
    });
    let results = futures_util::future::join_all(calls).await;
    for r in &results {
        match r {
            Ok(_) => {}
            Err(status) => {
                // Refused on every attempt: still reported as never processed.
                assert_eq!(
                    (status.code(), status.delivery()),
                    (Code::Unavailable, Delivery::Refused),
                    "{status:?}"
                );
            }
        }
    }
    assert!(results.iter().any(Result::is_ok));
    server.stop().await;
}

#[tokio::test]
async fn unix_socket_calls() {
    let dir = std::env::temp_dir().join(format!("ferry-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("echo.sock");
    let _ = std::fs::remove_file(&sock);
    let probe = std::sync::Arc::default();
    let server = Server::builder().add_service(TestService { probe }).build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    let task = tokio::spawn(server.serve_unix(listener, async move {
        let _ = stopped.await;
    }));
    let channel = Channel::connect(&format!("unix:{}", sock.display()))
        .await
        .unwrap();
    let reply = channel
        .unary(&path("Unary"), Request::new(msg("over unix")), codec())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "over unix");
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn tls_server(tls: ServerTlsConfig) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    Running::start_on(listener, Server::builder().tls(tls))
}

#[tokio::test]
async fn calls_over_tls_and_mutual_tls() {
    let pki = pki();
    let server = tls_server(ServerTlsConfig::new(pki.server_identity())).await;
    let uri = format!("https://localhost:{}", server.addr.port());
    let channel = Channel::builder(&uri)
        .unwrap()
        .tls(ClientTlsConfig::new(pki.roots()))
        .connect()
        .await
        .unwrap();
    let reply = channel
        .unary(&path("Unary"), Request::new(msg("secret")), codec())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "secret");
    server.stop().await;

    let mtls = ServerTlsConfig::new(pki.server_identity()).client_ca_roots(pki.roots());
    let server = tls_server(mtls).await;
    let uri = format!("https://localhost:{}", server.addr.port());
    let trusted = ClientTlsConfig::new(pki.roots()).identity(pki.client_identity());
    let channel = Channel::builder(&uri)
        .unwrap()
        .tls(trusted)
        .connect()
        .await
        .unwrap();
    assert!(
        channel
            .unary(&path("Unary"), Request::new(msg("mtls")), codec())
            .await
            .is_ok()
    );
    // A client without a certificate is refused at the handshake; the
    // call reports the connection failure, never sent.
    let anonymous = Channel::builder(&uri)
        .unwrap()
        .tls(ClientTlsConfig::new(pki.roots()))
        .connect_lazy()
        .unwrap();
    let status = anonymous
        .unary(&path("Unary"), Request::new(msg("x")), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    server.stop().await;
}

#[tokio::test]
async fn https_without_tls_settings_is_a_clear_error() {
    let err = Channel::lazy("https://localhost:1").unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("ClientTlsConfig"));
    let err = Channel::lazy("ftp://x").unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn max_connection_age_moves_clients_to_a_new_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let builder = Server::builder()
        .max_connection_age(Duration::from_millis(200), Duration::from_millis(300));
    let server = Running::start_on(listener, builder);
    let channel = server.channel().await;
    // A call that outlives age + grace is cut when the grace ends.
    let long = tokio::spawn({
        let channel = channel.clone();
        async move {
            let req = Msg {
                sleep_ms: 2_000,
                ..msg("long")
            };
            channel
                .unary(&path("Unary"), Request::new(req), codec())
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(250)).await;
    // The first connection is draining: new calls go to a new one.
    for i in 0..3 {
        let reply = channel
            .unary(
                &path("Unary"),
                Request::new(msg(&format!("new {i}"))),
                codec(),
            )
            .await;
        assert_eq!(reply.unwrap().into_inner().text, format!("new {i}"));
    }
    let status = long.await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_channel_can_spread_calls_over_several_connections() {
    // One stream per connection on the server: three calls run at once only
    // if the channel really holds three connections.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Running::start_on(listener, Server::builder().max_concurrent_streams(1));
    let channel = Channel::builder(&server.uri())
        .unwrap()
        .connections(3)
        .connect_lazy()
        .unwrap();
    let calls: Vec<_> = (0..3)
        .map(|i| {
            let channel = channel.clone();
            tokio::spawn(async move {
                let req = Msg {
                    sleep_ms: 300,
                    ..msg(&i.to_string())
                };
                channel
                    .unary(&path("Unary"), Request::new(req), codec())
                    .await
            })
        })
        .collect();
    wait_until(|| server.probe.started.load(Ordering::SeqCst) == 3).await;
    for call in calls {
        assert!(call.await.unwrap().is_ok());
    }
    server.stop().await;
}

#[tokio::test]
async fn keepalive_detects_a_server_that_went_silent() {
    // A "server" that accepts and then never says anything: without
    // keepalive the call below would wait forever.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(sock);
    });
    let channel = Channel::builder(&format!("http://{addr}"))
        .unwrap()
        .keepalive(Duration::from_millis(200), Duration::from_millis(200))
        .connect()
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let status = channel
        .unary(&path("Unary"), Request::new(msg("anyone?")), codec())
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.delivery()),
        (Code::Unavailable, Delivery::Unknown),
        "{status:?}"
    );
    assert!(
        status.message().contains("keepalive"),
        "{}",
        status.message()
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    silent.abort();
}

#[tokio::test]
async fn server_keepalive_closes_a_client_that_went_silent() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let builder =
        Server::builder().keepalive(Duration::from_millis(200), Duration::from_millis(200));
    let server = Running::start_on(listener, builder);
    // A client that says hello and then never answers anything.
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut hello = ferry_wire::conn::PREFACE.to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // empty SETTINGS
    sock.write_all(&hello).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut buf = vec![0u8; 4096];
    let mut received = Vec::new();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
            .await
            .expect("closed in time")
            .unwrap();
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed after {:?}",
        started.elapsed()
    );
    // The last frame before the close is the GOAWAY that says why.
    let text = String::from_utf8_lossy(&received);
    assert!(text.contains("keepalive timeout"), "{text:?}");
    server.stop().await;
}

#[tokio::test]
async fn dropping_every_channel_clone_closes_its_connection() {
    let server = Running::start().await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let channel = server.channel().await;
    let copy = channel.clone();
    assert!(
        copy.unary(&path("Unary"), Request::new(msg("x")), codec())
            .await
            .is_ok()
    );
    assert!(
        metrics.num_alive_tasks() > baseline,
        "a client driver and a server connection run"
    );
    drop(channel);
    drop(copy);
    // The client's driver says goodbye (GOAWAY) and both ends finish.
    wait_until(|| metrics.num_alive_tasks() == baseline).await;
    server.stop().await;
}

/// Waits (up to 10 s) until the wiretap has seen `want`.
async fn wait_for_wire(tap: &Wiretap, what: &str, want: impl Fn(&[Wire]) -> bool) {
    for _ in 0..1000 {
        if want(&tap.events()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never saw {what}: {:?}", tap.events());
}

/// A unary call that keeps its stream open for `ms` milliseconds.
async fn slow_call(channel: &Channel, ms: u64) {
    let req = Msg {
        sleep_ms: ms,
        ..msg("slow")
    };
    let reply = channel
        .unary(&path("Unary"), Request::new(req), codec())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "slow");
}

#[tokio::test]
async fn server_max_connection_idle_ends_idle_connections_only() {
    // The idle clock starts when the connection does; 1 s leaves the call
    // below ample time to open even on a loaded machine.
    let idle = Duration::from_secs(1);
    let server = Running::start_with(Server::builder().max_connection_idle(idle)).await;
    let tap = Wiretap::start(server.addr).await;
    let channel = Channel::connect(&tap.uri()).await.unwrap();
    // A call open well past the idle time keeps the connection: idle means
    // no call open.
    slow_call(&channel, 2_500).await;
    assert!(
        !tap.events()
            .iter()
            .any(|e| matches!(e, Wire::GoAway { .. })),
        "GOAWAY while a call was open: {:?}",
        tap.events()
    );
    // Idle afterwards: the server's GOAWAY, then the connection ends.
    wait_for_wire(&tap, "the server closing connection 1", |events| {
        events.contains(&Wire::Closed {
            n: 1,
            by_client: false,
        })
    })
    .await;
    let goaways: Vec<(bool, u32)> = tap
        .events()
        .iter()
        .filter_map(|e| match e {
            Wire::GoAway {
                from_client,
                last_stream_id,
            } => Some((*from_client, *last_stream_id)),
            _ => None,
        })
        .collect();
    // The first step of the graceful shutdown; the channel, with no call
    // open, leaves at once, so the second GOAWAY (last-stream-id 1) may
    // find the connection gone.
    assert_eq!(goaways.first(), Some(&(false, 0x7fff_ffff)), "{goaways:?}");
    assert!(goaways[1..].iter().all(|g| *g == (false, 1)), "{goaways:?}");
    // The channel connects again for its next call.
    let reply = channel
        .unary(&path("Unary"), Request::new(msg("again")), codec())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "again");
    assert!(tap.events().contains(&Wire::Connected(2)));
    drop(channel);
    tap.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn channel_idle_timeout_closes_the_connection_and_reconnects_lazily() {
    let server = Running::start().await;
    let tap = Wiretap::start(server.addr).await;
    let channel = Channel::builder(&tap.uri())
        .unwrap()
        .idle_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    slow_call(&channel, 2_500).await;
    assert!(
        !tap.events()
            .iter()
            .any(|e| matches!(e, Wire::GoAway { .. })),
        "GOAWAY while a call was open: {:?}",
        tap.events()
    );
    // Idle: the channel says GOAWAY and closes its socket, on its own.
    wait_for_wire(&tap, "the channel closing connection 1", |events| {
        events.contains(&Wire::Closed {
            n: 1,
            by_client: true,
        })
    })
    .await;
    assert!(tap.events().contains(&Wire::GoAway {
        from_client: true,
        last_stream_id: 0
    }));
    assert!(!tap.events().contains(&Wire::Connected(2)));
    // Nothing reconnects until the next call, which then just works.
    let reply = channel
        .unary(&path("Unary"), Request::new(msg("lazy")), codec())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "lazy");
    assert!(tap.events().contains(&Wire::Connected(2)));
    drop(channel);
    tap.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn a_refused_streaming_call_keeps_its_request_stream_untouched() {
    // One call at a time on the whole server, and a slow one holds it: a
    // client-streaming call is refused on every attempt (three, each on a
    // new stream with the same request stream) and reports it, without a
    // request ever having been taken from its stream.
    let server = Running::start_with(Server::builder().max_concurrent_calls(1)).await;
    let channel = server.channel().await;
    let slow = tokio::spawn({
        let channel = channel.clone();
        async move {
            let req = Msg {
                sleep_ms: 60_000,
                ..msg("slow")
            };
            channel
                .unary(&path("Unary"), Request::new(req), codec())
                .await
        }
    });
    wait_until(|| server.probe.started.load(Ordering::SeqCst) == 1).await;
    let polled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = polled.clone();
    // Never yields: each attempt's pump polls it, and gets nothing.
    let requests = futures_util::stream::poll_fn(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        std::task::Poll::<Option<Msg>>::Pending
    });
    let status = channel
        .client_streaming(
            &path("ClientStream"),
            Request::new(requests).with_timeout(Duration::from_secs(20)),
            codec(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.delivery()),
        (Code::Unavailable, Delivery::Refused),
        "{status:?}"
    );
    // One pump per attempt polled the same stream (at least once each).
    assert!(polled.load(Ordering::SeqCst) >= 3, "{polled:?}");
    assert_eq!(server.probe.started.load(Ordering::SeqCst), 1);
    slow.abort();
    let _ = slow.await;
    drop(channel);
    server.stop().await;
}
