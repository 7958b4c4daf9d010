//! # Ferry: the gRPC runtime
//!
//! Ferry serves and calls gRPC over its own HTTP/2 transport
//! ([`ferry_wire`]). This crate is the tokio runtime on top of the sans-IO
//! core: a connection driver task per connection, a [`Server`] that routes
//! calls to [`Service`]s, and a [`Channel`] that makes calls, in all four
//! shapes (unary, server streaming, client streaming, bidirectional).
//!
//! ```text
//!  generated stub / your code
//!        │  Channel::unary(path, Request, codec)      Service::call(ServerCall)
//!        ▼                                                     ▲
//!  call tasks ──Command──▶ driver task ◀── socket ──▶ driver task ──▶ handler task
//!                          (ferry_wire::conn::Connection: frames, HPACK,
//!                           flow control, limits)
//! ```
//!
//! - A call talks to its connection only through a command channel and a
//!   per-stream event channel: no lock is held while calls run, and the
//!   driver writes every frame that is ready in one batch.
//! - Deadlines travel as `grpc-timeout`; a server drops (cancels) a handler
//!   whose client cancelled or whose deadline passed.
//! - Every client error is a [`Status`] that also says how far the request
//!   got ([`Delivery`]), so retries can be decided safely.
//!
//! `docs/architecture.md` in the repository describes the whole design.

pub mod blocking;
mod call;
mod client;
pub mod codec;
#[doc(hidden)]
pub mod codegen;
pub mod compression;
mod driver;
mod events;
mod framed;
pub mod interceptor;
mod message;
mod native;
mod routes;
pub mod server;
mod sniff;
mod status;
mod stubs;
pub mod tls;

pub use call::Streaming;
pub use client::{Channel, ChannelBuilder};
pub use codec::{BytesCodec, Codec, EncodeBuf, ProstCodec};
pub use ferry_wire::grpc::Metadata;
pub use message::{IntoOutbound, Outbound, Request, Response};
pub use server::{Server, ServerBuilder, ServerCall, Service};
pub use status::{Code, Delivery, Status};
pub use stubs::{CallGone, IntoRequest, IntoStreamingRequest, ResponseStream, StreamSender};
/// Cancels client calls on request: see [`Request::with_cancellation`].
pub use tokio_util::sync::CancellationToken;

/// Includes the code `ferry-build` generated for one protobuf package:
/// `pub mod aihub { ferry::include_proto!("aihub"); }`. Nested packages
/// keep their dots: `include_proto!("grpc.testing")`.
#[macro_export]
macro_rules! include_proto {
    ($package:tt) => {
        include!(concat!(env!("OUT_DIR"), "/", $package, ".rs"));
    };
}
