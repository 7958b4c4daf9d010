//! Cancelling client calls through `Request::with_cancellation`: every call
//! shape, over gRPC and the native protocol. The call returns CANCELLED and
//! the server's handler is dropped.

use std::sync::atomic::Ordering;
use std::time::Duration;

use ferry::{CancellationToken, Channel, Code, Request};
use futures_util::StreamExt;

use crate::calls::{long_stream, wait_until};
use crate::support::{Msg, Running, codec, msg, path};

fn uris(server: &Running) -> [String; 2] {
    [server.uri(), format!("ferry://{}", server.addr)]
}

/// Cancels `token` after a moment, from another task.
fn cancel_soon(token: &CancellationToken) {
    let token = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        token.cancel();
    });
}

fn slow(ms: u64) -> Msg {
    Msg {
        sleep_ms: ms,
        ..msg("slow")
    }
}

#[tokio::test]
async fn a_cancelled_unary_call_returns_cancelled_and_stops_the_handler() {
    let server = Running::start().await;
    for (i, uri) in uris(&server).iter().enumerate() {
        let channel = Channel::connect(uri).await.unwrap();
        let token = CancellationToken::new();
        cancel_soon(&token);
        let started = tokio::time::Instant::now();
        let status = channel
            .unary(
                &path("Unary"),
                Request::new(slow(10_000)).with_cancellation(token),
                codec(),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Cancelled, "{uri}: {status:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{uri}");
        wait_until(|| server.probe.cancelled.load(Ordering::SeqCst) == i + 1).await;
        // The channel serves the next call.
        let reply = channel
            .unary(&path("Unary"), Request::new(msg("next")), codec())
            .await
            .unwrap();
        assert_eq!(reply.into_inner().text, "next", "{uri}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_token_cancelled_before_the_call_starts_sends_nothing() {
    let server = Running::start().await;
    for uri in uris(&server) {
        let channel = Channel::connect(&uri).await.unwrap();
        let token = CancellationToken::new();
        token.cancel();
        let status = channel
            .unary(
                &path("Unary"),
                Request::new(msg("never")).with_cancellation(token),
                codec(),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Cancelled, "{uri}: {status:?}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.probe.started.load(Ordering::SeqCst), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_cancelled_client_stream_returns_cancelled_and_stops_the_handler() {
    let server = Running::start().await;
    for (i, uri) in uris(&server).iter().enumerate() {
        let channel = Channel::connect(uri).await.unwrap();
        let token = CancellationToken::new();
        cancel_soon(&token);
        // One request, then a stream that never ends: only the cancel can
        // finish this call.
        let requests =
            futures_util::stream::iter([msg("a")]).chain(futures_util::stream::pending());
        let status = channel
            .client_streaming(
                &path("ClientStream"),
                Request::new(requests).with_cancellation(token),
                codec(),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Cancelled, "{uri}: {status:?}");
        wait_until(|| server.probe.cancelled.load(Ordering::SeqCst) == i + 1).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_cancelled_response_stream_ends_with_cancelled() {
    let server = Running::start().await;
    for (i, uri) in uris(&server).iter().enumerate() {
        let channel = Channel::connect(uri).await.unwrap();
        let token = CancellationToken::new();
        let mut replies = long_stream(&channel, |r| r.with_cancellation(token.clone())).await;
        token.cancel();
        let status = replies.message().await.unwrap_err();
        assert_eq!(status.code(), Code::Cancelled, "{uri}: {status:?}");
        // The end comes once: nothing more after it.
        assert!(matches!(replies.message().await, Ok(None)), "{uri}");
        wait_until(|| server.probe.cancelled.load(Ordering::SeqCst) == i + 1).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_cancelled_bidi_call_ends_with_cancelled() {
    let server = Running::start().await;
    for (i, uri) in uris(&server).iter().enumerate() {
        let channel = Channel::connect(uri).await.unwrap();
        let token = CancellationToken::new();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Msg>();
        let requests =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|m| (m, rx)) },
            );
        let mut replies = channel
            .bidi_streaming(
                &path("Bidi"),
                Request::new(requests).with_cancellation(token.clone()),
                codec(),
            )
            .await
            .unwrap()
            .into_inner();
        tx.send(msg("ping")).unwrap();
        assert_eq!(replies.message().await.unwrap().unwrap().text, "ping");
        cancel_soon(&token);
        let status = replies.message().await.unwrap_err();
        assert_eq!(status.code(), Code::Cancelled, "{uri}: {status:?}");
        // The handler ends (it sees its request stream fail) although the
        // client's request sender is still open.
        let ended = || {
            server.probe.cancelled.load(Ordering::SeqCst)
                + server.probe.finished.load(Ordering::SeqCst)
        };
        wait_until(|| ended() == i + 1).await;
        drop(tx);
    }
    server.stop().await;
}
