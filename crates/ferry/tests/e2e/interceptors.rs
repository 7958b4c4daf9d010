//! Interceptors on both sides; bearer-token authentication.

use ferry::interceptor::{BearerToken, BoxFuture, CallInfo, CallSide, Interceptor};
use ferry::{Channel, Code, Delivery, Request, Server, Status};
use tokio::net::TcpListener;

use crate::support::{Running, codec, msg, path};

/// Adds a response header on the server; refuses calls to `Bidi`.
struct Stamp;

impl Interceptor for Stamp {
    fn intercept(&self, mut call: CallInfo) -> BoxFuture<Result<CallInfo, Status>> {
        Box::pin(async move {
            assert_eq!(call.side, CallSide::Server);
            if call.path.ends_with("/Bidi") {
                return Err(Status::permission_denied("no bidi today"));
            }
            call.response_metadata
                .insert("x-served-by", "ferry")
                .unwrap();
            Ok(call)
        })
    }
}

async fn start(builder: ferry::ServerBuilder) -> Running {
    Running::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), builder)
}

#[tokio::test]
async fn bearer_token_authentication() {
    let server = start(Server::builder().interceptor(BearerToken::new("s3cret"))).await;
    let anonymous = server.channel().await;
    let status = anonymous
        .unary(&path("Unary"), Request::new(msg("x")), codec())
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unauthenticated, "missing bearer token")
    );
    assert_eq!(
        server
            .probe
            .started
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the handler never ran"
    );

    let wrong = Channel::builder(&server.uri())
        .unwrap()
        .interceptor(BearerToken::new("guess"))
        .connect()
        .await
        .unwrap();
    let status = wrong
        .unary(&path("Unary"), Request::new(msg("x")), codec())
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unauthenticated, "invalid bearer token")
    );

    let right = Channel::builder(&server.uri())
        .unwrap()
        .interceptor(BearerToken::new("s3cret"))
        .connect()
        .await
        .unwrap();
    let reply = right
        .unary(&path("Unary"), Request::new(msg("welcome")), codec())
        .await
        .unwrap();
    assert_eq!(reply.into_inner().text, "welcome");
    server.stop().await;
}

#[tokio::test]
async fn server_interceptors_add_metadata_and_reject() {
    let server = start(Server::builder().interceptor(Stamp)).await;
    let channel = server.channel().await;
    let reply = channel
        .unary(&path("Unary"), Request::new(msg("x")), codec())
        .await
        .unwrap();
    assert_eq!(
        reply.metadata().get("x-served-by").and_then(|v| v.as_str()),
        Some("ferry")
    );
    let requests = futures_util::stream::iter(vec![msg("a")]);
    let mut replies = channel
        .bidi_streaming(&path("Bidi"), Request::new(requests), codec())
        .await
        .unwrap()
        .into_inner();
    // A bidi call returns once open; the refusal is its first (and only)
    // outcome.
    let status = replies.message().await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::PermissionDenied, "no bidi today")
    );
    assert_eq!(status.metadata().get("x-served-by"), None);
    server.stop().await;
}

/// A client interceptor that refuses: the call is never sent.
struct Offline;

impl Interceptor for Offline {
    fn intercept(&self, _call: CallInfo) -> BoxFuture<Result<CallInfo, Status>> {
        Box::pin(async { Err(Status::unavailable("offline mode")) })
    }
}

#[tokio::test]
async fn client_interceptor_rejection_is_never_sent() {
    let server = Running::start().await;
    let channel = Channel::builder(&server.uri())
        .unwrap()
        .interceptor(Offline)
        .connect()
        .await
        .unwrap();
    let status = channel
        .unary(&path("Unary"), Request::new(msg("x")), codec())
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.delivery()),
        (Code::Unavailable, Delivery::NotSent)
    );
    assert_eq!(
        server
            .probe
            .started
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    server.stop().await;
}
