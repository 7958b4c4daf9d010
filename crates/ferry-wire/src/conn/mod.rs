//! The HTTP/2 connection state machine, shared by the client and server
//! roles, in the style of `quinn-proto`: no I/O, no clock, no tasks.
//!
//! # Driving a connection
//!
//! The runtime owns the socket and calls, in a loop:
//!
//! 1. [`Connection::handle_input`] with every chunk read from the socket (or
//!    [`Connection::prepare_read`], a read into
//!    [`Connection::recv_buffer`] and [`Connection::handle_received`], which
//!    saves the copy), and [`Connection::handle_eof`] when the socket ends,
//!    while [`Connection::wants_read`] says so;
//! 2. [`Connection::handle_timeout`] once the instant from
//!    [`Connection::poll_timeout`] has passed;
//! 3. the application's calls: [`Connection::open_stream`],
//!    [`Connection::send_headers`], [`Connection::send_data`],
//!    [`Connection::send_trailers`], [`Connection::reset_stream`],
//!    [`Connection::release_capacity`], [`Connection::expect_message`],
//!    [`Connection::send_ping`], [`Connection::shutdown`],
//!    [`Connection::close`];
//! 4. [`Connection::poll_event`] until it returns `None`, handing each event
//!    to the stream it names;
//! 5. [`Connection::poll_transmit`] until it writes nothing, writing what it
//!    produced to the socket in as few writes as possible;
//! 6. waits for the socket, the next deadline or an application command.
//!
//! Every method takes the current time where time matters; none reads it.
//!
//! # What it enforces
//!
//! The client preface, the SETTINGS exchange (and its ACK timeout), stream
//! states (see the diagram in `state.rs`), stream id rules, the concurrency
//! limit, two-level flow control with batched WINDOW_UPDATEs and windows
//! grown from a bandwidth-delay estimate, CONTINUATION assembly, HPACK with
//! header-list limits, GOAWAY (two-step graceful shutdown on the server),
//! keepalive and idle timers, and the flood limits of [`FloodLimits`]. Errors
//! carry their RFC 9113 code and scope: a stream error resets one stream
//! (RST_STREAM, [`Event::Reset`]); a connection error sends GOAWAY and ends
//! everything ([`Event::Closed`]).

mod bdp;
mod config;
mod event;
mod flow_control;
mod limits;
mod out_buf;
mod recv;
mod send;
mod state;
mod validate;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::frame::{self, Frame, Settings};
use crate::hpack;
use crate::{ConnectionError, HeaderField, Initiator, Reason, StreamError, StreamId};

pub use config::{Config, FloodLimits, Keepalive, PingPolicy, Rate, SMALL_WINDOW_UPDATE};
pub use event::{Event, OpenError, SendError};
pub use out_buf::{DEFAULT_MIN_BY_REFERENCE, OutBuf};

use bdp::Bdp;
use flow_control::{RecvWindow, SendWindow};
use limits::Bucket;
use state::State;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// When fewer than this many client stream ids are left, the connection
/// sends [`Event::StreamIdsExhausted`] so the runtime can open a new
/// connection before calls have to wait for one.
pub const STREAM_ID_RESERVE: u32 = 1_000;

/// The RFC's initial window size, before any SETTINGS (RFC 9113 §6.9.2).
const DEFAULT_WINDOW: u32 = 65_535;
/// The RFC's initial header table size.
const DEFAULT_TABLE_SIZE: u32 = 4_096;
/// Read buffers kept for reuse besides the one being filled: a runtime may
/// read a few large frames before the application takes their messages.
const MAX_SPARE_BUFFERS: usize = 3;
const SHUTDOWN_PING: [u8; 8] = *b"ferrybye";
const KEEPALIVE_PING: [u8; 8] = *b"ferryka!";

/// Which end of the connection this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sends the preface, opens odd-numbered streams.
    Client,
    /// Expects the preface, accepts streams.
    Server,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Server: this many preface bytes matched so far.
    Preface(usize),
    /// The peer's first frame must be SETTINGS.
    FirstSettings,
    Open,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shutdown {
    None,
    /// Server step one: GOAWAY(2^31-1) and a PING are out; the final GOAWAY
    /// follows the PING's ACK (or this deadline), so streams the client sent
    /// before it saw the first GOAWAY are still accepted.
    AwaitPing(Instant),
    /// The final GOAWAY is out: the connection ends when the last stream does.
    Draining,
}

type StreamMap = crate::IdMap<StreamId, Stream>;

/// What we know of the peer's SETTINGS (RFC defaults until it says more).
#[derive(Clone, Copy, Debug)]
struct Remote {
    header_table_size: u32,
    max_concurrent_streams: u32,
    initial_window: u32,
    max_frame_size: u32,
    max_header_list_size: u32,
}

/// One item waiting in a stream's send queue.
#[derive(Debug)]
enum Outgoing {
    /// `joined`: the next item continues these bytes (pieces of one
    /// message), so they share a DATA frame wherever window and frame size
    /// allow.
    Data {
        data: Bytes,
        end_stream: bool,
        joined: bool,
    },
    Trailers(Vec<HeaderField>),
}

#[derive(Debug)]
struct Stream {
    state: State,
    /// We opened it.
    local: bool,
    send: SendWindow,
    recv: RecvWindow,
    queue: VecDeque<Outgoing>,
    queued_bytes: usize,
    /// END_STREAM is queued (no more sends accepted).
    end_queued: bool,
    headers_sent: bool,
    /// The final (non-1xx) request or response headers arrived.
    headers_received: bool,
    in_ready: bool,
    /// The application filled the send buffer and waits for `Writable`.
    writer_waiting: bool,
    /// Bytes of body still announced by `content-length`.
    content_left: Option<u64>,
    /// How far `expect_message` raised this stream's window past its
    /// target (it raises the connection's by as much).
    boost_extra: u32,
}

/// A header block arriving in HEADERS + CONTINUATION frames.
#[derive(Debug)]
struct PartialBlock {
    stream_id: StreamId,
    block: BytesMut,
    end_stream: bool,
    continuations: usize,
    /// Reset the stream once the block is decoded (see `recv_headers`).
    malformed: Option<&'static str>,
}

#[derive(Debug)]
struct Buckets {
    remote_resets: Bucket,
    local_resets: Bucket,
    pings: Bucket,
    settings: Bucket,
    empty_frames: Bucket,
    small_window_updates: Bucket,
}

/// One HTTP/2 connection, either role. See the [module docs](self) for the
/// order in which a runtime drives it.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    phase: Phase,
    closed: bool,

    inbuf: BytesMut,
    /// Earlier read buffers (empty), kept for their allocations: see
    /// `prepare_read`. At most [`MAX_SPARE_BUFFERS`].
    spares: Vec<BytesMut>,
    /// The length of the last frame parsed when it was larger than a
    /// default-size frame (else 0): the next read takes only the next
    /// header, into room for a frame as large (see `prepare_read`).
    last_large_frame: usize,
    partial: Option<PartialBlock>,
    decoded: Vec<HeaderField>,

    control: BytesMut,
    pending_control: usize,
    block_buf: BytesMut,
    events: VecDeque<Event>,

    encoder: hpack::Encoder,
    decoder: hpack::Decoder,

    remote: Remote,
    /// Our SETTINGS_INITIAL_WINDOW_SIZE (grows with the BDP estimate).
    local_initial_window: u32,
    settings_ack_deadline: Option<Instant>,
    first_settings_acked: bool,
    handshake_deadline: Option<Instant>,

    streams: StreamMap,
    ready: VecDeque<StreamId>,
    next_local_id: Option<StreamId>,
    ids_low_reported: bool,
    last_remote_id: StreamId,
    local_open: u32,
    remote_open: u32,
    waiting_for_capacity: bool,

    conn_send: SendWindow,
    conn_recv: RecvWindow,
    conn_boost_extra: u64,
    bdp: Option<Bdp>,

    goaway_sent: Option<StreamId>,
    goaway_received: Option<(StreamId, Reason)>,
    shutdown: Shutdown,
    shutdown_initiator: Initiator,

    last_recv: Instant,
    keepalive_deadline: Option<Instant>,
    /// When the peer last sent a PING, and how many broke the ping policy.
    last_ping_recv: Option<Instant>,
    ping_strikes: u32,
    idle_since: Option<Instant>,
    /// `idle_since` was set from a clock that may be stale (see
    /// `remove_stream`).
    idle_restart: bool,
    /// The latest time the runtime has passed in (input, timers, output):
    /// when a stream ends without an input of its own (our trailers were
    /// written), the connection is idle from then.
    clock: Instant,

    buckets: Buckets,
}

impl Connection {
    /// A new connection. The client preface (client role) and our SETTINGS
    /// are queued at once: call [`Connection::poll_transmit`] to send them.
    pub fn new(role: Role, config: Config, now: Instant) -> Connection {
        let limits = &config.limits;
        let buckets = Buckets {
            remote_resets: Bucket::new(limits.remote_resets),
            local_resets: Bucket::new(limits.local_resets),
            pings: Bucket::new(limits.pings),
            settings: Bucket::new(limits.settings),
            empty_frames: Bucket::new(limits.empty_frames),
            small_window_updates: Bucket::new(limits.small_window_updates),
        };
        // Until the peer acknowledges our SETTINGS it may still use the RFC's
        // 4 KiB table, so the decoder allows that much at first.
        let mut decoder =
            hpack::Decoder::new(config.header_table_size.max(DEFAULT_TABLE_SIZE) as usize);
        decoder.set_limits(
            config.max_header_list_size as usize,
            config.max_header_fields,
        );
        let bdp = config.adaptive_window.then(|| {
            Bdp::new(
                config.initial_stream_window,
                config.max_window.min(flow_control::MAX_WINDOW as u32),
            )
        });
        let mut conn = Connection {
            role,
            phase: match role {
                Role::Server => Phase::Preface(0),
                Role::Client => Phase::FirstSettings,
            },
            closed: false,
            // Buffers start empty: the runtime sizes its reads, and an idle
            // connection should cost as little as possible.
            inbuf: BytesMut::new(),
            spares: Vec::new(),
            last_large_frame: 0,
            partial: None,
            decoded: Vec::new(),
            control: BytesMut::new(),
            pending_control: 0,
            block_buf: BytesMut::new(),
            events: VecDeque::new(),
            encoder: hpack::Encoder::new(),
            decoder,
            remote: Remote {
                header_table_size: DEFAULT_TABLE_SIZE,
                max_concurrent_streams: u32::MAX,
                initial_window: DEFAULT_WINDOW,
                max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
                max_header_list_size: u32::MAX,
            },
            local_initial_window: config.initial_stream_window,
            settings_ack_deadline: Some(now + config.settings_timeout),
            first_settings_acked: false,
            handshake_deadline: Some(now + config.handshake_timeout),
            streams: StreamMap::default(),
            ready: VecDeque::new(),
            next_local_id: Some(match role {
                Role::Client => StreamId::new(1),
                Role::Server => StreamId::new(2),
            }),
            ids_low_reported: false,
            last_remote_id: StreamId::ZERO,
            local_open: 0,
            remote_open: 0,
            waiting_for_capacity: false,
            conn_send: SendWindow::new(DEFAULT_WINDOW),
            conn_recv: RecvWindow::new(DEFAULT_WINDOW),
            conn_boost_extra: 0,
            bdp,
            goaway_sent: None,
            goaway_received: None,
            shutdown: Shutdown::None,
            shutdown_initiator: Initiator::User,
            last_recv: now,
            keepalive_deadline: None,
            last_ping_recv: None,
            ping_strikes: 0,
            idle_since: Some(now),
            idle_restart: false,
            clock: now,
            buckets,
            config,
        };
        if role == Role::Client {
            conn.control.extend_from_slice(PREFACE);
        }
        let settings = Settings {
            header_table_size: (conn.config.header_table_size != DEFAULT_TABLE_SIZE)
                .then_some(conn.config.header_table_size),
            enable_push: Some(false),
            max_concurrent_streams: Some(conn.config.max_concurrent_streams),
            initial_window_size: (conn.config.initial_stream_window != DEFAULT_WINDOW)
                .then_some(conn.config.initial_stream_window),
            max_frame_size: (conn.config.max_frame_size != frame::DEFAULT_MAX_FRAME_SIZE)
                .then_some(conn.config.max_frame_size),
            max_header_list_size: Some(conn.config.max_header_list_size),
            ..Settings::default()
        };
        conn.queue_control(Frame::Settings(settings));
        let conn_window = conn.config.initial_connection_window.max(DEFAULT_WINDOW);
        if let Some(increment) = conn.conn_recv.set_target(conn_window) {
            conn.queue_window_update(StreamId::ZERO, increment);
        }
        conn
    }

    /// Which role this connection plays.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The next event, if any. Drain them after every input and timeout.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The events [`poll_event`](Connection::poll_event) would return
    /// next, in order, left in place (for a runtime that handles a few
    /// events together, such as a response's headers, its one DATA frame
    /// and its trailers).
    pub fn peek_events(&self) -> impl Iterator<Item = &Event> {
        self.events.iter()
    }

    /// True while the runtime should read from the socket: the connection is
    /// not closed and fewer than [`Config::max_pending_control_frames`]
    /// control frames wait to be written (a peer that does not read our
    /// ACKs cannot make us queue them without bound).
    pub fn wants_read(&self) -> bool {
        !self.closed && self.pending_control < self.config.max_pending_control_frames
    }

    /// True once [`Event::Closed`] has been queued.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Streams open in either direction.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// We are sending HEADERS or DATA: the peer's pings (bandwidth probes,
    /// keepalives while calls run) are fair, so the flood bucket refills and
    /// ping-policy strikes are forgiven.
    fn peer_pings_justified(&mut self) {
        self.buckets.pings.fill();
        self.ping_strikes = 0;
    }

    /// Client: as many streams are open as the peer allows;
    /// [`open_stream`](Connection::open_stream) would answer
    /// [`OpenError::AtCapacity`].
    pub fn at_stream_capacity(&self) -> bool {
        self.local_open >= self.remote.max_concurrent_streams
    }

    /// True while the connection still tracks the stream (it is removed
    /// once both sides have ended it, or it was reset).
    pub fn has_stream(&self, stream_id: StreamId) -> bool {
        self.streams.contains_key(&stream_id)
    }

    /// For a known stream, whether our END_STREAM has been written (HEADERS
    /// or DATA with END_STREAM, or trailers, taken by `poll_transmit`).
    pub fn send_finished(&self, stream_id: StreamId) -> Option<bool> {
        self.streams.get(&stream_id).map(|s| !s.state.can_send())
    }

    /// Bytes this connection holds in its own buffers: unparsed input, a
    /// header block being assembled, queued control frames and header
    /// blocks, and data queued on streams. Received data handed out in
    /// events is the application's and is not counted. The defences keep
    /// this bounded whatever the peer sends; it is also a metric.
    pub fn buffered_bytes(&self) -> usize {
        self.inbuf.len()
            + self.partial.as_ref().map_or(0, |p| p.block.len())
            + self.control.len()
            + self.streams.values().map(|s| s.queued_bytes).sum::<usize>()
    }

    /// Frees the memory of every buffer that holds nothing: unparsed
    /// input, queued control frames, the header-block and header-list
    /// scratch buffers, the event and send queues, the HPACK encoder's
    /// memory of recent blocks, and the stream table once no stream is
    /// left. The HPACK tables stay (they are the connection's state).
    /// Buffers in use are kept, so this is safe to call at any time; a
    /// runtime calls it when a connection goes quiet, so an idle connection
    /// holds almost nothing, and the next frames allocate again.
    pub fn release_buffers(&mut self) {
        if self.inbuf.is_empty() {
            self.inbuf = BytesMut::new();
        }
        self.spares = Vec::new();
        if self.control.is_empty() {
            self.control = BytesMut::new();
        }
        self.block_buf = BytesMut::new();
        self.encoder.release_buffers();
        if self.decoded.is_empty() {
            self.decoded = Vec::new();
        }
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        if self.ready.is_empty() {
            self.ready = VecDeque::new();
        }
        if self.streams.is_empty() {
            self.streams = StreamMap::default();
        }
    }

    /// Bytes of memory the connection's own buffers and tables keep
    /// allocated (capacities, not contents; HPACK tables excluded), for
    /// tests and diagnostics.
    pub fn buffer_capacity(&self) -> usize {
        self.inbuf.capacity()
            + self.spares.iter().map(BytesMut::capacity).sum::<usize>()
            + self.control.capacity()
            + self.block_buf.capacity()
            + self.decoded.capacity() * std::mem::size_of::<HeaderField>()
            + self.events.capacity() * std::mem::size_of::<Event>()
            + self.ready.capacity() * std::mem::size_of::<StreamId>()
            + self.streams.capacity() * std::mem::size_of::<(StreamId, Stream)>()
    }

    /// The stream ids still usable by this side, for diagnostics.
    pub fn next_stream_id(&self) -> Option<StreamId> {
        self.next_local_id
    }

    /// Bytes the application may still queue on a stream before it stops
    /// being writable; `None` for an unknown stream.
    pub fn send_capacity(&self, stream_id: StreamId) -> Option<usize> {
        self.streams.get(&stream_id).map(|s| {
            self.config
                .stream_send_buffer
                .saturating_sub(s.queued_bytes)
        })
    }

    /// The earliest instant at which [`Connection::handle_timeout`] has
    /// work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let keepalive = self
            .config
            .keepalive
            .and_then(|k| match self.keepalive_deadline {
                Some(deadline) => Some(deadline),
                None if k.while_idle || !self.streams.is_empty() => {
                    Some(self.last_recv + k.interval)
                }
                None => None,
            });
        let idle = match (self.config.idle_timeout, self.idle_since) {
            (Some(t), Some(since)) if self.shutdown == Shutdown::None => Some(since + t),
            _ => None,
        };
        let shutdown = match self.shutdown {
            Shutdown::AwaitPing(deadline) => Some(deadline),
            _ => None,
        };
        [
            self.handshake_deadline,
            self.settings_ack_deadline,
            keepalive,
            idle,
            shutdown,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Moves the clock to `now` (it never goes back), restarting the idle
    /// clock if the last stream ended since it last moved.
    pub(super) fn tick(&mut self, now: Instant) {
        self.clock = self.clock.max(now);
        if std::mem::take(&mut self.idle_restart) && self.idle_since.is_some() {
            self.idle_since = Some(self.clock);
        }
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        if self.closed {
            return;
        }
        if self.handshake_deadline.is_some_and(|d| d <= now) {
            return self.fail(ConnectionError::library(
                Reason::SETTINGS_TIMEOUT,
                "peer sent no preface and SETTINGS in time",
            ));
        }
        if self.settings_ack_deadline.is_some_and(|d| d <= now) {
            return self.fail(ConnectionError::library(
                Reason::SETTINGS_TIMEOUT,
                "SETTINGS not acknowledged in time",
            ));
        }
        if let Some(k) = self.config.keepalive {
            match self.keepalive_deadline {
                Some(deadline) if deadline <= now => {
                    return self.fail(ConnectionError::library(
                        Reason::NO_ERROR,
                        "keepalive timeout: the peer did not answer a PING",
                    ));
                }
                Some(_) => {}
                None if (k.while_idle || !self.streams.is_empty())
                    && self.last_recv + k.interval <= now =>
                {
                    self.queue_control(Frame::Ping(frame::Ping {
                        ack: false,
                        payload: KEEPALIVE_PING,
                    }));
                    self.keepalive_deadline = Some(now + k.timeout);
                }
                None => {}
            }
        }
        if let (Some(t), Some(since)) = (self.config.idle_timeout, self.idle_since) {
            if self.shutdown == Shutdown::None && since + t <= now {
                self.start_shutdown(now, Initiator::Library);
            }
        }
        if let Shutdown::AwaitPing(deadline) = self.shutdown {
            if deadline <= now {
                self.final_goaway();
            }
        }
    }

    /// Starts a graceful shutdown: no new streams; open ones finish. A
    /// server sends GOAWAY(2^31-1) and a PING, then the GOAWAY with the real
    /// last stream id once the PING returns; a client sends one GOAWAY.
    /// [`Event::Closed`] follows when the last stream ends.
    pub fn shutdown(&mut self, now: Instant) {
        self.start_shutdown(now, Initiator::User);
    }

    /// Closes at once with GOAWAY carrying `reason` and `debug` text. Open
    /// streams end with the connection.
    pub fn close(&mut self, reason: Reason, debug: &str) {
        self.fail(ConnectionError {
            reason,
            initiator: Initiator::User,
            detail: debug.to_owned().into(),
        });
    }

    /// The socket reached end of file (or failed): the connection ends.
    pub fn handle_eof(&mut self) {
        if self.closed {
            return;
        }
        let reason = match self.goaway_received {
            Some((_, reason)) => reason,
            None if self.streams.is_empty() => Reason::NO_ERROR,
            None => Reason::INTERNAL_ERROR,
        };
        self.closed = true;
        self.finish(ConnectionError {
            reason,
            initiator: Initiator::Remote,
            detail: "connection closed by peer".into(),
        });
    }

    fn start_shutdown(&mut self, now: Instant, initiator: Initiator) {
        if self.closed || self.shutdown != Shutdown::None {
            return;
        }
        self.shutdown_initiator = initiator;
        match self.role {
            Role::Server => {
                self.queue_control(Frame::GoAway(frame::GoAway {
                    last_stream_id: StreamId::MAX,
                    reason: Reason::NO_ERROR,
                    debug_data: Bytes::new(),
                }));
                self.goaway_sent = Some(StreamId::MAX);
                self.queue_control(Frame::Ping(frame::Ping {
                    ack: false,
                    payload: SHUTDOWN_PING,
                }));
                self.shutdown = Shutdown::AwaitPing(now + self.config.shutdown_ping_timeout);
            }
            Role::Client => self.final_goaway(),
        }
    }

    fn final_goaway(&mut self) {
        let last = self.last_remote_id;
        self.queue_control(Frame::GoAway(frame::GoAway {
            last_stream_id: last,
            reason: Reason::NO_ERROR,
            debug_data: Bytes::new(),
        }));
        self.goaway_sent = Some(last);
        self.shutdown = Shutdown::Draining;
        self.check_drained();
    }

    /// Ends the connection after a graceful GOAWAY (either side's) once no
    /// stream is left.
    fn check_drained(&mut self) {
        if self.closed || !self.streams.is_empty() {
            return;
        }
        let error = if let Some((_, reason)) = self.goaway_received {
            ConnectionError {
                reason,
                initiator: Initiator::Remote,
                detail: "peer sent GOAWAY".into(),
            }
        } else if self.shutdown == Shutdown::Draining {
            ConnectionError {
                reason: Reason::NO_ERROR,
                initiator: self.shutdown_initiator,
                detail: "graceful shutdown complete".into(),
            }
        } else {
            return;
        };
        self.closed = true;
        self.finish(error);
    }

    /// A connection error: GOAWAY with the error, then [`Event::Closed`].
    fn fail(&mut self, error: ConnectionError) {
        if self.closed {
            return;
        }
        self.closed = true;
        let last = self.last_remote_id;
        self.queue_control(Frame::GoAway(frame::GoAway {
            last_stream_id: last,
            reason: error.reason,
            debug_data: Bytes::copy_from_slice(error.detail.as_bytes()),
        }));
        self.goaway_sent = Some(last);
        self.finish(error);
    }

    fn finish(&mut self, error: ConnectionError) {
        self.streams.clear();
        self.ready.clear();
        self.partial = None;
        self.inbuf = BytesMut::new();
        self.spares = Vec::new();
        self.events.push_back(Event::Closed(error));
    }

    /// A stream error: RST_STREAM, and [`Event::Reset`] if the application
    /// knew the stream.
    fn stream_error(&mut self, error: StreamError, now: Instant) {
        if error.initiator == Initiator::Remote && !self.buckets.local_resets.take(now) {
            return self.fail(ConnectionError::library(
                Reason::ENHANCE_YOUR_CALM,
                "peer provoked too many stream resets",
            ));
        }
        self.queue_control(Frame::RstStream(frame::RstStream {
            stream_id: error.stream_id,
            reason: error.reason,
        }));
        if self.remove_stream(error.stream_id).is_some() {
            self.events.push_back(Event::Reset(error));
        }
    }

    fn queue_control(&mut self, frame: Frame) {
        frame.encode(&mut self.control);
        self.pending_control += 1;
        if self.pending_control > self.config.max_pending_control_frames.saturating_mul(4)
            && !self.closed
        {
            self.fail(ConnectionError::library(
                Reason::ENHANCE_YOUR_CALM,
                "peer does not read: too many control frames queued",
            ));
        }
    }

    fn queue_window_update(&mut self, stream_id: StreamId, increment: u32) {
        self.queue_control(Frame::WindowUpdate(frame::WindowUpdate {
            stream_id,
            increment,
        }));
    }

    /// Removes a stream and gives back what it held: its place under the
    /// concurrency limit and the connection window boost of the message it
    /// expected (its data's connection window was credited on arrival).
    fn remove_stream(&mut self, stream_id: StreamId) -> Option<Stream> {
        let stream = self.streams.remove(&stream_id)?;
        if stream.local {
            self.local_open -= 1;
            if self.waiting_for_capacity {
                self.waiting_for_capacity = false;
                self.events.push_back(Event::StreamsAvailable);
            }
        } else {
            self.remote_open -= 1;
        }
        self.conn_boost_extra -= u64::from(stream.boost_extra);
        let boost = self.conn_boost_target();
        if let Some(increment) = self.conn_recv.set_boost(boost, false) {
            self.queue_window_update(StreamId::ZERO, increment);
        }
        if self.streams.is_empty() {
            // `clock` is as old as the last input or transmit, and the
            // application may end a stream long after that (a handler that
            // ran for seconds): the next call that passes the time in
            // (`tick`: input, timers, transmit) restarts the idle clock.
            self.idle_since = Some(self.clock);
            self.idle_restart = true;
        }
        self.check_drained();
        Some(stream)
    }

    fn conn_boost_target(&self) -> u32 {
        let extra = u32::try_from(self.conn_boost_extra).unwrap_or(u32::MAX);
        if extra == 0 {
            0
        } else {
            self.conn_recv.target().saturating_add(extra)
        }
    }

    /// Removes a stream that has finished in both directions.
    fn remove_if_closed(&mut self, stream_id: StreamId) {
        if self
            .streams
            .get(&stream_id)
            .is_some_and(|s| s.state == State::Closed && s.queue.is_empty())
        {
            self.remove_stream(stream_id);
        }
    }

    /// True for a stream id that no one has opened yet (RFC 9113 §5.1).
    fn is_idle(&self, id: StreamId) -> bool {
        if self.is_local_parity(id) {
            self.next_local_id.is_some_and(|next| id >= next)
        } else {
            id > self.last_remote_id
        }
    }

    /// True for ids of our own parity (the ones this side opens).
    fn is_local_parity(&self, id: StreamId) -> bool {
        match self.role {
            Role::Client => id.is_client_initiated(),
            Role::Server => id.is_server_initiated(),
        }
    }

    fn remote_settings(&self) -> Settings {
        Settings {
            header_table_size: Some(self.remote.header_table_size),
            max_concurrent_streams: Some(self.remote.max_concurrent_streams),
            initial_window_size: Some(self.remote.initial_window),
            max_frame_size: Some(self.remote.max_frame_size),
            max_header_list_size: Some(self.remote.max_header_list_size),
            ..Settings::default()
        }
    }
}

/// Encodes a header block and writes it as HEADERS plus as many
/// CONTINUATION frames as the peer's SETTINGS_MAX_FRAME_SIZE requires.
fn write_headers(
    encoder: &mut hpack::Encoder,
    block_buf: &mut BytesMut,
    max_frame_size: u32,
    stream_id: StreamId,
    fields: &[HeaderField],
    end_stream: bool,
    out: &mut BytesMut,
) {
    block_buf.clear();
    encoder.encode(fields, block_buf);
    frame::encode_header_block(stream_id, block_buf, end_stream, max_frame_size, out);
}

#[cfg(test)]
mod tests;
