//! The client: a [`Channel`] to one server, and the four call shapes.
//!
//! A channel connects lazily (or eagerly with [`Channel::connect`]),
//! multiplexes every call on one HTTP/2 connection, and reconnects by
//! itself with the gRPC connection backoff (1 s initial, ×1.6, jitter 0.2,
//! 120 s ceiling). A call either fails fast with UNAVAILABLE while no
//! connection is ready, or waits for one until its deadline
//! ([`Request::wait_for_ready`]). Calls that provably never reached the
//! server (refused streams, streams above a GOAWAY, connections that failed
//! before the request was written) are retried transparently.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ferry_wire::StreamId;
use ferry_wire::conn::{self, Connection, OpenError, Role};
use ferry_wire::grpc::{self, Metadata, RequestHead, Scheme};
use futures_core::Stream;
use futures_util::StreamExt;
use futures_util::stream::Fuse;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::{Mutex, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::call::{RecvStream, SendStream, Side, StreamGuard, Streaming};
use crate::codec::{BytesCodec, Codec, decoder};
use crate::compression::{Encoding, EncodingSet};
use crate::driver::{self, Command, Handle, OpenReply};
use crate::events::{self, EventReceiver};
use crate::framed::{FrameBufs, Framed, frame_message};
use crate::interceptor::{self, CallInfo, CallSide, Interceptor};
use crate::message::IntoOutbound;
use crate::native::{self, NativeConfig};
use crate::server::BoxFuture;
use crate::status::Delivery;
use crate::tls::{ClientTlsConfig, TlsConnector};
use crate::{Request, Response, Status};

/// Attempts for a call whose earlier tries provably never reached the
/// server.
const TRANSPARENT_ATTEMPTS: usize = 3;

#[derive(Clone, Debug)]
enum Target {
    Tcp(String),
    Unix(PathBuf),
}

/// A parsed `http://host:port`, `https://host:port`, `ferry://host:port`
/// or `unix:/path` URI.
#[derive(Clone, Debug)]
struct Endpoint {
    target: Target,
    authority: String,
    /// `authority` as every request sends it: one buffer, shared from the
    /// first request on, so a request's copy is a reference count rather
    /// than an allocation.
    authority_value: Bytes,
    scheme: Scheme,
    /// Speak the native protocol instead of gRPC over HTTP/2.
    native: bool,
}

impl Endpoint {
    fn parse(uri: &str) -> Result<Endpoint, Status> {
        if let Some(path) = uri
            .strip_prefix("unix://")
            .or_else(|| uri.strip_prefix("unix:"))
        {
            if path.is_empty() {
                return Err(Status::invalid_argument("unix: URI without a path"));
            }
            return Ok(Endpoint {
                target: Target::Unix(path.into()),
                authority: "localhost".into(),
                authority_value: Bytes::from_static(b"localhost"),
                scheme: Scheme::Http,
                native: false,
            });
        }
        let (scheme, native, rest) = if let Some(rest) = uri.strip_prefix("http://") {
            (Scheme::Http, false, rest)
        } else if let Some(rest) = uri.strip_prefix("https://") {
            (Scheme::Https, false, rest)
        } else if let Some(rest) = uri.strip_prefix("ferry://") {
            (Scheme::Http, true, rest)
        } else {
            return Err(Status::invalid_argument(format!(
                "unsupported URI {uri:?}: use http://, https://, ferry:// or unix:"
            )));
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(Status::invalid_argument(format!(
                "URI {uri:?} must be scheme://host:port"
            )));
        }
        let default_port = if scheme == Scheme::Https { 443 } else { 80 };
        let host_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:{default_port}")
        };
        Ok(Endpoint {
            target: Target::Tcp(host_port),
            authority: authority.to_owned(),
            authority_value: Bytes::from(authority.to_owned()),
            scheme,
            native,
        })
    }
}

/// The gRPC connection backoff (connection-backoff.md).
#[derive(Debug)]
struct Backoff {
    next: Duration,
    rng: u64,
}

impl Backoff {
    const INITIAL: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(120);
    const MULTIPLIER: f64 = 1.6;
    const JITTER: f64 = 0.2;

    fn new() -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Backoff {
            next: Backoff::INITIAL,
            rng: seed | 1,
        }
    }

    /// The wait before the next attempt, with ±20 % jitter.
    fn advance(&mut self) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let unit = (self.rng % 10_000) as f64 / 10_000.0; // [0, 1)
        let jitter = 1.0 + Backoff::JITTER * (2.0 * unit - 1.0);
        let wait = self.next.mul_f64(jitter);
        self.next = self.next.mul_f64(Backoff::MULTIPLIER).min(Backoff::MAX);
        wait
    }

    fn reset(&mut self) {
        self.next = Backoff::INITIAL;
    }
}

#[derive(Debug)]
struct ConnState {
    handle: Option<Handle>,
    backoff: Backoff,
    next_attempt: Option<Instant>,
    last_error: String,
}

struct Inner {
    endpoint: Endpoint,
    interceptors: Vec<Arc<dyn Interceptor>>,
    send_compressed: Encoding,
    min_compress_size: usize,
    accept_compressed: EncodingSet,
    tls: Option<TlsConnector>,
    conn: conn::Config,
    connect_timeout: Duration,
    default_timeout: Option<Duration>,
    max_recv_message_size: usize,
    /// One slot per connection the channel keeps; calls take them in turn.
    slots: Vec<Mutex<ConnState>>,
    next_slot: AtomicUsize,
}

/// A client connection to one server, cheap to clone; every clone shares
/// the same HTTP/2 connection (or the same few, with
/// [`ChannelBuilder::connections`]).
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("endpoint", &self.inner.endpoint.authority)
            .finish()
    }
}

/// Builds a [`Channel`].
pub struct ChannelBuilder {
    endpoint: Endpoint,
    connections: usize,
    interceptors: Vec<Arc<dyn Interceptor>>,
    send_compressed: Encoding,
    min_compress_size: usize,
    accept_compressed: EncodingSet,
    tls: Option<ClientTlsConfig>,
    conn: conn::Config,
    connect_timeout: Duration,
    default_timeout: Option<Duration>,
    max_recv_message_size: usize,
}

impl fmt::Debug for ChannelBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelBuilder")
            .field("endpoint", &self.endpoint.authority)
            .finish()
    }
}

impl ChannelBuilder {
    /// A deadline for calls that set none.
    pub fn default_timeout(mut self, timeout: Duration) -> ChannelBuilder {
        self.default_timeout = Some(timeout);
        self
    }

    /// How long one connection attempt may take. Default 20 s (the gRPC
    /// spec's minimum connect timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> ChannelBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// The largest response message accepted. Default 4 MiB.
    pub fn max_recv_message_size(mut self, n: usize) -> ChannelBuilder {
        self.max_recv_message_size = n;
        self
    }

    /// HTTP/2 settings and limits.
    pub fn connection_config(mut self, config: conn::Config) -> ChannelBuilder {
        self.conn = config;
        self
    }

    /// Pings the server after `interval` without hearing from it and drops
    /// the connection (failing its calls with UNAVAILABLE) when nothing
    /// arrives within `timeout`: a dead server or a silently broken network
    /// path is noticed instead of hanging calls. Pings go out only while
    /// calls are open, as grpc-go servers expect. Default: off.
    pub fn keepalive(mut self, interval: Duration, timeout: Duration) -> ChannelBuilder {
        self.conn.keepalive = Some(conn::Keepalive {
            interval,
            timeout,
            while_idle: false,
        });
        self
    }

    /// Closes a connection (GOAWAY, then the socket) once it has had no
    /// call open for `idle`; the channel connects again on its next call.
    /// A connection with calls running is never idle. Default: connections
    /// stay open while the channel lives.
    pub fn idle_timeout(mut self, idle: Duration) -> ChannelBuilder {
        self.conn.idle_timeout = Some(idle);
        self
    }

    /// Spreads calls over `n` HTTP/2 connections (in turn), for servers
    /// that limit concurrent streams per connection or to use several
    /// server threads. Default 1.
    pub fn connections(mut self, n: usize) -> ChannelBuilder {
        self.connections = n.max(1);
        self
    }

    /// Adds an interceptor; they run in the order added, before each call
    /// is sent (see [`crate::interceptor`]).
    pub fn interceptor(mut self, interceptor: impl Interceptor) -> ChannelBuilder {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Compress request messages with this encoding unless a call says
    /// otherwise ([`Request::with_compression`]). Default: identity.
    pub fn send_compressed(mut self, encoding: Encoding) -> ChannelBuilder {
        self.send_compressed = encoding;
        self
    }

    /// Request messages smaller than this (encoded) go uncompressed (flag
    /// 0) even on a compressed call: compressing them costs time and rarely
    /// saves a byte. Messages that compression does not make smaller go
    /// uncompressed too. Default
    /// [`DEFAULT_MIN_COMPRESS_SIZE`](crate::compression::DEFAULT_MIN_COMPRESS_SIZE)
    /// (64 bytes); 0 compresses every message that shrinks.
    pub fn min_compress_size(mut self, bytes: usize) -> ChannelBuilder {
        self.min_compress_size = bytes;
        self
    }

    /// The encodings responses may use (`grpc-accept-encoding`). Default:
    /// every encoding Ferry implements.
    pub fn accept_compressed(mut self, encodings: EncodingSet) -> ChannelBuilder {
        self.accept_compressed = encodings;
        self
    }

    /// TLS settings (roots, client identity, server name override) for an
    /// `https://` URI.
    pub fn tls(mut self, config: ClientTlsConfig) -> ChannelBuilder {
        self.tls = Some(config);
        self
    }

    /// Speaks Ferry's native protocol (`docs/native-protocol.md`) instead
    /// of gRPC over HTTP/2: the same calls, cheaper on the wire, to Ferry
    /// servers only. A `ferry://host:port` URI chooses it too; with an
    /// `https://` URI and TLS it goes over TLS with ALPN `ferry/1`.
    pub fn native_protocol(mut self, yes: bool) -> ChannelBuilder {
        self.endpoint.native = yes;
        self
    }

    /// The channel; it connects on its first call.
    pub fn connect_lazy(self) -> Result<Channel, Status> {
        let tls = match (self.endpoint.scheme, &self.tls) {
            (Scheme::Https, Some(config)) if self.endpoint.native => Some(
                config
                    .clone()
                    .native()
                    .connector()
                    .map_err(|e| Status::invalid_argument(e.to_string()))?,
            ),
            (Scheme::Https, Some(config)) => Some(
                config
                    .connector()
                    .map_err(|e| Status::invalid_argument(e.to_string()))?,
            ),
            (Scheme::Https, None) => {
                return Err(Status::invalid_argument(
                    "an https:// channel needs ChannelBuilder::tls(ClientTlsConfig)",
                ));
            }
            (_, Some(_)) => {
                return Err(Status::invalid_argument(
                    "TLS settings given for a plaintext URI: use https://",
                ));
            }
            (_, None) => None,
        };
        Ok(Channel {
            inner: Arc::new(Inner {
                tls,
                interceptors: self.interceptors,
                send_compressed: self.send_compressed,
                min_compress_size: self.min_compress_size,
                accept_compressed: self.accept_compressed,
                endpoint: self.endpoint,
                conn: self.conn,
                connect_timeout: self.connect_timeout,
                default_timeout: self.default_timeout,
                max_recv_message_size: self.max_recv_message_size,
                slots: (0..self.connections.max(1))
                    .map(|_| {
                        Mutex::new(ConnState {
                            handle: None,
                            backoff: Backoff::new(),
                            next_attempt: None,
                            last_error: String::new(),
                        })
                    })
                    .collect(),
                next_slot: AtomicUsize::new(0),
            }),
        })
    }

    /// The channel, connected now.
    pub async fn connect(self) -> Result<Channel, Status> {
        let channel = self.connect_lazy()?;
        channel.connection(false, None).await?;
        Ok(channel)
    }
}

impl Channel {
    /// A builder for `http://host:port`, `https://host:port`,
    /// `ferry://host:port` (the native protocol) or `unix:/path`.
    pub fn builder(uri: &str) -> Result<ChannelBuilder, Status> {
        Ok(ChannelBuilder {
            endpoint: Endpoint::parse(uri)?,
            tls: None,
            connections: 1,
            interceptors: Vec::new(),
            send_compressed: Encoding::Identity,
            min_compress_size: crate::compression::DEFAULT_MIN_COMPRESS_SIZE,
            accept_compressed: EncodingSet::all(),
            conn: conn::Config::default(),
            connect_timeout: Duration::from_secs(20),
            default_timeout: None,
            max_recv_message_size: grpc::DEFAULT_MAX_RECV_MESSAGE_SIZE,
        })
    }

    /// Connects now to `uri` with the defaults.
    pub async fn connect(uri: &str) -> Result<Channel, Status> {
        Channel::builder(uri)?.connect().await
    }

    /// A channel to `uri` that connects on its first call.
    pub fn lazy(uri: &str) -> Result<Channel, Status> {
        Channel::builder(uri)?.connect_lazy()
    }

    /// A ready connection, connecting (with backoff) if needed.
    async fn connection(
        &self,
        wait_for_ready: bool,
        deadline: Option<Instant>,
    ) -> Result<Handle, Status> {
        loop {
            let slot =
                self.inner.next_slot.fetch_add(1, Ordering::Relaxed) % self.inner.slots.len();
            let mut state = self.inner.slots[slot].lock().await;
            if let Some(handle) = &state.handle {
                if handle.is_usable() {
                    return Ok(handle.clone());
                }
                state.handle = None;
            }
            let now = Instant::now();
            if let Some(next) = state.next_attempt.filter(|next| *next > now) {
                let unavailable =
                    Status::unavailable(format!("no connection: {}", state.last_error));
                if !wait_for_ready {
                    return Err(unavailable.with_delivery(Delivery::NotSent));
                }
                drop(state);
                let wake = deadline.map_or(next, |d| d.min(next));
                tokio::time::sleep_until(wake).await;
                if deadline.is_some_and(|d| d <= Instant::now()) {
                    return Err(Status::deadline_exceeded(
                        "deadline passed while waiting for a connection",
                    )
                    .with_delivery(Delivery::NotSent));
                }
                continue;
            }
            match tokio::time::timeout(self.inner.connect_timeout, self.dial()).await {
                Ok(Ok(handle)) => {
                    state.backoff.reset();
                    state.next_attempt = None;
                    state.handle = Some(handle.clone());
                    return Ok(handle);
                }
                Ok(Err(e)) => state.last_error = e.to_string(),
                Err(_) => state.last_error = "connect timed out".to_owned(),
            }
            let wait = state.backoff.advance();
            state.next_attempt = Some(Instant::now() + wait);
            if !wait_for_ready {
                let status =
                    Status::unavailable(format!("failed to connect: {}", state.last_error));
                return Err(status.with_delivery(Delivery::NotSent));
            }
        }
    }

    async fn dial(&self) -> std::io::Result<Handle> {
        match &self.inner.endpoint.target {
            Target::Tcp(addr) => {
                let sock = TcpStream::connect(addr).await?;
                sock.set_nodelay(true)?;
                match &self.inner.tls {
                    None => Ok(self.start_driver(sock)),
                    Some(connector) => {
                        let host = host_of(&self.inner.endpoint.authority);
                        let tls = connector
                            .connect(host, sock)
                            .await
                            .map_err(std::io::Error::other)?;
                        Ok(self.start_driver(tls))
                    }
                }
            }
            Target::Unix(path) => Ok(self.start_driver(UnixStream::connect(path).await?)),
        }
    }

    fn start_driver<IO: AsyncRead + AsyncWrite + Send + 'static>(&self, io: IO) -> Handle {
        if self.inner.endpoint.native {
            let config = NativeConfig {
                max_body: u32::try_from(self.inner.max_recv_message_size).unwrap_or(u32::MAX),
                handshake: self.inner.conn.handshake_timeout,
                ..NativeConfig::default()
            }
            .with_keepalive(self.inner.conn.keepalive);
            return native::spawn_client(io, config).0;
        }
        let conn = Connection::new(
            Role::Client,
            self.inner.conn.clone(),
            Instant::now().into_std(),
        );
        driver::spawn(io, conn, None, None).0
    }

    /// Opens a stream for `path`, retrying on a fresh connection when the
    /// stream could not be opened on this one. A single-message request
    /// (`only`, already framed) goes out with the open and ends the request:
    /// one command and, over the native protocol, one frame.
    async fn open(
        &self,
        path: &str,
        metadata: &Metadata,
        deadline: Option<Instant>,
        wait_for_ready: bool,
        encoding: Encoding,
        only: Option<&Bytes>,
    ) -> Result<(RecvStream, SendStream, StreamGuard), Status> {
        let mut last = None;
        for _ in 0..TRANSPARENT_ATTEMPTS {
            let handle = self.connection(wait_for_ready, deadline).await?;
            let head = self.request_head(path, metadata, deadline, encoding);
            let (events_tx, events_rx) = events::channel();
            let (reply_tx, reply_rx) = oneshot::channel();
            let cmd = Command::Open {
                head: Box::new(head),
                body: only.cloned(),
                end_stream: only.is_some(),
                events: events_tx,
                reply: OpenReply::Wait(reply_tx),
            };
            if !handle.send(cmd) {
                last = Some("connection closed".to_owned());
                continue;
            }
            match reply_rx.await {
                Ok(Ok(id)) => {
                    let recv = self.response_stream(id, &handle, events_rx);
                    let mut send = SendStream::new(id, handle.clone());
                    send.encoding = encoding;
                    send.min_compress_size = self.inner.min_compress_size;
                    return Ok((recv, send, StreamGuard::new(id, handle)));
                }
                Ok(Err(
                    e @ (OpenError::GoingAway | OpenError::Closed | OpenError::IdsExhausted),
                )) => last = Some(e.to_string()),
                Ok(Err(e)) => {
                    return Err(Status::internal(e.to_string()).with_delivery(Delivery::NotSent));
                }
                Err(_) => last = Some("connection closed".to_owned()),
            }
        }
        Err(Status::unavailable(format!(
            "could not open a stream: {}",
            last.unwrap_or_default()
        ))
        .with_delivery(Delivery::NotSent))
    }

    /// The receiving half of a call's stream (`id` zero: not known yet,
    /// see `OpenReply::Events`).
    fn response_stream(&self, id: StreamId, handle: &Handle, events: EventReceiver) -> RecvStream {
        let mut recv = RecvStream::new(
            id,
            handle.clone(),
            events,
            self.inner.max_recv_message_size,
            Side::Client,
            false,
        );
        recv.accept = self.inner.accept_compressed;
        recv.initial_window = self.inner.conn.initial_stream_window as usize;
        recv
    }

    /// A call's request head: its path, metadata, encodings and the time
    /// left until its deadline.
    fn request_head(
        &self,
        path: &str,
        metadata: &Metadata,
        deadline: Option<Instant>,
        encoding: Encoding,
    ) -> RequestHead {
        let endpoint = &self.inner.endpoint;
        let mut head = RequestHead::new(
            endpoint.scheme,
            endpoint.authority_value.clone(),
            path.to_owned(),
        )
        .with_metadata(metadata.clone())
        .with_accept_encoding(self.inner.accept_compressed.to_header_value());
        if !encoding.is_identity() {
            head = head.with_encoding(encoding.as_str());
        }
        if let Some(d) = deadline {
            head.set_timeout(Some(d.saturating_duration_since(Instant::now())));
        }
        head
    }

    /// Runs the channel's interceptors over a call's metadata.
    async fn intercept(&self, path: &str, metadata: Metadata) -> Result<Metadata, Status> {
        if self.inner.interceptors.is_empty() {
            return Ok(metadata);
        }
        let info = CallInfo {
            side: CallSide::Client,
            path: path.to_owned(),
            metadata,
            response_metadata: Metadata::new(),
        };
        let info = interceptor::run(&self.inner.interceptors, info)
            .await
            .map_err(|s| s.with_delivery(Delivery::NotSent))?;
        Ok(info.metadata)
    }

    fn deadline_of<T>(&self, request: &Request<T>) -> Option<Instant> {
        request
            .deadline()
            .or_else(|| self.inner.default_timeout.map(|t| Instant::now() + t))
    }

    /// What every call works out before it opens a stream: its deadline,
    /// compression, and metadata after the interceptors.
    async fn setup<T>(
        &self,
        path: &str,
        mut request: Request<T>,
    ) -> Result<(CallSetup, T), Status> {
        let setup = CallSetup {
            cancel: request.take_cancellation(),
            deadline: self.deadline_of(&request),
            wait: request.is_wait_for_ready(),
            encoding: request.compression().unwrap_or(self.inner.send_compressed),
            metadata: Metadata::new(),
        };
        let (metadata, message) = request.into_parts();
        let metadata = self.intercept(path, metadata).await?;
        Ok((CallSetup { metadata, ..setup }, message))
    }

    /// Sends a single-message request and waits for the response headers,
    /// retrying on a new stream while the server refuses it unprocessed
    /// (a refusal always comes before any response headers).
    async fn single(
        &self,
        path: &str,
        setup: &CallSetup,
        body: &Bytes,
    ) -> Result<(Metadata, RecvStream, StreamGuard), Status> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let handle = self.connection(setup.wait, setup.deadline).await?;
            let head = self.request_head(path, &setup.metadata, setup.deadline, setup.encoding);
            // The whole request goes with the open, so the call need not
            // wait to hear its stream id: it sleeps once, until the answer.
            let (events_tx, events_rx) = events::channel();
            let open = events_rx.open_id();
            let sent = handle.send(Command::Open {
                head: Box::new(head),
                body: Some(body.clone()),
                end_stream: true,
                events: events_tx,
                reply: OpenReply::Events,
            });
            if !sent {
                if attempt < TRANSPARENT_ATTEMPTS {
                    continue;
                }
                return Err(
                    Status::unavailable("could not open a stream: connection closed")
                        .with_delivery(Delivery::NotSent),
                );
            }
            let mut recv = self.response_stream(StreamId::ZERO, &handle, events_rx);
            let mut guard = StreamGuard::new(StreamId::ZERO, handle);
            guard.open = Some(open);
            match recv.response_headers().await {
                // Refused unprocessed, or never sent: another stream may
                // take it.
                Err(status)
                    if matches!(status.delivery(), Delivery::Refused | Delivery::NotSent)
                        && attempt < TRANSPARENT_ATTEMPTS => {}
                Err(status) => return Err(status),
                Ok(headers) => return Ok((headers, recv, guard)),
            }
        }
    }

    /// A unary call: one request, one response.
    pub async fn unary<C: Codec>(
        &self,
        path: &str,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status> {
        let (setup, message) = self.setup(path, request).await?;
        let body = self.encode_single(&codec, &message, setup.encoding)?;
        let call = async {
            let (headers, mut recv, mut guard) = self.single(path, &setup, &body).await?;
            let response = read_unary_body(&mut recv, headers, &codec).await;
            guard.finished = recv.is_done();
            response
        };
        if setup.deadline.is_none() && setup.cancel.is_none() {
            // Awaited in place: wrapping it would move the call's future
            // (several hundred bytes) twice more before its first poll.
            return call.await;
        }
        with_deadline(setup.deadline, setup.cancel.as_ref(), call).await
    }

    /// A server-streaming call: one request, a stream of responses.
    pub async fn server_streaming<C: Codec>(
        &self,
        path: &str,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status> {
        let (setup, message) = self.setup(path, request).await?;
        let body = self.encode_single(&codec, &message, setup.encoding)?;
        let (headers, recv, guard) = with_deadline(
            setup.deadline,
            setup.cancel.as_ref(),
            self.single(path, &setup, &body),
        )
        .await?;
        let streaming = Streaming::new(recv, decoder(&codec), Some(guard))
            .with_deadline(setup.deadline)
            .with_cancellation(setup.cancel);
        Ok(Response::from_parts(headers, streaming))
    }

    /// A client-streaming call: a stream of requests, one response.
    ///
    /// The stream may yield messages or [`Outbound`](crate::Outbound)s (to
    /// send one message uncompressed). A call the server refuses unprocessed
    /// (REFUSED_STREAM, or a stream above its GOAWAY) before the first
    /// request was taken from the stream is retried transparently on another
    /// stream; once one was taken it fails with [`Delivery::Refused`].
    pub async fn client_streaming<C, S>(
        &self,
        path: &str,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec,
        S: Stream + Send + 'static,
        S::Item: IntoOutbound<C::Encode>,
    {
        let (setup, requests) = self.setup(path, request).await?;
        let deadline = setup.deadline;
        let cancel = setup.cancel.clone();
        let call = async {
            let requests = Box::pin(requests.fuse());
            let mut attempt = self
                .clone()
                .streaming_attempt(path.into(), Arc::new(setup), requests, codec.clone(), 1)
                .await?;
            loop {
                let result = read_unary(&mut attempt.recv, &codec).await;
                attempt.guard.finished = attempt.recv.is_done();
                match result {
                    Err(status) if status.delivery() == Delivery::Refused => {
                        match attempt.pump.retry() {
                            Some(retry) => match retry.await {
                                Some(Ok(next)) => attempt = next,
                                Some(Err(other)) => return Err(other),
                                None => return Err(status),
                            },
                            None => return Err(status),
                        }
                    }
                    result => return result,
                }
            }
        };
        with_deadline(deadline, cancel.as_ref(), call).await
    }

    /// A bidirectional-streaming call: a stream of requests, a stream of
    /// responses, both flowing at once. It returns once the stream is open,
    /// without waiting for the server's response headers (a server may send
    /// them only with its first reply): the response metadata comes from
    /// [`Streaming::response_headers`], and `Response::metadata` is empty.
    ///
    /// Requests may be messages or [`Outbound`](crate::Outbound)s, and a
    /// refusal before the first request was taken is retried as for
    /// [`Channel::client_streaming`] (when the responses are read).
    pub async fn bidi_streaming<C, S>(
        &self,
        path: &str,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status>
    where
        C: Codec,
        S: Stream + Send + 'static,
        S::Item: IntoOutbound<C::Encode>,
    {
        let (setup, requests) = self.setup(path, request).await?;
        let deadline = setup.deadline;
        let cancel = setup.cancel.clone();
        // Returns as soon as the stream is open: a peer may send its response
        // headers only with its first reply, and an application that sends
        // its first request after this returns would otherwise wait forever
        // for them. The headers arrive through `Streaming::response_headers`.
        let requests = Box::pin(requests.fuse());
        let open = self.clone().streaming_attempt(
            path.into(),
            Arc::new(setup),
            requests,
            codec.clone(),
            1,
        );
        let attempt = with_deadline(deadline, cancel.as_ref(), open).await?;
        let streaming = Streaming::new(attempt.recv, decoder(&codec), Some(attempt.guard))
            .with_deadline(deadline)
            .with_cancellation(cancel)
            .with_pump(attempt.pump);
        let headers = Metadata::new();
        Ok(Response::from_parts(headers, streaming))
    }

    /// Opens a stream for a call whose requests come from a stream, and
    /// starts the pump feeding them. The pump keeps a way to retry: while
    /// no request has been taken from the stream, a refused call can have it
    /// back and run again (attempt `n` of at most `TRANSPARENT_ATTEMPTS`).
    fn streaming_attempt<C, S>(
        self,
        path: Arc<str>,
        setup: Arc<CallSetup>,
        requests: Pin<Box<Fuse<S>>>,
        codec: C,
        n: usize,
    ) -> BoxFuture<Result<Attempt, Status>>
    where
        C: Codec,
        S: Stream + Send + 'static,
        S::Item: IntoOutbound<C::Encode>,
    {
        Box::pin(async move {
            let (recv, send, guard) = self
                .open(
                    &path,
                    &setup.metadata,
                    setup.deadline,
                    setup.wait,
                    setup.encoding,
                    None,
                )
                .await?;
            let (stop, stopped) = oneshot::channel();
            let task = tokio::spawn(pump(send, requests, codec.clone(), stopped));
            let retry = (n < TRANSPARENT_ATTEMPTS).then(|| {
                let retry: Retry = Box::new(move || {
                    Box::pin(async move {
                        let requests = task.await.ok().flatten()?;
                        Some(
                            self.streaming_attempt(path, setup, requests, codec, n + 1)
                                .await,
                        )
                    })
                });
                retry
            });
            Ok(Attempt {
                recv,
                guard,
                pump: Pump {
                    stop: Some(stop),
                    retry: retry.map(std::sync::Mutex::new),
                },
            })
        })
    }

    /// Encodes (and compresses) a single request message.
    fn encode_single<C: Codec>(
        &self,
        codec: &C,
        message: &C::Encode,
        encoding: Encoding,
    ) -> Result<Bytes, Status> {
        frame_message(
            encoding,
            true,
            self.inner.min_compress_size,
            &mut FrameBufs::last(),
            false,
            codec.encoded_len(message),
            |buf| codec.encode(message, buf),
        )
        .map(Framed::into_bytes)
        .map_err(|s| s.with_delivery(Delivery::NotSent))
    }

    /// A one-way call: the request goes out and nobody waits for a reply.
    /// It returns once the request is handed to the connection; the server
    /// runs the handler and its answer is dropped.
    ///
    /// Over the native protocol the request carries the ONE_WAY flag and
    /// the server sends nothing back. Over gRPC it is an ordinary unary
    /// call whose response a background task reads and discards, so the
    /// server's handler runs to the end rather than being cancelled.
    pub async fn one_way<C: Codec>(
        &self,
        path: &str,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<(), Status> {
        let (mut setup, message) = self.setup(path, request).await?;
        let body = self.encode_single(&codec, &message, setup.encoding)?;
        let native = self.inner.endpoint.native;
        if native {
            let _ = setup.metadata.insert(native::ONE_WAY_MARK, "1");
        }
        let call = async {
            let (recv, _send, guard) = self
                .open(
                    path,
                    &setup.metadata,
                    setup.deadline,
                    setup.wait,
                    setup.encoding,
                    Some(&body),
                )
                .await?;
            let mut replies = Streaming::new(recv, decoder(&BytesCodec), Some(guard));
            if native {
                // The driver ends the call once the request is written.
                while replies.message().await?.is_some() {}
            } else {
                let deadline = setup.deadline;
                tokio::spawn(async move {
                    let drain = async { while let Ok(Some(_)) = replies.message().await {} };
                    match deadline {
                        Some(d) => {
                            let _ = tokio::time::timeout_at(d, drain).await;
                        }
                        None => drain.await,
                    }
                });
            }
            Ok(())
        };
        with_deadline(setup.deadline, setup.cancel.as_ref(), call).await
    }
}

/// A call's settings, worked out before its stream opens.
struct CallSetup {
    deadline: Option<Instant>,
    /// `Request::with_cancellation`.
    cancel: Option<CancellationToken>,
    wait: bool,
    encoding: Encoding,
    metadata: Metadata,
}

/// The host part of `host:port` (IPv6 brackets removed).
fn host_of(authority: &str) -> &str {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => authority,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Runs `call`, failing it with DEADLINE_EXCEEDED once `deadline` passes,
/// or with CANCELLED once `cancel` is cancelled (dropping it resets its
/// stream).
async fn with_deadline<T>(
    deadline: Option<Instant>,
    cancel: Option<&CancellationToken>,
    call: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    let call =
        async {
            match deadline {
                None => call.await,
                Some(d) => match tokio::time::timeout_at(d, call).await {
                    Ok(result) => result,
                    Err(_) => Err(Status::deadline_exceeded("deadline exceeded")
                        .with_delivery(Delivery::Unknown)),
                },
            }
        };
    match cancel {
        None => call.await,
        Some(token) => tokio::select! {
            biased;
            () = token.cancelled() => Err(cancelled_by_client()),
            result = call => result,
        },
    }
}

/// The status of a call cancelled through its `CancellationToken`.
pub(crate) fn cancelled_by_client() -> Status {
    Status::cancelled("call cancelled by the client").with_delivery(Delivery::Unknown)
}

/// Reads a unary response: headers, exactly one message, trailers.
async fn read_unary<C: Codec>(
    recv: &mut RecvStream,
    codec: &C,
) -> Result<Response<C::Decode>, Status> {
    let headers = recv.response_headers().await?;
    read_unary_body(recv, headers, codec).await
}

/// The rest of a unary response once its headers are in.
async fn read_unary_body<C: Codec>(
    recv: &mut RecvStream,
    headers: Metadata,
    codec: &C,
) -> Result<Response<C::Decode>, Status> {
    let first = std::future::poll_fn(|cx| recv.poll_message(cx)).await?;
    let Some(first) = first else {
        return Err(Status::internal("server sent no response message"));
    };
    let compressed = recv.last_compressed;
    if std::future::poll_fn(|cx| recv.poll_message(cx))
        .await?
        .is_some()
    {
        return Err(Status::internal(
            "server sent more than one response message",
        ));
    }
    let message = codec.decode(first)?;
    let mut response = Response::from_parts(headers, message).with_arrived_compressed(compressed);
    if let Some(status) = recv.outcome() {
        *response.trailers_mut() = status.metadata().clone();
    }
    Ok(response)
}

/// One try of a call whose requests come from a stream: the stream it
/// runs on and the pump feeding it.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub(crate) recv: RecvStream,
    pub(crate) guard: StreamGuard,
    pub(crate) pump: Pump,
}

/// Takes the request stream back from a stopped pump and runs the call
/// again; `None` when a request had already been taken from it.
type Retry = Box<dyn FnOnce() -> BoxFuture<Option<Result<Attempt, Status>>> + Send>;

/// The task feeding a request stream into a stream's sending half, with
/// backpressure. Dropping it stops the task.
pub(crate) struct Pump {
    stop: Option<oneshot::Sender<()>>,
    /// In a mutex only so that `Streaming` stays `Sync`; never contended.
    retry: Option<std::sync::Mutex<Retry>>,
}

impl fmt::Debug for Pump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pump")
            .field("running", &self.stop.is_some())
            .field("may_retry", &self.retry.is_some())
            .finish()
    }
}

impl Pump {
    /// Stops the pump and, if the call may still be retried, returns the
    /// retry: it resolves to `None` when the pump had taken a request from
    /// the stream (that call can no longer be replayed).
    pub(crate) fn retry(&mut self) -> Option<BoxFuture<Option<Result<Attempt, Status>>>> {
        self.stop = None;
        let retry = self.retry.take()?;
        let retry = retry.into_inner().unwrap_or_else(|e| e.into_inner());
        Some(retry())
    }
}

/// Feeds `requests` into `send` until the stream ends, sending fails, or
/// `stop` fires (or is dropped). Returns the request stream when nothing
/// had been taken from it, so a refused call can run again with it.
async fn pump<C, S>(
    mut send: SendStream,
    mut requests: Pin<Box<Fuse<S>>>,
    codec: C,
    mut stop: oneshot::Receiver<()>,
) -> Option<Pin<Box<Fuse<S>>>>
where
    C: Codec,
    S: Stream + Send + 'static,
    S::Item: IntoOutbound<C::Encode>,
{
    let mut taken = false;
    {
        let feed = async {
            while let Some(item) = requests.next().await {
                taken = true;
                let message = item.into_outbound();
                let compress = message.may_compress();
                let Ok(data) = send.frame(compress, codec.encoded_len(message.get_ref()), |buf| {
                    codec.encode(message.get_ref(), buf)
                }) else {
                    return;
                };
                drop(message);
                if send.send(data, false).await.is_err() {
                    return;
                }
            }
            send.finish();
        };
        tokio::select! {
            biased;
            _ = &mut stop => {}
            () = feed => {}
        }
    }
    (!taken).then_some(requests)
}
