//! # ferry-wire: the sans-IO core of Ferry
//!
//! This crate owns every rule of the protocols Ferry speaks and none of the
//! I/O. It never opens a socket, spawns a task or reads the clock: bytes come
//! in as slices, the current time comes in as an argument, and bytes to send
//! go out into buffers the caller owns.
//!
//! (the full overview is filled in by `docs/architecture.md`)

#![forbid(unsafe_code)]

mod error;
mod field;
mod stream_id;

pub mod frame;
pub mod grpc;
pub mod hpack;

pub use error::{ConnectionError, Error, Initiator, Reason, StreamError};
pub use field::{FIELD_OVERHEAD, HeaderField};
pub use stream_id::StreamId;
