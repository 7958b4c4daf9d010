//! The two halves of a call's stream, shared by client and server:
//! [`Streaming`] receives and decodes messages, `SendStream` frames and sends
//! them with backpressure.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use ferry_wire::grpc::{self, MessageDecoder, Metadata, ResponseHead, ResponseStart, Trailers};

use crate::compression::{Encoding, EncodingSet, decompress};
use ferry_wire::conn::OpenError;
use ferry_wire::{ConnectionError, HeaderField, Initiator, Reason, StreamError, StreamId};
use futures_core::Stream;
use tokio::sync::oneshot;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::client::{Attempt, Pump};
use crate::codec::EncodeBuf;
use crate::driver::{Command, Handle, Reply, StreamEvent};
use crate::events::{EventReceiver, OpenId};
use crate::framed::{FrameBufs, Framed, frame_message};
use crate::server::BoxFuture;
use crate::status::{Delivery, Status};

/// Which end of a call this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// The detail the wire core gives a stream the peer reset itself (as
/// opposed to one we reset because the peer broke a rule on it).
const PEER_RESET_DETAIL: &str = "stream reset by peer";

/// A stream the driver could not open: nothing was sent, so the call may
/// be tried again on another connection.
fn not_opened_status(error: &OpenError) -> Status {
    let status = match error {
        OpenError::GoingAway | OpenError::Closed | OpenError::IdsExhausted => {
            Status::unavailable(format!("could not open a stream: {error}"))
        }
        _ => Status::internal(error.to_string()),
    };
    status.with_delivery(Delivery::NotSent)
}

/// Status for a stream that the peer reset or that failed locally.
pub(crate) fn reset_status(error: &StreamError, side: Side) -> Status {
    let status = grpc::Status::from_reset(error.reason);
    // The code follows the RST_STREAM code either way; the message says who
    // reset the stream and why, so a limit we enforced (a header list over
    // our limit) does not read as the peer's doing.
    let status = if error.detail == PEER_RESET_DETAIL || error.reason == Reason::REFUSED_STREAM {
        Status::from(status)
    } else {
        Status::new(
            status.code(),
            format!("stream reset ({}): {}", error.reason, error.detail),
        )
    };
    match (side, error.reason) {
        (Side::Client, Reason::REFUSED_STREAM) => status.with_delivery(Delivery::Refused),
        (Side::Client, _) => status.with_delivery(Delivery::Unknown),
        (Side::Server, _) => status,
    }
}

/// Status for a call whose connection ended under it.
pub(crate) fn closed_status(error: &ConnectionError) -> Status {
    let status = match error.initiator {
        Initiator::User => Status::cancelled(format!("connection closed: {}", error.detail)),
        _ => Status::unavailable(format!("connection lost: {error}")),
    };
    status.with_delivery(Delivery::Unknown)
}

/// Cancels the stream when dropped before it finished: no work continues
/// for a caller who left, and no peer waits for a call that is gone.
#[derive(Debug)]
pub(crate) struct StreamGuard {
    pub(crate) id: StreamId,
    pub(crate) handle: Handle,
    pub(crate) finished: bool,
    /// For a call that did not wait to hear its id (`id` is zero until
    /// then): where the driver puts it.
    pub(crate) open: Option<OpenId>,
}

impl StreamGuard {
    pub(crate) fn new(id: StreamId, handle: Handle) -> StreamGuard {
        StreamGuard {
            id,
            handle,
            finished: false,
            open: None,
        }
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let id = match &self.open {
            // Not opened yet: it now never will be, and nothing was sent.
            Some(open) if self.id == StreamId::ZERO => match open.abandon() {
                Some(id) => id,
                None => return,
            },
            _ => self.id,
        };
        self.handle.send(Command::Reset {
            id,
            reason: Reason::CANCEL,
        });
    }
}

/// The receiving half of a stream, as raw messages.
pub(crate) struct RecvStream {
    pub(crate) id: StreamId,
    pub(crate) handle: Handle,
    events: EventReceiver,
    decoder: MessageDecoder,
    max_message_size: usize,
    /// How compressed messages are decompressed (set from `grpc-encoding`).
    pub(crate) encoding: Encoding,
    /// Client: the encodings we told the server we accept.
    pub(crate) accept: EncodingSet,
    side: Side,
    /// Client: the response headers arrived.
    headers_seen: bool,
    /// Response headers (client side), for the caller's metadata.
    pub(crate) headers: Option<Metadata>,
    pushed: u64,
    released: u64,
    expected: Option<usize>,
    /// An `Expect` raised the stream's window past its target.
    window_opened: bool,
    /// The connection's initial stream receive window: a message that fits
    /// it never needs the window opened ahead (windows only grow from it).
    pub(crate) initial_window: usize,
    /// The peer finished sending (END_STREAM seen).
    ended: bool,
    /// Set once the stream is over: OK or the error, given to the caller
    /// once.
    outcome: Option<Status>,
    outcome_taken: bool,
    /// The compressed flag of the last message handed out.
    pub(crate) last_compressed: bool,
    /// A message that arrived whole (a unary reply, or a request handed
    /// over with its head), handed out before anything in the decoder.
    whole: Option<grpc::Message>,
}

impl fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvStream")
            .field("id", &self.id)
            .field("ended", &self.ended)
            .finish()
    }
}

impl RecvStream {
    pub(crate) fn new(
        id: StreamId,
        handle: Handle,
        events: EventReceiver,
        max_message_size: usize,
        side: Side,
        ended: bool,
    ) -> RecvStream {
        RecvStream {
            id,
            handle,
            events,
            decoder: MessageDecoder::with_max_message_size(max_message_size),
            max_message_size,
            encoding: Encoding::Identity,
            accept: EncodingSet::all(),
            side,
            headers_seen: side == Side::Server,
            headers: None,
            pushed: 0,
            released: 0,
            expected: None,
            window_opened: false,
            initial_window: 65_535,
            ended,
            outcome: if ended && side == Side::Server {
                Some(Status::ok())
            } else {
                None
            },
            outcome_taken: false,
            last_compressed: false,
            whole: None,
        }
    }

    /// The next raw message, `Ok(None)` at a clean end, or the error that
    /// ended the stream. After the end every call returns `Ok(None)`.
    pub(crate) fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, Status>> {
        if self.outcome_taken {
            // The end was reported (a clean end, or the one error): nothing
            // more comes, even if the decoder still holds bytes or an error.
            return Poll::Ready(Ok(None));
        }
        loop {
            if let Some(message) = self.whole.take() {
                return Poll::Ready(match self.open_whole(message) {
                    Ok(data) => Ok(Some(data)),
                    Err(status) => Err(self.fail(status)),
                });
            }
            match self.decoder.next_message() {
                Ok(Some(msg)) => {
                    self.release_consumed();
                    // The length prefix was checked against the limit.
                    return Poll::Ready(match self.open_message(msg) {
                        Ok(data) => Ok(Some(data)),
                        Err(status) => Err(self.fail(status)),
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    let status = Status::from(e.to_status());
                    return Poll::Ready(Err(self.fail(status)));
                }
            }
            if let Some(len) = self.decoder.pending_len() {
                if self.expected != Some(len) {
                    self.expected = Some(len);
                    // Only messages larger than the smallest window need it
                    // opened ahead; the next message after one of those
                    // takes the extra window back. Small messages cost no
                    // command at all.
                    let framed = len + grpc::MESSAGE_HEADER_LEN;
                    let large = framed > self.initial_window;
                    if (large || self.window_opened)
                        && let Some(id) = self.stream_id()
                    {
                        self.window_opened = large;
                        self.handle.send(Command::Expect { id, len: framed });
                    }
                }
            }
            if let Some(outcome) = self.finish_if_done() {
                return Poll::Ready(outcome);
            }
            let Some(event) = ready!(self.events.poll_recv(cx)) else {
                // The driver is gone without telling us: the connection
                // died (before the stream was opened, nothing was sent).
                let delivery = match self.stream_id() {
                    Some(_) => Delivery::Unknown,
                    None => Delivery::NotSent,
                };
                let status = Status::unavailable("connection lost").with_delivery(delivery);
                return Poll::Ready(Err(self.fail(status)));
            };
            self.on_event(event);
        }
    }

    /// Once the peer has ended and every message was taken: the outcome.
    fn finish_if_done(&mut self) -> Option<Result<Option<Bytes>, Status>> {
        if self.outcome.is_none() && self.ended {
            self.outcome = Some(match self.decoder.finish() {
                Ok(()) => Status::ok(),
                Err(e) => Status::from(e.to_status()),
            });
        }
        let outcome = self.outcome.as_ref()?;
        if self.outcome_taken || outcome.is_ok() {
            self.outcome_taken = true;
            return Some(Ok(None));
        }
        self.outcome_taken = true;
        Some(Err(outcome.clone()))
    }

    /// Queues a whole request (see [`whole`](RecvStream::whole)) for
    /// `poll_message`, for a handler that reads the request as a stream.
    pub(crate) fn push_whole(&mut self, message: grpc::Message) {
        self.whole = Some(message);
    }

    /// A whole request handed over with its head (no events follow):
    /// checked against the receive limit and decompressed as
    /// `poll_message` does with a message from the stream.
    pub(crate) fn whole(&mut self, message: grpc::Message) -> Result<Bytes, Status> {
        self.ended = true;
        self.open_whole(message)
    }

    /// A message that arrived whole: checked against the receive limit (as
    /// the decoder checks a prefix), then opened.
    fn open_whole(&mut self, message: grpc::Message) -> Result<Bytes, Status> {
        let len = message.data.len();
        if len > self.max_message_size {
            let error = grpc::DecodeError::TooLarge {
                len,
                max: self.max_message_size,
            };
            self.last_compressed = message.compressed;
            return Err(Status::from(error.to_status()));
        }
        self.open_message(message)
    }

    /// A received message's bytes, decompressed when its flag says so (the
    /// decompressed size is checked while decompressing); notes the flag.
    fn open_message(&mut self, message: grpc::Message) -> Result<Bytes, Status> {
        self.last_compressed = message.compressed;
        if !message.compressed {
            return Ok(message.data);
        }
        let mut out = BytesMut::new();
        decompress(
            self.encoding,
            &message.data,
            self.max_message_size,
            &mut out,
        )
        .map(|()| out.freeze())
        .map_err(|e| Status::from(e.to_status()))
    }

    /// Ends the stream locally with `status`. A client abandons the call
    /// (RST_STREAM CANCEL); a server's handler answers with the status
    /// instead, through its response.
    pub(crate) fn fail(&mut self, status: Status) -> Status {
        if self.outcome.is_none() {
            self.outcome = Some(status.clone());
            self.outcome_taken = true;
            if self.side == Side::Client
                && let Some(id) = self.stream_id()
            {
                self.handle.send(Command::Reset {
                    id,
                    reason: Reason::CANCEL,
                });
            }
        }
        status
    }

    /// The stream's id: known from the start, or, for a client call that
    /// did not wait to hear it, once the driver has opened the stream
    /// (always so once anything of the response arrived).
    fn stream_id(&mut self) -> Option<StreamId> {
        if self.id == StreamId::ZERO {
            self.id = self.events.opened_id()?;
        }
        Some(self.id)
    }

    fn on_event(&mut self, event: StreamEvent) {
        if self.outcome.is_some() && self.ended {
            // The call is over (for example Trailers-Only then RST_STREAM):
            // the first outcome stands.
            return;
        }
        match event {
            StreamEvent::Headers {
                headers,
                end_stream,
            } => self.on_headers(&headers, end_stream),
            StreamEvent::Data { data, end_stream } => {
                if !self.headers_seen {
                    self.outcome = Some(Status::internal("DATA before response headers"));
                    return;
                }
                self.pushed += data.len() as u64;
                self.decoder.push(data);
                if end_stream {
                    self.ended = true;
                    if self.side == Side::Client {
                        self.outcome =
                            Some(Status::internal("server ended the stream without trailers"));
                    }
                }
            }
            StreamEvent::Trailers(trailers) => {
                self.ended = true;
                if self.side == Side::Client {
                    let (status, metadata) = Trailers::decode(&trailers).into_parts();
                    self.outcome = Some(Status::from_wire(status, metadata));
                }
            }
            StreamEvent::Reply(reply) => {
                let Reply {
                    head,
                    message,
                    status,
                    trailers,
                } = *reply;
                if !self.on_head(head) {
                    // Refused by its encoding: that status stands.
                    return;
                }
                self.whole = Some(message);
                self.ended = true;
                self.outcome = Some(Status::from_wire(status, trailers));
            }
            StreamEvent::NotOpened(error) => {
                self.ended = true;
                self.outcome = Some(not_opened_status(&error));
            }
            StreamEvent::Reset(error) => {
                self.ended = true;
                self.outcome = Some(reset_status(&error, self.side));
            }
            StreamEvent::Closed(error) => {
                self.ended = true;
                self.outcome = Some(closed_status(&error));
            }
        }
    }

    fn on_headers(&mut self, headers: &[HeaderField], end_stream: bool) {
        match ResponseStart::decode(headers, end_stream) {
            Ok(ResponseStart::Headers(head)) => {
                if !self.on_head(head) {
                    return;
                }
            }
            Ok(ResponseStart::TrailersOnly(trailers)) => {
                self.headers_seen = true;
                self.ended = true;
                let (status, metadata) = trailers.into_parts();
                self.outcome = Some(Status::from_wire(status, metadata));
            }
            Ok(ResponseStart::Informational) => {}
            Err(status) => {
                self.ended = true;
                self.outcome = Some(Status::from(status));
            }
        }
        if end_stream {
            self.ended = true;
        }
    }

    /// The response head arrived. False (and the call over) when its
    /// encoding is not one we accept.
    fn on_head(&mut self, head: ResponseHead) -> bool {
        self.headers_seen = true;
        match self
            .accept
            .recv_encoding(head.encoding().map(str::as_bytes))
        {
            Ok(encoding) => self.encoding = encoding,
            Err(e) => {
                self.ended = true;
                self.outcome = Some(Status::from(e.to_status()));
                return false;
            }
        }
        self.headers = Some(head.into_metadata());
        true
    }

    /// Gives the bytes of messages already handed out back to the peer.
    fn release_consumed(&mut self) {
        let consumed = self.pushed - self.decoder.buffered_len() as u64;
        if consumed > self.released {
            let n = (consumed - self.released) as usize;
            self.released = consumed;
            if let Some(id) = self.stream_id() {
                self.handle.send(Command::Release { id, n });
            }
        }
    }

    /// Waits for the response headers (client side). Returns their
    /// metadata, or the status if the call ended without any.
    pub(crate) async fn response_headers(&mut self) -> Result<Metadata, Status> {
        std::future::poll_fn(|cx| {
            loop {
                if let Some(headers) = self.headers.take() {
                    return Poll::Ready(Ok(headers));
                }
                if let Some(outcome) = &self.outcome {
                    if !outcome.is_ok() {
                        self.outcome_taken = true;
                        return Poll::Ready(Err(outcome.clone()));
                    }
                    return Poll::Ready(Ok(Metadata::new()));
                }
                let Some(event) = ready!(self.events.poll_recv(cx)) else {
                    return Poll::Ready(Err(
                        Status::unavailable("connection lost").with_delivery(Delivery::Unknown)
                    ));
                };
                self.on_event(event);
            }
        })
        .await
    }

    /// The trailing status once the stream is over (client side).
    pub(crate) fn outcome(&self) -> Option<&Status> {
        self.outcome.as_ref()
    }

    pub(crate) fn is_done(&self) -> bool {
        self.outcome.is_some() && self.outcome_taken
    }
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        if self.side == Side::Server && !self.ended {
            self.handle.send(Command::StopReceiving { id: self.id });
        }
    }
}

/// A stream of received messages: responses on a client, requests on a
/// server. It yields each message once and then the end exactly once:
/// `None` after a clean end, or one `Err` with the status that ended the
/// stream.
pub struct Streaming<T> {
    recv: RecvStream,
    decode: Arc<dyn Fn(Bytes) -> Result<T, Status> + Send + Sync>,
    guard: Option<StreamGuard>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Client calls: `Request::with_cancellation`'s token, being waited on.
    cancellation: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    /// Client bidi calls: the task feeding requests lives as long as this.
    pump: Option<Pump>,
    /// Client bidi calls: a refused call being run again on a new stream.
    /// In a mutex only so that `Streaming` stays `Sync`; never contended.
    retrying: Option<(std::sync::Mutex<Retrying>, Status)>,
}

type Retrying = BoxFuture<Option<Result<Attempt, Status>>>;

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming")
            .field("stream", &self.recv.id)
            .finish()
    }
}

impl<T> Streaming<T> {
    pub(crate) fn new(
        recv: RecvStream,
        decode: Arc<dyn Fn(Bytes) -> Result<T, Status> + Send + Sync>,
        guard: Option<StreamGuard>,
    ) -> Streaming<T> {
        Streaming {
            recv,
            decode,
            guard,
            deadline: None,
            cancellation: None,
            pump: None,
            retrying: None,
        }
    }

    /// Fails the stream with DEADLINE_EXCEEDED once `deadline` passes.
    pub(crate) fn with_deadline(mut self, deadline: Option<tokio::time::Instant>) -> Streaming<T> {
        self.deadline = deadline.map(|d| Box::pin(tokio::time::sleep_until(d)));
        self
    }

    /// Cancels the call (as [`Streaming::cancel`]) once `token` is
    /// cancelled.
    pub(crate) fn with_cancellation(mut self, token: Option<CancellationToken>) -> Streaming<T> {
        self.cancellation = token.map(|t| Box::pin(t.cancelled_owned()));
        self
    }

    pub(crate) fn with_pump(mut self, pump: Pump) -> Streaming<T> {
        self.pump = Some(pump);
        self
    }

    /// Client bidi calls: when the stream was refused unprocessed and the
    /// pump can give the request stream back, starts running the call again.
    fn start_retry(&mut self, status: &Status) -> bool {
        if status.delivery() != Delivery::Refused {
            return false;
        }
        let Some(retry) = self.pump.as_mut().and_then(Pump::retry) else {
            return false;
        };
        if let Some(guard) = self.guard.as_mut() {
            guard.finished = true;
        }
        self.retrying = Some((std::sync::Mutex::new(retry), status.clone()));
        true
    }

    /// Polls a retry started by `start_retry` (ready at once without one);
    /// `Err` is the status the call ends with: the refusal when the request
    /// stream could not be replayed.
    fn poll_retry(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        let Some((retrying, _)) = self.retrying.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        let future = retrying.get_mut().unwrap_or_else(|e| e.into_inner());
        let outcome = ready!(future.as_mut().poll(cx));
        let Some((_, refused)) = self.retrying.take() else {
            return Poll::Ready(Ok(()));
        };
        match outcome {
            Some(Ok(attempt)) => {
                self.recv = attempt.recv;
                self.guard = Some(attempt.guard);
                self.pump = Some(attempt.pump);
                Poll::Ready(Ok(()))
            }
            Some(Err(status)) => Poll::Ready(Err(status)),
            None => Poll::Ready(Err(refused)),
        }
    }

    /// The next message; `Ok(None)` once the stream ended cleanly.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        std::future::poll_fn(|cx| self.poll_next_message(cx)).await
    }

    fn poll_next_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>, Status>> {
        if let Some(cancellation) = self.cancellation.as_mut() {
            if (!self.recv.is_done() || self.retrying.is_some())
                && cancellation.as_mut().poll(cx).is_ready()
            {
                self.cancellation = None;
                return Poll::Ready(Err(self.cancel()));
            }
        }
        if let Some(deadline) = self.deadline.as_mut() {
            if (!self.recv.is_done() || self.retrying.is_some())
                && deadline.as_mut().poll(cx).is_ready()
            {
                self.deadline = None;
                self.retrying = None;
                let status =
                    Status::deadline_exceeded("deadline exceeded").with_delivery(Delivery::Unknown);
                let status = self.recv.fail(status);
                return Poll::Ready(Err(status));
            }
        }
        let polled = loop {
            if let Err(status) = ready!(self.poll_retry(cx)) {
                return Poll::Ready(Err(status));
            }
            match ready!(self.recv.poll_message(cx)) {
                Err(status) if self.start_retry(&status) => {}
                polled => break polled,
            }
        };
        let result = match polled {
            Ok(Some(bytes)) => match (self.decode)(bytes) {
                Ok(msg) => Ok(Some(msg)),
                Err(status) => Err(self.recv.fail(status)),
            },
            Ok(None) => Ok(None),
            Err(status) => Err(status),
        };
        if self.recv.is_done() {
            if let Some(guard) = self.guard.as_mut() {
                guard.finished = true;
            }
        }
        Poll::Ready(result)
    }

    /// Client side: waits for the response headers and returns their
    /// metadata (for bidirectional calls, whose `Response` comes back before
    /// the headers do). Messages that arrive meanwhile are kept for
    /// [`Streaming::message`]; a call that fails first returns its status.
    pub async fn response_headers(&mut self) -> Result<Metadata, Status> {
        loop {
            std::future::poll_fn(|cx| self.poll_retry(cx)).await?;
            match self.recv.response_headers().await {
                Err(status) if self.start_retry(&status) => {}
                result => return result,
            }
        }
    }

    /// Client side: cancels the call, as dropping it would, but with a
    /// status to show for it. If the call is still running the server is
    /// told (RST_STREAM CANCEL), the task sending requests stops, and the
    /// stream ends: this returns CANCELLED and the stream yields nothing
    /// more. A call that had already ended keeps its outcome, which this
    /// returns (OK after a clean end).
    pub fn cancel(&mut self) -> Status {
        self.retrying = None;
        self.pump = None;
        if let Some(guard) = self.guard.as_mut() {
            guard.finished = true;
        }
        if let Some(outcome) = self.recv.outcome() {
            return outcome.clone();
        }
        self.recv.fail(crate::client::cancelled_by_client())
    }

    /// Whether the last message this stream yielded arrived compressed
    /// (the compressed flag of its length prefix was set); false before
    /// the first message. A server uses it to check what a client sent, a
    /// client to see what the server chose, message by message.
    pub fn last_message_compressed(&self) -> bool {
        self.recv.last_compressed
    }

    /// Client side: the trailing metadata, once the stream has ended.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.recv.outcome().map(Status::metadata)
    }
}

impl<T> Stream for Streaming<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.recv.is_done() && this.recv.outcome().is_some_and(Status::is_ok) {
            return Poll::Ready(None);
        }
        let was_done = this.recv.is_done() && this.retrying.is_none();
        match ready!(this.poll_next_message(cx)) {
            Ok(Some(msg)) => Poll::Ready(Some(Ok(msg))),
            Ok(None) => Poll::Ready(None),
            Err(_) if was_done => Poll::Ready(None),
            Err(status) => Poll::Ready(Some(Err(status))),
        }
    }
}

/// The sending half of a stream: frames messages and waits for room.
#[derive(Debug)]
pub(crate) struct SendStream {
    pub(crate) id: StreamId,
    pub(crate) handle: Handle,
    bufs: FrameBufs,
    /// How messages are compressed (identity: not at all).
    pub(crate) encoding: Encoding,
    /// Smaller messages go uncompressed even when `encoding` is set.
    pub(crate) min_compress_size: usize,
}

impl SendStream {
    pub(crate) fn new(id: StreamId, handle: Handle) -> SendStream {
        SendStream {
            id,
            handle,
            bufs: FrameBufs::default(),
            encoding: Encoding::Identity,
            min_compress_size: 0,
        }
    }

    /// Encodes one message behind its prefix (before any await, so the
    /// message need not be `Sync`), compressed unless `compress` is false
    /// or the message is too small to gain from it; large `Bytes` of an
    /// uncompressed message are kept by reference.
    pub(crate) fn frame(
        &mut self,
        compress: bool,
        size_hint: Option<usize>,
        encode: impl FnOnce(&mut EncodeBuf<'_>) -> Result<(), Status>,
    ) -> Result<Framed, Status> {
        frame_message(
            self.encoding,
            compress,
            self.min_compress_size,
            &mut self.bufs,
            true,
            size_hint,
            encode,
        )
    }

    /// [`frame`](SendStream::frame) for the stream's last message.
    pub(crate) fn frame_last(
        &mut self,
        compress: bool,
        size_hint: Option<usize>,
        encode: impl FnOnce(&mut EncodeBuf<'_>) -> Result<(), Status>,
    ) -> Result<Framed, Status> {
        self.bufs.set_last();
        self.frame(compress, size_hint, encode)
    }

    /// Queues one framed message, then waits until the stream can take
    /// more (backpressure). An error means the stream is gone; the
    /// receiving half says why.
    pub(crate) async fn send(&mut self, data: Framed, end_stream: bool) -> Result<(), Status> {
        let (ready_tx, ready_rx) = oneshot::channel();
        let ready = (!end_stream).then_some(ready_tx);
        if !self.handle.send(Command::Data {
            id: self.id,
            data,
            end_stream,
            ready,
        }) {
            return Err(Status::unavailable("connection lost").with_delivery(Delivery::Unknown));
        }
        if !end_stream && ready_rx.await.is_err() {
            return Err(Status::cancelled("stream closed").with_delivery(Delivery::Unknown));
        }
        Ok(())
    }

    /// Queues a call's last message without waiting for room: its status
    /// follows at once, so the driver holds at most this one message beyond
    /// the window, and message and status can leave in one write.
    pub(crate) fn send_last(&mut self, data: Framed) -> Result<(), Status> {
        if !self.handle.send(Command::Data {
            id: self.id,
            data,
            end_stream: false,
            ready: None,
        }) {
            return Err(Status::unavailable("connection lost").with_delivery(Delivery::Unknown));
        }
        Ok(())
    }

    /// Ends our side without a message.
    pub(crate) fn finish(&mut self) {
        self.handle.send(Command::Data {
            id: self.id,
            data: Framed::empty(),
            end_stream: true,
            ready: None,
        });
    }
}
