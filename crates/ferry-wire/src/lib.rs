//! # ferry-wire: the sans-IO core of Ferry
//!
//! This crate owns every rule of the protocols Ferry speaks and none of the
//! I/O. It never opens a socket, spawns a task or reads the clock: bytes come
//! in as slices, the current time comes in as an argument, and bytes to send
//! go out into buffers the caller owns. Its dependency tree holds no async
//! runtime, so everything hard — a hostile peer, a window that goes negative
//! after SETTINGS, a GOAWAY racing a new stream — is tested without sockets,
//! on a virtual clock, and fuzzed.
//!
//! ```text
//!   socket bytes ──▶ conn::Connection::handle_input(bytes, now)
//!                        │  frame::Frame::decode   (RFC 9113 §4, §6)
//!                        │  hpack::Decoder         (RFC 7541)
//!                        │  streams, flow control, limits
//!                        ▼
//!                    conn::Event ──▶ runtime ──▶ grpc:: (message codec,
//!                                                status, metadata, timeout)
//!   socket write ◀── conn::Connection::poll_transmit(now, &mut buf)
//!                        ▲  hpack::Encoder, frame encoders, round-robin DATA
//!                        │
//!                    open_stream / send_headers / send_data / send_trailers
//!                    release_capacity / reset_stream / shutdown ...
//! ```
//!
//! Modules:
//!
//! - [`frame`]: encode and decode the ten HTTP/2 frame types.
//! - [`hpack`]: header compression with static and dynamic tables and
//!   Huffman coding, with limits a peer cannot exceed.
//! - [`conn`]: the connection state machine for both roles — stream states,
//!   two-level flow control with windows grown from a bandwidth-delay
//!   estimate, GOAWAY and graceful shutdown, keepalive, and the defences
//!   against flood and resource attacks. Its module docs give the order in
//!   which a runtime drives it.
//! - [`grpc`]: gRPC over HTTP/2 — the 5-byte message framing, status codes,
//!   `grpc-timeout`, `grpc-message`, metadata and header rules.
//! - [`native`]: the framing of Ferry's own binary protocol (fixed header,
//!   tagged metadata, body), specified in `docs/native-protocol.md`.
//!
//! Errors say their scope ([`ConnectionError`] or [`StreamError`]), the RFC
//! 9113 code ([`Reason`]) and who caused them ([`Initiator`]).
//!
//! `docs/architecture.md` in the repository shows the whole picture.

#![forbid(unsafe_code)]

mod error;
mod field;
mod id_map;
mod stream_id;

pub mod frame;
pub mod grpc;
pub mod hpack;
pub mod native;

pub use error::{ConnectionError, Error, Initiator, Reason, StreamError};
pub use field::{FIELD_OVERHEAD, HeaderField};
pub use id_map::{IdHasher, IdMap};
pub use stream_id::StreamId;
pub mod conn;
