//! `aihub.ChatHub` served by the embedded model.
//!
//! Both methods generate lazily, one token per step, waiting the configured
//! token delay before each (a real model takes time per token; the delay
//! makes streaming visible). `StreamingChat` sends each piece as soon as it
//! exists; `Chat` joins them. When the client goes away the runtime drops
//! the handler and its stream, generation stops there, and the service
//! reports how far it got through its [`Observer`].

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferry::{Request, Response, ResponseStream, Status};

use crate::aihub::chat_hub_server::ChatHub;
use crate::aihub::{ChatReply, ChatRequest};
use crate::model::{Generation, Model};
use crate::params;

/// How one generation ended, with the number of tokens it produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerationEnd {
    /// `"Chat"` or `"StreamingChat"`.
    pub method: &'static str,
    /// Tokens generated (and, when streaming, handed to the runtime).
    pub tokens: usize,
    /// False when the call ended first (client cancelled, deadline passed,
    /// connection lost): the reply was not complete and generation stopped.
    pub finished: bool,
}

impl fmt::Display for GenerationEnd {
    /// `StreamingChat: generation cancelled after 3 tokens`; the Python
    /// server prints the same lines, and the tests read them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.finished {
            "finished"
        } else {
            "cancelled"
        };
        write!(
            f,
            "{}: generation {how} after {} tokens",
            self.method, self.tokens
        )
    }
}

/// Told about every generation when it ends.
pub type Observer = Arc<dyn Fn(GenerationEnd) + Send + Sync>;

/// The `ChatHub` implementation.
pub struct Hub {
    model: Arc<Model>,
    seed: Option<u64>,
    token_delay: Duration,
    observer: Observer,
    calls: AtomicU64,
    seeds: RandomState,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("model", &self.model)
            .field("seed", &self.seed)
            .field("token_delay", &self.token_delay)
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// Serves `model`. With a `seed`, every call starts its random numbers
    /// from it, so the same request always gets the same reply, whatever
    /// else the server is doing; without one, each call gets a fresh seed.
    pub fn new(model: Arc<Model>, seed: Option<u64>) -> Hub {
        Hub {
            model,
            seed,
            token_delay: Duration::ZERO,
            observer: Arc::new(|_| {}),
            calls: AtomicU64::new(0),
            seeds: RandomState::new(),
        }
    }

    /// Waits `delay` before each token.
    pub fn token_delay(mut self, delay: Duration) -> Hub {
        self.token_delay = delay;
        self
    }

    /// Calls `observer` when each generation ends.
    pub fn observer(mut self, observer: impl Fn(GenerationEnd) + Send + Sync + 'static) -> Hub {
        self.observer = Arc::new(observer);
        self
    }

    fn start(&self, request: &ChatRequest, method: &'static str) -> Result<Run, Status> {
        let sampling = params::sampling(request)?;
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let seed = self.seed.unwrap_or_else(|| self.seeds.hash_one(call));
        Ok(Run {
            generation: self
                .model
                .generate(&request.history, &request.prompt, sampling, seed),
            delay: self.token_delay,
            method,
            observer: Arc::clone(&self.observer),
            finished: false,
        })
    }
}

/// One generation in progress. Dropping it ends the generation and tells
/// the observer how far it got.
struct Run {
    generation: Generation,
    delay: Duration,
    method: &'static str,
    observer: Observer,
    finished: bool,
}

impl Run {
    /// The next piece, after the token delay; `None` when the reply is
    /// complete.
    async fn next_piece(&mut self) -> Option<String> {
        if !self.generation.is_done() && !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let piece = self.generation.next();
        self.finished = piece.is_none();
        piece
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        (self.observer)(GenerationEnd {
            method: self.method,
            tokens: self.generation.tokens(),
            finished: self.finished,
        });
    }
}

impl ChatHub for Hub {
    async fn chat(&self, request: Request<ChatRequest>) -> Result<Response<ChatReply>, Status> {
        let mut run = self.start(request.get_ref(), "Chat")?;
        let mut response = String::new();
        while let Some(piece) = run.next_piece().await {
            response.push_str(&piece);
        }
        Ok(Response::new(ChatReply { response }))
    }

    async fn streaming_chat(
        &self,
        request: Request<ChatRequest>,
    ) -> Result<Response<ResponseStream<ChatReply>>, Status> {
        let run = self.start(request.get_ref(), "StreamingChat")?;
        let pieces = futures_util::stream::unfold(run, |mut run| async move {
            let response = run.next_piece().await?;
            Some((Ok(ChatReply { response }), run))
        });
        Ok(Response::new(ResponseStream::new(pieces)))
    }
}
