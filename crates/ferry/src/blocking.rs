//! A blocking client for synchronous callers (the "sync call" of RPC
//! design): the same [`Channel`](crate::Channel) driven by a small runtime
//! of its own, so plain threads can make calls.
//!
//! ```no_run
//! # fn demo() -> Result<(), ferry::Status> {
//! use ferry::{BytesCodec, Request};
//! let channel = ferry::blocking::Channel::connect("http://127.0.0.1:50051")?;
//! let reply = channel.unary("/pkg.Svc/Method", Request::new(bytes::Bytes::from_static(b"hi")), BytesCodec)?;
//! # let _ = reply; Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use futures_core::Stream;

use crate::codec::Codec;
use crate::{Request, Response, Status, Streaming};

/// A channel whose calls block the calling thread until they finish.
/// Cheap to clone; every clone shares the connection and the runtime.
#[derive(Clone)]
pub struct Channel {
    inner: crate::Channel,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::Channel")
            .field("channel", &self.inner)
            .finish()
    }
}

impl Channel {
    /// Connects now to `uri` (see [`crate::Channel::builder`]).
    pub fn connect(uri: &str) -> Result<Channel, Status> {
        let runtime = runtime()?;
        let inner = runtime.block_on(crate::Channel::connect(uri))?;
        Ok(Channel {
            inner,
            runtime: Arc::new(runtime),
        })
    }

    /// Wraps an async channel built with [`crate::ChannelBuilder`]. It must
    /// not be used from inside another tokio runtime's thread.
    pub fn from_builder(builder: crate::ChannelBuilder) -> Result<Channel, Status> {
        let runtime = runtime()?;
        let inner = runtime.block_on(builder.connect())?;
        Ok(Channel {
            inner,
            runtime: Arc::new(runtime),
        })
    }

    /// A unary call.
    pub fn unary<C: Codec>(
        &self,
        path: &str,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status> {
        self.runtime
            .block_on(self.inner.unary(path, request, codec))
    }

    /// A one-way call (see [`crate::Channel::one_way`]): returns as soon as
    /// the request is handed to the connection, without waiting for the
    /// handler; over the native protocol the server sends nothing back.
    pub fn one_way<C: Codec>(
        &self,
        path: &str,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<(), Status> {
        self.runtime
            .block_on(self.inner.one_way(path, request, codec))
    }

    /// A server-streaming call; the responses come as a blocking iterator.
    pub fn server_streaming<C: Codec>(
        &self,
        path: &str,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<Iter<C::Decode>>, Status> {
        let response = self
            .runtime
            .block_on(self.inner.server_streaming(path, request, codec))?;
        let (metadata, stream) = response.into_parts();
        Ok(Response::from_parts(
            metadata,
            Iter {
                stream,
                runtime: self.runtime.clone(),
            },
        ))
    }

    /// A client-streaming call from an iterator of requests.
    pub fn client_streaming<C, I>(
        &self,
        path: &str,
        request: Request<I>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec,
        I: IntoIterator<Item = C::Encode>,
        I::IntoIter: Send + 'static,
    {
        let request = request.map(|messages| futures_util::stream::iter(messages));
        self.runtime
            .block_on(self.inner.client_streaming(path, request, codec))
    }

    /// A bidirectional call: requests from a stream, responses as a
    /// blocking iterator.
    pub fn bidi_streaming<C, S>(
        &self,
        path: &str,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<Iter<C::Decode>>, Status>
    where
        C: Codec,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let response = self
            .runtime
            .block_on(self.inner.bidi_streaming(path, request, codec))?;
        let (metadata, stream) = response.into_parts();
        Ok(Response::from_parts(
            metadata,
            Iter {
                stream,
                runtime: self.runtime.clone(),
            },
        ))
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Status> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("ferry-blocking")
        .enable_all()
        .build()
        .map_err(|e| Status::internal(format!("cannot start the blocking client's runtime: {e}")))
}

/// Received messages as a blocking iterator: each item is a message or the
/// status that ended the stream (once); iteration ends after a clean end.
pub struct Iter<T> {
    stream: Streaming<T>,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl<T> fmt::Debug for Iter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("stream", &self.stream)
            .finish()
    }
}

impl<T> Iterator for Iter<T> {
    type Item = Result<T, Status>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.runtime.block_on(self.stream.message()) {
            Ok(Some(message)) => Some(Ok(message)),
            Ok(None) => None,
            Err(status) if status.is_ok() => None,
            Err(status) => Some(Err(status)),
        }
    }
}
