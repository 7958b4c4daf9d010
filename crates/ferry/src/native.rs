//! The native protocol's connection driver (`docs/native-protocol.md`).
//!
//! It speaks the same language to calls as the HTTP/2 driver: [`Command`]s
//! in, [`StreamEvent`]s out, keyed by a [`StreamId`] that is the native call
//! id. So the server's routing, handlers, deadlines and codecs, and the
//! client's calls, run unchanged over either protocol; this task only
//! translates.
//!
//! ```text
//!   Command::Open / Headers  ──▶ REQUEST / RESPONSE frame with metadata
//!   Command::Data (gRPC-framed messages) ──▶ one frame per message
//!   Command::Trailers        ──▶ RESPONSE with END_STREAM and the status
//!   Command::Release         ──▶ CREDIT once a quarter of the credit is back
//!   frames in                ──▶ StreamEvent::Headers / Data / Trailers
//! ```
//!
//! Calls past the peer's credit wait in a per-call queue; a call whose
//! receiver does not read keeps its sender's credit at zero without holding
//! up the others. Heartbeats go out after an idle interval; a peer silent
//! for three intervals is gone.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use ferry_wire::conn::OpenError;
use ferry_wire::grpc::{self, MessageDecoder, percent_decode, percent_encode};
use ferry_wire::native::{Flags, Frame, FrameDecoder, Kind, Meta, Setting};
use ferry_wire::{ConnectionError, HeaderField, Initiator, Reason, StreamError, StreamId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::driver::{Command, Handle, Incoming, OnStream, Shared, StreamEvent};

/// The request metadata key by which a client call asks to go out one-way
/// (the ONE_WAY flag); it never reaches the wire as metadata.
pub(crate) const ONE_WAY_MARK: &str = "ferry-one-way";

/// Output waiting to be written before the driver stops reading.
const OUT_HIGH_WATER: usize = 256 * 1024;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;
/// The credit a message costs beyond its body (its place in the runtime's
/// gRPC framing).
const MESSAGE_OVERHEAD: i64 = 5;
/// A body at most this long is copied behind its 5-byte prefix; a longer
/// one is handed over as two chunks.
const COPY_LIMIT: usize = 4096;
/// How long the first GOAWAY of a graceful shutdown precedes the final one.
const DRAIN_NOTICE: Duration = Duration::from_millis(100);

/// The settings a side announces in HELLO.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NativeConfig {
    pub(crate) max_body: u32,
    pub(crate) initial_credit: u32,
    pub(crate) max_calls: u32,
    /// A HEARTBEAT goes out after this long without hearing the peer.
    pub(crate) heartbeat: Duration,
    /// The peer is gone when nothing arrives this long after a HEARTBEAT.
    pub(crate) heartbeat_timeout: Duration,
    pub(crate) max_meta: u32,
    /// How long the peer has to send its HELLO.
    pub(crate) handshake: Duration,
}

impl NativeConfig {
    /// The most a call may have delivered and not yet consumed: its credit
    /// plus one maximal message. A peer past it ignored our credit.
    fn max_outstanding(&self) -> i64 {
        i64::from(self.initial_credit) + i64::from(self.max_body)
    }

    /// Heartbeats on the keepalive schedule of an HTTP/2 configuration, so
    /// `keepalive(interval, timeout)` means the same on both protocols.
    pub(crate) fn with_keepalive(mut self, keepalive: Option<ferry_wire::conn::Keepalive>) -> Self {
        if let Some(k) = keepalive {
            self.heartbeat = k.interval;
            self.heartbeat_timeout = k.timeout;
        }
        self
    }
}

impl Default for NativeConfig {
    fn default() -> Self {
        NativeConfig {
            max_body: ferry_wire::native::DEFAULT_MAX_BODY,
            initial_credit: 1 << 20,
            max_calls: 1000,
            heartbeat: Duration::from_secs(15),
            heartbeat_timeout: Duration::from_secs(30),
            max_meta: ferry_wire::native::DEFAULT_MAX_META,
            handshake: Duration::from_secs(10),
        }
    }
}

/// Which end of the connection this driver is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// The peer's HELLO settings (defaults until it arrives).
#[derive(Clone, Copy, Debug)]
struct Peer {
    max_body: u32,
    initial_credit: u32,
    max_calls: u32,
}

struct Call {
    events: mpsc::UnboundedSender<StreamEvent>,
    /// Server: fires when the client cancels or the connection ends.
    cancel: Option<oneshot::Sender<()>>,
    /// Metadata for our first frame of the call, not sent yet.
    pending_meta: Option<Meta>,
    /// Splits what the call sends into messages.
    outgoing: MessageDecoder,
    /// Frames waiting for credit (or for the end of the command batch).
    queued: VecDeque<Out>,
    send_credit: i64,
    /// Fires once the call may send more.
    ready: Option<oneshot::Sender<()>>,
    sent_end: bool,
    /// Client: the response's first frame has been delivered.
    heard: bool,
    recv_end: bool,
    /// Consumed bytes not yet returned to the peer as credit.
    to_grant: u32,
    /// Bytes delivered and not yet consumed.
    outstanding: i64,
    /// Server: the client wants nothing back.
    one_way: bool,
}

impl Call {
    fn new(events: mpsc::UnboundedSender<StreamEvent>, credit: u32) -> Call {
        Call {
            events,
            cancel: None,
            pending_meta: None,
            outgoing: MessageDecoder::with_max_message_size(usize::MAX),
            queued: VecDeque::new(),
            send_credit: i64::from(credit),
            ready: None,
            sent_end: false,
            heard: false,
            recv_end: false,
            to_grant: 0,
            outstanding: 0,
            one_way: false,
        }
    }

    fn done(&self) -> bool {
        self.sent_end && self.recv_end && self.queued.is_empty()
    }
}

/// A frame a call will send, kept open until it is written so a status can
/// join the last message.
struct Out {
    flags: Flags,
    status: u8,
    meta: Option<Meta>,
    body: Bytes,
}

impl Out {
    fn empty() -> Out {
        Out {
            flags: Flags::empty(),
            status: 0,
            meta: None,
            body: Bytes::new(),
        }
    }
}

/// Spawns a native client connection's driver.
pub(crate) fn spawn_client<IO>(
    io: IO,
    config: NativeConfig,
) -> (Handle, tokio::task::JoinHandle<()>)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    spawn(io, Side::Client, config, None, BytesMut::new())
}

/// Spawns a native server connection's driver; `preread` holds bytes
/// already read while sniffing the protocol.
pub(crate) fn spawn_server<IO>(
    io: IO,
    config: NativeConfig,
    on_stream: OnStream,
    preread: BytesMut,
) -> (Handle, tokio::task::JoinHandle<()>)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    spawn(io, Side::Server, config, Some(on_stream), preread)
}

fn spawn<IO>(
    io: IO,
    side: Side,
    config: NativeConfig,
    on_stream: Option<OnStream>,
    preread: BytesMut,
) -> (Handle, tokio::task::JoinHandle<()>)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared::default());
    let handle = Handle::new(tx, shared.clone());
    let now = Instant::now();
    let driver = Driver {
        side,
        config,
        peer: Peer {
            max_body: ferry_wire::native::DEFAULT_MAX_BODY,
            initial_credit: config.initial_credit,
            max_calls: config.max_calls,
        },
        decoder: FrameDecoder::with_limits(config.max_meta, config.max_body),
        rx,
        handle: on_stream.is_some().then(|| handle.clone()),
        on_stream,
        shared,
        calls: HashMap::new(),
        dirty: Vec::new(),
        out: BytesMut::with_capacity(16 * 1024),
        next_id: 1,
        last_peer_id: 0,
        pending_opens: VecDeque::new(),
        hello_seen: false,
        hello_deadline: now + config.handshake,
        last_heard: now,
        heartbeat_sent: None,
        drain: None,
        goaway_last: None,
        closing: None,
    };
    let task = tokio::spawn(driver.run(io, preread));
    (handle, task)
}

/// Where a graceful shutdown stands.
#[derive(Clone, Copy, Debug)]
enum Drain {
    /// The first GOAWAY is out; the final one goes at this instant.
    Noticed(Instant),
    /// The final GOAWAY is out; close once no call is left.
    Final,
}

struct Driver {
    side: Side,
    config: NativeConfig,
    peer: Peer,
    decoder: FrameDecoder,
    rx: mpsc::UnboundedReceiver<Command>,
    handle: Option<Handle>,
    on_stream: Option<OnStream>,
    shared: Arc<Shared>,
    calls: HashMap<u32, Call>,
    /// Calls with frames queued since the last flush.
    dirty: Vec<u32>,
    out: BytesMut,
    /// Client: the next call id.
    next_id: u32,
    /// Server: the highest call id the client has opened.
    last_peer_id: u32,
    /// Client: opens past the peer's `max_calls`.
    pending_opens: VecDeque<Command>,
    hello_seen: bool,
    hello_deadline: Instant,
    last_heard: Instant,
    heartbeat_sent: Option<Instant>,
    drain: Option<Drain>,
    /// Client: the peer's final GOAWAY's last id.
    goaway_last: Option<u64>,
    /// Set when the connection ends, with why.
    closing: Option<ConnectionError>,
}

impl Driver {
    async fn run<IO: AsyncRead + AsyncWrite + Send>(mut self, io: IO, mut inbuf: BytesMut) {
        let (mut reader, mut writer) = tokio::io::split(io);
        self.send_hello();
        let mut read_open = true;
        let mut commands_open = true;
        if !inbuf.is_empty() {
            self.input(&mut inbuf);
            self.flush();
        }
        while self.closing.is_none() {
            if self.out.is_empty() {
                if self.drain_finished() {
                    self.close(ConnectionError::library(Reason::NO_ERROR, "shut down"));
                    break;
                }
                if !commands_open && self.calls.is_empty() && self.pending_opens.is_empty() {
                    // Nobody can use this connection any more.
                    self.close(ConnectionError::library(Reason::NO_ERROR, "unused"));
                    break;
                }
            }
            let wake = self.next_timer();
            let can_read = read_open && self.out.len() < OUT_HIGH_WATER;
            tokio::select! {
                biased;
                written = writer.write_buf(&mut self.out), if !self.out.is_empty() => {
                    match written {
                        Ok(0) | Err(_) => {
                            self.out.clear();
                            self.close(ConnectionError::library(Reason::NO_ERROR, "write failed"));
                        }
                        Ok(_) => {
                            if self.out.is_empty() && writer.flush().await.is_err() {
                                self.close(ConnectionError::library(Reason::NO_ERROR, "write failed"));
                            }
                        }
                    }
                }
                cmd = self.rx.recv(), if commands_open => {
                    match cmd {
                        Some(cmd) => {
                            self.command(cmd);
                            while let Ok(cmd) = self.rx.try_recv() {
                                self.command(cmd);
                            }
                            self.flush();
                        }
                        None => commands_open = false,
                    }
                }
                read = reader.read_buf(&mut inbuf), if can_read => {
                    match read {
                        Ok(0) | Err(_) => {
                            read_open = false;
                            self.close(ConnectionError::remote(Reason::NO_ERROR, "the peer closed the connection"));
                        }
                        Ok(_) => {
                            self.last_heard = Instant::now();
                            self.heartbeat_sent = None;
                            self.input(&mut inbuf);
                            self.flush();
                            if inbuf.capacity() - inbuf.len() < READ_CHUNK / 4 {
                                inbuf.reserve(READ_CHUNK);
                            }
                        }
                    }
                }
                () = sleep_until(wake) => self.timer(),
            }
        }
        // Write what is left (a GOAWAY saying why), then close.
        self.shared.draining.store(true, Ordering::Release);
        self.shared.closed.store(true, Ordering::Release);
        let error = self
            .closing
            .take()
            .unwrap_or_else(|| ConnectionError::library(Reason::NO_ERROR, "closed"));
        self.fail_all(&error);
        if !self.out.is_empty() {
            let _ = tokio::time::timeout(Duration::from_secs(1), writer.write_all(&self.out)).await;
        }
        let _ = writer.shutdown().await;
    }

    fn send_hello(&mut self) {
        let meta = Meta {
            settings: vec![
                (Setting::MAX_BODY, u64::from(self.config.max_body)),
                (
                    Setting::INITIAL_CREDIT,
                    u64::from(self.config.initial_credit),
                ),
                (Setting::MAX_CALLS, u64::from(self.config.max_calls)),
                (
                    Setting::HEARTBEAT_MS,
                    u64::try_from(self.config.heartbeat.as_millis()).unwrap_or(u64::MAX),
                ),
            ],
            agent: Some(concat!("ferry/", env!("CARGO_PKG_VERSION")).to_owned()),
            ..Meta::default()
        };
        self.write(Frame {
            meta: meta.to_bytes(),
            ..Frame::new(Kind::Hello, 0)
        });
    }

    fn write(&mut self, frame: Frame) {
        frame.encode(&mut self.out);
    }

    // ----- timers -------------------------------------------------------

    fn next_timer(&self) -> Instant {
        let mut wake = match self.heartbeat_sent {
            None => self.last_heard + self.config.heartbeat,
            Some(sent) => sent + self.config.heartbeat_timeout,
        };
        if let Some(Drain::Noticed(at)) = self.drain {
            wake = wake.min(at);
        }
        if !self.hello_seen {
            wake = wake.min(self.hello_deadline);
        }
        wake
    }

    fn timer(&mut self) {
        let now = Instant::now();
        if !self.hello_seen && now >= self.hello_deadline {
            return self.protocol_error("no HELLO within the handshake timeout");
        }
        if let Some(Drain::Noticed(at)) = self.drain
            && now >= at
        {
            let last = u64::from(self.last_peer_id);
            self.write(Frame::goaway(last, false));
            self.drain = Some(Drain::Final);
        }
        match self.heartbeat_sent {
            Some(sent) if now >= sent + self.config.heartbeat_timeout => {
                self.close(ConnectionError::library(
                    Reason::NO_ERROR,
                    "heartbeat timeout: the peer stopped answering",
                ));
            }
            None if now >= self.last_heard + self.config.heartbeat => {
                self.heartbeat_sent = Some(now);
                self.write(Frame::heartbeat(1, false));
            }
            _ => {}
        }
    }

    fn drain_finished(&self) -> bool {
        matches!(self.drain, Some(Drain::Final)) && self.calls.is_empty()
    }

    // ----- commands from calls ------------------------------------------

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Open {
                headers,
                end_stream,
                events,
                reply,
            } => self.open(headers, end_stream, events, reply),
            Command::Headers {
                id,
                headers,
                end_stream,
            } => self.response_headers(id, &headers, end_stream),
            Command::Data {
                id,
                data,
                end_stream,
                ready,
            } => self.data(id, data, end_stream, ready),
            Command::Trailers { id, trailers } => self.trailers(id, &trailers),
            Command::Reset { id, reason } => self.reset(id, reason),
            Command::Release { id, n } => self.release(id, n),
            Command::Expect { .. } | Command::StopReceiving { .. } => {}
            Command::Shutdown => self.shutdown(),
            Command::Close { reason, detail } => {
                self.write(Frame::goaway(u64::from(self.last_peer_id), false));
                self.close(ConnectionError::library(reason, detail));
            }
        }
    }

    fn open(
        &mut self,
        headers: Vec<HeaderField>,
        end_stream: bool,
        events: mpsc::UnboundedSender<StreamEvent>,
        reply: oneshot::Sender<Result<StreamId, OpenError>>,
    ) {
        if self.side == Side::Server {
            let _ = reply.send(Err(OpenError::NotClient));
            return;
        }
        if self.goaway_last.is_some() || self.shared.draining.load(Ordering::Acquire) {
            let _ = reply.send(Err(OpenError::GoingAway));
            return;
        }
        if self.calls.len() >= self.peer.max_calls as usize {
            self.pending_opens.push_back(Command::Open {
                headers,
                end_stream,
                events,
                reply,
            });
            return;
        }
        let id = self.next_id;
        if id > StreamId::MAX.as_u32() {
            self.shared.draining.store(true, Ordering::Release);
            let _ = reply.send(Err(OpenError::IdsExhausted));
            return;
        }
        self.next_id += 1;
        let mut call = Call::new(events, self.peer.initial_credit);
        let meta = request_meta(&headers);
        call.one_way = headers.iter().any(|f| f.name == ONE_WAY_MARK);
        // A one-way call hears nothing back.
        call.recv_end = call.one_way;
        if end_stream {
            call.sent_end = true;
            let mut flags = Flags::END_STREAM;
            if call.one_way {
                flags = flags | Flags::ONE_WAY;
            }
            let frame = Frame {
                flags,
                meta: meta.to_bytes(),
                ..Frame::new(Kind::Request, u64::from(id))
            };
            self.write(frame);
        } else {
            // Goes out with the first message, or alone below.
            call.pending_meta = Some(meta);
        }
        self.calls.insert(id, call);
        // The request's metadata goes out now, so a server that answers
        // before the client sends (bidirectional calls) hears of the call.
        self.flush_meta(id);
        let _ = reply.send(Ok(StreamId::new(id)));
    }

    /// Sends a call's pending metadata in a frame of its own.
    fn flush_meta(&mut self, id: u32) {
        let kind = self.kind_out();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(meta) = call.pending_meta.take() {
            let flags = if call.one_way {
                Flags::ONE_WAY
            } else {
                Flags::empty()
            };
            let frame = Frame {
                flags,
                meta: meta.to_bytes(),
                ..Frame::new(kind, u64::from(id))
            };
            self.write(frame);
        }
    }

    fn kind_out(&self) -> Kind {
        match self.side {
            Side::Client => Kind::Request,
            Side::Server => Kind::Response,
        }
    }

    fn response_headers(&mut self, id: StreamId, headers: &[HeaderField], end_stream: bool) {
        let id = id.as_u32();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if end_stream {
            // Trailers-only: the status is in these headers.
            self.finish(id, headers);
            return;
        }
        let mut meta = Meta::default();
        for field in headers {
            match &field.name[..] {
                b"grpc-encoding" => meta.encoding = utf8(&field.value),
                name if is_reserved(name) => {}
                _ => push_header(&mut meta.headers, field),
            }
        }
        call.pending_meta = Some(meta);
    }

    fn data(
        &mut self,
        id: StreamId,
        data: Bytes,
        end_stream: bool,
        ready: Option<oneshot::Sender<()>>,
    ) {
        let id = id.as_u32();
        let peer_max = self.peer.max_body as usize;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.sent_end {
            return;
        }
        call.outgoing.push(data);
        let mut failed = None;
        loop {
            match call.outgoing.next_message() {
                Ok(Some(message)) => {
                    if message.data.len() > peer_max {
                        failed = Some(message.data.len());
                        break;
                    }
                    let mut flags = Flags::MESSAGE;
                    if message.compressed {
                        flags = flags | Flags::COMPRESSED;
                    }
                    let meta = call.pending_meta.take();
                    call.queued.push_back(Out {
                        flags,
                        status: 0,
                        meta,
                        body: message.data,
                    });
                }
                Ok(None) => break,
                Err(_) => {
                    failed = Some(0);
                    break;
                }
            }
        }
        if let Some(len) = failed {
            let status = if len > 0 {
                grpc::Status::new(
                    grpc::Code::ResourceExhausted,
                    format!("message of {len} bytes exceeds the peer's limit of {peer_max}"),
                )
            } else {
                grpc::Status::new(grpc::Code::Internal, "malformed outgoing message framing")
            };
            self.fail_call(id, status);
            return;
        }
        if end_stream {
            call.sent_end = true;
            match call.queued.back_mut() {
                Some(last) if !last.flags.contains(Flags::END_STREAM) => {
                    last.flags = last.flags | Flags::END_STREAM;
                }
                _ => call.queued.push_back(Out {
                    flags: Flags::END_STREAM,
                    status: 0,
                    meta: call.pending_meta.take(),
                    body: Bytes::new(),
                }),
            }
        }
        if call.one_way && self.side == Side::Server {
            // The client wants nothing back.
            call.queued.clear();
        }
        if let Some(ready) = ready {
            call.ready = Some(ready);
        }
        self.dirty.push(id);
    }

    /// Writes the queued frames of every call touched since the last
    /// flush, so frames that a batch of commands makes together (a reply
    /// and its status) merge and leave in one write.
    fn flush(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for id in dirty.drain(..) {
            self.pump(id);
        }
        self.dirty = dirty;
    }

    /// Writes a call's queued frames while it has credit.
    fn pump(&mut self, id: u32) {
        let kind = self.kind_out();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        while let Some(front) = call.queued.front() {
            let is_message = front.flags.contains(Flags::MESSAGE);
            // Frames without a message (the status) cost no credit.
            if is_message && call.send_credit <= 0 {
                break;
            }
            let Some(out) = call.queued.pop_front() else {
                break;
            };
            if is_message {
                call.send_credit -= out.body.len() as i64 + MESSAGE_OVERHEAD;
            }
            Frame {
                flags: out.flags,
                status: out.status,
                meta: out.meta.map(|m| m.to_bytes()).unwrap_or_default(),
                body: out.body,
                ..Frame::new(kind, u64::from(id))
            }
            .encode(&mut self.out);
        }
        if call.send_credit > 0
            && call.queued.is_empty()
            && let Some(ready) = call.ready.take()
        {
            let _ = ready.send(());
        }
        if self.side == Side::Client && call.one_way && call.sent_end && call.queued.is_empty() {
            // A one-way request is out: the call is over for the client.
            let mut fields = response_start();
            fields.push(HeaderField::from_static("grpc-status", "0"));
            let _ = call.events.send(StreamEvent::Headers {
                headers: fields,
                end_stream: true,
            });
            self.calls.remove(&id);
            return;
        }
        if call.done() {
            self.calls.remove(&id);
        }
    }

    fn trailers(&mut self, id: StreamId, trailers: &[HeaderField]) {
        self.finish(id.as_u32(), trailers);
    }

    /// Server: ends a call with the status in `fields`, on its last queued
    /// message when there is one.
    fn finish(&mut self, id: u32, fields: &[HeaderField]) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.sent_end {
            return;
        }
        call.sent_end = true;
        let mut status = 2u8;
        let mut framework = false;
        let mut message = None;
        let mut trailers = Vec::new();
        let mut encoding = None;
        for field in fields {
            match &field.name[..] {
                b"grpc-status" => {
                    status = std::str::from_utf8(&field.value)
                        .ok()
                        .and_then(|s| s.parse::<u8>().ok())
                        .unwrap_or(2)
                }
                b"grpc-message" => message = Some(percent_decode(&field.value).into_owned()),
                b"ferry-error-source" => framework = &field.value[..] == b"framework",
                b"grpc-encoding" => encoding = utf8(&field.value),
                name if is_reserved(name) => {}
                _ => push_header(&mut trailers, field),
            }
        }
        let mut flags = Flags::END_STREAM;
        if framework {
            flags = flags | Flags::FRAMEWORK_ERROR;
        }
        let merge = call.queued.back().is_some_and(|last| {
            last.flags.contains(Flags::MESSAGE) && !last.flags.contains(Flags::END_STREAM)
        });
        let mut out = if merge {
            call.queued.pop_back().unwrap_or_else(Out::empty)
        } else {
            Out::empty()
        };
        let meta = out
            .meta
            .get_or_insert_with(|| call.pending_meta.take().unwrap_or_default());
        meta.status_message = message;
        meta.trailers = trailers;
        if meta.encoding.is_none() {
            meta.encoding = encoding;
        }
        out.flags = out.flags | flags;
        out.status = status;
        if !call.one_way {
            call.queued.push_back(out);
        }
        self.dirty.push(id);
    }

    fn reset(&mut self, id: StreamId, reason: Reason) {
        let id = id.as_u32();
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        match self.side {
            Side::Client => {
                if !(call.sent_end && call.recv_end) {
                    self.write(Frame::new(Kind::Cancel, u64::from(id)));
                }
            }
            Side::Server => {
                if !call.sent_end && !call.one_way {
                    let code = if reason == Reason::CANCEL {
                        grpc::Code::Cancelled
                    } else {
                        grpc::Code::Internal
                    };
                    let meta = Meta {
                        status_message: Some(format!("call reset by the server ({reason})")),
                        ..Meta::default()
                    };
                    self.write(Frame {
                        flags: Flags::END_STREAM | Flags::FRAMEWORK_ERROR,
                        status: code.as_i32() as u8,
                        meta: meta.to_bytes(),
                        ..Frame::new(Kind::Response, u64::from(id))
                    });
                }
            }
        }
    }

    fn release(&mut self, id: StreamId, n: usize) {
        let id = id.as_u32();
        let quarter = (self.config.initial_credit / 4).max(1);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        call.outstanding -= i64::from(n);
        call.to_grant = call.to_grant.saturating_add(n);
        if call.to_grant >= quarter && !call.recv_end {
            let grant = std::mem::take(&mut call.to_grant);
            self.write(Frame::credit(u64::from(id), grant));
        }
    }

    fn shutdown(&mut self) {
        if self.drain.is_some() {
            return;
        }
        self.shared.draining.store(true, Ordering::Release);
        match self.side {
            Side::Server => {
                self.write(Frame::goaway(u64::MAX, true));
                self.drain = Some(Drain::Noticed(Instant::now() + DRAIN_NOTICE));
            }
            Side::Client => self.drain = Some(Drain::Final),
        }
    }

    // ----- frames from the peer -----------------------------------------

    fn input(&mut self, inbuf: &mut BytesMut) {
        while self.closing.is_none() {
            match self.decoder.decode(inbuf) {
                Ok(Some(frame)) => self.frame(frame),
                Ok(None) => break,
                Err(e) => {
                    self.protocol_error(&e.to_string());
                    break;
                }
            }
        }
    }

    fn protocol_error(&mut self, detail: &str) {
        let meta = Meta {
            status_message: Some(detail.to_owned()),
            ..Meta::default()
        };
        self.write(Frame {
            status: grpc::Code::Internal.as_i32() as u8,
            meta: meta.to_bytes(),
            ..Frame::goaway(u64::from(self.last_peer_id), false)
        });
        self.close(ConnectionError::library(
            Reason::PROTOCOL_ERROR,
            format!("native protocol error: {detail}"),
        ));
    }

    fn frame(&mut self, frame: Frame) {
        if !self.hello_seen {
            if frame.kind != Kind::Hello {
                return self.protocol_error("the first frame must be HELLO");
            }
            if frame.version != ferry_wire::native::VERSION {
                let meta = Meta {
                    status_message: Some(format!(
                        "native protocol version {} is not supported; this server speaks version {}",
                        frame.version,
                        ferry_wire::native::VERSION
                    )),
                    ..Meta::default()
                };
                self.write(Frame {
                    status: grpc::Code::Unimplemented.as_i32() as u8,
                    meta: meta.to_bytes(),
                    ..Frame::goaway(0, false)
                });
                return self.close(ConnectionError::remote(
                    Reason::PROTOCOL_ERROR,
                    "unsupported native protocol version",
                ));
            }
            self.hello_seen = true;
        }
        match frame.kind {
            Kind::Hello => self.hello(&frame),
            Kind::Request if self.side == Side::Server => self.request(frame),
            Kind::Response if self.side == Side::Client => self.response(frame),
            Kind::Cancel if self.side == Side::Server => self.cancelled(frame.id),
            Kind::Credit => {
                if let (Ok(id), Ok(n)) = (u32::try_from(frame.id), frame.credit_increment())
                    && let Some(call) = self.calls.get_mut(&id)
                {
                    call.send_credit += i64::from(n);
                    self.dirty.push(id);
                }
            }
            Kind::Heartbeat => {
                if !frame.has(Flags::REPLY) {
                    self.write(Frame::heartbeat(frame.id, true));
                }
            }
            Kind::Goaway => self.goaway(&frame),
            Kind::Request | Kind::Response | Kind::Cancel => {
                self.protocol_error("a frame kind this side never receives");
            }
            Kind::Unknown(_) => {}
        }
    }

    fn hello(&mut self, frame: &Frame) {
        let meta = match Meta::decode(&frame.meta) {
            Ok(meta) => meta,
            Err(e) => return self.protocol_error(&format!("bad HELLO: {e}")),
        };
        let clamp = |v: Option<u64>, default: u32| {
            v.map_or(default, |v| u32::try_from(v).unwrap_or(u32::MAX))
        };
        self.peer = Peer {
            max_body: clamp(meta.setting(Setting::MAX_BODY), self.peer.max_body),
            initial_credit: clamp(
                meta.setting(Setting::INITIAL_CREDIT),
                self.peer.initial_credit,
            )
            .max(1),
            max_calls: clamp(meta.setting(Setting::MAX_CALLS), self.peer.max_calls).max(1),
        };
        self.open_pending();
    }

    fn open_pending(&mut self) {
        while self.calls.len() < self.peer.max_calls as usize {
            let Some(Command::Open {
                headers,
                end_stream,
                events,
                reply,
            }) = self.pending_opens.pop_front()
            else {
                break;
            };
            self.open(headers, end_stream, events, reply);
        }
    }

    fn request(&mut self, frame: Frame) {
        let Ok(id) = u32::try_from(frame.id) else {
            return self.protocol_error("call id out of range");
        };
        if let Some(call) = self.calls.get_mut(&id) {
            if call.recv_end {
                return self.protocol_error("a REQUEST after the call's END_STREAM");
            }
            deliver(call, &frame);
            if call.outstanding > self.config.max_outstanding() {
                return self.protocol_error("a call sent past its credit");
            }
            self.forget_if_done(id);
            return;
        }
        if id <= self.last_peer_id {
            // A call that already ended (cancelled, or refused): its late
            // frames are dropped.
            return;
        }
        if id == 0 || id > StreamId::MAX.as_u32() {
            return self.protocol_error("call id out of range");
        }
        self.last_peer_id = id;
        let meta = match Meta::decode(&frame.meta) {
            Ok(meta) => meta,
            Err(e) => {
                return self.refuse(
                    id,
                    grpc::Code::Internal,
                    &format!("bad metadata: {e}"),
                    false,
                );
            }
        };
        if matches!(self.drain, Some(Drain::Final)) {
            return self.refuse(
                id,
                grpc::Code::Unavailable,
                "the server is shutting down",
                true,
            );
        }
        if self.calls.len() >= self.config.max_calls as usize {
            return self.refuse(
                id,
                grpc::Code::ResourceExhausted,
                "too many calls on this connection",
                true,
            );
        }
        let (Some(on_stream), Some(handle)) = (self.on_stream.as_mut(), self.handle.as_ref())
        else {
            return;
        };
        let headers = request_headers(&meta);
        let (tx, rx) = mpsc::unbounded_channel();
        let (cancel_tx, cancel_rx) = oneshot::channel();
        let mut call = Call::new(tx, self.peer.initial_credit);
        call.cancel = Some(cancel_tx);
        call.one_way = frame.has(Flags::ONE_WAY);
        let no_body = !frame.has(Flags::MESSAGE) && frame.has(Flags::END_STREAM);
        let incoming = Incoming {
            id: StreamId::new(id),
            headers,
            end_stream: no_body,
            events: rx,
            cancelled: cancel_rx,
            handle: handle.clone(),
        };
        if no_body {
            call.recv_end = true;
        } else {
            deliver(&mut call, &frame);
        }
        self.calls.insert(id, call);
        if let Err(reason) = on_stream(incoming) {
            self.calls.remove(&id);
            let (code, message) = if reason == Reason::REFUSED_STREAM {
                (grpc::Code::Unavailable, "the server is at its call limit")
            } else {
                (grpc::Code::Internal, "the server refused the call")
            };
            self.refuse(id, code, message, reason == Reason::REFUSED_STREAM);
        }
    }

    /// Ends a call the server will not run.
    fn refuse(&mut self, id: u32, code: grpc::Code, message: &str, refused: bool) {
        let meta = Meta {
            status_message: Some(message.to_owned()),
            ..Meta::default()
        };
        let mut flags = Flags::END_STREAM | Flags::FRAMEWORK_ERROR;
        if refused {
            flags = flags | Flags::REFUSED;
        }
        self.write(Frame {
            flags,
            status: code.as_i32() as u8,
            meta: meta.to_bytes(),
            ..Frame::new(Kind::Response, u64::from(id))
        });
    }

    fn cancelled(&mut self, id: u64) {
        let Ok(id) = u32::try_from(id) else {
            return;
        };
        if let Some(mut call) = self.calls.remove(&id) {
            if let Some(cancel) = call.cancel.take() {
                let _ = cancel.send(());
            }
            let _ = call.events.send(StreamEvent::Reset(StreamError::remote(
                StreamId::new(id),
                Reason::CANCEL,
                "the client cancelled the call",
            )));
        }
    }

    fn response(&mut self, frame: Frame) {
        let Ok(id) = u32::try_from(frame.id) else {
            return self.protocol_error("call id out of range");
        };
        let Some(call) = self.calls.get_mut(&id) else {
            // A call we cancelled or gave up on.
            return;
        };
        if frame.has(Flags::REFUSED) {
            let call = self.calls.remove(&id);
            if let Some(call) = call {
                let _ = call.events.send(StreamEvent::Reset(StreamError::remote(
                    StreamId::new(id),
                    Reason::REFUSED_STREAM,
                    "the server refused the call before processing it",
                )));
            }
            self.open_pending();
            return;
        }
        let meta = match Meta::decode(&frame.meta) {
            Ok(meta) => meta,
            Err(e) => {
                let status =
                    grpc::Status::new(grpc::Code::Internal, format!("bad response metadata: {e}"));
                self.fail_call(id, status);
                return;
            }
        };
        let ends = frame.has(Flags::END_STREAM);
        if !call.heard {
            call.heard = true;
            if ends && !frame.has(Flags::MESSAGE) {
                // Trailers-only.
                let mut headers = response_start();
                headers.extend(trailer_fields(&frame, &meta));
                call.recv_end = true;
                let _ = call.events.send(StreamEvent::Headers {
                    headers,
                    end_stream: true,
                });
                self.finish_client_call(id);
                return;
            }
            let mut headers = response_start();
            if let Some(encoding) = &meta.encoding {
                headers.push(HeaderField::new("grpc-encoding", encoding.clone()));
            }
            for (key, value) in &meta.headers {
                headers.push(HeaderField::new(key.clone(), value.clone()));
            }
            let _ = call.events.send(StreamEvent::Headers {
                headers,
                end_stream: false,
            });
        }
        if frame.has(Flags::MESSAGE) {
            deliver_message(call, &frame);
            if call.outstanding > self.config.max_outstanding() {
                return self.protocol_error("a call sent past its credit");
            }
        }
        if ends {
            call.recv_end = true;
            let _ = call
                .events
                .send(StreamEvent::Trailers(trailer_fields(&frame, &meta)));
            self.finish_client_call(id);
        }
    }

    /// The server ended a client call: stop sending what is left of it.
    fn finish_client_call(&mut self, id: u32) {
        if let Some(call) = self.calls.remove(&id)
            && !call.sent_end
        {
            self.write(Frame::new(Kind::Cancel, u64::from(id)));
        }
        self.open_pending();
    }

    fn forget_if_done(&mut self, id: u32) {
        if self.calls.get(&id).is_some_and(Call::done) {
            self.calls.remove(&id);
        }
    }

    fn goaway(&mut self, frame: &Frame) {
        self.shared.draining.store(true, Ordering::Release);
        let Ok(last) = frame.goaway_last_id() else {
            return self.protocol_error("malformed GOAWAY");
        };
        if self.side == Side::Server {
            // A client going away: it opens nothing more.
            return;
        }
        for cmd in std::mem::take(&mut self.pending_opens) {
            if let Command::Open { reply, .. } = cmd {
                let _ = reply.send(Err(OpenError::GoingAway));
            }
        }
        if frame.has(Flags::DRAINING) {
            return;
        }
        self.goaway_last = Some(last);
        let refused: Vec<u32> = self
            .calls
            .keys()
            .copied()
            .filter(|&id| u64::from(id) > last)
            .collect();
        for id in refused {
            if let Some(call) = self.calls.remove(&id) {
                let _ = call.events.send(StreamEvent::Reset(StreamError::remote(
                    StreamId::new(id),
                    Reason::REFUSED_STREAM,
                    "above the server's GOAWAY",
                )));
            }
        }
        if frame.status != 0 {
            let detail = Meta::decode(&frame.meta)
                .ok()
                .and_then(|m| m.status_message)
                .unwrap_or_else(|| "the server closed the connection".to_owned());
            self.close(ConnectionError::remote(Reason::PROTOCOL_ERROR, detail));
        }
    }

    // ----- ending -------------------------------------------------------

    /// Fails one call locally with `status`, telling the peer.
    fn fail_call(&mut self, id: u32, status: grpc::Status) {
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        match self.side {
            Side::Client => {
                let _ = call
                    .events
                    .send(StreamEvent::Trailers(status_fields(&status)));
                self.write(Frame::new(Kind::Cancel, u64::from(id)));
            }
            Side::Server => {
                let meta = Meta {
                    status_message: Some(status.message().to_owned()),
                    ..Meta::default()
                };
                self.write(Frame {
                    flags: Flags::END_STREAM | Flags::FRAMEWORK_ERROR,
                    status: status.code().as_i32() as u8,
                    meta: meta.to_bytes(),
                    ..Frame::new(Kind::Response, u64::from(id))
                });
                if let Some(cancel) = call.cancel {
                    let _ = cancel.send(());
                }
                let _ = call.events.send(StreamEvent::Reset(StreamError {
                    stream_id: StreamId::new(id),
                    reason: Reason::CANCEL,
                    initiator: Initiator::Library,
                    detail: status.message().to_owned().into(),
                }));
            }
        }
    }

    fn close(&mut self, error: ConnectionError) {
        if self.closing.is_none() {
            self.closing = Some(error);
        }
    }

    fn fail_all(&mut self, error: &ConnectionError) {
        for (_, mut call) in self.calls.drain() {
            if let Some(cancel) = call.cancel.take() {
                let _ = cancel.send(());
            }
            let _ = call.events.send(StreamEvent::Closed(error.clone()));
        }
        for cmd in std::mem::take(&mut self.pending_opens) {
            if let Command::Open { reply, .. } = cmd {
                let _ = reply.send(Err(OpenError::Closed));
            }
        }
    }
}

/// Hands a REQUEST frame's message (and end) to its server call.
fn deliver(call: &mut Call, frame: &Frame) {
    let ends = frame.has(Flags::END_STREAM);
    if frame.has(Flags::MESSAGE) {
        deliver_message(call, frame);
    }
    if ends {
        call.recv_end = true;
        let _ = call.events.send(StreamEvent::Data {
            data: Bytes::new(),
            end_stream: true,
        });
    }
}

/// Hands one message to its call in the runtime's gRPC framing.
fn deliver_message(call: &mut Call, frame: &Frame) {
    let body = &frame.body;
    let compressed = frame.has(Flags::COMPRESSED);
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let mut prefix = [0u8; 5];
    prefix[0] = u8::from(compressed);
    prefix[1..].copy_from_slice(&len.to_be_bytes());
    call.outstanding += body.len() as i64 + MESSAGE_OVERHEAD;
    if body.len() <= COPY_LIMIT {
        let mut data = BytesMut::with_capacity(5 + body.len());
        data.put_slice(&prefix);
        data.put_slice(body);
        let _ = call.events.send(StreamEvent::Data {
            data: data.freeze(),
            end_stream: false,
        });
    } else {
        let _ = call.events.send(StreamEvent::Data {
            data: Bytes::copy_from_slice(&prefix),
            end_stream: false,
        });
        let _ = call.events.send(StreamEvent::Data {
            data: body.clone(),
            end_stream: false,
        });
    }
}

/// Request pseudo-headers and fields a native REQUEST leaves out (they are
/// implied, or carried in their own metadata entries).
fn is_reserved(name: &[u8]) -> bool {
    name.first() == Some(&b':')
        || matches!(
            name,
            b"content-type"
                | b"te"
                | b"user-agent"
                | b"grpc-timeout"
                | b"grpc-encoding"
                | b"grpc-accept-encoding"
                | b"grpc-status"
                | b"grpc-message"
                | b"ferry-one-way"
        )
}

fn utf8(value: &[u8]) -> Option<String> {
    std::str::from_utf8(value).ok().map(str::to_owned)
}

fn push_header(headers: &mut Vec<(String, Bytes)>, field: &HeaderField) {
    if let Some(name) = utf8(&field.name) {
        headers.push((name, field.value.clone()));
    }
}

/// A client call's request metadata from the headers the call built.
fn request_meta(headers: &[HeaderField]) -> Meta {
    let mut meta = Meta::default();
    for field in headers {
        match &field.name[..] {
            b":path" => {
                let path = String::from_utf8_lossy(&field.value);
                let path = path.strip_prefix('/').unwrap_or(&path);
                match path.split_once('/') {
                    Some((service, method)) => {
                        meta.service = Some(service.to_owned());
                        meta.method = Some(method.to_owned());
                    }
                    None => meta.method = Some(path.to_owned()),
                }
            }
            b"grpc-timeout" => {
                meta.timeout = grpc::decode_timeout(&field.value).ok();
            }
            b"grpc-encoding" => meta.encoding = utf8(&field.value),
            b"ferry-implementation" => meta.implementation = utf8(&field.value),
            name if is_reserved(name) => {}
            _ => push_header(&mut meta.headers, field),
        }
    }
    meta
}

/// The HTTP/2-shaped request headers the server's routing reads.
fn request_headers(meta: &Meta) -> Vec<HeaderField> {
    let path = format!(
        "/{}/{}",
        meta.service.as_deref().unwrap_or_default(),
        meta.method.as_deref().unwrap_or_default()
    );
    let mut headers = vec![
        HeaderField::from_static(":method", "POST"),
        HeaderField::from_static(":scheme", "http"),
        HeaderField::new(":path", path),
        HeaderField::from_static(":authority", "native"),
        HeaderField::from_static("content-type", "application/grpc"),
        HeaderField::from_static("te", "trailers"),
    ];
    if let Some(timeout) = meta.timeout {
        headers.push(HeaderField::new(
            "grpc-timeout",
            grpc::encode_timeout(timeout),
        ));
    }
    if let Some(encoding) = &meta.encoding {
        headers.push(HeaderField::new("grpc-encoding", encoding.clone()));
    }
    if let Some(implementation) = &meta.implementation {
        headers.push(HeaderField::new(
            "ferry-implementation",
            implementation.clone(),
        ));
    }
    for (key, value) in &meta.headers {
        headers.push(HeaderField::new(key.clone(), value.clone()));
    }
    headers
}

fn response_start() -> Vec<HeaderField> {
    vec![
        HeaderField::from_static(":status", "200"),
        HeaderField::from_static("content-type", "application/grpc"),
    ]
}

/// The trailers a call reads from a frame that ends the response.
fn trailer_fields(frame: &Frame, meta: &Meta) -> Vec<HeaderField> {
    let code = if frame.status > 16 { 2 } else { frame.status };
    let mut fields = vec![HeaderField::new("grpc-status", code.to_string())];
    if let Some(message) = &meta.status_message {
        fields.push(HeaderField::new(
            "grpc-message",
            percent_encode(message).into_owned(),
        ));
    }
    if frame.has(Flags::FRAMEWORK_ERROR) {
        fields.push(HeaderField::from_static("ferry-error-source", "framework"));
    }
    for (key, value) in &meta.trailers {
        fields.push(HeaderField::new(key.clone(), value.clone()));
    }
    fields
}

fn status_fields(status: &grpc::Status) -> Vec<HeaderField> {
    let mut fields = vec![HeaderField::new(
        "grpc-status",
        status.code().as_i32().to_string(),
    )];
    fields.push(HeaderField::new(
        "grpc-message",
        percent_encode(status.message()).into_owned(),
    ));
    fields
}

async fn sleep_until(deadline: Instant) {
    tokio::time::sleep_until(deadline).await
}
