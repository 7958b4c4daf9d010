//! Requests and responses: a message (or a stream of them) with metadata.

use std::time::Duration;

use ferry_wire::grpc::Metadata;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::compression::Encoding;

/// A request: its message (or stream of messages) and metadata.
///
/// On a server it also carries the caller's deadline, which a handler can
/// pass on to the calls it makes itself ([`Request::deadline`]).
#[derive(Debug)]
pub struct Request<T> {
    metadata: Metadata,
    message: T,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    wait_for_ready: bool,
    compression: Option<Encoding>,
    arrived_compressed: bool,
    cancellation: Option<CancellationToken>,
}

impl<T> Request<T> {
    /// A request with no metadata and no deadline.
    pub fn new(message: T) -> Request<T> {
        Request {
            metadata: Metadata::new(),
            message,
            timeout: None,
            deadline: None,
            wait_for_ready: false,
            compression: None,
            arrived_compressed: false,
            cancellation: None,
        }
    }

    /// Client: the call fails with DEADLINE_EXCEEDED after this long (sent
    /// to the server as `grpc-timeout`).
    pub fn with_timeout(mut self, timeout: Duration) -> Request<T> {
        self.timeout = Some(timeout);
        self
    }

    /// Client: an absolute deadline, for example a handler's own incoming
    /// deadline passed on to the calls it makes.
    pub fn with_deadline(mut self, deadline: Option<Instant>) -> Request<T> {
        self.deadline = deadline;
        self
    }

    /// Client: cancel the call when `token` is cancelled, from anywhere
    /// (another task, a shutdown signal, a handler whose own caller went
    /// away). If the call is still running then, the server is told
    /// (RST_STREAM CANCEL, or the native protocol's CANCEL), the task
    /// sending requests stops, and the call returns CANCELLED: from its
    /// future for unary and client-streaming calls, from the next
    /// [`Streaming::message`](crate::Streaming::message) once responses
    /// stream. Dropping the call cancels it too, without a status to show.
    pub fn with_cancellation(mut self, token: CancellationToken) -> Request<T> {
        self.cancellation = Some(token);
        self
    }

    pub(crate) fn take_cancellation(&mut self) -> Option<CancellationToken> {
        self.cancellation.take()
    }

    /// Client: wait for a connection (until the deadline) instead of failing
    /// at once with UNAVAILABLE when none is ready.
    pub fn wait_for_ready(mut self, wait: bool) -> Request<T> {
        self.wait_for_ready = wait;
        self
    }

    /// Client: compress this call's messages with `encoding` (sent as
    /// `grpc-encoding`), overriding the channel's default.
    pub fn with_compression(mut self, encoding: Encoding) -> Request<T> {
        self.compression = Some(encoding);
        self
    }

    pub(crate) fn compression(&self) -> Option<Encoding> {
        self.compression
    }

    /// Server: whether the request message arrived compressed (the
    /// compressed flag of its length prefix), for unary and
    /// server-streaming calls. False for a request built locally; a request
    /// stream tells it per message ([`Streaming::last_message_compressed`](crate::Streaming::last_message_compressed)).
    pub fn arrived_compressed(&self) -> bool {
        self.arrived_compressed
    }

    pub(crate) fn with_arrived_compressed(mut self, compressed: bool) -> Request<T> {
        self.arrived_compressed = compressed;
        self
    }

    /// Adds metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Request<T> {
        self.metadata = metadata;
        self
    }

    /// The metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Mutable metadata.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// Mutable message.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// Takes the message.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// The instant the call must end by: on a server, the client's deadline;
    /// on a client, the earlier of the timeout and the deadline set.
    pub fn deadline(&self) -> Option<Instant> {
        let from_timeout = self.timeout.map(|t| Instant::now() + t);
        match (from_timeout, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn is_wait_for_ready(&self) -> bool {
        self.wait_for_ready
    }

    pub(crate) fn into_parts(self) -> (Metadata, T) {
        (self.metadata, self.message)
    }

    pub(crate) fn from_parts(
        metadata: Metadata,
        message: T,
        deadline: Option<Instant>,
    ) -> Request<T> {
        Request {
            metadata,
            message,
            timeout: None,
            deadline,
            wait_for_ready: false,
            compression: None,
            arrived_compressed: false,
            cancellation: None,
        }
    }

    /// Calls the implementation of the service exported under `name`
    /// (`ServerBuilder::add_named_service`) instead of the default one. It
    /// travels in the `ferry-implementation` metadata key.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid ASCII metadata value.
    pub fn with_implementation(mut self, name: &str) -> Request<T> {
        self.metadata
            .insert(crate::server::IMPLEMENTATION_KEY, name)
            .expect("an implementation name is a valid ASCII metadata value");
        self
    }

    /// Replaces the message, keeping metadata and deadline.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Request<U> {
        Request {
            metadata: self.metadata,
            message: f(self.message),
            timeout: self.timeout,
            deadline: self.deadline,
            wait_for_ready: self.wait_for_ready,
            compression: self.compression,
            arrived_compressed: self.arrived_compressed,
            cancellation: self.cancellation,
        }
    }
}

/// A response: its message (or stream of messages), metadata (sent as
/// response headers) and trailing metadata (sent with the OK status that
/// ends the call; an error `Status` carries its own).
#[derive(Debug)]
pub struct Response<T> {
    metadata: Metadata,
    message: T,
    trailers: Metadata,
    compression: Option<Encoding>,
    arrived_compressed: bool,
}

impl<T> Response<T> {
    /// A response with no metadata.
    pub fn new(message: T) -> Response<T> {
        Response {
            metadata: Metadata::new(),
            message,
            trailers: Metadata::new(),
            compression: None,
            arrived_compressed: false,
        }
    }

    /// Server: compress this call's response messages with `encoding`
    /// instead of the server's default
    /// ([`ServerBuilder::send_compressed`](crate::ServerBuilder::send_compressed)),
    /// if the client accepts it (its `grpc-accept-encoding`); otherwise, or
    /// with [`Encoding::Identity`], they go uncompressed. The response
    /// headers carry the encoding chosen in `grpc-encoding`. As always,
    /// messages under `min_compress_size` or that do not shrink go
    /// uncompressed, and a stream can send single messages uncompressed
    /// with [`Outbound::uncompressed`].
    pub fn with_compression(mut self, encoding: Encoding) -> Response<T> {
        self.compression = Some(encoding);
        self
    }

    pub(crate) fn compression(&self) -> Option<Encoding> {
        self.compression
    }

    /// Client: whether the response message of a unary or client-streaming
    /// call arrived compressed (the compressed flag of its length prefix).
    /// False for a response built locally; a response stream tells it per
    /// message ([`Streaming::last_message_compressed`](crate::Streaming::last_message_compressed)).
    pub fn arrived_compressed(&self) -> bool {
        self.arrived_compressed
    }

    pub(crate) fn with_arrived_compressed(mut self, compressed: bool) -> Response<T> {
        self.arrived_compressed = compressed;
        self
    }

    /// Adds metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Response<T> {
        self.metadata = metadata;
        self
    }

    /// The metadata (response headers).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Mutable metadata.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// The trailing metadata. On a server, sent with the OK status that
    /// ends the call. On a client, what the server sent with its status:
    /// filled in for unary and client-streaming calls (a streaming
    /// response's trailers come from [`Streaming::trailers`](crate::Streaming::trailers)).
    pub fn trailers(&self) -> &Metadata {
        &self.trailers
    }

    /// Mutable trailing metadata.
    pub fn trailers_mut(&mut self) -> &mut Metadata {
        &mut self.trailers
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// Mutable message.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// Takes the message.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// Splits into metadata and message (the trailers are dropped).
    pub fn into_parts(self) -> (Metadata, T) {
        (self.metadata, self.message)
    }

    pub(crate) fn from_parts(metadata: Metadata, message: T) -> Response<T> {
        Response {
            metadata,
            message,
            trailers: Metadata::new(),
            compression: None,
            arrived_compressed: false,
        }
    }
}

/// One message to send on a stream, with a per-message compression choice.
///
/// Streams of requests (client) and responses (server) may yield plain
/// messages, which are compressed as the call says (its encoding, and the
/// builder's `min_compress_size`), or `Outbound`s, which can opt a single
/// message out: [`Outbound::uncompressed`] goes out with the compressed
/// flag 0 even on a compressed call, for example a message already
/// compressed by the application, or one that must be readable by a proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound<T> {
    message: T,
    compress: bool,
}

impl<T> Outbound<T> {
    /// A message compressed as the call says.
    pub fn new(message: T) -> Outbound<T> {
        Outbound {
            message,
            compress: true,
        }
    }

    /// A message sent uncompressed whatever the call's encoding.
    pub fn uncompressed(message: T) -> Outbound<T> {
        Outbound {
            message,
            compress: false,
        }
    }

    /// False when this message goes out uncompressed in any case.
    pub fn may_compress(&self) -> bool {
        self.compress
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// Takes the message.
    pub fn into_inner(self) -> T {
        self.message
    }
}

impl<T> From<T> for Outbound<T> {
    fn from(message: T) -> Outbound<T> {
        Outbound::new(message)
    }
}

/// What a request or response stream may yield: the message itself, or an
/// [`Outbound`] carrying a per-message compression choice.
pub trait IntoOutbound<T>: Send {
    /// The message and its compression choice.
    fn into_outbound(self) -> Outbound<T>;
}

impl<T: Send> IntoOutbound<T> for T {
    fn into_outbound(self) -> Outbound<T> {
        Outbound::new(self)
    }
}

impl<T: Send> IntoOutbound<T> for Outbound<T> {
    fn into_outbound(self) -> Outbound<T> {
        self
    }
}
