//! The ChatHub across languages: Ferry's `chat-server` and `chat-client`,
//! and the grpcio server and client in `python/`, in all four pairings.
//!
//! - `replies`: exact replies for a fixed seed, unary and streaming, every
//!   pairing; a request with only a prompt.
//! - `streaming`: pieces arrive while the server is still generating, and
//!   a client that cancels (or whose deadline passes) stops generation;
//!   graceful shutdown lets a streaming call finish.
//! - `invalid`: every bad field gets INVALID_ARGUMENT naming it.
//!
//! The Python peers need `scripts/python-env.sh` (or `FERRY_PYTHON`).

mod invalid;
mod replies;
mod streaming;
mod support;
