//! Bad input gets INVALID_ARGUMENT with a message naming the field and
//! saying why, from both servers, for both call shapes; nothing is
//! generated for it.

use ferry::{Code, Status};
use ferry_chat::aihub::ChatRequest;
use ferry_chat::aihub::chat_hub_client::ChatHubClient;

use crate::support::{Corpus, Peer, Server, bounded, expected_pieces, run_client};

fn with(change: impl FnOnce(&mut ChatRequest)) -> ChatRequest {
    let mut request = ChatRequest {
        prompt: "The ferry".to_owned(),
        ..ChatRequest::default()
    };
    change(&mut request);
    request
}

/// Each bad request and how its message must start.
fn cases() -> Vec<(ChatRequest, &'static str)> {
    vec![
        (with(|r| r.prompt.clear()), "prompt: is empty"),
        (with(|r| r.prompt = " \n\t ".to_owned()), "prompt: is empty"),
        (with(|r| r.max_length = -1), "max_length: -1 is negative"),
        (
            with(|r| r.max_length = 100_000),
            "max_length: 100000 is above the server's limit of 2048 tokens",
        ),
        (
            with(|r| r.temperature = -0.5),
            "temperature: -0.5 is negative",
        ),
        (
            with(|r| r.temperature = f32::NAN),
            "temperature: NaN is not a finite number",
        ),
        (with(|r| r.top_p = 1.5), "top_p: 1.5 is above 1"),
        (with(|r| r.top_p = -0.25), "top_p: -0.25 is negative"),
        (with(|r| r.top_p = f32::NAN), "top_p: is NaN"),
    ]
}

async fn streaming_status(client: &ChatHubClient, request: ChatRequest) -> Status {
    match bounded("StreamingChat", client.streaming_chat(request)).await {
        Err(status) => status,
        Ok(response) => match bounded("a reply", response.into_inner().message()).await {
            Err(status) => status,
            Ok(piece) => panic!("a bad request was answered: {piece:?}"),
        },
    }
}

async fn every_bad_field_is_named(peer: Peer) {
    let mut server = Server::start(peer, Corpus::Default, 0).await;
    let client = server.client().await;
    for (request, start) in cases() {
        let unary = bounded("Chat", client.chat(request.clone()))
            .await
            .expect_err("refused");
        let streaming = streaming_status(&client, request.clone()).await;
        for (method, status) in [("Chat", unary), ("StreamingChat", streaming)] {
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{peer:?} server, {method}, {request:?}: {status:?}"
            );
            assert!(
                status.message().starts_with(start),
                "{peer:?} server, {method}, {request:?}: {:?} should start with {start:?}",
                status.message()
            );
        }
    }
    // Nothing was generated for the refused requests: the next line the
    // server logs is this call's.
    let fine = with(|r| r.max_length = 2);
    bounded("Chat", client.chat(fine.clone()))
        .await
        .expect("a good request");
    assert_eq!(
        server.event().await,
        format!(
            "Chat: generation finished after {} tokens",
            expected_pieces(Corpus::Default, &fine).len()
        )
    );
}

#[tokio::test]
async fn the_rust_server_names_every_bad_field() {
    every_bad_field_is_named(Peer::Rust).await;
}

#[tokio::test]
async fn the_python_server_names_every_bad_field() {
    crate::support::python();
    every_bad_field_is_named(Peer::Python).await;
}

/// Both command-line clients report the status and exit with 1, whichever
/// server refused.
#[tokio::test]
async fn the_clients_report_the_refusal() {
    crate::support::python();
    for server_peer in [Peer::Rust, Peer::Python] {
        let server = Server::start(server_peer, Corpus::Default, 0).await;
        for client_peer in [Peer::Rust, Peer::Python] {
            let args = ["--max-length=-3", "--", "The ferry"].map(String::from);
            let run = run_client(client_peer, &server, &args).await;
            assert_eq!(run.status.code(), Some(1), "{run:?}");
            assert!(
                run.stderr
                    .starts_with("error: INVALID_ARGUMENT: max_length: -3 is negative;"),
                "{client_peer:?} client, {server_peer:?} server: {run:?}"
            );
            assert_eq!(run.stdout, "");
        }
    }
}
