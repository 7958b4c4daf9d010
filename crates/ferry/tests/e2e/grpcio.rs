//! Interop smoke test with grpcio, the C core behind Python gRPC: a grpcio
//! client calls a Ferry server, and a Ferry client calls a grpcio server,
//! in all four call shapes, with errors, an unknown method and deadlines.
//!
//! The peer is `tests/py/grpcio_peer.py` (service: `tests/proto/echo.proto`,
//! the same `test.Echo` as `support.rs`). The interpreter comes from
//! `FERRY_PYTHON` or from `scripts/python-env.sh`; without it the tests fail,
//! they never skip.

use std::time::Duration;

use ferry::{Channel, Code, Delivery, Request};
use tokio::time::{Instant, timeout};

use crate::support::{Msg, Running, codec, msg, path};
use crate::wiretap::Wiretap;

/// Bounds every whole test: grpcio's start-up (compiling the stubs) takes
/// about a second, the calls well under one.
const TEST_TIME: Duration = Duration::from_secs(60);

/// What the grpcio client reports against our server, in order.
const CLIENT_CASES: &[&str] = &[
    "unary OK",
    "unary_with_deadline OK",
    "unary_large OK",
    "unary_error OK",
    "server_stream OK",
    "server_stream_error OK",
    "client_stream OK",
    "bidi OK",
    "unimplemented OK",
    "deadline OK",
];

#[tokio::test]
async fn grpcio_client_calls_ferry_server() {
    let python = py::python();
    let server = Running::start().await;
    let target = server.addr.to_string();
    let mut peer = py::Peer::spawn(python, &["--mode", "client", "--target", &target]);
    let lines = timeout(TEST_TIME, peer.lines_until_end())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "grpcio client still running after {TEST_TIME:?}{}",
                peer.log()
            )
        });
    let status = peer.wait(Duration::from_secs(10)).await;
    assert_eq!(lines, CLIENT_CASES, "grpcio client's report{}", peer.log());
    assert!(
        status.success(),
        "grpcio client exited with {status}{}",
        peer.log()
    );
    server.stop().await;
}

#[tokio::test]
async fn ferry_client_calls_grpcio_server() {
    let python = py::python();
    let mut peer = py::Peer::spawn(python, &["--mode", "server", "--port", "0"]);
    timeout(TEST_TIME, async {
        let channel = connect(&mut peer).await;
        call_every_shape(&channel).await;
        deadline_cancels_the_handler(&channel, &mut peer).await;
    })
    .await
    .unwrap_or_else(|_| panic!("test still running after {TEST_TIME:?}{}", peer.log()));
    // Closing stdin stops the server; it must exit cleanly and say nothing
    // more (no handler saw a cancellation it should not have).
    peer.close_stdin();
    let rest = timeout(Duration::from_secs(10), peer.lines_until_end())
        .await
        .expect("grpcio server stops");
    let status = peer.wait(Duration::from_secs(10)).await;
    assert_eq!(rest, Vec::<String>::new(), "{}", peer.log());
    assert!(
        status.success(),
        "grpcio server exited with {status}{}",
        peer.log()
    );
}

/// Every case of `CLIENT_CASES` but the deadline, from our side.
async fn call_every_shape(channel: &Channel) {
    let reply = channel
        .unary(&path("Unary"), Request::new(msg("hello")), codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "hello");

    // grpcio's handler sees the deadline our grpc-timeout carried.
    let reply = channel
        .unary(
            &path("Unary"),
            Request::new(msg("hello")).with_timeout(Duration::from_secs(30)),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "hello (deadline)");

    let payload: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let big = Msg {
        payload: payload.clone(),
        ..msg("big")
    };
    let reply = channel
        .unary(&path("Unary"), Request::new(big), codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.text, "big");
    assert!(reply.payload == payload, "1 MiB payload came back altered");

    let failing = Msg {
        fail_code: Code::NotFound as i32,
        ..msg("missing")
    };
    let status = channel
        .unary(&path("Unary"), Request::new(failing), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(status.message(), "failed as asked: missing");
    assert_eq!(status.delivery(), Delivery::Answered);

    let mut stream = channel
        .server_streaming(
            &path("ServerStream"),
            Request::new(Msg {
                count: 10,
                ..msg("x")
            }),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        got.push(m.text);
    }
    let want: Vec<String> = (0..10).map(|i| format!("x#{i}")).collect();
    assert_eq!(got, want);

    let failing = Msg {
        count: 2,
        fail_code: Code::Aborted as i32,
        ..msg("f")
    };
    let mut stream = channel
        .server_streaming(&path("ServerStream"), Request::new(failing), codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().text, "f#0");
    assert_eq!(stream.message().await.unwrap().unwrap().text, "f#1");
    let status = stream.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted, "{status:?}");
    assert_eq!(status.message(), "stream failed as asked");
    assert_eq!(stream.message().await.unwrap(), None);

    let requests = futures_util::stream::iter((0..5).map(|i| Msg {
        payload: b"p".to_vec(),
        ..msg(&i.to_string())
    }));
    let reply = channel
        .client_streaming(&path("ClientStream"), Request::new(requests), codec())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.count, 5);
    assert_eq!(reply.text, "01234");
    assert_eq!(reply.payload, b"ppppp");

    // The first ping queued before the call opens (the other order is
    // the next test).
    ping_pong(channel, true).await;

    let status = channel
        .unary("/test.Echo/Nope", Request::new(msg("x")), codec())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert_eq!(status.message(), "Method not found!");
}

/// The ping-pong of `calls.rs`, whose first ping is sent only once
/// `bidi_streaming` has returned.
/// grpcio sends response headers only with its first reply, so
/// `bidi_streaming` must return before they arrive.
#[tokio::test]
async fn ferry_bidi_opens_before_grpcio_answers() {
    let python = py::python();
    let mut peer = py::Peer::spawn(python, &["--mode", "server", "--port", "0"]);
    let channel = timeout(TEST_TIME, connect(&mut peer))
        .await
        .unwrap_or_else(|_| panic!("grpcio server did not start{}", peer.log()));
    timeout(Duration::from_secs(10), ping_pong(&channel, false))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the ping-pong with grpcio did not finish in 10 s{}",
                peer.log()
            )
        });
}

/// Ten pings, each sent once the previous reply came back, then the
/// half-close; `queue_first` sends the first ping before the call opens.
async fn ping_pong(channel: &Channel, queue_first: bool) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
    let requests =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    if queue_first {
        tx.send(msg("ping 0")).unwrap();
    }
    let mut replies = channel
        .bidi_streaming(&path("Bidi"), Request::new(requests), codec())
        .await
        .unwrap()
        .into_inner();
    for i in 0..10 {
        if i > 0 || !queue_first {
            tx.send(msg(&format!("ping {i}"))).unwrap();
        }
        let reply = replies.message().await.unwrap().unwrap();
        assert_eq!(reply.text, format!("ping {i}"));
    }
    drop(tx);
    assert_eq!(replies.message().await.unwrap(), None);
}

/// Reads the grpcio server's `LISTENING <port>` and connects to it.
async fn connect(peer: &mut py::Peer) -> Channel {
    let line = peer.line().await;
    let port: u16 = line
        .as_deref()
        .and_then(|l| l.strip_prefix("LISTENING "))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("grpcio server said {line:?}{}", peer.log()));
    Channel::connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("connect to grpcio")
}

/// Our deadline expires first, and grpcio's handler sees its call end.
async fn deadline_cancels_the_handler(channel: &Channel, peer: &mut py::Peer) {
    let slow = Msg {
        sleep_ms: 2_000,
        ..msg("slow")
    };
    let started = Instant::now();
    let status = channel
        .unary(
            &path("Unary"),
            Request::new(slow).with_timeout(Duration::from_millis(200)),
            codec(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
    let line = timeout(Duration::from_secs(2), peer.line())
        .await
        .unwrap_or_else(|_| panic!("grpcio's handler did not see the call end{}", peer.log()));
    assert_eq!(
        line.as_deref(),
        Some("CANCELLED Unary slow"),
        "{}",
        peer.log()
    );
}

/// Finds the project's Python and runs `tests/py/grpcio_peer.py` (or
/// another script of `tests/py`) with it.
pub(crate) mod py {
    use std::io::{BufRead, BufReader, Read};
    use std::path::Path;
    use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::sync::mpsc;

    /// The interpreter with grpcio.
    pub(crate) fn python() -> &'static Path {
        ferry_testkit::python("grpcio and grpcio-tools")
    }

    /// A running `grpcio_peer.py`: its stdout as lines, its stderr kept for
    /// failure messages. Dropping it kills and reaps the process.
    pub(crate) struct Peer {
        child: Child,
        stdin: Option<ChildStdin>,
        lines: mpsc::UnboundedReceiver<String>,
        stderr: Arc<Mutex<String>>,
    }

    impl Peer {
        pub(crate) fn spawn(python: &Path, args: &[&str]) -> Peer {
            Peer::spawn_script(python, "grpcio_peer.py", args)
        }

        /// Runs `tests/py/<name>` with `args`.
        pub(crate) fn spawn_script(python: &Path, name: &str, args: &[&str]) -> Peer {
            let script = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/py")
                .join(name);
            let mut child = Command::new(python)
                .arg("-u")
                .arg(&script)
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "could not start {} {}: {e}; run scripts/python-env.sh",
                        python.display(),
                        script.display()
                    )
                });
            // Plain threads read the pipes (tokio's `process` feature is not
            // enabled); both end at EOF, when the process exits or is killed.
            let (tx, lines) = mpsc::unbounded_channel();
            let stdout = child.stdout.take().expect("piped stdout");
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            let stderr = Arc::new(Mutex::new(String::new()));
            let mut pipe = child.stderr.take().expect("piped stderr");
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]);
                    sink.lock().expect("stderr buffer").push_str(&text);
                }
            });
            Peer {
                stdin: child.stdin.take(),
                child,
                lines,
                stderr,
            }
        }

        /// The next line on stdout, or `None` once stdout closed.
        pub(crate) async fn line(&mut self) -> Option<String> {
            self.lines.recv().await
        }

        /// Every remaining line, until stdout closes.
        pub(crate) async fn lines_until_end(&mut self) -> Vec<String> {
            let mut all = Vec::new();
            while let Some(line) = self.lines.recv().await {
                all.push(line);
            }
            all
        }

        pub(crate) fn close_stdin(&mut self) {
            self.stdin = None;
        }

        /// Waits for the process to exit, for at most `limit`.
        pub(crate) async fn wait(&mut self, limit: Duration) -> ExitStatus {
            let started = tokio::time::Instant::now();
            loop {
                match self.child.try_wait() {
                    Ok(Some(status)) => return status,
                    Ok(None) if started.elapsed() < limit => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Ok(None) => {
                        panic!(
                            "the Python peer still running after {limit:?}{}",
                            self.log()
                        )
                    }
                    Err(e) => panic!("waiting for the Python peer: {e}"),
                }
            }
        }

        /// What the peer wrote on stderr so far, to end a failure message.
        pub(crate) fn log(&self) -> String {
            let stderr = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
            if stderr.is_empty() {
                String::new()
            } else {
                format!("\n--- Python peer's stderr ---\n{stderr}")
            }
        }
    }

    impl Drop for Peer {
        fn drop(&mut self) {
            // Reaping an exited process is harmless; killing one is a no-op.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// grpcio decodes a compressed call whose messages mix flag 0 and flag 1
/// (small, opted out, compressed), and reads such responses from us.
#[tokio::test]
async fn grpcio_reads_mixed_compressed_and_uncompressed_messages() {
    use ferry::Outbound;
    use ferry::compression::Encoding;
    use futures_util::StreamExt;

    let python = py::python();
    // Ferry client → grpcio server, through the wiretap.
    let mut peer = py::Peer::spawn(python, &["--mode", "server", "--port", "0"]);
    timeout(TEST_TIME, async {
        let line = peer.line().await;
        let port: u16 = line
            .as_deref()
            .and_then(|l| l.strip_prefix("LISTENING "))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("grpcio server said {line:?}{}", peer.log()));
        let tap = Wiretap::start(([127, 0, 0, 1], port).into()).await;
        let channel = Channel::builder(&tap.uri())
            .unwrap()
            .send_compressed(Encoding::Gzip)
            .connect()
            .await
            .unwrap();
        let big = |text: &str| Msg {
            payload: vec![b'q'; 4096],
            ..msg(text)
        };
        let requests = futures_util::stream::iter(vec![
            Outbound::new(big("a")),
            Outbound::uncompressed(big("b")),
            Outbound::new(msg("c")),
            Outbound::new(big("d")),
        ]);
        let reply = channel
            .client_streaming(&path("ClientStream"), Request::new(requests), codec())
            .await
            .unwrap()
            .into_inner();
        assert_eq!((reply.text.as_str(), reply.count), ("abcd", 4));
        assert!(reply.payload == vec![b'q'; 3 * 4096]);
        assert_eq!(tap.request_flags(), [1, 0, 0, 1]);
        tap.clear();
        let requests = futures_util::stream::iter(vec![
            Outbound::uncompressed(big("x")),
            Outbound::new(big("y")),
        ]);
        let stream = channel
            .bidi_streaming(&path("Bidi"), Request::new(requests), codec())
            .await
            .unwrap()
            .into_inner();
        let got: Vec<String> = stream.map(|m| m.unwrap().text).collect().await;
        assert_eq!(got, ["x", "y"]);
        assert_eq!(tap.request_flags(), [0, 1]);
        drop(channel);
        tap.stop().await;
    })
    .await
    .unwrap_or_else(|_| panic!("test still running after {TEST_TIME:?}{}", peer.log()));
    peer.close_stdin();
    let status = peer.wait(Duration::from_secs(10)).await;
    assert!(
        status.success(),
        "grpcio server exited with {status}{}",
        peer.log()
    );

    // grpcio client → Ferry server answering gzip: every case of the smoke
    // test passes with responses that mix both flags.
    let server =
        Running::start_with(ferry::Server::builder().send_compressed(Encoding::Gzip)).await;
    let tap = Wiretap::start(server.addr).await;
    let target = tap.addr.to_string();
    let mut peer = py::Peer::spawn(python, &["--mode", "client", "--target", &target]);
    let lines = timeout(TEST_TIME, peer.lines_until_end())
        .await
        .unwrap_or_else(|_| panic!("grpcio client still running{}", peer.log()));
    let status = peer.wait(Duration::from_secs(10)).await;
    assert_eq!(lines, CLIENT_CASES, "grpcio client's report{}", peer.log());
    assert!(
        status.success(),
        "grpcio client exited with {status}{}",
        peer.log()
    );
    let flags = tap.response_flags();
    assert!(
        flags.contains(&0) && flags.contains(&1),
        "responses should mix both flags: {flags:?}"
    );
    tap.stop().await;
    server.stop().await;
}
