//! Types that generated stubs use in their signatures: [`IntoRequest`] for
//! client methods that take a bare message or a [`Request`],
//! [`IntoStreamingRequest`] for those that take a stream, and
//! [`ResponseStream`] for the replies of server-streaming and bidirectional
//! handlers.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::message::IntoOutbound;
use crate::{Outbound, Request, Status};

/// Anything a generated client method accepts as its request: a bare
/// message (or request stream), or a [`Request`] carrying per-call options
/// (timeout, metadata, compression, wait-for-ready).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a request for `{T}`",
    label = "expected `{T}` or `ferry::Request<{T}>`"
)]
pub trait IntoRequest<T> {
    /// Wraps `self` in a [`Request`] (a `Request` is returned as it is).
    fn into_request(self) -> Request<T>;
}

impl<T> IntoRequest<T> for T {
    fn into_request(self) -> Request<T> {
        Request::new(self)
    }
}

impl<T> IntoRequest<T> for Request<T> {
    fn into_request(self) -> Request<T> {
        self
    }
}

/// What a generated client-streaming or bidirectional method accepts: a
/// stream of request messages `T` (or of [`Outbound<T>`](Outbound)s, to
/// choose compression per message), or a [`Request`] around one carrying
/// per-call options.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a stream of requests",
    label = "expected a `Stream` of request messages, or a `ferry::Request` around one"
)]
pub trait IntoStreamingRequest<T> {
    /// The stream of request messages.
    type Stream: Stream<Item = Self::Message> + Send + 'static;
    /// One request message: `T` or `Outbound<T>`.
    type Message: IntoOutbound<T>;

    /// Wraps `self` in a [`Request`] (a `Request` is returned as it is).
    fn into_streaming_request(self) -> Request<Self::Stream>;
}

impl<T, S> IntoStreamingRequest<T> for S
where
    S: Stream + Send + 'static,
    S::Item: IntoOutbound<T>,
{
    type Stream = S;
    type Message = S::Item;

    fn into_streaming_request(self) -> Request<S> {
        Request::new(self)
    }
}

impl<T, S> IntoStreamingRequest<T> for Request<S>
where
    S: Stream + Send + 'static,
    S::Item: IntoOutbound<T>,
{
    type Stream = S;
    type Message = S::Item;

    fn into_streaming_request(self) -> Request<S> {
        self
    }
}

/// The replies of a server-streaming or bidirectional handler: any stream of
/// `Result<T, Status>` (or of `Result<Outbound<T>, Status>`, to choose
/// compression per message), boxed. An `Err` item ends the call with that
/// status; the end of the stream ends it with OK.
///
/// When the call ends early (the client cancelled, the deadline passed, the
/// connection dropped) the stream is dropped, so a lazily generated stream
/// stops producing.
pub struct ResponseStream<T> {
    inner: Pin<Box<dyn Stream<Item = Result<Outbound<T>, Status>> + Send + 'static>>,
}

impl<T> ResponseStream<T> {
    /// Boxes `stream`, whose items are messages, or [`Outbound`]s to send
    /// one message uncompressed on a compressed call
    /// ([`Outbound::uncompressed`]).
    pub fn new<S, M>(stream: S) -> ResponseStream<T>
    where
        S: Stream<Item = Result<M, Status>> + Send + 'static,
        M: IntoOutbound<T>,
    {
        ResponseStream {
            inner: Box::pin(stream.map(|item| item.map(IntoOutbound::into_outbound))),
        }
    }

    /// A stream fed from another task: replies sent on the returned
    /// [`StreamSender`] go out in order, at most `capacity` waiting. The
    /// call ends with OK when every sender is dropped. Sending fails once the
    /// call is gone, which tells the producer to stop.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0.
    pub fn channel(capacity: usize) -> (StreamSender<T>, ResponseStream<T>)
    where
        T: Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Result<Outbound<T>, Status>>(capacity);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        (StreamSender { tx }, ResponseStream::new(stream))
    }
}

impl<T> Stream for ResponseStream<T> {
    type Item = Result<Outbound<T>, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

impl<T> fmt::Debug for ResponseStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseStream")
    }
}

/// The sending half of [`ResponseStream::channel`].
pub struct StreamSender<T> {
    tx: mpsc::Sender<Result<Outbound<T>, Status>>,
}

/// The call a [`StreamSender`] fed has ended: nobody reads its replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallGone;

impl fmt::Display for CallGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the call has ended")
    }
}

impl std::error::Error for CallGone {}

impl<T> StreamSender<T> {
    /// Sends one reply (or, with `Err`, ends the call with that status),
    /// waiting while `capacity` replies are queued.
    pub async fn send(&self, item: Result<T, Status>) -> Result<(), CallGone> {
        let item = item.map(Outbound::new);
        self.tx.send(item).await.map_err(|_| CallGone)
    }

    /// Sends one reply with its own compression choice (for example
    /// [`Outbound::uncompressed`]), waiting as [`StreamSender::send`] does.
    pub async fn send_outbound(&self, message: Outbound<T>) -> Result<(), CallGone> {
        self.tx.send(Ok(message)).await.map_err(|_| CallGone)
    }

    /// Whether the call has ended (sending would fail).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Completes when the call ends, for producers that want to stop
    /// between replies.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

impl<T> Clone for StreamSender<T> {
    fn clone(&self) -> Self {
        StreamSender {
            tx: self.tx.clone(),
        }
    }
}

impl<T> fmt::Debug for StreamSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSender")
            .field("closed", &self.tx.is_closed())
            .finish()
    }
}
