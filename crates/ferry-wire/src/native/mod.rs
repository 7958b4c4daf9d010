//! The Ferry native protocol's framing: a 24-byte fixed header, a metadata
//! section of tagged entries, and a body. `docs/native-protocol.md` in the
//! repository specifies it byte by byte; this module is that document in
//! code, sans-IO like the rest of the crate.
//!
//! ```text
//!  FrameDecoder::decode(&mut BytesMut) ──▶ Frame { header, meta, body }
//!                                           Meta::decode(&frame.meta)
//!  Frame::encode(&mut BytesMut)        ◀── Frame::new(kind, id) + Meta
//! ```
//!
//! The decoder checks both lengths against its limits as soon as the fixed
//! header is buffered and parses nothing before a whole frame is there, so
//! a peer cannot make it hold more than one maximal frame. Nothing here
//! panics on any input (`fuzz/fuzz_targets/native_decode.rs`).

mod error;
mod frame;
mod meta;
mod varint;

pub use error::NativeError;
pub use frame::{
    DEFAULT_MAX_BODY, DEFAULT_MAX_META, Flags, Frame, FrameDecoder, HEADER_LEN, Kind, MAGIC,
    Serialization, VERSION,
};
pub use meta::{Meta, Setting, tag};
