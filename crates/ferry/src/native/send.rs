//! Commands from calls: opening, sending messages and statuses, cancelling,
//! returning credit. Each turns into frames queued on the call and written
//! by `flush` while the call has credit.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use ferry_wire::conn::OpenError;
use ferry_wire::grpc::{self, RequestHead, percent_decode};
use ferry_wire::native::{Flags, Frame, Kind, Meta};
use ferry_wire::{ConnectionError, HeaderField, Reason, StreamId};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::metadata::{
    answer_meta, is_reserved, push_header, request_meta, request_meta_bytes, response_start, utf8,
};
use super::{Call, DRAIN_NOTICE, Drain, Driver, MESSAGE_OVERHEAD, ONE_WAY_MARK, Out, Side};
use crate::driver::{Answer, Command, OpenReply, StreamEvent};
use crate::events::EventSender;
use crate::framed::{Framed, into_whole_message, whole_message};

impl Driver {
    pub(super) fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Open {
                head,
                body,
                end_stream,
                events,
                reply,
            } => self.open(head, body, end_stream, events, reply),
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
            } => self.data(id, data.into_bytes(), end_stream, ready),
            Command::Trailers { id, trailers } => self.trailers(id, &trailers),
            Command::Respond { id, mut answer } => self.respond(id, &mut answer),
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

    pub(super) fn open(
        &mut self,
        head: Box<RequestHead>,
        body: Option<Bytes>,
        end_stream: bool,
        events: EventSender,
        reply: OpenReply,
    ) {
        if self.side == Side::Server {
            reply.send(&events, Err(OpenError::NotClient));
            return;
        }
        if events.is_abandoned() {
            // The call gave up while waiting to be opened.
            return;
        }
        if self.goaway_last.is_some() || self.shared.draining.load(Ordering::Acquire) {
            reply.send(&events, Err(OpenError::GoingAway));
            return;
        }
        if self.calls.len() >= self.peer.max_calls as usize {
            self.pending_opens.push_back(Command::Open {
                head,
                body,
                end_stream,
                events,
                reply,
            });
            return;
        }
        let id = self.next_id;
        if id > StreamId::MAX.as_u32() {
            self.shared.draining.store(true, Ordering::Release);
            reply.send(&events, Err(OpenError::IdsExhausted));
            return;
        }
        self.next_id += 1;
        if !reply.send(&events, Ok(StreamId::new(id))) {
            // Gave up just now, before anything went out.
            return;
        }
        let mut call = Call::new(events, self.peer.initial_credit);
        call.one_way = head.metadata().get(ONE_WAY_MARK).is_some();
        // A one-way call hears nothing back.
        call.recv_end = call.one_way;
        let one_way = call.one_way;
        let unary = match &body {
            Some(body) if end_stream => whole_message(body)
                .filter(|m| m.data.len() <= self.peer.max_body as usize && call.send_credit > 0),
            _ => None,
        };
        if let Some(message) = unary {
            // The usual unary request: one REQUEST frame, written now.
            let mut flags = Flags::MESSAGE | Flags::END_STREAM;
            if message.compressed {
                flags = flags | Flags::COMPRESSED;
            }
            if one_way {
                flags = flags | Flags::ONE_WAY;
            }
            call.send_credit -= message.data.len() as i64 + MESSAGE_OVERHEAD;
            call.sent_end = true;
            // The section without the timeout repeats call after call; the
            // timeout (remaining time) is encoded fresh in front of it.
            let out = Out {
                flags,
                status: 0,
                meta: head.timeout().map(|timeout| Meta {
                    timeout: Some(timeout),
                    ..Meta::default()
                }),
                encoded_meta: request_meta_bytes(&head, &mut self.meta_cache),
                body: message.data,
            };
            out.encode(Kind::Request, id, &mut self.out);
            self.calls.insert(id, call);
            // `pump` ends a one-way call once its request is out.
            self.dirty.push(id);
            return;
        }
        // Goes out with the first message (or the end), or alone below.
        call.pending_meta = Some(request_meta(&head));
        self.calls.insert(id, call);
        match body {
            // A unary request: metadata, message and end in one frame.
            Some(body) => self.data(StreamId::new(id), body, end_stream, None),
            None if end_stream => self.data(StreamId::new(id), Bytes::new(), true, None),
            // The request's metadata goes out now, so a server that answers
            // before the client sends (bidirectional calls) hears of the call.
            None => self.flush_meta(id),
        }
        if one_way
            && let Some(first) = self
                .calls
                .get_mut(&id)
                .and_then(|call| call.queued.front_mut())
        {
            first.flags = first.flags | Flags::ONE_WAY;
        }
    }

    /// Sends a call's pending metadata in a frame of its own.
    pub(super) fn flush_meta(&mut self, id: u32) {
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

    pub(super) fn kind_out(&self) -> Kind {
        match self.side {
            Side::Client => Kind::Request,
            Side::Server => Kind::Response,
        }
    }

    pub(super) fn response_headers(
        &mut self,
        id: StreamId,
        headers: &[HeaderField],
        end_stream: bool,
    ) {
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

    pub(super) fn data(
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
        // What a call sends is nearly always whole messages, one per
        // command: those are sliced here, without the decoder.
        let whole = if call.outgoing.buffered_len() == 0 {
            whole_message(&data)
        } else {
            None
        };
        let mut whole = match whole {
            Some(message) => Some(message),
            None => {
                call.outgoing.push(data);
                None
            }
        };
        let mut failed = None;
        loop {
            let next = match whole.take() {
                Some(message) => Ok(Some(message)),
                None if call.outgoing.buffered_len() == 0 => Ok(None),
                None => call.outgoing.next_message(),
            };
            match next {
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
                        encoded_meta: Bytes::new(),
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
            self.fail_call(id, unsendable(len, peer_max));
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
                    encoded_meta: Bytes::new(),
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

    /// Server: a whole unary answer as one RESPONSE frame carrying the
    /// response metadata, the message, END_STREAM and the OK status.
    pub(super) fn respond(&mut self, id: StreamId, answer: &mut Answer) {
        let id = id.as_u32();
        let peer_max = self.peer.max_body as usize;
        let kind = self.kind_out();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.sent_end {
            return;
        }
        // A RESPONSE frame's body is one buffer.
        let body = std::mem::replace(&mut answer.message, Framed::empty()).into_bytes();
        let message = match into_whole_message(body) {
            Some(m) if m.data.len() <= peer_max => m,
            Some(m) => return self.fail_call(id, unsendable(m.data.len(), peer_max)),
            None => return self.fail_call(id, unsendable(0, peer_max)),
        };
        call.sent_end = true;
        if !call.one_way {
            let mut meta = call.pending_meta.take().unwrap_or_default();
            answer_meta(answer, &mut meta);
            let mut flags = Flags::MESSAGE | Flags::END_STREAM;
            if message.compressed {
                flags = flags | Flags::COMPRESSED;
            }
            let out = Out {
                flags,
                status: 0,
                meta: Some(meta),
                encoded_meta: Bytes::new(),
                body: message.data,
            };
            if call.queued.is_empty() && call.send_credit > 0 {
                // The usual case: straight out, without the queue.
                call.send_credit -= out.body.len() as i64 + MESSAGE_OVERHEAD;
                out.encode(kind, id, &mut self.out);
            } else {
                call.queued.push_back(out);
            }
        }
        self.dirty.push(id);
    }

    /// Writes the queued frames of every call touched since the last
    /// flush, so frames that a batch of commands makes together (a reply
    /// and its status) merge and leave in one write.
    pub(super) fn flush(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for id in dirty.drain(..) {
            self.pump(id);
        }
        self.dirty = dirty;
    }

    /// Writes a call's queued frames while it has credit.
    pub(super) fn pump(&mut self, id: u32) {
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
            out.encode(kind, id, &mut self.out);
        }
        if call.send_credit > 0
            && call.queued.is_empty()
            && let Some(ready) = call.ready.take()
        {
            let _ = ready.send(());
        }
        if self.side == Side::Client && call.one_way && call.sent_end && call.queued.is_empty() {
            // A one-way request is out: the call is over for the client.
            let mut fields = response_start(1);
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

    pub(super) fn trailers(&mut self, id: StreamId, trailers: &[HeaderField]) {
        self.finish(id.as_u32(), trailers);
    }

    /// Server: ends a call with the status in `fields`, on its last queued
    /// message when there is one.
    pub(super) fn finish(&mut self, id: u32, fields: &[HeaderField]) {
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

    pub(super) fn reset(&mut self, id: StreamId, reason: Reason) {
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

    pub(super) fn release(&mut self, id: StreamId, n: usize) {
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

    pub(super) fn shutdown(&mut self) {
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
}

/// Why a call's outgoing message cannot be sent: `len` bytes over the
/// peer's limit, or (`len` 0) not a well-framed message.
fn unsendable(len: usize, peer_max: usize) -> grpc::Status {
    if len > 0 {
        grpc::Status::new(
            grpc::Code::ResourceExhausted,
            format!("message of {len} bytes exceeds the peer's limit of {peer_max}"),
        )
    } else {
        grpc::Status::new(grpc::Code::Internal, "malformed outgoing message framing")
    }
}
