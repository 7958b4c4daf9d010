//! The server: services, the per-connection dispatch of incoming streams to
//! handler tasks, and the generic call functions generated code uses.
//!
//! ```text
//!  listener ──accept──▶ driver task (one per connection)
//!                          │ StreamOpened
//!                          ▼
//!                  handler task (one per call): RequestHead checks → route by
//!                  `/service/method` → Service::call(ServerCall) → unary / streaming
//!                  helper → response frames back through the same driver
//! ```
//!
//! A handler runs as its own task. It is dropped — so its work stops — when
//! the client cancels the call (RST_STREAM or connection loss) or when the
//! deadline the client sent passes (the stream is then reset with CANCEL;
//! the client reports DEADLINE_EXCEEDED by its own clock).

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_wire::conn::{self, Connection, Role};
use ferry_wire::grpc::{self, CONTENT_TYPE_GRPC, Metadata, RequestHead, ResponseHead, Trailers};
use ferry_wire::{HeaderField, Reason};
use futures_core::Stream;
use futures_util::StreamExt;
use futures_util::future::Either;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::call::{RecvStream, SendStream, Side, StreamGuard, Streaming};
use crate::codec::{Codec, decoder};
use crate::compression::{self, Encoding, EncodingSet};
use crate::driver::{self, Answer, Command, Handle, Incoming, MaxAge, RequestStart};
use crate::framed::Framed;
use crate::interceptor::{self, CallInfo, CallSide, Interceptor};
use crate::message::IntoOutbound;
use crate::native::{self, NativeConfig};
pub use crate::routes::{IMPLEMENTATION_KEY, ServiceLimit};
use crate::routes::{Route, Routes};
use crate::sniff;
use crate::status::ERROR_SOURCE_KEY;
use crate::tls::{ServerTlsConfig, TlsAcceptor, TlsError};
use crate::{Request, Response, Status};

/// A boxed future, as [`Service::call`] returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A gRPC service: its fully qualified name and a routing function over
/// method names. Generated code implements it with one `match` arm per
/// method, each calling [`unary`], [`server_streaming`],
/// [`client_streaming`] or [`bidi_streaming`].
pub trait Service: Send + Sync + 'static {
    /// The fully qualified name, e.g. `helloworld.Greeter`.
    fn name(&self) -> &str;

    /// Runs one call. For a method it does not know, return
    /// `Box::pin(call.unimplemented())`.
    fn call(&self, call: ServerCall) -> BoxFuture<()>;
}

/// One incoming call, before a handler has taken it apart.
#[derive(Debug)]
pub struct ServerCall {
    head: RequestHead,
    recv: RecvStream,
    /// The whole request, when it came with the head (see `Incoming`).
    whole: Option<ferry_wire::grpc::Message>,
    sink: ResponseSink,
    deadline: Option<Instant>,
}

impl ServerCall {
    /// The method name (the last segment of `:path`).
    pub fn method(&self) -> &str {
        self.head.method()
    }

    /// The service name.
    pub fn service(&self) -> &str {
        self.head.service()
    }

    /// The request metadata.
    pub fn metadata(&self) -> &Metadata {
        self.head.metadata()
    }

    /// Answers UNIMPLEMENTED (for a method the service does not have).
    pub async fn unimplemented(self) {
        let status = Status::unimplemented(format!(
            "method {} not found in service {}",
            self.method(),
            self.service()
        ));
        self.sink.finish(status.framework());
    }

    /// Splits the call into its request metadata, the request stream
    /// (decoded with `decode`), the deadline and the response sink.
    fn split<T>(self, decode: Arc<dyn Fn(Bytes) -> Result<T, Status> + Send + Sync>) -> Parts<T> {
        let mut recv = self.recv;
        if let Some(message) = self.whole {
            recv.push_whole(message);
        }
        Parts {
            metadata: self.head.into_metadata(),
            requests: Streaming::new(recv, decode, None),
            deadline: self.deadline,
            sink: self.sink,
        }
    }
}

struct Parts<T> {
    metadata: Metadata,
    requests: Streaming<T>,
    deadline: Option<Instant>,
    sink: ResponseSink,
}

/// Where a handler's response goes: headers, messages, then the status.
#[derive(Debug)]
struct ResponseSink {
    send: SendStream,
    /// Metadata interceptors added for the response headers.
    extra: Metadata,
    /// What the server decompresses, announced in `grpc-accept-encoding`.
    accept: EncodingSet,
    /// What the client decompresses (its `grpc-accept-encoding`): a
    /// handler's per-call choice of encoding is limited to these.
    client_accepts: EncodingSet,
    guard: StreamGuard,
    headers_sent: bool,
    /// The client's deadline: a sink dropped after it (the handler was
    /// cancelled because the deadline passed) ends the call with
    /// DEADLINE_EXCEEDED rather than a bare RST_STREAM, so every client
    /// reports the deadline whichever timer fires first.
    deadline: Option<Instant>,
}

impl Drop for ResponseSink {
    fn drop(&mut self) {
        if !self.guard.finished && self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.send_status(Status::deadline_exceeded("deadline exceeded").framework());
        }
    }
}

impl ResponseSink {
    /// A handler's choice of encoding for this call's responses, honoured
    /// if the client accepts it (and before the headers go out).
    fn choose_compression(&mut self, encoding: Option<Encoding>) {
        if let Some(encoding) = encoding {
            if !self.headers_sent {
                self.send.encoding = compression::pick(encoding, &self.client_accepts);
            }
        }
    }

    fn send_headers(&mut self, metadata: Metadata) {
        if !self.headers_sent {
            let headers = self.response_head(metadata).encode();
            self.send.handle.send(Command::Headers {
                id: self.send.id,
                headers,
                end_stream: false,
            });
        }
    }

    /// The response head with `metadata` and what interceptors added; the
    /// headers count as sent from here on.
    fn response_head(&mut self, mut metadata: Metadata) -> ResponseHead {
        self.headers_sent = true;
        metadata.extend(std::mem::take(&mut self.extra));
        let mut head = ResponseHead::new().with_metadata(metadata);
        if !self.send.encoding.is_identity() {
            head = head.with_encoding(self.send.encoding.as_str());
        }
        head.with_accept_encoding(self.accept.to_header_value())
    }

    /// Ends a call that succeeded with one message: headers, the message
    /// (framed) and an OK status with `trailers`, as one command.
    fn respond(mut self, metadata: Metadata, message: Framed, trailers: Metadata) {
        if self.headers_sent {
            // Not for unary calls; kept correct for any caller.
            let _ = self.send.send_last(message);
            return self.finish(Status::ok().with_metadata(trailers));
        }
        let answer = Answer {
            head: self.response_head(metadata),
            message,
            trailers,
        };
        self.send.handle.send(Command::Respond {
            id: self.send.id,
            answer: Box::new(answer),
        });
        self.guard.finished = true;
    }

    async fn send_message(&mut self, data: Framed) -> Result<(), Status> {
        self.send_headers(Metadata::new());
        self.send.send(data, false).await
    }

    /// Ends the call with `status` (Trailers-Only if nothing was sent yet).
    fn finish(mut self, status: Status) {
        self.send_status(status);
    }

    fn send_status(&mut self, status: Status) {
        let handle = &self.send.handle;
        let id = self.send.id;
        let mut trailers = Trailers::new(status.to_wire());
        *trailers.metadata_mut() = status.metadata().clone();
        if status.is_framework_error() && !status.is_ok() {
            let _ = trailers
                .metadata_mut()
                .insert(ERROR_SOURCE_KEY, "framework");
        }
        if !self.headers_sent {
            // Trailers-Only: what interceptors added goes out here.
            trailers
                .metadata_mut()
                .extend(std::mem::take(&mut self.extra));
        }
        if self.headers_sent {
            handle.send(Command::Trailers {
                id,
                trailers: trailers.encode(),
            });
        } else {
            let mut headers = trailers.encode_trailers_only(CONTENT_TYPE_GRPC);
            headers.push(HeaderField::new(
                "grpc-accept-encoding",
                self.accept.to_header_value(),
            ));
            handle.send(Command::Headers {
                id,
                headers,
                end_stream: true,
            });
        }
        self.guard.finished = true;
    }
}

/// The single request of a unary or server-streaming call, as far as it
/// can be taken without waiting.
// Matched as soon as it is made, never stored: boxing the call would cost
// the streamed path an allocation for nothing.
#[allow(clippy::large_enum_variant)]
enum Single<M> {
    /// Decoded from the whole request that came with the head.
    Ready(Request<M>, ResponseSink),
    /// The whole request did not decode; the call has been answered.
    Answered,
    /// The request is to be read from the request stream.
    Streamed(ServerCall),
}

impl ServerCall {
    /// Decodes the whole request, when it came with the head.
    fn take_single<C: Codec>(self, codec: &C) -> Single<C::Decode> {
        let ServerCall {
            head,
            mut recv,
            whole,
            sink,
            deadline,
        } = self;
        let Some(message) = whole else {
            return Single::Streamed(ServerCall {
                head,
                recv,
                whole: None,
                sink,
                deadline,
            });
        };
        let compressed = message.compressed;
        match recv.whole(message).and_then(|bytes| codec.decode(bytes)) {
            Ok(message) => Single::Ready(
                Request::from_parts(head.into_metadata(), message, deadline)
                    .with_arrived_compressed(compressed),
                sink,
            ),
            Err(status) => {
                sink.finish(status.framework());
                Single::Answered
            }
        }
    }
}

/// Reads the single request of a unary or server-streaming call from its
/// request stream; when there is not exactly one, the call is answered
/// here and `None` returned.
async fn streamed_request<C: Codec>(
    call: ServerCall,
    codec: &C,
) -> Option<(Request<C::Decode>, ResponseSink)> {
    let Parts {
        metadata,
        mut requests,
        deadline,
        sink,
    } = call.split(decoder(codec));
    match one_request(&mut requests).await {
        Ok((message, compressed)) => Some((
            Request::from_parts(metadata, message, deadline).with_arrived_compressed(compressed),
            sink,
        )),
        Err(status) => {
            sink.finish(status.framework());
            None
        }
    }
}

/// Takes exactly one request message, and whether it arrived compressed.
async fn one_request<T>(requests: &mut Streaming<T>) -> Result<(T, bool), Status> {
    let first = requests
        .message()
        .await?
        .ok_or_else(|| Status::internal("expected one request message, got none"))?;
    let compressed = requests.last_message_compressed();
    if requests.message().await?.is_some() {
        return Err(Status::internal("expected one request message, got more"));
    }
    Ok((first, compressed))
}

/// Runs a unary handler: one request in, one response out.
///
/// A request that came whole with its head is decoded before this returns,
/// and the future then holds little more than the handler's own; one that
/// is still arriving is read in a boxed future of its own.
pub fn unary<C, F, Fut>(call: ServerCall, codec: C, handler: F) -> impl Future<Output = ()>
where
    C: Codec,
    F: FnOnce(Request<C::Decode>) -> Fut,
    Fut: Future<Output = Result<Response<C::Encode>, Status>>,
{
    match call.take_single(&codec) {
        Single::Ready(request, sink) => Either::Left(async move {
            let result = handler(request).await;
            respond_one(sink, &codec, result);
        }),
        Single::Answered => Either::Right(Either::Left(std::future::ready(()))),
        Single::Streamed(call) => Either::Right(Either::Right(Box::pin(async move {
            let Some((request, sink)) = streamed_request(call, &codec).await else {
                return;
            };
            let result = handler(request).await;
            respond_one(sink, &codec, result);
        }))),
    }
}

/// Runs a server-streaming handler: one request in, a stream out. The
/// stream yields messages, or [`Outbound`](crate::Outbound)s to send one
/// message uncompressed on a compressed call. The request is taken as by
/// [`unary`].
pub fn server_streaming<C, F, Fut, S, M>(
    call: ServerCall,
    codec: C,
    handler: F,
) -> impl Future<Output = ()>
where
    C: Codec,
    F: FnOnce(Request<C::Decode>) -> Fut,
    Fut: Future<Output = Result<Response<S>, Status>>,
    S: Stream<Item = Result<M, Status>> + Send,
    M: IntoOutbound<C::Encode>,
{
    match call.take_single(&codec) {
        Single::Ready(request, sink) => Either::Left(async move {
            let result = handler(request).await;
            respond_stream(sink, &codec, result).await;
        }),
        Single::Answered => Either::Right(Either::Left(std::future::ready(()))),
        Single::Streamed(call) => Either::Right(Either::Right(Box::pin(async move {
            let Some((request, sink)) = streamed_request(call, &codec).await else {
                return;
            };
            let result = handler(request).await;
            respond_stream(sink, &codec, result).await;
        }))),
    }
}

/// Runs a client-streaming handler: a stream in, one response out.
pub async fn client_streaming<C, F, Fut>(call: ServerCall, codec: C, handler: F)
where
    C: Codec,
    F: FnOnce(Request<Streaming<C::Decode>>) -> Fut,
    Fut: Future<Output = Result<Response<C::Encode>, Status>>,
{
    let Parts {
        metadata,
        requests,
        deadline,
        sink,
    } = call.split(decoder(&codec));
    let result = handler(Request::from_parts(metadata, requests, deadline)).await;
    respond_one(sink, &codec, result);
}

/// Runs a bidirectional-streaming handler: a stream in, a stream out (of
/// messages or [`Outbound`](crate::Outbound)s, as for
/// [`server_streaming`]).
pub async fn bidi_streaming<C, F, Fut, S, M>(call: ServerCall, codec: C, handler: F)
where
    C: Codec,
    F: FnOnce(Request<Streaming<C::Decode>>) -> Fut,
    Fut: Future<Output = Result<Response<S>, Status>>,
    S: Stream<Item = Result<M, Status>> + Send,
    M: IntoOutbound<C::Encode>,
{
    let Parts {
        metadata,
        requests,
        deadline,
        sink,
    } = call.split(decoder(&codec));
    let result = handler(Request::from_parts(metadata, requests, deadline)).await;
    respond_stream(sink, &codec, result).await;
}

fn respond_one<C: Codec>(
    mut sink: ResponseSink,
    codec: &C,
    result: Result<Response<C::Encode>, Status>,
) {
    match result {
        Ok(mut response) => {
            let trailers = std::mem::take(response.trailers_mut());
            sink.choose_compression(response.compression());
            let (metadata, message) = response.into_parts();
            match sink
                .send
                .frame_last(true, codec.encoded_len(&message), |buf| {
                    codec.encode(&message, buf)
                }) {
                Ok(data) => sink.respond(metadata, data, trailers),
                Err(status) => {
                    sink.send_headers(metadata);
                    sink.finish(status.framework());
                }
            }
        }
        Err(status) => sink.finish(status),
    }
}

async fn respond_stream<C, S, M>(
    mut sink: ResponseSink,
    codec: &C,
    result: Result<Response<S>, Status>,
) where
    C: Codec,
    S: Stream<Item = Result<M, Status>> + Send,
    M: IntoOutbound<C::Encode>,
{
    let (metadata, stream, trailers) = match result {
        Ok(mut response) => {
            let trailers = std::mem::take(response.trailers_mut());
            sink.choose_compression(response.compression());
            let (metadata, stream) = response.into_parts();
            (metadata, stream, trailers)
        }
        Err(status) => return sink.finish(status),
    };
    sink.send_headers(metadata);
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        match item {
            Ok(message) => {
                let message = message.into_outbound();
                let compress = message.may_compress();
                let sent =
                    match sink
                        .send
                        .frame(compress, codec.encoded_len(message.get_ref()), |buf| {
                            codec.encode(message.get_ref(), buf)
                        }) {
                        Ok(data) => {
                            drop(message);
                            sink.send_message(data).await
                        }
                        Err(status) => Err(status),
                    };
                if let Err(status) = sent {
                    return sink.finish(status.framework());
                }
            }
            Err(status) => return sink.finish(status),
        }
    }
    sink.finish(Status::ok().with_metadata(trailers));
}

/// Builds a [`Server`].
pub struct ServerBuilder {
    max_age: Option<MaxAge>,
    routes: Routes,
    interceptors: Vec<Arc<dyn Interceptor>>,
    send_compressed: Encoding,
    min_compress_size: usize,
    accept_compressed: EncodingSet,
    tls: Option<ServerTlsConfig>,
    conn: conn::Config,
    max_concurrent_calls: usize,
    max_recv_message_size: usize,
    grace_period: Duration,
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("services", &self.routes.names())
            .finish()
    }
}

impl ServerBuilder {
    /// Adds a service; calls to `/name/...` go to it (those that name no
    /// implementation, see [`ServerBuilder::add_named_service`]).
    pub fn add_service(mut self, service: impl Service) -> ServerBuilder {
        self.routes.add(None, Arc::new(service));
        self
    }

    /// Exports another implementation of a service under a name of its
    /// own: calls that carry that name in the `ferry-implementation`
    /// metadata key (`Request::with_implementation`) go to it. A call
    /// naming an implementation the server does not have gets UNIMPLEMENTED
    /// with a message naming it.
    pub fn add_named_service(
        mut self,
        implementation: &str,
        service: impl Service,
    ) -> ServerBuilder {
        self.routes.add(Some(implementation), Arc::new(service));
        self
    }

    /// Limits the calls of one service (all its implementations together)
    /// running at once, so a slow service cannot take every worker from
    /// the others. Past the limit, calls wait in a queue of
    /// `limit.queue` places (until their deadline), and past that they are
    /// refused at once with RESOURCE_EXHAUSTED.
    pub fn limit_service(mut self, service: &str, limit: ServiceLimit) -> ServerBuilder {
        self.routes.limit(service, limit);
        self
    }

    /// Calls one connection may have running at once (advertised as
    /// SETTINGS_MAX_CONCURRENT_STREAMS; more are refused, and clients retry
    /// them). Default 200.
    pub fn max_concurrent_streams(mut self, n: u32) -> ServerBuilder {
        self.conn.max_concurrent_streams = n;
        self
    }

    /// Calls the whole server may have running at once; streams past it
    /// are refused with REFUSED_STREAM. Default 10,000.
    pub fn max_concurrent_calls(mut self, n: usize) -> ServerBuilder {
        self.max_concurrent_calls = n;
        self
    }

    /// The largest request message accepted, checked from its length
    /// prefix before it is buffered. Default 4 MiB.
    pub fn max_recv_message_size(mut self, n: usize) -> ServerBuilder {
        self.max_recv_message_size = n;
        self
    }

    /// How long a graceful shutdown lets calls in flight finish before they
    /// are cancelled. Default 10 s.
    pub fn grace_period(mut self, d: Duration) -> ServerBuilder {
        self.grace_period = d;
        self
    }

    /// The HTTP/2 settings and limits of each connection. This replaces
    /// the whole configuration: the builder's default (which adds grpc-go's
    /// ping enforcement, [`conn::PingPolicy::GRPC_DEFAULT`], to
    /// [`conn::Config::default`]) and whatever [`keepalive`](Self::keepalive)
    /// or [`max_connection_idle`](Self::max_connection_idle) set before, so
    /// call it first and set `ping_policy` yourself if you want it kept.
    pub fn connection_config(mut self, config: conn::Config) -> ServerBuilder {
        self.conn = config;
        self
    }

    /// Ends each connection gracefully (GOAWAY) after `max_age`, and closes
    /// it `grace` later if calls are still running, so long-lived clients
    /// reconnect and load spreads. Default: connections live as long as
    /// their peers keep them.
    pub fn max_connection_age(mut self, max_age: Duration, grace: Duration) -> ServerBuilder {
        self.max_age = Some(MaxAge { max_age, grace });
        self
    }

    /// Ends a connection gracefully (the two-step GOAWAY) once it has had
    /// no call open for `idle`, as grpc-go's `MaxConnectionIdle`: idle
    /// clients stop holding a connection, and a client reconnects when it
    /// next calls. A connection with calls running is never idle. Default:
    /// connections may stay idle as long as their peers keep them.
    pub fn max_connection_idle(mut self, idle: Duration) -> ServerBuilder {
        self.conn.idle_timeout = Some(idle);
        self
    }

    /// Pings each client after `interval` without hearing from it and
    /// closes connections whose client does not answer within `timeout`,
    /// so half-open connections do not hold resources. Default: off.
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> ServerBuilder {
        self.conn.keepalive = Some(conn::Keepalive {
            interval,
            timeout,
            while_idle: true,
        });
        self
    }

    /// Adds an interceptor; they run in the order added, before routing.
    pub fn interceptor(mut self, interceptor: impl Interceptor) -> ServerBuilder {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Compress responses with this encoding when the client accepts it
    /// (`grpc-accept-encoding`). Default: identity (no compression). A
    /// handler chooses otherwise for its own call with
    /// [`Response::with_compression`].
    pub fn send_compressed(mut self, encoding: Encoding) -> ServerBuilder {
        self.send_compressed = encoding;
        self
    }

    /// Response messages smaller than this (encoded) go uncompressed (flag
    /// 0) even when the call's responses are compressed; so do messages that
    /// compression does not make smaller. Default
    /// [`DEFAULT_MIN_COMPRESS_SIZE`](crate::compression::DEFAULT_MIN_COMPRESS_SIZE)
    /// (64 bytes); 0 compresses every message that shrinks.
    pub fn min_compress_size(mut self, bytes: usize) -> ServerBuilder {
        self.min_compress_size = bytes;
        self
    }

    /// The encodings requests may use; others are answered UNIMPLEMENTED.
    /// Default: every encoding Ferry implements (gzip, zstd).
    pub fn accept_compressed(mut self, encodings: EncodingSet) -> ServerBuilder {
        self.accept_compressed = encodings;
        self
    }

    /// Serve TLS (ALPN `h2`) on TCP connections, optionally requiring
    /// client certificates (see [`ServerTlsConfig`]).
    pub fn tls(mut self, config: ServerTlsConfig) -> ServerBuilder {
        self.tls = Some(config);
        self
    }

    /// The server.
    ///
    /// # Panics
    ///
    /// On a TLS configuration rustls refuses (a key that does not match its
    /// certificate); [`ServerBuilder::try_build`] returns that error instead.
    pub fn build(self) -> Server {
        self.try_build().expect("invalid TLS configuration")
    }

    /// The server, or the TLS configuration error.
    pub fn try_build(self) -> Result<Server, TlsError> {
        let tls = self
            .tls
            .as_ref()
            .map(ServerTlsConfig::acceptor)
            .transpose()?;
        // The native protocol takes the same limits as HTTP/2.
        let native = NativeConfig {
            max_body: u32::try_from(self.max_recv_message_size).unwrap_or(u32::MAX),
            max_calls: self.conn.max_concurrent_streams,
            handshake: self.conn.handshake_timeout,
            ..NativeConfig::default()
        }
        .with_keepalive(self.conn.keepalive);
        Ok(Server {
            inner: Arc::new(Inner {
                max_age: self.max_age,
                tls,
                interceptors: self.interceptors,
                send_compressed: self.send_compressed,
                min_compress_size: self.min_compress_size,
                accept_compressed: self.accept_compressed,
                routes: self.routes,
                conn: self.conn,
                calls: Arc::new(Semaphore::new(self.max_concurrent_calls)),
                max_recv_message_size: self.max_recv_message_size,
                grace_period: self.grace_period,
                native,
            }),
        })
    }
}

struct Inner {
    max_age: Option<MaxAge>,
    routes: Routes,
    interceptors: Vec<Arc<dyn Interceptor>>,
    send_compressed: Encoding,
    min_compress_size: usize,
    accept_compressed: EncodingSet,
    tls: Option<TlsAcceptor>,
    conn: conn::Config,
    calls: Arc<Semaphore>,
    max_recv_message_size: usize,
    grace_period: Duration,
    native: NativeConfig,
}

/// A gRPC server. Cheap to clone.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("services", &self.inner.routes.names())
            .finish()
    }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Server {
    /// A builder with the defaults.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            max_age: None,
            routes: Routes::default(),
            interceptors: Vec::new(),
            send_compressed: Encoding::Identity,
            min_compress_size: compression::DEFAULT_MIN_COMPRESS_SIZE,
            accept_compressed: EncodingSet::all(),
            tls: None,
            // grpc-go's keepalive enforcement, so clients that ping too
            // often are told so (GOAWAY too_many_pings) as grpc-go would.
            conn: conn::Config {
                ping_policy: Some(conn::PingPolicy::GRPC_DEFAULT),
                ..conn::Config::default()
            },
            max_concurrent_calls: 10_000,
            max_recv_message_size: grpc::DEFAULT_MAX_RECV_MESSAGE_SIZE,
            grace_period: Duration::from_secs(10),
        }
    }

    /// Serves on a TCP address until the process ends.
    pub async fn serve(self, addr: SocketAddr) -> io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// Serves on a TCP listener until `signal` completes, then shuts down
    /// gracefully: no new connections, GOAWAY on each connection, calls in
    /// flight finish within the grace period, the rest are cancelled.
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        signal: impl Future<Output = ()>,
    ) -> io::Result<()> {
        self.accept_loop(Listener::Tcp(listener), signal).await
    }

    /// Serves on a Unix socket until `signal` completes (see
    /// [`Server::serve_with_shutdown`]).
    pub async fn serve_unix(
        self,
        listener: UnixListener,
        signal: impl Future<Output = ()>,
    ) -> io::Result<()> {
        self.accept_loop(Listener::Unix(listener), signal).await
    }

    async fn accept_loop(
        self,
        listener: Listener,
        signal: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let mut connections: JoinSet<()> = JoinSet::new();
        let registry = Arc::new(Registry::default());
        let mut signal = std::pin::pin!(signal);
        loop {
            let accepted = tokio::select! {
                () = &mut signal => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {
                    registry.forget_closed();
                    continue;
                }
                accepted = accept(&listener) => accepted,
            };
            match accepted {
                Ok(Accepted::Tcp(sock)) => {
                    let _ = sock.set_nodelay(true);
                    let server = self.clone();
                    let registry = registry.clone();
                    match self.inner.tls.clone() {
                        None => {
                            connections
                                .spawn(async move { server.serve_io(sock, &registry).await });
                        }
                        Some(acceptor) => {
                            // The handshake runs in the connection's own
                            // task, so a slow client cannot stall accepting.
                            connections.spawn(async move {
                                match acceptor.accept(sock).await {
                                    Ok(tls) => server.serve_io(tls, &registry).await,
                                    Err(e) => tracing::debug!("TLS handshake failed: {e}"),
                                }
                            });
                        }
                    }
                }
                Ok(Accepted::Unix(sock)) => {
                    let server = self.clone();
                    let registry = registry.clone();
                    connections.spawn(async move { server.serve_io(sock, &registry).await });
                }
                // Per-connection failures (a reset during accept, too many
                // open files) must not stop the server.
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        drop(listener);
        registry.shut_down();
        let grace = tokio::time::sleep(self.inner.grace_period);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                next = connections.join_next() => if next.is_none() { break },
                () = &mut grace => {
                    registry.close_all();
                    while connections.join_next().await.is_some() {}
                    break;
                }
            }
        }
        Ok(())
    }

    /// Serves one established connection (any byte stream: TCP, Unix, TLS)
    /// until it closes.
    pub async fn serve_connection<IO>(&self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        self.serve_io(io, &Registry::default()).await;
    }

    /// Tells the connection's protocol from its first bytes, runs the
    /// driver for it, and lists the driver in `registry` (for shutdown)
    /// while it runs.
    async fn serve_io<IO>(&self, io: IO, registry: &Registry)
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        // The HTTP/2 handshake timer runs from accept, sniffing included.
        let accepted = Instant::now().into_std();
        let timeout = self.inner.conn.handshake_timeout;
        let (protocol, mut io) = match sniff::sniff(io, timeout).await {
            Ok(sniffed) => sniffed,
            Err(e) => {
                tracing::debug!("connection closed before it chose a protocol: {e}");
                return;
            }
        };
        let on_stream = self.on_stream();
        let (handle, task) = match protocol {
            Some(sniff::Protocol::Http1) => return sniff::refuse_http1(io).await,
            Some(sniff::Protocol::Native) => {
                let preread = io.take_prefix();
                native::spawn_server(io, self.inner.native, on_stream, preread)
            }
            Some(sniff::Protocol::Http2) | None => {
                let conn = Connection::new(Role::Server, self.inner.conn.clone(), accepted);
                driver::spawn(io, conn, Some(on_stream), self.inner.max_age)
            }
        };
        registry.add(handle);
        let _ = task.await;
    }

    /// What a connection's driver does with each call the client opens.
    fn on_stream(&self) -> driver::OnStream {
        let inner = self.inner.clone();
        Box::new(move |incoming: Incoming| {
            let Ok(permit) = inner.calls.clone().try_acquire_owned() else {
                // Over the server-wide limit: refused before any work, so
                // the client may retry it elsewhere.
                return Err(Reason::REFUSED_STREAM);
            };
            // Not boxed: the call's future is small (see `run_call`), and
            // a box would be one more allocation per call.
            tokio::spawn(call_task(inner.clone(), incoming, permit));
            Ok(())
        })
    }
}

/// The drivers of a server's open connections, for shutdown.
#[derive(Default)]
struct Registry {
    handles: std::sync::Mutex<Vec<Handle>>,
    shutting_down: std::sync::atomic::AtomicBool,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Handle>> {
        self.handles.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lists a new connection; one that comes up while the server shuts
    /// down is told to shut down at once.
    fn add(&self, handle: Handle) {
        let mut handles = self.lock();
        if self
            .shutting_down
            .load(std::sync::atomic::Ordering::Acquire)
        {
            handle.send(Command::Shutdown);
        }
        handles.push(handle);
    }

    fn forget_closed(&self) {
        self.lock().retain(|h| !h.is_closed());
    }

    /// Graceful shutdown of every connection: GOAWAY, calls finish.
    fn shut_down(&self) {
        let handles = self.lock();
        self.shutting_down
            .store(true, std::sync::atomic::Ordering::Release);
        for handle in handles.iter() {
            handle.send(Command::Shutdown);
        }
    }

    /// The grace period is over: close what is left.
    fn close_all(&self) {
        for handle in self.lock().iter() {
            handle.send(Command::Close {
                reason: Reason::NO_ERROR,
                detail: "server shut down: grace period over",
            });
        }
    }
}

enum Accepted {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

async fn accept(listener: &Listener) -> io::Result<Accepted> {
    match listener {
        Listener::Tcp(l) => l.accept().await.map(|(s, _)| Accepted::Tcp(s)),
        Listener::Unix(l) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
    }
}

/// The task of one call; `permit` is its place under the server's limit.
// Not an `async fn`, which would hold its arguments twice (see `Driver::run`).
#[allow(clippy::manual_async_fn)]
fn call_task(
    inner: Arc<Inner>,
    incoming: Incoming,
    permit: OwnedSemaphorePermit,
) -> impl Future<Output = ()> + Send {
    async move {
        run_call(&inner, incoming).await;
        drop(permit);
    }
}

/// One call: checks the request head, routes it, runs the handler until it
/// finishes, the client cancels, or the deadline passes.
///
/// Everything up to the handler is done without awaiting unless an
/// interceptor or a service's concurrency limit is in the way (that part is
/// boxed), so this future, spawned once per call, stays small.
async fn run_call(inner: &Inner, incoming: Incoming) {
    let Admitted {
        handler,
        turn: _turn,
        mut cancelled,
        deadline,
    } = match admission(inner, incoming) {
        Admission::Ready(admitted) => admitted,
        Admission::Waiting(admitted) => match admitted.await {
            Some(admitted) => admitted,
            None => return,
        },
        Admission::Refused => return,
    };
    let expired = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    // Dropping the handler drops its response sink, whose guard resets the
    // stream with CANCEL: the client gave up or its deadline passed.
    tokio::select! {
        () = handler => {}
        _ = &mut cancelled => {}
        () = expired => {}
    }
}

/// Decodes and checks a new stream's request head and sets up its request
/// stream and response sink; `None` when the call was refused here (reset,
/// or answered with an error).
fn open_call(inner: &Inner, incoming: Incoming) -> Option<(ServerCall, oneshot::Receiver<()>)> {
    let Incoming {
        id,
        start,
        end_stream,
        message,
        events,
        cancelled,
        handle,
    } = incoming;
    let head = match start {
        RequestStart::Headers(headers) => RequestHead::decode(&headers),
        RequestStart::Head(head) => head.map(|head| *head),
    };
    let head = match head {
        Ok(head) => head,
        Err(e) => {
            match e.reset_reason() {
                Some(reason) => handle.send(Command::Reset { id, reason }),
                None => handle.send(Command::Headers {
                    id,
                    headers: e.encode_response(),
                    end_stream: true,
                }),
            };
            return None;
        }
    };
    let deadline = head.timeout().map(|t| Instant::now() + t);
    let mut recv = RecvStream::new(
        id,
        handle.clone(),
        events,
        inner.max_recv_message_size,
        Side::Server,
        end_stream,
    );
    recv.initial_window = inner.conn.initial_stream_window as usize;
    let mut send = SendStream::new(id, handle.clone());
    // Respond compressed when configured and the client accepts it.
    let client_accepts = head
        .accept_encoding_value()
        .map_or(EncodingSet::identity_only(), |list| {
            EncodingSet::parse_accept(list)
        });
    send.encoding = compression::pick(inner.send_compressed, &client_accepts);
    send.min_compress_size = inner.min_compress_size;
    let sink = ResponseSink {
        extra: Metadata::new(),
        accept: inner.accept_compressed,
        client_accepts,
        send,
        guard: StreamGuard::new(id, handle),
        headers_sent: false,
        deadline,
    };
    match inner
        .accept_compressed
        .recv_encoding(head.encoding().map(str::as_bytes))
    {
        Ok(encoding) => recv.encoding = encoding,
        Err(e) => {
            sink.finish(Status::from(e.to_status()));
            return None;
        }
    }
    let call = ServerCall {
        head,
        recv,
        whole: message,
        sink,
        deadline,
    };
    Some((call, cancelled))
}

/// A call on its way to its handler.
enum Admission<'a> {
    /// Nothing to wait for: the handler is made.
    Ready(Admitted),
    /// Interceptors or the service's concurrency limit are in the way.
    Waiting(Pin<Box<dyn Future<Output = Option<Admitted>> + Send + 'a>>),
    /// Refused or answered already.
    Refused,
}

/// A call whose handler may run.
struct Admitted {
    handler: BoxFuture<()>,
    /// Held while the handler runs: the service's concurrency limit.
    turn: Option<OwnedSemaphorePermit>,
    /// Fires when the peer cancels the call.
    cancelled: oneshot::Receiver<()>,
    deadline: Option<Instant>,
}

/// Opens and routes a call, without awaiting unless something in between
/// waits. (Kept out of `run_call` so the call itself, moved into its
/// handler here, takes no room in the future spawned for every call.)
fn admission(inner: &Inner, incoming: Incoming) -> Admission<'_> {
    let Some((call, cancelled)) = open_call(inner, incoming) else {
        return Admission::Refused;
    };
    if !inner.interceptors.is_empty() {
        return Admission::Waiting(Box::pin(admit(inner, call, None, cancelled)));
    }
    match route_call(inner, &call.head) {
        Ok(Route {
            service,
            limit: None,
        }) => Admission::Ready(Admitted {
            deadline: call.deadline,
            handler: service.call(call),
            turn: None,
            cancelled,
        }),
        Ok(route) => Admission::Waiting(Box::pin(admit(inner, call, Some(route), cancelled))),
        Err(status) => {
            call.sink.finish(status.framework());
            Admission::Refused
        }
    }
}

/// The service (and implementation) a call's head names.
fn route_call(inner: &Inner, head: &RequestHead) -> Result<Route, Status> {
    let implementation = head
        .metadata()
        .get(IMPLEMENTATION_KEY)
        .and_then(|v| v.as_str());
    inner.routes.route(head.service(), implementation)
}

/// The part of a call's admission that waits: the interceptors (when
/// `route` is `None`, the call is routed after them, as they may change
/// its metadata), then the service's concurrency limit. `None` when the
/// call was answered or cancelled on the way.
async fn admit(
    inner: &Inner,
    mut call: ServerCall,
    route: Option<Route>,
    mut cancelled: oneshot::Receiver<()>,
) -> Option<Admitted> {
    let route = match route {
        Some(route) => route,
        None => {
            let info = CallInfo {
                side: CallSide::Server,
                path: call.head.path().to_owned(),
                metadata: std::mem::take(call.head.metadata_mut()),
                response_metadata: Metadata::new(),
            };
            match interceptor::run(&inner.interceptors, info).await {
                Ok(info) => {
                    *call.head.metadata_mut() = info.metadata;
                    call.sink.extra = info.response_metadata;
                }
                Err(status) => {
                    call.sink.finish(status);
                    return None;
                }
            }
            match route_call(inner, &call.head) {
                Ok(route) => route,
                Err(status) => {
                    call.sink.finish(status.framework());
                    return None;
                }
            }
        }
    };
    let Route { service, limit } = route;
    let turn = match limit {
        None => None,
        Some(limit) => tokio::select! {
            turn = limit.acquire(call.deadline) => match turn {
                Ok(permit) => Some(permit),
                Err(status) => {
                    call.sink.finish(status.framework());
                    return None;
                }
            },
            _ = &mut cancelled => return None,
        },
    };
    Some(Admitted {
        deadline: call.deadline,
        handler: service.call(call),
        turn,
        cancelled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BytesCodec;

    /// glibc's malloc serves blocks up to 1,032 bytes from a per-thread
    /// cache; a larger one takes its slow path (and may first consolidate
    /// every free small block). The task spawned for each call and a unary
    /// handler's future stay under that with room for the handler's own
    /// state: they were 2,120 and 2,704 bytes, when malloc and free took a
    /// sixth of the server's time (BENCHMARKS.md, 2026-11-22).
    #[test]
    fn the_futures_made_for_each_call_fit_mallocs_thread_cache() {
        let server = Server::builder().build();
        let incoming = || {
            let (tx, _) = tokio::sync::mpsc::unbounded_channel();
            let (_, events) = crate::events::channel();
            let (_, cancelled) = oneshot::channel();
            let headers = [
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/a.B/C"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
            ];
            Incoming {
                id: ferry_wire::StreamId::new(1),
                start: RequestStart::Headers(
                    headers
                        .iter()
                        .map(|(name, value)| HeaderField::from_static(name, value))
                        .collect(),
                ),
                end_stream: true,
                message: Some(grpc::Message {
                    compressed: false,
                    data: Bytes::from_static(b"hello"),
                }),
                events,
                cancelled,
                handle: Handle::new(tx, Arc::default()),
            }
        };
        let permit = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let task = call_task(server.inner.clone(), incoming(), permit);
        let task_size = std::mem::size_of_val(&task);
        // Plus tokio's task header and trailer (about 140 bytes).
        assert!(task_size <= 640, "call task {task_size} bytes");

        let (call, _) = open_call(&server.inner, incoming()).unwrap();
        let handler = unary(call, BytesCodec, |request: Request<Bytes>| async move {
            Ok(Response::new(request.into_inner()))
        });
        let handler_size = std::mem::size_of_val(&handler);
        assert!(handler_size <= 640, "unary handler {handler_size} bytes");
    }
}
