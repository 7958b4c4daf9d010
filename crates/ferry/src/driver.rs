//! The connection driver: one task per connection owns the socket and the
//! `ferry_wire` [`Connection`]; calls talk to it through [`Command`]s and
//! hear back through per-stream channels of [`StreamEvent`]s.
//!
//! ```text
//!   call tasks ──Command──▶ ┌────────────── driver task ──────────────┐
//!                           │ Connection (sans-IO)                     │
//!   socket ◀──── writes ─── │  poll_transmit → out buffer → write_buf  │
//!   socket ───── reads ───▶ │  handle_input → events → StreamEvent ────┼──▶ call tasks
//!                           │  handle_timeout at poll_timeout          │
//!                           └──────────────────────────────────────────┘
//! ```
//!
//! Nothing is shared between the driver and the calls but channels: no lock
//! is held while calls run. Every command that is ready is applied before
//! the next write, so the frames of many calls leave in one write, and that
//! write is vectored: large DATA payloads go to the socket from the calls'
//! own buffers ([`OutBuf`]), never copied into a write buffer. Reading
//! stops while the wire core says too much is queued (`wants_read`), and a
//! call that does not consume its data keeps its stream window closed, so a
//! slow reader pushes back on the peer through flow control.
//!
//! Memory: a connection that has had no stream open and nothing to write or
//! parse for [`RELEASE_AFTER`] frees its read and write buffers and the wire
//! core's scratch buffers ([`Connection::release_buffers`]) and waits for
//! the peer with a small read into the task itself ([`IDLE_READ`] bytes),
//! so an idle connection holds only its state.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use ferry_wire::conn::{Connection, Event, OpenError, OutBuf, Role};
use ferry_wire::grpc::{
    self, Metadata, RequestError, RequestHead, ResponseHead, ResponseStart, Trailers,
};
use ferry_wire::{ConnectionError, HeaderField, IdMap, Reason, StreamError, StreamId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::events::{self, EventReceiver, EventSender};
use crate::framed::{Framed, whole_message};
use tokio::time::Instant;

/// Output is produced from the wire core until this much waits to be
/// written; the socket drains all of it before more is asked for.
const OUT_HIGH_WATER: usize = 256 * 1024;
/// How long a closing connection keeps reading (and dropping) what the
/// peer still sends, so our last frames are not lost to a TCP reset.
const LINGER: std::time::Duration = std::time::Duration::from_millis(500);
/// Room made in the connection's input buffer before a read (the wire
/// core makes more for a larger frame: `Connection::prepare_read`).
const READ_CHUNK: usize = 64 * 1024;
/// The read of an idle connection: big enough for a new call's HEADERS and
/// a small message (or a new connection's preface and SETTINGS), small
/// enough to live in the task instead of a buffer of its own.
const IDLE_READ: usize = 512;
/// How long a connection stays quiet before it frees its buffers.
const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_millis(10);
/// Slices handed to one vectored write (Linux takes up to 1,024; a batch of
/// 256 KiB in 16 KiB frames needs 33).
const MAX_WRITE_SLICES: usize = 64;

/// What a call asks of its connection.
#[derive(Debug)]
pub(crate) enum Command {
    /// Client: open a stream with this request head, and `body` (bytes of
    /// gRPC-framed messages) right behind it; `end_stream` ends the request
    /// after the body. A unary request is this one command. The head stays
    /// typed until the driver: HTTP/2 encodes it as headers, the native
    /// protocol as its own metadata, with no header list in between.
    Open {
        head: Box<RequestHead>,
        body: Option<Bytes>,
        end_stream: bool,
        events: EventSender,
        reply: OpenReply,
    },
    /// Response headers (server).
    Headers {
        id: StreamId,
        headers: Vec<HeaderField>,
        end_stream: bool,
    },
    /// Body bytes; `ready` fires once the stream can take more.
    Data {
        id: StreamId,
        data: Framed,
        end_stream: bool,
        ready: Option<oneshot::Sender<()>>,
    },
    /// Trailers, ending our side of the stream.
    Trailers {
        id: StreamId,
        trailers: Vec<HeaderField>,
    },
    /// Server: a whole successful unary answer (headers, the one message,
    /// an OK status) in one command, as typed parts: HTTP/2 encodes them as
    /// three header and data frames, the native protocol as one RESPONSE
    /// frame, with no header lists in between.
    Respond { id: StreamId, answer: Box<Answer> },
    /// Cancel the stream.
    Reset { id: StreamId, reason: Reason },
    /// The call consumed this much of the stream's data.
    Release { id: StreamId, n: usize },
    /// A message of this length is being received on the stream.
    Expect { id: StreamId, len: usize },
    /// Server: the handler no longer reads the request; once the response
    /// is out, ask the client to stop sending (RST_STREAM NO_ERROR, RFC
    /// 9113 §8.1).
    StopReceiving { id: StreamId },
    /// Graceful shutdown.
    Shutdown,
    /// Immediate close with GOAWAY; calls still running end.
    Close {
        reason: Reason,
        detail: &'static str,
    },
}

/// How a new stream's id, or why it could not open, reaches its call.
#[derive(Debug)]
pub(crate) enum OpenReply {
    /// The call waits for the answer before it sends more.
    Wait(oneshot::Sender<Result<StreamId, OpenError>>),
    /// The call gave its whole request with the open: it learns the id
    /// from its event queue when it needs it, without a wake-up for it,
    /// and a failure to open as a `NotOpened` event.
    Events,
}

impl OpenReply {
    /// Tells the call its stream opened, or why not. False when the call
    /// gave up first: the driver resets the stream it just opened.
    pub(crate) fn send(self, events: &EventSender, result: Result<StreamId, OpenError>) -> bool {
        match (self, result) {
            (OpenReply::Wait(reply), result) => {
                let _ = reply.send(result);
                true
            }
            (OpenReply::Events, Ok(id)) => events.opened(id),
            (OpenReply::Events, Err(e)) => {
                let _ = events.send(StreamEvent::NotOpened(e));
                true
            }
        }
    }
}

/// A successful unary answer: the response head, the one framed message
/// (5-byte prefix included) and the trailing metadata of an OK status.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) head: ResponseHead,
    pub(crate) message: Framed,
    pub(crate) trailers: Metadata,
}

/// A response in one event: its head, its one message (gRPC-framed) and
/// its OK status with the trailing metadata.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) head: ResponseHead,
    pub(crate) message: grpc::Message,
    pub(crate) status: grpc::Status,
    pub(crate) trailers: Metadata,
}

/// What a connection tells a call.
#[derive(Debug)]
pub(crate) enum StreamEvent {
    Headers {
        headers: Vec<HeaderField>,
        end_stream: bool,
    },
    Data {
        data: Bytes,
        end_stream: bool,
    },
    Trailers(Vec<HeaderField>),
    /// Client: a whole response that ended OK with one small message, as
    /// typed parts (the native protocol's unary answer in one frame): what
    /// `Headers`, `Data` and `Trailers` carry, without header lists.
    Reply(Box<Reply>),
    /// The stream could not be opened (a call that did not wait to hear,
    /// `OpenReply::Events`); nothing of it was sent.
    NotOpened(OpenError),
    Reset(StreamError),
    /// The connection ended under the stream.
    Closed(ConnectionError),
}

/// How a new call's request head arrives.
#[derive(Debug)]
pub(crate) enum RequestStart {
    /// An HTTP/2 header block, which the call decodes and checks.
    Headers(Vec<HeaderField>),
    /// Built and checked by the driver from typed fields (the native
    /// protocol), with no header list in between.
    Head(Result<Box<RequestHead>, RequestError>),
}

/// A new stream the peer opened (server side).
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) id: StreamId,
    pub(crate) start: RequestStart,
    pub(crate) end_stream: bool,
    /// The whole request, when it arrived with the head and the end (a
    /// native REQUEST frame with its one message and END_STREAM; over
    /// HTTP/2, HEADERS and, in the same batch of events, a first DATA frame
    /// holding exactly one message and END_STREAM): handed over here, not
    /// as events, and `end_stream` is set.
    pub(crate) message: Option<grpc::Message>,
    pub(crate) events: EventReceiver,
    /// Fires when the peer cancels the stream or the connection ends.
    pub(crate) cancelled: oneshot::Receiver<()>,
    pub(crate) handle: Handle,
}

/// State of a connection that its handles can read without asking the
/// driver.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// No new streams: GOAWAY sent or received, ids exhausted, or closed.
    pub(crate) draining: AtomicBool,
    pub(crate) closed: AtomicBool,
}

/// A cheap, cloneable way to send commands to a connection's driver.
#[derive(Debug, Clone)]
pub(crate) struct Handle {
    tx: mpsc::UnboundedSender<Command>,
    pub(crate) shared: Arc<Shared>,
}

impl Handle {
    /// A handle over a driver's command channel (the native driver makes
    /// its own).
    pub(crate) fn new(tx: mpsc::UnboundedSender<Command>, shared: Arc<Shared>) -> Handle {
        Handle { tx, shared }
    }

    /// Sends a command; false when the driver is gone.
    pub(crate) fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).is_ok()
    }

    /// True while new streams may be opened here.
    pub(crate) fn is_usable(&self) -> bool {
        !self.shared.draining.load(Ordering::Acquire) && !self.tx.is_closed()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire) || self.tx.is_closed()
    }
}

struct StreamSlot {
    events: EventSender,
    cancel: Option<oneshot::Sender<()>>,
}

/// Takes a new incoming stream; `Err(reason)` refuses it at once with
/// RST_STREAM (before any event of the stream can be delivered).
pub(crate) type OnStream = Box<dyn FnMut(Incoming) -> Result<(), Reason> + Send>;

/// How long a server keeps a connection: after `max_age` it sends GOAWAY
/// (graceful shutdown), and `grace` later it closes whatever is left. Clients
/// then reconnect, which spreads load across servers behind a balancer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MaxAge {
    pub(crate) max_age: std::time::Duration,
    pub(crate) grace: std::time::Duration,
}

/// Spawns the driver task for an established byte stream and returns its
/// handle. `on_stream` receives the streams the peer opens (server role).
pub(crate) fn spawn<IO>(
    io: IO,
    conn: Connection,
    on_stream: Option<OnStream>,
    max_age: Option<MaxAge>,
) -> (Handle, tokio::task::JoinHandle<()>)
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared::default());
    let handle = Handle {
        tx,
        shared: shared.clone(),
    };
    let driver = Driver {
        conn,
        rx,
        // Only a server hands its own handle to incoming streams. A client's
        // driver holds none, so its command channel closes when the last
        // `Channel` clone (and call) is gone, and the connection ends.
        handle: on_stream.is_some().then(|| handle.clone()),
        streams: IdMap::default(),
        writable: IdMap::default(),
        pending_opens: Vec::new(),
        finishing: Vec::new(),
        stop_receiving: Vec::new(),
        opening: Vec::new(),
        fields: Vec::new(),
        on_stream,
        shared,
        age: max_age.map(|a| (Instant::now() + a.max_age, Some(a.grace))),
    };
    let task = tokio::spawn(driver.run(io));
    (handle, task)
}

struct Driver {
    conn: Connection,
    rx: mpsc::UnboundedReceiver<Command>,
    /// Server: our own handle, given to incoming streams.
    handle: Option<Handle>,
    streams: IdMap<StreamId, StreamSlot>,
    writable: IdMap<StreamId, oneshot::Sender<()>>,
    pending_opens: Vec<Command>,
    /// Streams whose sending side we ended (see `sweep`).
    finishing: Vec<StreamId>,
    /// Server streams whose handler stopped reading (see `sweep`).
    stop_receiving: Vec<StreamId>,
    /// Server: calls opened by the events being handled, and whether
    /// nothing of their body has arrived yet (see `whole_request`).
    opening: Vec<(Incoming, bool)>,
    /// Server: a response's header fields, kept between responses.
    fields: Vec<HeaderField>,
    on_stream: Option<OnStream>,
    shared: Arc<Shared>,
    /// Next max-age step: the instant, and the grace period still to come
    /// (`None` once the GOAWAY went out and only the close is left).
    age: Option<(Instant, Option<std::time::Duration>)>,
}

impl Driver {
    // Not an `async fn`: the arguments of an async fn are stored in its
    // future twice (as arguments, then moved into the body), which cost
    // each connection a second copy of the `Driver`, 1.6 KiB.
    #[allow(clippy::manual_async_fn)]
    fn run<IO: AsyncRead + AsyncWrite + Send>(
        mut self,
        io: IO,
    ) -> impl std::future::Future<Output = ()> + Send {
        async move {
            let (mut reader, mut writer) = tokio::io::split(io);
            // Payloads are written from the calls' buffers when the socket takes
            // vectored writes; otherwise they are copied into one buffer.
            let mut out = if writer.is_write_vectored() {
                OutBuf::new()
            } else {
                OutBuf::with_min_by_reference(usize::MAX)
            };
            let mut idle_read = [0u8; IDLE_READ];
            let mut read_open = true;
            let mut commands_open = true;
            let mut unused_shutdown = false;
            let mut needs_flush = false;
            // Since when nothing is open, pending or buffered; and whether
            // the buffers were freed since.
            let mut quiet_since: Option<Instant> = None;
            let mut released = false;
            let mut timer = Timer::new();
            loop {
                let now = Instant::now().into_std();
                // Output is produced only into an empty buffer: appending behind
                // what a partial write left would first move that remainder to
                // the front of the buffer (or reallocate it), a copy of up to
                // the whole batch on every turn while the socket is full.
                if out.is_empty() {
                    while out.len() < OUT_HIGH_WATER
                        && self.conn.poll_transmit_buf(now, &mut out) > 0
                    {}
                }
                self.sweep();
                if out.is_empty() {
                    if needs_flush {
                        if writer.flush().await.is_err() {
                            self.conn.handle_eof();
                            self.dispatch();
                        }
                        needs_flush = false;
                    }
                    if self.conn.is_closed() {
                        break;
                    }
                    if !commands_open && !unused_shutdown && self.streams.is_empty() {
                        // Nobody can use this connection any more: close it
                        // (once; the GOAWAY exchange then runs its course).
                        unused_shutdown = true;
                        self.conn.shutdown(now);
                        continue;
                    }
                }
                let deadline = self.conn.poll_timeout().map(Instant::from_std);
                let quiet = out.is_empty()
                    && self.streams.is_empty()
                    && self.conn.open_streams() == 0
                    && self.conn.recv_buffer().is_empty();
                // Buffers are freed once the connection has been quiet for
                // RELEASE_AFTER: freeing them between two calls that follow
                // each other closely cost 13 % more instructions per call.
                let mut release_at = None;
                if !quiet {
                    quiet_since = None;
                    released = false;
                } else if !released {
                    let now = Instant::from_std(now);
                    let since = *quiet_since.get_or_insert(now);
                    if now >= since + RELEASE_AFTER {
                        out.release();
                        self.conn.release_buffers();
                        self.release_tables();
                        released = true;
                    } else {
                        release_at = Some(since + RELEASE_AFTER);
                    }
                }
                let idle = quiet && released;
                // One timer for every deadline (each costs the task a `Sleep`).
                let age_at = self.age.map(|a| a.0);
                timer.want([deadline, age_at, release_at].into_iter().flatten().min());
                let reading = read_open && self.conn.wants_read();
                // Socket bytes go straight into the wire core's input buffer,
                // a whole frame into one buffer: frames, and the messages in
                // them, are sliced out of it, never copied.
                let read_limit = if idle || !reading {
                    IDLE_READ
                } else {
                    self.conn.prepare_read(READ_CHUNK)
                };
                tokio::select! {
                    biased;
                    written = write_vectored(&mut writer, &out), if !out.is_empty() => {
                        match written {
                            Ok(0) | Err(_) => {
                                out.clear();
                                self.conn.handle_eof();
                            }
                            Ok(n) => {
                                out.advance(n);
                                needs_flush = true;
                            }
                        }
                    }
                    cmd = self.rx.recv(), if commands_open => {
                        match cmd {
                            Some(cmd) => {
                                self.command(cmd);
                                // Take every command that is ready: their frames
                                // then leave in one write.
                                while let Ok(cmd) = self.rx.try_recv() {
                                    self.command(cmd);
                                }
                                if out.is_empty() && self.streams.len() > 1 {
                                    // Other calls are in flight, and their tasks
                                    // were most likely woken by the same read as
                                    // the one that just answered: tokio runs the
                                    // task the current one wakes next (its LIFO
                                    // slot), so without this the driver would run
                                    // after every single reply and write each in
                                    // its own syscall and TCP segment. Yielding
                                    // once lets every runnable call queue its
                                    // frames first; they then leave in one write.
                                    // With one call in flight nothing waits.
                                    tokio::task::yield_now().await;
                                    while let Ok(cmd) = self.rx.try_recv() {
                                        self.command(cmd);
                                    }
                                }
                            }
                            None => commands_open = false,
                        }
                    }
                    read = read_some(&mut reader, self.conn.recv_buffer(), read_limit, idle.then_some(&mut idle_read)), if reading => {
                        match read {
                            Ok(0) | Err(_) => {
                                read_open = false;
                                self.conn.handle_eof();
                            }
                            Ok(n) => {
                                if idle {
                                    // The one copy of an idle read; what follows
                                    // is read straight into the wire core's buffer.
                                    let inbuf = self.conn.recv_buffer();
                                    inbuf.reserve(if n == IDLE_READ { READ_CHUNK } else { n });
                                    inbuf.extend_from_slice(&idle_read[..n]);
                                }
                                self.conn.handle_received(Instant::now().into_std());
                            }
                        }
                    }
                    () = timer.fired(), if timer.is_armed() => {
                        let now = Instant::now();
                        if deadline.is_some_and(|d| d <= now) {
                            self.conn.handle_timeout(now.into_std());
                        }
                        if age_at.is_some_and(|d| d <= now) {
                            match self.age.take() {
                                Some((_, Some(grace))) => {
                                    self.conn.shutdown(now.into_std());
                                    self.age = Some((now + grace, None));
                                }
                                _ => self.conn.close(Reason::NO_ERROR, "max connection age reached"),
                            }
                        }
                    }
                }
                self.dispatch();
            }
            self.shared.closed.store(true, Ordering::Release);
            self.shared.draining.store(true, Ordering::Release);
            // Lingering close: send FIN, then read and drop what the peer still
            // sends for a moment. Closing with unread input makes the kernel
            // answer with a TCP reset, which can destroy the GOAWAY we just
            // wrote before the peer reads it.
            let _ = writer.shutdown().await;
            if read_open {
                let mut sink = vec![0u8; 16 * 1024];
                let _ = tokio::time::timeout(LINGER, async {
                    while let Ok(n) = reader.read(&mut sink).await {
                        if n == 0 {
                            break;
                        }
                    }
                })
                .await;
            }
        }
    }

    /// Frees the driver's own tables while no stream is open.
    fn release_tables(&mut self) {
        self.fields = Vec::new();
        if self.streams.capacity() > 0 {
            self.streams = IdMap::default();
        }
        if self.writable.is_empty() && self.writable.capacity() > 0 {
            self.writable = IdMap::default();
        }
        if self.pending_opens.is_empty() {
            self.pending_opens = Vec::new();
        }
        if self.finishing.is_empty() {
            self.finishing = Vec::new();
        }
        if self.opening.is_empty() {
            self.opening = Vec::new();
        }
        if self.stop_receiving.is_empty() {
            self.stop_receiving = Vec::new();
        }
    }

    /// What became of a stream opened for a call: `kept` is the call's
    /// head when the stream was refused for capacity (the call then waits).
    fn opened(
        &mut self,
        opened: Result<StreamId, OpenError>,
        kept: Option<Box<RequestHead>>,
        body: Option<Bytes>,
        end_stream: bool,
        events: EventSender,
        reply: OpenReply,
    ) {
        match (opened, kept) {
            (Ok(id), _) => {
                if !reply.send(&events, Ok(id)) {
                    // Gave up just now: nothing of it goes out.
                    self.conn.reset_stream(id, Reason::CANCEL);
                    return;
                }
                self.streams.insert(
                    id,
                    StreamSlot {
                        events,
                        cancel: None,
                    },
                );
                if let Some(body) = body {
                    let _ = self.conn.send_data(id, body, end_stream);
                }
                if end_stream {
                    self.finished_sending(id);
                }
            }
            (Err(OpenError::AtCapacity), Some(head)) => {
                self.pending_opens.push(Command::Open {
                    head,
                    body,
                    end_stream,
                    events,
                    reply,
                });
            }
            (Err(e), _) => {
                reply.send(&events, Err(e));
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Open { events, .. } if events.is_abandoned() => {
                // The call gave up while waiting to be opened.
            }
            Command::Open {
                head,
                body,
                end_stream,
                events,
                reply,
            } => {
                let end = end_stream && body.is_none();
                // A call refused for capacity waits with its head; any
                // other moves the head's values into the reused field list
                // rather than cloning them.
                let (opened, kept) = if self.conn.at_stream_capacity() {
                    (self.conn.open_stream(&head.encode(), end), Some(head))
                } else {
                    self.fields.clear();
                    head.into_fields(&mut self.fields);
                    let opened = self.conn.open_stream(&self.fields, end);
                    self.fields.clear();
                    (opened, None)
                };
                self.opened(opened, kept, body, end_stream, events, reply);
            }
            Command::Headers {
                id,
                headers,
                end_stream,
            } => {
                let _ = self.conn.send_headers(id, &headers, end_stream);
                if end_stream {
                    self.finished_sending(id);
                }
            }
            Command::Data {
                id,
                data,
                end_stream,
                ready,
            } => {
                if end_stream {
                    self.finished_sending(id);
                }
                if self.conn.send_data_parts(id, data, end_stream).is_ok() {
                    if let Some(ready) = ready {
                        if self.conn.send_capacity(id).unwrap_or(0) > 0 {
                            let _ = ready.send(());
                        } else {
                            self.writable.insert(id, ready);
                        }
                    }
                }
            }
            Command::Trailers { id, trailers } => {
                let _ = self.conn.send_trailers(id, &trailers);
                self.finished_sending(id);
            }
            Command::Respond { id, answer } => {
                let Answer {
                    head,
                    message,
                    trailers: metadata,
                } = *answer;
                let mut trailers = Trailers::new(grpc::Status::ok());
                *trailers.metadata_mut() = metadata;
                self.fields.clear();
                head.encode_into(&mut self.fields);
                if self.conn.send_headers(id, &self.fields, false).is_ok()
                    && self.conn.send_data_parts(id, message, false).is_ok()
                {
                    self.fields.clear();
                    trailers.encode_into(&mut self.fields);
                    let _ = self.conn.send_trailers(id, &self.fields);
                }
                self.fields.clear();
                self.finished_sending(id);
            }
            Command::Reset { id, reason } => {
                self.conn.reset_stream(id, reason);
                self.streams.remove(&id);
                self.writable.remove(&id);
            }
            Command::Release { id, n } => self.conn.release_capacity(id, n),
            Command::Expect { id, len } => self.conn.expect_message(id, len),
            Command::StopReceiving { id } => self.stop_receiving.push(id),
            Command::Shutdown => self.conn.shutdown(Instant::now().into_std()),
            Command::Close { reason, detail } => self.conn.close(reason, detail),
        }
    }

    /// Our side of a stream is done. Once the peer's is too and the last
    /// frame is written, the wire core forgets the stream and `sweep` drops
    /// its slot.
    fn finished_sending(&mut self, id: StreamId) {
        self.finishing.push(id);
    }

    /// Drops the slots of streams the wire core no longer knows, and ends
    /// the streams whose response is out but whose request nobody reads.
    fn sweep(&mut self) {
        let conn = &mut self.conn;
        let streams = &mut self.streams;
        self.stop_receiving
            .retain(|id| match conn.send_finished(*id) {
                None => false,
                Some(false) => true,
                Some(true) => {
                    conn.reset_stream(*id, Reason::NO_ERROR);
                    streams.remove(id);
                    false
                }
            });
        self.finishing.retain(|id| {
            if conn.has_stream(*id) {
                return true;
            }
            streams.remove(id);
            false
        });
    }

    fn dispatch(&mut self) {
        self.handle_events();
        self.start_calls();
    }

    /// A request's DATA: if the stream opened in this batch of events and
    /// this frame holds its one whole message and its end (a unary request,
    /// the usual case), the message joins the call's start and true is
    /// returned: the handler gets it whole, with no events, request stream
    /// or re-framing. The stream's window needs nothing back (the peer has
    /// finished sending) and the connection's was credited on arrival.
    fn whole_request(&mut self, id: StreamId, data: &Bytes, end_stream: bool) -> bool {
        // From the back: a request's DATA follows its HEADERS closely.
        let Some((incoming, fresh)) = self.opening.iter_mut().rev().find(|(i, _)| i.id == id)
        else {
            return false;
        };
        if std::mem::take(fresh) && end_stream {
            if let Some(message) = whole_message(data) {
                incoming.message = Some(message);
                incoming.end_stream = true;
                return true;
            }
        }
        false
    }

    /// Client: a response whose headers (`headers`), one DATA frame with
    /// exactly one message, and trailers are the next events of the stream
    /// `id`, in this batch (the usual unary answer): the three as one
    /// `Reply` event, decoded here as the call would have (anything
    /// unusual, such as a head that does not decode, goes the usual way and
    /// is reported there), and the DATA and trailers events taken.
    fn whole_reply(&mut self, id: StreamId, headers: &[HeaderField]) -> Option<Reply> {
        if self.conn.role() != Role::Client {
            return None;
        }
        let reply = {
            let mut next = self.conn.peek_events();
            let (
                Some(Event::Data {
                    stream_id: data_id,
                    data,
                    end_stream: false,
                }),
                Some(Event::Trailers {
                    stream_id: trailers_id,
                    trailers,
                }),
            ) = (next.next(), next.next())
            else {
                return None;
            };
            if *data_id != id || *trailers_id != id {
                return None;
            }
            let message = whole_message(data)?;
            let Ok(ResponseStart::Headers(head)) = ResponseStart::decode(headers, false) else {
                return None;
            };
            let (status, trailers) = Trailers::decode(trailers).into_parts();
            Reply {
                head,
                message,
                status,
                trailers,
            }
        };
        self.conn.poll_event();
        self.conn.poll_event();
        Some(reply)
    }

    /// Starts the handlers of the streams opened in the last batch of
    /// events, unless they were reset in the meantime.
    fn start_calls(&mut self) {
        if self.opening.is_empty() {
            return;
        }
        let mut opening = std::mem::take(&mut self.opening);
        for (incoming, _) in opening.drain(..) {
            let id = incoming.id;
            let Some(on_stream) = self.on_stream.as_mut() else {
                break;
            };
            if !self.streams.contains_key(&id) {
                continue;
            }
            if let Err(reason) = on_stream(incoming) {
                self.streams.remove(&id);
                self.conn.reset_stream(id, reason);
            }
        }
        self.opening = opening;
    }

    fn handle_events(&mut self) {
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::StreamOpened {
                    stream_id,
                    headers,
                    end_stream,
                } => {
                    let (Some(_), Some(handle)) = (self.on_stream.as_ref(), self.handle.as_ref())
                    else {
                        self.conn.reset_stream(stream_id, Reason::REFUSED_STREAM);
                        continue;
                    };
                    let (tx, rx) = events::channel();
                    let (cancel_tx, cancel_rx) = oneshot::channel();
                    self.streams.insert(
                        stream_id,
                        StreamSlot {
                            events: tx,
                            cancel: Some(cancel_tx),
                        },
                    );
                    let incoming = Incoming {
                        id: stream_id,
                        start: RequestStart::Headers(headers),
                        end_stream,
                        message: None,
                        events: rx,
                        cancelled: cancel_rx,
                        handle: handle.clone(),
                    };
                    // Its handler starts once this batch of events is
                    // handled (`start_calls`), so a DATA frame with its
                    // whole request can join it first.
                    self.opening.push((incoming, !end_stream));
                }
                Event::Headers {
                    stream_id,
                    headers,
                    end_stream,
                } => {
                    if !end_stream {
                        if let Some(reply) = self.whole_reply(stream_id, &headers) {
                            self.deliver(stream_id, StreamEvent::Reply(Box::new(reply)), true);
                            continue;
                        }
                    }
                    self.deliver(
                        stream_id,
                        StreamEvent::Headers {
                            headers,
                            end_stream,
                        },
                        end_stream,
                    );
                }
                Event::Data {
                    stream_id,
                    data,
                    end_stream,
                } => {
                    if self.whole_request(stream_id, &data, end_stream) {
                        continue;
                    }
                    let len = data.len();
                    if !self.deliver(stream_id, StreamEvent::Data { data, end_stream }, false) {
                        // Nobody will read it: give the window back.
                        self.conn.release_capacity(stream_id, len);
                    }
                }
                Event::Trailers {
                    stream_id,
                    trailers,
                } => {
                    self.deliver(stream_id, StreamEvent::Trailers(trailers), true);
                }
                Event::Reset(error) => {
                    let id = error.stream_id;
                    self.writable.remove(&id);
                    if let Some(mut slot) = self.streams.remove(&id) {
                        if let Some(cancel) = slot.cancel.take() {
                            let _ = cancel.send(());
                        }
                        let _ = slot.events.send(StreamEvent::Reset(error));
                    }
                }
                Event::Writable { stream_id } => {
                    if let Some(ready) = self.writable.remove(&stream_id) {
                        let _ = ready.send(());
                    }
                }
                Event::GoAway { .. } | Event::StreamIdsExhausted => {
                    self.shared.draining.store(true, Ordering::Release);
                    for cmd in std::mem::take(&mut self.pending_opens) {
                        if let Command::Open { reply, events, .. } = cmd {
                            reply.send(&events, Err(OpenError::GoingAway));
                        }
                    }
                }
                Event::StreamsAvailable => {
                    for cmd in std::mem::take(&mut self.pending_opens) {
                        self.command(cmd);
                    }
                }
                Event::Closed(error) => {
                    self.shared.draining.store(true, Ordering::Release);
                    self.shared.closed.store(true, Ordering::Release);
                    for (_, mut slot) in self.streams.drain() {
                        if let Some(cancel) = slot.cancel.take() {
                            let _ = cancel.send(());
                        }
                        let _ = slot.events.send(StreamEvent::Closed(error.clone()));
                    }
                    self.writable.clear();
                    for cmd in std::mem::take(&mut self.pending_opens) {
                        if let Command::Open { reply, events, .. } = cmd {
                            reply.send(&events, Err(OpenError::Closed));
                        }
                    }
                }
                Event::PingAck { .. } | Event::SettingsChanged(_) => {}
                _ => {}
            }
        }
    }

    /// Hands an event to its stream; `last` removes the stream's slot once
    /// the peer has finished sending. False when nobody listens.
    fn deliver(&mut self, id: StreamId, event: StreamEvent, last: bool) -> bool {
        let ends = last
            || matches!(
                event,
                StreamEvent::Data {
                    end_stream: true,
                    ..
                }
            );
        let Some(slot) = self.streams.get(&id) else {
            return false;
        };
        let delivered = slot.events.send(event).is_ok();
        if ends {
            if self.conn.has_stream(id) && self.conn.role() == Role::Client {
                // The server answered before we finished sending: the call
                // is over, stop sending the rest.
                self.conn.reset_stream(id, Reason::CANCEL);
            }
            if !self.conn.has_stream(id) {
                self.streams.remove(&id);
            }
        }
        if !delivered {
            // The call is gone: stop the stream.
            self.conn.reset_stream(id, Reason::CANCEL);
            self.streams.remove(&id);
        }
        delivered
    }
}

/// One read: into `small` when given (an idle connection), else appended
/// to `inbuf`, at most `limit` bytes.
async fn read_some<R: AsyncRead + Unpin>(
    reader: &mut R,
    inbuf: &mut BytesMut,
    limit: usize,
    small: Option<&mut [u8; IDLE_READ]>,
) -> std::io::Result<usize> {
    match small {
        Some(small) => reader.read(small).await,
        None => reader.read_buf(&mut inbuf.limit(limit)).await,
    }
}

/// Writes as much of `out` as the socket takes in one vectored write.
async fn write_vectored<W: AsyncWrite + Unpin>(
    writer: &mut W,
    out: &OutBuf,
) -> std::io::Result<usize> {
    std::future::poll_fn(|cx| {
        let mut slices = [IoSlice::new(&[]); MAX_WRITE_SLICES];
        let n = out.chunks(&mut slices);
        Pin::new(&mut *writer).poll_write_vectored(cx, &slices[..n])
    })
    .await
}

/// A driver loop's one timer: a `Sleep` kept across turns, and the instant
/// it is armed for (`None`: not armed, not polled).
///
/// It is re-armed lazily. A wake-up wanted earlier than the armed one
/// re-arms it; a later one leaves it armed, so it fires early, the loop
/// finds nothing due and asks again (by then for a later instant, which
/// costs nothing more). A fresh `Sleep` each turn, or one moved to every
/// new deadline, registered a timer per call: the buffer-release deadline
/// moves with each call, and a timer earlier than the runtime's next
/// wake-up makes tokio wake its I/O driver (an eventfd write and one more
/// `epoll_wait` per unary call on the client).
pub(crate) struct Timer {
    sleep: Pin<Box<tokio::time::Sleep>>,
    armed: Option<Instant>,
}

impl Timer {
    /// A timer that is not armed. It allocates its `Sleep` once, here.
    pub(crate) fn new() -> Timer {
        // Never polled before it is armed, so this instant does not matter.
        let sleep = tokio::time::sleep_until(Instant::now());
        Timer {
            sleep: Box::pin(sleep),
            armed: None,
        }
    }

    /// Asks for a wake-up at `at` (`None`: none needed).
    pub(crate) fn want(&mut self, at: Option<Instant>) {
        match (at, self.armed) {
            (Some(at), Some(armed)) if armed <= at => {}
            (Some(at), _) => {
                self.sleep.as_mut().reset(at);
                self.armed = Some(at);
            }
            (None, _) => {}
        }
    }

    /// Whether [`fired`](Timer::fired) can complete.
    pub(crate) fn is_armed(&self) -> bool {
        self.armed.is_some()
    }

    /// Completes when the armed instant passes (possibly before what was
    /// last asked: check what is due); the timer is then unarmed.
    pub(crate) async fn fired(&mut self) {
        self.sleep.as_mut().await;
        self.armed = None;
    }
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timer").field("armed", &self.armed).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every idle connection keeps its driver's future: it must not grow
    /// back to the 4.3 KiB it had while `run` was an `async fn` holding the
    /// `Driver` twice.
    #[test]
    fn the_driver_future_holds_one_driver() {
        let (io, _peer) = tokio::io::duplex(64);
        let now = std::time::Instant::now();
        let conn = Connection::new(Role::Server, ferry_wire::conn::Config::default(), now);
        let (_tx, rx) = mpsc::unbounded_channel();
        let driver = Driver {
            conn,
            rx,
            handle: None,
            streams: IdMap::default(),
            writable: IdMap::default(),
            pending_opens: Vec::new(),
            finishing: Vec::new(),
            stop_receiving: Vec::new(),
            opening: Vec::new(),
            fields: Vec::new(),
            on_stream: None,
            shared: Arc::new(Shared::default()),
            age: None,
        };
        let driver_size = std::mem::size_of::<Driver>();
        let future = driver.run(io);
        let size = std::mem::size_of_val(&future);
        assert!(
            size < 2 * driver_size,
            "driver future {size} bytes, driver {driver_size} bytes"
        );
        assert!(size <= 3 * 1024, "driver future {size} bytes");
    }
}
