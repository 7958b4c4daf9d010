//! The send side: what the application asks to send, and the scheduler that
//! turns queued data into frames within both flow-control windows.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::flow_control::{RecvWindow, SendWindow};
use super::out_buf::{OutBuf, Sink};
use super::{
    Connection, Event, OpenError, Outgoing, Role, STREAM_ID_RESERVE, SendError, State, Stream,
};
use super::{Shutdown, write_headers};
use crate::frame::{self, Frame};
use crate::{HeaderField, Reason, StreamId};

/// The most window `expect_message` opens for the message after the one
/// announced: a whole next message up to 1 MiB (what a Ferry peer sends in
/// one frame), which keeps the pipe busy; of a larger one only this much,
/// so what a peer can make one stream hold stays near what grpc-go allows
/// (one message).
const NEXT_MESSAGE_ROOM: u32 = 1 << 20;

/// The most DATA `send_data_parts` writes at once, skipping the stream
/// queue, when nothing of the stream waits: a payload this small is
/// copied into the write buffer either way (see
/// [`OutBuf::min_by_reference`](super::OutBuf::min_by_reference)).
const WRITE_THROUGH_MAX: usize = super::out_buf::DEFAULT_MIN_BY_REFERENCE;

impl Connection {
    /// Client: opens a stream by sending its request headers. Nothing is
    /// sent on error, so the call may go to another connection.
    pub fn open_stream(
        &mut self,
        headers: &[HeaderField],
        end_stream: bool,
    ) -> Result<StreamId, OpenError> {
        if self.role != Role::Client {
            return Err(OpenError::NotClient);
        }
        if self.closed {
            return Err(OpenError::Closed);
        }
        if self.goaway_received.is_some()
            || self.goaway_sent.is_some()
            || self.shutdown != Shutdown::None
        {
            return Err(OpenError::GoingAway);
        }
        let id = self.next_local_id.ok_or(OpenError::IdsExhausted)?;
        if self.local_open >= self.remote.max_concurrent_streams {
            self.waiting_for_capacity = true;
            return Err(OpenError::AtCapacity);
        }
        self.next_local_id = id.next();
        if !self.ids_low_reported && id.as_u32() >= StreamId::MAX.as_u32() - 2 * STREAM_ID_RESERVE {
            self.ids_low_reported = true;
            self.events.push_back(Event::StreamIdsExhausted);
        }
        self.write_block(id, headers, end_stream);
        let stream = Stream {
            state: State::opened(end_stream, false),
            local: true,
            send: SendWindow::new(self.remote.initial_window),
            recv: RecvWindow::new(self.local_initial_window),
            queue: Default::default(),
            queued_bytes: 0,
            end_queued: end_stream,
            headers_sent: true,
            headers_received: false,
            in_ready: false,
            writer_waiting: false,
            content_left: None,
            boost_extra: 0,
        };
        self.streams.insert(id, stream);
        self.local_open += 1;
        self.idle_since = None;
        Ok(id)
    }

    /// Server: sends the response headers of a stream. With `end_stream`
    /// this is a Trailers-Only response and the stream's sending side ends.
    pub fn send_headers(
        &mut self,
        stream_id: StreamId,
        headers: &[HeaderField],
        end_stream: bool,
    ) -> Result<(), SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        let stream = self
            .streams
            .get_mut(&stream_id)
            .ok_or(SendError::UnknownStream)?;
        if stream.headers_sent {
            return Err(SendError::HeadersAlreadySent);
        }
        if stream.end_queued || !stream.state.can_send() {
            return Err(SendError::Finished);
        }
        stream.headers_sent = true;
        if end_stream {
            stream.end_queued = true;
            stream.state = stream.state.send_end();
        }
        self.write_block(stream_id, headers, end_stream);
        self.remove_if_closed(stream_id);
        Ok(())
    }

    /// Queues body bytes. They go out as the peer's windows allow, in fair
    /// turns with other streams. Check [`Connection::send_capacity`] (or wait
    /// for [`Event::Writable`]) before queueing more than
    /// [`Config::stream_send_buffer`](super::Config::stream_send_buffer).
    pub fn send_data(
        &mut self,
        stream_id: StreamId,
        data: Bytes,
        end_stream: bool,
    ) -> Result<(), SendError> {
        self.send_data_parts(stream_id, [data], end_stream)
    }

    /// Queues body bytes given in pieces, as [`Connection::send_data`] of
    /// their concatenation would, without concatenating them: the pieces
    /// share DATA frames (one frame for all of them when window and frame
    /// size allow), so a message whose large field is kept by reference
    /// still arrives in one frame.
    pub fn send_data_parts<I>(
        &mut self,
        stream_id: StreamId,
        parts: I,
        end_stream: bool,
    ) -> Result<(), SendError>
    where
        I: IntoIterator<Item = Bytes>,
    {
        let max_frame = self.remote.max_frame_size as usize;
        let conn_window = self.conn_send.available() as usize;
        let limit = self.config.stream_send_buffer;
        let stream = self.sendable(stream_id)?;
        let mut parts = parts.into_iter().filter(|data| !data.is_empty());
        let first = parts.next();
        let second = parts.next();
        let len = first.as_ref().map_or(0, Bytes::len);
        if second.is_none()
            && stream.queue.is_empty()
            && (len > 0 || end_stream)
            && len <= WRITE_THROUGH_MAX.min(max_frame).min(conn_window)
            && len <= stream.send.available() as usize
        {
            // Nothing of this stream waits and the windows take it all: one
            // DATA frame now, behind the stream's headers, without a turn
            // in the queue (a unary response's only message, usually).
            stream.send.consume(len as u32);
            if end_stream {
                stream.end_queued = true;
                stream.state = stream.state.send_end();
            }
            self.conn_send.consume(len as u32);
            frame::Data::encode_unpadded_head(stream_id, len, end_stream, &mut self.control);
            if let Some(data) = first {
                self.control.extend_from_slice(&data);
            }
            self.peer_pings_justified();
            self.remove_if_closed(stream_id);
            return Ok(());
        }
        let mut queued = false;
        for data in first.into_iter().chain(second).chain(parts) {
            stream.queued_bytes += data.len();
            stream.queue.push_back(Outgoing::Data {
                data,
                end_stream: false,
                joined: true,
            });
            queued = true;
        }
        match stream.queue.back_mut() {
            Some(Outgoing::Data {
                end_stream: end,
                joined,
                ..
            }) if queued => {
                *joined = false;
                *end = end_stream;
            }
            // Nothing to send but the end: an empty DATA frame carries it.
            _ if end_stream => stream.queue.push_back(Outgoing::Data {
                data: Bytes::new(),
                end_stream: true,
                joined: false,
            }),
            _ => {}
        }
        if stream.queued_bytes >= limit {
            stream.writer_waiting = true;
        }
        stream.end_queued = end_stream;
        self.schedule(stream_id);
        Ok(())
    }

    /// Sends trailers, which end our side of the stream after the queued
    /// data: at once when none is queued, else queued behind it.
    pub fn send_trailers(
        &mut self,
        stream_id: StreamId,
        trailers: &[HeaderField],
    ) -> Result<(), SendError> {
        let stream = self.sendable(stream_id)?;
        stream.end_queued = true;
        if !stream.queue.is_empty() {
            stream
                .queue
                .push_back(Outgoing::Trailers(trailers.to_vec()));
            self.schedule(stream_id);
            return Ok(());
        }
        stream.state = stream.state.send_end();
        self.write_block(stream_id, trailers, true);
        self.remove_if_closed(stream_id);
        Ok(())
    }

    fn sendable(&mut self, stream_id: StreamId) -> Result<&mut Stream, SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        let stream = self
            .streams
            .get_mut(&stream_id)
            .ok_or(SendError::UnknownStream)?;
        if !stream.headers_sent {
            return Err(SendError::HeadersNotSent);
        }
        if stream.end_queued || !stream.state.can_send() {
            return Err(SendError::Finished);
        }
        Ok(stream)
    }

    /// Resets a stream (the application cancelled it): RST_STREAM goes out,
    /// queued data is dropped. Unknown streams are ignored.
    pub fn reset_stream(&mut self, stream_id: StreamId, reason: Reason) {
        if self.closed {
            return;
        }
        if self.remove_stream(stream_id).is_some() {
            self.queue_control(Frame::RstStream(frame::RstStream { stream_id, reason }));
        }
    }

    /// The application consumed `n` bytes of a stream's data: the peer may
    /// send that much more on the stream (batched into WINDOW_UPDATEs, see
    /// `flow_control.rs`; the connection window was credited on arrival).
    /// Unknown streams are ignored.
    pub fn release_capacity(&mut self, stream_id: StreamId, n: usize) {
        if self.closed {
            return;
        }
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        let n = (n as u64).min(stream.recv.unreleased());
        let remote_open = stream.state.can_recv();
        if let Some(increment) = stream.recv.release(n) {
            // No point opening a window the peer can no longer use.
            if remote_open {
                self.queue_window_update(stream_id, increment);
            }
        }
    }

    /// The runtime read a message prefix announcing `len` bytes on this
    /// stream: open its window (and the connection's) far enough for the
    /// whole message and the next one of the same size (up to 1 MiB of it)
    /// at once. Call it for every message; a small message takes back the
    /// extra window of a large one.
    ///
    /// Room for the next message too: with a window of one message the
    /// sender can start the next message only after the application has
    /// taken this one and its WINDOW_UPDATE has travelled back, a round trip
    /// per message with the pipe idle meanwhile (a 64 KiB stream measured
    /// half its speed so; BENCHMARKS.md, scenario 3). The next message's
    /// room is at most 1 MiB, so a stream's window is at most one message
    /// of the receive limit and 1 MiB (or its BDP-grown window, when that
    /// is larger).
    pub fn expect_message(&mut self, stream_id: StreamId, len: usize) {
        if self.closed {
            return;
        }
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        if !stream.state.can_recv() {
            return;
        }
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        let room = len.saturating_add(len.min(NEXT_MESSAGE_ROOM));
        let extra = room.saturating_sub(stream.recv.target());
        let old_extra = std::mem::replace(&mut stream.boost_extra, extra);
        let stream_update = stream.recv.expect_message(room, len);
        self.conn_boost_extra = self.conn_boost_extra - u64::from(old_extra) + u64::from(extra);
        if let Some(increment) = stream_update {
            self.queue_window_update(stream_id, increment);
        }
        let boost = self.conn_boost_target();
        if let Some(increment) = self.conn_recv.set_boost(boost, extra > 0) {
            self.queue_window_update(StreamId::ZERO, increment);
        }
    }

    /// Sends a PING; its ACK comes back as [`Event::PingAck`].
    pub fn send_ping(&mut self, payload: [u8; 8]) -> Result<(), SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        self.queue_control(Frame::Ping(frame::Ping {
            ack: false,
            payload,
        }));
        Ok(())
    }

    /// Moves every queued control frame and header block into `dst`.
    fn flush_control(&mut self, dst: &mut impl Sink) {
        if self.control.is_empty() {
            return;
        }
        // Copied, never swapped: control frames and header blocks are small,
        // and handing the caller our small buffer made the DATA appended
        // after them regrow it by doubling (a copy of the batch each time).
        dst.buf().extend_from_slice(&self.control);
        self.control.clear();
        self.pending_control = 0;
    }

    /// Writes a header block for `stream_id` behind the queued control
    /// frames (headers go out in the order they are encoded: HPACK's
    /// state depends on it). We are sending, so the peer's pings are fair.
    fn write_block(&mut self, stream_id: StreamId, fields: &[HeaderField], end_stream: bool) {
        write_headers(
            &mut self.encoder,
            &mut self.block_buf,
            self.remote.max_frame_size,
            stream_id,
            fields,
            end_stream,
            &mut self.control,
        );
        self.peer_pings_justified();
    }

    /// Puts a stream with sendable data in the round-robin queue.
    pub(super) fn schedule(&mut self, stream_id: StreamId) {
        if let Some(stream) = self.streams.get_mut(&stream_id) {
            if !stream.in_ready && !stream.queue.is_empty() {
                stream.in_ready = true;
                self.ready.push_back(stream_id);
            }
        }
    }

    pub(super) fn schedule_all(&mut self) {
        let mut ids: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(_, s)| !s.queue.is_empty())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            self.schedule(id);
        }
    }

    /// Writes what is ready to go into `dst` and returns how many bytes it
    /// added: first every control frame and header block, then DATA in
    /// round-robin turns of one frame per stream, within both windows, up to
    /// about [`Config::max_write_batch`](super::Config::max_write_batch)
    /// bytes. Call it until it returns 0.
    ///
    /// DATA payloads are copied into `dst`;
    /// [`poll_transmit_buf`](Connection::poll_transmit_buf) keeps large ones
    /// by reference instead, for vectored writes.
    pub fn poll_transmit(&mut self, now: Instant, dst: &mut BytesMut) -> usize {
        self.transmit(now, dst)
    }

    /// Exactly what [`poll_transmit`](Connection::poll_transmit) does, into
    /// an [`OutBuf`]: DATA payloads of at least
    /// [`OutBuf::min_by_reference`] bytes are not copied but kept as the
    /// `Bytes` the application queued, for a vectored write.
    pub fn poll_transmit_buf(&mut self, now: Instant, dst: &mut OutBuf) -> usize {
        self.transmit(now, dst)
    }

    fn transmit(&mut self, now: Instant, dst: &mut impl Sink) -> usize {
        self.tick(now);
        let start = dst.written();
        self.flush_control(dst);
        if !self.closed && self.inbuf.len() >= crate::frame::HEADER_LEN {
            // Input left unparsed while replies waited can go on now.
            self.process_input(now);
            self.flush_control(dst);
        }
        if self.closed {
            return dst.written() - start;
        }
        let limit = self.config.max_write_batch;
        // Streams that have data but no connection window this round.
        let mut parked = Vec::new();
        let mut sent_stream_frames = false;
        while dst.written() - start < limit {
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            let Some(stream) = self.streams.get_mut(&id) else {
                continue;
            };
            stream.in_ready = false;
            let mut ended = false;
            match stream.queue.front_mut() {
                None => continue,
                Some(Outgoing::Trailers(_)) => {
                    let Some(Outgoing::Trailers(trailers)) = stream.queue.pop_front() else {
                        continue;
                    };
                    stream.state = stream.state.send_end();
                    ended = true;
                    sent_stream_frames = true;
                    write_headers(
                        &mut self.encoder,
                        &mut self.block_buf,
                        self.remote.max_frame_size,
                        id,
                        &trailers,
                        true,
                        dst.buf(),
                    );
                }
                Some(Outgoing::Data { .. }) => {
                    let window = stream.send.available().min(self.conn_send.available());
                    let room = (window as usize).min(self.remote.max_frame_size as usize);
                    let (n, end) = frame_len(&stream.queue, room);
                    if n == 0 && !end {
                        if stream.send.available() > 0 {
                            parked.push(id);
                        }
                        // Otherwise the stream waits for its WINDOW_UPDATE.
                        continue;
                    }
                    frame::Data::encode_unpadded_head(id, n, end, dst.buf());
                    take_payload(&mut stream.queue, n, dst);
                    sent_stream_frames = true;
                    stream.send.consume(n as u32);
                    self.conn_send.consume(n as u32);
                    stream.queued_bytes -= n;
                    if end {
                        stream.state = stream.state.send_end();
                        ended = true;
                    }
                }
            }
            if stream.writer_waiting && stream.queued_bytes < self.config.stream_send_buffer {
                stream.writer_waiting = false;
                self.events.push_back(Event::Writable { stream_id: id });
            }
            let more = !stream.queue.is_empty();
            if more {
                stream.in_ready = true;
                self.ready.push_back(id);
            }
            if ended {
                self.remove_if_closed(id);
            }
        }
        if sent_stream_frames {
            // We are busy sending a response: pings from the peer (BDP
            // probes) are fair. ACKs we write do not count.
            self.peer_pings_justified();
        }
        for id in parked.into_iter().rev() {
            if let Some(stream) = self.streams.get_mut(&id) {
                if !stream.in_ready {
                    stream.in_ready = true;
                    self.ready.push_front(id);
                }
            }
        }
        dst.written() - start
    }
}

/// The next DATA frame from the front of a stream's queue, given `room`
/// bytes of window and frame size: how many bytes it carries and whether it
/// ends the stream. It takes the front item's bytes and, while that item is
/// `joined` to the next and all of it fits, the next item's too.
fn frame_len(queue: &VecDeque<Outgoing>, room: usize) -> (usize, bool) {
    let mut n = 0;
    for item in queue {
        let Outgoing::Data {
            data,
            end_stream,
            joined,
        } = item
        else {
            break;
        };
        let take = data.len().min(room - n);
        n += take;
        if take < data.len() {
            return (n, false);
        }
        if !joined {
            return (n, *end_stream);
        }
    }
    (n, false)
}

/// Moves the first `n` queued DATA bytes into `dst` (the frame's payload,
/// after its header), dropping the items they empty.
fn take_payload(queue: &mut VecDeque<Outgoing>, mut n: usize, dst: &mut impl Sink) {
    while let Some(Outgoing::Data { data, .. }) = queue.front_mut() {
        if n < data.len() {
            dst.put_payload(data.split_to(n));
            return;
        }
        n -= data.len();
        let Some(Outgoing::Data { data, .. }) = queue.pop_front() else {
            return;
        };
        if !data.is_empty() {
            dst.put_payload(data);
        }
        if n == 0 {
            return;
        }
    }
}
