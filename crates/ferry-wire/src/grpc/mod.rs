//! gRPC over HTTP/2: message framing, headers, status, metadata, timeouts.
//!
//! Pure functions and small types, called by the runtime for every call; no
//! I/O, no clock (a timeout is a [`Duration`](std::time::Duration) and the
//! runtime turns it into a deadline). The rules come from gRPC's
//! `PROTOCOL-HTTP2.md`, `statuscodes.md` and `http-grpc-status-mapping.md`.
//!
//! ```text
//!  client                                                server
//!  RequestHead::encode ──── HEADERS ───────────────────▶ RequestHead::decode
//!                                                          └ Err(RequestError) → reset, or
//!                                                            encode_response (405/415/400/200)
//!  encode_message ───────── DATA (any split) ──────────▶ MessageDecoder::push
//!                                                        next_message … finish
//!  ResponseStart::decode ◀─ HEADERS ──────────────────── ResponseHead::encode
//!  MessageDecoder ◀──────── DATA ─────────────────────── encode_message
//!  Trailers::decode ◀────── HEADERS + END_STREAM ─────── Trailers::encode
//!
//!  (an immediate failure: Trailers::encode_trailers_only, one HEADERS +
//!   END_STREAM, read by ResponseStart::decode as TrailersOnly)
//! ```
//!
//! Everything read from a peer is hostile: no function here panics on any
//! input, the message length limit is checked from the prefix before the body
//! is buffered, and a value echoed into an error message is cut short.

mod codec;
mod content_type;
mod metadata;
mod percent;
mod request;
mod response;
mod status;
mod timeout;

pub use codec::{
    DEFAULT_MAX_RECV_MESSAGE_SIZE, DecodeError, EncodeError, MESSAGE_HEADER_LEN, Message,
    MessageDecoder, encode_message, encode_message_header, message_header,
};
pub use content_type::{CONTENT_TYPE_GRPC, CONTENT_TYPE_GRPC_JSON, CONTENT_TYPE_GRPC_PROTO};
pub use metadata::{Metadata, MetadataError, MetadataValue};
pub use percent::{percent_decode, percent_encode};
pub use request::{DEFAULT_USER_AGENT, RequestError, RequestHead, Scheme};
pub use response::{ResponseHead, ResponseStart, Trailers};
pub use status::{Code, Status};
pub use timeout::{TimeoutError, decode_timeout, encode_timeout};
