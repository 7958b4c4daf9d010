//! A test service covering all four call shapes, and helpers to run it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferry::server::{self, BoxFuture};
use ferry::{
    Channel, Outbound, ProstCodec, Request, Response, Server, ServerCall, Service, Status,
    Streaming,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The request and response of every test method.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Msg {
    #[prost(string, tag = "1")]
    pub(crate) text: String,
    #[prost(uint32, tag = "2")]
    pub(crate) count: u32,
    #[prost(uint64, tag = "3")]
    pub(crate) sleep_ms: u64,
    #[prost(bytes = "vec", tag = "4")]
    pub(crate) payload: Vec<u8>,
    /// A status code the handler should fail with.
    #[prost(int32, tag = "5")]
    pub(crate) fail_code: i32,
}

pub(crate) fn msg(text: &str) -> Msg {
    Msg {
        text: text.to_owned(),
        ..Msg::default()
    }
}

/// Counts handlers that started and handlers that were dropped before
/// they finished (cancelled).
#[derive(Default, Debug)]
pub(crate) struct Probe {
    pub(crate) started: AtomicUsize,
    pub(crate) finished: AtomicUsize,
    pub(crate) cancelled: AtomicUsize,
    /// Messages the ServerStream handler has produced.
    pub(crate) produced: AtomicUsize,
}

struct Watch {
    probe: Arc<Probe>,
    done: bool,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.done {
            self.probe.finished.fetch_add(1, Ordering::SeqCst);
        } else {
            self.probe.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Watch {
    fn finish(&mut self) {
        self.done = true;
    }
}

impl Probe {
    fn watch(self: &Arc<Self>) -> Watch {
        self.started.fetch_add(1, Ordering::SeqCst);
        Watch {
            probe: self.clone(),
            done: false,
        }
    }
}

#[derive(Clone)]
pub(crate) struct TestService {
    pub(crate) probe: Arc<Probe>,
}

type Codec = ProstCodec<Msg, Msg>;

async fn handle(msg: &Msg) -> Result<(), Status> {
    if msg.sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(msg.sleep_ms)).await;
    }
    if msg.fail_code != 0 {
        return Err(Status::new(
            ferry::Code::from_i32(msg.fail_code),
            format!("failed as asked: {}", msg.text),
        ));
    }
    Ok(())
}

impl Service for TestService {
    fn name(&self) -> &str {
        "test.Echo"
    }

    fn call(&self, call: ServerCall) -> BoxFuture<()> {
        let probe = self.probe.clone();
        match call.method() {
            "Unary" => Box::pin(server::unary(
                call,
                Codec::new(),
                move |req: Request<Msg>| async move {
                    let mut watch = probe.watch();
                    let deadline_set = req.deadline().is_some();
                    let mut reply = req.into_inner();
                    handle(&reply).await?;
                    if deadline_set {
                        reply.text.push_str(" (deadline)");
                    }
                    watch.finish();
                    Ok(Response::new(reply))
                },
            )),
            "ServerStream" => Box::pin(server::server_streaming(
                call,
                Codec::new(),
                move |req: Request<Msg>| async move {
                    let req = req.into_inner();
                    let mut watch = probe.watch();
                    let counter = probe.clone();
                    let stream = async_stream(req, move || {
                        watch.finish();
                        drop(watch);
                    });
                    let counted = futures_util::StreamExt::inspect(stream, move |_| {
                        counter.produced.fetch_add(1, Ordering::SeqCst);
                    });
                    Ok(Response::new(counted))
                },
            )),
            "ClientStream" => Box::pin(server::client_streaming(
                call,
                Codec::new(),
                move |req: Request<Streaming<Msg>>| async move {
                    let mut watch = probe.watch();
                    let mut requests = req.into_inner();
                    let mut total = Msg::default();
                    while let Some(m) = requests.message().await? {
                        handle(&m).await?;
                        total.count += 1;
                        total.payload.extend_from_slice(&m.payload);
                        total.text.push_str(&m.text);
                    }
                    watch.finish();
                    Ok(Response::new(total))
                },
            )),
            "Bidi" => Box::pin(server::bidi_streaming(
                call,
                Codec::new(),
                move |req: Request<Streaming<Msg>>| async move {
                    let state = (req.into_inner(), probe.watch());
                    // Echo each request; the watch ends with the stream.
                    let stream = futures_util::stream::unfold(
                        state,
                        |(mut requests, mut watch)| async move {
                            let item = match requests.message().await {
                                Ok(Some(m)) => match handle(&m).await {
                                    Ok(()) => Ok(m),
                                    Err(status) => Err(status),
                                },
                                Ok(None) => {
                                    watch.finish();
                                    return None;
                                }
                                Err(status) => Err(status),
                            };
                            if item.is_err() {
                                watch.finish();
                            }
                            Some((item, (requests, watch)))
                        },
                    );
                    Ok(Response::new(stream))
                },
            )),
            // `count` copies of the request, every odd one sent uncompressed
            // whatever the call's encoding.
            "Mixed" => Box::pin(server::server_streaming(
                call,
                Codec::new(),
                move |req: Request<Msg>| async move {
                    let req = req.into_inner();
                    let replies = (0..req.count).map(move |i| {
                        let reply = Msg {
                            text: format!("{}#{i}", req.text),
                            ..req.clone()
                        };
                        Ok(if i % 2 == 1 {
                            Outbound::uncompressed(reply)
                        } else {
                            Outbound::new(reply)
                        })
                    });
                    Ok(Response::new(futures_util::stream::iter(replies)))
                },
            )),
            _ => Box::pin(call.unimplemented()),
        }
    }
}

/// `count` replies, each `sleep_ms` apart, then (if asked) a failure.
fn async_stream(
    req: Msg,
    on_done: impl FnOnce() + Send + 'static,
) -> impl futures_core::Stream<Item = Result<Msg, Status>> + Send {
    let total = req.count;
    let mut on_done = Some(on_done);
    futures_util::stream::unfold(0u32, move |i| {
        let req = req.clone();
        let done = if i == total { on_done.take() } else { None };
        async move {
            if i > total {
                return None;
            }
            if i == total {
                if let Some(done) = done {
                    done();
                }
                if req.fail_code != 0 {
                    return Some((
                        Err(Status::new(
                            ferry::Code::from_i32(req.fail_code),
                            "stream failed as asked",
                        )),
                        i + 2,
                    ));
                }
                return None;
            }
            if req.sleep_ms > 0 {
                tokio::time::sleep(Duration::from_millis(req.sleep_ms)).await;
            }
            let reply = Msg {
                text: format!("{}#{i}", req.text),
                payload: req.payload.clone(),
                ..Msg::default()
            };
            Some((Ok(reply), i + 1))
        }
    })
}

/// A server on 127.0.0.1 with the test service, until `stop` is sent.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) probe: Arc<Probe>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    pub(crate) async fn start() -> Running {
        Running::start_with(Server::builder()).await
    }

    pub(crate) async fn start_with(builder: ferry::ServerBuilder) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Running::start_on(listener, builder)
    }

    pub(crate) fn start_on(listener: TcpListener, builder: ferry::ServerBuilder) -> Running {
        let addr = listener.local_addr().expect("addr");
        let probe = Arc::new(Probe::default());
        let server = builder
            .add_service(TestService {
                probe: probe.clone(),
            })
            .build();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve_with_shutdown(listener, async move {
            let _ = stopped.await;
        }));
        Running {
            addr,
            probe,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) async fn channel(&self) -> Channel {
        Channel::connect(&self.uri()).await.expect("connect")
    }

    /// Graceful shutdown; waits until the server has stopped.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("server stops in time")
                .expect("join")
                .expect("serve");
        }
        // Nothing leaks: once the server is gone, every connection driver
        // (ours and the clients' on this runtime), handler and pump task has
        // ended.
        let metrics = tokio::runtime::Handle::current().metrics();
        // When `stop` itself runs as a spawned task, that task is alive.
        let own = usize::from(tokio::task::try_id().is_some());
        for _ in 0..500 {
            if metrics.num_alive_tasks() <= own {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{} tasks still alive 5 s after the server stopped",
            metrics.num_alive_tasks()
        );
    }
}

pub(crate) fn path(method: &str) -> String {
    format!("/test.Echo/{method}")
}

pub(crate) fn codec() -> Codec {
    Codec::new()
}
