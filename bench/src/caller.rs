//! The two clients the load generator drives: Ferry's `Channel` and tonic's,
//! both sending pre-encoded protobuf bytes, so neither side spends time on
//! (de)serialisation the other does not.

use bytes::{Buf, BufMut, Bytes};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

/// Why a call failed: its gRPC status code and message.
pub(crate) type Failure = (i32, String);

/// A stream of received messages, or the status that ended it.
pub(crate) type Messages = BoxStream<'static, Result<Bytes, Failure>>;

/// One connection to the target, through one of the two clients.
#[derive(Clone, Debug)]
pub(crate) enum Caller {
    /// Ferry's client, one connection per `Channel`.
    Ferry(ferry::Channel),
    /// tonic's client, one connection per `Channel`.
    Tonic(tonic::client::Grpc<tonic::transport::Channel>),
}

/// Which client to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ClientKind {
    /// Ferry's `Channel`.
    Ferry,
    /// tonic's `Channel` (hyper + h2), for comparison.
    Tonic,
}

/// What the Ferry client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Protocol {
    /// gRPC over HTTP/2.
    Grpc,
    /// Ferry's native protocol (`ferry://`).
    Native,
}

fn ferry_code(status: ferry::Status) -> Failure {
    (status.code() as i32, status.message().to_owned())
}

fn tonic_code(status: tonic::Status) -> Failure {
    (status.code() as i32, status.message().to_owned())
}

fn not_ready(e: impl std::fmt::Display) -> Failure {
    (tonic::Code::Unavailable as i32, e.to_string())
}

fn path_of(path: &str) -> Result<tonic::codegen::http::uri::PathAndQuery, Failure> {
    tonic::codegen::http::uri::PathAndQuery::from_maybe_shared(Bytes::copy_from_slice(
        path.as_bytes(),
    ))
    .map_err(|e| (tonic::Code::InvalidArgument as i32, e.to_string()))
}

impl Caller {
    /// Opens one connection to `target` (`host:port`); `protocol` applies to
    /// Ferry's client only.
    pub(crate) async fn connect(
        kind: ClientKind,
        protocol: Protocol,
        target: &str,
    ) -> Result<Caller, String> {
        let uri = format!("http://{target}");
        match kind {
            ClientKind::Ferry => {
                let channel = ferry::Channel::builder(&uri)
                    .map_err(|e| e.to_string())?
                    .native_protocol(protocol == Protocol::Native)
                    .max_recv_message_size(64 << 20)
                    .connect()
                    .await
                    .map_err(|e| format!("connect {uri}: {e}"))?;
                Ok(Caller::Ferry(channel))
            }
            ClientKind::Tonic => {
                let channel = tonic::transport::Endpoint::from_shared(uri.clone())
                    .map_err(|e| e.to_string())?
                    .connect()
                    .await
                    .map_err(|e| format!("connect {uri}: {e}"))?;
                let grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(64 << 20);
                Ok(Caller::Tonic(grpc))
            }
        }
    }

    /// A unary call; returns the response's length.
    pub(crate) async fn unary(&mut self, path: &str, body: Bytes) -> Result<usize, Failure> {
        match self {
            Caller::Ferry(channel) => channel
                .unary(path, ferry::Request::new(body), ferry::BytesCodec)
                .await
                .map(|r| r.into_inner().len())
                .map_err(ferry_code),
            Caller::Tonic(grpc) => {
                grpc.ready().await.map_err(not_ready)?;
                grpc.unary(tonic::Request::new(body), path_of(path)?, RawCodec)
                    .await
                    .map(|r| r.into_inner().len())
                    .map_err(tonic_code)
            }
        }
    }

    /// A server-streaming call.
    pub(crate) async fn server_streaming(
        &mut self,
        path: &str,
        body: Bytes,
    ) -> Result<Messages, Failure> {
        match self {
            Caller::Ferry(channel) => {
                let response = channel
                    .server_streaming(path, ferry::Request::new(body), ferry::BytesCodec)
                    .await
                    .map_err(ferry_code)?;
                Ok(response.into_inner().map(|m| m.map_err(ferry_code)).boxed())
            }
            Caller::Tonic(grpc) => {
                grpc.ready().await.map_err(not_ready)?;
                let response = grpc
                    .server_streaming(tonic::Request::new(body), path_of(path)?, RawCodec)
                    .await
                    .map_err(tonic_code)?;
                Ok(response.into_inner().map(|m| m.map_err(tonic_code)).boxed())
            }
        }
    }

    /// A client-streaming call; returns the response.
    pub(crate) async fn client_streaming(
        &mut self,
        path: &str,
        requests: BoxStream<'static, Bytes>,
    ) -> Result<Bytes, Failure> {
        match self {
            Caller::Ferry(channel) => channel
                .client_streaming(path, ferry::Request::new(requests), ferry::BytesCodec)
                .await
                .map(ferry::Response::into_inner)
                .map_err(ferry_code),
            Caller::Tonic(grpc) => {
                grpc.ready().await.map_err(not_ready)?;
                grpc.client_streaming(tonic::Request::new(requests), path_of(path)?, RawCodec)
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(tonic_code)
            }
        }
    }

    /// A bidirectional call.
    pub(crate) async fn bidi_streaming(
        &mut self,
        path: &str,
        requests: BoxStream<'static, Bytes>,
    ) -> Result<Messages, Failure> {
        match self {
            Caller::Ferry(channel) => {
                let response = channel
                    .bidi_streaming(path, ferry::Request::new(requests), ferry::BytesCodec)
                    .await
                    .map_err(ferry_code)?;
                Ok(response.into_inner().map(|m| m.map_err(ferry_code)).boxed())
            }
            Caller::Tonic(grpc) => {
                grpc.ready().await.map_err(not_ready)?;
                let response = grpc
                    .streaming(tonic::Request::new(requests), path_of(path)?, RawCodec)
                    .await
                    .map_err(tonic_code)?;
                Ok(response.into_inner().map(|m| m.map_err(tonic_code)).boxed())
            }
        }
    }
}

/// tonic's side of `ferry::BytesCodec`: message bytes in and out as they are.
#[derive(Clone, Copy, Debug, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
