//! The interop cases, run by a Ferry client (grpc's
//! `doc/interop-test-descriptions.md`: the exact sizes, codes and
//! messages it gives).
//!
//! Compression is checked message by message: the compressed flag of each
//! response (`Response::arrived_compressed`,
//! `Streaming::last_message_compressed`), and a request stream whose
//! second message opts out of the call's gzip (`Outbound::uncompressed`).
//! cancel_after_first_response cancels its call with `Streaming::cancel`,
//! cancel_after_begin (a client-streaming call, one future) through a
//! `CancellationToken` given with the request; both report CANCELLED.

use std::time::Duration;

use ferry::compression::Encoding;
use ferry::tls::{ClientTlsConfig, TrustRoots};
use ferry::{CancellationToken, Channel, Code, Metadata, Outbound, Request, Status};
use futures_util::stream;
use tokio::sync::mpsc;

use crate::pb::test_service_client::TestServiceClient;
use crate::pb::unimplemented_service_client::UnimplementedServiceClient;
use crate::pb::{
    BoolValue, EchoStatus, Empty, Payload, ResponseParameters, SimpleRequest,
    StreamingInputCallRequest, StreamingOutputCallRequest,
};
use crate::zeros;

/// Every case, in the order `--test_case=all` runs them.
pub const CASES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_streaming",
    "client_compressed_streaming",
    "server_streaming",
    "server_compressed_streaming",
    "ping_pong",
    "empty_stream",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "concurrent_large_unary",
    "rpc_soak",
    "channel_soak",
];

/// Every call that is not about deadlines gets this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const SPECIAL_MESSAGE: &str =
    "\t\ntest with whitespace\r\nand Unicode BMP \u{263a} and non-BMP \u{1f608}\t\n";

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Target {
    /// `--server_host`.
    pub host: String,
    /// `--server_port`.
    pub port: u16,
    /// `--server_host_override`: the name the server's certificate is checked against.
    pub host_override: Option<String>,
    /// `--use_tls`, with the CA to trust (`--ca_file` when `--use_test_ca`).
    pub tls: Option<Option<String>>,
    /// `--soak_iterations`.
    pub soak_iterations: usize,
}

impl Target {
    /// A new channel to the server, connected.
    pub async fn connect(&self) -> Result<Channel, Status> {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut builder = Channel::builder(&format!("{scheme}://{host}:{}", self.port))?
            .max_recv_message_size(16 << 20)
            .connect_timeout(CALL_TIMEOUT);
        if let Some(ca) = &self.tls {
            let Some(ca) = ca else {
                return Err(Status::invalid_argument(
                    "TLS without --use_test_ca: Ferry loads no system roots; pass --use_test_ca --ca_file",
                ));
            };
            let roots = TrustRoots::from_pem_file(ca)
                .map_err(|e| Status::invalid_argument(format!("{ca}: {e}")))?;
            let mut tls = ClientTlsConfig::new(roots);
            if let Some(name) = &self.host_override {
                tls = tls.server_name_override(name.clone());
            }
            builder = builder.tls(tls);
        }
        builder.connect().await
    }
}

/// How a case ended, apart from failing.
#[derive(Debug)]
pub enum Outcome {
    /// Everything the description asks was checked.
    Pass,
    /// Passed; the text names what could not be checked.
    PassUnchecked(&'static str),
}

type CaseResult = Result<Outcome, String>;

fn fail(what: impl std::fmt::Display) -> String {
    what.to_string()
}

fn status_text(status: &Status) -> String {
    format!("status {:?}: {:?}", status.code(), status.message())
}

fn check_flag(what: &str, compressed: bool, want: bool) -> Result<(), String> {
    if compressed != want {
        return Err(format!("{what}: compressed flag {compressed}, want {want}"));
    }
    Ok(())
}

fn check_body(payload: Option<&Payload>, size: usize) -> Result<(), String> {
    let body = payload.map_or(&[][..], |p| &p.body[..]);
    if body.len() != size {
        return Err(format!("payload of {} bytes, want {size}", body.len()));
    }
    if body.iter().any(|b| *b != 0) {
        return Err("payload not all zeros".into());
    }
    Ok(())
}

fn expect_code<T>(
    result: Result<T, Status>,
    code: Code,
    message: Option<&str>,
) -> Result<(), String> {
    match result {
        Ok(_) => Err(format!("call succeeded, want {code:?}")),
        Err(status) if status.code() != code => {
            Err(format!("{}, want {code:?}", status_text(&status)))
        }
        Err(status) => match message {
            Some(m) if status.message() != m => {
                Err(format!("message {:?}, want {m:?}", status.message()))
            }
            _ => Ok(()),
        },
    }
}

fn large_request() -> SimpleRequest {
    SimpleRequest {
        response_size: 314_159,
        payload: Some(zeros(271_828)),
        ..SimpleRequest::default()
    }
}

fn output_request(sizes: &[i32], body: usize) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: sizes
            .iter()
            .map(|&size| ResponseParameters {
                size,
                ..ResponseParameters::default()
            })
            .collect(),
        payload: (body > 0).then(|| zeros(body)),
        ..StreamingOutputCallRequest::default()
    }
}

fn timed<T>(message: T) -> Request<T> {
    Request::new(message).with_timeout(CALL_TIMEOUT)
}

/// A request stream fed from the test: dropping the sender half-closes.
fn feeder<T: Send + 'static>() -> (
    mpsc::UnboundedSender<T>,
    impl futures_util::Stream<Item = T> + Send + 'static,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let requests = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    (tx, requests)
}

/// Runs the interop cases over one channel.
#[derive(Debug)]
pub struct Runner {
    target: Target,
    channel: Channel,
    client: TestServiceClient,
}

impl Runner {
    /// Connects to the server.
    pub async fn connect(target: Target) -> Result<Runner, Status> {
        let channel = target.connect().await?;
        let client = TestServiceClient::new(channel.clone());
        Ok(Runner {
            target,
            channel,
            client,
        })
    }

    /// Runs one case by its name.
    pub async fn run(&self, case: &str) -> Option<CaseResult> {
        Some(match case {
            "empty_unary" => self.empty_unary().await,
            "large_unary" => large_unary(&self.client).await.map(|()| Outcome::Pass),
            "client_compressed_unary" => self.client_compressed_unary().await,
            "server_compressed_unary" => self.server_compressed_unary().await,
            "client_streaming" => self.client_streaming().await,
            "client_compressed_streaming" => self.client_compressed_streaming().await,
            "server_streaming" => self.server_streaming().await,
            "server_compressed_streaming" => self.server_compressed_streaming().await,
            "ping_pong" => self.ping_pong().await,
            "empty_stream" => self.empty_stream().await,
            "custom_metadata" => self.custom_metadata().await,
            "status_code_and_message" => {
                self.status_code_and_message("test status message", true)
                    .await
            }
            "special_status_message" => self.status_code_and_message(SPECIAL_MESSAGE, false).await,
            "unimplemented_method" => self.unimplemented_method().await,
            "unimplemented_service" => self.unimplemented_service().await,
            "cancel_after_begin" => self.cancel_after_begin().await,
            "cancel_after_first_response" => self.cancel_after_first_response().await,
            "timeout_on_sleeping_server" => self.timeout_on_sleeping_server().await,
            "concurrent_large_unary" => self.concurrent_large_unary().await,
            "rpc_soak" => self.rpc_soak().await,
            "channel_soak" => self.channel_soak().await,
            _ => return None,
        })
    }

    async fn empty_unary(&self) -> CaseResult {
        self.client
            .empty_call(timed(Empty {}))
            .await
            .map_err(|s| status_text(&s))?;
        Ok(Outcome::Pass)
    }

    async fn client_compressed_unary(&self) -> CaseResult {
        let with_expect = |expect: bool| SimpleRequest {
            expect_compressed: Some(BoolValue { value: expect }),
            ..large_request()
        };
        let probe = self.client.unary_call(timed(with_expect(true))).await;
        expect_code(probe, Code::InvalidArgument, None).map_err(|e| format!("probe: {e}"))?;
        for compressed in [true, false] {
            let mut request = timed(with_expect(compressed));
            if compressed {
                request = request.with_compression(Encoding::Gzip);
            }
            let reply = self
                .client
                .unary_call(request)
                .await
                .map_err(|s| status_text(&s))?;
            check_body(reply.get_ref().payload.as_ref(), 314_159)?;
        }
        Ok(Outcome::Pass)
    }

    async fn server_compressed_unary(&self) -> CaseResult {
        for compressed in [true, false] {
            let request = SimpleRequest {
                response_compressed: Some(BoolValue { value: compressed }),
                ..large_request()
            };
            let reply = self
                .client
                .unary_call(timed(request))
                .await
                .map_err(|s| status_text(&s))?;
            check_body(reply.get_ref().payload.as_ref(), 314_159)?;
            check_flag("response", reply.arrived_compressed(), compressed)?;
        }
        Ok(Outcome::Pass)
    }

    async fn client_streaming(&self) -> CaseResult {
        let requests = [27_182, 8, 1_828, 45_904].map(|n| StreamingInputCallRequest {
            payload: Some(zeros(n)),
            ..StreamingInputCallRequest::default()
        });
        let reply = self
            .client
            .streaming_input_call(timed(stream::iter(requests)))
            .await
            .map_err(|s| status_text(&s))?;
        let total = reply.get_ref().aggregated_payload_size;
        if total != 74_922 {
            return Err(format!("aggregated size {total}, want 74922"));
        }
        Ok(Outcome::Pass)
    }

    async fn client_compressed_streaming(&self) -> CaseResult {
        let request = |expect: bool, n: usize| StreamingInputCallRequest {
            expect_compressed: Some(BoolValue { value: expect }),
            payload: Some(zeros(n)),
        };
        let probe = self
            .client
            .streaming_input_call(timed(stream::iter([request(true, 27_182)])))
            .await;
        expect_code(probe, Code::InvalidArgument, None).map_err(|e| format!("probe: {e}"))?;
        // The call is gzip; its second message opts out.
        let requests = stream::iter([
            Outbound::new(request(true, 27_182)),
            Outbound::uncompressed(request(false, 45_904)),
        ]);
        let reply = self
            .client
            .streaming_input_call(timed(requests).with_compression(Encoding::Gzip))
            .await
            .map_err(|s| status_text(&s))?;
        let total = reply.get_ref().aggregated_payload_size;
        if total != 73_086 {
            return Err(format!("aggregated size {total}, want 73086"));
        }
        Ok(Outcome::Pass)
    }

    /// Receives responses of `sizes`, and when `flags` is given checks that
    /// each arrived compressed or not as it says.
    async fn receive_sizes(
        &self,
        request: StreamingOutputCallRequest,
        sizes: &[usize],
        flags: Option<&[bool]>,
    ) -> Result<(), String> {
        let mut replies = self
            .client
            .streaming_output_call(timed(request))
            .await
            .map_err(|s| status_text(&s))?
            .into_inner();
        for (i, &size) in sizes.iter().enumerate() {
            match replies.message().await {
                Ok(Some(reply)) => {
                    check_body(reply.payload.as_ref(), size)?;
                    if let Some(flags) = flags {
                        let what = format!("response {i}");
                        check_flag(&what, replies.last_message_compressed(), flags[i])?;
                    }
                }
                Ok(None) => return Err(format!("{i} responses, want {}", sizes.len())),
                Err(s) => return Err(format!("response {i}: {}", status_text(&s))),
            }
        }
        match replies.message().await {
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err(format!("more than {} responses", sizes.len())),
            Err(s) => Err(status_text(&s)),
        }
    }

    async fn server_streaming(&self) -> CaseResult {
        let request = output_request(&[31_415, 9, 2_653, 58_979], 0);
        self.receive_sizes(request, &[31_415, 9, 2_653, 58_979], None)
            .await?;
        Ok(Outcome::Pass)
    }

    async fn server_compressed_streaming(&self) -> CaseResult {
        let mut request = output_request(&[31_415, 92_653], 0);
        request.response_parameters[0].compressed = Some(BoolValue { value: true });
        request.response_parameters[1].compressed = Some(BoolValue { value: false });
        self.receive_sizes(request, &[31_415, 92_653], Some(&[true, false]))
            .await?;
        Ok(Outcome::Pass)
    }

    async fn ping_pong(&self) -> CaseResult {
        let (tx, requests) = feeder();
        let mut replies = self
            .client
            .full_duplex_call(timed(requests))
            .await
            .map_err(|s| status_text(&s))?
            .into_inner();
        for (size, body) in [(31_415, 27_182), (9, 8), (2_653, 1_828), (58_979, 45_904)] {
            tx.send(output_request(&[size], body))
                .map_err(|_| fail("request stream closed"))?;
            match replies.message().await {
                Ok(Some(reply)) => check_body(reply.payload.as_ref(), size as usize)?,
                Ok(None) => return Err(fail("call ended early")),
                Err(s) => return Err(status_text(&s)),
            }
        }
        drop(tx);
        match replies.message().await {
            Ok(None) => Ok(Outcome::Pass),
            Ok(Some(_)) => Err(fail("more than four responses")),
            Err(s) => Err(status_text(&s)),
        }
    }

    async fn empty_stream(&self) -> CaseResult {
        let requests = stream::empty::<StreamingOutputCallRequest>();
        let mut replies = self
            .client
            .full_duplex_call(timed(requests))
            .await
            .map_err(|s| status_text(&s))?
            .into_inner();
        match replies.message().await {
            Ok(None) => Ok(Outcome::Pass),
            Ok(Some(_)) => Err(fail("got a response, want none")),
            Err(s) => Err(status_text(&s)),
        }
    }

    async fn custom_metadata(&self) -> CaseResult {
        let mut metadata = Metadata::new();
        metadata
            .append("x-grpc-test-echo-initial", "test_initial_metadata_value")
            .map_err(fail)?;
        metadata
            .append_bin("x-grpc-test-echo-trailing-bin", vec![0xab, 0xab, 0xab])
            .map_err(fail)?;
        let check = |initial: &Metadata, trailing: &Metadata| -> Result<(), String> {
            let echoed = initial
                .get("x-grpc-test-echo-initial")
                .and_then(|v| v.as_str());
            if echoed != Some("test_initial_metadata_value") {
                return Err(format!("initial metadata: echo is {echoed:?}"));
            }
            let echoed = trailing
                .get("x-grpc-test-echo-trailing-bin")
                .map(|v| v.to_bytes());
            if echoed.as_deref() != Some(&[0xab, 0xab, 0xab][..]) {
                return Err(format!("trailing metadata: echo is {echoed:?}"));
            }
            Ok(())
        };

        let request = timed(large_request()).with_metadata(metadata.clone());
        let reply = self
            .client
            .unary_call(request)
            .await
            .map_err(|s| status_text(&s))?;
        check_body(reply.get_ref().payload.as_ref(), 314_159)?;
        check(reply.metadata(), reply.trailers()).map_err(|e| format!("unary: {e}"))?;

        let requests = stream::iter([output_request(&[314_159], 271_828)]);
        let mut replies = self
            .client
            .full_duplex_call(timed(requests).with_metadata(metadata))
            .await
            .map_err(|s| status_text(&s))?
            .into_inner();
        let headers = replies
            .response_headers()
            .await
            .map_err(|s| status_text(&s))?;
        match replies.message().await {
            Ok(Some(reply)) => check_body(reply.payload.as_ref(), 314_159)?,
            Ok(None) => return Err(fail("full duplex: no response")),
            Err(s) => return Err(status_text(&s)),
        }
        match replies.message().await {
            Ok(None) => {}
            Ok(Some(_)) => return Err(fail("full duplex: more than one response")),
            Err(s) => return Err(status_text(&s)),
        }
        let trailers = replies.trailers().cloned().unwrap_or_default();
        check(&headers, &trailers).map_err(|e| format!("full duplex: {e}"))?;
        Ok(Outcome::Pass)
    }

    async fn status_code_and_message(&self, message: &str, duplex: bool) -> CaseResult {
        let echo = EchoStatus {
            code: 2,
            message: message.to_owned(),
        };
        let request = SimpleRequest {
            response_status: Some(echo.clone()),
            ..SimpleRequest::default()
        };
        let result = self.client.unary_call(timed(request)).await;
        expect_code(result, Code::Unknown, Some(message)).map_err(|e| format!("unary: {e}"))?;
        if duplex {
            let request = StreamingOutputCallRequest {
                response_status: Some(echo),
                ..StreamingOutputCallRequest::default()
            };
            let mut replies = self
                .client
                .full_duplex_call(timed(stream::iter([request])))
                .await
                .map_err(|s| status_text(&s))?
                .into_inner();
            let result = replies.message().await;
            expect_code(result, Code::Unknown, Some(message))
                .map_err(|e| format!("full duplex: {e}"))?;
        }
        Ok(Outcome::Pass)
    }

    async fn unimplemented_method(&self) -> CaseResult {
        let result = self.client.unimplemented_call(timed(Empty {})).await;
        expect_code(result, Code::Unimplemented, None)?;
        Ok(Outcome::Pass)
    }

    async fn unimplemented_service(&self) -> CaseResult {
        let client = UnimplementedServiceClient::new(self.channel.clone());
        let result = client.unimplemented_call(timed(Empty {})).await;
        expect_code(result, Code::Unimplemented, None)?;
        Ok(Outcome::Pass)
    }

    /// After a cancel: the channel must still serve calls.
    async fn channel_still_serves(&self) -> Result<(), String> {
        self.client
            .empty_call(timed(Empty {}))
            .await
            .map(drop)
            .map_err(|s| format!("call after the cancel: {}", status_text(&s)))
    }

    async fn cancel_after_begin(&self) -> CaseResult {
        let requests = stream::pending::<StreamingInputCallRequest>();
        let token = CancellationToken::new();
        let call = self
            .client
            .streaming_input_call(timed(requests).with_cancellation(token.clone()));
        let canceller = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            canceller.cancel();
        });
        let status = match call.await {
            Ok(_) => return Err(fail("the call succeeded, want CANCELLED")),
            Err(status) => status,
        };
        if status.code() != Code::Cancelled {
            return Err(format!(
                "after the cancel: {}, want CANCELLED",
                status_text(&status)
            ));
        }
        self.channel_still_serves().await?;
        Ok(Outcome::Pass)
    }

    async fn cancel_after_first_response(&self) -> CaseResult {
        let (tx, requests) = feeder();
        let mut replies = self
            .client
            .full_duplex_call(timed(requests))
            .await
            .map_err(|s| status_text(&s))?
            .into_inner();
        tx.send(output_request(&[31_415], 27_182))
            .map_err(|_| fail("request stream closed"))?;
        match replies.message().await {
            Ok(Some(reply)) => check_body(reply.payload.as_ref(), 31_415)?,
            Ok(None) => return Err(fail("call ended without a response")),
            Err(s) => return Err(status_text(&s)),
        }
        let status = replies.cancel();
        drop(tx);
        if status.code() != Code::Cancelled {
            return Err(format!(
                "after the cancel: {}, want CANCELLED",
                status_text(&status)
            ));
        }
        self.channel_still_serves().await?;
        Ok(Outcome::Pass)
    }

    async fn timeout_on_sleeping_server(&self) -> CaseResult {
        let (tx, requests) = feeder();
        // The send may find the call already over: the deadline is the point.
        let _ = tx.send(StreamingOutputCallRequest {
            payload: Some(zeros(27_182)),
            ..StreamingOutputCallRequest::default()
        });
        let request = Request::new(requests).with_timeout(Duration::from_millis(1));
        let result = match self.client.full_duplex_call(request).await {
            Ok(replies) => replies.into_inner().message().await.map(drop),
            Err(status) => Err(status),
        };
        drop(tx);
        expect_code(result, Code::DeadlineExceeded, None)?;
        Ok(Outcome::Pass)
    }

    async fn concurrent_large_unary(&self) -> CaseResult {
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..1000 {
            let client = self.client.clone();
            calls.spawn(async move {
                let request = Request::new(large_request()).with_timeout(Duration::from_secs(120));
                let reply = client
                    .unary_call(request)
                    .await
                    .map_err(|s| status_text(&s))?;
                check_body(reply.get_ref().payload.as_ref(), 314_159)
            });
        }
        while let Some(result) = calls.join_next().await {
            result.map_err(fail)??;
        }
        Ok(Outcome::Pass)
    }

    async fn rpc_soak(&self) -> CaseResult {
        for i in 0..self.target.soak_iterations {
            large_unary(&self.client)
                .await
                .map_err(|e| format!("iteration {i}: {e}"))?;
        }
        Ok(Outcome::Pass)
    }

    async fn channel_soak(&self) -> CaseResult {
        for i in 0..self.target.soak_iterations {
            let channel = self
                .target
                .connect()
                .await
                .map_err(|s| format!("iteration {i}: {}", status_text(&s)))?;
            large_unary(&TestServiceClient::new(channel))
                .await
                .map_err(|e| format!("iteration {i}: {e}"))?;
        }
        Ok(Outcome::Pass)
    }
}

async fn large_unary(client: &TestServiceClient) -> Result<(), String> {
    let reply = client
        .unary_call(timed(large_request()))
        .await
        .map_err(|s| status_text(&s))?;
    check_body(reply.get_ref().payload.as_ref(), 314_159)
}
