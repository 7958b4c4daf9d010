//! The one door generated code goes through. Not a public API: names and
//! signatures here change with `ferry-build`, which always generates code
//! for the `ferry` version beside it.
//!
//! Each function turns one generated match arm or client method into a call
//! of the generic runtime functions with the protobuf codec, so a service of
//! N methods generates N one-line arms and N one-line methods.

use std::future::Future;

pub use futures_core::Stream;

pub use crate::server::{BoxFuture, ServerCall, Service};
pub use crate::stubs::{IntoRequest, IntoStreamingRequest, ResponseStream};
pub use crate::{Channel, IntoOutbound, Request, Response, Status, Streaming};

use crate::ProstCodec;
use crate::server;

/// The bounds every generated message type meets.
pub trait Message: prost::Message + Default + Send + 'static {}

impl<T: prost::Message + Default + Send + 'static> Message for T {}

/// A trait method's default body: the method is not implemented.
pub fn unimplemented<Req, Resp>(
    _request: Request<Req>,
    service: &str,
    method: &str,
) -> std::future::Ready<Result<Response<Resp>, Status>> {
    std::future::ready(Err(Status::unimplemented(format!(
        "method {method} of service {service} is not implemented"
    ))))
}

/// Routes a method name the service does not have.
pub fn unknown_method(call: ServerCall) -> BoxFuture<()> {
    Box::pin(call.unimplemented())
}

/// A unary match arm.
pub fn unary<Req, Resp, F, Fut>(call: ServerCall, handler: F) -> BoxFuture<()>
where
    Req: Message,
    Resp: Message,
    F: FnOnce(Request<Req>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<Resp>, Status>> + Send + 'static,
{
    Box::pin(server::unary(call, ProstCodec::<Resp, Req>::new(), handler))
}

/// A server-streaming match arm.
pub fn server_streaming<Req, Resp, F, Fut>(call: ServerCall, handler: F) -> BoxFuture<()>
where
    Req: Message,
    Resp: Message,
    F: FnOnce(Request<Req>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<ResponseStream<Resp>>, Status>> + Send + 'static,
{
    Box::pin(server::server_streaming(
        call,
        ProstCodec::<Resp, Req>::new(),
        handler,
    ))
}

/// A client-streaming match arm.
pub fn client_streaming<Req, Resp, F, Fut>(call: ServerCall, handler: F) -> BoxFuture<()>
where
    Req: Message,
    Resp: Message,
    F: FnOnce(Request<Streaming<Req>>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<Resp>, Status>> + Send + 'static,
{
    Box::pin(server::client_streaming(
        call,
        ProstCodec::<Resp, Req>::new(),
        handler,
    ))
}

/// A bidirectional-streaming match arm.
pub fn bidi_streaming<Req, Resp, F, Fut>(call: ServerCall, handler: F) -> BoxFuture<()>
where
    Req: Message,
    Resp: Message,
    F: FnOnce(Request<Streaming<Req>>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<ResponseStream<Resp>>, Status>> + Send + 'static,
{
    Box::pin(server::bidi_streaming(
        call,
        ProstCodec::<Resp, Req>::new(),
        handler,
    ))
}

/// A unary client method.
pub async fn call_unary<Req: Message, Resp: Message>(
    channel: &Channel,
    path: &'static str,
    request: Request<Req>,
) -> Result<Response<Resp>, Status> {
    channel
        .unary(path, request, ProstCodec::<Req, Resp>::new())
        .await
}

/// A one-way client method.
pub async fn call_one_way<Req: Message, Resp: Message>(
    channel: &Channel,
    path: &'static str,
    request: Request<Req>,
) -> Result<(), Status> {
    channel
        .one_way(path, request, ProstCodec::<Req, Resp>::new())
        .await
}

/// A server-streaming client method.
pub async fn call_server_streaming<Req: Message, Resp: Message>(
    channel: &Channel,
    path: &'static str,
    request: Request<Req>,
) -> Result<Response<Streaming<Resp>>, Status> {
    channel
        .server_streaming(path, request, ProstCodec::<Req, Resp>::new())
        .await
}

/// A client-streaming client method. The stream yields messages, or
/// [`Outbound`](crate::Outbound)s to choose compression per message.
pub async fn call_client_streaming<Req, Resp, S>(
    channel: &Channel,
    path: &'static str,
    request: Request<S>,
) -> Result<Response<Resp>, Status>
where
    Req: Message,
    Resp: Message,
    S: Stream + Send + 'static,
    S::Item: IntoOutbound<Req>,
{
    channel
        .client_streaming(path, request, ProstCodec::<Req, Resp>::new())
        .await
}

/// A bidirectional-streaming client method.
pub async fn call_bidi_streaming<Req, Resp, S>(
    channel: &Channel,
    path: &'static str,
    request: Request<S>,
) -> Result<Response<Streaming<Resp>>, Status>
where
    Req: Message,
    Resp: Message,
    S: Stream + Send + 'static,
    S::Item: IntoOutbound<Req>,
{
    channel
        .bidi_streaming(path, request, ProstCodec::<Req, Resp>::new())
        .await
}
