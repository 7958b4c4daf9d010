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
//!
//! The files: this one holds the task, its loop, timers and endings;
//! `send.rs` turns commands from calls into frames, `recv.rs` turns the
//! peer's frames into events, `metadata.rs` translates between header lists
//! and native metadata, `config.rs` holds the settings.

mod config;
mod metadata;
mod recv;
mod send;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_wire::IdMap;
use ferry_wire::conn::OpenError;
use ferry_wire::grpc::{self, MessageDecoder};
use ferry_wire::native::{Flags, Frame, FrameDecoder, Kind, Meta, Setting};
use ferry_wire::{ConnectionError, Initiator, Reason, StreamError, StreamId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::driver::{Command, Handle, OnStream, Shared, StreamEvent, Timer};
use crate::events::EventSender;

pub(crate) use config::NativeConfig;
use metadata::{MetaCache, status_fields};

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
    events: EventSender,
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
    fn new(events: EventSender, credit: u32) -> Call {
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
    /// Metadata already encoded, after `meta`'s entries (a cached request
    /// section; empty for most frames).
    encoded_meta: Bytes,
    body: Bytes,
}

impl Out {
    fn empty() -> Out {
        Out {
            flags: Flags::empty(),
            status: 0,
            meta: None,
            encoded_meta: Bytes::new(),
            body: Bytes::new(),
        }
    }

    fn encode(self, kind: Kind, id: u32, out: &mut BytesMut) {
        let frame = Frame {
            flags: self.flags,
            status: self.status,
            meta: self.encoded_meta,
            body: self.body,
            ..Frame::new(kind, u64::from(id))
        };
        match &self.meta {
            Some(meta) => frame.encode_with_meta(meta, out),
            None => frame.encode(out),
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
        calls: IdMap::default(),
        dirty: Vec::new(),
        out: BytesMut::with_capacity(16 * 1024),
        next_id: 1,
        last_peer_id: 0,
        pending_opens: VecDeque::new(),
        meta_cache: None,
        head_cache: None,
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
    calls: IdMap<u32, Call>,
    /// Calls with frames queued since the last flush.
    dirty: Vec<u32>,
    out: BytesMut,
    /// Client: the next call id.
    next_id: u32,
    /// Server: the highest call id the client has opened.
    last_peer_id: u32,
    /// Client: opens past the peer's `max_calls`.
    pending_opens: VecDeque<Command>,
    /// Client: the last request metadata section that can be reused.
    meta_cache: Option<MetaCache>,
    /// Server: the last reusable request section (after its timeout) and
    /// the head it gave.
    head_cache: Option<(Bytes, ferry_wire::grpc::RequestHead)>,
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
        let mut timer = Timer::new();
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
            timer.want(Some(self.next_timer()));
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
                            if self.calls.len() > 1 {
                                // As in the HTTP/2 driver: the call task that
                                // woke us ran first (tokio's LIFO slot); let
                                // the others the same read woke queue their
                                // frames too, so they share one write.
                                tokio::task::yield_now().await;
                                while let Ok(cmd) = self.rx.try_recv() {
                                    self.command(cmd);
                                }
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
                () = timer.fired(), if timer.is_armed() => self.timer(),
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
            if let Command::Open { reply, events, .. } = cmd {
                reply.send(&events, Err(OpenError::Closed));
            }
        }
    }
}
