//! The receive side: bytes from the socket become frames, frames become
//! state changes and events.

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::config::SMALL_WINDOW_UPDATE;
use super::validate::{self, Section};
use super::{Connection, Event, PREFACE, PartialBlock, Phase, Role, Shutdown, State, Stream};
use super::{
    KEEPALIVE_PING, SHUTDOWN_PING, bdp::BDP_PING, flow_control::RecvWindow,
    flow_control::SendWindow,
};
use crate::frame::{self, Frame, FrameError, FrameHeader, HEADER_LEN};
use crate::{ConnectionError, Error, Initiator, Reason, StreamError, StreamId};

type Result<T = ()> = std::result::Result<T, Error>;

/// Input a connection buffers while reading is paused (see
/// [`Connection::wants_read`]), beyond one frame of the largest size we
/// accept. A runtime that pauses holds at most one read beyond the pause;
/// one that keeps feeding bytes past this is not pausing.
const MAX_PAUSED_INPUT: usize = 1 << 20;

/// The largest frame other than DATA and header blocks we accept: the RFC's
/// initial SETTINGS_MAX_FRAME_SIZE. A larger
/// [`Config::max_frame_size`](super::Config::max_frame_size) is there for
/// DATA; no other frame needs it, and refusing one from its header means a
/// peer cannot make us buffer a frame we would only throw away.
const MAX_CONTROL_FRAME: u32 = frame::DEFAULT_MAX_FRAME_SIZE;

/// A read of at least this much room goes ahead without making more: a
/// whole frame of the RFC's default size and its header.
const MIN_READ_ROOM: usize = frame::DEFAULT_MAX_FRAME_SIZE as usize + HEADER_LEN;

fn conn_err(reason: Reason, detail: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::Connection(ConnectionError::remote(reason, detail))
}

fn stream_err(
    id: StreamId,
    reason: Reason,
    detail: impl Into<std::borrow::Cow<'static, str>>,
) -> Error {
    Error::Stream(StreamError::remote(id, reason, detail))
}

fn calm(detail: &'static str) -> Error {
    Error::Connection(ConnectionError::library(Reason::ENHANCE_YOUR_CALM, detail))
}

/// Room a server's decoded request header list starts with.
const REQUEST_FIELDS: usize = 12;

impl Connection {
    /// Feeds bytes read from the socket. Complete frames are processed at
    /// once; a partial frame waits for the rest. Errors surface as events.
    ///
    /// This copies `data` into the connection's input buffer; a runtime that
    /// reads straight into [`recv_buffer`](Connection::recv_buffer) and then
    /// calls [`handle_received`](Connection::handle_received) saves that copy.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        if self.closed {
            return;
        }
        self.inbuf.extend_from_slice(data);
        self.handle_received(now);
    }

    /// The buffer socket bytes are read into, for
    /// [`handle_received`](Connection::handle_received). Append only (a
    /// read's `read_buf`); whatever it holds is input not yet processed.
    /// Frames are sliced out of it without copying, so the payloads the
    /// events carry share its allocations.
    pub fn recv_buffer(&mut self) -> &mut BytesMut {
        &mut self.inbuf
    }

    /// Makes room in [`recv_buffer`](Connection::recv_buffer) for the next
    /// socket read and returns how many bytes that read should take at most.
    ///
    /// Room is at least `chunk` bytes, and always the whole rest of a frame
    /// whose header has arrived, so every frame ends up in one contiguous
    /// buffer and its payload (and a message inside it) is handed up as a
    /// slice, never reassembled. A frame larger than `chunk` is read to its
    /// last byte and no further, and after it only the next frame's header,
    /// so the next large frame is read straight into its place instead of
    /// being moved there. Frames are limited by
    /// [`Config::max_frame_size`](super::Config::max_frame_size), and a
    /// DATA frame longer than the connection window is refused from its
    /// header, so the room made is never more than the peer may send.
    ///
    /// Buffers are reused: the payloads handed up share the buffer's
    /// allocation, and once the application has dropped them the
    /// allocation is taken back instead of a new one being made. Up to
    /// four are kept, so one can fill while the application still holds
    /// the messages of the others (a runtime that reads several frames
    /// before the application runs).
    pub fn prepare_read(&mut self, chunk: usize) -> usize {
        let have = self.inbuf.len();
        let frame_len = self.buffered_frame_len();
        let need = frame_len.map_or(0, |total| total.saturating_sub(have));
        let large = chunk.max(MIN_READ_ROOM);
        // How much this read may take: the rest of a large frame; the next
        // header after one; otherwise as much as there is room for.
        let header_only = frame_len.is_none() && self.last_large_frame > 0;
        let limit = match frame_len {
            Some(total) if total > large && need > 0 => need,
            None if header_only => HEADER_LEN - have,
            _ => usize::MAX,
        };
        let room = self.inbuf.capacity() - have;
        if room >= need.max(MIN_READ_ROOM.min(limit)) {
            return limit.min(room);
        }
        // After a large frame, room for another as large, so the one that
        // most likely follows needs no second buffer.
        let want = if header_only {
            chunk.max(self.last_large_frame)
        } else {
            need.max(chunk)
        };
        if !self.inbuf.try_reclaim(want) {
            let reusable = self
                .spares
                .iter_mut()
                .position(|spare| spare.try_reclaim(have + want));
            let mut next = match reusable {
                Some(i) => self.spares.swap_remove(i),
                None => BytesMut::with_capacity(have + want),
            };
            next.extend_from_slice(&self.inbuf);
            let mut previous = std::mem::replace(&mut self.inbuf, next);
            // Kept for its allocation, which comes free once the payloads
            // sliced from it are dropped.
            previous.clear();
            if self.spares.len() == super::MAX_SPARE_BUFFERS {
                self.spares.remove(0);
            }
            self.spares.push(previous);
        }
        limit.min(self.inbuf.capacity() - have)
    }

    /// The total length (header included) of the frame at the head of the
    /// input, once its header has arrived and only if its length passes the
    /// checks made from the header: input left unparsed while reading was
    /// paused has not been checked yet, and no room is made for a frame
    /// that will be refused.
    fn buffered_frame_len(&self) -> Option<usize> {
        if self.inbuf.len() < HEADER_LEN {
            return None;
        }
        let mut raw = [0u8; HEADER_LEN];
        raw.copy_from_slice(&self.inbuf[..HEADER_LEN]);
        let head = FrameHeader::decode(&raw);
        if head.length > self.config.max_frame_size || self.check_frame_len(&head).is_err() {
            return None;
        }
        Some(HEADER_LEN + head.length as usize)
    }

    /// Processes what was appended to [`recv_buffer`](Connection::recv_buffer),
    /// exactly as [`handle_input`](Connection::handle_input) does for a slice.
    pub fn handle_received(&mut self, now: Instant) {
        self.tick(now);
        if self.closed {
            self.inbuf.clear();
            return;
        }
        if let Phase::Preface(matched) = self.phase {
            let take = (PREFACE.len() - matched).min(self.inbuf.len());
            if self.inbuf[..take] != PREFACE[matched..matched + take] {
                return self.fail(ConnectionError::remote(
                    Reason::PROTOCOL_ERROR,
                    "invalid connection preface",
                ));
            }
            let _ = self.inbuf.split_to(take);
            self.phase = if matched + take == PREFACE.len() {
                Phase::FirstSettings
            } else {
                Phase::Preface(matched + take)
            };
            if self.inbuf.is_empty() {
                return;
            }
        }
        if self.inbuf.len() > MAX_PAUSED_INPUT + self.config.max_frame_size as usize
            && !self.wants_read()
        {
            // The runtime kept reading although we asked it to pause.
            return self.fail(ConnectionError::library(
                Reason::ENHANCE_YOUR_CALM,
                "peer does not read: too many control frames queued",
            ));
        }
        self.process_input(now);
    }

    /// Parses and handles the complete frames buffered, until the input
    /// runs out or too many replies wait to be written: the rest stays
    /// buffered until `poll_transmit` has taken them.
    pub(super) fn process_input(&mut self, now: Instant) {
        while !self.closed && self.wants_read() && self.inbuf.len() >= HEADER_LEN {
            let mut raw = [0u8; HEADER_LEN];
            raw.copy_from_slice(&self.inbuf[..HEADER_LEN]);
            let head = FrameHeader::decode(&raw);
            if head.length > self.config.max_frame_size {
                return self.fail(ConnectionError::remote(
                    Reason::FRAME_SIZE_ERROR,
                    format!(
                        "frame of {} bytes exceeds SETTINGS_MAX_FRAME_SIZE {}",
                        head.length, self.config.max_frame_size
                    ),
                ));
            }
            if let Err(e) = self.check_frame_len(&head) {
                return self.fail(e);
            }
            let total = HEADER_LEN + head.length as usize;
            if self.inbuf.len() < total {
                // The rest arrives with the next read; the runtime makes
                // room for it (reserving here too would reallocate twice).
                break;
            }
            self.last_large_frame = if total > MIN_READ_ROOM { total } else { 0 };
            let mut bytes = self.inbuf.split_to(total);
            let payload = bytes.split_off(HEADER_LEN).freeze();
            match self.recv_frame(head, payload, now) {
                Ok(()) => {}
                Err(Error::Connection(e)) => self.fail(e),
                Err(Error::Stream(e)) => self.stream_error(e, now),
            }
        }
    }

    /// Limits checked from a frame's header, before its payload is
    /// buffered: a peer cannot make us hold a frame we would refuse once
    /// complete. DATA must fit the connection window (the same check as on
    /// arrival, made early); header blocks must fit the block limit of
    /// `check_block_size`; everything else must fit the RFC's default frame
    /// size, whatever larger size we advertise for DATA.
    fn check_frame_len(&self, head: &FrameHeader) -> std::result::Result<(), ConnectionError> {
        let len = head.length;
        match head.kind {
            frame::kind::DATA if i64::from(len) > self.conn_recv.advertised() => {
                Err(ConnectionError::remote(
                    Reason::FLOW_CONTROL_ERROR,
                    "DATA exceeds the connection window",
                ))
            }
            frame::kind::DATA => Ok(()),
            frame::kind::HEADERS | frame::kind::CONTINUATION
                if len > MAX_CONTROL_FRAME && len as usize > self.max_block_size() =>
            {
                Err(ConnectionError::library(
                    Reason::ENHANCE_YOUR_CALM,
                    "header block too large",
                ))
            }
            frame::kind::HEADERS | frame::kind::CONTINUATION => Ok(()),
            _ if len > MAX_CONTROL_FRAME => Err(ConnectionError::library(
                Reason::ENHANCE_YOUR_CALM,
                "frame too large for its type: only DATA and header blocks may pass 16,384 bytes",
            )),
            _ => Ok(()),
        }
    }

    fn recv_frame(&mut self, head: FrameHeader, payload: Bytes, now: Instant) -> Result {
        self.last_recv = now;
        self.keepalive_deadline = None;
        if let Some(partial) = &self.partial {
            if head.kind != frame::kind::CONTINUATION || head.stream_id != partial.stream_id {
                return Err(conn_err(
                    Reason::PROTOCOL_ERROR,
                    format!("expected CONTINUATION for stream {}", partial.stream_id),
                ));
            }
        }
        let frame = match Frame::decode(head, payload) {
            Ok(frame) => frame,
            // The block of a malformed HEADERS must still reach the HPACK
            // decoder, or the tables fall out of step (RFC 9113 §4.3).
            Err(FrameError::HeadersSelfDependency(h)) if self.phase == Phase::Open => {
                return self.recv_headers(*h, Some("stream depends on itself"), now);
            }
            Err(e) => return Err(e.into_error()),
        };
        if self.phase == Phase::FirstSettings {
            match &frame {
                Frame::Settings(s) if !s.ack => {
                    self.phase = Phase::Open;
                    self.handshake_deadline = None;
                }
                _ => {
                    return Err(conn_err(
                        Reason::PROTOCOL_ERROR,
                        "first frame is not SETTINGS",
                    ));
                }
            }
        }
        match frame {
            Frame::Data(d) => self.recv_data(d, now),
            Frame::Headers(h) => self.recv_headers(h, None, now),
            Frame::Priority(_) | Frame::Unknown(_) => Ok(()),
            Frame::RstStream(r) => self.recv_reset(r, now),
            Frame::Settings(s) => self.recv_settings(s, now),
            Frame::PushPromise(_) => Err(conn_err(
                Reason::PROTOCOL_ERROR,
                "PUSH_PROMISE while push is disabled",
            )),
            Frame::Ping(p) => self.recv_ping(p, now),
            Frame::GoAway(g) => {
                self.recv_goaway(g);
                Ok(())
            }
            Frame::WindowUpdate(w) => self.recv_window_update(w, now),
            Frame::Continuation(c) => self.recv_continuation(c, now),
        }
    }

    /// `malformed` says why the stream must be reset once its block is
    /// decoded.
    fn recv_headers(
        &mut self,
        h: frame::Headers,
        malformed: Option<&'static str>,
        now: Instant,
    ) -> Result {
        if h.end_headers {
            return self.recv_header_block(h.stream_id, h.fragment, h.end_stream, malformed);
        }
        if h.fragment.is_empty() && !self.buckets.empty_frames.take(now) {
            return Err(calm("too many empty frames"));
        }
        self.check_block_size(h.fragment.len())?;
        self.partial = Some(PartialBlock {
            stream_id: h.stream_id,
            block: BytesMut::from(&h.fragment[..]),
            end_stream: h.end_stream,
            continuations: 0,
            malformed,
        });
        Ok(())
    }

    fn recv_continuation(&mut self, c: frame::Continuation, now: Instant) -> Result {
        let Some(partial) = self.partial.as_mut() else {
            return Err(conn_err(
                Reason::PROTOCOL_ERROR,
                "CONTINUATION without HEADERS",
            ));
        };
        partial.continuations += 1;
        partial.block.extend_from_slice(&c.fragment);
        let (count, size) = (partial.continuations, partial.block.len());
        if count > self.config.max_continuation_frames {
            return Err(calm("too many CONTINUATION frames in one header block"));
        }
        self.check_block_size(size)?;
        if c.fragment.is_empty() && !c.end_headers && !self.buckets.empty_frames.take(now) {
            return Err(calm("too many empty frames"));
        }
        if !c.end_headers {
            return Ok(());
        }
        let Some(partial) = self.partial.take() else {
            return Ok(());
        };
        self.recv_header_block(
            partial.stream_id,
            partial.block.freeze(),
            partial.end_stream,
            partial.malformed,
        )
    }

    /// A compressed block larger than twice the header-list limit cannot
    /// decode to an acceptable list; stop buffering it (CONTINUATION flood).
    fn check_block_size(&self, size: usize) -> Result {
        if size > self.max_block_size() {
            return Err(calm("header block too large"));
        }
        Ok(())
    }

    fn max_block_size(&self) -> usize {
        (self.config.max_header_list_size as usize).saturating_mul(2)
    }

    /// A complete header block for `id`. It is always decoded, even for a
    /// stream we will ignore, so the HPACK table stays in step with the
    /// peer's.
    fn recv_header_block(
        &mut self,
        id: StreamId,
        block: Bytes,
        end_stream: bool,
        malformed: Option<&'static str>,
    ) -> Result {
        let mut fields = std::mem::take(&mut self.decoded);
        fields.clear();
        if self.role == Role::Server && fields.capacity() == 0 {
            // A request's list (pseudo-headers, content-type, te, user
            // agent, timeout, a little metadata) in one allocation rather
            // than growing through 4 and 8 fields.
            fields.reserve_exact(REQUEST_FIELDS);
        }
        let too_large = match self.decoder.decode(&block, &mut fields) {
            Ok(()) => false,
            Err(e) if !e.is_connection_error() => true,
            Err(e) => return Err(conn_err(Reason::COMPRESSION_ERROR, format!("HPACK: {e:?}"))),
        };
        if let Some(why) = malformed {
            if id > self.last_remote_id && !self.is_local_parity(id) {
                // A new stream the peer opened: its id is used up.
                self.last_remote_id = id;
            }
            return Err(stream_err(id, Reason::PROTOCOL_ERROR, why));
        }
        if let Some(stream) = self.streams.get_mut(&id) {
            if !stream.state.can_recv() {
                return Err(stream_err(
                    id,
                    Reason::STREAM_CLOSED,
                    "HEADERS after END_STREAM",
                ));
            }
            if too_large {
                return Err(stream_err(
                    id,
                    Reason::ENHANCE_YOUR_CALM,
                    "header list too large",
                ));
            }
            let section = if stream.headers_received {
                Section::Trailers
            } else {
                Section::Response
            };
            if section == Section::Trailers && !end_stream {
                return Err(stream_err(
                    id,
                    Reason::PROTOCOL_ERROR,
                    "trailers without END_STREAM",
                ));
            }
            let checked = validate::check(&fields, section)
                .map_err(|why| stream_err(id, Reason::PROTOCOL_ERROR, why))?;
            if section == Section::Response {
                if checked.informational {
                    if end_stream {
                        return Err(stream_err(
                            id,
                            Reason::PROTOCOL_ERROR,
                            "1xx response with END_STREAM",
                        ));
                    }
                    return Ok(());
                }
                stream.headers_received = true;
                stream.content_left = checked.content_length;
                if end_stream && stream.content_left.is_some_and(|n| n != 0) {
                    return Err(stream_err(
                        id,
                        Reason::PROTOCOL_ERROR,
                        "body shorter than content-length",
                    ));
                }
                self.events.push_back(Event::Headers {
                    stream_id: id,
                    headers: fields,
                    end_stream,
                });
            } else {
                if stream.content_left.is_some_and(|n| n != 0) {
                    return Err(stream_err(
                        id,
                        Reason::PROTOCOL_ERROR,
                        "body shorter than content-length",
                    ));
                }
                self.events.push_back(Event::Trailers {
                    stream_id: id,
                    trailers: fields,
                });
            }
            if end_stream {
                stream.state = stream.state.recv_end();
                self.remove_if_closed(id);
            }
            return Ok(());
        }
        self.decoded = fields;
        let remote_parity = match self.role {
            Role::Server => id.is_client_initiated(),
            Role::Client => id.is_server_initiated(),
        };
        if !remote_parity {
            if self.is_idle(id) {
                return Err(conn_err(
                    Reason::PROTOCOL_ERROR,
                    format!("HEADERS on idle stream {id}"),
                ));
            }
            // A stream of ours that already closed (we may have reset it).
            return Ok(());
        }
        if self.role == Role::Client {
            return Err(conn_err(Reason::PROTOCOL_ERROR, "server opened a stream"));
        }
        if id <= self.last_remote_id {
            // Closed earlier (RFC 9113 §5.1.1: ids never go back). Frames
            // may still be in flight after we reset it; ignore them.
            return Ok(());
        }
        self.last_remote_id = id;
        if self.goaway_sent.is_some_and(|last| id > last) {
            // After our final GOAWAY: never processed, the client retries.
            return Ok(());
        }
        if too_large {
            return Err(stream_err(
                id,
                Reason::ENHANCE_YOUR_CALM,
                "header list too large",
            ));
        }
        if self.remote_open >= self.config.max_concurrent_streams {
            return Err(stream_err(
                id,
                Reason::REFUSED_STREAM,
                "concurrent stream limit reached",
            ));
        }
        let checked = validate::check(&self.decoded, Section::Request)
            .map_err(|why| stream_err(id, Reason::PROTOCOL_ERROR, why))?;
        if end_stream && checked.content_length.is_some_and(|n| n != 0) {
            return Err(stream_err(
                id,
                Reason::PROTOCOL_ERROR,
                "body shorter than content-length",
            ));
        }
        let stream = Stream {
            state: State::opened(false, end_stream),
            local: false,
            send: SendWindow::new(self.remote.initial_window),
            recv: RecvWindow::new(self.local_initial_window),
            queue: Default::default(),
            queued_bytes: 0,
            end_queued: false,
            headers_sent: false,
            headers_received: true,
            in_ready: false,
            writer_waiting: false,
            content_left: checked.content_length,
            boost_extra: 0,
        };
        self.streams.insert(id, stream);
        self.remote_open += 1;
        self.idle_since = None;
        let headers = std::mem::take(&mut self.decoded);
        self.events.push_back(Event::StreamOpened {
            stream_id: id,
            headers,
            end_stream,
        });
        Ok(())
    }

    fn recv_data(&mut self, d: frame::Data, now: Instant) -> Result {
        let id = d.stream_id;
        let len = d.flow_len();
        if d.payload.is_empty() && !d.end_stream && !self.buckets.empty_frames.take(now) {
            return Err(calm("too many empty frames"));
        }
        // The connection window counts every DATA frame, whatever its stream,
        // and is given back on arrival: what the application holds is bounded
        // per stream by the stream windows. Tying the connection window to
        // the application too deadlocks as soon as several streams each hold
        // part of a message that they release only once it is whole: the
        // connection window runs out and no message can complete (grpc-go
        // also credits the connection on arrival).
        if self.conn_recv.recv(len).is_err() {
            return Err(conn_err(
                Reason::FLOW_CONTROL_ERROR,
                "DATA exceeds the connection window",
            ));
        }
        self.release_connection(u64::from(len));
        if len > 0 {
            if let Some(bdp) = self.bdp.as_mut() {
                if bdp.on_data(len, now) {
                    self.queue_control(Frame::Ping(frame::Ping {
                        ack: false,
                        payload: BDP_PING,
                    }));
                }
            }
        }
        let Some(stream) = self.streams.get_mut(&id) else {
            if self.is_idle(id) {
                return Err(conn_err(
                    Reason::PROTOCOL_ERROR,
                    format!("DATA on idle stream {id}"),
                ));
            }
            return Ok(());
        };
        let problem = if !stream.state.can_recv() {
            Some((Reason::STREAM_CLOSED, "DATA after END_STREAM"))
        } else if !stream.headers_received {
            Some((Reason::PROTOCOL_ERROR, "DATA before HEADERS"))
        } else if stream.recv.recv(len).is_err() {
            Some((Reason::FLOW_CONTROL_ERROR, "DATA exceeds the stream window"))
        } else {
            None
        };
        if let Some((reason, why)) = problem {
            return Err(stream_err(id, reason, why));
        }
        let body = d.payload.len() as u64;
        if let Some(left) = stream.content_left.as_mut() {
            if body > *left || (d.end_stream && body != *left) {
                return Err(stream_err(
                    id,
                    Reason::PROTOCOL_ERROR,
                    "body length differs from content-length",
                ));
            }
            *left -= body;
        }
        // Padding is ours to give back at once; the payload's stream window
        // waits for the application.
        let padding = u64::from(len) - body;
        if padding > 0 {
            if let Some(increment) = stream.recv.release(padding) {
                self.queue_window_update(id, increment);
            }
        }
        self.events.push_back(Event::Data {
            stream_id: id,
            data: d.payload,
            end_stream: d.end_stream,
        });
        if d.end_stream {
            if let Some(stream) = self.streams.get_mut(&id) {
                stream.state = stream.state.recv_end();
            }
            self.remove_if_closed(id);
        }
        Ok(())
    }

    pub(super) fn release_connection(&mut self, n: u64) {
        if let Some(increment) = self.conn_recv.release(n) {
            self.queue_window_update(StreamId::ZERO, increment);
        }
    }

    fn recv_reset(&mut self, r: frame::RstStream, now: Instant) -> Result {
        if self.is_idle(r.stream_id) {
            return Err(conn_err(
                Reason::PROTOCOL_ERROR,
                format!("RST_STREAM on idle stream {}", r.stream_id),
            ));
        }
        let remote_opened = self.streams.get(&r.stream_id).map(|s| !s.local);
        let Some(remote_opened) = remote_opened else {
            return Ok(());
        };
        if remote_opened && !self.buckets.remote_resets.take(now) {
            return Err(calm("too many streams reset by the peer (rapid reset)"));
        }
        self.remove_stream(r.stream_id);
        self.events.push_back(Event::Reset(StreamError {
            stream_id: r.stream_id,
            reason: r.reason,
            initiator: Initiator::Remote,
            detail: "stream reset by peer".into(),
        }));
        Ok(())
    }

    fn recv_settings(&mut self, s: frame::Settings, now: Instant) -> Result {
        if s.ack {
            if self.settings_ack_deadline.take().is_some() && !self.first_settings_acked {
                self.first_settings_acked = true;
                self.decoder
                    .set_max_table_size(self.config.header_table_size as usize);
            }
            return Ok(());
        }
        if !self.buckets.settings.take(now) {
            return Err(calm("too many SETTINGS frames"));
        }
        if s.enable_push == Some(true) && self.role == Role::Client {
            return Err(conn_err(
                Reason::PROTOCOL_ERROR,
                "server sent SETTINGS_ENABLE_PUSH = 1",
            ));
        }
        if let Some(size) = s.header_table_size {
            self.remote.header_table_size = size;
            self.encoder.set_max_table_size(size as usize);
        }
        if let Some(max) = s.max_concurrent_streams {
            self.remote.max_concurrent_streams = max;
            if self.waiting_for_capacity && self.local_open < max {
                self.waiting_for_capacity = false;
                self.events.push_back(Event::StreamsAvailable);
            }
        }
        if let Some(window) = s.initial_window_size {
            let delta = i64::from(window) - i64::from(self.remote.initial_window);
            self.remote.initial_window = window;
            for stream in self.streams.values_mut() {
                if stream.send.apply_delta(delta).is_err() {
                    return Err(conn_err(
                        Reason::FLOW_CONTROL_ERROR,
                        "SETTINGS_INITIAL_WINDOW_SIZE overflows a window",
                    ));
                }
            }
            if delta > 0 {
                self.schedule_all();
            }
        }
        if let Some(size) = s.max_frame_size {
            self.remote.max_frame_size = size;
        }
        if let Some(size) = s.max_header_list_size {
            self.remote.max_header_list_size = size;
        }
        self.queue_control(Frame::Settings(frame::Settings::ack()));
        let snapshot = self.remote_settings();
        self.events.push_back(Event::SettingsChanged(snapshot));
        Ok(())
    }

    fn recv_ping(&mut self, p: frame::Ping, now: Instant) -> Result {
        if !p.ack {
            if !self.buckets.pings.take(now) {
                return Err(calm("too many PINGs"));
            }
            self.enforce_ping_policy(now)?;
            self.queue_control(Frame::Ping(frame::Ping {
                ack: true,
                payload: p.payload,
            }));
            return Ok(());
        }
        match p.payload {
            BDP_PING => {
                let grown = self.bdp.as_mut().and_then(|b| b.on_ack(now));
                if let Some(window) = grown {
                    self.grow_windows(window);
                }
            }
            SHUTDOWN_PING => {
                if matches!(self.shutdown, Shutdown::AwaitPing(_)) {
                    self.final_goaway();
                }
            }
            KEEPALIVE_PING => {}
            payload => self.events.push_back(Event::PingAck { payload }),
        }
        Ok(())
    }

    /// grpc-go's keepalive enforcement: a PING sooner than the policy's
    /// minimum interval after the previous one (or any PING while no stream
    /// is open, unless the policy permits that) is a strike; past the
    /// allowed strikes the connection ends with GOAWAY ENHANCE_YOUR_CALM and
    /// the debug data `too_many_pings`, which grpc-go and gRPC C clients
    /// recognise (they then ping less often). Strikes are forgiven whenever
    /// we send HEADERS or DATA.
    fn enforce_ping_policy(&mut self, now: Instant) -> Result {
        let Some(policy) = self.config.ping_policy else {
            return Ok(());
        };
        let min = if self.streams.is_empty() && !policy.permit_without_stream {
            // grpc-go's stand-in for "never": two hours.
            std::time::Duration::from_secs(2 * 60 * 60)
        } else {
            policy.min_interval
        };
        if let Some(last) = self.last_ping_recv {
            if now.saturating_duration_since(last) < min {
                self.ping_strikes += 1;
            }
        }
        self.last_ping_recv = Some(now);
        if self.ping_strikes > policy.max_strikes {
            return Err(calm("too_many_pings"));
        }
        Ok(())
    }

    /// The bandwidth-delay estimate grew: new streams start with the larger
    /// window (SETTINGS), open ones get the difference (the same SETTINGS
    /// does that for them on the peer's side), and the connection window
    /// grows with them.
    fn grow_windows(&mut self, window: u32) {
        if window <= self.local_initial_window {
            return;
        }
        self.local_initial_window = window;
        self.queue_control(Frame::Settings(frame::Settings {
            initial_window_size: Some(window),
            ..frame::Settings::default()
        }));
        if self.settings_ack_deadline.is_none() {
            self.settings_ack_deadline = Some(self.last_recv + self.config.settings_timeout);
        }
        for stream in self.streams.values_mut() {
            stream.recv.grow_by_settings(window);
        }
        let target = self.conn_recv.target().max(window);
        if let Some(increment) = self.conn_recv.set_target(target) {
            self.queue_window_update(StreamId::ZERO, increment);
        }
    }

    fn recv_goaway(&mut self, g: frame::GoAway) {
        let last = match self.goaway_received {
            Some((prev, _)) => prev.min(g.last_stream_id),
            None => g.last_stream_id,
        };
        self.goaway_received = Some((last, g.reason));
        let mut refused: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(id, s)| s.local && **id > last)
            .map(|(id, _)| *id)
            .collect();
        refused.sort_unstable();
        // Events first, streams removed after: removing the last stream
        // ends a draining connection (`Event::Closed`), and the refusals
        // and the GOAWAY must reach the runtime before that, or the
        // refused calls would read as lost with the connection.
        for &id in &refused {
            self.events.push_back(Event::Reset(StreamError {
                stream_id: id,
                reason: Reason::REFUSED_STREAM,
                initiator: Initiator::Remote,
                detail: "not processed: above the peer's GOAWAY last-stream-id".into(),
            }));
        }
        self.events.push_back(Event::GoAway {
            last_stream_id: g.last_stream_id,
            reason: g.reason,
            debug_data: g.debug_data,
        });
        for id in refused {
            self.remove_stream(id);
        }
        self.check_drained();
    }

    fn recv_window_update(&mut self, w: frame::WindowUpdate, now: Instant) -> Result {
        // A dribble reopens a (nearly) closed window a few bytes at a time,
        // so that we cut data into tiny frames. A small increment to a
        // window that is open anyway costs nothing: grpcio sends thousands
        // of 5-byte ones under load, and they must not count.
        if w.increment < SMALL_WINDOW_UPDATE {
            let window = if w.stream_id.is_zero() {
                Some(self.conn_send.available())
            } else {
                self.streams.get(&w.stream_id).map(|s| s.send.available())
            };
            let reopens_closed = window.is_none_or(|open| open < SMALL_WINDOW_UPDATE);
            if reopens_closed && !self.buckets.small_window_updates.take(now) {
                return Err(calm("too many small WINDOW_UPDATEs (window dribble)"));
            }
        }
        if w.stream_id.is_zero() {
            if self.conn_send.increase(w.increment).is_err() {
                return Err(conn_err(
                    Reason::FLOW_CONTROL_ERROR,
                    "connection window overflow",
                ));
            }
            return Ok(());
        }
        if let Some(stream) = self.streams.get_mut(&w.stream_id) {
            if stream.send.increase(w.increment).is_err() {
                return Err(stream_err(
                    w.stream_id,
                    Reason::FLOW_CONTROL_ERROR,
                    "stream window overflow",
                ));
            }
            self.schedule(w.stream_id);
            return Ok(());
        }
        if self.is_idle(w.stream_id) {
            return Err(conn_err(
                Reason::PROTOCOL_ERROR,
                format!("WINDOW_UPDATE on idle stream {}", w.stream_id),
            ));
        }
        Ok(())
    }
}
