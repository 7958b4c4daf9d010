//! `grpc.testing.TestService` on a Ferry server: every method the interop
//! cases call, to the "Server" section of the interop descriptions.
//! `UnimplementedCall` keeps the generated default (UNIMPLEMENTED).
//!
//! Compression: a request whose `expect_compressed` is true but that
//! arrived uncompressed is answered INVALID_ARGUMENT
//! ([`Request::arrived_compressed`], [`Streaming::last_message_compressed`]);
//! one that arrived compressed though it expected not to be is accepted (the
//! descriptions' CompressedRequest feature checks only the first way, as
//! grpc-go's interop server does; grpcio clients compress every message of a
//! compressed call). `response_compressed` and a response parameter's
//! `compressed` make the call's responses gzip ([`Response::with_compression`])
//! and send the others uncompressed ([`Outbound::uncompressed`]).

use std::collections::VecDeque;
use std::time::Duration;

use ferry::compression::Encoding;
use ferry::{Code, Metadata, Outbound, Request, Response, ResponseStream, Status, Streaming};
use futures_util::stream;

use crate::pb::test_service_server::TestService;
use crate::pb::{
    BoolValue, EchoStatus, Empty, PayloadType, ResponseParameters, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse,
};
use crate::zeros;

const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

/// The test service. Stateless.
#[derive(Debug, Default)]
pub struct TestServer;

/// The metadata a call echoes: `x-grpc-test-echo-initial` back in the
/// response headers, `x-grpc-test-echo-trailing-bin` in the trailers.
struct Echo {
    initial: Metadata,
    trailing: Metadata,
}

impl Echo {
    fn of(request: &Metadata) -> Echo {
        let mut initial = Metadata::new();
        let mut trailing = Metadata::new();
        for value in request.get_all(ECHO_INITIAL) {
            if let Some(text) = value.as_str() {
                // The key and the value came through as valid metadata.
                let _ = initial.append(ECHO_INITIAL, text);
            }
        }
        for value in request.get_all(ECHO_TRAILING) {
            let _ = trailing.append_bin(ECHO_TRAILING, value.to_bytes());
        }
        Echo { initial, trailing }
    }

    /// `response` with the echoed metadata around it.
    fn response<T>(&self, message: T) -> Response<T> {
        let mut response = Response::new(message).with_metadata(self.initial.clone());
        *response.trailers_mut() = self.trailing.clone();
        response
    }

    /// An error status that still carries the echoed trailing metadata.
    fn status(&self, status: Status) -> Status {
        let mut metadata = status.metadata().clone();
        metadata.extend(self.trailing.clone());
        status.with_metadata(metadata)
    }
}

/// The status a request asks for with `response_status`, if any.
fn echo_status(status: Option<&EchoStatus>) -> Option<Status> {
    let status = status?;
    if status.code == 0 {
        return None;
    }
    Some(Status::new(
        Code::from_i32(status.code),
        status.message.clone(),
    ))
}

/// INVALID_ARGUMENT when a request that should have arrived compressed
/// did not.
fn check_compressed(expect: Option<&BoolValue>, compressed: bool) -> Result<(), Status> {
    if expect.is_some_and(|e| e.value) && !compressed {
        return Err(Status::invalid_argument("expected a compressed request"));
    }
    Ok(())
}

fn payload_size(size: i32) -> Result<usize, Status> {
    usize::try_from(size).map_err(|_| Status::invalid_argument(format!("negative size {size}")))
}

/// Replies for one `StreamingOutputCallRequest`'s parameters, waiting
/// `interval_us` before each; those whose `compressed` is not true go
/// uncompressed whatever the call's encoding.
fn reply_stream(
    params: VecDeque<ResponseParameters>,
) -> impl futures_util::Stream<Item = Result<Outbound<StreamingOutputCallResponse>, Status>> + Send
{
    stream::unfold(params, |mut params| async move {
        let p = params.pop_front()?;
        if p.interval_us > 0 {
            tokio::time::sleep(Duration::from_micros(p.interval_us as u64)).await;
        }
        let compressed = p.compressed.is_some_and(|c| c.value);
        let reply = payload_size(p.size).map(|n| {
            let reply = StreamingOutputCallResponse {
                payload: Some(zeros(n)),
            };
            if compressed {
                Outbound::new(reply)
            } else {
                Outbound::uncompressed(reply)
            }
        });
        Some((reply, params))
    })
}

/// What a full- or half-duplex stream does next.
enum Duplex {
    /// Reading requests; replies still owed for the last one.
    Reading(
        Box<Streaming<StreamingOutputCallRequest>>,
        VecDeque<ResponseParameters>,
    ),
    /// Replying to requests read in advance (half duplex).
    Draining(
        VecDeque<StreamingOutputCallRequest>,
        VecDeque<ResponseParameters>,
    ),
    Done,
}

/// Replies to each request of a duplex call in order; a request with a
/// `response_status` ends the call with that status.
fn duplex_replies(
    state: Duplex,
    echo: Echo,
) -> impl futures_util::Stream<Item = Result<StreamingOutputCallResponse, Status>> + Send {
    stream::unfold((state, echo), |(state, echo)| async move {
        let (mut source, mut owed) = match state {
            Duplex::Done => return None,
            Duplex::Reading(requests, owed) => (Source::Stream(requests), owed),
            Duplex::Draining(requests, owed) => (Source::Queue(requests), owed),
        };
        loop {
            if let Some(p) = owed.pop_front() {
                if p.interval_us > 0 {
                    tokio::time::sleep(Duration::from_micros(p.interval_us as u64)).await;
                }
                let reply = match payload_size(p.size) {
                    Ok(n) => StreamingOutputCallResponse {
                        payload: Some(zeros(n)),
                    },
                    Err(status) => return Some((Err(echo.status(status)), (Duplex::Done, echo))),
                };
                return Some((Ok(reply), (source.into_state(owed), echo)));
            }
            let next = match &mut source {
                Source::Stream(requests) => match requests.message().await {
                    Ok(next) => next,
                    Err(status) => return Some((Err(status), (Duplex::Done, echo))),
                },
                Source::Queue(queue) => queue.pop_front(),
            };
            let request = next?;
            if let Some(status) = echo_status(request.response_status.as_ref()) {
                return Some((Err(echo.status(status)), (Duplex::Done, echo)));
            }
            owed = request.response_parameters.into();
        }
    })
}

enum Source {
    Stream(Box<Streaming<StreamingOutputCallRequest>>),
    Queue(VecDeque<StreamingOutputCallRequest>),
}

impl Source {
    fn into_state(self, owed: VecDeque<ResponseParameters>) -> Duplex {
        match self {
            Source::Stream(s) => Duplex::Reading(s, owed),
            Source::Queue(q) => Duplex::Draining(q, owed),
        }
    }
}

impl TestService for TestServer {
    async fn empty_call(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        Ok(Echo::of(request.metadata()).response(Empty {}))
    }

    async fn unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let echo = Echo::of(request.metadata());
        let compressed = request.arrived_compressed();
        let request = request.into_inner();
        check_compressed(request.expect_compressed.as_ref(), compressed)
            .map_err(|s| echo.status(s))?;
        if request.response_type != PayloadType::Compressable as i32 {
            return Err(echo.status(Status::invalid_argument("unsupported response_type")));
        }
        if let Some(status) = echo_status(request.response_status.as_ref()) {
            return Err(echo.status(status));
        }
        let size = payload_size(request.response_size).map_err(|s| echo.status(s))?;
        let response = echo.response(SimpleResponse {
            payload: Some(zeros(size)),
            ..SimpleResponse::default()
        });
        Ok(match request.response_compressed {
            Some(BoolValue { value: true }) => response.with_compression(Encoding::Gzip),
            _ => response.with_compression(Encoding::Identity),
        })
    }

    async fn streaming_output_call(
        &self,
        request: Request<StreamingOutputCallRequest>,
    ) -> Result<Response<ResponseStream<StreamingOutputCallResponse>>, Status> {
        let echo = Echo::of(request.metadata());
        let request = request.into_inner();
        if let Some(status) = echo_status(request.response_status.as_ref()) {
            return Err(echo.status(status));
        }
        let any_compressed = request
            .response_parameters
            .iter()
            .any(|p| p.compressed.is_some_and(|c| c.value));
        let replies = reply_stream(request.response_parameters.into());
        let response = echo.response(ResponseStream::new(replies));
        Ok(if any_compressed {
            response.with_compression(Encoding::Gzip)
        } else {
            response
        })
    }

    async fn streaming_input_call(
        &self,
        request: Request<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        let echo = Echo::of(request.metadata());
        let mut requests = request.into_inner();
        let mut total = 0usize;
        while let Some(request) = requests.message().await? {
            let compressed = requests.last_message_compressed();
            check_compressed(request.expect_compressed.as_ref(), compressed)
                .map_err(|s| echo.status(s))?;
            total += request.payload.map_or(0, |p| p.body.len());
        }
        let aggregated_payload_size = i32::try_from(total)
            .map_err(|_| echo.status(Status::invalid_argument("aggregate size over i32")))?;
        Ok(echo.response(StreamingInputCallResponse {
            aggregated_payload_size,
        }))
    }

    async fn full_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<ResponseStream<StreamingOutputCallResponse>>, Status> {
        let echo = Echo::of(request.metadata());
        let initial = echo.initial.clone();
        let trailing = echo.trailing.clone();
        let replies = duplex_replies(
            Duplex::Reading(Box::new(request.into_inner()), VecDeque::new()),
            echo,
        );
        let mut response = Response::new(ResponseStream::new(replies)).with_metadata(initial);
        *response.trailers_mut() = trailing;
        Ok(response)
    }

    async fn half_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<Response<ResponseStream<StreamingOutputCallResponse>>, Status> {
        let echo = Echo::of(request.metadata());
        let mut requests = request.into_inner();
        let mut all = VecDeque::new();
        while let Some(request) = requests.message().await? {
            all.push_back(request);
        }
        let initial = echo.initial.clone();
        let trailing = echo.trailing.clone();
        let replies = duplex_replies(Duplex::Draining(all, VecDeque::new()), echo);
        let mut response = Response::new(ResponseStream::new(replies)).with_metadata(initial);
        *response.trailers_mut() = trailing;
        Ok(response)
    }
}
