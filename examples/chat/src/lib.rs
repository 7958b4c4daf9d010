//! # The quick-start's ChatHub, served and called by Ferry
//!
//! The seed's contract (`proto/chat.proto`: package `aihub`, service
//! `ChatHub` with unary `Chat` and server-streaming `StreamingChat`) with a
//! model that needs no download: a word-level Markov chain trained at
//! start-up on a short text shipped with the example.
//!
//! ```text
//!  chat-client ──Chat / StreamingChat──▶ chat-server
//!  (or python/chat_client.py)            ├─ params:  defaults for zeros, INVALID_ARGUMENT
//!                                        ├─ model:   Markov chain, seeded sampling
//!                                        └─ service: one token per step, lazily,
//!                                                    so a cancelled call stops generating
//! ```
//!
//! - [`aihub`]: the messages, the server trait and the client `ferry-build`
//!   generates from `chat.proto`.
//! - [`model`]: the generator ([`Model`], [`Sampling`]).
//! - [`params`]: a request's fields checked and defaulted.
//! - [`service`]: [`Hub`], the `ChatHub` implementation.
//!
//! `python/` holds the same service and client written with grpcio, from
//! the same `chat.proto`; its model is a line-by-line port of [`model`], so
//! both servers give the same reply to the same request and seed.

pub mod model;
pub mod params;
mod rng;
pub mod service;

/// The code generated from `proto/chat.proto`.
#[allow(missing_docs)]
pub mod aihub {
    ferry::include_proto!("aihub");
}

pub use model::{DEFAULT_CORPUS, Generation, Model, ModelError, Sampling};
pub use rng::SplitMix64;
pub use service::{GenerationEnd, Hub};
