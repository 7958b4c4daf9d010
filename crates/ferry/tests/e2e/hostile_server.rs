//! A misbehaving server against the [`Channel`]: `tests/py/hostile_server.py`
//! (Python's `h2`) answers each method with one protocol mistake. For each,
//! the call must end with a clear [`Status`] carrying the code the gRPC spec
//! (PROTOCOL-HTTP2.md, the HTTP-to-gRPC table) or the documented Ferry
//! mapping gives, within its deadline, without a panic, and the same channel
//! must then still make a good call.

use std::time::Duration;

use ferry::{Channel, Code, Delivery, Request, Status};
use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio::time::timeout;

use crate::grpcio::py;
use crate::support::{Msg, codec, msg};

/// Each call's own deadline: a case that never answers ends by it.
const CALL_DEADLINE: Duration = Duration::from_secs(5);
/// The test's bound on one call: longer than its deadline, so hitting it
/// means the call hung past its deadline.
const HANG: Duration = Duration::from_secs(20);

fn path(case: &str) -> String {
    format!("/test.Echo/{case}")
}

async fn start() -> (py::Peer, String) {
    let python = ferry_testkit::python("the `h2` package to play a misbehaving server");
    let mut peer = py::Peer::spawn_script(python, "hostile_server.py", &["--port", "0"]);
    let line = timeout(HANG, peer.line()).await.ok().flatten();
    let port: u16 = line
        .as_deref()
        .and_then(|l| l.strip_prefix("LISTENING "))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("hostile server said {line:?}{}", peer.log()));
    (peer, format!("http://127.0.0.1:{port}"))
}

/// A unary call to `case`, bounded by its deadline and by [`HANG`].
async fn call(channel: &Channel, case: &str, deadline: Duration) -> Result<Msg, Status> {
    let request = Request::new(msg(case)).with_timeout(deadline);
    let path = path(case);
    let call = channel.unary(&path, request, codec());
    match timeout(HANG, call).await {
        Ok(result) => result.map(|r| r.into_inner()),
        Err(_) => panic!("{case}: the call hung past its {deadline:?} deadline"),
    }
}

/// The channel still makes a good call.
async fn still_works(channel: &Channel, after: &str) {
    let reply = call(channel, "Ok", CALL_DEADLINE)
        .await
        .unwrap_or_else(|s| panic!("a good call after {after} failed: {s:?}"));
    assert_eq!(
        (reply.text.as_str(), reply.count),
        ("Ok", 1),
        "after {after}"
    );
}

#[tokio::test]
async fn a_misbehaving_server_gets_clear_statuses() {
    let (peer, uri) = start().await;
    let channel = Channel::connect(&uri).await.expect("connect");
    still_works(&channel, "connecting").await;
    // (case, code, message)
    let cases: &[(&str, Code, &str)] = &[
        (
            "StatusNonNumeric",
            Code::Unknown,
            "malformed grpc-status \"abc\"",
        ),
        (
            "StatusOutOfRange",
            Code::Unknown,
            "grpc-status 99 is not a gRPC code",
        ),
        (
            "StatusNegative",
            Code::Unknown,
            "malformed grpc-status \"-1\"",
        ),
        (
            "BadPercent",
            Code::InvalidArgument,
            "bad %zz%4 \u{fffd}(\u{fffd} A",
        ),
        ("GarbageDetails", Code::NotFound, "gone"),
        (
            "NoTrailers",
            Code::Internal,
            "server ended the stream without trailers",
        ),
        (
            "NoGrpcStatus",
            Code::Unknown,
            "grpc-status missing from the trailers",
        ),
        ("TrailersOnly200", Code::PermissionDenied, "denied"),
        (
            "TrailersOnlyNoStatus",
            Code::Unknown,
            "response ended without grpc-status",
        ),
        ("Http400", Code::Internal, ""),
        ("Http401", Code::Unauthenticated, ""),
        ("Http403", Code::PermissionDenied, ""),
        ("Http404", Code::Unimplemented, ""),
        ("Http429", Code::Unavailable, ""),
        ("Http500", Code::Unknown, ""),
        ("Http502", Code::Unavailable, ""),
        ("Http503", Code::Unavailable, ""),
        ("Http504", Code::Unavailable, ""),
        ("HttpWithBody", Code::Unavailable, ""),
        ("WrongContentType", Code::Unknown, ""),
        ("OversizedPrefix", Code::ResourceExhausted, ""),
        ("FlagNoEncoding", Code::Internal, ""),
        // What grpc-go answers too: we never offered that encoding.
        (
            "UnknownEncoding",
            Code::Unimplemented,
            "grpc: Decompressor is not installed for grpc-encoding \"snappy\"",
        ),
        ("BadFlag", Code::Internal, ""),
        ("RstMidMessage", Code::Internal, ""),
        ("CancelMidMessage", Code::Cancelled, ""),
        ("LargeHeaders", Code::ResourceExhausted, ""),
        ("LargeTrailers", Code::ResourceExhausted, ""),
        // A header block too large to even decode (more than twice the
        // list limit) ends the connection, as a CONTINUATION flood would:
        // the call fails as on any lost connection.
        ("OversizedHeaders", Code::Unavailable, ""),
        ("OversizedTrailers", Code::Unavailable, ""),
        ("GoawayMidCall", Code::Unavailable, ""),
    ];
    let mut wrong = Vec::new();
    for &(case, code, message) in cases {
        let status = match call(&channel, case, CALL_DEADLINE).await {
            Ok(reply) => panic!("{case}: answered {reply:?}"),
            Err(status) => status,
        };
        if status.code() != code || (!message.is_empty() && status.message() != message) {
            wrong.push(format!("{case}: want {code:?} {message:?}, got {status:?}"));
        }
        still_works(&channel, case).await;
    }
    assert!(wrong.is_empty(), "wrong statuses:\n{}", wrong.join("\n"));
    // Garbage details are dropped; the code and message stand.
    let status = call(&channel, "GarbageDetails", CALL_DEADLINE)
        .await
        .unwrap_err();
    assert!(status.details().is_empty(), "{status:?}");
    // A GOAWAY that covers the call, sent in the middle of its answer: the
    // call completes, and the next one goes to a new connection.
    let reply = call(&channel, "GoawayGraceful", CALL_DEADLINE)
        .await
        .unwrap_or_else(|s| panic!("GoawayGraceful: {s:?}"));
    assert_eq!(reply.text, "GoawayGraceful");
    still_works(&channel, "GoawayGraceful").await;
    drop(peer);
}

#[tokio::test]
async fn a_server_that_never_answers_is_bounded_by_the_deadline() {
    let (peer, uri) = start().await;
    let channel = Channel::connect(&uri).await.expect("connect");
    // Another call runs meanwhile on the same connection.
    let silent = call(&channel, "Silent", Duration::from_secs(1));
    let good = async {
        still_works(&channel, "nothing").await;
    };
    let (silent, ()) = tokio::join!(silent, good);
    let status = silent.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    still_works(&channel, "Silent").await;
    drop(peer);
}

#[tokio::test]
async fn a_server_stream_cut_mid_message_ends_once_with_its_status() {
    let (peer, uri) = start().await;
    let channel = Channel::connect(&uri).await.expect("connect");
    for (case, code) in [
        ("RstMidMessage", Code::Internal),
        ("OversizedPrefix", Code::ResourceExhausted),
        ("NoTrailers", Code::Internal),
        ("GoawayMidCall", Code::Unavailable),
    ] {
        let path = path(case);
        let request = Request::new(msg(case)).with_timeout(CALL_DEADLINE);
        let opened = timeout(HANG, channel.server_streaming(&path, request, codec()))
            .await
            .expect("no hang");
        let mut stream = match opened {
            Ok(response) => response.into_inner(),
            Err(status) => panic!("{case}: headers were fine, got {status:?}"),
        };
        let mut seen = Vec::new();
        // Bounded: a stream that kept returning its error would fill `seen`.
        for _ in 0..10 {
            match timeout(HANG, stream.message()).await.expect("no hang") {
                Ok(Some(m)) => seen.push(Ok(m.text)),
                Ok(None) => break,
                Err(status) => seen.push(Err(status.code())),
            }
        }
        let want = match case {
            // The one whole message arrives before the stream ends wrongly.
            "NoTrailers" => vec![Ok(case.to_owned()), Err(code)],
            _ => vec![Err(code)],
        };
        assert_eq!(seen, want, "{case}");
        still_works(&channel, case).await;
    }
    drop(peer);
}

/// A request stream that yields `texts` only once `gate` fires.
fn gated(
    gate: oneshot::Receiver<()>,
    texts: &[&str],
) -> impl futures_core::Stream<Item = Msg> + Send + 'static {
    let messages: Vec<Msg> = texts.iter().map(|t| msg(t)).collect();
    futures_util::stream::once(async move {
        let _ = gate.await;
        futures_util::stream::iter(messages)
    })
    .flatten()
}

/// Opens `gate` once the client has retried `case`: the server refused its
/// first request (`word`: `REFUSED` or `GOAWAY`) and saw a second one. The
/// request stream is still closed until then, so it cannot have been taken
/// from before the client saw the refusal.
async fn open_on_retry(peer: &mut py::Peer, case: &str, word: &str, gate: oneshot::Sender<()>) {
    let mut seen = Vec::new();
    let request = format!("REQUEST {case} ");
    loop {
        let line = timeout(HANG, peer.line()).await.ok().flatten();
        let Some(line) = line else {
            panic!("server said {seen:?} and then nothing{}", peer.log());
        };
        seen.push(line.clone());
        // The retry may come in on another connection's thread before the
        // first connection's thread has said what it did.
        let requests = seen.iter().filter(|l| l.starts_with(&request)).count();
        if requests == 2 && seen.iter().any(|l| l.starts_with(word)) {
            break;
        }
        assert!(seen.len() < 3, "expected two requests and {word}: {seen:?}");
    }
    let _ = gate.send(());
}

#[tokio::test]
async fn streaming_calls_refused_before_any_request_was_taken_are_retried() {
    let (mut peer, uri) = start().await;
    let channel = Channel::connect(&uri).await.expect("connect");
    for (case, word) in [
        ("RefuseFirstClient", "REFUSED"),
        ("GoawayFirstClient", "GOAWAY"),
    ] {
        let (gate, gated_rx) = oneshot::channel();
        let path = path(case);
        let request = Request::new(gated(gated_rx, &["a", "b", "c"])).with_timeout(CALL_DEADLINE);
        let call = channel.client_streaming(&path, request, codec());
        let (reply, ()) = tokio::join!(
            timeout(HANG, call),
            open_on_retry(&mut peer, case, word, gate)
        );
        let reply = reply
            .expect("no hang")
            .unwrap_or_else(|s| panic!("{case}: {s:?}"));
        assert_eq!(
            (reply.get_ref().text.as_str(), reply.get_ref().count),
            ("abc", 3),
            "{case}"
        );
    }
    for (case, word) in [
        ("RefuseFirstBidi", "REFUSED"),
        ("GoawayFirstBidi", "GOAWAY"),
    ] {
        let (gate, gated_rx) = oneshot::channel();
        let path = path(case);
        let request = Request::new(gated(gated_rx, &["x", "y"])).with_timeout(CALL_DEADLINE);
        let read = async {
            let mut stream = channel
                .bidi_streaming(&path, request, codec())
                .await
                .unwrap_or_else(|s| panic!("{case}: {s:?}"))
                .into_inner();
            if case.starts_with("Refuse") {
                // The refusal shows up here first; the retry's headers come.
                let headers = stream.response_headers().await;
                assert!(headers.is_ok(), "{case}: {headers:?}");
            }
            stream
                .map(|m| m.map(|m| (m.text, m.count)))
                .collect::<Vec<_>>()
                .await
        };
        let (replies, ()) = tokio::join!(
            timeout(HANG, read),
            open_on_retry(&mut peer, case, word, gate)
        );
        let replies = replies.expect("no hang");
        assert_eq!(replies, [Ok(("xy".to_owned(), 2))], "{case}");
    }
    still_works(&channel, "the retries").await;
}

#[tokio::test]
async fn a_streaming_call_refused_after_its_first_request_fails_as_refused() {
    let (mut peer, uri) = start().await;
    let channel = Channel::connect(&uri).await.expect("connect");
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = taken.clone();
    // The stream never ends: the call cannot complete, only be refused.
    let requests = futures_util::stream::iter(["a", "b"])
        .map(msg)
        .chain(futures_util::stream::pending())
        .inspect(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    let request = Request::new(requests).with_timeout(CALL_DEADLINE);
    let path = path("RefuseAfterFirst");
    let status = timeout(HANG, channel.client_streaming(&path, request, codec()))
        .await
        .expect("no hang")
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.delivery(), Delivery::Refused, "{status:?}");
    assert!(taken.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let mut lines = Vec::new();
    for _ in 0..2 {
        lines.push(timeout(HANG, peer.line()).await.ok().flatten());
    }
    assert!(
        lines[0]
            .as_deref()
            .is_some_and(|l| l.starts_with("REQUEST RefuseAfterFirst "))
            && lines[1]
                .as_deref()
                .is_some_and(|l| l.starts_with("REFUSED")),
        "{lines:?}"
    );
    still_works(&channel, "RefuseAfterFirst").await;
}
