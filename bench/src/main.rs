//! `ferry-bench`: a gRPC load generator in the spirit of ghz.
//!
//! It drives the `bench.Bench` service (`proto/bench.proto`) of any server
//! with Ferry's client (or tonic's, `--client tonic`), over gRPC or, for
//! Ferry's client, the native protocol (`--protocol native`), sending pre-encoded
//! protobuf messages, and reports calls/s, bytes/s, latency percentiles from
//! an HDR histogram and errors by status code, as text or `--json`.
//!
//! ```text
//!  workers (--concurrency) ──round robin──▶ connections (--connections)
//!     │ each: call, wait, record latency, repeat     │
//!     ▼                                              ▼
//!  shared counters ──▶ progress bar            target server
//!  per-worker histograms ──merged──▶ report
//! ```
//!
//! Warm-up calls (`--warmup`) run first and are not counted; then the run
//! lasts `--duration` or until `--total` calls completed.

mod caller;
mod payload;
mod report;
mod run;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use caller::{ClientKind, Protocol};

/// What kind of call each worker makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum CallType {
    /// One request, one response; latency per call.
    Unary,
    /// One request, an endless stream of `--size`-byte messages per worker.
    ServerStream,
    /// An endless stream of `--size`-byte messages per worker.
    ClientStream,
    /// A bidirectional stream with one message in flight; latency per round trip.
    PingPong,
    /// Memory: opens `--connections` connections, one unary call on each, then holds them.
    IdleConnections,
    /// Memory: opens `--concurrency` bidi streams over `--connections`, one ping each, then holds them.
    OpenStreams,
}

impl CallType {
    pub(crate) fn default_method(self) -> &'static str {
        match self {
            CallType::Unary | CallType::IdleConnections => "/bench.Bench/Unary",
            CallType::ServerStream => "/bench.Bench/ServerStream",
            CallType::ClientStream => "/bench.Bench/ClientStream",
            CallType::PingPong | CallType::OpenStreams => "/bench.Bench/PingPong",
        }
    }
}

/// A gRPC load generator for the `bench.Bench` service.
#[derive(Clone, Debug, Parser)]
#[command(name = "ferry-bench", version)]
pub(crate) struct Args {
    /// The server, as host:port.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub(crate) target: String,
    /// The kind of call.
    #[arg(long, value_enum, default_value = "unary")]
    pub(crate) call: CallType,
    /// The method path; the default follows --call.
    #[arg(long)]
    pub(crate) method: Option<String>,
    /// Payload size in bytes: the string of a unary or ping-pong request, the
    /// body of each streamed message.
    #[arg(long, default_value_t = 100)]
    pub(crate) size: usize,
    /// Connections to open.
    #[arg(long, default_value_t = 1)]
    pub(crate) connections: usize,
    /// Calls (or streams) in flight in total, spread over the connections.
    #[arg(long, default_value_t = 1)]
    pub(crate) concurrency: usize,
    /// How long to measure, after the warm-up (e.g. 10s, 500ms).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub(crate) duration: Duration,
    /// Stop after this many measured calls instead of after --duration.
    #[arg(long)]
    pub(crate) total: Option<u64>,
    /// Calls made before measuring starts.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub(crate) warmup: Duration,
    /// Which client library makes the calls.
    #[arg(long, value_enum, default_value = "ferry")]
    pub(crate) client: ClientKind,
    /// The protocol the Ferry client speaks: gRPC over HTTP/2, or Ferry's
    /// native protocol (`docs/native-protocol.md`, same port on a Ferry
    /// server). tonic speaks gRPC only.
    #[arg(long, value_enum, default_value = "grpc")]
    pub(crate) protocol: Protocol,
    /// Runtime worker threads (default: the CPUs this process may use).
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bar.
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Memory modes: create this file once everything is open.
    #[arg(long)]
    pub(crate) ready_file: Option<PathBuf>,
    /// Write a gRPC-framed unary request (a `--size`-byte payload) for h2load
    /// to this file, and exit.
    #[arg(long)]
    pub(crate) write_h2load_body: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = number
        .parse()
        .map_err(|_| format!("not a duration: {s:?}"))?;
    let seconds = match unit {
        "s" => n,
        "ms" => n / 1e3,
        "us" => n / 1e6,
        "m" => n * 60.0,
        _ => return Err(format!("unknown unit in {s:?} (use s, ms, us or m)")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(path) = &args.write_h2load_body {
        let body = payload::h2load_body(args.size);
        return match std::fs::write(path, body) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ferry-bench: {}: {e}", path.display());
                std::process::ExitCode::FAILURE
            }
        };
    }
    if args.protocol == Protocol::Native && args.client != ClientKind::Ferry {
        eprintln!("ferry-bench: --protocol native needs --client ferry");
        return std::process::ExitCode::FAILURE;
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("ferry-bench: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::run(args.clone())) {
        Ok(result) => {
            if args.json {
                println!("{}", result.to_json());
            } else {
                print!("{}", result.to_text());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ferry-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
