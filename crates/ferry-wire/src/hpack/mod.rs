//! HPACK header compression (RFC 7541).
//!
//! ```text
//!   &[HeaderField] ──► Encoder ──► header block ──► (HEADERS + CONTINUATION) ──►
//!                        │ dynamic table                                   │
//!                        ▼ (our copy of the peer's)                        ▼
//!   Vec<HeaderField> ◄── Decoder ◄── header block (CONTINUATIONs joined) ◄──
//! ```
//!
//! Each direction of a connection has its own compression context: our
//! [`Encoder`] mirrors the peer's decoder table, our [`Decoder`] mirrors the
//! peer's encoder table. Both must see every header block in order, including
//! blocks of streams that are refused or reset, or the tables fall out of step.
//!
//! - [`Encoder`]: indexing policy tuned for gRPC (documented in `encoder.rs`),
//!   Huffman coding when shorter, table size updates per RFC 7541 §4.2.
//! - [`Decoder`]: every representation; limits on the decoded list size and
//!   field count that keep the dynamic table in sync when exceeded (a stream
//!   error), and [`DecoderError`] variants for everything else (a connection
//!   error, COMPRESSION_ERROR).
//!
//! Internals: `table` (static table, dynamic table and the encoder's index),
//! `codec` (prefix integers and string literals), `huffman` (the Appendix B
//! code, with a nibble-at-a-time decoder table built at compile time).

mod codec;
mod decoder;
mod encoder;
mod huffman;
mod huffman_table;
mod memo;
mod table;

pub use decoder::{DEFAULT_MAX_FIELDS, DEFAULT_MAX_LIST_SIZE, Decoder, DecoderError};
pub use encoder::Encoder;

/// The initial SETTINGS_HEADER_TABLE_SIZE of every HTTP/2 endpoint (RFC 9113
/// §6.5.2), and so the size of both dynamic tables until SETTINGS say
/// otherwise.
pub const DEFAULT_TABLE_SIZE: usize = 4096;
