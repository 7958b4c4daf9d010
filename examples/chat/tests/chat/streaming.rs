//! Streaming as a model server does it: pieces reach the client while the
//! server is still generating, and a client that goes away stops the work.
//!
//! Ordering is shown by events, not by clocks: the client takes a few
//! pieces of a reply the server needs tens of seconds to generate, then
//! cancels, and the server reports that generation was *cancelled* after
//! fewer tokens than the reply would have had. Had the server generated the
//! whole reply before sending it, it would report it *finished*.

use std::time::Duration;

use ferry::{Code, Request};
use ferry_chat::aihub::ChatRequest;

use crate::support::{Corpus, Peer, Server, bounded, expected_pieces, run_client};

/// Tokens in a reply nobody waits for. The servers here are trained on
/// [`Corpus::Endless`], so every reply has exactly `max_length` tokens.
const LONG: i32 = 2000;
/// With this delay a `LONG` reply takes the server 40 s: no stall of a
/// loaded machine lets it finish before the client cancels.
const DELAY_MS: u64 = 20;

fn long_request() -> ChatRequest {
    ChatRequest {
        prompt: "row the boat".to_owned(),
        max_length: LONG,
        ..ChatRequest::default()
    }
}

/// Reads `StreamingChat: generation cancelled after N tokens` (or `Chat:
/// ...`) and returns N.
async fn cancelled_after(server: &mut Server, method: &str) -> usize {
    let line = server.event().await;
    let prefix = format!("{method}: generation cancelled after ");
    line.strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(" tokens"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "the {:?} server said {line:?}, not {prefix:?}{}",
                server.peer,
                server.log()
            )
        })
}

/// After a cancelled call the server still answers.
async fn still_serves(server: &mut Server) {
    let request = ChatRequest {
        prompt: "river".to_owned(),
        max_length: 3,
        ..ChatRequest::default()
    };
    let pieces = expected_pieces(Corpus::Endless, &request);
    let client = server.client().await;
    let reply = bounded("Chat", client.chat(request))
        .await
        .unwrap_or_else(|e| panic!("Chat after a cancel: {e}{}", server.log()));
    assert_eq!(reply.into_inner().response, pieces.concat());
    assert_eq!(
        server.event().await,
        format!("Chat: generation finished after {} tokens", pieces.len())
    );
}

async fn ferry_client_cancels_mid_stream(peer: Peer) {
    let mut server = Server::start(peer, Corpus::Endless, DELAY_MS).await;
    let client = server.client().await;
    let expected = expected_pieces(Corpus::Endless, &long_request());
    assert_eq!(expected.len(), LONG as usize);
    let mut stream = bounded("StreamingChat", client.streaming_chat(long_request()))
        .await
        .unwrap_or_else(|e| panic!("StreamingChat: {e}{}", server.log()))
        .into_inner();
    for want in &expected[..3] {
        let piece = bounded("a piece", stream.message())
            .await
            .expect("a piece")
            .expect("not the end");
        assert_eq!(&piece.response, want);
    }
    drop(stream);
    let tokens = cancelled_after(&mut server, "StreamingChat").await;
    assert!(
        (3..LONG as usize).contains(&tokens),
        "{tokens} tokens{}",
        server.log()
    );
    still_serves(&mut server).await;
}

#[tokio::test]
async fn ferry_client_cancelling_stops_the_rust_server() {
    ferry_client_cancels_mid_stream(Peer::Rust).await;
}

#[tokio::test]
async fn ferry_client_cancelling_stops_the_python_server() {
    crate::support::python();
    ferry_client_cancels_mid_stream(Peer::Python).await;
}

async fn python_client_cancels_mid_stream(peer: Peer) {
    crate::support::python();
    let mut server = Server::start(peer, Corpus::Endless, DELAY_MS).await;
    let expected = expected_pieces(Corpus::Endless, &long_request());
    let args = [
        "--stream",
        "--cancel-after=3",
        &format!("--max-length={LONG}"),
        "--",
        "row the boat",
    ]
    .map(String::from);
    let run = run_client(Peer::Python, &server, &args).await;
    assert!(run.status.success(), "{run:?}{}", server.log());
    assert_eq!(run.stdout, format!("{}\n", expected[..3].concat()));
    let tokens = cancelled_after(&mut server, "StreamingChat").await;
    assert!(
        (3..LONG as usize).contains(&tokens),
        "{tokens} tokens{}",
        server.log()
    );
    still_serves(&mut server).await;
}

#[tokio::test]
async fn python_client_cancelling_stops_the_rust_server() {
    python_client_cancels_mid_stream(Peer::Rust).await;
}

#[tokio::test]
async fn python_client_cancelling_stops_the_python_server() {
    python_client_cancels_mid_stream(Peer::Python).await;
}

/// A unary call whose deadline passes stops generating too.
async fn deadline_stops_generation(peer: Peer) {
    let mut server = Server::start(peer, Corpus::Endless, DELAY_MS).await;
    let client = server.client().await;
    let request = Request::new(long_request()).with_timeout(Duration::from_millis(300));
    let status = bounded("Chat", client.chat(request))
        .await
        .expect_err("a 40 s reply cannot beat a 300 ms deadline");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let tokens = cancelled_after(&mut server, "Chat").await;
    assert!(tokens < LONG as usize, "{tokens} tokens{}", server.log());
    still_serves(&mut server).await;
}

#[tokio::test]
async fn a_deadline_stops_the_rust_server() {
    deadline_stops_generation(Peer::Rust).await;
}

#[tokio::test]
async fn a_deadline_stops_the_python_server() {
    crate::support::python();
    deadline_stops_generation(Peer::Python).await;
}

/// Ctrl-C while a reply streams: the call finishes, then the server exits
/// cleanly.
async fn shutdown_lets_the_stream_finish(peer: Peer) {
    let mut server = Server::start(peer, Corpus::Endless, DELAY_MS).await;
    let client = server.client().await;
    let request = ChatRequest {
        prompt: "row the boat".to_owned(),
        max_length: 30,
        ..ChatRequest::default()
    };
    let expected = expected_pieces(Corpus::Endless, &request);
    assert_eq!(expected.len(), 30);
    let mut stream = bounded("StreamingChat", client.streaming_chat(request))
        .await
        .unwrap_or_else(|e| panic!("StreamingChat: {e}{}", server.log()))
        .into_inner();
    let mut got = vec![
        bounded("a piece", stream.message())
            .await
            .expect("a piece")
            .expect("not the end")
            .response,
    ];
    server.interrupt();
    while let Some(piece) = bounded("a piece", stream.message())
        .await
        .unwrap_or_else(|e| panic!("the stream broke at shutdown: {e}{}", server.log()))
    {
        got.push(piece.response);
    }
    assert_eq!(got, expected);
    assert_eq!(
        server.event().await,
        format!(
            "StreamingChat: generation finished after {} tokens",
            expected.len()
        )
    );
    assert_eq!(server.event().await, "chat-server: shut down");
    let status = server.exit().await;
    assert!(status.success(), "{status}{}", server.log());
}

#[tokio::test]
async fn ctrl_c_lets_the_rust_server_finish_its_stream() {
    shutdown_lets_the_stream_finish(Peer::Rust).await;
}

#[tokio::test]
async fn ctrl_c_lets_the_python_server_finish_its_stream() {
    crate::support::python();
    shutdown_lets_the_stream_finish(Peer::Python).await;
}
