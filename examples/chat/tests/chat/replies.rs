//! Exact replies for a fixed seed, in every pairing and both call shapes.

use ferry_chat::aihub::ChatRequest;

use crate::support::{Corpus, Peer, Server, bounded, client_args, expected_pieces, run_client};

/// A request with every field set.
fn full_request() -> ChatRequest {
    ChatRequest {
        prompt: "The ferry crosses".to_owned(),
        history: vec![
            "Where does the water go?".to_owned(),
            "It goes to the sea.".to_owned(),
        ],
        max_length: 24,
        top_p: 0.95,
        temperature: 0.7,
    }
}

/// The seed's own client sends only a prompt: zeros take the defaults.
fn prompt_only() -> ChatRequest {
    ChatRequest {
        prompt: "Tell me about the limit".to_owned(),
        ..ChatRequest::default()
    }
}

/// The prompt's words are all unknown to the model, so the history decides
/// where the reply starts.
fn history_decides() -> ChatRequest {
    ChatRequest {
        prompt: "Zyzzyva".to_owned(),
        history: vec!["Who waits at the stone".to_owned()],
        max_length: 12,
        ..ChatRequest::default()
    }
}

fn requests() -> [ChatRequest; 3] {
    [full_request(), prompt_only(), history_decides()]
}

#[test]
fn the_history_changes_the_reply() {
    let without = ChatRequest {
        history: Vec::new(),
        ..history_decides()
    };
    assert_ne!(
        expected_pieces(Corpus::Default, &history_decides()),
        expected_pieces(Corpus::Default, &without)
    );
    assert_eq!(
        expected_pieces(Corpus::Default, &history_decides())[0],
        "steps"
    );
}

/// Every client (Ferry in-process, `chat-client`, `chat_client.py`) gets
/// exactly the expected reply from `server`, unary and streaming.
async fn every_client_gets_the_exact_reply(server: Peer) {
    let mut server = Server::start(server, Corpus::Default, 0).await;
    let client = server.client().await;
    for request in requests() {
        let pieces = expected_pieces(Corpus::Default, &request);
        let reply = pieces.concat();
        assert!(!pieces.is_empty());
        assert!(pieces.len() <= 64, "{pieces:?}");

        let unary = bounded("Chat", client.chat(request.clone()))
            .await
            .unwrap_or_else(|e| panic!("Chat: {e}{}", server.log()))
            .into_inner();
        assert_eq!(
            unary.response, reply,
            "{:?} server, Ferry client, Chat",
            server.peer
        );

        let mut stream = bounded("StreamingChat", client.streaming_chat(request.clone()))
            .await
            .unwrap_or_else(|e| panic!("StreamingChat: {e}{}", server.log()))
            .into_inner();
        let mut streamed = Vec::new();
        while let Some(piece) = bounded("a piece", stream.message()).await.expect("a piece") {
            streamed.push(piece.response);
        }
        assert_eq!(
            streamed, pieces,
            "{:?} server, Ferry client, StreamingChat: one message per token",
            server.peer
        );

        for peer in [Peer::Rust, Peer::Python] {
            for stream in [false, true] {
                let run = run_client(peer, &server, &client_args(&request, stream)).await;
                assert!(
                    run.status.success(),
                    "{peer:?} client (stream: {stream}) against the {:?} server: {run:?}{}",
                    server.peer,
                    server.log()
                );
                assert_eq!(
                    run.stdout,
                    format!("{reply}\n"),
                    "{peer:?} client (stream: {stream}) against the {:?} server",
                    server.peer
                );
            }
        }
    }
    // One line per generation, in call order: for each request, Chat and
    // StreamingChat from the three clients, all complete.
    let mut wanted = Vec::new();
    for request in requests() {
        let tokens = expected_pieces(Corpus::Default, &request).len();
        for _ in 0..3 {
            wanted.push(format!("Chat: generation finished after {tokens} tokens"));
            wanted.push(format!(
                "StreamingChat: generation finished after {tokens} tokens"
            ));
        }
    }
    let mut events = Vec::new();
    for _ in 0..wanted.len() {
        events.push(server.event().await);
    }
    assert_eq!(events, wanted, "{:?} server", server.peer);
}

#[tokio::test]
async fn rust_server_answers_every_client_exactly() {
    every_client_gets_the_exact_reply(Peer::Rust).await;
}

#[tokio::test]
async fn python_server_answers_every_client_exactly() {
    crate::support::python();
    every_client_gets_the_exact_reply(Peer::Python).await;
}

/// The same generated client over Ferry's native protocol, on the same
/// port: the same replies, unary and streamed.
#[tokio::test]
async fn the_native_protocol_gets_the_same_replies() {
    use ferry_chat::aihub::chat_hub_client::ChatHubClient;

    let server = Server::start(Peer::Rust, Corpus::Default, 0).await;
    let native = server.url().replacen("http://", "ferry://", 1);
    let client = bounded("connect", ChatHubClient::connect(&native))
        .await
        .unwrap_or_else(|e| panic!("connect over the native protocol: {e}{}", server.log()));
    for request in requests() {
        let pieces = expected_pieces(Corpus::Default, &request);
        let unary = bounded("Chat", client.chat(request.clone()))
            .await
            .unwrap_or_else(|e| panic!("Chat: {e}{}", server.log()))
            .into_inner();
        assert_eq!(unary.response, pieces.concat());
        let mut stream = bounded("StreamingChat", client.streaming_chat(request))
            .await
            .unwrap_or_else(|e| panic!("StreamingChat: {e}{}", server.log()))
            .into_inner();
        let mut streamed = Vec::new();
        while let Some(piece) = bounded("a piece", stream.message()).await.expect("a piece") {
            streamed.push(piece.response);
        }
        assert_eq!(streamed, pieces);
    }
}
