//! `chat-server`: serves `aihub.ChatHub` with the embedded Markov model.
//!
//! ```sh
//! cargo run -p ferry-chat --bin chat-server -- --seed 7
//! ```
//!
//! Prints `chat-server listening on ADDR` on stdout once it accepts calls
//! (with `--addr 127.0.0.1:0` the address shows the port it picked), and
//! one line per generation on stderr, `StreamingChat: generation finished
//! after N tokens` or `... cancelled after N tokens`. Ctrl-C (SIGINT) or SIGTERM
//! shuts it down gracefully: calls in flight finish, new ones are refused.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ferry::Server;
use ferry_chat::aihub::chat_hub_server::ChatHubServer;
use ferry_chat::{DEFAULT_CORPUS, Hub, Model};
use tokio::net::TcpListener;

/// Serves the quick-start's ChatHub with a small text generator built in.
#[derive(Debug, Parser)]
#[command(name = "chat-server", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: SocketAddr,
    /// Seed for every call's random numbers, for reproducible replies
    /// (default: a fresh seed per call).
    #[arg(long)]
    seed: Option<u64>,
    /// Text to train the model on (default: the text built into the binary,
    /// corpus/ferry-tales.txt).
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Milliseconds to wait before each token, as a real model would take.
    #[arg(long, default_value_t = 30)]
    token_delay_ms: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let corpus = match &args.corpus {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("could not read {}: {e}", path.display()))?,
        None => DEFAULT_CORPUS.to_owned(),
    };
    let model = Arc::new(Model::train(&corpus)?);
    let hub = Hub::new(model, args.seed)
        .token_delay(Duration::from_millis(args.token_delay_ms))
        .observer(|end| eprintln!("{end}"));

    let listener = TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("could not listen on {}: {e}", args.addr))?;
    let addr = listener.local_addr()?;
    let server = Server::builder()
        .add_service(ChatHubServer::new(hub))
        .build();
    let shutdown = shutdown_signal()?;
    println!("chat-server listening on {addr}");
    std::io::stdout().flush()?;
    server.serve_with_shutdown(listener, shutdown).await?;
    eprintln!("chat-server: shut down");
    Ok(())
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed
/// here, before the server says it listens, so a signal sent as soon as it
/// does is never missed.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
