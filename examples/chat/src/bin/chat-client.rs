//! `chat-client`: calls `aihub.ChatHub`, on a Ferry server or any other
//! gRPC server of the same contract (such as `python/chat_server.py`).
//!
//! ```sh
//! cargo run -p ferry-chat --bin chat-client -- "Tell me about the river"
//! cargo run -p ferry-chat --bin chat-client -- --stream --max-length 40 "The ferry"
//! ```
//!
//! Prints the reply on stdout; with `--stream`, each piece as it arrives.
//! A failed call prints `error: CODE: message` on stderr and exits with 1.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use ferry::Status;
use ferry_chat::aihub::ChatRequest;
use ferry_chat::aihub::chat_hub_client::ChatHubClient;

/// Asks the quick-start's ChatHub for a reply.
#[derive(Debug, Parser)]
#[command(name = "chat-client", version)]
struct Args {
    /// What to say to the model.
    prompt: String,
    /// An earlier turn of the conversation, oldest first (repeatable).
    #[arg(long)]
    history: Vec<String>,
    /// The most tokens the reply may have (0: the server's default).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    max_length: i32,
    /// Sampling temperature (0: the server's default).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    temperature: f32,
    /// Nucleus sampling share in (0, 1] (0: the server's default).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    top_p: f32,
    /// Print the reply piece by piece as it is generated (StreamingChat).
    #[arg(long)]
    stream: bool,
    /// The server: `http://host:port` (gRPC), `ferry://host:port` (Ferry's
    /// native protocol, on the same port of a Ferry server), or just
    /// `host:port`.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(status) => {
            eprintln!("error: {status}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Status> {
    let target = if args.addr.contains("://") {
        args.addr
    } else {
        format!("http://{}", args.addr)
    };
    let client = ChatHubClient::connect(&target).await?;
    let request = ChatRequest {
        prompt: args.prompt,
        history: args.history,
        max_length: args.max_length,
        top_p: args.top_p,
        temperature: args.temperature,
    };
    let mut stdout = std::io::stdout().lock();
    if args.stream {
        let mut pieces = client.streaming_chat(request).await?.into_inner();
        while let Some(piece) = pieces.message().await? {
            // Flushed per piece, so the reply appears as it is generated.
            write_out(&mut stdout, &piece.response)?;
        }
    } else {
        let reply = client.chat(request).await?.into_inner();
        write_out(&mut stdout, &reply.response)?;
    }
    write_out(&mut stdout, "\n")
}

fn write_out(out: &mut impl Write, text: &str) -> Result<(), Status> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Status::unknown(format!("could not write to stdout: {e}")))
}
