//! Frames from the peer: the handshake, new calls, messages, statuses,
//! credit, heartbeats and GOAWAY, turned into the calls' `StreamEvent`s.

use std::sync::atomic::Ordering;

use bytes::{BufMut, Bytes, BytesMut};
use ferry_wire::conn::OpenError;
use ferry_wire::grpc::{self, Metadata, RequestError, RequestHead, ResponseHead};
use ferry_wire::native::{Flags, Frame, Kind, Meta, NativeError, Setting};
use ferry_wire::{ConnectionError, HeaderField, Reason, StreamError, StreamId};
use tokio::sync::oneshot;

use super::metadata::{header_fields, request_head, response_start, trailer_fields};
use super::{COPY_LIMIT, Call, Drain, Driver, MESSAGE_OVERHEAD, Peer, Side};
use crate::driver::{Command, Incoming, Reply, RequestStart, StreamEvent};
use crate::events;

impl Driver {
    pub(super) fn input(&mut self, inbuf: &mut BytesMut) {
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

    pub(super) fn protocol_error(&mut self, detail: &str) {
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

    pub(super) fn frame(&mut self, frame: Frame) {
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

    pub(super) fn hello(&mut self, frame: &Frame) {
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

    pub(super) fn open_pending(&mut self) {
        while self.calls.len() < self.peer.max_calls as usize {
            let Some(Command::Open {
                head,
                body,
                end_stream,
                events,
                reply,
            }) = self.pending_opens.pop_front()
            else {
                break;
            };
            self.open(head, body, end_stream, events, reply);
        }
    }

    pub(super) fn request(&mut self, frame: Frame) {
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
        let head = match self.request_head_of(&frame.meta) {
            Ok(head) => head,
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
        let start = RequestStart::Head(head.map(Box::new));
        let (tx, rx) = events::channel();
        let (cancel_tx, cancel_rx) = oneshot::channel();
        let mut call = Call::new(tx, self.peer.initial_credit);
        call.cancel = Some(cancel_tx);
        call.one_way = frame.has(Flags::ONE_WAY);
        let ends = frame.has(Flags::END_STREAM);
        let has_message = frame.has(Flags::MESSAGE);
        // A unary request (its one message and the end in this frame) goes
        // to the call whole, with no events and no re-framing.
        let message = (ends && has_message).then(|| grpc::Message {
            compressed: frame.has(Flags::COMPRESSED),
            data: frame.body.clone(),
        });
        let incoming = Incoming {
            id: StreamId::new(id),
            start,
            end_stream: ends,
            message,
            events: rx,
            cancelled: cancel_rx,
            handle: handle.clone(),
        };
        if ends {
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

    /// The request head a REQUEST's metadata section gives (or why the
    /// head is invalid); `Err` when the section does not decode. A section
    /// that repeats the last cacheable one after its leading timeout reuses
    /// that one's head: calls to one method decode their section once.
    fn request_head_of(
        &mut self,
        section: &[u8],
    ) -> Result<Result<RequestHead, RequestError>, NativeError> {
        let (timeout, rest) = match Meta::split_leading_timeout(section) {
            Some((timeout, rest)) => (Some(timeout), rest),
            None => (None, section),
        };
        if let Some((raw, head)) = &self.head_cache
            && raw[..] == *rest
        {
            let mut head = head.clone();
            head.set_timeout(timeout);
            return Ok(Ok(head));
        }
        let meta = Meta::decode(section)?;
        // Application metadata differs call to call: not worth keeping.
        let cacheable = meta.headers.is_empty() && meta.implementation.is_none();
        let head = request_head(meta);
        if cacheable
            && let Ok(head) = &head
            // No timeout inside the rest, so the rest alone gives this head
            // without one.
            && head.timeout() == timeout
        {
            let mut cached = head.clone();
            cached.set_timeout(None);
            self.head_cache = Some((Bytes::copy_from_slice(rest), cached));
        }
        Ok(head)
    }

    /// Ends a call the server will not run.
    pub(super) fn refuse(&mut self, id: u32, code: grpc::Code, message: &str, refused: bool) {
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

    pub(super) fn cancelled(&mut self, id: u64) {
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

    pub(super) fn response(&mut self, frame: Frame) {
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
        if !call.heard
            && ends
            && let Some(reply) = whole_reply(&frame, &meta)
        {
            // The usual unary answer: one typed event.
            call.heard = true;
            call.recv_end = true;
            let _ = call.events.send(StreamEvent::Reply(Box::new(reply)));
            self.finish_client_call(id);
            return;
        }
        if !call.heard {
            call.heard = true;
            if ends && !frame.has(Flags::MESSAGE) {
                // Trailers-only.
                let trailers = trailer_fields(&frame, &meta);
                let mut headers = response_start(trailers.len());
                headers.extend(trailers);
                call.recv_end = true;
                let _ = call.events.send(StreamEvent::Headers {
                    headers,
                    end_stream: true,
                });
                self.finish_client_call(id);
                return;
            }
            let mut headers = response_start(1 + meta.headers.len());
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
            deliver_message(call, &frame, false);
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
    pub(super) fn finish_client_call(&mut self, id: u32) {
        if let Some(call) = self.calls.remove(&id)
            && !call.sent_end
        {
            self.write(Frame::new(Kind::Cancel, u64::from(id)));
        }
        self.open_pending();
    }

    pub(super) fn forget_if_done(&mut self, id: u32) {
        if self.calls.get(&id).is_some_and(Call::done) {
            self.calls.remove(&id);
        }
    }

    pub(super) fn goaway(&mut self, frame: &Frame) {
        self.shared.draining.store(true, Ordering::Release);
        let Ok(last) = frame.goaway_last_id() else {
            return self.protocol_error("malformed GOAWAY");
        };
        if self.side == Side::Server {
            // A client going away: it opens nothing more.
            return;
        }
        for cmd in std::mem::take(&mut self.pending_opens) {
            if let Command::Open { reply, events, .. } = cmd {
                reply.send(&events, Err(OpenError::GoingAway));
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
}

/// A RESPONSE frame that is a whole answer — one message of at most
/// [`COPY_LIMIT`] bytes and an OK status — as one typed event; `None` for
/// anything else, which goes the general way (headers, data, trailers).
fn whole_reply(frame: &Frame, meta: &Meta) -> Option<Reply> {
    if !frame.has(Flags::MESSAGE)
        || frame.status != 0
        || frame.has(Flags::FRAMEWORK_ERROR)
        || frame.body.len() > COPY_LIMIT
        || meta.status_details.is_some()
        || meta
            .trailers
            .iter()
            .any(|(key, _)| key == "grpc-status-details-bin")
    {
        return None;
    }
    // As the header lists would have been decoded (invalid metadata fails
    // the call there, with the reason).
    let metadata = |pairs: &[(String, Bytes)]| {
        if pairs.is_empty() {
            return Some(Metadata::new());
        }
        Metadata::decode(&header_fields(pairs).collect::<Vec<_>>()).ok()
    };
    let mut head = ResponseHead::new().with_metadata(metadata(&meta.headers)?);
    if let Some(encoding) = &meta.encoding {
        head = head.with_encoding(encoding.clone());
    }
    let message = meta.status_message.clone().unwrap_or_default();
    Some(Reply {
        head,
        message: grpc::Message {
            compressed: frame.has(Flags::COMPRESSED),
            data: frame.body.clone(),
        },
        status: grpc::Status::new(grpc::Code::Ok, message),
        trailers: metadata(&meta.trailers)?,
    })
}

/// A frame's body behind its 5-byte gRPC message prefix, in one buffer.
fn framed(frame: &Frame) -> Bytes {
    let mut data = BytesMut::with_capacity(grpc::MESSAGE_HEADER_LEN + frame.body.len());
    data.put_slice(&prefix(frame));
    data.put_slice(&frame.body);
    data.freeze()
}

/// The gRPC message prefix of a frame's body (a frame's body length
/// always fits the prefix's 32 bits: the frame header's does too).
fn prefix(frame: &Frame) -> [u8; grpc::MESSAGE_HEADER_LEN] {
    let compressed = frame.has(Flags::COMPRESSED);
    grpc::message_header(compressed, frame.body.len()).unwrap_or([
        u8::from(compressed),
        0xff,
        0xff,
        0xff,
        0xff,
    ])
}

/// Hands a REQUEST frame's message (and end) to its server call.
pub(super) fn deliver(call: &mut Call, frame: &Frame) {
    let ends = frame.has(Flags::END_STREAM);
    if ends {
        call.recv_end = true;
    }
    if frame.has(Flags::MESSAGE) {
        deliver_message(call, frame, ends);
    } else if ends {
        let _ = call.events.send(StreamEvent::Data {
            data: Bytes::new(),
            end_stream: true,
        });
    }
}

/// Hands one message to its call in the runtime's gRPC framing; `ends`
/// marks its last event as the end of the stream (a request's END_STREAM
/// travels with its message: one event, not two).
pub(super) fn deliver_message(call: &mut Call, frame: &Frame, ends: bool) {
    let body = &frame.body;
    call.outstanding += body.len() as i64 + MESSAGE_OVERHEAD;
    if body.len() <= COPY_LIMIT {
        let _ = call.events.send(StreamEvent::Data {
            data: framed(frame),
            end_stream: ends,
        });
    } else {
        let _ = call.events.send(StreamEvent::Data {
            data: Bytes::copy_from_slice(&prefix(frame)),
            end_stream: false,
        });
        let _ = call.events.send(StreamEvent::Data {
            data: body.clone(),
            end_stream: ends,
        });
    }
}
