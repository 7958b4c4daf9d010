//! The run: connect, start the workers, warm up, measure, stop, merge.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::time::Instant;

use crate::caller::{Caller, Failure};
use crate::report::RunResult;
use crate::{Args, CallType, payload};

/// What every worker shares: counters, the stop flag and the error tally.
#[derive(Debug)]
struct Shared {
    calls: AtomicU64,
    bytes: AtomicU64,
    /// Measured calls started, for `--total`.
    issued: AtomicU64,
    stop: AtomicBool,
    measuring_from: Instant,
    total: Option<u64>,
    errors: Mutex<Errors>,
}

/// Failed calls by status code, with the first message seen for each.
pub(crate) type Errors = BTreeMap<i32, (u64, String)>;

fn count(errors: &mut Errors, (code, message): Failure) {
    errors.entry(code).or_insert((0, message)).0 += 1;
}

impl Shared {
    /// Whether a worker should start another call.
    fn proceed(&self) -> bool {
        if self.stop.load(Relaxed) {
            return false;
        }
        match self.total {
            Some(total) if Instant::now() >= self.measuring_from => {
                self.issued.fetch_add(1, Relaxed) < total
            }
            _ => true,
        }
    }

    fn measuring(&self, started: Instant) -> bool {
        started >= self.measuring_from && !self.stop.load(Relaxed)
    }

    /// Records a finished call (or streamed message) that started at `started`.
    fn finish(
        &self,
        started: Instant,
        result: Result<u64, Failure>,
        histogram: &mut Histogram<u64>,
    ) {
        match result {
            Ok(bytes) => {
                self.calls.fetch_add(1, Relaxed);
                self.bytes.fetch_add(bytes, Relaxed);
                if self.measuring(started) {
                    let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    histogram.saturating_record(nanos.max(1));
                }
            }
            Err(failure) => self.error(started, failure),
        }
    }

    fn error(&self, started: Instant, failure: Failure) {
        if self.measuring(started) {
            count(
                &mut self.errors.lock().unwrap_or_else(|e| e.into_inner()),
                failure,
            );
        }
    }
}

/// Latency in nanoseconds, 1 ns to 100 s, three significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).unwrap_or_else(|_| Histogram::new(3).unwrap())
}

/// Runs the load described by `args` and returns what was measured.
pub(crate) async fn run(args: Args) -> Result<RunResult, String> {
    if args.connections == 0 || args.concurrency == 0 {
        return Err("--connections and --concurrency must be at least 1".into());
    }
    let callers = connect_all(&args).await?;
    let path: Arc<str> = args
        .method
        .clone()
        .unwrap_or_else(|| args.call.default_method().to_owned())
        .into();
    match args.call {
        CallType::IdleConnections => return hold_connections(&args, callers, &path).await,
        CallType::OpenStreams => return hold_streams(&args, callers, &path).await,
        _ => {}
    }

    let started = Instant::now();
    let shared = Arc::new(Shared {
        calls: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        issued: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        measuring_from: started + args.warmup,
        total: args.total,
        errors: Mutex::new(BTreeMap::new()),
    });
    let mut workers = Vec::with_capacity(args.concurrency);
    for i in 0..args.concurrency {
        let caller = callers[i % callers.len()].clone();
        let shared = shared.clone();
        let path = path.clone();
        let size = args.size;
        workers.push(tokio::spawn(async move {
            match args.call {
                CallType::Unary => unary_worker(caller, &path, payload::text(size), &shared).await,
                CallType::ServerStream => {
                    server_stream_worker(caller, &path, payload::stream_request(size), &shared)
                        .await
                }
                CallType::ClientStream => {
                    client_stream_worker(caller, &path, payload::body(size), &shared).await
                }
                _ => ping_pong_worker(caller, &path, payload::text(size), &shared).await,
            }
        }));
    }

    let progress = Progress::start(&args, shared.clone(), started);
    tokio::time::sleep_until(shared.measuring_from).await;
    let (calls0, bytes0) = (shared.calls.load(Relaxed), shared.bytes.load(Relaxed));
    let cpu0 = process_cpu_seconds();
    let measured_from = Instant::now();
    let mut histograms = Vec::new();
    let measured_until = if args.total.is_some() {
        for worker in workers.drain(..) {
            histograms.push(worker.await.map_err(|e| format!("worker failed: {e}"))?);
        }
        Instant::now()
    } else {
        tokio::time::sleep_until(shared.measuring_from + args.duration).await;
        Instant::now()
    };
    let (calls1, bytes1) = (shared.calls.load(Relaxed), shared.bytes.load(Relaxed));
    let cpu = process_cpu_seconds()
        .zip(cpu0)
        .map(|(end, start)| end - start);
    shared.stop.store(true, Relaxed);
    // Workers finish their call in flight; one that hangs is abandoned.
    let give_up = Instant::now() + Duration::from_secs(10);
    for worker in workers {
        let abort = worker.abort_handle();
        match tokio::time::timeout_at(give_up, worker).await {
            Ok(Ok(histogram)) => histograms.push(histogram),
            Ok(Err(e)) => return Err(format!("worker failed: {e}")),
            Err(_) => abort.abort(),
        }
    }
    progress.finish();

    let mut latency = histogram();
    for h in &histograms {
        latency
            .add(h)
            .map_err(|e| format!("merging histograms: {e}"))?;
    }
    let errors = shared
        .errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Ok(RunResult {
        args,
        elapsed: measured_until - measured_from,
        calls: calls1 - calls0,
        all_calls: shared.calls.load(Relaxed),
        bytes: bytes1 - bytes0,
        cpu,
        errors,
        latency: (!latency.is_empty()).then_some(latency),
    })
}

/// This process's CPU time (user + system, all threads) from
/// `/proc/self/stat`, in seconds; `None` where there is no procfs.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces: fields are counted after its ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux architecture Ferry runs on.
    Some((utime + stime) / 100.0)
}

async fn connect_all(args: &Args) -> Result<Vec<Caller>, String> {
    let kind = args.client;
    let protocol = args.protocol;
    let target = args.target.clone();
    let callers: Vec<Result<Caller, String>> = stream::iter(0..args.connections)
        .map(|_| {
            let target = target.clone();
            async move { Caller::connect(kind, protocol, &target).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    callers.into_iter().collect()
}

async fn unary_worker(
    mut caller: Caller,
    path: &str,
    body: Bytes,
    shared: &Shared,
) -> Histogram<u64> {
    let mut latency = histogram();
    let sent = body.len() as u64;
    while shared.proceed() {
        let started = Instant::now();
        let result = caller.unary(path, body.clone()).await;
        shared.finish(started, result.map(|n| sent + n as u64), &mut latency);
    }
    latency
}

/// Reads an endless stream; the "latency" is the gap between messages.
async fn server_stream_worker(
    mut caller: Caller,
    path: &str,
    request: Bytes,
    shared: &Shared,
) -> Histogram<u64> {
    let mut gaps = histogram();
    while shared.proceed() {
        let mut last = Instant::now();
        let mut messages = match caller.server_streaming(path, request.clone()).await {
            Ok(messages) => messages,
            Err(failure) => {
                shared.error(last, failure);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while let Some(message) = messages.next().await {
            let result = message.map(|m| m.len() as u64);
            let failed = result.is_err();
            shared.finish(last, result, &mut gaps);
            last = Instant::now();
            if failed || !shared.proceed() {
                break;
            }
        }
    }
    gaps
}

/// Sends an endless stream until the run stops; no latency.
async fn client_stream_worker(
    mut caller: Caller,
    path: &str,
    body: Bytes,
    shared: &Arc<Shared>,
) -> Histogram<u64> {
    while shared.proceed() {
        let started = Instant::now();
        let counter = shared.clone();
        let len = body.len() as u64;
        let requests = stream::repeat(body.clone())
            .take_while(move |_| std::future::ready(counter.proceed()))
            .inspect({
                let counter = shared.clone();
                move |_| {
                    counter.calls.fetch_add(1, Relaxed);
                    counter.bytes.fetch_add(len, Relaxed);
                }
            })
            .boxed();
        if let Err(failure) = caller.client_streaming(path, requests).await {
            shared.error(started, failure);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    histogram()
}

/// One message in flight on a bidirectional stream; latency per round trip.
async fn ping_pong_worker(
    mut caller: Caller,
    path: &str,
    body: Bytes,
    shared: &Shared,
) -> Histogram<u64> {
    let mut latency = histogram();
    let size = body.len() as u64;
    while shared.proceed() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        let requests =
            stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) }).boxed();
        // The first ping goes with the stream's opening: a server may send
        // its response headers only with its first reply.
        let _ = tx.try_send(body.clone());
        let mut started = Instant::now();
        let mut replies = match caller.bidi_streaming(path, requests).await {
            Ok(replies) => replies,
            Err(failure) => {
                shared.error(started, failure);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while let Some(reply) = replies.next().await {
            let result = reply.map(|m| size + m.len() as u64);
            let failed = result.is_err();
            shared.finish(started, result, &mut latency);
            if failed || !shared.proceed() {
                break;
            }
            started = Instant::now();
            if tx.send(body.clone()).await.is_err() {
                break;
            }
        }
    }
    latency
}

/// Memory: one unary call on every connection, then hold them open.
async fn hold_connections(
    args: &Args,
    callers: Vec<Caller>,
    path: &str,
) -> Result<RunResult, String> {
    let body = payload::text(args.size);
    let started = Instant::now();
    let results: Vec<Result<usize, Failure>> = stream::iter(callers.iter().cloned())
        .map(|mut caller| {
            let body = body.clone();
            async move { caller.unary(path, body).await }
        })
        .buffer_unordered(256)
        .collect()
        .await;
    let mut errors = Errors::new();
    let calls = results.iter().filter(|r| r.is_ok()).count() as u64;
    let all_calls = results.len() as u64;
    for failure in results.into_iter().filter_map(Result::err) {
        count(&mut errors, failure);
    }
    ready(args)?;
    tokio::time::sleep(args.duration).await;
    drop(callers);
    Ok(RunResult {
        args: args.clone(),
        elapsed: started.elapsed(),
        calls,
        all_calls,
        bytes: 0,
        cpu: None,
        errors,
        latency: None,
    })
}

/// Memory: `--concurrency` bidi streams, one ping-pong each, held open.
async fn hold_streams(args: &Args, callers: Vec<Caller>, path: &str) -> Result<RunResult, String> {
    let body = payload::text(args.size);
    let started = Instant::now();
    let release = Arc::new(tokio::sync::Notify::new());
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::unbounded_channel::<Result<(), Failure>>();
    let mut tasks = Vec::with_capacity(args.concurrency);
    for i in 0..args.concurrency {
        let mut caller = callers[i % callers.len()].clone();
        let path = path.to_owned();
        let body = body.clone();
        let opened = opened_tx.clone();
        let release = release.clone();
        tasks.push(tokio::spawn(async move {
            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
            let requests =
                stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
                    .boxed();
            let _ = tx.try_send(body);
            let mut replies = match caller.bidi_streaming(&path, requests).await {
                Ok(replies) => replies,
                Err(failure) => {
                    let _ = opened.send(Err(failure));
                    return;
                }
            };
            let outcome = match replies.next().await {
                Some(Ok(_)) => Ok(()),
                Some(Err(failure)) => Err(failure),
                None => Err((2, "the stream ended without a reply".to_owned())),
            };
            let _ = opened.send(outcome);
            let released = release.notified();
            released.await;
            drop((tx, replies));
        }));
    }
    drop(opened_tx);
    let mut errors = Errors::new();
    let mut calls = 0;
    // Each task reports once and then holds its stream (and its sender).
    for _ in 0..args.concurrency {
        match opened_rx.recv().await {
            Some(Ok(())) => calls += 1,
            Some(Err(failure)) => count(&mut errors, failure),
            None => break,
        }
    }
    ready(args)?;
    tokio::time::sleep(args.duration).await;
    release.notify_waiters();
    for task in tasks {
        task.abort();
    }
    Ok(RunResult {
        args: args.clone(),
        elapsed: started.elapsed(),
        calls,
        all_calls: calls,
        bytes: 0,
        cpu: None,
        errors,
        latency: None,
    })
}

fn ready(args: &Args) -> Result<(), String> {
    if let Some(path) = &args.ready_file {
        std::fs::write(path, b"ready\n").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The progress bar, updated four times a second while the run lasts.
struct Progress {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(args: &Args, shared: Arc<Shared>, started: Instant) -> Progress {
        let bar = match args.total {
            Some(total) => ProgressBar::new(total),
            None => ProgressBar::new((args.warmup + args.duration).as_millis() as u64),
        };
        if args.json || args.no_progress {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        if let Ok(style) = ProgressStyle::with_template("{elapsed:>4} [{bar:32}] {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        let counted = args.total.is_some();
        let ticker = tokio::spawn({
            let bar = bar.clone();
            async move {
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                let mut last = (Instant::now(), 0u64);
                loop {
                    tick.tick().await;
                    let now = Instant::now();
                    let calls = shared.calls.load(Relaxed);
                    let rate = (calls - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-3);
                    last = (now, calls);
                    let phase = if now < shared.measuring_from {
                        "warm-up"
                    } else {
                        "measuring"
                    };
                    if counted {
                        bar.set_position(shared.issued.load(Relaxed));
                    } else {
                        bar.set_position((now - started).as_millis() as u64);
                    }
                    bar.set_message(format!("{phase}: {calls} calls, {rate:.0}/s"));
                }
            }
        });
        Progress { bar, ticker }
    }

    fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}
